"""The quarterly goal-setting meeting: history, forecasts, the spend outlook, proposals, decisions.

Finance and procurement meet once a quarter to agree the next quarter's targets. This
module gives the meeting its facts and keeps its record; the rules hold whatever the page
shows or hides:

- procurement members and the CFO set procurement's price outlook (`price_outlook`); each
  change is audited in `outlook_changes` (who, when, old, new) in the same write;
- a finance member or the CFO proposes finance's target, a procurement member
  procurement's; viewers propose nothing. Every proposal is kept (`target_proposals`); the
  latest of each department is the one on the table;
- an agreed target needs a finance signer (member or CFO) and a procurement signer
  (member): it is written into the KPI's `targets` in config/kpis.yaml by
  kpi.workflows.kpi_editing.set_agreed_target and recorded in `goal_decisions` in the same store
  write, so a refused save (someone saved the file in between) records nothing.

Values are in the KPI's own unit as kpis.yaml holds it: a percent KPI's target is a share
(0.72 for 72 %), a currency KPI's an amount in the reporting currency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from kpi.analyses.forecast import forecast_next
from kpi.analyses.scorecard import DataWindow, data_window, latest_complete_period
from kpi.core import periods
from kpi.core.formatting import format_delta, format_value
from kpi.core.people import PermissionDenied, Person
from kpi.semantic.engine import compute
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.queries import bridge as sql_savings
from kpi.store.queries import goals as q
from kpi.store.query import fetch_frame

Filters = Mapping[str, Sequence[str]]

OUTLOOK_FILTERS = ("category", "cost_centre")
DEPARTMENTS = ("finance", "procurement")
OUTLOOK_EDITORS = "procurement members and the CFO"
_KPI_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_LAG = timedelta(days=7)  # as kpi.analyses.scorecard: a week's lag still counts as covered
NO_CATEGORY = "(no category)"
TOTAL = "Total"


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
    last = _last_complete_before(plan, window, store)
    first = periods.label(window.first, "quarter", store.settings.fiscal)
    return last if _start(last, store) >= _start(first, store) else None


def check_quarter(quarter: str) -> str:
    """A fiscal quarter label (FY2026-Q3), or GoalError saying what to write."""
    text = str(quarter or "").strip()
    try:
        if periods.grain_of(text) == "quarter":
            return text
    except periods.PeriodError:
        pass
    raise GoalError(f"'{text}' is not a fiscal quarter: write it as FY2026-Q3", "quarter")


def _start(quarter: str, store: Store) -> date:
    return periods.period_range(quarter, store.settings.fiscal)[0]


def _end(quarter: str, store: Store) -> date:
    return periods.period_range(quarter, store.settings.fiscal)[1]


def _last_complete_before(plan: str, window: DataWindow, store: Store) -> str:
    """The last complete quarter of data that is before the planned quarter."""
    latest = latest_complete_period(window, "quarter", store)
    before = periods.previous(plan, store.settings.fiscal)
    return latest if _start(latest, store) < _start(before, store) else before


def _covered(quarter: str, window: DataWindow, store: Store) -> bool:
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
    filters: Filters | None = None,
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
        if _start(first_q, store) <= _start(p, store) <= _start(last_q, store)
    ]
    if not labels:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    values = _quarter_values(store, definitions, labels, filters, currency)
    latest = _start(latest_complete_period(window, "quarter", store), store)
    complete = [p for p in labels if _start(p, store) <= latest]
    grid = _kpi_frame(definitions).join(
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
    filters: Filters | None = None,
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
    if window is None or _start(plan, store) <= window.first:
        rows = [
            _no_forecast(k, plan, "There is no complete quarter of data before it.")
            for k in definitions
        ]
        return pl.DataFrame(rows, schema=FORECAST_SCHEMA, orient="row")
    last = _last_complete_before(plan, window, store)
    labels = [*quarters_before(last, max(lookback, 1) - 1, store), last]
    values = _quarter_values(store, definitions, labels, filters, currency)
    by_kpi = {
        kpi: dict(zip(f["period"], f["value"], strict=True))
        for (kpi,), f in values.partition_by("kpi", as_dict=True).items()
    }
    steps = (
        len(periods.periods_between(_start(last, store), _start(plan, store), "quarter", cal)) - 1
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
    filters: Filters | None,
    currency: str | None,
) -> pl.DataFrame:
    """kpi, period, value for the quarters `labels` (consecutive, oldest first)."""
    result = compute(
        store,
        definitions,
        "quarter",
        (),
        _start(labels[0], store),
        _end(labels[-1], store),
        {k: list(v) for k, v in (filters or {}).items()},
        currency,
    )
    return result.frame.select("kpi", "period", "value")


def _kpi_frame(definitions: Sequence[KpiDefinition]) -> pl.DataFrame:
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


# ---------------------------------------------------------------------------------------
# Spend outlook
# ---------------------------------------------------------------------------------------

SPEND_OUTLOOK_EXPLAINED = """\
**Spend outlook for the planned quarter**, per category and in total:

    spend forecast = base × (1 + volume trend) × (1 + expected price change / 100)

