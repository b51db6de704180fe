"""The goals meeting's facts per KPI: the quarters, each KPI's history and its forecast.

Reads only. The quarter to plan is the one after the last complete quarter of data; its
history is the quarters the data reaches before it, and its forecast rests on complete
quarters only (kpi.analyses.forecast), never on a running one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from kpi.analyses.forecast import forecast_next
from kpi.analyses.scorecard import DataWindow, data_window, latest_complete_period
from kpi.core import periods
from kpi.core.formatting import format_delta, format_value
from kpi.core.scope import FilterValues
from kpi.semantic.definitions import KpiDefinition
from kpi.semantic.engine import compute
from kpi.store.database import Store

_LAG = timedelta(days=7)  # as kpi.analyses.scorecard: a week's lag still counts as covered


class GoalError(ValueError):
    """A proposal, decision or outlook refused by a rule; `field` names the field at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# ---------------------------------------------------------------------------------------
# Quarters
# ---------------------------------------------------------------------------------------


def next_quarter(quarter: str, store: Store) -> str:
    """The quarter after `quarter`: FY2026-Q4 → FY2027-Q1."""
    _, end = periods.period_range(check_quarter(quarter), store.settings.fiscal)
    return periods.label(end + timedelta(days=1), "quarter", store.settings.fiscal)


def quarters_before(quarter: str, n: int, store: Store) -> list[str]:
    """The `n` quarters before `quarter`, oldest first."""
    out: list[str] = []
    current = check_quarter(quarter)
    for _ in range(n):
        current = periods.previous(current, store.settings.fiscal)
        out.append(current)
    return out[::-1]


def default_quarter_to_plan(store: Store) -> str | None:
    """The quarter after the last complete one in the store (None when there is no spend)."""
    window = data_window(store)
    if window is None:
        return None
    return next_quarter(latest_complete_period(window, "quarter", store), store)


def scorecard_quarter(store: Store, quarter_to_plan: str) -> str | None:
    """The last complete quarter before the planned one (None: the data has none yet)."""
    plan = check_quarter(quarter_to_plan)
    window = data_window(store)
    if window is None:
        return None
    last = last_complete_before(plan, window, store)
    first = periods.label(window.first, "quarter", store.settings.fiscal)
    return last if quarter_start(last, store) >= quarter_start(first, store) else None


def check_quarter(quarter: str) -> str:
    """A fiscal quarter label (FY2026-Q3), or GoalError saying what to write."""
    text = str(quarter or "").strip()
    try:
        if periods.grain_of(text) == "quarter":
            return text
    except periods.PeriodError:
        pass
    raise GoalError(f"'{text}' is not a fiscal quarter: write it as FY2026-Q3", "quarter")


def quarter_start(quarter: str, store: Store) -> date:
    return periods.period_range(quarter, store.settings.fiscal)[0]


def quarter_end(quarter: str, store: Store) -> date:
    return periods.period_range(quarter, store.settings.fiscal)[1]


def last_complete_before(plan: str, window: DataWindow, store: Store) -> str:
    """The last complete quarter of data that is before the planned quarter."""
    latest = latest_complete_period(window, "quarter", store)
    before = periods.previous(plan, store.settings.fiscal)
    return latest if quarter_start(latest, store) < quarter_start(before, store) else before


def covered(quarter: str, window: DataWindow, store: Store) -> bool:
    """The data reaches from (about) the first to (about) the last day of `quarter`."""
    start, end = periods.period_range(quarter, store.settings.fiscal)
    return window.first <= start + _LAG and window.last + _LAG >= end


# ---------------------------------------------------------------------------------------
# History and forecasts
# ---------------------------------------------------------------------------------------

HISTORY_SCHEMA = {
    "kpi": pl.String,
    "name": pl.String,
    "unit": pl.String,
    "direction": pl.String,
    "period": pl.String,
    "value": pl.Float64,
    "target": pl.Float64,
    "complete": pl.Boolean,
}


