"""The KPI definition dialog opened once per click: a click on a scorecard's KPI asks for
it, the next run shows it and forgets the ask, and closing it unselects what was clicked.

A scorecard table keeps its selection across reruns; opening the dialog while a row stays
selected reopened it after every filter change, currency change and download (issue 15).
So the table's selection callback records the click, the page shows the dialog on the run
that follows and forgets it there, and the dialog's dismissal clears the table's selection.
The "Definition" buttons need none of this: a button is true on the click's run only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import streamlit as st

ASKED = "definition_asked"  # (table key, KPI id): the click a run has yet to show
OPENED_FROM = "definition_opened_from"  # key of the table whose click the dialog shows

# A click on a KPI's name or its definition status opens the dialog, as does ticking the row;
# a click on a value only selects that cell (it can be copied).
OPENING_COLUMNS = ("name", "Definition")


def clicked_row(
    selection: Mapping[str, Any], opening: Sequence[str] = OPENING_COLUMNS
) -> int | None:
    """The row a scorecard click chose: a ticked row, or a cell in one of the `opening`
    columns; None for any other cell (or nothing selected)."""
    rows = list(selection.get("rows") or [])
    if rows:
        return int(rows[0])
    for row, column in selection.get("cells") or []:
        if column in opening:
            return int(row)
    return None


def _picked(table: str, ids: tuple[str, ...]) -> None:
    state = st.session_state.get(table) or {}
    row = clicked_row(state.get("selection") or {})
    if row is not None and 0 <= row < len(ids):
        st.session_state[ASKED] = (table, ids[row])


def on_pick(table: str, ids: Sequence[str]) -> Callable[[], None]:
    """The on_select callback of the scorecard table keyed `table` whose rows are the KPIs
    `ids`: it runs only when the person changes the selection, so only a click asks."""
    return partial(_picked, table, tuple(ids))


def asked() -> str | None:
    """The KPI a scorecard click asked to see, once: the ask is forgotten as it is read, so
    no later rerun (a filter, the currency, a download, a tab) opens the dialog again."""
    ask = st.session_state.pop(ASKED, None)
    if ask is None:
        return None
    table, kpi_id = ask
    st.session_state[OPENED_FROM] = table
    return kpi_id


def dismissed() -> None:
    """The dialog's on_dismiss (X, Esc, a click outside): the scorecard row or cell that
    opened it is unselected, so nothing looks chosen and a click on it opens it again."""
    table = st.session_state.pop(OPENED_FROM, None)
    if table is not None:
        st.session_state[table] = {"selection": {"rows": [], "columns": [], "cells": []}}