- **Base**: invoiced spend of the same quarter a year earlier (FY2026-Q3 for FY2027-Q3),
  in the reporting currency: it carries the quarter's season.
- **Volume trend**: how much more (or less) the category bought over the last four complete
  quarters than over the four before them, *at the earlier year's prices*: the spend
  change less the price effect of the savings bridge, as a share of the earlier year's
  spend, i.e. (current − base − price effect) / base of the bridge between those two
  years (volume, mix, new and lost items together). So prices are not counted twice.
- **Expected price change**: procurement's price outlook for the planned quarter and the
  category (`price_outlook`, in percent points: 3.5 means prices 3.5 % above the same
  quarter a year earlier), with procurement's note.
- **Total**: the sums of base and forecast; its volume trend and price change are the
  weighted ones the category rows imply, so the formula holds on the total row too.

A category without an outlook counts a price change of 0, one without two years of data a
volume trend of 0, and both cells stay empty so the gap shows. When the store does not
hold the whole quarter a year earlier, there is no base and no forecast.
"""

OUTLOOK_SCHEMA = {
    "category": pl.String,
    "is_total": pl.Boolean,
    "base_quarter": pl.String,
    "base_spend": pl.Decimal(38, 2),
    "volume_trend": pl.Float64,
    "expected_change_pct": pl.Float64,
    "price_note": pl.String,
    "spend_forecast": pl.Decimal(38, 2),
}


def spend_outlook(
    store: Store,
    quarter_to_plan: str,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Per category, the spend forecast for the planned quarter (SPEND_OUTLOOK_EXPLAINED).

    `filters` may hold category and cost_centre. Columns: category ('(no category)' for
    lines without one), is_total (the last row, category 'Total'), base_quarter, base_spend
    (Decimal), volume_trend (a share: 0.05 = 5 % more bought), expected_change_pct (percent
    points), price_note (procurement's note), spend_forecast (Decimal, to the cent).
    """
    plan = check_quarter(quarter_to_plan)
    params = _filter_params(filters)
    cal = store.settings.fiscal
    base_q = periods.label(
        date(_start(plan, store).year - 1, _start(plan, store).month, 1), "quarter", cal
    )
    window = data_window(store)
    with store.read(display_currency=currency) as con:
        outlook = fetch_frame(
            con, q.OUTLOOK_FOR_QUARTER, {"quarter": plan, "category": params["category"]}
        )
        base = trend = None
        if window is not None and _covered(base_q, window, store):
            base = fetch_frame(
                con,
                q.SPEND_BY_CATEGORY,
                {**params, "start": _start(base_q, store), "end": _end(base_q, store)},
            )
        if window is not None:
            trend = _volume_trend(con, plan, window, store, params)
    frame = _outlook_rows(plan, base_q, outlook, base, trend)
    return pl.concat([frame, _outlook_total(frame, base_q)]).cast(OUTLOOK_SCHEMA)  # type: ignore[arg-type]


