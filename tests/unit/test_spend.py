"""Spend & budgets on tests/spend_fixture.py, every figure worked out by hand from its rows.

Spend in H1 2026 (all EUR): INV1 210.00 (Alpha, P1, PO1) · INV2 250.00 (Beta, P1, PO2) ·
INV3 300.00 (Beta, flyers, no PO) · INV4 950.00 (Gamma, laptop, PO3 raised after it) ·
INV5 200.00 (Alpha, P2, PO4) · INV6 600.00 (Beta, flyers, no PO): 2,510.00 in all,
1,710.00 in Q1 and 800.00 in Q2.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from kpi.analyses import spend as sp
from kpi.core.periods import PeriodError
from kpi.core.scope import Scope, ScopeError
from kpi.reporting import charts_spend as spend_charts
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import compute
from kpi.store.database import Store
from tests import spend_fixture

H1 = (date(2026, 1, 1), date(2026, 6, 30))
H1_SCOPE = Scope.of(*H1)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return spend_fixture.build(tmp_path_factory.mktemp("spend") / "kpi.duckdb")


def keyed(frame, key: str, column: str) -> dict:
    return dict(zip(frame[key].to_list(), frame[column].to_list(), strict=True))


# ---- the drill-down -------------------------------------------------------------------------


def test_tree_reconciles_with_total_spend(store):
    tree = sp.spend_tree(store, H1_SCOPE)
    # 210 + 250 + 300 + 950 + 200 + 600 = 2,510.00, to the cent
    assert tree["amount"].sum() == D("2510.00")
    # Packaging › Alpha Pack › P1 is INV1 alone; Beta's flyers are INV3 + INV6 = 900.00
    rows = {(r["category"], r["supplier"], r["item_id"]): r for r in tree.iter_rows(named=True)}
    assert rows[("Packaging", "Alpha Pack", "P1")]["amount"] == D("210.00")
    assert rows[("Marketing", "Beta Print", "M1")]["amount"] == D("900.00")
    assert rows[("Marketing", "Beta Print", "M1")]["quantity"] == D("3000")  # 1000 + 2000
    assert rows[("Marketing", "Beta Print", "M1")]["item"] == "Flyer print"


def test_each_drill_level_sums_its_children(store):
    tree = sp.spend_tree(store, H1_SCOPE)
    top = sp.drill_level(tree, None, None)
    # IT 950, Marketing 900, Packaging 210 + 250 + 200 = 660; largest first
    assert top["category"].to_list() == ["IT", "Marketing", "Packaging"]
    assert top["amount"].to_list() == [D("950.00"), D("900.00"), D("660.00")]
    assert top["share"][0] == pytest.approx(950 / 2510)
    packaging = sp.drill_level(tree, "Packaging", None)
    # Alpha 210 + 200 = 410, Beta 250; shares of the category's 660
    assert keyed(packaging, "supplier", "amount") == {
        "Alpha Pack": D("410.00"),
        "Beta Print": D("250.00"),
    }
    assert keyed(packaging, "supplier", "share")["Alpha Pack"] == pytest.approx(410 / 660)
    items = sp.drill_level(tree, "Packaging", "Alpha Pack")
    assert keyed(items, "item_id", "amount") == {"P1": D("210.00"), "P2": D("200.00")}
    assert keyed(items, "item_id", "item") == {"P1": "Box small", "P2": "Box large"}


def test_drill_filters_narrow_every_query(store):
    drill = {"category": ["Packaging"], "supplier": ["Alpha Pack"]}
    monthly = sp.spend_monthly(store, Scope.of(*H1, drill))
    # INV1 in January (210.00) and INV5 in April (200.00)
    assert keyed(monthly, "month", "amount") == {"2026-01": D("210.00"), "2026-04": D("200.00")}
    by_cc = sp.spend_by_cost_centre(store, Scope.of(*H1, drill | {"item_id": ["P2"]}))
    # the cost centre's name beside its code (issue 15): none, the fixture has no cost_centres
    assert by_cc.rows() == [("CC-A", None, "Packaging", D("200.00"))]


def test_monthly_trend_splits_spend_without_po(store):
    monthly = sp.spend_monthly(store, H1_SCOPE)
    # Feb: INV2 250 + INV3 300 (no PO); May: INV6 600 (no PO); Jan, Mar on contract
    assert keyed(monthly, "month", "amount") == {
        "2026-01": D("210.00"),
        "2026-02": D("550.00"),
        "2026-03": D("950.00"),
        "2026-04": D("200.00"),
        "2026-05": D("600.00"),
    }
    assert keyed(monthly, "month", "no_po_amount")["2026-02"] == D("300.00")
    assert keyed(monthly, "month", "no_po_amount")["2026-05"] == D("600.00")
    # on contract: INV1 (K1) in January, INV4 (K2) in March
    assert keyed(monthly, "month", "on_contract_amount")["2026-03"] == D("950.00")
    assert keyed(monthly, "month", "on_contract_amount")["2026-02"] == D("0.00")


def test_pareto_of_suppliers(store):
    pareto = sp.supplier_pareto(store, H1_SCOPE)
    # Beta 250 + 300 + 600 = 1,150; Gamma 950; Alpha 410
    assert pareto["supplier"].to_list() == ["Beta Print", "Gamma IT", "Alpha Pack"]
    assert pareto["amount"].to_list() == [D("1150.00"), D("950.00"), D("410.00")]
    assert pareto["cumulative_share"].to_list() == pytest.approx([1150 / 2510, 2100 / 2510, 1.0])
    # Beta starts at 0 % and Gamma at 45.8 %, both below 80 %; Alpha starts at 83.7 %
    assert pareto["in_top_80"].to_list() == [True, True, False]


def test_unknown_filter_and_reversed_period_are_refused(store):
    with pytest.raises(ScopeError, match="cannot filter on colour"):
        sp.spend_tree(store, Scope.of(*H1, {"colour": ["red"]}))
    with pytest.raises(ScopeError, match="before it starts"):
        sp.spend_tree(store, Scope.of(H1[1], H1[0]))


# ---- budgets --------------------------------------------------------------------------------


def test_budget_year_counts_months_with_data(store):
    year = sp.budget_year(store, "FY2026")
    # the latest invoice is INV6 on 2026-05-05: January to May, 5 of 12 months
    assert (year.as_of, year.elapsed, year.months) == (date(2026, 5, 5), 5, 12)
    assert sp.budget_year(store, "FY2025").elapsed == 12  # a past year is complete
    assert sp.budget_year(store, "FY2027").elapsed == 0
    with pytest.raises(PeriodError, match="not a fiscal year"):
        sp.budget_year(store, "FY2026-Q1")


def test_budget_vs_committed_vs_actual_per_cost_centre(store):
    status = sp.budget_status(store, Scope(), sp.budget_year(store, "FY2026"))
    rows = {r["cost_centre"]: r for r in status.iter_rows(named=True)}
    a, m, it = rows["CC-A"], rows["CC-M"], rows["CC-IT"]
    # CC-A: budget 12 x 200 = 2,400, to date (Jan-May) 1,000; actual 210 + 250 + 200 = 660;
    # committed: PO4 ordered 400, INV5 billed 200 fills line 1, line 2 open = 200.00.
    # Burn 660 / 5 = 132.00; forecast 660 + 132 x 7 = 1,584.00 < 2,400 and 860 < 2,400.
    assert (a["budget_year"], a["budget_to_date"], a["actual"], a["committed"]) == (
        D("2400.00"),
        D("1000.00"),
        D("660.00"),
        D("200.00"),
    )
    assert (a["burn_rate"], a["forecast_year_end"]) == (D("132.00"), D("1584.00"))
    assert a["heading_over_budget"] is False
    # CC-M: budget 1,200; actual 300 + 600 = 900, all without PO; PO6 is cancelled: 0
    # committed. Burn 180.00; forecast 900 + 180 x 7 = 2,160.00, 960.00 over, beyond the
    # 5 % tolerance (1,260): flagged.
    assert (m["actual"], m["no_po_actual"], m["committed"]) == (
        D("900.00"),
        D("900.00"),
        D("0.00"),
    )
    assert (m["forecast_year_end"], m["forecast_over_budget"]) == (D("2160.00"), D("960.00"))
    assert m["heading_over_budget"] is True
    assert m["used_to_date"] == pytest.approx(900 / 500)
    # CC-IT: budget 2,000; actual 950; PO5 (two lines of 900.00, not approved) open 1,800;
    # actual + committed 2,750 > 2,000; burn 190.00, forecast 950 + 1,330 = 2,280.00.
    assert (it["committed"], it["actual_and_committed"]) == (D("1800.00"), D("2750.00"))
    assert it["committed_utilisation"] == pytest.approx(2750 / 2000)
    assert it["forecast_year_end"] == D("2280.00")
    assert it["heading_over_budget"] is True
    # those heading over come first, the worst forecast first
    assert status["cost_centre"].to_list() == ["CC-M", "CC-IT", "CC-A"]


def test_budget_status_by_category_and_monthly(store):
    year = sp.budget_year(store, "FY2026")
    by_cat = sp.budget_status(store, Scope(), year, "category")
    assert keyed(by_cat, "category", "committed") == {
        "IT": D("1800.00"),
        "Marketing": D("0.00"),
        "Packaging": D("200.00"),
    }
    monthly = sp.budget_monthly(store, Scope(), year)
    months = {r["month"]: r for r in monthly.iter_rows(named=True)}
    # March: budget 200 + 100 + 1,000 = 1,300; actual INV4 950
    assert (months["2026-03"]["budget"], months["2026-03"]["actual"]) == (
        D("1300.00"),
        D("950.00"),
    )
    # committed in the month ordered: PO4 April 200, PO5 May 1,800
    assert months["2026-04"]["committed"] == D("200.00")
    assert months["2026-05"]["committed"] == D("1800.00")
    # cumulative budget at year end: 2,400 + 1,200 + 2,000 = 5,600; actual 2,510
    assert months["2026-12"]["cum_budget"] == D("5600.00")
    assert months["2026-12"]["cum_actual"] == D("2510.00")
    with pytest.raises(ValueError, match="split by"):
        sp.budget_status(store, Scope(), year, "supplier")


def test_a_filter_budgets_and_orders_cannot_honour_is_refused_not_dropped(store):
    by_supplier = Scope.of(*H1, {"supplier": ["Alpha Pack"]})
    year = sp.budget_year(store, "FY2026")
    with pytest.raises(ScopeError, match="cannot filter on supplier"):
        sp.budget_status(store, by_supplier, year)
    with pytest.raises(ScopeError, match="cannot filter on supplier"):
        sp.approvals(store, by_supplier)
    # the page asks first, and passes only what the figure honours
    assert by_supplier.ignored(sp.BUDGET_FILTERS) == ("supplier",)
    assert sp.approvals(store, by_supplier.only(sp.BUDGET_FILTERS)).equals(
        sp.approvals(store, H1_SCOPE)
    )


def test_budget_filters(store):
    year = sp.budget_year(store, "FY2026")
    only = sp.budget_status(store, Scope.of(filters={"cost_centre": ["CC-M"]}), year)
    assert only["cost_centre"].to_list() == ["CC-M"]


# ---- approvals and compliance ---------------------------------------------------------------


def test_approvals_by_cost_centre(store):
    by_cc = sp.approvals_by(store, H1_SCOPE, sp.approvals(store, H1_SCOPE), "cost_centre")
    rows = {r["cost_centre"]: r for r in by_cc.iter_rows(named=True)}
    # CC-A: PO1 2 days, PO2 4, PO4 two lines of 2: (2 + 4 + 2 + 2) / 4 lines = 2.5
    assert (rows["CC-A"]["orders"], rows["CC-A"]["mean_approval_days"]) == (3, 2.5)
    # CC-IT: PO3 approved the day it was raised (0); PO5 waits: 1 order, 900 + 900
    assert rows["CC-IT"]["mean_approval_days"] == 0.0
    assert (rows["CC-IT"]["waiting_orders"], rows["CC-IT"]["waiting_amount"]) == (
        1,
        D("1800.00"),
    )
    # CC-M: PO6 took 7 days; cancelled, so it does not wait
    assert (rows["CC-M"]["mean_approval_days"], rows["CC-M"]["waiting_orders"]) == (7.0, 0)
    by_month = sp.approvals_by(store, H1_SCOPE, sp.approvals(store, H1_SCOPE), "month")
    assert keyed(by_month, "month", "mean_approval_days")["2026-04"] == 2.0


def test_waiting_orders(store):
    waiting = sp.waiting_orders(store, H1_SCOPE, today=date(2026, 6, 1))
    # PO5, raised 2026-05-10: 22 days by 2026-06-01
    # after the code, its name (issue 15): none, the fixture has no cost_centres rows
    row = ("PO5", date(2026, 5, 10), "Gamma IT", "CC-IT", None, D("1800.00"), 22)
    assert waiting.rows() == [row]


def test_maverick_and_after_the_fact_by_cost_centre(store):
    lines = sp.compliance_lines(store, H1_SCOPE)
    by_cc = {
        r["cost_centre"]: r
        for r in sp.compliance_by(store, H1_SCOPE, lines, "cost_centre").iter_rows(named=True)
    }
    # CC-M: INV3 300 + INV6 600 without PO, two invoices: all of its 900
    assert (by_cc["CC-M"]["no_po_amount"], by_cc["CC-M"]["no_po_invoices"]) == (D("900.00"), 2)
    assert by_cc["CC-M"]["maverick_rate"] == 1.0
    # CC-IT: INV4 dated 2026-03-05, its PO3 raised 2026-03-10: after the fact
    assert (by_cc["CC-IT"]["after_the_fact_amount"], by_cc["CC-IT"]["after_the_fact_invoices"]) == (
        D("950.00"),
        1,
    )
    assert by_cc["CC-A"]["after_the_fact_amount"] == D("0.00")
    by_month = {
        r["month"]: r
        for r in sp.compliance_by(store, H1_SCOPE, lines, "month").iter_rows(named=True)
    }
    # February: 300 of 550 without PO
    assert by_month["2026-02"]["maverick_rate"] == pytest.approx(300 / 550)
    assert by_month["2026-03"]["after_the_fact_rate"] == 1.0


def test_compliance_by_category_and_off_contract_cost(store):
    lines = sp.compliance_lines(store, H1_SCOPE)
    cat = {
        r["category"]: r
        for r in sp.compliance_by(store, H1_SCOPE, lines, "category").iter_rows(named=True)
    }
    pack = cat["Packaging"]
    # preferred: Alpha 410; on contract: INV1 (K1) 210; managed: 410 (INV1 is both)
    assert (pack["preferred_amount"], pack["on_contract_amount"], pack["managed_amount"]) == (
        D("410.00"),
        D("210.00"),
        D("410.00"),
    )
    # off contract: INV2 250 + INV5 200 = 450. What it cost: INV2 bought P1 from Beta at
    # 2.50 while K1 offered 2.00 that day: (2.50 - 2.00) x 100 = 50.00 (P2 has no contract)
    assert (pack["off_contract_amount"], pack["off_contract_premium"]) == (
        D("450.00"),
        D("50.00"),
    )
    # on-contract variance: INV1 (2.10 - 2.00) x 100 = 10.00
    assert pack["on_contract_price_variance"] == D("10.00")
    assert pack["managed_share"] == pytest.approx(410 / 660)
    # IT: INV4 on K2, (950 - 900) x 1 = 50.00 paid above contract
    assert cat["IT"]["on_contract_price_variance"] == D("50.00")
    assert cat["Marketing"]["off_contract_amount"] == D("900.00")


# ---- the KPIs of the issue, by the engine -----------------------------------------------------

KPIS = (
    "total_spend",
    "committed_budget_utilisation",
    "maverick_spend_rate",
    "po_compliance",
    "spend_under_management",
    "po_cycle_time_days",
    "supplier_concentration_top5",
)


def test_kpis_by_quarter(store):
    defs = [k for k in load_definitions(None, store.settings) if k.id in KPIS]
    frame = compute(store, defs, "quarter", start=H1[0], end=date(2026, 12, 31)).frame
    v = {(r["kpi"], r["period"]): r["value"] for r in frame.iter_rows(named=True)}
    # committed budget utilisation, Q1: budget 3 x 200 + 3 x 100 + 1,000 = 1,900;
    # actual 1,710; nothing committed in Q1 -> 0.9. Q2: budget 600 + 300 = 900;
    # actual 800 + committed 200 (PO4, April) + 1,800 (PO5, May) -> 2,800 / 900
    assert v[("committed_budget_utilisation", "FY2026-Q1")] == pytest.approx(0.9)
    assert v[("committed_budget_utilisation", "FY2026-Q2")] == pytest.approx(2800 / 900)
    # maverick: Q1 INV3 300 (no PO) + INV4 950 (PO3 raised 03-10, after the 03-05 invoice:
    # off PO since issue 14) = 1,250 / 1,710; Q2 600 / 800; always 1 - PO compliance
    assert v[("maverick_spend_rate", "FY2026-Q1")] == pytest.approx(1250 / 1710)
    assert v[("maverick_spend_rate", "FY2026-Q2")] == pytest.approx(0.75)
    for q in ("FY2026-Q1", "FY2026-Q2"):
        assert v[("maverick_spend_rate", q)] == pytest.approx(1 - v[("po_compliance", q)])
    # under management: Q1 INV1 210 (preferred, K1) + INV4 950 (K2) = 1,160 of 1,710;
    # Q2 INV5 200 (Alpha is preferred) of 800
    assert v[("spend_under_management", "FY2026-Q1")] == pytest.approx(1160 / 1710)
    assert v[("spend_under_management", "FY2026-Q2")] == pytest.approx(0.25)
    # approval days per PO line by PO date: Q1 (2 + 4 + 0) / 3; Q2 PO4 2, 2 and PO6 7: 11 / 3
    # (PO5 is not approved and does not count)
    assert v[("po_cycle_time_days", "FY2026-Q1")] == pytest.approx(2.0)
    assert v[("po_cycle_time_days", "FY2026-Q2")] == pytest.approx(11 / 3)
    # at most two suppliers per category: all spend is with a top-5 supplier
    assert v[("supplier_concentration_top5", "FY2026-Q1")] == pytest.approx(1.0)
    assert v[("total_spend", "FY2026-Q1")] == pytest.approx(1710.0)


# ---- the demo's planted story -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_copy) -> Store:
    return Store(demo_copy(0.05, tmp_path_factory.mktemp("demo") / "demo.duckdb"))


def test_demo_flags_marketing_and_events_over_budget(demo):
    from kpi.demo.reference import MAVERICK_COST_CENTRE

    status = sp.budget_status(demo, Scope(), sp.budget_year(demo, "FY2026"))
    row = status.filter(status["cost_centre"] == MAVERICK_COST_CENTRE).row(0, named=True)
    assert row["heading_over_budget"] is True
    # it is over on its invoices alone, and mostly on invoices with no PO
    assert row["actual"] > row["budget_to_date"]
    assert row["no_po_actual"] > D("0")
    assert status["cost_centre"][0] == MAVERICK_COST_CENTRE  # the worst overrun comes first


# ---- charts ---------------------------------------------------------------------------------


def test_treemap_nests_category_supplier_item(store):
    tree = sp.spend_tree(store, H1_SCOPE)
    fig = spend_charts.spend_treemap(tree, "EUR", "All spend")
    t = fig.data[0]
    values = dict(zip(t.ids, t.values, strict=True))
    parents = dict(zip(t.ids, t.parents, strict=True))
    # 3 categories + 4 (category, supplier) pairs + 5 leaves
    assert len(t.ids) == 12
    assert values["Packaging"] == 660.0 and parents["Packaging"] == ""
    assert values["Packaging › Alpha Pack"] == 410.0
    assert parents["Packaging › Alpha Pack › P2"] == "Packaging › Alpha Pack"
    assert values["Packaging › Alpha Pack › P2"] == 200.0


def test_budget_charts_mark_the_flagged_and_the_forecast(store):
    year = sp.budget_year(store, "FY2026")
    status = sp.budget_status(store, Scope(), year)
    fig = spend_charts.status_chart(status, "cost_centre", "EUR")
    # sorted by the year's budget: CC-A 2,400, CC-IT 2,000, CC-M 1,200; flagged ones marked
    assert list(fig.data[0].x) == ["CC-A", "⚠ CC-IT", "⚠ CC-M"]
    monthly = sp.budget_monthly(store, Scope(), year)
    totals = {c: status[c].sum() for c in ("committed", "forecast_year_end")}
    burn = spend_charts.burn_chart(monthly, year, totals, "EUR")
    forecast = next(d for d in burn.data if d.name == "Run-rate forecast")
    # from the actual to date in May (2,510) to 1,584 + 2,160 + 2,280 = 6,024 in December
    assert list(forecast.x) == ["2026-05", "2026-12"]
    assert list(forecast.y) == [2510.0, 6024.0]
    # accrued 0 (PO4 line 1 received 200, invoiced 200) + committed 2,000, one point
    committed = next(d for d in burn.data if d.name == "Actual + accrued + committed")
    assert list(committed.y) == [2510.0 + 2000.0]


def test_cost_centre_sunburst_rings(store):
    fig = spend_charts.cost_centre_sunburst(sp.spend_by_cost_centre(store, H1_SCOPE), "EUR")
    t = fig.data[0]
    values = dict(zip(t.ids, t.values, strict=True))
    # CC-A: INV1 210 + INV2 250 + INV5 200 = 660 of Packaging; CC-M 900; CC-IT 950
    assert (values["CC-A"], values["CC-M"], values["CC-IT"]) == (660.0, 900.0, 950.0)
    assert values["CC-A › Packaging"] == 660.0
    assert dict(zip(t.ids, t.parents, strict=True))["CC-IT › IT"] == "CC-IT"


def test_lines_without_category_or_item_can_be_drilled_into(tmp_path, monkeypatch):
    extra = ("INV7", 1, "B", None, "2026-02-25", "2026-04-26", None, None, None, "CC-M", 1,
             45.50, 45.50, "EUR", 0)  # fmt: skip
    rows = dict(spend_fixture.ROWS, invoices=[*spend_fixture.ROWS["invoices"], extra])
    monkeypatch.setattr(spend_fixture, "ROWS", rows)
    store = spend_fixture.build(tmp_path / "kpi.duckdb")
    tree = sp.spend_tree(store, H1_SCOPE)
    assert tree.filter(tree["category"] == "(no category)").select("item_id", "amount").rows() == [
        ("(no item)", D("45.50"))
    ]
    drill = {"category": ["(no category)"], "item_id": ["(no item)"]}
    # the trend follows the drill-down to that line: February, 45.50
    assert sp.spend_monthly(store, Scope.of(*H1, drill)).select("month", "amount").rows() == [
        ("2026-02", D("45.50"))
    ]


def test_names_reach_the_charts_as_text_not_markup(store):
    tree = sp.spend_tree(store, H1_SCOPE).with_columns(
        sp.pl.when(sp.pl.col("supplier") == "Beta Print")
        .then(sp.pl.lit("<b>Beta</b> & Co"))
        .otherwise(sp.pl.col("supplier"))
        .alias("supplier")
    )
    fig = spend_charts.spend_treemap(tree, "EUR", "All spend")
    assert "&lt;b&gt;Beta&lt;/b&gt; &amp; Co" in fig.data[0].labels
    # a click on the escaped box still drills to the supplier's real name
    nodes = spend_charts.treemap_nodes(tree)
    assert nodes["Packaging › &lt;b&gt;Beta&lt;/b&gt; &amp; Co"] == (
        "Packaging",
        "<b>Beta</b> & Co",
        None,
    )


def test_approval_flow_puts_approvals_beside_bypasses(store):
    flow = sp.approval_flow(
        sp.approvals_by(store, H1_SCOPE, sp.approvals(store, H1_SCOPE), "cost_centre"),
        sp.compliance_by(store, H1_SCOPE, sp.compliance_lines(store, H1_SCOPE), "cost_centre"),
        "cost_centre",
    )
    rows = {r["cost_centre"]: r for r in flow.iter_rows(named=True)}
    # CC-IT: PO3 in 0 days, PO5 waiting; its only invoice INV4 came before PO3: 950 of 950
    assert (rows["CC-IT"]["waiting_orders"], rows["CC-IT"]["after_the_fact_rate"]) == (1, 1.0)
    # CC-M: PO6 in 7 days, yet all 900 of its spend had no PO
    assert (rows["CC-M"]["mean_approval_days"], rows["CC-M"]["maverick_rate"]) == (7.0, 1.0)
    assert flow["cost_centre"].to_list() == ["CC-A", "CC-IT", "CC-M"]
