"""Waiting for you: the approvals, signatures, reviews and threads that wait for the person."""

from __future__ import annotations

import streamlit as st

from ui import inbox as page
from ui.context import current

ctx = current()
st.title("Waiting for you")
st.caption(
    "What waits for you or your department: KPI definitions and targets to approve or sign, "
    "savings initiatives awaiting finance's review and threads that mention you. You sign "
    "only for yourself, for your own department, after reading what changed."
)
page.page(ctx)
