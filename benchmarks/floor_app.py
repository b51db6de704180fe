"""The stack's floor: a trivial Streamlit page drawing what benchmarks/render.py waits for on
the CFO overview (four st.metric tiles, one small dataframe, four small plotly bar charts)
and nothing else: no store, no sidebar, no computation.

Timed the same way as the overview, it says how long Streamlit, plotly and Chromium take on
this machine for a page of that shape, so that the overview's figures can be read against
what no work of ours could go below.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

st.set_page_config(page_title="Render floor", layout="wide")
st.title("Render floor")
for i, tile in enumerate(st.columns(4)):
    tile.metric(f"Tile {i + 1}", f"{i * 10} %", "1 %", border=True)
st.dataframe(pl.DataFrame({"a": list(range(30)), "b": [str(i) for i in range(30)]}))
for i in range(4):
    figure = go.Figure(go.Bar(x=[f"Q{j + 1}" for j in range(8)], y=list(range(8))))
    st.plotly_chart(figure, key=f"chart_{i}")
