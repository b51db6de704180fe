"""The Payment terms & cash and Inventory pages under AppTest on tests/wc_fixture.py.

The sidebar's range is preset to FY2026-Q1 .. FY2026-Q2 (2026-01-01 .. 2026-06-30), so the
figures are those worked out in tests/unit/test_working_capital.py and tests/unit/test_terms_sim.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.analyses.terms import list_scenarios
from kpi.store.database import Store
from tests import wc_fixture

ROOT = Path(__file__).resolve().parents[2]
TERMS = str(ROOT / "pages" / "terms.py")
INVENTORY = str(ROOT / "pages" / "inventory.py")
FINANCE = "Sam Okafor (finance, member)"
VIEWER = "Lee Chen (operations, viewer)"
RANGE = ("FY2026-Q1", "FY2026-Q2")


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Store:
    s = wc_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s


def page(path: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=120)
    at.session_state["periods"] = RANGE
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """Tile label (as the reader sees it: KPI names are markdown-escaped) -> value."""
    return {m.label.replace("\\", ""): m.value for m in at.metric}


def cells(at: AppTest) -> list[str]:
    return [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]


def simulate(at: AppTest, days: int, preset: str) -> AppTest:
    at.number_input(key="sim_days").set_value(days)
    at.selectbox(key="sim_preset").select(preset)
    at.button(key="sim_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_terms_page_shows_the_hand_figures(store):
    at = page(TERMS)
    assert [t.value for t in at.title] == ["Payment terms & cash"]
    assert [t.label for t in at.tabs] == [
        "Terms & days to pay",
        "Late payments",
        "Overdue",
        "Discounts & early payment",
        "Policy",
        "Terms simulator",
        "Proposals",  # issue 17: terms proposals (tests/app/test_app_terms_proposals.py)
    ]
    m = metrics(at)
    # FY2026-Q2: days to pay 820000 / 12950 = 63.3; V4 (2000, SME) late: 100 %; 0 of 40 taken
    assert m["Days to pay"] == "63.3 days"
    assert m["Late payments to SMEs"] == "100.0 %"
    assert m["Early-payment discount capture"] == "0.0 %"
    # H1: late to SMEs 2000 of 3000 paid to SMEs; discounts offered 20 + 40, taken 20, missed 40
    assert m["Paid late to SMEs"] == "€2.0 k" and m["Share of SME amount paid late"] == "66.7 %"
    assert (m["Discounts offered"], m["Discounts taken"], m["Discounts missed"]) == (
        "€60",
        "€20",
        "€40",
    )
    # early without discount in H1: V1 and V2 (A1, 3650 each, paid in 20 days on 60-day
    # terms, no discount offered) = 7300; V3 took its discount, V4 late, V6 on the due day
    assert m["Paid early without discount"] == "€7.3 k"
    # V5 (due 2026-07-30) is the only open line and not yet due on 2026-06-30
    assert any("No open invoice is past its due date" in x.value for x in at.success)
    seg = at.dataframe[0].value  # by supplier size: large 14600.00 in 55.0 days on 75.0 terms
    assert seg["segment"].tolist() == ["Large", "SME"]  # sizes in words, not the codes
    assert seg["days_to_pay"].tolist() == [55.0, 32.7]
    values = cells(at)
    assert "over the legal maximum" in values and "A4" in values  # the policy tab
    assert not at.error


def test_segment_choice_changes_the_table(store):
    at = page(TERMS)
    at.selectbox(key="terms_segment").select("category").run()
    seg = at.dataframe[0].value
    # Office supplies 7300 (V6), Packaging 7300 (V1, V2), MRO spares 3000 (V3, V4)
    assert seg["segment"].tolist() == ["Office supplies", "Packaging", "MRO spares"]


def test_a_simulator_run_and_a_save_by_finance(store):
    at = simulate(page(TERMS, acting_as=FINANCE), 90, "Large suppliers")
    m = metrics(at)
    # config/payment_policy.yaml: A1 cash 1400.00 x 6 % = 84.00; terms 60 -> 90 add 30
    # contractual days: pass-through 5 % x 30 / 365 x 7300 = 30.00; net 54.00. A1 (DE) at
    # 90 days is over the legal 60: counted beside the net, which without it is A3's 0.00
    assert m["Cash released"] == "€1.4 k" and m["Yearly value of it"] == "€84"
    assert m["Price pass-through"] == "€30" and m["Net benefit a year"] == "€54"
    assert m["Suppliers pushed over the legal maximum"] == "1 of 2"
    assert m["Net benefit without them"] == "€0"
    assert m["Suppliers at risk"] == "1 of 2"
    assert "over legal max (60 d)" in cells(at)
    at.text_input(key="sim_name").input("Large to 90")
    at.button(key="sim_save_go").click().run()
    assert not at.error, [e.value for e in at.error]
    saved = list_scenarios(store).row(0, named=True)
    assert (saved["name"], saved["saved_by"]) == ("Large to 90", "sam.okafor@example.org")


def test_a_viewer_simulates_but_cannot_save(store):
    at = simulate(page(TERMS, acting_as=VIEWER), 60, "All suppliers")
    # every supplier to 60 days: cash 800 + 273 - 600 = 473.00 (see test_terms_sim)
    assert metrics(at)["Cash released"] == "€473"
    at.text_input(key="sim_name").input("Viewer's scenario")
    at.button(key="sim_save_go").click().run()
    assert any("may not save" in e.value for e in at.error), [e.value for e in at.error]
    assert list_scenarios(store).is_empty()


def test_a_bad_custom_filter_is_one_message(store):
    at = page(TERMS)
    at.selectbox(key="sim_preset").select("Custom filter")
    at.text_input(key="sim_where").input("1=1; DROP TABLE suppliers")
    at.button(key="sim_run").click().run()
    assert not at.exception
    assert [e.value for e in at.error][0].startswith("The filter cannot be used")


def test_inventory_page_shows_classes_and_questions(store):
    at = page(INVENTORY)
    assert [t.value for t in at.title] == ["Inventory"]
    m = metrics(at)
    # 2026-06-30: safety 2100.00, cycle 200.00, excess 0, obsolete 30.00; 38.8 days; 9.40 turns
    assert (m["Safety stock"], m["Cycle stock"], m["Excess (above max)"], m["Obsolete"]) == (
        "€2.1 k",
        "€200",
        "€0",
        "€30",
    )
    assert m["Days of inventory"] == "38.8 days" and m["Turns a year"] == "9.40"
    # the KPI tiles for FY2026-Q2: gap 2330 / 60 - 820000 / 12950 = -24.5 days
    assert m["Cash conversion gap"] == "-24.5 days"
    questioned = at.dataframe[-1].value
    assert questioned["item_id"].tolist() == ["I2", "I3"]
    assert questioned["procurement_reason"][0].startswith("safety level 5 units; lead time 120")
    assert not at.error


def test_inventory_category_filter(store):
    at = page(INVENTORY, f_cat=["Packaging"])
    # Packaging only (I1) on 2026-06-30: 150 @ 2.00: safety 100.00, cycle 200.00; 300 / 60 = 5 d
    m = metrics(at)
    assert (m["Safety stock"], m["Obsolete"], m["Days of inventory"]) == ("€100", "€0", "5.0 days")
    assert not any(df.value.shape[0] for df in at.dataframe if "item_id" in df.value.columns)


def _filter_notes(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if "not apply" in c.value]


def test_inventory_says_it_ignores_the_cost_centre_filter(store):
    at = page(INVENTORY)
    assert _filter_notes(at) == []  # no cost centre chosen: no note
    unfiltered = metrics(at)
    at = page(INVENTORY, f_cc=["CC1"])
    notes = _filter_notes(at)
    assert any("The cost centre filter does not apply to stock" in n for n in notes), notes
    # the figures are those of all stock (the filter is not honoured, and the page says so)
    m = metrics(at)
    assert (m["Safety stock"], m["Obsolete"], m["Days of inventory"]) == (
        unfiltered["Safety stock"],
        unfiltered["Obsolete"],
        unfiltered["Days of inventory"],
    )


def test_inventory_category_filter_needs_no_note(store):
    at = page(INVENTORY, f_cat=["Packaging"])
    assert not any("does not apply to stock" in n for n in _filter_notes(at))


def test_terms_simulator_says_it_ignores_the_sidebar_filters(store):
    assert not any("simulator" in n for n in _filter_notes(page(TERMS)))
    at = page(TERMS, f_cc=["CC1"], f_cat=["Packaging"])
    notes = _filter_notes(at)
    assert any("category and cost centre filters do not apply to the simulator" in n for n in notes)


def test_overdue_tile_outside_the_range_says_where_its_value_is(store):
    """Overdue payables is counted on the data's last day (2026-06-30, FY2026-Q2) only: with
    the range ending in FY2026-Q1 its tile has no value there and says where it is (every
    line of the fixture is paid by that day: 0 overdue); with the range reaching FY2026-Q2,
    the tile holds it and says nothing more."""
    at = AppTest.from_file(TERMS, default_timeout=120)
    at.session_state["periods"] = ("FY2026-Q1", "FY2026-Q1")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Overdue payables"] == "–"
    notes = [c.value for c in at.caption if "data's last day" in c.value]
    assert notes == [
        "Counted on the data's last day only: **€0** in FY2026-Q2, outside the sidebar's range."
    ]
    at = page(TERMS)
    assert metrics(at)["Overdue payables"] == "€0"
    assert not [c.value for c in at.caption if "data's last day" in c.value]
