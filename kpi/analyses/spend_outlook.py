"""The spend outlook for the quarter to plan: base, volume trend and procurement's price outlook.

Reads only (procurement sets the price outlook in kpi.workflows.goals).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from kpi.analyses.goal_history import (
    GoalError,
    check_quarter,
    covered,
    last_complete_before,
    quarter_end,
    quarter_start,
    quarters_before,
)
from kpi.analyses.scorecard import DataWindow, data_window
from kpi.core import periods
from kpi.core.scope import FilterValues, Scope, ScopeError
from kpi.store.database import Store
from kpi.store.queries import bridge as sql_savings
from kpi.store.queries import goals as q
from kpi.store.query import fetch_frame

OUTLOOK_FILTERS = ("category", "cost_centre")
NO_CATEGORY = "(no category)"
TOTAL = "Total"


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
  change less the price and exchange-rate effects of the savings bridge, as a share of
  the earlier year's spend, i.e. (current − base − price − fx) / base of the bridge between
  those two years (volume, mix, spend without quantity, new and lost items together). So
  prices are not counted twice.
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
    filters: FilterValues | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Per category, the spend forecast for the planned quarter (SPEND_OUTLOOK_EXPLAINED).

    `filters` may hold category and cost_centre. Columns: category ('(no category)' for
    lines without one), is_total (the last row, category 'Total'), base_quarter, base_spend
    (Decimal), volume_trend (a share: 0.05 = 5 % more bought), expected_change_pct (percent
    points), price_note (procurement's note), spend_forecast (Decimal, to the cent).
    """
    plan = check_quarter(quarter_to_plan)
    try:
        params = Scope.of(filters=filters).params(OUTLOOK_FILTERS)
    except ScopeError:
        unknown = Scope.of(filters=filters).ignored(OUTLOOK_FILTERS)
        raise GoalError(
            f"the spend outlook cannot be filtered on {', '.join(unknown)}; "
            f"it can on {', '.join(OUTLOOK_FILTERS)}"
        ) from None
    cal = store.settings.fiscal
    base_q = periods.label(
        date(quarter_start(plan, store).year - 1, quarter_start(plan, store).month, 1),
        "quarter",
        cal,
    )
    window = data_window(store)
    with store.read(display_currency=currency) as con:
        outlook = fetch_frame(
            con, q.OUTLOOK_FOR_QUARTER, {"quarter": plan, "category": params["category"]}
        )
        base = trend = None
        if window is not None and covered(base_q, window, store):
            base = fetch_frame(
                con,
                q.SPEND_BY_CATEGORY,
                {
                    **params,
                    "start": quarter_start(base_q, store),
                    "end": quarter_end(base_q, store),
                },
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
    last = last_complete_before(plan, window, store)
    year = [*quarters_before(last, 7, store), last]
    if not (covered(year[0], window, store) and covered(last, window, store)):
        return None
    filters = {k: v for k, v in params.items() if v}
    query, bridge_params = sql_savings.bridge_query(
        (quarter_start(year[0], store), quarter_end(year[3], store)),
        (quarter_start(year[4], store), quarter_end(last, store)),
        "category",
        filters,
    )
    bridge = fetch_frame(con, query, bridge_params)
    if bridge.is_empty():
        return pl.DataFrame(schema={"category": pl.String, "volume_trend": pl.Float64})
    base, price, fx, current = (
        pl.col(c).cast(pl.Float64) for c in ("base", "price", "fx", "current")
    )
    return bridge.select(
        pl.col("category").fill_null(NO_CATEGORY),
        pl.when(base > 0).then((current - base - price - fx) / base).alias("volume_trend"),
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