def _volume_trend(
    con: duckdb.DuckDBPyConnection,
    plan: str,
    window: DataWindow,
    store: Store,
    params: dict[str, Any],
) -> pl.DataFrame | None:
    """category, volume_trend over the last two complete years before `plan` (None: no data)."""
    last = _last_complete_before(plan, window, store)
    year = [*quarters_before(last, 7, store), last]
    if not (_covered(year[0], window, store) and _covered(last, window, store)):
        return None
    filters = {k: v for k, v in params.items() if v}
    query, bridge_params = sql_savings.bridge_query(
        (_start(year[0], store), _end(year[3], store)),
        (_start(year[4], store), _end(last, store)),
        "category",
        filters,
    )
    bridge = fetch_frame(con, query, bridge_params)
    if bridge.is_empty():
        return pl.DataFrame(schema={"category": pl.String, "volume_trend": pl.Float64})
    base, price, current = (pl.col(c).cast(pl.Float64) for c in ("base", "price", "current"))
    return bridge.select(
        pl.col("category").fill_null(NO_CATEGORY),
        pl.when(base > 0).then((current - base - price) / base).alias("volume_trend"),
    )


def _outlook_rows(
    plan: str,
    base_q: str,
    outlook: pl.DataFrame,
    base: pl.DataFrame | None,
    trend: pl.DataFrame | None,
) -> pl.DataFrame:
    outlook = outlook.select(
        "category", "expected_change_pct", pl.col("note").alias("price_note")
    ).cast({"category": pl.String, "expected_change_pct": pl.Float64, "price_note": pl.String})
    base_f = (base if base is not None else pl.DataFrame(schema={"category": pl.String})).rename(
        {"spend": "base_spend"}, strict=False
    )
    if "base_spend" not in base_f.columns:
        base_f = base_f.with_columns(pl.lit(None, pl.Decimal(38, 2)).alias("base_spend"))
    trend_f = (
        trend
        if trend is not None
        else pl.DataFrame(schema={"category": pl.String, "volume_trend": pl.Float64})
    )
    frame = (
        base_f.cast({"category": pl.String, "base_spend": pl.Decimal(38, 2)})
        .join(trend_f, on="category", how="full", coalesce=True)
        .join(outlook, on="category", how="full", coalesce=True)
    )
    if base is not None:  # the quarter is covered: a category bought nothing in it
        frame = frame.with_columns(pl.col("base_spend").fill_null(Decimal("0.00")))
    factor = (1 + pl.col("volume_trend").fill_null(0.0)) * (
        1 + pl.col("expected_change_pct").fill_null(0.0) / 100
    )
    return frame.select(
        pl.col("category"),
        pl.lit(False).alias("is_total"),
        pl.lit(base_q).alias("base_quarter"),
        pl.col("base_spend"),
        pl.col("volume_trend"),
        pl.col("expected_change_pct"),
        pl.col("price_note"),
        (pl.col("base_spend").cast(pl.Float64) * factor)
        .round(2)
        .cast(pl.Decimal(38, 2))
        .alias("spend_forecast"),
    ).sort("category")


def _outlook_total(rows: pl.DataFrame, base_q: str) -> pl.DataFrame:
    """The total row: sums, and the weighted volume trend and price change the rows imply."""
    base = pl.col("base_spend").cast(pl.Float64)
    at_volume = base * (1 + pl.col("volume_trend").fill_null(0.0))
    has_base = rows["base_spend"].null_count() < len(rows)
    return rows.select(
        pl.lit(TOTAL).alias("category"),
        pl.lit(True).alias("is_total"),
        pl.lit(base_q).alias("base_quarter"),
        (pl.col("base_spend").sum() if has_base else pl.lit(None, pl.Decimal(38, 2))).alias(
            "base_spend"
        ),
        pl.when(base.sum() > 0).then(at_volume.sum() / base.sum() - 1).alias("volume_trend"),
        pl.when(at_volume.sum() > 0)
        .then((pl.col("spend_forecast").cast(pl.Float64).sum() / at_volume.sum() - 1) * 100)
        .alias("expected_change_pct"),
        pl.lit(None, pl.String).alias("price_note"),
        (pl.col("spend_forecast").sum() if has_base else pl.lit(None, pl.Decimal(38, 2))).alias(
            "spend_forecast"
        ),
    )


