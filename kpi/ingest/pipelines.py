"""The load pipeline: read CSV, Excel or Parquet files, map them onto a canonical table,
check every row, and load the good rows (and the reasons for the bad ones) in one transaction.

What every load promises (docs/data-model.md says it to the people who load files):

- a file that cannot be read, or lacks a required column, is refused whole (`LoadRefused`)
  and nothing of the command lands;
- for every file, rows in = rows loaded + rows rejected; each rejected row is kept in
  `rejects` with its row number, the original row as JSON and every reason it was refused;
- rows are upserted by the table's natural key, so loading a corrected file replaces the
  rows it repeats; a file whose bytes were already loaded into the table is skipped;
- money is exact: a value with more decimal places than its column holds is refused,
  never rounded;
- the loader may load the table (kpi.core.permissions.may_load: the same people as the
  page that writes it), or nothing is loaded; every load records who (see
  kpi.ingest.loader), the file's own name and its content hash in `loads`;
- finance's verdict on savings initiatives never comes from a file, and loads of
  savings_initiatives and price_outlook write their audit logs (kpi.ingest.audited).

Row numbers count data rows from 1 (the header is not a row); for CSV and Excel the reason
also gives the line (Excel: the sheet row) the row sits on, assuming one header line.
Duplicates inside a file: the first row with a key wins, later ones are rejected as
duplicates of it (even when that first row was itself rejected for another reason). Across
files of one command, the later file wins (the same upsert as between commands).

Checking is vectorised (polars expressions over batches of rows, never a Python loop over
rows), and big files stream through in batches so memory stays flat.

This module orchestrates; the parts live beside it: `readers` (files as rows of text),
`matching` (file columns onto table columns), `validation` (checking rows), `loading` (the
writes and the `loads`/`rejects` bookkeeping) and `report` (`LoadReport`, `LoadRefused`).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from kpi.core.permissions import require_table_loader
from kpi.ingest.loader import Loader
from kpi.ingest.loading import load_file, loaded_hashes, loaded_hashes_in
from kpi.ingest.mappings import Mapping, MappingError, find_mapping
from kpi.ingest.matching import Plan, plan_for
from kpi.ingest.readers import Progress, Source
from kpi.ingest.report import UNCHANGED, FileResult, LoadRefused, LoadReport
from kpi.ingest.sandbox import open_bounded
from kpi.ingest.upload_checks import check_files
from kpi.store.database import CopyAhead, Store
from kpi.store.schema import TABLES, Table

__all__ = ["UNCHANGED", "FileResult", "LoadRefused", "LoadReport", "load_files"]


# ---- the entry point ---------------------------------------------------------------------
def load_files(
    store: Store,
    table: str,
    files: list[Path],
    mapping: str | None = None,
    mapping_file: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
    loader: Loader | None = None,
    file_names: list[str] | None = None,
    ahead: CopyAhead | None = None,
) -> LoadReport:
    """Load `files` into the canonical `table` in one transaction and report per file.

    Raises LoadRefused (and loads nothing) when the table or mapping is unknown, or any
    file cannot be read or lacks a required column; PermissionDenied when the loader's
    person may not load the table. With `force`, files whose bytes were loaded before are
    loaded again (after a mapping was corrected, for example).

    `loader` is who the load is recorded against; None means the computer's operator (the
    OS user calling the library or the command line, who could write the store file
    anyway). `file_names` are the files' own names when the paths are temporary copies (an
    upload), one per file. `ahead` is the store's copy begun by the caller (the command
    line, while it imports and reads), inside whose block this runs; without it, the copy
    begins here, before the files are read.
    """
    if not files:
        raise LoadRefused("no files given to load")
    loader = loader or Loader.operator()
    if not loader.is_operator:
        require_table_loader(loader.person, table)
    if file_names is not None and len(file_names) != len(files):
        raise ValueError("give one file name per file")
    # type check (and the size limit when KPI_MAX_UPLOAD_MB is set) before reading; the
    # app's uploads went through load_upload, which always applies the limit
    check_files(files, error=LoadRefused, command_line=True)
    say = progress or (lambda _message: None)
    spec = _table(table)
    chosen = _mapping(table, mapping, mapping_file)
    names: list[str | None] = list(file_names) if file_names else [None] * len(files)
    results = [FileResult(Path(f), file_name=n) for f, n in zip(files, names, strict=True)]
    report = LoadReport(spec.name, results)
    with ExitStack() as cleanup:
        if ahead is None:  # the store's copy for the write begins now, while the files are
            # read and checked (most of a small load into a big store); stopped if no write
            ahead = cleanup.enter_context(store.copy_ahead())
        sources: list[Source] = []
        plans: list[Plan] = []
        for f in files:  # each file refused (or not) before the next is read
            # read in a child process under a memory and time limit (kpi/ingest/sandbox.py)
            sources.append(open_bounded(Path(f), chosen, cleanup, say))
            plans.append(plan_for(sources[-1], spec, chosen))
        known = {} if force else loaded_hashes(store, spec, sources)
        if not force and all(s.content_hash in known for s in sources):
            _mark_unchanged(report, sources, known)
            return report
        say(f"Writing to the store {store.location} ...")
        with store.write(ahead=ahead) as con:
            con.execute("SET preserve_insertion_order = false")  # twice as fast inserts
            known = {} if force else loaded_hashes_in(con, spec, sources)
            for source, plan, result in zip(sources, plans, report.files, strict=True):
                if source.content_hash in known:
                    result.status, result.previous_load_id = UNCHANGED, known[source.content_hash]
                    continue
                window = store.settings.savings_window_months
                load_file(con, source, plan, chosen, result, say, loader, window)
                known[source.content_hash] = result.load_id or 0
            # the table changed only by the upserted rows of these loads: the rollups apply
            # that change rather than recompute the months it reaches
            store.declare(spec.name, tuple(r.load_id for r in report.files if r.load_id))
            say("Committing ...")
    return report


def _table(name: str) -> Table:
    if name not in TABLES:
        raise LoadRefused(f"'{name}' is not a canonical table; tables: {', '.join(TABLES)}")
    return TABLES[name]


def _mapping(table: str, name: str | None, path: Path | None) -> Mapping | None:
    try:
        return find_mapping(table, name, path)
    except MappingError as exc:
        raise LoadRefused(str(exc)) from exc


def _mark_unchanged(report: LoadReport, sources: list[Source], known: dict[str, int]) -> None:
    for source, result in zip(sources, report.files, strict=True):
        result.status, result.previous_load_id = UNCHANGED, known[source.content_hash]
