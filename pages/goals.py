"""Quarterly goals: finance and procurement look at the facts and agree next quarter's targets."""

from __future__ import annotations

import streamlit as st

from kpi.core.settings import kpis_path
from kpi.workflows.definition_versions import file_version
from ui import goals_page as page
from ui.context import current
from ui.goals_kpi import kpi_tab
from ui.threads import open_goal_link
from ui.widgets import no_data

ctx = current()
st.title("Quarterly goals")
st.caption(
    "For the joint quarterly meeting of finance and procurement: each KPI's history and "
    "forecast, procurement's price outlook, both departments' proposed targets, and the "
    "target the meeting agrees: finance and procurement each sign it for themselves, and it "
    "is written into the shared KPI definitions."
)
if ctx.period is None:
    no_data(
        "spend in the store",
        "Load invoices on the **Data** page, or run `python -m kpi demo` to explore the demo data.",
    )
    st.stop()
if not ctx.definitions:
    no_data("KPI definitions", "Add KPIs on the **KPI definitions** page.")
    st.stop()

for widget, blank in st.session_state.pop(page.RESET, {}).items():
    st.session_state[widget] = blank  # empty the form a save came from, before it is drawn
flash_box = st.empty()  # always drawn, so the tabs below keep their place and selection
flash = st.session_state.pop(page.FLASH, None)
if flash:  # the outcome of the last save, after the page reloaded its data
    flash_box.success(flash)

CUR = ctx.settings.reporting_currency  # the definitions' targets are in the reporting currency
KPIS_PATH = kpis_path()
try:
    FILE_VERSION = file_version(KPIS_PATH)  # the version of kpis.yaml this run shows
except OSError:  # gone since the definitions were read: the save says what is wrong
    FILE_VERSION = None

quarters = page.quarters(ctx)
if not quarters:
    no_data("complete quarter of spend", "Load invoices on the **Data** page.")
    st.stop()
open_goal_link(quarters, [k.id for k in ctx.definitions])
top_left, _, top_right = st.columns([2, 2, 2], vertical_alignment="bottom")
plan = top_left.selectbox(
    "Quarter to plan",
    quarters,
    key="goals_quarter",
    help="The quarter after the last complete quarter of data, or one of the three after it.",
)
page.pack_button(ctx, top_right, plan, CUR)
page.scope_notes(ctx, CUR)
meeting = page.meeting(ctx, plan)

tab_all, tab_kpi, tab_outlook, tab_log = st.tabs(  # keyed: a save keeps the tab it was made in
    ["All KPIs", "KPI by KPI", "Spend outlook", "Decision log"], key="goals_tab", on_change="rerun"
)
with tab_all:
    page.overview_tab(meeting)


# "KPI by KPI" and "Spend outlook" are fragments: the KPI picked, a proposal or a signature
# form, the outlook table redraw their tab only; a save reruns the page (st.rerun), whose
# meeting it changes. The quarter to plan above changes every tab: it reruns the page.
@st.fragment(key="goals_kpi_tab")
def _kpi_tab() -> None:
    """One KPI's facts, proposals, signatures and thread."""
    kpi_tab(ctx, meeting, KPIS_PATH, FILE_VERSION)


@st.fragment(key="goals_outlook_tab")
def _outlook_tab() -> None:
    """Procurement's price outlook, edited in a form."""
    page.outlook_tab(ctx, meeting)


with tab_kpi:
    _kpi_tab()
with tab_outlook:
    _outlook_tab()
with tab_log:
    page.decision_log_tab(meeting)

st.session_state[page.SEEN] = FILE_VERSION  # the version this run showed
