"""A row of KPI tiles for a page: the scorecard quarter's value, the change on the quarter
before, and the definition (with its trend) and the rows behind the value one click away.
One strip for every page, so a KPI reads the same wherever it is shown."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from kpi.core import periods
from kpi.core.formatting import format_delta, format_value
from kpi.core.scope import Scope, ignored_text
from kpi.semantic import engine
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.semantic.where_text import kpi_where
from kpi.store.database import Store
from ui.cache import DEFINITIONS, cached
from ui.context import Context
from ui.rows_behind import rows_behind_button
from ui.widgets import definition_dialog, literal


def _values(
    store: Store,
    scope: Scope,
    definitions: Sequence[KpiDefinition],
    ids: tuple[str, ...],
) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """Quarterly values of the KPIs in the scope (the trend in the dialog), and per KPI the
    filters its data cannot honour."""
    defs = engine.select_definitions(definitions, ids)
    result = engine.compute(
        store,
        defs,
        "quarter",
        start=scope.start,
        end=scope.end,
        filters=scope.as_dict(),
        currency=scope.currency,
    )
    return result.frame, dict(result.unfiltered)


# A KPI counted on the data's last day only (overdue payables): it has a value in the
# quarter holding that day and in no other.
AS_OF = "as_of_date"


def _last_value(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition], kpi_id: str
) -> tuple[str, float] | None:
    """An as-of KPI's value in the quarter holding the data's last day, whatever the
    sidebar's range: what its tile says when that quarter lies outside the range."""
    defs = engine.select_definitions(definitions, (kpi_id,))
    frame = engine.compute(
        store, defs, "quarter", filters=scope.as_dict(), currency=scope.currency
    ).frame
    frame = frame.filter(pl.col("value").is_not_null()).sort("period")
    if frame.height == 0:
        return None
    period, value = frame.select("period", "value").row(-1)
    return period, value


def as_of_note(ctx: Context, kpi: KpiDefinition) -> str | None:
    """For a KPI counted on the data's last day only, without a value in the scorecard's
    quarter: its value and the quarter holding that day, when that quarter lies outside
    the sidebar's range (a bare dash would read as "nothing overdue")."""
    if kpi.period_by != AS_OF:
        return None
    last = cached(_last_value, ctx, ctx.scope.with_period(None, None), DEFINITIONS, kpi.id)
    if last is None or last[0] == ctx.period:
        return None
    shown = format_value(last[1], kpi.unit, ctx.currency, compact=True)
    return (
        f"Counted on the data's last day only: **{shown}** in {last[0]}, outside the "
        "sidebar's range."
    )


@st.fragment
def kpi_strip(ctx: Context, ids: list[str] | tuple[str, ...], key: str) -> None:
    """One tile per KPI: value in the scorecard quarter, change, a Definition button and a
    Rows behind button (the rows of the tile's value: its quarter, the sidebar's filters).

    A fragment: a click on a tile's button redraws the strip and opens its dialog, not the
    page around it."""
    known = {k.id: k for k in ctx.definitions}
    kpis = [known[i] for i in ids if i in known]
    if not kpis or ctx.start is None or ctx.end is None or ctx.period is None:
        return
    cal = ctx.settings.fiscal
    before = periods.previous(ctx.period, cal)
    # the quarter before the scorecard's may lie left of the sidebar's range: read it too
    start = min(ctx.start, periods.period_range(before, cal)[0])
    scope = ctx.scope.with_period(start, ctx.end)
    frame, unfiltered = cached(_values, ctx, scope, DEFINITIONS, tuple(k.id for k in kpis))
    st.caption(
        f"Shared KPIs in **{ctx.period}**, the last quarter of the sidebar's range, "
        f"with the change on {before}"
    )
    ignored = sorted({f for k in kpis for f in unfiltered.get(k.id, [])})
    if ignored:
        names = ", ".join(literal(k.name) for k in kpis if unfiltered.get(k.id))
        st.caption(f"Not narrowed by the {ignored_text(ignored)} filter: {names}.")
    for col, kpi in zip(_tiles(len(kpis)), kpis, strict=True):
        mine = frame.filter(pl.col("kpi") == kpi.id)
        value = _at(mine, ctx.period)
        previous = _at(mine, before)
        delta = None if value is None or previous is None else value - previous
        col.metric(
            literal(kpi.name),  # a metric's label is markdown; a KPI name is data
            format_value(value, kpi.unit, ctx.currency, compact=True),
            format_delta(delta, kpi.unit, ctx.currency) or None,
            delta_color="off",
            border=True,
            help=literal(kpi.description),
        )
        note = as_of_note(ctx, kpi) if value is None else None
        if note:
            col.caption(note)
        with col.container(horizontal=True):
            if st.button("Definition", key=f"{key}_def_{kpi.id}", icon=":material/info:"):
                trend = mine.filter(pl.col("period").is_in(_labels(ctx))).select("period", "value")
                definition_dialog(kpi, trend, ctx.currency)
            where = kpi_where(kpi, ctx.filters, ctx.settings).texts
            rows_behind_button(kpi.id, ctx.period, where, key=f"{key}_rows_{kpi.id}", value=value)


def _tiles(count: int) -> list:
    """Columns for `count` tiles, at most three to a row and the rows as even as they go
    (4 -> 2 + 2, 5 -> 3 + 2): four or five in one row cut a value such as "€419.5k" short
    at 1280 pixels, beside the sidebar."""
    rows = -(-count // 3)
    per_row = -(-count // rows)
    columns = []
    for first in range(0, count, per_row):
        columns += st.columns(per_row)[: min(per_row, count - first)]
    return columns


def _at(frame: pl.DataFrame, period: str) -> float | None:
    values = frame.filter(pl.col("period") == period)["value"]
    return values[0] if values.len() else None


def _labels(ctx: Context) -> list[str]:
    """The quarters inside the sidebar's range (the dialog's trend stays within it)."""
    return periods.periods_between(ctx.start, ctx.end, "quarter", ctx.settings.fiscal)
