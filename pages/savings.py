"""Savings & cost avoidance: two lenses, the bridge, the initiatives ledger and finance review."""

from __future__ import annotations

import streamlit as st

from ui import savings_page as page
from ui.context import current
from ui.threads import open_link
from ui.widgets import no_data

ctx = current()
st.title("Savings & cost avoidance")
st.caption(
    "One set of transactions, two meanings of savings: procurement counts a lower price, "
    "finance counts a lower expense line. Cost avoidance is kept apart and never enters P&L "
    "savings. Amounts in **" + ctx.currency + "**."
)
if ctx.period is None:
    no_data("spend in the store", "Load invoices and savings initiatives on the **Data** page.")
    st.stop()

linked = st.query_params.get("initiative")  # the inbox's link to a review opens it, once
if linked and st.session_state.get("_savings_linked") != linked:
    st.session_state[page.TAB_KEY] = "Initiatives"
    st.session_state["_savings_linked"] = linked
# an inbox link to an initiative's thread opens the Initiatives tab on it
open_link("initiative", page.THREAD_PICK, (page.TAB_KEY, "Initiatives"))
# keyed tabs keep their state: after a save or a decision the page stays on Initiatives. The
# bridge, the initiatives and realised vs expected are fragments (ui/savings_page.py, below):
# their widgets redraw their own tab, not the page.
tab_lenses, tab_bridge, tab_ledger, tab_realised, tab_avoid = st.tabs(
    list(page.TABS), key=page.TAB_KEY, on_change="rerun"
)
with tab_lenses:
    page.two_lenses_tab(ctx)
with tab_bridge:
    page.bridge_tab(ctx)
with tab_ledger:
    page.ledger_tab(ctx)
realised, avoided = page.realised_figures(ctx)


@st.fragment(key="savings_realised")
def _realised() -> None:
    """Realised vs expected and the pipeline: a selected initiative redraws this tab only
    (and opens the rows behind it)."""
    page.realised_tab(realised, ctx)
    page.pipeline_section(ctx)


with tab_realised:
    _realised()
with tab_avoid:
    page.avoidance_tab(avoided, ctx.currency)
