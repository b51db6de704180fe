"""The CFO scorecard: every KPI's value, target, red/amber/green, change and recent trend.

Status rules (tolerance from config/settings.yaml, `scorecard.amber_tolerance`, share of
the target): higher_is_better is green at or above target, amber within the tolerance
below it; lower_is_better the mirror image; target_is_best is green within the tolerance
either side and amber within twice of it. A ceiling is never exceeded on target: a percent
KPI best at exactly 100 % (a utilisation: the whole budget) is red as soon as its value is
above 100 %, and judged as target_is_best below it. No value: "no data" (whatever the
target); a value without a target: "no target" — no colour for either.

Which target: with no filter on (or none the KPI's view can honour) the company-wide
`targets`; with filters on, the KPI's `slice_targets` item whose filters are exactly those
applied, else none — the status then says "no target for this slice" rather than judging a
slice against the company's level. Targets are stated in the reporting currency: a money
KPI shown in another currency has its target converted at the period's mean rate (the
mean of the rates dated in the period, see kpi.store.queries.fx), as its values are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from kpi.core import periods
from kpi.core.scope import Scope
from kpi.semantic.engine import compute
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.queries.bookkeeping import date_bounds
from kpi.store.queries.fx import PERIOD_FACTOR

STATUS_ORDER = {"red": 0, "amber": 1, "green": 2, "none": 3, "no_slice_target": 4, "no_data": 5}
NO_SLICE_TARGET = "no_slice_target"
NO_DATA = "no_data"


def is_ceiling(unit: str, direction: str, target: float) -> bool:
    """A percent KPI best at exactly 100 % measures the use of a whole (a budget): 100 % is
    a ceiling, so above it is over budget, not "near" a target."""
    return unit == "percent" and direction == "target_is_best" and target == 1.0


def rag_status(
    value: float | None,
    target: float | None,
    direction: str,
    tol: float,
    unit: str = "ratio",
    basis: str = "company",
) -> str:
    """'green', 'amber' or 'red'; 'no_data' without a value (whatever the target),
    'no_slice_target' when filters are on and no target is set for that slice, 'none'
    when there is a value but no target."""
    if value is None:
        return NO_DATA
    if basis == NO_SLICE_TARGET:
        return NO_SLICE_TARGET
    if target is None:
        return "none"
    if is_ceiling(unit, direction, target) and value > target:
        return "red"
    band = abs(target) * tol if target else tol
    if direction == "higher_is_better":
        gap = target - value
    elif direction == "lower_is_better":
        gap = value - target
    else:
        gap = abs(value - target) - band
    return "green" if gap <= 0 else "amber" if gap <= band else "red"


def target_for(
    kpi: KpiDefinition, period: str, applied: dict[str, list[str]]
) -> tuple[float | None, str]:
    """The target judging `kpi` in `period` with the filters `applied` (those its view
    honours), and where it comes from: 'company', 'slice' or 'no_slice_target'."""
    if not any(applied.values()):
        target = kpi.targets.get(period)
        return (None if target is None else float(target)), "company"
    for item in kpi.slice_targets:
        if item.matches(applied):
            target = item.targets.get(period)
            return (None if target is None else float(target)), "slice"
    return None, NO_SLICE_TARGET


def target_factor(store: Store, period: str, currency: str | None) -> float:
    """Display-currency units per reporting-currency unit for a target of `period` (1 when
    the display currency is the reporting one, or no rate is known)."""
    base = store.settings.reporting_currency
    if not currency or currency.upper() == base:
        return 1.0
    start, end = periods.period_range(period, store.settings.fiscal)
    with store.read(display_currency=currency) as con:
        row = con.execute(PERIOD_FACTOR, {"currency": base, "start": start, "end": end}).fetchone()
    return 1.0 if row is None or row[0] is None else float(row[0])


@dataclass(frozen=True)
class DataWindow:
    first: date
    last: date


def data_window(store: Store) -> DataWindow | None:
    """First and last invoice date in the store (None when there is no spend yet)."""
    with store.read() as con:
        lo, hi = con.execute(date_bounds("invoices", "invoice_date")).fetchall()[0]
    if lo is None:
        return None
    return DataWindow(lo, hi)


def latest_complete_period(window: DataWindow, grain: str, store: Store) -> str:
    """The last period the data covers to (nearly) its end: a week's lag is tolerated."""
    cal = store.settings.fiscal
    current = periods.label(window.last, grain, cal)
    _, end = periods.period_range(current, cal)
    if window.last + timedelta(days=7) >= end:
        return current
    return periods.previous(current, cal)


def scorecard(
    store: Store,
    scope: Scope,
    definitions: Sequence[KpiDefinition],
    period: str,
    history: int = 8,
) -> pl.DataFrame:
    """One row per KPI for `period`, with the previous period and `history` periods of trend.

    The scope's filters and currency apply (its period range does not: `period` sets it).
    A filter a KPI's data cannot honour is reported in its `filters_ignored` column.
    """
    cal = store.settings.fiscal
    grain = periods.grain_of(period)
    first = period
    for _ in range(history - 1):
        first = periods.previous(first, cal)
    start = periods.period_range(first, cal)[0]
    end = periods.period_range(period, cal)[1]
    result = compute(store, definitions, grain, (), start, end, scope.as_dict(), scope.currency)
    values = {(r["kpi"], r["period"]): r["value"] for r in result.frame.iter_rows(named=True)}
    labels = periods.periods_between(start, end, grain, cal)
    prev = periods.previous(period, cal)
    tol = store.settings.amber_tolerance
    filters = scope.as_dict()
    factor: float | None = None
    rows = []
    for k in definitions:
        value = values.get((k.id, period))
        before = values.get((k.id, prev))
        ignored = result.unfiltered.get(k.id, [])
        applied = {f: v for f, v in filters.items() if f not in ignored}
        target, basis = target_for(k, period, applied)
        if target is not None and k.unit == "currency":
            if factor is None:
                factor = target_factor(store, period, scope.currency)
            target = target * factor
        status = rag_status(value, target, k.direction, tol, k.unit, basis)
        rows.append(
            {
                "id": k.id,
                "name": k.name,
                "theme": k.theme,
                "owner": k.owner,
                "unit": k.unit,
                "direction": k.direction,
                "definition_status": k.status,
                "period": period,
                "value": value,
                "previous": before,
                "delta": None if value is None or before is None else value - before,
                "target": target,
                "status": status,
                "trend": [values.get((k.id, p)) for p in labels],
                "filters_ignored": ", ".join(ignored),
                "target_basis": basis,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "id": pl.String,
            "name": pl.String,
            "theme": pl.String,
            "owner": pl.String,
            "unit": pl.String,
            "direction": pl.String,
            "definition_status": pl.String,
            "period": pl.String,
            "value": pl.Float64,
            "previous": pl.Float64,
            "delta": pl.Float64,
            "target": pl.Float64,
            "status": pl.String,
            "trend": pl.List(pl.Float64),
            "filters_ignored": pl.String,
            "target_basis": pl.String,
        },
    )


THEMES = {
    "spend": "Spend and budgets",
    "compliance": "Compliance",
    "savings": "Savings and cost avoidance",
    "payments": "Payments",
    "inventory": "Inventory",
    "suppliers": "Suppliers",
}
