"""The figures behind the CFO overview's headline charts, one function per chart.

Each measure here is a formula written in code (trusted), yet it still goes through the
formula guard and the engine's query builder, so there is one way to turn a formula into
SQL. A chart honours the filters its view has columns for (`chart_filters`) and refuses
the others; the page says which filters a chart leaves out.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from kpi.analyses.kpi_figures import kpi_columns
from kpi.core.scope import Scope
from kpi.core.settings import Settings
from kpi.semantic.compiler import Measure, kpi_query
from kpi.semantic.engine import compute
from kpi.semantic.formula_guard import guard_formula
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.query import fetch_frame
from kpi.store.views import view_catalog

# the view each headline chart reads
CHART_VIEWS = {
    "spend_vs_budget": "budget_vs_actual",
    "days_to_pay_vs_terms": "payments",
    "inventory_by_class": "inventory_position",
}


def chart_filters(settings: Settings, chart: str) -> tuple[str, ...]:
    """The filters a headline chart honours: the columns of the view it reads."""
    return tuple(view_catalog(settings)[CHART_VIEWS[chart]])


def measures_by_period(
    store: Store,
    scope: Scope,
    view: str,
    period_column: str,
    measures: dict[str, str],
    grain: str,
) -> pl.DataFrame:
    """Named aggregate formulas over one view, one row per period, one column per name.

    A filter on a column the view lacks is refused (ScopeError), never dropped.
    """
    columns = view_catalog(store.settings)[view]
    scope.params(tuple(columns))
    guarded = [Measure(name, guard_formula(text, columns)) for name, text in measures.items()]
    query, params = kpi_query(
        view,
        period_column,
        guarded,
        grain,
        store.settings.fiscal,
        [],
        scope.start,
        scope.end,
        scope.as_dict(),
    )
    with store.read(display_currency=scope.currency) as con:  # positional parameters
        wide = fetch_frame(con, query, params)
    return wide.rename({f"m{i}": name for i, name in enumerate(measures)})


def spend_vs_budget(store: Store, scope: Scope) -> pl.DataFrame:
    """Monthly invoiced spend against the budget of the same cost centres and categories."""
    return measures_by_period(
        store,
        scope,
        "budget_vs_actual",
        "month_start",
        {
            "actual": "sum(actual_amount)",
            "budget": "sum(budget_amount)",
            "maverick": "sum(maverick_amount)",
        },
        "month",
    )


def days_to_pay_vs_terms(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition] | None = None
) -> pl.DataFrame:
    """Monthly days to pay (the KPI days_to_pay by the engine, so the chart follows its
    signed formula) against the amount-weighted contractual terms of the lines paid."""
    terms = measures_by_period(
        store,
        scope,
        "payments",
        "paid_date",
        {
            "terms": "sum(amount * contract_terms_days)"
            " filter (where contract_terms_days is not null)"
            " / nullif(sum(amount) filter (where contract_terms_days is not null), 0)",
            "late_share": "sum(amount) filter (where paid_late) / nullif(sum(amount), 0)",
        },
        "month",
    )
    kpi = kpi_columns(store, scope, DAYS_TO_PAY_KPIS, None, definitions, "month")
    days = kpi.rename({"month": "period"})
    return (
        terms.join(days, on="period", how="full", coalesce=True)
        .select("period", "days_to_pay", "terms", "late_share")
        .sort("period")
    )


def inventory_by_class(store: Store, scope: Scope) -> pl.DataFrame:
    """Stock value split into safety, cycle, excess and obsolete, per monthly snapshot."""
    per_snapshot = "/ nullif(count(distinct snapshot_date), 0)"
    return measures_by_period(
        store,
        scope,
        "inventory_position",
        "snapshot_date",
        {
            "safety": f"sum(safety_value) {per_snapshot}",
            "cycle": f"sum(cycle_value) {per_snapshot}",
            "excess": f"sum(excess_value) {per_snapshot}",
            "obsolete": f"sum(obsolete_value) {per_snapshot}",
        },
        "month",
    )


# the chart's line that a KPI defines: {column: KPI id}
DAYS_TO_PAY_KPIS = {"days_to_pay": "days_to_pay"}

SAVINGS_MEANINGS = {
    "savings_realised": "Price savings (procurement)",
    "savings_recognised": "Recognised by finance",
    "cost_avoidance": "Cost avoidance (not P&L)",
    "expense_change_yoy": "Expense change vs a year earlier (finance)",
}


def savings_by_meaning(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition], grain: str
) -> pl.DataFrame:
    """The meanings of "savings" side by side per period: kpi, meaning, period, value.

    These are KPIs: a filter one of them cannot honour shows in the scorecard's
    `filters_ignored` column for that KPI.
    """
    wanted = [k for k in definitions if k.id in SAVINGS_MEANINGS]
    result = compute(
        store, wanted, grain, (), scope.start, scope.end, scope.as_dict(), scope.currency
    )
    return result.frame.with_columns(
        pl.col("kpi").replace_strict(SAVINGS_MEANINGS, default=None).alias("meaning")
    )
