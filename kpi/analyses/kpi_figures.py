"""Figures a KPI defines, on a page: computed through that KPI by the engine, never beside it.

A page that shows on-time delivery per supplier, days to pay, approval time or maverick spend
per cost centre asks the engine for the KPI split by the page's dimension over the page's
scope (period range, filters, currency); so when the signed formula changes, every page
that shows the figure follows. Each page names its figures in a mapping
{page column: KPI id}, which tests/unit/test_one_definition.py reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import polars as pl

from kpi.core import periods
from kpi.core.scope import Scope
from kpi.core.settings import FiscalCalendar
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import WHOLE_RANGE, compute, select_definitions
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store

MONEY = pl.Decimal(18, 2)


def definitions_or_file(
    store: Store, definitions: Sequence[KpiDefinition] | None
) -> Sequence[KpiDefinition]:
    """The definitions given (the app's, possibly just saved), else the configured file's."""
    return load_definitions(None, store.settings) if definitions is None else definitions


def kpi_columns(
    store: Store,
    scope: Scope,
    columns: Mapping[str, str],
    by: str | None = None,
    definitions: Sequence[KpiDefinition] | None = None,
    grain: str = WHOLE_RANGE,
    money: Sequence[str] = (),
) -> pl.DataFrame:
    """One row per value of `by` (and per month at grain 'month'), one column per page
    column of `columns` ({page column: KPI id}), each the KPI by the engine over the scope.

    With grain 'month' the month is the column `month` (YYYY-MM, the KPI's own period
    column); with the whole range, a single row when `by` is None. A filter a KPI's view
    cannot honour is left out by the engine, as on the KPI pages. Columns in `money` come
    back as exact DECIMAL to the cent (the engine returns doubles).
    """
    monthly = grain == "month"
    if grain == WHOLE_RANGE:
        grain = one_period_grain(scope, store.settings.fiscal) or WHOLE_RANGE
    known = definitions_or_file(store, definitions)
    ids = {k.id for k in known}
    # a KPI missing from the definitions (a broken or edited kpis.yaml) has no formula to
    # compute the figure by: its column stays empty (pages say so, see `undefined`)
    # and so has one whose dimensions lack the page's split (the engine skips it)
    wanted = [i for i in dict.fromkeys(columns.values()) if i in ids]
    dims = [by] if by else []
    keys = (["month"] if monthly else []) + dims
    index = keys or ["period"]
    frame = pl.DataFrame(
        schema={"kpi": pl.String, "value": pl.Float64, **dict.fromkeys(index, pl.String)}
    )
    if wanted:
        defs = select_definitions(known, wanted)
        result = compute(
            store, defs, grain, dims, scope.start, scope.end, scope.as_dict(), scope.currency
        )
        frame = result.frame.rename({"period": "month"}) if monthly else result.frame
    parts = [
        frame.filter(pl.col("kpi") == kpi_id).select(*index, pl.col("value").alias(column))
        for column, kpi_id in columns.items()
    ]
    wide = pl.DataFrame(schema={k: pl.String for k in index})
    for part in parts:
        wide = wide.join(part, on=index, how="full", coalesce=True)
    wide = wide.sort(index) if keys else wide.drop("period")
    wide = wide.with_columns(pl.lit(None, pl.Float64).alias(c) for c in columns if c not in wide)
    return wide.with_columns(cents(pl.col(c)).alias(c) for c in money if c in wide.columns)


def one_period_grain(scope: Scope, cal: FiscalCalendar) -> str | None:
    """The grain at which the scope's range is exactly one fiscal period (year, quarter or
    month), else None. A KPI that ranks or shares within its reported period (concentration)
    then reports that period, as the scorecard does; a longer range is one `range` period."""
    if scope.start is None or scope.end is None:
        return None
    for grain in ("year", "quarter", "month"):
        labels = periods.periods_between(scope.start, scope.end, grain, cal)
        if len(labels) == 1 and periods.period_range(labels[0], cal) == (scope.start, scope.end):
            return grain
    return None


def undefined(
    definitions: Sequence[KpiDefinition], columns: Mapping[str, str], by: str | None = None
) -> list[str]:
    """The KPI ids of `columns` that the definitions lack, or that cannot be split by the
    dimension `by` (None or 'month': no dimension needed): their figures stay empty."""
    known = {k.id: k for k in definitions}
    need = by not in (None, "month")
    return sorted(
        {i for i in columns.values() if i not in known or (need and by not in known[i].dimensions)}
    )


def cents(value: pl.Expr) -> pl.Expr:
    """A KPI's money value (a double from the engine) as exact DECIMAL(18,2): rounded to the
    cent and read from its text, so 0.1 + 0.2 comes back as 0.30, not 0.299..."""
    return value.round(2).cast(pl.String).cast(MONEY)


def scalar(frame: pl.DataFrame, column: str) -> float | Decimal | None:
    """The one value of a whole-range, unsplit kpi_columns frame (None: no data)."""
    return frame[column][0] if frame.height else None
