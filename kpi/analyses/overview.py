"""The figures behind the CFO overview's headline charts, one function per chart.

Each measure here is a formula written in code (trusted), yet it still goes through the
formula guard and the engine's query builder, so there is one way to turn a formula into
SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from kpi.semantic.compiler import Measure, kpi_query
from kpi.semantic.engine import compute
from kpi.semantic.formula_guard import guard_formula
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.query import fetch_frame
from kpi.store.views import view_catalog


def measures_by_period(
    store: Store,
    view: str,
    period_column: str,
    measures: dict[str, str],
    grain: str,
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Named aggregate formulas over one view, one row per period, one column per name."""
    columns = view_catalog(store.settings)[view]
    applied = {k: v for k, v in (filters or {}).items() if v and k in columns}
    guarded = [Measure(name, guard_formula(text, columns)) for name, text in measures.items()]
    query, params = kpi_query(
        view, period_column, guarded, grain, store.settings.fiscal, [], start, end, applied
    )
    with store.read(display_currency=currency) as con:
        wide = fetch_frame(con, query, params)
    return wide.rename({f"m{i}": name for i, name in enumerate(measures)})


def spend_vs_budget(store: Store, start, end, filters=None, currency=None) -> pl.DataFrame:
    """Monthly invoiced spend against the budget of the same cost centres and categories."""
    return measures_by_period(
        store,
        "budget_vs_actual",
        "month_start",
        {
            "actual": "sum(actual_amount)",
            "budget": "sum(budget_amount)",
            "maverick": "sum(maverick_amount)",
        },
        "month",
        start,
        end,
        filters,
        currency,
    )


def days_to_pay_vs_terms(store: Store, start, end, filters=None, currency=None) -> pl.DataFrame:
    """Monthly amount-weighted days to pay against the contractual terms of the same lines."""
    return measures_by_period(
        store,
        "payments",
        "paid_date",
        {
            "days_to_pay": "sum(amount * days_to_pay) / nullif(sum(amount), 0)",
            "terms": "sum(amount * contract_terms_days)"
            " filter (where contract_terms_days is not null)"
            " / nullif(sum(amount) filter (where contract_terms_days is not null), 0)",
            "late_share": "sum(amount) filter (where paid_late) / nullif(sum(amount), 0)",
        },
        "month",
        start,
        end,
        filters,
        currency,
    )


def inventory_by_class(store: Store, start, end, filters=None, currency=None) -> pl.DataFrame:
    """Stock value split into safety, cycle, excess and obsolete, per monthly snapshot."""
    per_snapshot = "/ nullif(count(distinct snapshot_date), 0)"
    return measures_by_period(
        store,
        "inventory_position",
        "snapshot_date",
        {
            "safety": f"sum(safety_value) {per_snapshot}",
            "cycle": f"sum(cycle_value) {per_snapshot}",
            "excess": f"sum(excess_value) {per_snapshot}",
            "obsolete": f"sum(obsolete_value) {per_snapshot}",
        },
        "month",
        start,
        end,
        filters,
        currency,
    )


SAVINGS_MEANINGS = {
    "savings_realised": "Price savings (procurement)",
    "savings_recognised": "Recognised by finance",
    "cost_avoidance": "Cost avoidance (not P&L)",
    "expense_change_yoy": "Expense change vs a year earlier (finance)",
}


def savings_by_meaning(
    store: Store,
    definitions: Sequence[KpiDefinition],
    grain: str,
    start,
    end,
    filters=None,
    currency=None,
) -> pl.DataFrame:
    """The meanings of "savings" side by side per period: kpi, meaning, period, value."""
    wanted = [k for k in definitions if k.id in SAVINGS_MEANINGS]
    result = compute(store, wanted, grain, (), start, end, filters, currency)
    return result.frame.with_columns(
        pl.col("kpi").replace_strict(SAVINGS_MEANINGS, default=None).alias("meaning")
    )
