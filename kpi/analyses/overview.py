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
from kpi.semantic.chart_measures import CHART_MEASURES
from kpi.semantic.engine import compute, compute_measures
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
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
    chart: str,
    grain: str,
) -> pl.DataFrame:
    """A chart's named formulas (kpi.semantic.chart_measures) over its view, one row per
    period, one column per name; from the rollups when they hold them.

    A filter on a column the view lacks is refused (ScopeError), never dropped.
    """
    view, period_column, measures = CHART_MEASURES[chart]
    scope.params(tuple(view_catalog(store.settings)[view]))
    return compute_measures(
        store,
        view,
        period_column,
        measures,
        grain,
        scope.start,
        scope.end,
        scope.as_dict(),
        scope.currency,
    )


def spend_vs_budget(store: Store, scope: Scope) -> pl.DataFrame:
    """Monthly invoiced spend against the budget of the same cost centres and categories."""
    return measures_by_period(store, scope, "spend_vs_budget", "month")


def days_to_pay_vs_terms(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition] | None = None
) -> pl.DataFrame:
    """Monthly days to pay (the KPI days_to_pay by the engine, so the chart follows its
    signed formula) against the amount-weighted contractual terms of the lines paid."""
    terms = measures_by_period(store, scope, "payment_terms", "month")
    kpi = kpi_columns(store, scope, DAYS_TO_PAY_KPIS, None, definitions, "month")
    days = kpi.rename({"month": "period"})
    return (
        terms.join(days, on="period", how="full", coalesce=True)
        .select("period", "days_to_pay", "terms", "late_share")
        .sort("period")
    )


def inventory_by_class(store: Store, scope: Scope) -> pl.DataFrame:
    """Stock value split into safety, cycle, excess and obsolete, per month: each location's
    average over its snapshots in the month (as the inventory KPIs count it)."""
    return measures_by_period(store, scope, "inventory_by_class", "month")


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
