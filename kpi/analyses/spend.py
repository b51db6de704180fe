"""Spend & budgets: where the money went (category → supplier → item), against the budget.

Finance sets the limits, procurement spends within them: this module puts both halves in
frames for one page. Spend is drilled down category → supplier → item and split by cost
centre, with a monthly trend and a Pareto of suppliers; budgets are set against actual spend
(invoiced), accrued (received, not invoiced) and committed spend (ordered, neither received
nor invoiced), all at the fiscal year's budget rates, with a burn rate and a run-rate
forecast to the fiscal year end; approvals and compliance show how the
money was spent: approval time, orders waiting, invoices with no PO (maverick spend), POs
raised after the invoice (after the fact), spend with preferred and contracted suppliers
and what buying off contract cost. The SQL is in kpi/store/queries/spend.py; amounts are exact
DECIMALs in the display currency (the reporting currency unless `currency` is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from kpi.analyses.cost_centres import NAME as CC_NAME
from kpi.analyses.cost_centres import with_cost_centre_names
from kpi.analyses.kpi_figures import kpi_columns, scalar
from kpi.core import periods
from kpi.core.scope import Scope
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import WHOLE_RANGE, compute
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.queries import spend as q
from kpi.store.query import run

# what a spend query can be narrowed by: the sidebar's filters and the drill-down's picks;
# budgets, approvals and orders know no supplier or item, only these two
SPEND_FILTERS = ("category", "cost_centre", "supplier", "item_id")
BUDGET_FILTERS = ("category", "cost_centre")


def _spend(store: Store, query: str, scope: Scope) -> pl.DataFrame:
    params = scope.params(SPEND_FILTERS) | scope.period_params()
    return run(store, query, params, scope.currency)


# ---- spend --------------------------------------------------------------------------------


def spend_tree(store: Store, scope: Scope) -> pl.DataFrame:
    """Spend per category, supplier and item (largest first): the drill-down's leaves.

    Columns: category, supplier, item_id, item (description), amount, quantity, lines.
    Summing `amount` gives total_spend for the same period and filters, to the cent.
    """
    return _spend(store, q.SPEND_TREE, scope)


def drill_level(tree: pl.DataFrame, category: str | None, supplier: str | None) -> pl.DataFrame:
    """The rows one drill-down step shows: categories, a category's suppliers, or a
    supplier's items in that category. Columns: the level's name column, amount, share."""
    if category is None:
        level, rows = "category", tree
    elif supplier is None:
        level, rows = "supplier", tree.filter(pl.col("category") == category)
    else:
        level = "item"
        rows = tree.filter((pl.col("category") == category) & (pl.col("supplier") == supplier))
    keys = ["item_id", "item"] if level == "item" else [level]
    out = rows.group_by(keys).agg(pl.col("amount").sum(), pl.col("lines").sum())
    total = out["amount"].sum() if out.height else None
    share = pl.col("amount").cast(pl.Float64) / (float(total) if total else None)
    return out.with_columns(share.alias("share")).sort(
        ["amount", *keys], descending=[True] + [False] * len(keys)
    )


def spend_by_cost_centre(store: Store, scope: Scope) -> pl.DataFrame:
    """Spend per cost centre and category. Columns: cost_centre, cost_centre_name (from the
    cost_centres table; empty when it lacks the code), category, amount."""
    return with_cost_centre_names(store, _spend(store, q.SPEND_BY_COST_CENTRE, scope))


def spend_monthly(store: Store, scope: Scope) -> pl.DataFrame:
    """Spend per month (YYYY-MM): amount, no_po_amount, on_contract_amount."""
    return _spend(store, q.SPEND_MONTHLY, scope)


def supplier_pareto(store: Store, scope: Scope) -> pl.DataFrame:
    """Suppliers by spend, largest first, with their share and the cumulative share.

    Columns: rank, supplier_id, supplier, amount, share, cumulative_share, in_top_80 (the
    suppliers that together make up the first 80 % of spend, the one crossing it included).
    """
    frame = _spend(store, q.SUPPLIER_PARETO, scope)
    before = pl.col("cumulative_share") - pl.col("share")
    return frame.with_columns((before < 0.8 - 1e-12).alias("in_top_80"))


# ---- budgets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetYear:
    """The fiscal year a budget review covers and how much of it has data."""

    label: str  # FY2026
    start: date
    end: date
    as_of: date | None  # the latest invoice date in the store
    months: int  # months in the fiscal year (12)
    elapsed: int  # months of the year up to the month of `as_of` (0..months)


def budget_year(store: Store, fiscal_year: str) -> BudgetYear:
    """A fiscal year (FY2026) and how many of its months have data, for the run rate."""
    cal = store.settings.fiscal
    if periods.grain_of(fiscal_year.strip()) != "year":
        raise periods.PeriodError(f"'{fiscal_year}' is not a fiscal year (use FY2026)")
    start, end = periods.period_range(fiscal_year, cal)
    with store.read() as con:
        as_of = con.execute(q.LAST_INVOICE_DATE).fetchone()[0]
    months = len(periods.periods_between(start, end, "month", cal))
    if as_of is None or as_of < start:
        elapsed = 0
    else:
        elapsed = len(periods.periods_between(start, min(as_of, end), "month", cal))
    return BudgetYear(fiscal_year.strip(), start, end, as_of, months, elapsed)


def _budget_params(year: BudgetYear, scope: Scope, tolerance: float = 0.0) -> dict:
    last = year.start if year.elapsed == 0 else year.as_of
    as_of_month = date(last.year, last.month, 1) if year.elapsed else date(1, 1, 1)
    return scope.params(BUDGET_FILTERS) | {
        "fy_start": year.start,
        "fy_end": year.end,
        "as_of_month": as_of_month,
        "elapsed": year.elapsed,
        "months": year.months,
        "tolerance": tolerance,
    }


def budget_status(
    store: Store,
    scope: Scope,
    year: BudgetYear,
    by: str = "cost_centre",
    definitions: Sequence[KpiDefinition] | None = None,
) -> pl.DataFrame:
    """Budget vs actual, accrued and committed for one fiscal year, per cost centre or
    category, every amount at the year's budget rates (see budget_vs_actual).

    Columns: <by> (by cost centre, followed by cost_centre_name from the cost_centres
    table), budget_year, budget_to_date (months up to the latest invoice's),
    actual (invoiced), committed (ordered, neither received nor invoiced), no_po_actual,
    actual_and_committed (actual + accrued + committed: each euro of an order once),
    used_to_date (the KPI budget_utilisation over the months to date), committed_utilisation
    (the KPI committed_budget_utilisation over the year), burn_rate (actual per elapsed
    month), forecast_year_end (actual + burn rate x months left), forecast_over_budget,
    heading_over_budget (the forecast exceeds the year's budget by more than the settings'
    amber tolerance, 5 % by default, or actual + accrued + committed exceeds it at all),
    accrued (received, not invoiced) and fx_variance (actual at transaction-date rates minus
    actual at budget rates). Those heading over budget come first. The two ratios come from
    the engine, so they are the signed KPIs' numbers (`definitions`: the KPIs in use,
    default the definitions file); a KPI missing from them leaves its column empty.
    """
    if by not in q.BUDGET_STATUS:
        raise ValueError(f"budgets can be split by {', '.join(q.BUDGET_STATUS)}, not '{by}'")
    params = _budget_params(year, scope, store.settings.amber_tolerance)
    frame = run(store, q.BUDGET_STATUS[by], params, scope.currency)
    if definitions is None:
        definitions = load_definitions(None, store.settings)
    to_date = _budget_kpi(store, scope, year, by, definitions, "budget_utilisation", True)
    whole = _budget_kpi(store, scope, year, by, definitions, "committed_budget_utilisation")
    frame = frame.join(to_date.rename({"value": "used_to_date"}), on=by, how="left")
    frame = frame.join(whole.rename({"value": "committed_utilisation"}), on=by, how="left")
    order = [*frame.columns[:7], "used_to_date", "committed_utilisation"]
    frame = frame.select(order + [c for c in frame.columns if c not in order])
    return with_cost_centre_names(store, frame)


def _budget_kpi(
    store: Store,
    scope: Scope,
    year: BudgetYear,
    by: str,
    definitions: Sequence[KpiDefinition],
    kpi_id: str,
    to_date: bool = False,
) -> pl.DataFrame:
    """One budget KPI per `by` value by the engine, over the fiscal year (or its months up
    to the latest invoice's), keyed like budget_status's rows."""
    empty = pl.DataFrame(schema={by: pl.String, "value": pl.Float64})
    wanted = [k for k in definitions if k.id == kpi_id]
    if not wanted or (to_date and year.elapsed == 0):
        return empty
    end = min(year.as_of, year.end) if to_date else year.end
    if to_date:  # the whole month of the latest invoice, like budget_to_date
        end = periods.period_range(f"{end.year:04d}-{end.month:02d}", store.settings.fiscal)[1]
    filters = {k: v for k, v in scope.as_dict().items() if k in BUDGET_FILTERS}
    result = compute(store, wanted, "year", [by], year.start, end, filters, scope.currency)
    frame = result.frame.filter(pl.col("period") == year.label)
    missing = q.BUDGET_DIMENSIONS[by]
    return frame.select(pl.col(by).fill_null(missing), pl.col("value"))


def budget_monthly(store: Store, scope: Scope, year: BudgetYear) -> pl.DataFrame:
    """Per month of the year, at the year's budget rates: budget, actual, committed,
    no_po_actual, accrued, fx_variance, and running totals (cum_budget, cum_actual) for a
    burn-down chart."""
    frame = run(store, q.BUDGET_MONTHLY, _budget_params(year, scope), scope.currency)
    return frame.with_columns(
        pl.col("budget").cum_sum().alias("cum_budget"),
        pl.col("actual").cum_sum().alias("cum_actual"),
    )


# ---- approvals and compliance ---------------------------------------------------------------


# the columns of the approvals and compliance tables that a KPI defines: {column: KPI id};
# they are the KPIs by the engine for the same split and scope (kpi.analyses.kpi_figures)
COMPLIANCE_KPIS = {
    "maverick_rate": "maverick_spend_rate",
    "after_the_fact_rate": "after_the_fact_po_rate",
    "managed_share": "spend_under_management",
    "on_contract_price_variance": "purchase_price_variance",
}
COMPLIANCE_MONEY = ("on_contract_price_variance",)
APPROVAL_KPIS = {"mean_approval_days": "po_cycle_time_days"}
# how the tables name a line without a cost centre or category (the engine leaves it null)
_MISSING = {"cost_centre": "(no cost centre)", "category": "(no category)"}


def _kpis_by(
    store: Store,
    scope: Scope,
    columns: dict[str, str],
    by: str | None,
    definitions: Sequence[KpiDefinition] | None,
    money: Sequence[str] = (),
) -> pl.DataFrame:
    """The KPIs of `columns` by the engine, per month (at the KPI's period column), per
    cost centre or category, or over the whole range (`by` None)."""
    if by == "month":
        return kpi_columns(store, scope, columns, None, definitions, "month", money)
    frame = kpi_columns(store, scope, columns, by, definitions, WHOLE_RANGE, money)
    return frame.with_columns(pl.col(by).fill_null(_MISSING[by])) if by in _MISSING else frame


def compliance_lines(store: Store, scope: Scope) -> pl.DataFrame:
    """Every compliance measure per month, cost centre and category (see sql_spend)."""
    return _spend(store, q.COMPLIANCE_LINES, scope)


_COMPLIANCE_SUMS = (
    "spend",
    "no_po_amount",
    "no_po_invoices",
    "after_the_fact_amount",
    "after_the_fact_invoices",
    "preferred_amount",
    "on_contract_amount",
    "managed_amount",
    "off_contract_amount",
    "off_contract_premium",
)


def compliance_by(
    store: Store,
    scope: Scope,
    lines: pl.DataFrame,
    by: str,
    definitions: Sequence[KpiDefinition] | None = None,
) -> pl.DataFrame:
    """compliance_lines summed by month, cost_centre or category, with shares of spend:
    preferred_share, on_contract_share; and the KPIs for the same split and scope:
    maverick_rate (maverick_spend_rate), after_the_fact_rate (after_the_fact_po_rate),
    managed_share (spend_under_management)
    and on_contract_price_variance (purchase_price_variance)."""
    if by not in ("month", "cost_centre", "category"):
        raise ValueError(f"compliance can be split by month, cost_centre or category, not '{by}'")
    out = lines.group_by(by).agg(pl.col(c).sum() for c in _COMPLIANCE_SUMS)
    spend = pl.col("spend").cast(pl.Float64)
    shares = {
        "preferred_share": "preferred_amount",
        "on_contract_share": "on_contract_amount",
    }
    out = out.with_columns(
        (pl.col(c).cast(pl.Float64) / pl.when(spend != 0).then(spend)).alias(name)
        for name, c in shares.items()
    )
    kpis = _kpis_by(store, scope, COMPLIANCE_KPIS, by, definitions, COMPLIANCE_MONEY)
    out = out.join(kpis, on=by, how="left")
    out = with_cost_centre_names(store, out)  # by cost centre: its name beside the code
    return out.sort(by if by == "month" else ["spend", by], descending=by != "month")


def approvals(store: Store, scope: Scope) -> pl.DataFrame:
    """Purchase orders per month created and cost centre: orders, approved_lines,
    approval_days_total, waiting_orders and waiting_amount (not approved, not closed)."""
    params = scope.params(BUDGET_FILTERS) | scope.period_params()
    return run(store, q.APPROVAL_LINES, params)


def approvals_by(
    store: Store,
    scope: Scope,
    lines: pl.DataFrame,
    by: str,
    definitions: Sequence[KpiDefinition] | None = None,
) -> pl.DataFrame:
    """approvals() summed by month or cost_centre, with mean_approval_days: the KPI
    po_cycle_time_days by the engine for the same split and scope."""
    if by not in ("month", "cost_centre"):
        raise ValueError(f"approvals can be split by month or cost_centre, not '{by}'")
    cols = ("orders", "approved_lines", "approval_days_total", "waiting_orders", "waiting_amount")
    out = lines.group_by(by).agg(pl.col(c).sum() for c in cols)
    scope.params(BUDGET_FILTERS)  # orders know no supplier or item: refused, as approvals()
    kpis = _kpis_by(store, scope, APPROVAL_KPIS, by, definitions)
    out = with_cost_centre_names(store, out)  # by cost centre: its name beside the code
    return out.join(kpis, on=by, how="left").sort(by)


def compliance_totals(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition] | None = None
) -> dict[str, object]:
    """The KPIs of the approvals and compliance tabs over the whole scope, by the engine:
    {column: value} for the columns of COMPLIANCE_KPIS and APPROVAL_KPIS (None: no data)."""
    spend_kpis = _kpis_by(store, scope, COMPLIANCE_KPIS, None, definitions, COMPLIANCE_MONEY)
    scope.params(BUDGET_FILTERS)
    order_kpis = _kpis_by(store, scope, APPROVAL_KPIS, None, definitions)
    return {
        column: scalar(frame, column)
        for frame, columns in ((spend_kpis, COMPLIANCE_KPIS), (order_kpis, APPROVAL_KPIS))
        for column in columns
    }


def approval_flow(approvals_by_: pl.DataFrame, compliance: pl.DataFrame, by: str) -> pl.DataFrame:
    """approvals_by() and compliance_by() for the same split side by side: how orders were
    approved, and how much was bought without one (no PO, or a PO raised after the invoice).
    By cost centre, the name stays beside the code whichever side the row came from."""
    named = CC_NAME in approvals_by_.columns and CC_NAME in compliance.columns
    bypass = compliance.select(
        by,
        *([CC_NAME] if named else []),
        "spend",
        "no_po_invoices",
        "no_po_amount",
        "maverick_rate",
        "after_the_fact_invoices",
        "after_the_fact_amount",
        "after_the_fact_rate",
    )
    joined = approvals_by_.join(bypass, on=by, how="full", coalesce=True)
    if named:
        right = f"{CC_NAME}_right"
        joined = joined.with_columns(pl.coalesce(CC_NAME, right).alias(CC_NAME)).drop(right)
    return joined.sort(by)


def waiting_orders(store: Store, scope: Scope, today: date) -> pl.DataFrame:
    """Orders not approved yet (and not closed), longest waiting first: po_id, po_date,
    supplier, cost_centre, cost_centre_name, amount, days_waiting (to `today`)."""
    params = scope.params(BUDGET_FILTERS) | scope.period_params() | {"today": today}
    return with_cost_centre_names(store, run(store, q.WAITING_ORDERS, params))


# ---- KPI tiles --------------------------------------------------------------------------------

SPEND_KPIS = (
    "total_spend",
    "committed_budget_utilisation",
    "maverick_spend_rate",
    "spend_under_management",
    "po_cycle_time_days",
)
