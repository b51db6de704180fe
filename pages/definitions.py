"""KPI definitions: the catalogue both departments sign, editing with live checks and a
preview of the values, two-key approval and the history of every change."""

from __future__ import annotations

import streamlit as st

from kpi.core.settings import kpis_path
from ui import definitions_page as page
from ui.context import current
from ui.definition_editor import ERROR, FLASH, PICK_NEXT, add_tab

ctx = current()
PATH = kpis_path()
st.title("KPI definitions")
st.caption(
    "One definition per KPI, signed by finance and procurement. Owners edit their KPIs; "
    "changing what was signed (view, period column, formula, targets, direction, unit or "
    "owner) sends an agreed KPI back to *proposed* until both departments approve the new "
    "version, each person for their own department."
)

flash = st.session_state.pop(FLASH, None)
if flash:  # the outcome of the last save or approval, after the page reloaded the file
    st.success(flash)
problem = st.session_state.pop(ERROR, None)
if problem:
    st.error(problem)
if PICK_NEXT in st.session_state:  # a KPI just added: show it
    st.session_state["def_pick"] = st.session_state.pop(PICK_NEXT)

if ctx.definitions_problem:
    page.broken_banner(ctx, PATH)


# Each tab is a fragment: the catalogue's search, filters, the KPI picked and its editor's
# fields redraw the catalogue; the new KPI's fields redraw "Add a KPI". A save or an
# approval reruns the page (st.rerun): the definitions, the banner and the sidebar follow.
@st.fragment(key="definitions_catalogue")
def _catalogue() -> None:
    """The catalogue, the KPI picked, its approvals, editor, history and thread."""
    page.catalogue_tab(ctx, PATH)


@st.fragment(key="definitions_add")
def _add() -> None:
    """The form for a new KPI, with its live checks and preview."""
    add_tab(ctx, PATH)


# keyed: after a save the page stays on the tab it was made in
tab_catalogue, tab_add = st.tabs(["Catalogue", "Add a KPI"], key="def_tab", on_change="rerun")
with tab_catalogue:
    _catalogue()
with tab_add:
    _add()
