"""The rows behind a figure, in a dialog: the KPI's value, its row count, how the rows add up
to it (or why they cannot), and the rows themselves with the file and line each came from,
one page at a time, sorted in the store, downloadable on request.

Every figure is explained by kpi.semantic.explain (never a second computation), with the
display currency and the filters the figure was computed with (`where` texts such as
`category = 'IT'`, built by kpi.semantic.where_text).

Opened once per click, as the definition dialog is (ui/definition_dialog.py, issue 15): a
click records a request in session_state, the run that follows shows the dialog and forgets
the request, so no later rerun (a filter, the currency, a download, a tab) reopens it, and
closing it unselects the table cell that opened it. Pages use `rows_behind_button` (a
button that requests and shows it) or, from a table's selection callback,
`request_rows_behind` / `on_value_pick` and then `show_rows_behind()` once per run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial

import polars as pl
import streamlit as st

from kpi.core.formatting import format_value
from kpi.core.output import header
from kpi.core.scope import Scope, ignored_text
from kpi.reporting.filters_text import slice_text
from kpi.semantic.explain import ENGINE, Explanation, explain, explain_rows
from kpi.semantic.explain import ValueOrEngine as Shown
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.semantic.where_text import where_filters
from kpi.store.database import StoreBusy, StoreError
from kpi.store.schema import LINEAGE_NAMES
from kpi.store.views import view_catalog
from ui.context import Context
from ui.documents import show_invoice_line, show_po_line
from ui.widgets import downloads, literal, show_table

ASKED = "rows_behind_asked"  # (kpi id, period, where, table key or None, value): a click
OPENED_FROM = "rows_behind_opened_from"  # key of the table whose cell the dialog shows
PREPARED = "rows_behind_download"  # (what was asked, rows): the download a person prepared
EXPLAINED = "rows_behind_explained"  # (what was asked, Explanation) of the open dialog
PAGE = "rows_behind_page"
SORT = "rows_behind_sort"
DESCENDING = "rows_behind_desc"
PAGE_SIZE = 50
DOWNLOAD_CAP = 100_000  # rows in one download; more are named, with the command for all

VALUE_COLUMN = "Value"  # the scorecard's column whose cell opens the rows behind it


def request_rows_behind(
    kpi_id: str,
    period: str,
    where: Sequence[str] = (),
    table: str | None = None,
    value: Shown = ENGINE,
) -> None:
    """Ask for the rows behind `kpi_id` in `period` under the filter texts `where`; the next
    `show_rows_behind()` shows them. `table`: the key of the table whose cell was clicked
    (unselected when the dialog closes); `value`: the engine's value the page shows for
    exactly this KPI, period and filters (a tile, the scorecard), so the dialog checks the
    rows against it instead of computing it again. For click handlers (on_click, on_select)."""
    st.session_state[ASKED] = (kpi_id, period, tuple(where), table, value)


def rows_behind_button(
    kpi_id: str,
    period: str,
    where: Sequence[str] = (),
    label: str = "Rows behind",
    *,
    key: str,
    value: Shown = ENGINE,
) -> None:
    """A small button under a figure that opens the rows behind it (on its click's run only).
    `value`: the engine's value shown for it, when the page has it (see request_rows_behind)."""
    st.button(
        label,
        key=key,
        icon=":material/table_rows:",
        on_click=request_rows_behind,
        args=(kpi_id, period, tuple(where), None, value),
        help="The rows this figure is computed from, with the file and line each came from",
    )
    show_rows_behind()


def _value_picked(
    table: str,
    requests: tuple[tuple[str, str, tuple[str, ...], Shown], ...],
    column: str,
    then: Callable[[], None] | None,
) -> None:
    if then is not None:
        then()
    selection = (st.session_state.get(table) or {}).get("selection") or {}
    if selection.get("rows"):  # a ticked row is not a value cell
        return
    for row, picked in selection.get("cells") or []:
        if picked == column and 0 <= int(row) < len(requests):
            kpi_id, period, where, value = requests[int(row)]
            request_rows_behind(kpi_id, period, where, table, value)
            return


def on_value_pick(
    table: str,
    requests: Sequence[tuple[str, str, Sequence[str]] | tuple[str, str, Sequence[str], Shown]],
    column: str = VALUE_COLUMN,
    then: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """The on_select callback of a table keyed `table` whose row i is the figure
    `requests[i]` (kpi id, period, where[, the engine's value shown]): a click on a cell of
    `column` asks for its rows. `then`: the table's other callback (the definition
    dialog's), run first."""
    frozen = tuple(
        (r[0], r[1], tuple(r[2]), r[3] if len(r) > 3 else ENGINE)  # type: ignore[misc]
        for r in requests
    )
    return partial(_value_picked, table, frozen, column, then)


def show_rows_behind() -> None:
    """Show the dialog a click asked for, once: the request is forgotten as it is read."""
    ask = st.session_state.pop(ASKED, None)
    if ask is None:
        return
    kpi_id, period, where, table, value = ask
    for old in (PAGE, SORT, DESCENDING, PREPARED, EXPLAINED):  # a new dialog starts at page 1
        st.session_state.pop(old, None)
    ctx: Context | None = st.session_state.get("_ctx")
    kpi = None if ctx is None else next((k for k in ctx.definitions if k.id == kpi_id), None)
    if kpi is None:  # a KPI no longer defined: nothing to show
        return
    if table is not None:
        st.session_state[OPENED_FROM] = table
    rows_behind_dialog(kpi, period, tuple(where), ctx.currency, value)


def _dismissed() -> None:
    """The dialog's on_dismiss: the cell that opened it is unselected (a click on it opens
    it again), and a prepared download is let go."""
    st.session_state.pop(PREPARED, None)
    st.session_state.pop(EXPLAINED, None)
    table = st.session_state.pop(OPENED_FROM, None)
    if table is not None:
        st.session_state[table] = {"selection": {"rows": [], "columns": [], "cells": []}}


def _explained(
    ctx: Context,
    kpi: KpiDefinition,
    period: str,
    where: tuple[str, ...],
    currency: str,
    value: Shown,
) -> Explanation:
    """explain's answer for this dialog, kept while it is open: paging and sorting rerun the
    dialog alone, and only the page of rows changes (a new load or open explains anew)."""
    asked = (kpi.id, kpi.formula, period, where, currency, str(ctx.store.location), ctx.version)
    kept = st.session_state.get(EXPLAINED)
    if kept is not None and kept[0] == asked:
        return kept[1]
    explanation = explain(ctx.store, kpi, period, where, currency=currency, value=value)
    st.session_state[EXPLAINED] = (asked, explanation)
    return explanation


def _number(value: Decimal | float | int) -> str:
    """A numerator or denominator as read: thousands separated, cents only when it has any."""
    exact = Decimal(str(value))  # a float as it prints, never its binary expansion
    return f"{exact:,.0f}" if exact == exact.to_integral_value() else f"{exact:,.2f}"


def reconciliation_text(explanation: Explanation, currency: str) -> str:
    """How the rows make the figure, in words (markdown): 'N rows add up to X' for a sum,
    'numerator X / denominator Y = Z' for a ratio; '' when explain derived no split."""
    e = explanation
    rows = f"{e.row_count:,} row" + ("" if e.row_count == 1 else "s")
    if e.numerator is None:
        return ""
    if e.denominator is None:
        return f"**{rows}** add up to **{format_value(e.numerator, e.unit, currency)}**."
    return (
        f"Numerator **{_number(e.numerator)}** / denominator **{_number(e.denominator)}** = "
        f"**{format_value(e.value, e.unit, currency)}** (over {rows})."
    )


def _problem(kpi: KpiDefinition, period: str, exc: Exception) -> None:
    """A refusal or a store problem as one sentence saying what to do, never a traceback."""
    if isinstance(exc, StoreBusy):
        st.info(
            "The data is refreshing: close this and open the rows again in a moment.",
            icon=":material/sync:",
        )
        return
    reason = str(exc).strip().rstrip(".").replace("\n", " ") or type(exc).__name__
    st.error(
        f"The rows behind {literal(kpi.name)} in {literal(period)} cannot be listed "
        f"({literal(reason)}); change the period or the filters and open them again.",
        icon=":material/error:",
    )


def _filters_line(period: str, where: tuple[str, ...], currency: str) -> str:
    """'**FY2026-Q1** · category IT · amounts in **EUR**': what the rows are chosen by."""
    chosen, rest = where_filters(where)
    words = slice_text({k: [literal(v) for v in values] for k, values in chosen.items()})
    parts = [words] if words else []
    parts += [literal(text) for text in rest]
    filters = "; ".join(parts) if parts else "no filter (all the data of the period)"
    return f"**{literal(period)}** · {filters} · amounts in **{literal(currency)}**"


def rows_behind(
    kpi: KpiDefinition,
    period: str,
    where: tuple[str, ...],
    currency: str,
    value: Shown = ENGINE,
) -> None:
    """The dialog's content: the figure, how its rows add up to it, and its rows page by
    page (read-only, so anyone who can see the figure can open it). Drawn where it is
    called (the dialog, or a test driving it through full reruns). `value`: the engine's
    value the page showed, else the engine computes it."""
    ctx: Context = st.session_state["_ctx"]
    st.subheader(literal(kpi.name))
    st.caption(_filters_line(period, where, currency))
    columns = view_catalog(ctx.settings).get(kpi.source, {})
    ignored = [f for f, values in ctx.filters.items() if values and f not in columns]
    if ignored:
        st.caption(
            f":material/filter_alt_off: Not narrowed by the {ignored_text(ignored)} filter: "
            "this KPI's data has no such column."
        )
    try:
        e = _explained(ctx, kpi, period, where, currency, value)
    except (ValueError, StoreError) as exc:
        _problem(kpi, period, exc)
        return
    left, right, _ = st.columns([2, 1, 2])
    left.metric("Figure", format_value(e.value, e.unit, currency), border=True)
    right.metric("Rows", f"{e.row_count:,}", border=True)
    words = reconciliation_text(e, currency)
    if words:
        st.markdown(words)
    if not e.reconciles and e.note:
        st.warning(f"No reconciliation: {literal(e.note)}", icon=":material/warning:")
    elif e.note:
        st.caption(literal(e.note))
    if e.row_count == 0:
        st.info(
            f"**No rows behind this figure** in {literal(period)} with these filters. "
            "Choose another quarter or clear a filter in the sidebar, or load the data "
            "on the **Data** page.",
            icon="ℹ️",
        )
        return
    _rows_table(ctx, kpi, e, period, where, currency)


rows_behind_dialog = st.dialog("The rows behind this figure", width="large", on_dismiss=_dismissed)(
    rows_behind
)


def _rows_table(
    ctx: Context,
    kpi: KpiDefinition,
    e: Explanation,
    period: str,
    where: tuple[str, ...],
    currency: str,
) -> None:
    """One page of rows (sorted and cut in the store), its controls, and the download."""
    pages = max(1, math.ceil(e.row_count / PAGE_SIZE))
    at, order, way = st.columns([1, 2, 1], vertical_alignment="bottom")
    page = int(at.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key=PAGE))
    sort_by = order.selectbox(
        "Sort by",
        e.columns,
        index=None,
        placeholder="As loaded (file and line)",
        format_func=header,
        key=SORT,
        on_change=_first_page,
    )
    descending = way.toggle(
        "Descending", key=DESCENDING, disabled=sort_by is None, on_change=_first_page
    )
    offset = (page - 1) * PAGE_SIZE
    try:
        rows = explain_rows(ctx.store, e, offset, PAGE_SIZE, sort_by, descending, currency=currency)
    except (ValueError, StoreError) as exc:
        _problem(kpi, period, exc)
        return
    st.caption(
        f"page {page} of {pages} · rows {offset + 1:,}–{offset + rows.height:,} of {e.row_count:,}"
    )
    picked = show_table(
        rows,
        column_config=_row_columns(rows, e),
        key="rows_behind_table",
        height=min(38 + 35 * rows.height, 420),
        on_select="rerun",
        selection_mode="single-row",
    )
    _download(ctx, kpi, e, period, where, currency, sort_by, descending)
    chosen = (picked.selection.rows if picked else None) or []
    if chosen and chosen[0] < rows.height:
        _documents(ctx, rows.row(chosen[0], named=True))
    elif any(k in rows.columns for k in ("invoice_id", "po_id")):
        st.caption("Tick a row to see its documents: the order line, receipts and payment.")


def _documents(ctx: Context, row: dict) -> None:
    """The three-way view of the ticked row: an invoice line's order line, receipts and
    payment, or an order line's invoices and receipts (ui/documents.py)."""
    if row.get("invoice_id") is not None and row.get("invoice_line") is not None:
        st.markdown(f"##### Documents of {literal(row['invoice_id'])} line {row['invoice_line']}")
        show_invoice_line(ctx.store, row["invoice_id"], int(row["invoice_line"]))
    elif row.get("po_id") is not None and row.get("po_line") is not None:
        st.markdown(f"##### Documents of {literal(row['po_id'])} line {row['po_line']}")
        show_po_line(ctx.store, row["po_id"], int(row["po_line"]))
    else:
        st.caption("This row names no invoice or order line, so it has no documents to show.")


def _row_columns(rows: pl.DataFrame, e: Explanation) -> dict:
    """The rows table's own column settings: the file, sheet and line pinned at the left
    (the point of the table), dates as days, and each part column saying which aggregate
    of the formula it feeds."""
    config: dict = {}
    for column, dtype in rows.schema.items():
        if column in LINEAGE_NAMES and column != "load_id":
            config[column] = st.column_config.Column(header(column), pinned=True)
        elif dtype == pl.Date:  # a day: the grid would write midnight after it
            config[column] = st.column_config.DateColumn(header(column), format="YYYY-MM-DD")
    for part in getattr(e, "parts", None) or []:
        if part.column in rows.columns:
            short = part.aggregate if len(part.aggregate) <= 24 else header(part.column)
            why = f"What this row adds to {part.aggregate} ({part.role})"
            if isinstance(rows.schema[part.column], pl.Decimal):  # money, as table_columns
                config[part.column] = st.column_config.NumberColumn(
                    short, help=why, format="accounting"
                )
            else:
                config[part.column] = st.column_config.Column(short, help=why)
    return config


def _first_page() -> None:
    """A new order starts at its first page."""
    st.session_state[PAGE] = 1


def _download(
    ctx: Context,
    kpi: KpiDefinition,
    e: Explanation,
    period: str,
    where: tuple[str, ...],
    currency: str,
    sort_by: str | None,
    descending: bool,
) -> None:
    """All rows (up to DOWNLOAD_CAP) as CSV and Excel, fetched only when asked for."""
    cap = min(e.row_count, DOWNLOAD_CAP)
    asked = (kpi.id, period, where, currency, sort_by, descending)
    what = f"all {e.row_count:,} rows" if cap == e.row_count else f"the first {cap:,} rows"
    if st.button(
        f"Prepare download of {what}", key="rows_behind_prepare", icon=":material/download:"
    ):
        try:
            rows = explain_rows(ctx.store, e, 0, cap, sort_by, descending, currency=currency)
        except (ValueError, StoreError) as exc:
            _problem(kpi, period, exc)
            return
        st.session_state[PREPARED] = (asked, rows)
    prepared = st.session_state.get(PREPARED)
    if prepared is None or prepared[0] != asked:
        return
    if cap < e.row_count:
        st.caption(
            f"The download holds the first {cap:,} of {e.row_count:,} rows, in the order "
            f"shown. For all of them run `python -m kpi explain {kpi.id} --period {period} "
            f"--format csv --limit {e.row_count}` with the same filters (`--where`), or "
            "narrow the filters."
        )
    chosen, _ = where_filters(where)
    scope = Scope.of(None, None, chosen, currency)
    downloads(prepared[1], f"rows_behind_{kpi.id}_{period}", "rows_behind", scope)
