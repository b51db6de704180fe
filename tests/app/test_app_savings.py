"""The Savings page under AppTest on the hand fixture: lenses, bridge, ledger, finance review."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.workflows.initiatives import history, list_initiatives

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "savings.py")
PROCUREMENT = "Jonas Berg (procurement, member)"
FINANCE = "Sam Okafor (finance, member)"


def page(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def cells(at: AppTest) -> list[str]:
    return [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]


def test_every_tab_renders_with_hand_figures(store):
    at = page()
    assert [t.value for t in at.title] == ["Savings & cost avoidance"]
    assert [t.label for t in at.tabs] == [
        "Two lenses",
        "Savings bridge",
        "Initiatives",
        "Realised vs expected",
        "Cost avoidance",
    ]
    values = cells(at)
    assert "SI1" in values and "SI2" in values  # the ledger
    # Realised vs expected for SI1 in the sidebar's range: 110.00 realised, 50.00 leakage.
    assert "110.00" in values and "50.00" in values
    assert "90.00" in values  # SI2's cost avoidance in February (1100 - 1000) x 0.9
    assert not at.error


def test_procurement_adds_an_initiative(store):
    at = page(acting_as=PROCUREMENT)
    at.text_input(key="f_title_new").input("Dock price freeze 2026")
    at.selectbox(key="f_kind_new").select("price_reduction")
    at.selectbox(key="f_supplier_new").select("S2")
    at.selectbox(key="f_item_new").select("I2")
    at.number_input(key="f_base_new").set_value(520.0)
    at.number_input(key="f_neg_new").set_value(480.0)
    at.number_input(key="f_volume_new").set_value(10.0)
    at.selectbox(key="f_currency_new").select("USD")
    # from 2027: S2's dock already has SI2 over 2026, and the same supplier and item in the
    # same days is refused (an invoice line counts for one initiative)
    at.date_input(key="f_start_new").set_value(date(2027, 1, 1))
    at.text_input(key="f_reason_new").input("Q3 negotiation")
    at.button(key="f_save_new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.success
    ledger = list_initiatives(store)
    added = ledger.filter(ledger["title"] == "Dock price freeze 2026")
    assert added.height == 1 and added["finance_status"][0] == "pending"
    log = history(store, added["initiative_id"][0])
    assert set(log["changed_by"]) == {"jonas.berg@example.org"}


def test_an_overlapping_initiative_is_refused_naming_the_other(store):
    at = page(acting_as=PROCUREMENT)
    at.text_input(key="f_title_new").input("Carton again")
    at.selectbox(key="f_supplier_new").select("S1")
    at.selectbox(key="f_item_new").select("I1")
    at.number_input(key="f_base_new").set_value(11.0)
    at.number_input(key="f_neg_new").set_value(9.5)
    at.date_input(key="f_start_new").set_value(date(2026, 6, 1))
    at.button(key="f_save_new").click().run()
    assert any("overlaps SI1 ('Carton re-tender'" in e.value for e in at.error), [
        e.value for e in at.error
    ]


def test_a_viewer_cannot_add(store):
    at = page(acting_as="Lee Chen (operations, viewer)")
    at.text_input(key="f_title_new").input("Sneaky")
    at.selectbox(key="f_supplier_new").select("S1")
    at.selectbox(key="f_item_new").select("I1")
    at.number_input(key="f_base_new").set_value(11.0)
    at.number_input(key="f_neg_new").set_value(10.0)
    at.button(key="f_save_new").click().run()
    assert any("may" in e.value.lower() for e in at.error), [e.value for e in at.error]
    assert "Sneaky" not in list_initiatives(store)["title"].to_list()


def test_finance_accepts_a_pending_initiative(store):
    at = page(acting_as=FINANCE)
    at.selectbox(key="review_pick").select("SI2")
    at.radio(key="review_decision").set_value("accepted")
    at.text_input(key="review_reason").input("Quote on file, volumes confirmed")
    at.button(key="review_go").click().run()
    assert not at.error, [e.value for e in at.error]
    row = list_initiatives(store).filter(list_initiatives(store)["initiative_id"] == "SI2")
    assert row["finance_status"][0] == "accepted"
    assert row["finance_note"][0] == "Quote on file, volumes confirmed"


def test_procurement_cannot_validate(store):
    at = page(acting_as=PROCUREMENT)
    at.selectbox(key="review_pick").select("SI2")
    at.text_input(key="review_reason").input("Looks good to me")
    at.button(key="review_go").click().run()
    assert at.error
    row = list_initiatives(store).filter(list_initiatives(store)["initiative_id"] == "SI2")
    assert row["finance_status"][0] == "pending"


def test_the_bridge_states_its_rules_and_refuses_periods_it_cannot_compare(store):
    at = page()
    rules = " ".join(c.value for c in at.caption)
    for words in ("may not overlap", "never adds different units", "exchange-rate effect"):
        assert words in rules
    # FY2026 holds FY2026-Q1: refused, with both periods' dates, and no waterfall drawn
    at = page(bridge_from="FY2026", bridge_to="FY2026-Q1")
    assert [e.value for e in at.error] == [
        "Cannot compare these periods: the periods FY2026 (2026-01-01 to 2026-12-31) and "
        "FY2026-Q1 (2026-01-01 to 2026-03-31) overlap; choose a base period that ends before "
        "the current one starts."
    ]
    assert not [c for c in at.get("plotly_chart") if "Prior spend" in c.proto.spec]
    # a quarter against a year: refused until the box is ticked
    at = page(bridge_from="FY2025-Q1", bridge_to="FY2026")
    assert len(at.error) == 1 and "differ in length" in at.error[0].value
    at.checkbox(key="bridge_unequal").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # FY2025-Q1 holds nothing: FY2026 is all new items, by category IT hardware
    # 900 + 800 = 1700.00 (INV2, INV3) and Packaging 1050 + 100 + 500 = 1650.00
    table = next(df.value for df in at.dataframe if "new" in df.value.columns)
    new = {r["category"]: str(r["new"]) for r in table.to_dict("records")}
    assert new == {"IT hardware": "1700.00", "Packaging": "1650.00"}
