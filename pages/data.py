"""Data: what is in the store, how fresh it is, what was rejected, and uploads of new files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import streamlit as st

from kpi.analyses.data_status import freshness, load_history, rejected_rows
from kpi.core.permissions import NOBODY, PermissionDenied, load_refusal
from kpi.core.settings import config_dir
from kpi.ingest.mappings import MappingError, load_mappings
from kpi.ingest.pipelines import LoadRefused
from kpi.ingest.upload import load_upload
from kpi.store.database import Store, StoreError
from kpi.store.schema import TABLES
from ui.cache import cached
from ui.context import current
from ui.widgets import downloads, literal, no_data

ctx = current()
st.title("Data")
st.caption(
    "Every number on the dashboard comes from these tables. Rows that failed "
    "validation are kept below with their reason; nothing is dropped silently."
)


def _status(store: Store) -> tuple[pl.DataFrame, pl.DataFrame]:
    return freshness(store), load_history(store)


# the load list: which file, its hash, who loaded it, when, and how they were identified
LOAD_COLUMNS = [
    "load_id",
    "table_name",
    "file_name",
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
        no_data("store", "Upload a file below, or run `python -m kpi demo`.")
    else:
        st.subheader("Freshness per table")
        st.dataframe(
            fresh,
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
        st.subheader("Loads")
        if loads.is_empty():
            no_data("loads", "Upload a file in the third tab or use `python -m kpi load`.")
        else:
            shown = [c for c in LOAD_COLUMNS if c in loads.columns]  # an older store lacks some
            st.dataframe(
                loads,
                hide_index=True,
                width="stretch",
                column_order=shown,
                column_config={
                    "load_id": st.column_config.NumberColumn("Load", format="%d"),
                    "table_name": "Table",
                    "file_name": "File",
                    "short_hash": st.column_config.TextColumn(
                        "Hash", help="The first 12 characters of the file's SHA-256"
                    ),
                    "loaded_by_name": "Who",
                    "finished": "When",
                    "identity_mode": st.column_config.TextColumn(
                        "Identified by", help="oidc, local, command line or demo"
                    ),
                    "rows_in": st.column_config.NumberColumn("Rows in", format="localized"),
                    "rows_loaded": st.column_config.NumberColumn("Loaded", format="localized"),
                    "rows_rejected": st.column_config.NumberColumn("Rejected", format="localized"),
                    "amount_loaded": st.column_config.NumberColumn("Amount loaded", format="%.2f"),
                },
            )
            downloads(loads, "loads", "loads")

with tab_rejects:
    if loads is None or loads.is_empty():
        no_data("loads", "Rejected rows appear here after a load.")
    else:
        with_rejects = loads.filter(loads["rows_rejected"] > 0)
        options = {"All loads": None} | {
            f"#{r['load_id']} {r['table_name']} · {r.get('file_name') or Path(r['source']).name} "
            f"({r['rows_rejected']:,} rejected)": r["load_id"]
            for r in with_rejects.iter_rows(named=True)
        }
        pick = st.selectbox("Load", list(options), key="reject_load")
        rejects = cached(rejected_rows, ctx, options[pick])
        if rejects.is_empty():
            st.success("No rejected rows: every row loaded.")
        else:
            st.dataframe(
                rejects,
                hide_index=True,
                width="stretch",
                column_config={
                    "row_number": st.column_config.NumberColumn("Row", format="%d"),
                    "reason": st.column_config.TextColumn("Reason", width="large"),
                    "raw_row": st.column_config.TextColumn("Row as in the file"),
                },
            )
            downloads(rejects, "rejected_rows", "rejects")

with tab_upload:
    st.write(
        "Load a CSV, Excel (.xlsx) or Parquet export into one of the canonical tables. "
        "The same pipeline as `python -m kpi load` runs: rows that fail validation are "
        "kept with their reason, a file without a required column is refused whole."
    )
    refusals = {t: load_refusal(ctx.person, t) for t in TABLES}
    allowed = [t for t, why in refusals.items() if why is None]
    refused = [t for t, why in refusals.items() if why is not None]
    if not allowed:
        who = ctx.person.label if ctx.person else NOBODY
        st.info(
            f"{who} may not load data: finance and procurement members and the CFO load "
            "files (the price outlook and savings initiatives: procurement members and the "
            "CFO). Ask one of them to load the file."
        )
        st.stop()
    table = st.selectbox(
        "Table",
        allowed,
        key="up_table",
        format_func=lambda t: f"{t} — {TABLES[t].description}",
    )
    for t in refused:  # offered to others: say why not, rather than hide it silently
        st.caption(f"Not offered: {refusals[t]}")
    if table == "savings_initiatives":
        st.caption(
            "finance_status and finance_note are never loaded: new initiatives land pending, "
            "finance gives verdicts on the Savings page."
        )
    try:
        have_file = (config_dir() / "sources.yaml").exists()
        mappings = (
            {n: m for n, m in load_mappings().items() if m.table == table} if have_file else {}
        )
    except (MappingError, OSError) as exc:
        st.error(f"config/sources.yaml: {exc}")
        mappings = {}
    mapping = st.selectbox(
        "Column mapping",
        ["(columns already named as the canonical ones)", *mappings],
        key="up_mapping",
        help="Mappings live in config/sources.yaml.",
    )
    st.caption("Required columns: " + ", ".join(TABLES[table].required_columns))
    upload = st.file_uploader("File", type=["csv", "txt", "xlsx", "parquet"], key="up_file")
    report_text, problem, warnings = "", None, []
    if st.button("Load the file", type="primary", disabled=upload is None, key="up_go"):
        with st.status(f"Loading {literal(upload.name)} into {table}…", expanded=True) as status:
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / Path(upload.name).name
                    path.write_bytes(upload.getvalue())
                    report = load_upload(  # checks the person's role, size and type
                        ctx.store,
                        ctx.person,
                        table,
                        [path],
                        mapping=None if mapping not in mappings else mapping,
                        progress=status.write,
                        file_names=[upload.name],
                        identity_mode=ctx.identity_mode,
                    )
            except PermissionDenied as exc:
                status.update(label="Not allowed", state="error")
                problem = str(exc)
            except (LoadRefused, MappingError, StoreError) as exc:
                status.update(label="Refused", state="error")
                problem = f"Refused, nothing was loaded: {exc}"
            except OSError as exc:  # the upload could not be kept in a temporary folder
                status.update(label="Refused", state="error")
                problem = (
                    "Refused, nothing was loaded: the uploaded file could not be kept in "
                    f"{tempfile.gettempdir()} ({exc.strerror or exc}); free some space there "
                    "and try again."
                )
            else:
                status.update(label="Loaded", state="complete")
                report_text = report.as_table()
                ignored = [f for f in report.files if f.verdicts_ignored]
                warnings = [f"{f.name}: {f.verdicts_ignored}" for f in ignored]
                st.cache_data.clear()
        if problem:  # outside the status box, which folds up on error: the reason stays in view
            st.error(problem)
        if report_text:
            st.success("Loaded. The dashboard now shows the new data.")
            for warning in warnings:
                st.warning(warning)
            st.code(report_text, language=None)