def quarter_history(
    store: Store,
    definitions: Sequence[KpiDefinition],
    quarter_to_plan: str,
    quarters: int = 8,
    filters: FilterValues | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Per KPI, its values and targets in the `quarters` quarters before the planned one.

    Only quarters the data reaches are listed (as many as the data allows). One row per KPI
    and quarter, in definition order then oldest first. Columns: kpi, name, unit, direction,
    period, value (None: no value), target (from kpis.yaml; None: none set), complete (False
    for a quarter the data covers only in part, such as the running one).
    """
    plan = check_quarter(quarter_to_plan)
    window = data_window(store)
    if window is None or not definitions or quarters < 1:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    cal = store.settings.fiscal
    first_q = periods.label(window.first, "quarter", cal)
    last_q = periods.label(window.last, "quarter", cal)
    labels = [
        p
        for p in quarters_before(plan, quarters, store)
        if quarter_start(first_q, store) <= quarter_start(p, store) <= quarter_start(last_q, store)
    ]
    if not labels:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    values = _quarter_values(store, definitions, labels, filters, currency)
    latest = quarter_start(latest_complete_period(window, "quarter", store), store)
    complete = [p for p in labels if quarter_start(p, store) <= latest]
    grid = kpi_frame(definitions).join(
        pl.DataFrame({"period": labels}, schema={"period": pl.String}), how="cross"
    )
    return (
        grid.join(values, on=["kpi", "period"], how="left")
        .join(_targets_frame(definitions), on=["kpi", "period"], how="left")
        .with_columns(pl.col("period").is_in(complete).alias("complete"))
        .sort(["_order", "period"])
        .select(list(HISTORY_SCHEMA))
        .cast(HISTORY_SCHEMA)  # type: ignore[arg-type]
    )


FORECAST_SCHEMA = {
    "kpi": pl.String,
    "name": pl.String,
    "unit": pl.String,
    "quarter": pl.String,
    "based_on": pl.String,
    "forecast": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "method": pl.String,
    "method_text": pl.String,
    "target": pl.Float64,
}


def kpi_forecasts(
    store: Store,
    definitions: Sequence[KpiDefinition],
    quarter_to_plan: str,
    filters: FilterValues | None = None,
    currency: str | None = None,
    method: str = "auto",
    lookback: int = 12,
) -> pl.DataFrame:
    """Per KPI, a forecast for the planned quarter (kpi.analyses.forecast) with its method in words.

    The forecast rests on the `lookback` complete quarters up to the last complete one
    before the planned quarter (`based_on`); a running quarter is never used, the forecast
    then looks further ahead. Columns: kpi, name, unit, quarter, based_on, forecast, low,
    high, method (seasonal_growth, seasonal_change, trend, last or none), method_text (a
    sentence that names the planned quarter, the method and the range), target (the one in
    kpis.yaml for the planned quarter, if any).
    """
    plan = check_quarter(quarter_to_plan)
    window = data_window(store)
    cal = store.settings.fiscal
    display = (currency or store.settings.reporting_currency).upper()
    if window is None or quarter_start(plan, store) <= window.first:
        rows = [
            _no_forecast(k, plan, "There is no complete quarter of data before it.")
            for k in definitions
        ]
        return pl.DataFrame(rows, schema=FORECAST_SCHEMA, orient="row")
    last = last_complete_before(plan, window, store)
    labels = [*quarters_before(last, max(lookback, 1) - 1, store), last]
    values = _quarter_values(store, definitions, labels, filters, currency)
    by_kpi = {
        kpi: dict(zip(f["period"], f["value"], strict=True))
        for (kpi,), f in values.partition_by("kpi", as_dict=True).items()
    }
    steps = (
        len(
            periods.periods_between(
                quarter_start(last, store), quarter_start(plan, store), "quarter", cal
            )
        )
        - 1
    )
    rows = []
    for k in definitions:
        series = by_kpi.get(k.id, {})
        result = forecast_next(
            [(p, series.get(p)) for p in labels],
            method,
            steps=steps,
            fmt=lambda v, u=k.unit: format_value(v, u, display),
            fmt_change=lambda v, u=k.unit: format_delta(v, u, display),
            unit=k.unit,
        )
        target = k.targets.get(plan)
        rows.append(
            (
                k.id,
                k.name,
                k.unit,
                plan,
                last,
                result.value,
                result.low,
                result.high,
                result.method,
                _headline(plan, result.value, k.unit, display) + result.method_text,
                None if target is None else float(target),
            )
        )
    return pl.DataFrame(rows, schema=FORECAST_SCHEMA, orient="row")


def _headline(plan: str, value: float | None, unit: str, currency: str) -> str:
    if value is None:
        return f"{plan}: no forecast. "
    return f"{plan} forecast {format_value(value, unit, currency)}. "


def _no_forecast(k: KpiDefinition, plan: str, why: str) -> tuple:
    target = k.targets.get(plan)
    text = f"{plan}: no forecast. {why}"
    target_value = None if target is None else float(target)
    return (k.id, k.name, k.unit, plan, None, None, None, None, "none", text, target_value)


def _quarter_values(
    store: Store,
    definitions: Sequence[KpiDefinition],
    labels: list[str],
    filters: FilterValues | None,
    currency: str | None,
) -> pl.DataFrame:
    """kpi, period, value for the quarters `labels` (consecutive, oldest first)."""
    result = compute(
        store,
        definitions,
        "quarter",
        (),
        quarter_start(labels[0], store),
        quarter_end(labels[-1], store),
        {k: list(v) for k, v in (filters or {}).items()},
        currency,
    )
    return result.frame.select("kpi", "period", "value")


def kpi_frame(definitions: Sequence[KpiDefinition]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "kpi": [k.id for k in definitions],
            "name": [k.name for k in definitions],
            "unit": [k.unit for k in definitions],
            "direction": [k.direction for k in definitions],
            "_order": list(range(len(definitions))),
        }
    )


def _targets_frame(definitions: Sequence[KpiDefinition]) -> pl.DataFrame:
    pairs = [(k.id, p, float(t)) for k in definitions for p, t in k.targets.items()]
    return pl.DataFrame(
        pairs, schema={"kpi": pl.String, "period": pl.String, "target": pl.Float64}, orient="row"
    )
