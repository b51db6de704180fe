"""The load's writes inside the store's transaction: one file batch by batch (rows upserted
by the table's key, rejects kept), and its bookkeeping row in `loads`."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import polars as pl
from sqlglot import exp

from kpi.ingest.audited import (
    INITIATIVES,
    AuditTally,
    audit_batch,
    count_withheld,
    refuse_overlaps,
    withheld_note,
)
from kpi.ingest.audited import withhold_verdicts as _withhold
from kpi.ingest.cost_centre_codes import count_codes, unknown_codes_note
from kpi.ingest.loader import Loader
from kpi.ingest.mappings import Mapping
from kpi.ingest.matching import Plan
from kpi.ingest.readers import HEADER_ROWS, ROW, Progress, Source
from kpi.ingest.report import LOADED, FileResult, LoadRefused
from kpi.ingest.validation import REFERENCES, FileState, Known, check_batch
from kpi.store.database import Store
from kpi.store.identifiers import column, ident, render, table
from kpi.store.schema import LINEAGE_NAMES, Table


def load_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    plan: Plan,
    mapping: Mapping | None,
    result: FileResult,
    say: Progress,
    loader: Loader,
    savings_window_months: int = 12,
) -> None:
    """Check and write one file batch by batch, then record it in `loads` (filling `result`)
    with who loaded it and the file's own name. Finance's verdict columns are never read
    from the file, and the audited tables write their audit rows (kpi.ingest.audited)."""
    spec = plan.table
    plan, withheld = _withhold(plan)
    counts: dict[str, int] = {}
    tally = AuditTally()
    file_name = result.file_name or source.path.name
    started = datetime.now()
    audit_at = datetime.now(UTC).replace(tzinfo=None)  # the audit logs keep UTC
    load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchall()[0][0]
    state = FileState(store_had_rows=_has_rows(con, spec), known=_known_ids(con, spec))
    amount = Decimal("0.00") if "amount" in spec.column_names else None
    clock = time.perf_counter()
    loaded_ids: list[str] = []
    codes: Counter[str] = Counter()  # cost centre codes of the loaded rows
    for raw in source.batches():
        raw = raw.filter(pl.any_horizontal(pl.exclude(ROW).is_not_null()))  # blank lines
        try:
            valid, rejects, blank = check_batch(raw, plan, state, source)
        except pl.exceptions.PolarsError as exc:  # e.g. a date_format polars cannot use
            first = str(exc).strip().splitlines()[0]
            raise LoadRefused(f"{source.path}: its rows cannot be checked: {first}") from exc
        count_withheld(raw, withheld, counts)
        valid = audit_batch(con, spec.name, valid, loader, file_name, audit_at, tally)
        lineage = Lineage(load_id, file_name, source.sheet)
        result.replaced += _upsert(con, spec, valid, state.store_had_rows, lineage)
        if spec.name == INITIATIVES:
            loaded_ids += valid.get_column("initiative_id").to_list()
        count_codes(spec.name, valid, codes)
        _insert_rejects(con, load_id, rejects)
        result.rows_in += raw.height - blank
        result.rows_loaded += valid.height
        result.rows_rejected += rejects.height
        if amount is not None and valid.height:
            amount += valid.get_column("amount").sum() or Decimal(0)
        seconds = time.perf_counter() - clock
        say(f"{source.path}: {result.rows_in:,} rows checked ({seconds:.1f} s)")
    refuse_overlaps(con, loaded_ids, file_name, savings_window_months)
    result.amount, result.load_id = amount, load_id
    used = set(plan.sources.values()) | {w.file_column for w in withheld if w.file_column}
    result.ignored_columns = [c for c in source.columns if c not in used]
    result.verdicts_ignored = withheld_note(counts, withheld, mapping.name if mapping else None)
    result.audit_rows, result.back_to_pending = tally.rows, tally.back_to_pending
    result.unknown_cost_centres = unknown_codes_note(con, spec.name, codes)
    notes = [f"{result.rows_rejected} row(s) rejected" if result.rows_rejected else ""]
    notes += [result.verdicts_ignored, result.pending_note, result.unknown_cost_centres]
    message = "; ".join(n for n in notes if n) or None
    con.execute(
        "INSERT INTO loads (load_id, table_name, source, content_hash, mapping, rows_in, "
        "rows_loaded, rows_rejected, amount_loaded, started, finished, status, message, "
        "loaded_by, loaded_by_name, file_name, identity_mode) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            spec.name,
            # an upload's path is a temporary copy gone after the load: its own name instead
            result.file_name or str(source.path),
            source.content_hash,
            mapping.name if mapping else None,
            result.rows_in,
            result.rows_loaded,
            result.rows_rejected,
            amount,
            started,
            datetime.now(),
            LOADED,
            message,
            loader.loaded_by,
            loader.name,
            file_name,
            loader.mode,
        ],
    )
    say(
        f"{source.path}: {result.rows_loaded:,} rows loaded, {result.rows_rejected:,} rejected"
        + (f", {result.replaced:,} replaced" if result.replaced else "")
    )


def _has_rows(con: duckdb.DuckDBPyConnection, spec: Table) -> bool:
    probe = exp.select(exp.Exists(this=exp.select(exp.Literal.number(1)).from_(table(spec.name))))
    return bool(con.execute(render(probe)).fetchall()[0][0])


def _known_ids(con: duckdb.DuckDBPyConnection, spec: Table) -> Known:
    """The ids the table's rows may refer to, per referring column."""
    known: Known = {}
    for name, master in REFERENCES.items():
        if name in spec.column_names and spec.name != master:
            ids = exp.select(column(name)).distinct().from_(table(master))
            rows = con.execute(render(ids)).fetchall()
            if rows:
                known[name] = pl.Series(name, [r[0] for r in rows], pl.String)
    return known


