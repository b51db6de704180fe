"""The Spend & budgets and Suppliers pages under AppTest on tests/spend_fixture.py.

The sidebar's range is set to FY2026-Q1..FY2026-Q2, so the pages show H1 2026: 2,510.00
of spend (1,710.00 in Q1, 800.00 in Q2). The figures are worked out in tests/unit/test_spend.py
and tests/unit/test_suppliers.py; here they must reach the screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.store.database import Store
from tests import spend_fixture

ROOT = Path(__file__).resolve().parents[2]
SPEND = str(ROOT / "pages" / "spend.py")
SUPPLIERS = str(ROOT / "pages" / "suppliers.py")


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Store:
    s = spend_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s


def page(path: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=120)
    at.session_state["periods"] = ("FY2026-Q1", "FY2026-Q2")
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_spend_page_tiles_and_tabs(store):
    at = page(SPEND)
    assert [t.value for t in at.title] == ["Spend & budgets"]
    assert [t.label for t in at.tabs] == ["Spend drill-down", "Budgets", "Approvals", "Compliance"]
    m = metrics(at)
    # FY2026-Q2: 800.00 spent; maverick 600 / 800; under management 200 / 800;
    # committed utilisation (800 + 2,000) / 900 = 311.1 %; approval (2 + 2 + 7) / 3 = 3.7 days
    assert m["Total spend"] == "€800"
    assert m["Maverick spend rate"] == "75.0 %"
    assert m["Spend under management"] == "25.0 %"
    assert m["Committed budget utilisation"] == "311.1 %"
    assert m["PO approval cycle time"] == "3.7 days"
    assert m["Spend in scope"] == "€2,510.00"
    # the change on the quarter before: 800.00 - 1,710.00
    deltas = {x.label: x.delta for x in at.metric}
    assert deltas["Total spend"] == "-€910"


def test_drill_down_category_supplier_item(store):
    at = page(SPEND)
    top = at.dataframe[0].value
    assert top["category"].tolist() == ["IT", "Marketing", "Packaging"]
    at.selectbox(key="drill_category").select("Packaging").run()
    level = at.dataframe[0].value
    # Packaging: Alpha 210 + 200 = 410, Beta 250
    assert level["supplier"].tolist() == ["Alpha Pack", "Beta Print"]
    assert [str(v) for v in level["amount"]] == ["410.00", "250.00"]
    assert metrics(at)["Spend in scope"] == "€660.00"
    at.selectbox(key="drill_supplier").select("Alpha Pack").run()
    items = at.dataframe[0].value
    assert items["item_id"].tolist() == ["P1", "P2"]
    assert metrics(at)["Spend in scope"] == "€410.00"
    at.selectbox(key="drill_item").select("P2").run()
    assert not at.exception
    assert at.dataframe[0].value["item_id"].tolist() == ["P2"]
    assert metrics(at)["Spend in scope"] == "€200.00"
    assert [s.value for s in at.subheader][0] == "All spend › Packaging › Alpha Pack › P2"


def test_budgets_flag_the_cost_centres_heading_over(store):
    at = page(SPEND)
    # CC-M forecasts 2,160 against 1,200 and CC-IT 2,280 (and 2,750 with orders) against 2,000
    assert [w.value for w in at.warning] == [
        # names are data: escaped so markdown shows them as typed
        "**2 cost centre(s) heading over budget in FY2026:** CC\\-M, CC\\-IT"
    ]
    m = metrics(at)
    # budget 2,400 + 1,200 + 2,000 = 5,600; actual 2,510; committed (ordered, neither
    # received nor invoiced) PO4 line 2 200 + PO5 1,800 = 2,000; accrued: PO4 line 1 received
    # 50 x 4.00 = 200 and invoiced 200 -> 0 (the label says "not received" since issue 14);
    # all in EUR: no exchange-rate variance; forecast 1,584 + 2,160 + 2,280 = 6,024
    assert (m["Budget FY2026"], m["Actual (invoiced)"]) == ("€5.6 k", "€2.5 k")
    assert m["Committed (ordered, not received)"] == "€2.0 k"
    assert m["Run-rate forecast, year end"] == "€6.0 k"
    assert (m["Accrued (received, not invoiced)"], m["Exchange-rate variance"]) == ("€0", "€0")
    budget = next(d.value for d in at.dataframe if "status" in d.value.columns)
    # the status in words (issue 15): not a bare "ok"
    assert budget["status"].tolist() == [
        "⚠ heading over budget",
        "⚠ heading over budget",
        "within budget",
    ]
    assert budget["cost_centre"].tolist() == ["CC-M", "CC-IT", "CC-A"]


def test_approvals_and_compliance_figures(store):
    m = metrics(page(SPEND))
    # PO lines approved in H1: (2 + 4 + 2 + 2) + 0 + 7 = 17 days over 6 lines = 2.8
    assert m["Approval time (mean, PO lines)"] == "2.8 days"
    assert m["Orders waiting for approval"] == "1 · €1.8 k"
    assert m["Invoices with no PO"] == "2 · €900"
    assert m["POs raised after the invoice"] == "1 · €950"
    # off contract: (2.50 - 2.00) x 100 = 50.00; on contract: 10.00 + 50.00
    assert m["What off-contract buying cost"] == "€50.00"
    assert m["Paid above contract on contracted lines"] == "€60.00"
    # preferred: Alpha 410 of 2,510 = 16.3 %
    assert m["With preferred suppliers"] == "16.3 %"


def test_budget_split_by_category(store):
    at = page(SPEND)
    at.radio(key="budget_by").set_value("category").run()
    assert not at.exception
    budget = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert set(budget["category"]) == {"IT", "Marketing", "Packaging"}


def test_suppliers_page_scorecard_and_detail(store):
    at = page(SUPPLIERS)
    assert [t.value for t in at.title] == ["Suppliers"]
    assert [t.label for t in at.tabs] == ["Scorecard", "Concentration", "Supplier detail"]
    card = at.dataframe[0].value
    assert card["supplier_id"].tolist() == ["B", "C", "A"]
    m = metrics(at)
    # Packaging is split (HHI 5,294, high); Marketing and IT are single-source
    assert m["Single-source categories"] == "2"
    assert m["Highly concentrated (HHI > 2,500)"] == "3"
    assert any("Single source" in w.value for w in at.warning)
    # the detail opens on the largest supplier, Beta: 1,150.00 spent, 2 invoices without PO
    assert m["Spend"] == "€1.1 k" and m["Invoices without PO"] == "2"
    at.selectbox(key="supplier_pick").select("A").run()
    m = metrics(at)
    # Alpha: 410; deliveries on time in full 2 of 3 (PO4/2, promised in April, never came);
    # 10.00 above contract; paid 1 of 2 on time,
    # which the KPI on_time_payment_rate weighs by amount: INV1's 210 of 410 = 51.2 %
    assert m["Spend"] == "€410"
    assert m["On-time delivery"] == "66.7 %"
    assert m["Price variance vs contract"] == "€10.00"
    assert m["We paid on time"] == "51.2 %"


def test_suppliers_search_narrows_the_scorecard(store):
    at = page(SUPPLIERS)
    at.text_input(key="sup_search").input("gamma").run()
    assert at.dataframe[0].value["supplier"].tolist() == ["Gamma IT"]


def test_empty_store_says_what_to_do(tmp_path, monkeypatch):
    empty = Store(tmp_path / "empty.duckdb")
    empty.initialise()
    monkeypatch.setenv("KPI_DB", str(empty.path))
    for path in (SPEND, SUPPLIERS):
        at = AppTest.from_file(path, default_timeout=120)
        at.run()
        assert not at.exception
        assert any("No spend in the store yet" in i.value for i in at.info)


def test_approvals_month_by_month(store):
    at = page(SPEND)
    months = next(d.value for d in at.dataframe if "after_the_fact_invoices" in d.value.columns
                  and "month" in d.value.columns)  # fmt: skip
    rows = months.set_index("month")
    # March: PO3 approved the day it was raised (0 days), INV4 invoiced before it
    assert rows.loc["2026-03", "mean_approval_days"] == 0.0
    assert rows.loc["2026-03", "after_the_fact_invoices"] == 1
    # May: PO5 waits for approval (900 + 900); INV6 (600) has no PO
    assert rows.loc["2026-05", "waiting_orders"] == 1
    assert str(rows.loc["2026-05", "no_po_amount"]) == "600.00"
