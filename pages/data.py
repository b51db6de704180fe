"""Data: what is in the store, how fresh it is, what was rejected, and uploads of new files."""

from __future__ import annotations

import polars as pl
import streamlit as st

from kpi.analyses.data_status import freshness, load_history, rejected_rows, store_summary
from kpi.store.database import Store, StoreError
from ui.cache import cached
from ui.context import current
from ui.data_page import rollups_section, show_rejects, upload_form
from ui.widgets import downloads, named, no_data

ctx = current()
st.title("Data")
st.caption(
    "Every number on the dashboard comes from these tables. Rows that failed "
    "validation are kept below with their reason; nothing is dropped silently."
)
source = st.empty()  # said after the upload below: a load there is a new write of the store


def _status(store: Store) -> tuple[pl.DataFrame, pl.DataFrame]:
    return _blank(freshness(store)), _blank(load_history(store))


def _blank(frame: pl.DataFrame) -> pl.DataFrame:
    """Empty text cells shown empty, not as "None" (a table without a business date, a load
    without a mapping or a note)."""
    return frame.with_columns(pl.col(pl.String).fill_null(""))


# the load list, newest first: which file (by its own name), its hash, who loaded it (by
# name), when, and how they were identified
LOAD_COLUMNS = [
    "load_id",
    "file_name",
    "table_name",
    "short_hash",
    "loaded_by_name",
    "finished",
    "identity_mode",
    "status",
    "rows_in",
    "rows_loaded",
    "rows_rejected",
    "amount_loaded",
    "mapping",
    "message",
    "source",
]

tab_status, tab_rejects, tab_upload = st.tabs(
    ["Tables and loads", "Rejected rows", "Upload a file"]
)

with tab_upload:  # first: a load of this run shows in the other tabs' reads below
    upload_form(ctx)
source.caption(store_summary(ctx.store))

if ctx.store.exists():
    try:
        fresh, loads = cached(_status, ctx)
    except StoreError as exc:
        st.error(str(exc))
        st.stop()
else:
    fresh = loads = None

with tab_status:
    if fresh is None:
        no_data("store", "Load a file in the tab Upload a file, or run `python -m kpi demo`.")
    else:
        st.subheader("Freshness per table")
        st.dataframe(
            named(fresh),  # times in the configured zone, named
            hide_index=True,
            width="stretch",
            column_config={
                "table_name": "Table",
                "rows": st.column_config.NumberColumn("Rows", format="localized"),
                "latest_data": "Latest date in the data",
                "last_loaded": "Last loaded",
            },
        )
        downloads(fresh, "tables", "fresh")
        rollups_section(ctx)
        st.subheader("Loads")
        if loads.is_empty():
            no_data("loads", "Load a file in the tab Upload a file, or use `python -m kpi load`.")
        else:
            shown = [c for c in LOAD_COLUMNS if c in loads.columns]  # an older store lacks some
            st.dataframe(
                named(loads),  # times in the configured zone, people by name
                hide_index=True,
                width="stretch",
                column_order=shown,
                column_config={
                    "load_id": st.column_config.NumberColumn("Load", format="%d"),
                    "table_name": "Table",
                    "file_name": "File",
                    "short_hash": st.column_config.TextColumn(
                        "Hash",
                        help="The first 12 characters of the file's SHA-256; the download "
                        "holds the whole hash (content_hash)",
                    ),
                    "loaded_by_name": "Who",
                    "finished": "When",
                    "identity_mode": st.column_config.TextColumn(
                        "Identified by", help="oidc, local, command line or demo"
                    ),
                    "rows_in": st.column_config.NumberColumn("Rows in", format="localized"),
                    "rows_loaded": st.column_config.NumberColumn("Loaded", format="localized"),
                    "rows_rejected": st.column_config.NumberColumn("Rejected", format="localized"),
                    "amount_loaded": st.column_config.NumberColumn(
                        "Amount loaded", format="accounting"
                    ),
                    "status": "Status",
                    "mapping": "Column mapping",
                    "message": "Note",
                    "source": st.column_config.TextColumn(
                        "Read from", help="The path a command-line load read; an upload's name"
                    ),
                },
            )
            downloads(loads, "loads", "loads")


# The rejected rows are a fragment: the load picked redraws them only. The upload stays part
# of the page: a load changes every tab and the sidebar's range.
@st.fragment(key="data_rejects")
def _rejects() -> None:
    """The rejected rows of the load picked (or of every load)."""
    if loads is None or loads.is_empty():
        no_data("loads", "Rejected rows appear here after a load.")
    else:
        with_rejects = loads.filter(loads["rows_rejected"] > 0)
        options = {"All loads": None} | {
            f"#{r['load_id']} {r['file_name']} into {r['table_name']} "
            f"({r['rows_rejected']:,} rejected)": r["load_id"]
            for r in with_rejects.iter_rows(named=True)
        }
        pick = st.selectbox("Load", list(options), key="reject_load")
        rejects = cached(rejected_rows, ctx, options[pick])
        if rejects.is_empty():
            st.success("No rejected rows: every row loaded.")
        else:
            show_rejects(rejects, "rejected_rows", "rejects")


with tab_rejects:
    _rejects()