def _filter_params(filters: Filters | None) -> dict[str, list[str] | None]:
    filters = {k: v for k, v in (filters or {}).items() if v}
    unknown = sorted(set(filters) - set(OUTLOOK_FILTERS))
    if unknown:
        raise GoalError(
            f"the spend outlook cannot be filtered on {', '.join(unknown)}; "
            f"it can on {', '.join(OUTLOOK_FILTERS)}"
        )
    out: dict[str, list[str] | None] = {}
    for key in OUTLOOK_FILTERS:
        value = filters.get(key)
        values = [value] if isinstance(value, str) else list(value or [])
        out[key] = [str(v) for v in values] or None
    return out


# ---------------------------------------------------------------------------------------
# Price outlook editing
# ---------------------------------------------------------------------------------------


def can_edit_outlook(person: Person | None) -> bool:
    """Procurement members and the CFO set the price outlook."""
    return person is not None and (
        person.role == "cfo" or (person.department == "procurement" and person.role == "member")
    )


def set_price_outlook(
    store: Store,
    person: Person | None,
    quarter: str,
    category: str,
    expected_change_pct: float | Decimal | str,
    note: str | None = None,
) -> dict[str, Any]:
    """Set procurement's expected price change for a quarter and category, with an audit row.

    `expected_change_pct` is in percent points (3.5 = prices 3.5 % up). The row replaces
    the quarter's row for the category, or is added; the audit row (who, when, old, new)
    lands in the same write. Returns the audit row. PermissionDenied unless the person is
    a procurement member or the CFO; GoalError for a value the store cannot keep.
    """
    if not can_edit_outlook(person):
        who = person.label if person else "Nobody signed in"
        raise PermissionDenied(f"{who} may not change the price outlook: {OUTLOOK_EDITORS} set it.")
    assert person is not None
    quarter = check_quarter(quarter)
    category = _text(category, "category", 100, required="name the category")
    pct = _pct(expected_change_pct)
    note = _text(note, "note", 500)
    now = _now()
    with store.write() as con:
        found = con.execute(q.GET_OUTLOOK, {"quarter": quarter, "category": category}).fetchall()
        old = found[0] if found else None
        params = {"quarter": quarter, "category": category}
        con.execute(q.DELETE_OUTLOOK, params)
        con.execute(q.INSERT_OUTLOOK, {**params, "expected_change_pct": pct, "note": note})
        change_id = _one(con, q.NEXT_OUTLOOK_CHANGE)
        audit = {
            **params,
            "change_id": change_id,
            "changed_at": now,
            "changed_by": person.email,
            "changed_by_name": person.name,
            "old_change_pct": old[0] if old else None,
            "new_change_pct": pct,
            "old_note": old[1] if old else None,
            "new_note": note,
        }
        con.execute(q.INSERT_OUTLOOK_CHANGE, audit)
    return audit


OUTLOOK_CHANGES_SCHEMA = {
    "changed_at": pl.Datetime("us"),
    "quarter": pl.String,
    "category": pl.String,
    "changed_by": pl.String,
    "changed_by_name": pl.String,
    "old_change_pct": pl.Float64,
    "new_change_pct": pl.Float64,
    "old_note": pl.String,
    "new_note": pl.String,
}


