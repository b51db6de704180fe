"""Empty slices in words (issue 15, point 7) on Spend & budgets, Suppliers, Payment terms
and Inventory under AppTest: filters that leave nothing name the filter and the period and
say what to clear; only a table with no rows at all asks for a load.

Spend and Suppliers run on tests/spend_fixture.py, where cost centre CC-A buys only
Packaging, so CC-A with Marketing is an empty slice; Payment terms and Inventory run on
tests/wc_fixture.py, where CC2 buys only MRO spares. The range is FY2026-Q1..FY2026-Q2.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.store.database import Store
from tests import spend_fixture, wc_fixture

ROOT = Path(__file__).resolve().parents[2]
SPEND = str(ROOT / "pages" / "spend.py")
SUPPLIERS = str(ROOT / "pages" / "suppliers.py")
TERMS = str(ROOT / "pages" / "terms.py")
INVENTORY = str(ROOT / "pages" / "inventory.py")
RANGE = ("FY2026-Q1", "FY2026-Q2")
BOTH = "cost centre CC\\-A and category Marketing for FY2026\\-Q1 to FY2026\\-Q2"


def _store(build, tmp_path, monkeypatch, empty: tuple[str, ...] = ()) -> Store:
    """A fixture store as the app's store; `empty`: tables emptied after the build."""
    store = build(tmp_path / "kpi.duckdb")
    with store.write() as con:
        for table in empty:
            con.execute(f"DELETE FROM {table}")  # a fixed table name of the schema
    monkeypatch.setenv("KPI_DB", str(store.path))
    return store


def page(path: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=120)
    at.session_state["periods"] = RANGE
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def test_spend_tabs_name_the_filters_and_the_period(tmp_path, monkeypatch):
    _store(spend_fixture.build, tmp_path, monkeypatch)
    at = page(SPEND, f_cc=["CC-A"], f_cat=["Marketing"])
    shown = infos(at)
    # drill-down, approvals and compliance: the sidebar's range; budgets: the fiscal year
    for what in ("spend", "orders or invoices"):
        assert (
            f"**Nothing in {BOTH}:** no {what} there. Widen the period or clear the Cost "
            "centre and Category filters." in shown
        ), shown
    assert sum(BOTH in s for s in shown) == 3, shown
    assert (
        "**Nothing in cost centre CC\\-A and category Marketing for FY2026:** no budgets or "
        "spend there. Choose another fiscal year or clear the Cost centre and Category "
        "filters." in shown
    ), shown
    assert not any("Load" in s or "yet" in s for s in shown), shown


def test_spend_budgets_ask_for_a_load_only_when_no_budget_is_loaded(tmp_path, monkeypatch):
    _store(spend_fixture.build, tmp_path, monkeypatch, empty=("budgets",))
    at = page(SPEND, f_cc=["CC-A"], f_cat=["Marketing"])
    shown = infos(at)
    assert "**No budgets loaded yet.** Load budgets on the **Data** page." in shown, shown
    assert not any("for FY2026:" in s for s in shown), shown  # the year is not blamed


def test_suppliers_page_names_the_filters_and_the_period(tmp_path, monkeypatch):
    _store(spend_fixture.build, tmp_path, monkeypatch)
    at = page(SUPPLIERS, f_cat=["Marketing"], f_cc=["CC-A"])
    assert infos(at) == [
        f"**Nothing in {BOTH}:** no supplier spend there. Widen the period or clear the Cost "
        "centre and Category filters."
    ]


def test_terms_tabs_name_the_filters_and_the_period(tmp_path, monkeypatch):
    _store(wc_fixture.build, tmp_path, monkeypatch)
    at = page(TERMS, f_cc=["CC2"], f_cat=["Packaging"])
    expected = (
        "**Nothing in cost centre CC2 and category Packaging for FY2026\\-Q1 to FY2026\\-Q2:** "
        "no invoices paid there. Widen the period or clear the Cost centre and Category filters."
    )
    # terms & days to pay, late payments, discounts
    assert infos(at).count(expected) == 3, infos(at)
    # the overdue list says whose invoices it looked at, not that nothing is overdue at all
    assert (
        "No open invoice in cost centre CC2 and category Packaging is past its due date on "
        "the last data day."
    ) in [s.value for s in at.success]


def test_terms_without_filters_ask_only_to_widen_the_period(tmp_path, monkeypatch):
    _store(wc_fixture.build, tmp_path, monkeypatch)
    at = AppTest.from_file(TERMS, default_timeout=120)
    at.session_state["periods"] = ("FY2025-Q3", "FY2025-Q3")  # nothing paid then
    at.run()
    assert not at.exception
    assert "**No invoices paid in FY2025\\-Q3.** Widen the period in the sidebar." in infos(at)


def test_inventory_names_the_category_and_not_the_cost_centre(tmp_path, monkeypatch):
    store = _store(wc_fixture.build, tmp_path, monkeypatch)
    with store.write() as con:  # Office supplies (I3) is bought but no longer stocked
        con.execute("DELETE FROM inventory WHERE item_id = 'I3'")
    at = page(INVENTORY, f_cat=["Office supplies"], f_cc=["CC1"])
    assert infos(at) == [
        "**Nothing in Office supplies for FY2026\\-Q1 to FY2026\\-Q2:** no stock snapshots "
        "there. Widen the period or clear the Category filter."
    ]
    # stock has no cost centre: the page says the filter does not apply, and does not blame it
    assert any("cost centre filter does not apply" in c.value for c in at.caption)


def test_inventory_asks_for_a_load_only_when_the_table_is_empty(tmp_path, monkeypatch):
    _store(wc_fixture.build, tmp_path, monkeypatch, empty=("inventory",))
    at = page(INVENTORY, f_cat=["Packaging"])
    assert infos(at) == [
        "**No stock snapshots loaded yet.** Load the inventory (stock snapshots) on the "
        "**Data** page."
    ]