def loaded_hashes(store: Store, spec: Table, sources: list[Source]) -> dict[str, int]:
    """Hashes already loaded into the table, looked up without taking the writer (a shortcut:
    the authoritative look-up runs again inside the write). A plain read of the tables: the
    curated views are not needed and cost most of a second to plan on a big store."""
    if not store.exists():
        return {}
    try:
        with store.read_tables() as con:
            return loaded_hashes_in(con, spec, sources)
    except Exception:  # an unreadable store is the writer's business; it reports it
        return {}


def loaded_hashes_in(
    con: duckdb.DuckDBPyConnection, spec: Table, sources: list[Source]
) -> dict[str, int]:
    """The hashes among `sources` already loaded into the table, with their first load."""
    hashes = sorted({s.content_hash for s in sources})
    rows = con.execute(
        "SELECT content_hash, min(load_id) FROM loads WHERE table_name = ? AND status = ? "
        "AND list_contains(?, content_hash) GROUP BY content_hash",
        [spec.name, LOADED, hashes],
    ).fetchall()
    return {h: int(i) for h, i in rows}


# ---- writing -----------------------------------------------------------------------------
# DuckDB reads a frame named in SQL straight from the calling function's local variables
# (a "replacement scan", zero copy through Arrow). Unlike con.register(), it lets go of the
# frame afterwards: registering each batch kept every batch alive until the end of the load.
class ArrowStream:
    """A frame as DuckDB scans it through the Arrow C stream interface (a new stream for
    each statement naming it): no pyarrow, whose import (numpy's with it) cost 0.4 s of a
    small load, and as fast as scanning `to_arrow()` on a million rows."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


@dataclass(frozen=True)
class Lineage:
    """Where a load's rows come from: the load, the file's own name (as `loads.file_name`
    records it) and the Excel sheet read (None for CSV and Parquet)."""

    load_id: int
    file_name: str
    sheet: str | None


def _lineage_columns() -> list[exp.Expression]:
    """The lineage columns of a batch's rows: the load's values as bound parameters, and
    each row's number as a spreadsheet program shows it (header included): the data row
    number ROW plus the header line, the line the rejects' reasons name."""
    row = exp.Add(this=column(ROW), expression=exp.Literal.number(HEADER_ROWS))
    values: list[exp.Expression] = [
        exp.Placeholder(this="load_id"),
        exp.Placeholder(this="source_file"),
        exp.cast(exp.Placeholder(this="source_sheet"), "VARCHAR"),
        row,
    ]
    return [exp.alias_(v, ident(n)) for v, n in zip(values, LINEAGE_NAMES, strict=True)]


def _upsert(
    con: duckdb.DuckDBPyConnection,
    spec: Table,
    rows: pl.DataFrame,
    replace: bool,
    lineage: Lineage,
) -> int:
    """Insert rows with their lineage, first deleting the store's rows with the same key
    (a replaced row takes the new load's lineage); the count deleted."""
    if rows.height == 0:
        return 0
    _kpi_batch = ArrowStream(rows)  # noqa: F841 - used in SQL
    replaced = 0
    if replace:
        same = exp.and_(*(exp.EQ(this=column(k, "t"), expression=column(k, "b")) for k in spec.key))
        delete = exp.Delete(
            this=table(spec.name, alias="t"),
            using=[table("_kpi_batch", alias="b")],
            where=exp.Where(this=same),
        )
        replaced = con.execute(render(delete)).fetchall()[0][0]
    rows_of_batch = exp.select(*(column(c) for c in spec.column_names), *_lineage_columns()).from_(
        table("_kpi_batch")
    )
    names = [*spec.column_names, *LINEAGE_NAMES]
    into = exp.Schema(this=table(spec.name), expressions=[ident(c) for c in names])
    params = {
        "load_id": lineage.load_id,
        "source_file": lineage.file_name,
        "source_sheet": lineage.sheet,
    }
    con.execute(render(exp.insert(rows_of_batch, into)), params)
    return int(replaced)


def _insert_rejects(con: duckdb.DuckDBPyConnection, load_id: int, rejects: pl.DataFrame) -> None:
    if rejects.height == 0:
        return
    _kpi_rejects = ArrowStream(rejects)  # noqa: F841 - used in SQL
    con.execute(
        "INSERT INTO rejects SELECT ?, row_number, raw_row, reason FROM _kpi_rejects", [load_id]
    )