def outlook_changes(store: Store, quarter: str | None = None) -> pl.DataFrame:
    """The price outlook's audit log, newest first (one quarter, or all).

    Columns: changed_at (UTC), quarter, category, changed_by, changed_by_name,
    old_change_pct, new_change_pct, old_note, new_note.
    """
    params = {"quarter": None if quarter is None else check_quarter(quarter)}
    return _read_log(store, "outlook_changes", q.OUTLOOK_CHANGES, params, OUTLOOK_CHANGES_SCHEMA)


# ---------------------------------------------------------------------------------------
# Proposals
# ---------------------------------------------------------------------------------------


def proposing_department(person: Person | None) -> str:
    """Whose target the person proposes: finance (members, the CFO) or procurement (members)."""
    if person is not None and person.role == "cfo":
        return "finance"
    if person is not None and person.role == "member" and person.department in DEPARTMENTS:
        return person.department
    who = person.label if person else "Nobody signed in"
    raise PermissionDenied(
        f"{who} may not propose a target: finance members and the CFO propose finance's, "
        "procurement members procurement's."
    )


def propose_target(
    store: Store,
    person: Person | None,
    quarter: str,
    kpi_id: str,
    value: float,
    rationale: str | None = None,
    definitions: Sequence[KpiDefinition] | None = None,
) -> dict[str, Any]:
    """Record the person's department's proposed target for a KPI and quarter.

    The department comes from the person (proposing_department). Earlier proposals are kept;
    the latest of each department is the one `proposals` shows. With `definitions`, the
    KPI must be one of them. Returns the stored row.
    """
    department = proposing_department(person)
    assert person is not None
    row = {
        "quarter": check_quarter(quarter),
        "kpi_id": _kpi_id(kpi_id, definitions),
        "department": department,
        "value": _target_value(value),
        "rationale": _text(rationale, "rationale", 2000),
        "proposed_by": person.email,
        "proposer_name": person.name,
        "proposed_at": _now(),
    }
    with store.write() as con:
        row["proposal_id"] = _one(con, q.NEXT_PROPOSAL)
        con.execute(q.INSERT_PROPOSAL, row)
    return row


PROPOSALS_SCHEMA = {
    "kpi": pl.String,
    "finance_value": pl.Float64,
    "finance_rationale": pl.String,
    "finance_by": pl.String,
    "finance_name": pl.String,
    "finance_at": pl.Datetime("us"),
    "procurement_value": pl.Float64,
    "procurement_rationale": pl.String,
    "procurement_by": pl.String,
    "procurement_name": pl.String,
    "procurement_at": pl.Datetime("us"),
    "gap": pl.Float64,
    "revisions": pl.Int64,
}


def proposals(
    store: Store, quarter: str, definitions: Sequence[KpiDefinition] | None = None
) -> pl.DataFrame:
    """Finance's and procurement's latest proposed targets side by side, one row per KPI.

    Columns: kpi, finance_value, finance_rationale, finance_by (email), finance_name,
    finance_at, the same five for procurement, gap (procurement − finance), revisions (all
    proposals for the KPI and quarter). Without `definitions`, only KPIs with a proposal,
    by id; with them, every KPI in their order, plus its `name` second.
    """
    params = {"quarter": check_quarter(quarter)}
    frame = _read_log(store, "target_proposals", q.PROPOSALS_SIDE_BY_SIDE, params, PROPOSALS_SCHEMA)
    if definitions is None:
        return frame
    kpis = _kpi_frame(definitions).select("kpi", "name", "_order")
    return (
        kpis.join(frame, on="kpi", how="left")
        .with_columns(pl.col("revisions").fill_null(0))
        .sort("_order")
        .drop("_order")
    )


HISTORY_LOG_SCHEMA = {
    "proposed_at": pl.Datetime("us"),
    "quarter": pl.String,
    "kpi": pl.String,
    "department": pl.String,
    "value": pl.Float64,
    "rationale": pl.String,
    "proposed_by": pl.String,
    "proposer_name": pl.String,
}


