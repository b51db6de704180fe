"""The Data page's upload form and what a load did: counts per file, the rejected rows with
their reasons and a download of them, right under the button that loaded the file.

The form runs before the page reads the store (pages/data.py), so the load list and the
Rejected rows tab of the same run already show the new load. The outcome of the last load
is kept in the session, so it stays in view while the person looks around the page.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import streamlit as st

from kpi.analyses.data_status import rejected_rows
from kpi.core.permissions import DATA_LOADERS, PermissionDenied, load_refusal
from kpi.core.settings import config_dir
from kpi.ingest.mappings import Mapping, MappingError, load_mappings
from kpi.ingest.pipelines import UNCHANGED, LoadRefused, LoadReport
from kpi.ingest.upload import load_upload
from kpi.store.database import StoreError
from kpi.store.schema import TABLES
from ui.cache import cached
from ui.context import Context
from ui.widgets import downloads, literal, time_zone

OUTCOME = "data_upload_outcome"  # session key of the last load's outcome
NO_MAPPING = "(columns already named as the canonical ones)"
LISTED = 5  # rejected rows whose reasons the result lists as text above the grid

# the rejected rows' headers, on screen and in the downloads
REJECT_HEADERS = {
    "load_id": "Load",
    "table_name": "Table",
    "file_name": "File",
    "row_number": "Row",
    "columns": "Column",
    "reason": "Reason",
    "values": "Values in the file",
}
# what a person reads first: where (row, column) and why, then the values, the load last
REJECT_ORDER = ["row_number", "columns", "reason", "values", "file_name", "load_id", "table_name"]


@dataclass
class FileOutcome:
    """One file of a load, as the person is told about it."""

    name: str
    status: str
    rows_loaded: int
    rows_rejected: int
    load_id: int | None
    previous_load_id: int | None
    rows_replaced: int = 0  # rows already in the store with the same key, now replaced


@dataclass
class Outcome:
    """What the last load of this session did (or why it was refused)."""

    table: str
    file_name: str
    problem: str | None = None
    files: list[FileOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report_text: str = ""

    @property
    def reject_loads(self) -> list[int]:
        return [f.load_id for f in self.files if f.rows_rejected and f.load_id is not None]


def upload_form(ctx: Context) -> None:
    """The upload form (disabled, with the reason, for someone who may not load any table),
    then the outcome of the last load."""
    st.write(
        "Load a CSV, Excel (.xlsx) or Parquet export into one of the canonical tables. "
        "The same pipeline as `python -m kpi load` runs: rows that fail validation are "
        "kept with their reason, a file without a required column is refused whole."
    )
    refusals = {t: load_refusal(ctx.person, t) for t in TABLES}
    allowed = [t for t, why in refusals.items() if why is None]
    if allowed:
        table = st.selectbox(
            "Table", allowed, key="up_table", format_func=lambda t: f"{t} — {TABLES[t].description}"
        )
        for why in refusals.values():  # offered to others: say why not, not hide it silently
            if why is not None:
                st.caption(f"Not offered: {why}")
    else:  # the kpi/ check stays in load_upload; the page only shows it
        st.info(_why_not(ctx), icon="🔒")
        table = st.selectbox("Table", list(TABLES), key="up_table", disabled=True)
    if table == "savings_initiatives":
        st.caption(
            "finance_status and finance_note are never loaded: new initiatives land pending, "
            "finance gives verdicts on the Savings page."
        )
    mappings = _mappings(table)
    mapping = st.selectbox(
        "Column mapping",
        [NO_MAPPING, *mappings],
        key="up_mapping",
        help="Mappings live in config/sources.yaml.",
        disabled=not allowed,
    )
    st.caption("Required columns: " + ", ".join(TABLES[table].required_columns))
    upload = st.file_uploader(
        "File", type=["csv", "txt", "xlsx", "parquet"], key="up_file", disabled=not allowed
    )
    clicked = st.button(
        "Load the file",
        type="primary",
        disabled=not allowed or upload is None,
        key="up_go",
        help=None if allowed else _why_not(ctx),
    )
    if clicked and upload is not None:
        chosen = mapping if mapping in mappings else None
        st.session_state[OUTCOME] = _load(ctx, table, upload, chosen)
    outcome = st.session_state.get(OUTCOME)
    if outcome is not None:
        show_outcome(ctx, outcome)


def _why_not(ctx: Context) -> str:
    """Why the person may load no table at all, and what to do."""
    if ctx.person is None and ctx.identity_mode == "none":
        return (
            "Nobody may load data while the app is read-only: the sidebar says what to set "
            "in settings.yaml."
        )
    if ctx.person is None:
        how = "sign in" if ctx.identity_mode == "oidc" else 'choose who you act as ("Acting as")'
        return f"Nobody is chosen: {how} in the sidebar to load a file; {DATA_LOADERS} may."
    return (
        f"{ctx.person.label} may not load data: {DATA_LOADERS} load files (the price outlook "
        "and savings initiatives: procurement members and the CFO). Ask one of them to load "
        "the file."
    )


def _mappings(table: str) -> dict[str, Mapping]:
    try:
        if not (config_dir() / "sources.yaml").exists():
            return {}
        return {n: m for n, m in load_mappings().items() if m.table == table}
    except (MappingError, OSError) as exc:
        st.error(f"The column mappings (config/sources.yaml) cannot be read: {exc}")
        return {}


def _load(ctx: Context, table: str, upload, mapping: str | None) -> Outcome:
    """Load the uploaded file (kept in a temporary folder under its own name) and say how."""
    outcome = Outcome(table, upload.name)
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
                    mapping=mapping,
                    progress=lambda message: status.write(literal(message)),
                    file_names=[upload.name],
                    identity_mode=ctx.identity_mode,
                )
        except PermissionDenied as exc:
            status.update(label="Not allowed", state="error")
            outcome.problem = str(exc)
        except (LoadRefused, MappingError, StoreError) as exc:
            status.update(label=f"Refused: {literal(upload.name)}", state="error")
            outcome.problem = f"Refused, nothing was loaded: {exc}"
        except OSError as exc:  # the upload could not be kept in a temporary folder
            status.update(label=f"Refused: {literal(upload.name)}", state="error")
            outcome.problem = (
                "Refused, nothing was loaded: the uploaded file could not be kept in "
                f"{tempfile.gettempdir()} ({exc.strerror or exc}); free some space there "
                "and try again."
            )
        else:
            status.update(label=f"Loaded: {literal(upload.name)}", state="complete", expanded=False)
            _fill(outcome, report)
            st.cache_data.clear()
    return outcome


def _fill(outcome: Outcome, report: LoadReport) -> None:
    outcome.files = [
        FileOutcome(
            f.name,
            f.status,
            f.rows_loaded,
            f.rows_rejected,
            f.load_id,
            f.previous_load_id,
            f.replaced,
        )
        for f in report.files
    ]
    outcome.warnings = [  # shown as markdown: the file's name and notes escaped
        literal(f"{f.name}: {note}")
        for f in report.files
        for note in (f.verdicts_ignored, f.pending_note, f.unknown_cost_centres)
        if note
    ]
    outcome.report_text = report.as_table()


def rows(n: int) -> str:
    return f"{n:,} row{'s' * (n != 1)}"


def file_summary(f: FileOutcome, table: str) -> str:
    """'invoices_2026-11.csv: 412 rows loaded into invoices, 3 rejected.' (markdown: the
    file's name escaped); a file correcting rows already loaded also says how many of its
    rows replaced rows with the same key (a corrected invoice line, not a second one)."""
    name = literal(f.name)
    if f.status == UNCHANGED:
        return (
            f"{name}: nothing loaded, these exact contents were loaded before (load "
            f"#{f.previous_load_id}). Correct the file and load it again to replace its rows."
        )
    head = f"{name}: {rows(f.rows_loaded)} loaded into {table}"
    if f.rows_replaced:
        head += f" ({f.rows_replaced:,} of them replacing rows already there with the same key)"
    head += f", {f.rows_rejected:,} rejected"
    if not f.rows_rejected:
        return head + "."
    return head + (
        ". The rejected rows are below with their reasons; correct them in the file and "
        "load it again (rows with the same key are replaced)."
    )


def show_outcome(ctx: Context, outcome: Outcome) -> None:
    """The last load's result: refused (why), or per file the counts and its rejected rows."""
    st.subheader(f"Last load: {literal(outcome.file_name)}")
    if outcome.problem:  # it quotes the file's name and values: escaped, shown as typed
        st.error(literal(outcome.problem))
        return
    for f in outcome.files:
        say = st.warning if f.rows_rejected else st.info if f.status == UNCHANGED else st.success
        say(file_summary(f, outcome.table))
    for warning in outcome.warnings:
        st.warning(warning)
    if outcome.reject_loads:
        frames = [cached(rejected_rows, ctx, load_id) for load_id in outcome.reject_loads]
        rejects = pl.concat(frames)
        # the first reasons as text, whole (a grid cuts long ones), then every row in a grid
        listed = rejects.head(LISTED)
        st.markdown("\n".join(f"- {literal(reason)}" for reason in listed["reason"]))
        if rejects.height > LISTED:
            st.caption(f"The first {LISTED} of {rejects.height:,}; all of them below.")
        show_rejects(rejects, f"rejected_rows_{Path(outcome.file_name).stem}", "last")
    with st.expander("Load report"):
        st.code(outcome.report_text, language=None)


def show_rejects(rejects: pl.DataFrame, name: str, key: str) -> None:
    """Rejected rows with their reasons, headers in words, and their download."""
    st.dataframe(
        rejects,
        hide_index=True,
        width="stretch",
        column_order=REJECT_ORDER,
        column_config={
            "load_id": st.column_config.NumberColumn(
                REJECT_HEADERS["load_id"], format="%d", width="small"
            ),
            "table_name": REJECT_HEADERS["table_name"],
            "file_name": REJECT_HEADERS["file_name"],
            "row_number": st.column_config.NumberColumn(
                REJECT_HEADERS["row_number"],
                format="%d",
                width="small",
                help="Data rows counted from 1 (the header is not a row); the reason also "
                "gives the line in the file",
            ),
            "columns": REJECT_HEADERS["columns"],
            "reason": st.column_config.TextColumn(REJECT_HEADERS["reason"], width="large"),
            "values": st.column_config.TextColumn(REJECT_HEADERS["values"], width="large"),
        },
    )
    downloads(rejects.rename(REJECT_HEADERS), name, key)


def rollups_section(ctx: Context) -> None:
    """The pre-computed sums (rollups): whether the figures come from them now, what they
    hold, and how a controller checks a figure against the transactions. Read on every run,
    not cached by the store's version: a refresh after a load lands without a new store."""
    import duckdb

    from kpi.reporting.rollups_text import state_sentence, status_table
    from kpi.semantic import rollups

    st.subheader("Pre-computed sums")
    try:
        status = rollups.status(ctx.store)
    except (StoreError, OSError, duckdb.Error) as exc:  # the figures are computed live then
        st.warning(f"The pre-computed sums cannot be read: {exc}", icon=":material/warning:")
        return
    st.markdown(state_sentence(status, time_zone()))
    st.caption(
        "Each KPI's sums and counts are kept by month and by every filter and split the "
        "dashboard offers, and brought up to date after every load and every save of the "
        "definitions; sums that do not match the data are never read. To check a figure "
        "against the transactions, click it to see the rows behind it, or run "
        "`python -m kpi compute --live`."
    )
    if status.tables:
        with st.expander("What the sums hold"):
            table = status_table(status)
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={
                    "view": "View",
                    "by_month_of": "By month of",
                    "grain": st.column_config.TextColumn(
                        "Grain", help="any: months, added up to any period"
                    ),
                    "measures": st.column_config.NumberColumn("Measures", format="%d"),
                    "rows": st.column_config.NumberColumn("Rows", format="localized"),
                    "split_or_filtered_by": "Split or filtered by",
                },
            )
            downloads(table, "rollups", "rollups")
