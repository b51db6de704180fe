"""The pages' main figures open "the rows behind this figure": a table's selected row, or a
small button beside a box, hands the figure's KPI, period and filters (worked out by
kpi.reporting.figure_rows) to the dialog of ui/rows_behind.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import streamlit as st

from kpi.reporting.figure_rows import FigureRows
from ui.rows_behind import request_rows_behind, rows_behind_button, show_rows_behind

_LAST = "_figure_rows_last"  # per table: the figure its selection opened last


def selected_row(event: Any, frame: pl.DataFrame) -> dict | None:
    """The row of `frame` selected in a st.dataframe (single-row selection), else None."""
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    return frame.row(rows[0], named=True) if rows and rows[0] < frame.height else None


def open_selected(
    event: Any, frame: pl.DataFrame, figure: Callable[[dict], FigureRows | None], key: str
) -> FigureRows | None:
    """Open the dialog for the selected row's figure, once per pick: a rerun that keeps the
    same selection (another widget changed) does not open it again. Returns the figure."""
    row = selected_row(event, frame)
    fig = figure(row) if row is not None else None
    last = st.session_state.setdefault(_LAST, {})
    if fig is not None and last.get(key) != fig:
        request_rows_behind(fig.kpi, fig.period, list(fig.where))
        show_rows_behind()
    last[key] = fig
    return fig


def figure_button(fig: FigureRows, label: str, key: str) -> None:
    """A small "rows behind" button for one figure (a box, or one column of a row)."""
    rows_behind_button(fig.kpi, fig.period, list(fig.where), label=label, key=key)


def figure_buttons(figures: Sequence[tuple[str, FigureRows]], key: str) -> None:
    """Buttons side by side, one per (label, figure): a row with several KPI figures."""
    for col, (label, fig) in zip(st.columns(len(figures)), figures, strict=True):
        with col:
            figure_button(fig, label, f"{key}_{fig.kpi}")


SELECTABLE = {"on_select": "rerun", "selection_mode": "single-row"}