def proposal_history(store: Store, quarter: str, kpi_id: str | None = None) -> pl.DataFrame:
    """Every proposal for the quarter (one KPI, or all), newest first.

    Columns: proposed_at (UTC), quarter, kpi, department, value, rationale, proposed_by,
    proposer_name.
    """
    params = {"quarter": check_quarter(quarter), "kpi_id": kpi_id}
    return _read_log(store, "target_proposals", q.PROPOSAL_HISTORY, params, HISTORY_LOG_SCHEMA)


# ---------------------------------------------------------------------------------------
# Agreed targets
# ---------------------------------------------------------------------------------------


def check_signer(person: Person | None, department: str) -> Person:
    """Finance signs by a finance member or the CFO, procurement by a procurement member."""
    ok = person is not None and (
        (department == "finance" and person.role == "cfo")
        or (person.role == "member" and person.department == department)
    )
    if not ok:
        who = person.label if person else "Nobody"
        whom = "a finance member or the CFO" if department == "finance" else "a procurement member"
        raise PermissionDenied(f"{who} may not sign for {department}: {whom} signs for it.")
    assert person is not None
    return person


def agree_target(
    store: Store,
    kpis_path: str | Path,
    finance_person: Person | None,
    procurement_person: Person | None,
    quarter: str,
    kpi_id: str,
    value: float,
    rationale: str,
    expected_version: Any,
) -> Any:
    """Write the agreed target into kpis.yaml with both sign-offs and log the decision.

    kpi_editing.set_agreed_target writes the target (refusing if the file changed since
    `expected_version`); the decision row goes to `goal_decisions` in the same store write,
    so when the file write is refused nothing is logged. Returns what set_agreed_target
    returns.
    """
    finance = check_signer(finance_person, "finance")
    procurement = check_signer(procurement_person, "procurement")
    quarter = check_quarter(quarter)
    kpi_id = _kpi_id(kpi_id, None)
    value = _target_value(value)
    rationale = _text(rationale, "rationale", 2000, required="say why this target was agreed")
    from kpi.workflows import (
        kpi_editing,  # written alongside; imported here so this module stands alone
    )

    path = Path(kpis_path)
    with store.write() as con:
        result = kpi_editing.set_agreed_target(
            path, finance, procurement, kpi_id, quarter, value, rationale, expected_version
        )
        version = getattr(result, "version", None) or kpi_editing.file_version(path)
        row = {
            "decision_id": _one(con, q.NEXT_DECISION),
            "quarter": quarter,
            "kpi_id": kpi_id,
            "value": value,
            "rationale": rationale,
            "finance_by": finance.email,
            "finance_name": finance.name,
            "procurement_by": procurement.email,
            "procurement_name": procurement.name,
            "decided_at": _now(),
            "kpis_version": str(version),
        }
        con.execute(q.INSERT_DECISION, row)
    return result


DECISIONS_SCHEMA = {
    "decided_at": pl.Datetime("us"),
    "quarter": pl.String,
    "kpi": pl.String,
    "value": pl.Float64,
    "rationale": pl.String,
    "finance_by": pl.String,
    "finance_name": pl.String,
    "procurement_by": pl.String,
    "procurement_name": pl.String,
    "kpis_version": pl.String,
}


def decision_log(store: Store, quarter: str | None = None) -> pl.DataFrame:
    """Agreed targets, newest first (one quarter, or all).

    Columns: decided_at (UTC), quarter, kpi, value, rationale, finance_by, finance_name,
    procurement_by, procurement_name, kpis_version (the file's version after the save).
    """
    params = {"quarter": None if quarter is None else check_quarter(quarter)}
    return _read_log(store, "goal_decisions", q.DECISIONS, params, DECISIONS_SCHEMA)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _read_log(
    store: Store, table: str, query: str, params: dict[str, Any], schema: dict[str, Any]
) -> pl.DataFrame:
    """Run a read of one of the meeting's tables; a store that predates it reads as empty."""
    with store.read() as con:
        if _one(con, q.HAS_TABLE, {"name": table}):
            return fetch_frame(con, query, params).cast(schema)
    return pl.DataFrame(schema=schema)


def _one(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> Any:
    """The single value a query returns (read to the end, as DuckDB wants)."""
    return con.execute(query, params).fetchall()[0][0]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _text(value: object, field: str, limit: int, required: str | None = None) -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        if required:
            raise GoalError(f"{required}: the {field} is empty", field)
        return None
    if len(text) > limit:
        raise GoalError(f"the {field} is {len(text)} characters long; keep it to {limit}", field)
    return text


def _pct(value: object) -> Decimal:
    try:
        pct = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise GoalError(
            f"the expected price change '{value}' is not a number (percent points: 3.5 for +3.5 %)",
            "expected_change_pct",
        ) from None
    if not pct.is_finite():
        raise GoalError("the expected price change must be a number", "expected_change_pct")
    pct = pct.normalize()
    if -pct.as_tuple().exponent > 4:  # type: ignore[operator]
        raise GoalError(
            f"the expected price change {value} has more than 4 decimals", "expected_change_pct"
        )
    if not Decimal(-100) < pct <= Decimal(1000):
        raise GoalError(
            f"an expected price change of {value} % is not plausible: give one above -100 "
            "and at most 1000 percent points",
            "expected_change_pct",
        )
    return pct


def _target_value(value: object) -> float:
    if isinstance(value, bool):
        raise GoalError("a target is a number", "value")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GoalError(f"the target '{value}' is not a number", "value") from None
    if not math.isfinite(number):
        raise GoalError("a target is a finite number", "value")
    return number


def _kpi_id(kpi_id: str, definitions: Sequence[KpiDefinition] | None) -> str:
    text = str(kpi_id or "").strip()
    if not _KPI_ID.match(text):
        raise GoalError(f"'{text}' is not a KPI id", "kpi_id")
    if definitions is not None and text not in {k.id for k in definitions}:
        raise GoalError(f"there is no KPI '{text}' in the definitions", "kpi_id")
    return text


# ---- for the page: the all-KPIs table and values as people type them -------------------------


def typed_value(value: float | None, unit: str) -> float | None:
    """A stored value as typed in the forms: a percent KPI's share as percent."""
    if value is None:
        return None
    return round(value * 100, 4) if unit == "percent" else round(value, 4)


def stored_value(value: float | None, unit: str) -> float | None:
    """A typed value as kpis.yaml keeps it: percent back to a share."""
    if value is None:
        return None
    return round(value / 100, 8) if unit == "percent" else value


def goals_overview(history, forecasts, proposed, decided) -> pl.DataFrame:
    """One row per KPI: last value, forecast and range, both proposals, target, signatures."""
    last = (
        history.filter(pl.col("complete") & pl.col("value").is_not_null())
        .group_by("kpi", maintain_order=True)
        .agg(pl.col("period").last().alias("last_quarter"), pl.col("value").last().alias("last"))
    )
    signed = decided.group_by("kpi", maintain_order=True).agg(
        pl.col("value").first().alias("agreed"),
        (pl.col("finance_name").first() + " & " + pl.col("procurement_name").first()).alias(
            "signed_by"
        ),
    )
    return (
        forecasts.select("kpi", "name", "unit", "forecast", "low", "high", "target")
        .join(last, on="kpi", how="left", maintain_order="left")
        .join(
            proposed.select("kpi", "finance_value", "procurement_value"),
            on="kpi",
            how="left",
            maintain_order="left",
        )
        .join(signed, on="kpi", how="left", maintain_order="left")
        .select(
            "kpi",
            "name",
            "unit",
            "last_quarter",
            "last",
            "forecast",
            "low",
            "high",
            "finance_value",
            "procurement_value",
            "target",
            "agreed",
            "signed_by",
        )
    )
