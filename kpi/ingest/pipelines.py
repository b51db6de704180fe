"""The load pipeline: read CSV, Excel or Parquet files, map them onto a canonical table,
check every row, and load the good rows (and the reasons for the bad ones) in one transaction.

Contracts (DESIGN.md, "Pipelines"):

- a file that cannot be read, or lacks a required column, is refused whole (`LoadRefused`)
  and nothing of the command lands;
- for every file, rows in = rows loaded + rows rejected; each rejected row is kept in
  `rejects` with its row number, the original row as JSON and every reason it was refused;
- rows are upserted by the table's natural key, so loading a corrected file replaces the
  rows it repeats; a file whose bytes were already loaded into the table is skipped;
- money is exact: a value with more decimal places than its column holds is refused,
  never rounded.

Row numbers count data rows from 1 (the header is not a row); for CSV and Excel the reason
also gives the line (Excel: the sheet row) the row sits on, assuming one header line.
Duplicates inside a file: the first row with a key wins, later ones are rejected as
duplicates of it (even when that first row was itself rejected for another reason). Across
files of one command, the later file wins (the same upsert as between commands).

Checking is vectorised (polars expressions over batches of rows, never a Python loop over
rows), and big files stream through in batches so memory stays flat.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from kpi.ingest.mappings import Mapping, MappingError, find_mapping
from kpi.ingest.upload_checks import check_files, utf16_without_bom
from kpi.store.database import Store
from kpi.store.schema import CURRENCIES, DECIMAL_PLACES, TABLES, TEXT_MAX_CHARS, Column, Table

Progress = Callable[[str], None]

BATCH_ROWS = 1_000_000  # rows checked and written at a time: bounds memory on big files
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
LOADED, UNCHANGED = "loaded", "unchanged (already loaded)"

_ROW = "_kpi_row"  # 1-based data row number, carried through every frame
_S = "_kpi_s:"  # prefix of a canonical column's cleaned source text


class LoadRefused(Exception):
    """A file (or the whole command) cannot be loaded; nothing of the command was loaded."""


# ---- the report --------------------------------------------------------------------------
@dataclass
class FileResult:
    """What happened to one file of a load."""

    file: Path
    status: str = LOADED
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    replaced: int = 0  # rows already in the store that this file's rows replaced (same key)
    amount: Decimal | None = None  # total `amount` of the loaded rows (tables with amount)
    load_id: int | None = None
    previous_load_id: int | None = None  # when unchanged: the load that brought these bytes
    ignored_columns: list[str] = field(default_factory=list)  # file columns no table column uses


@dataclass
class LoadReport:
    """The outcome of one `load_files` call: one result per file, in the order given.

    A file reported unchanged counts 0 rows in, loaded and rejected in this report: this
    command did nothing with it (its earlier load is named by `previous_load_id`).
    """

    table: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def replaced(self) -> int:
        return sum(f.replaced for f in self.files)

    @property
    def amount(self) -> Decimal | None:
        amounts = [f.amount for f in self.files if f.amount is not None]
        return sum(amounts, Decimal("0.00")) if amounts else None

    def as_table(self) -> str:
        """Rows in / loaded / rejected per file and in total, as plain aligned text."""
        with_amount = "amount" in TABLES[self.table].column_names
        head = ["file", "status", "rows in", "loaded", "rejected", "replaced"]
        head += ["amount"] if with_amount else []
        rows = [_report_row(str(f.file), f.status, f, with_amount) for f in self.files]
        n = len(self.files)
        rows.append(_report_row(f"total ({n} file{'s' * (n != 1)})", "", self, with_amount))
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [_align(head, widths)] + [_align(r, widths) for r in rows]
        lines.insert(-1, "-" * len(lines[0]))
        notes = [
            f"{f.file}: these bytes were loaded before (load {f.previous_load_id}); skipped"
            for f in self.files
            if f.status == UNCHANGED
        ]
        notes += [
            f"{f.file}: column(s) not loaded, no {self.table} column has their name: "
            + ", ".join(f.ignored_columns)
            for f in self.files
            if f.ignored_columns and f.status != UNCHANGED
        ]
        if self.rows_rejected:
            notes.append(
                f"{self.rows_rejected} rejected row(s) are kept with their reasons in the "
                "store's `rejects` table."
            )
        return "\n".join([f"Table {self.table}:", *lines, *notes])


def _report_row(name: str, status: str, r: FileResult | LoadReport, amount: bool) -> list[str]:
    cells = [name, status, str(r.rows_in), str(r.rows_loaded), str(r.rows_rejected)]
    cells.append(str(r.replaced))
    if amount:
        cells.append("" if r.amount is None else f"{r.amount:.2f}")
    return cells


def _align(cells: list[str], widths: list[int]) -> str:
    left = [c.ljust(w) for c, w in zip(cells[:2], widths[:2], strict=True)]
    right = [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
    return "  ".join(left + right).rstrip()


# ---- the entry point ---------------------------------------------------------------------
def load_files(
    store: Store,
    table: str,
    files: list[Path],
    mapping: str | None = None,
    mapping_file: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> LoadReport:
    """Load `files` into the canonical `table` in one transaction and report per file.

    Raises LoadRefused (and loads nothing) when the table or mapping is unknown, or any
    file cannot be read or lacks a required column. With `force`, files whose bytes were
    loaded before are loaded again (after a mapping was corrected, for example).
    """
    if not files:
        raise LoadRefused("no files given to load")
    # type check (and the size limit when KPI_MAX_UPLOAD_MB is set) before reading; the
    # app's uploads went through load_upload, which always applies the limit
    check_files(files, error=LoadRefused, command_line=True)
    say = progress or (lambda _message: None)
    spec = _table(table)
    chosen = _mapping(table, mapping, mapping_file)
    report = LoadReport(spec.name, [FileResult(Path(f)) for f in files])
    with ExitStack() as cleanup:
        sources = [_open_source(Path(f), spec, chosen, cleanup, say) for f in files]
        known = {} if force else _loaded_hashes(store, spec, sources)
        if not force and all(s.content_hash in known for s in sources):
            _mark_unchanged(report, sources, known)
            return report
        say(f"Writing to the store {store.path} ...")
        with store.write() as con:
            con.execute("SET preserve_insertion_order = false")  # twice as fast inserts
            known = {} if force else _loaded_hashes_in(con, spec, sources)
            for source, result in zip(sources, report.files, strict=True):
                if source.content_hash in known:
                    result.status, result.previous_load_id = UNCHANGED, known[source.content_hash]
                    continue
                _load_file(con, source, spec, chosen, result, say)
                known[source.content_hash] = result.load_id or 0
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


def _mark_unchanged(report: LoadReport, sources: list[_Source], known: dict[str, int]) -> None:
    for source, result in zip(sources, report.files, strict=True):
        result.status, result.previous_load_id = UNCHANGED, known[source.content_hash]


def _loaded_hashes(store: Store, spec: Table, sources: list[_Source]) -> dict[str, int]:
    """Hashes already loaded into the table, looked up without taking the writer (a shortcut:
    the authoritative look-up runs again inside the write)."""
    if not store.exists():
        return {}
    try:
        with store.read() as con:
            return _loaded_hashes_in(con, spec, sources)
    except Exception:  # an unreadable store is the writer's business; it reports it
        return {}


def _loaded_hashes_in(con: duckdb.DuckDBPyConnection, spec: Table, sources: list[_Source]):
    hashes = sorted({s.content_hash for s in sources})
    rows = con.execute(
        "SELECT content_hash, min(load_id) FROM loads WHERE table_name = ? AND status = ? "
        "AND list_contains(?, content_hash) GROUP BY content_hash",
        [spec.name, LOADED, hashes],
    ).fetchall()
    return {h: int(i) for h, i in rows}


# ---- reading files -----------------------------------------------------------------------
@dataclass
class _Source:
    """One readable file: its header, its hash, and a way to stream its rows as text."""

    path: Path
    kind: str  # "CSV" | "Excel" | "Parquet"
    columns: list[str]
    content_hash: str
    batches: Callable[[], Iterator[pl.DataFrame]]  # raw text rows with _ROW
    line_label: str | None  # "line" / "sheet row": where a data row sits in the file
    plan: _Plan | None = None
    first_rows: list[list[str]] = field(default_factory=list)  # as written, header first
    header_at: str = "line 1"  # where the header sits, for messages
    hint: str = ""  # added to a missing-column refusal (e.g. the workbook's other sheets)


def _open_source(
    path: Path, spec: Table, mapping: Mapping | None, cleanup: ExitStack, say: Progress
) -> _Source:
    """Check that a file can be read and has the table's required columns; refuse it if not."""
    if not path.is_file():
        raise LoadRefused(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    suffix = path.suffix.lower()
    say(f"Reading {path} ({_size(path)}) ...")
    content_hash = _sha256(path)
    if suffix in CSV_SUFFIXES:
        source = _open_csv(path, mapping, cleanup, content_hash)
    elif suffix in EXCEL_SUFFIXES:
        source = _open_excel(path, mapping, content_hash)
    elif suffix in PARQUET_SUFFIXES:
        source = _open_parquet(path, content_hash)
    else:
        raise LoadRefused(
            f"{path}: cannot tell the format from the extension '{path.suffix}'; "
            "name the file .csv (or .txt/.tsv), .xlsx or .parquet"
        )
    source.plan = _plan(source, spec, mapping)
    return source


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size:,} bytes"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


_MAGIC = {b"PK\x03\x04": "an Excel (.xlsx) or zip file", b"PAR1": "a Parquet file"}
_BOMS = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}


def _open_csv(path: Path, mapping: Mapping | None, cleanup: ExitStack, content_hash: str):
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        raise LoadRefused(f"{path} is empty: a CSV file needs at least a header row")
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise LoadRefused(f"{path} is {what}, not CSV text; give it the right extension")
    encoding = _csv_encoding(head, mapping)
    if b"\x00" in head and not encoding.startswith("utf-16"):
        if utf16 := utf16_without_bom(head):
            raise LoadRefused(
                f"{path} looks like {utf16.upper()} text without a byte-order mark; set "
                f"`encoding: {utf16}` in its mapping (or save the file as UTF-8)"
            )
        raise LoadRefused(f"{path} is not a text (CSV) file: it holds binary data")
    text_path = path if encoding == "utf-8" else _transcode(path, encoding, cleanup)
    separator = (mapping.delimiter if mapping else None) or (
        "\t" if path.suffix.lower() == ".tsv" else ","
    )
    options = {"separator": separator, "infer_schema": False, "encoding": "utf8"}
    try:
        columns = pl.read_csv(text_path, n_rows=0, **options).columns
    except Exception as exc:  # noqa: BLE001 - any parser error means: cannot read it
        raise LoadRefused(_csv_problem(path, exc, encoding, separator)) from exc

    def batches() -> Iterator[pl.DataFrame]:
        try:
            yield from _csv_batches(text_path, options)
        except pl.exceptions.PolarsError as exc:
            problem = _csv_problem(path, exc, encoding, separator)
            if "more fields" in str(exc):
                problem += _long_line(text_path, separator, len(columns))
            raise LoadRefused(problem) from exc

    source = _Source(path, "CSV", columns, content_hash, batches, "line")
    source.first_rows = _first_lines(text_path, separator)
    return source


def _first_lines(path: Path, separator: str, count: int = 10) -> list[list[str]]:
    """The first lines of a UTF-8 CSV file split into fields, as written (no renaming);
    at most its first megabyte is read, however long its lines."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        lines = fh.read(1 << 20).splitlines(keepends=True)[:count]
    rows = list(csv.reader(lines, delimiter=separator))
    if rows and rows[0]:
        rows[0][0] = rows[0][0].lstrip("\ufeff")
    return rows


def _csv_batches(path: Path, options: dict) -> Iterator[pl.DataFrame]:
    """A CSV file's rows, BATCH_ROWS at a time, numbered from 1: polars' streaming reader
    parses ahead on its own threads while the batch before is checked and written."""
    frame = pl.scan_csv(path, **options).with_row_index(_ROW, offset=1)
    yield from frame.collect_batches(chunk_size=BATCH_ROWS)


def _csv_encoding(head: bytes, mapping: Mapping | None) -> str:
    """The file's text encoding: a byte-order mark wins, then the mapping, then UTF-8."""
    for bom, name in _BOMS.items():
        if head.startswith(bom):
            return name
    wanted = (mapping.encoding if mapping else None) or "utf-8"
    return "utf-8" if wanted in ("utf-8", "utf-8-sig") else wanted


def _transcode(path: Path, encoding: str, cleanup: ExitStack) -> Path:
    """A UTF-8 copy of a file in another encoding (in a temporary folder), chunk by chunk."""
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="kpi-load-")))
    target = folder / (path.stem + ".utf8.csv")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as out:
        while True:
            chunk = src.read(1 << 22)
            try:
                out.write(decoder.decode(chunk, final=not chunk))
            except UnicodeDecodeError as exc:
                raise LoadRefused(
                    f"{path} is not valid {encoding} text (byte 0x{chunk[exc.start]:02x} at "
                    f"offset {offset + exc.start:,}); check `encoding` in the mapping"
                ) from exc
            if not chunk:
                return target
            offset += len(chunk)


def _csv_problem(path: Path, exc: Exception, encoding: str, separator: str) -> str:
    text = str(exc)
    if isinstance(exc, pl.exceptions.NoDataError) or "empty CSV" in text:
        return f"{path} is empty: a CSV file needs at least a header row"
    if "utf-8" in text.lower() or "utf8" in text.lower():
        return (
            f"{path} is not valid UTF-8 text{_first_bad_byte(path, separator)}; if it was "
            "saved by Excel or SAP on Windows, set `encoding: cp1252` in its mapping"
        )
    if "more fields" in text:
        return (
            f"{path}: a row has more fields than the header; check the delimiter "
            f"({separator!r}) and the quotes, or set `delimiter` in the mapping"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{path} cannot be read as {encoding} CSV delimited by {separator!r}: {first}"


def _first_bad_byte(path: Path, separator: str) -> str:
    """' (line N, column C: byte 0xNN)' for the first byte that is not UTF-8; '' if none.
    The column is judged by counting delimiters on the line (quotes are not followed)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line, header, current = 1, b"", b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                start = max(exc.start - len(decoder.getstate()[0]), 0)
                before = chunk[:start]
                break
            line += chunk.count(b"\n")
            current = (current + chunk).rsplit(b"\n", 1)[-1][-(1 << 16) :]
            header = header or chunk.split(b"\n", 1)[0]
        else:
            return ""
    line += before.count(b"\n")
    current = (current + before).rsplit(b"\n", 1)[-1]
    header = header or chunk.split(b"\n", 1)[0]
    names = header.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r").split(separator)
    field_no = current.count(separator.encode())
    column = names[field_no].strip().strip('"') if field_no < len(names) else f"{field_no + 1}"
    return f" (line {line:,}, column {column}: byte 0x{chunk[start]:02x})"


def _long_line(path: Path, separator: str, fields: int) -> str:
    """' (line N has K fields, the header M)' for the first line with too many fields, judged
    by counting delimiters (a delimiter inside quotes counts too); '' when none is found."""
    try:
        lines = pl.scan_csv(
            path,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            infer_schema=False,
            new_columns=["text"],
            truncate_ragged_lines=True,
        )
        long = (
            lines.with_row_index("line", offset=1)
            .with_columns(pl.col("text").str.count_matches(separator, literal=True) + 1)
            .filter(pl.col("text") > fields)
            .head(1)
            .collect()
        )
    except pl.exceptions.PolarsError:
        return ""
    if long.height == 0:
        return ""
    line, found = long.row(0)
    return f" (line {line:,} has {found} fields, the header {fields})"


_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00(?:\.0+)?$"


def _open_excel(path: Path, mapping: Mapping | None, content_hash: str) -> _Source:
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        names = reader.sheet_names
        sheet = mapping.sheet if mapping and mapping.sheet is not None else 0
        if (isinstance(sheet, int) and not 0 <= sheet < len(names)) or (
            isinstance(sheet, str) and sheet not in names
        ):
            raise LoadRefused(f"{path} has no sheet {sheet!r}; sheets: {', '.join(names)}")
        frame = reader.load_sheet(sheet, dtypes="string").to_polars()
    except LoadRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - calamine's errors all mean: cannot read it
        raise LoadRefused(f"{path} cannot be read as an Excel workbook: {exc}") from exc
    # date cells arrive as "2026-01-05 00:00:00": a date, written the ISO way
    frame = frame.rename({c: str(c) for c in frame.columns}).with_columns(
        pl.all().cast(pl.String).str.replace(_MIDNIGHT, "$1")
    )

    def batches() -> Iterator[pl.DataFrame]:
        yield frame.with_row_index(_ROW, offset=1)

    source = _Source(path, "Excel", frame.columns, content_hash, batches, "sheet row")
    shown = sheet if isinstance(sheet, str) else names[sheet]
    source.header_at = f"sheet '{shown}' row 1"
    source.first_rows = _first_sheet_rows(reader, sheet)
    if len(names) > 1:
        source.hint = (
            f" (read sheet '{shown}' of {len(names)}: {', '.join(names)}; name the sheet "
            "holding the data with `sheet:` in the mapping)"
        )
    return source


def _first_sheet_rows(reader, sheet: str | int, count: int = 10) -> list[list[str]]:
    """A sheet's first rows as written (the header not renamed), for messages."""
    try:
        top = reader.load_sheet(sheet, header_row=None, n_rows=count, dtypes="string")
    except Exception:  # noqa: BLE001 - only used to explain a refusal
        return []
    return [["" if v is None else str(v) for v in row] for row in top.to_polars().rows()]


def _open_parquet(path: Path, content_hash: str) -> _Source:
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # noqa: BLE001 - damaged or not Parquet at all
        raise LoadRefused(f"{path} cannot be read as Parquet (damaged or not Parquet)") from exc
    as_text = [_parquet_text(path, name, dtype) for name, dtype in schema.items()]

    def batches() -> Iterator[pl.DataFrame]:
        frame = pl.scan_parquet(path).select(as_text).with_row_index(_ROW, offset=1)
        try:
            yield from frame.collect_batches(chunk_size=BATCH_ROWS)
        except pl.exceptions.PolarsError as exc:
            raise LoadRefused(f"{path} cannot be read as Parquet: {exc}") from exc

    return _Source(path, "Parquet", list(schema), content_hash, batches, None)


def _parquet_text(path: Path, name: str, dtype: pl.DataType) -> pl.Expr:
    """A Parquet column as the text a CSV would hold (dates ISO, midnight datetimes as dates)."""
    col = pl.col(name)
    if dtype.is_nested() or dtype == pl.Binary or dtype == pl.Object:
        raise LoadRefused(f"{path}: column '{name}' holds {dtype}, not plain values")
    if isinstance(dtype, pl.Datetime):
        midnight = col.dt.time() == pl.time(0)
        text = pl.when(midnight).then(col.dt.date().cast(pl.String))
        return text.otherwise(col.dt.to_string("%Y-%m-%d %H:%M:%S")).alias(name)
    return col.cast(pl.String).alias(name)


# ---- mapping a file onto a table ---------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """Where each canonical column of one file comes from, and how to read its values."""

    table: Table
    sources: dict[str, str]  # canonical column -> file column
    constants: dict[str, str]  # canonical column -> constant text
    number_lines: bool  # the table's line column is numbered per document, in file order
    date_format: str | None
    decimal_comma: bool
    latest_event: date = date.max  # event dates (invoice_date...) later than this are typos


def _plan(source: _Source, spec: Table, mapping: Mapping | None) -> _Plan:
    """Match the file's columns to the table's; refuse the file when a required one is absent."""
    wanted = dict(mapping.columns) if mapping else {}
    constants = dict(mapping.constants) if mapping else {}
    found: dict[str, str] = {}
    missing: list[str] = []
    for col in spec.column_names:
        if col in constants:
            continue
        _refuse_repeated_column(source, wanted.get(col, col), col)
        name = _find_column(source, wanted.get(col, col))
        if name is not None:
            found[col] = name
        elif col in wanted or col in spec.required_columns:
            missing.append(col)
    if missing:
        raise LoadRefused(_missing_message(source, missing, wanted))
    line = spec.line_column
    number_lines = line is not None and line not in found and line not in constants
    return _Plan(
        spec,
        found,
        constants,
        number_lines,
        mapping.date_format if mapping else None,
        mapping.decimal_comma if mapping else False,
        date.today() + timedelta(days=FUTURE_DAYS),
    )


def _find_column(source: _Source, name: str) -> str | None:
    """The file's column called `name`: exactly, else ignoring case and surrounding spaces."""
    if name in source.columns:
        return name
    key = name.strip().lower()
    matches = [c for c in source.columns if c.strip().strip("\ufeff").strip().lower() == key]
    if len(matches) > 1:
        raise LoadRefused(f"{source.path}: several columns are named '{name}': {matches}")
    return matches[0] if matches else None


def _normal(name: str) -> str:
    return name.strip().strip("\ufeff").strip().lower()


def _refuse_repeated_column(source: _Source, name: str, col: str) -> None:
    """Refuse a file whose header names the column wanted more than once: which of them
    holds the values cannot be told, and taking the first would be a silent guess."""
    header = source.first_rows[0] if source.first_rows else source.columns
    places = [n for n, h in enumerate(header, start=1) if _normal(h) == _normal(name)]
    if len(places) > 1:
        where = " and ".join(f"{n} ('{header[n - 1]}')" for n in places)
        raise LoadRefused(
            f"{source.path}, header ({source.header_at}): columns {where} are all named "
            f"'{name}', so which one holds {col} cannot be told; rename or delete the others"
        )


def _missing_message(source: _Source, missing: list[str], wanted: dict[str, str]) -> str:
    named = [f"{c} (mapped from '{wanted[c]}')" if c in wanted else c for c in missing]
    shown = ", ".join(repr(c) for c in source.columns[:40]) or "none (no header row)"
    more = f" and {len(source.columns) - 40} more" if len(source.columns) > 40 else ""
    hint = source.hint + _header_further_down(source, [wanted.get(c, c) for c in missing])
    one = len(source.columns) == 1 and re.search(r"[;\t|,]", source.columns[0])
    if source.kind == "CSV" and one:
        hint += " (one column only: is the delimiter right? set `delimiter` in the mapping)"
    return (
        f"{source.path}, header ({source.header_at}): missing required "
        f"column{'s' * (len(missing) > 1)} {', '.join(named)}; columns found: "
        f"{shown}{more}{hint}"
    )


def _header_further_down(source: _Source, names: list[str]) -> str:
    """' (the column names are on line 3: ...)' when a later row holds every missing name,
    as when a title (often merged cells) sits above the header."""
    wanted = {_normal(n) for n in names}
    for number, row in enumerate(source.first_rows[1:], start=2):
        if wanted <= {_normal(v) for v in row}:
            return (
                f" (the column names are on {source.line_label} {number}: delete the "
                f"{number - 1} title row{'s' * (number > 2)} above them and load again)"
            )
    return ""


# ---- checking rows -----------------------------------------------------------------------
_TYPES: dict[str, pl.DataType] = {
    "money": pl.Decimal(18, 2),
    "price": pl.Decimal(18, 4),
    "qty": pl.Decimal(18, 3),
    "pct": pl.Decimal(9, 4),
    "rate": pl.Decimal(18, 8),
}
_BOOLS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "y": True,
    "n": False,
}
_SORTED_CURRENCIES = sorted(CURRENCIES)
_EARLIEST, _LATEST = date(1900, 1, 1), date(2199, 12, 31)  # outside: a typo, not a date
# Dates of things that happened: later than FUTURE_DAYS from today, they are typos (2062 for
# 2026). Due, promised, contract and planning dates may lie far ahead and are not limited.
FUTURE_DAYS = 92
EVENT_DATES = frozenset(
    ["invoice_date", "paid_date", "po_date", "approved_date", "receipt_date", "snapshot_date"]
    + ["last_issue_date"]
)
# An id column that must name a row of its master table, once that table holds any rows
# (before the first supplier is loaded, an invoice's supplier cannot be judged).
REFERENCES = {"supplier_id": "suppliers", "item_id": "items"}
_HAS_FAST_PATH = set(_TYPES) | {"int"}


def _cleaned(plan: _Plan, col: str) -> pl.Expr:
    """A canonical column's text: trimmed (no-break spaces too), empty as missing."""
    if col in plan.constants:
        text = pl.lit(plan.constants[col], pl.String)
    elif col in plan.sources:
        text = pl.col(plan.sources[col]).cast(pl.String)
    else:
        return pl.lit(None, pl.String).alias(_S + col)
    return text.str.strip_chars().replace("", None).alias(_S + col)


def _number_text(s: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """'1.234,56' / '1,234.56' / '12.5-' as '1234.56' / '-12.5'; missing when not a number."""
    group, point = (".", ",") if decimal_comma else (",", ".")
    g, p = re.escape(group), re.escape(point)
    number = rf"(?:(?:\d+|\d{{1,3}}(?:{g}\d{{3}})+)(?:{p}\d*)?|{p}\d+)"
    shaped = s.str.contains(rf"^(?:[+-]?{number}|{number}-)$")
    text = s.str.replace_all(group, "", literal=True)
    if decimal_comma:
        text = text.str.replace(",", ".", literal=True)
    trailing_minus = text.str.ends_with("-")
    text = pl.when(trailing_minus).then("-" + text.str.strip_suffix("-")).otherwise(text)
    return pl.when(shaped).then(text)


def _fits(kind: str) -> str:
    """Pattern of a normalised number that fits the kind's DECIMAL(p, s) without rounding."""
    dtype = _TYPES[kind]
    places = DECIMAL_PLACES[kind]
    whole = dtype.precision - places  # type: ignore[attr-defined]
    return rf"^[+-]?0*\d{{0,{whole}}}(?:\.\d{{0,{places}}}0*)?$"


def _typed(col: Column, s: pl.Expr, plan: _Plan, fast: bool = False) -> pl.Expr:
    """The column's value in its canonical type; missing when the text does not qualify.

    `fast` reads numbers the way most files write them ('-1234.5'; '1234,5' with a decimal
    comma) and whole numbers without decoration; a value written otherwise comes out
    missing, and the caller then reads the column again without `fast`.
    """
    kind = col.kind
    if kind in _TYPES:
        if fast and plan.decimal_comma:  # '1234,5' only: a point is a thousands separator
            text = pl.when(~s.str.contains(".", literal=True)).then(s.str.replace(",", "."))
        elif fast:
            text = s
        else:
            text = _number_text(s, plan.decimal_comma)
        value = pl.when(text.str.contains(_fits(kind))).then(text)
        return value.cast(_TYPES[kind], strict=False)
    if kind == "int":
        if fast:
            return s.cast(pl.Int32, strict=False)
        whole = pl.when(s.str.contains(r"^[+-]?\d{1,12}(?:\.0*)?$")).then(
            s.str.replace(r"\.0*$", "")
        )
        return whole.cast(pl.Int32, strict=False)
    if kind == "date":
        value = s.str.to_date("%Y-%m-%d", strict=False)
        if plan.date_format:
            value = pl.coalesce(s.str.to_date(plan.date_format, strict=False), value)
        return pl.when(value.is_between(_EARLIEST, _LATEST)).then(value)
    if kind == "bool":
        return s.str.to_lowercase().replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
    if kind == "currency":
        upper = s.str.to_uppercase()
        return pl.when(upper.is_in(_SORTED_CURRENCIES)).then(upper)
    if kind == "month":
        return pl.when(s.str.contains(r"^\d{4}-(?:0[1-9]|1[0-2])$")).then(s)
    if kind == "quarter":
        upper = s.str.to_uppercase()
        return pl.when(upper.str.contains(r"^FY\d{4}-Q[1-4]$")).then(upper)
    if col.choices:
        lower = s.str.to_lowercase()
        return pl.when(lower.is_in(list(col.choices))).then(lower)
    return s


Known = dict[str, pl.Series]  # referring column -> the ids its master table holds


def _bad(col: Column, s: pl.Expr, value: pl.Expr, plan: _Plan, known: Known) -> pl.Expr:
    """True where the column makes its row unloadable."""
    bad = s.is_not_null() & value.is_null()
    if col.required:
        bad = bad | s.is_null()
    if col.nonneg:
        bad = bad | (value < 0).fill_null(False)
    for broken, _reason_text in _limits(col, s, value, plan, known):
        bad = bad | broken.fill_null(False)
    return bad


def _problem(col: Column, s: pl.Expr, value: pl.Expr, plan: _Plan, known: Known) -> pl.Expr:
    """What is wrong with the column on a rejected row, in words (missing when nothing)."""

    def says(text: str) -> pl.Expr:
        return _says(col, s, text)

    missing = pl.lit(f"{col.name} is missing")
    out = pl.when(s.is_null()).then(missing if col.required else None)
    if col.kind in _TYPES:
        text = _number_text(s, plan.decimal_comma)
        places = DECIMAL_PLACES[col.kind]
        fraction = text.str.extract(r"\.(\d*?)0*$").str.len_chars().fill_null(0)
        if not plan.decimal_comma:
            comma = text.is_null() & s.str.contains(_DECIMAL_COMMA)
            out = out.when(comma).then(says(f"is not a number ({_COMMA_HINT})"))
        out = out.when(text.is_null()).then(says("is not a number"))
        out = out.when(fraction > places).then(says(f"has more than {places} decimal places"))
        out = out.when(value.is_null()).then(says("is too large"))
    else:
        if col.kind == "date" and not plan.date_format:
            either = value.is_null() & s.str.contains(_DAY_OR_MONTH_FIRST)
            out = out.when(either).then(says(f"is not a date (expected YYYY-MM-DD; {_ORDER_HINT})"))
        out = out.when(value.is_null()).then(says(_expected(col, plan)))
    if col.nonneg:
        out = out.when(value < 0).then(says("is negative (must be 0 or more)"))
    for broken, reason in _limits(col, s, value, plan, known):
        out = out.when(broken).then(reason)
    return out.otherwise(None)


_DECIMAL_COMMA = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+-?$"  # 12,50 / 1.234,56 / 250,00-
_COMMA_HINT = "a decimal comma? set `decimal_comma: true` in the mapping"
_DAY_OR_MONTH_FIRST = r"^(?:0?[1-9]|1[0-2])[./-](?:0?[1-9]|1[0-2])[./-]\d{2,4}$"  # 03/04/2026
_ORDER_HINT = "day or month first cannot be told: set date_format in the mapping, e.g. '%d/%m/%Y'"
_SHOWN_CHARS = 80  # a value quoted in a reason is cut to this, with '...' saying so


def _says(col: Column, s: pl.Expr, text: str) -> pl.Expr:
    """ "<column> '<value>' <text>", a very long value shown by its start."""
    shown = pl.when(s.str.len_chars() > _SHOWN_CHARS).then(
        s.str.slice(0, _SHOWN_CHARS - 3) + pl.lit("...")
    )
    quoted = pl.lit("'") + shown.otherwise(s) + pl.lit("'")
    return pl.concat_str(pl.lit(f"{col.name} "), quoted, pl.lit(f" {text}"))


def _limits(
    col: Column, s: pl.Expr, value: pl.Expr, plan: _Plan, known: Known
) -> list[tuple[pl.Expr, pl.Expr]]:
    """Rules beyond the column's type, as (where broken, the reason): a text too long to be
    one value, an event date too far ahead to have happened, an id its master table lacks."""
    rules = []
    if col.kind == "text":
        length = s.str.len_chars()
        too_long = pl.concat_str(
            pl.lit(f"{col.name} is "),
            _thousands(length),
            pl.lit(f" characters long (at most {TEXT_MAX_CHARS:,}; nothing is cut)"),
        )
        rules.append((length > TEXT_MAX_CHARS, too_long))
    if col.name in EVENT_DATES:
        limit = plan.latest_event.isoformat()
        ahead = f"is too far in the future (after {limit}, {FUTURE_DAYS} days from today)"
        rules.append((value > plan.latest_event, _says(col, s, ahead)))
    if col.name in known:
        master = REFERENCES[col.name]
        unknown = s.is_not_null() & ~s.is_in(known[col.name].implode())
        hint = f"is not in the {master} table (load it there first, then this file with --force)"
        rules.append((unknown, _says(col, s, hint)))
    return rules


def _expected(col: Column, plan: _Plan) -> str:
    if col.kind == "date":
        fmt = plan.date_format
        human = _human_date_format(fmt) if fmt else "YYYY-MM-DD"
        return f"is not a date (expected {human})"
    return {
        "int": "is not a whole number",
        "bool": "is not a yes/no value (expected true/false, yes/no, y/n or 1/0)",
        "currency": "is not a known ISO 4217 currency code (e.g. EUR, USD)",
        "month": "is not a month (expected YYYY-MM)",
        "quarter": "is not a fiscal quarter (expected e.g. FY2026-Q1)",
    }.get(col.kind) or f"is not one of {', '.join(col.choices)}"


def _human_date_format(fmt: str) -> str:
    for code, human in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%e", "D")):
        fmt = fmt.replace(code, human)
    return fmt


# ---- one file, batch by batch ------------------------------------------------------------
@dataclass
class _FileState:
    """What one batch must know about the batches before it."""

    lines_so_far: pl.DataFrame | None = None  # document -> lines numbered so far
    seen_keys: pl.DataFrame | None = None  # key hashes -> row the key first appeared on
    store_had_rows: bool = False
    known: Known = field(default_factory=dict)  # ids the master tables hold, per column


def _load_file(
    con: duckdb.DuckDBPyConnection,
    source: _Source,
    spec: Table,
    mapping: Mapping | None,
    result: FileResult,
    say: Progress,
) -> None:
    plan = source.plan
    assert plan is not None
    started = datetime.now()
    load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchall()[0][0]
    state = _FileState(store_had_rows=_has_rows(con, spec), known=_known_ids(con, spec))
    amount = Decimal("0.00") if "amount" in spec.column_names else None
    clock = time.perf_counter()
    for raw in source.batches():
        raw = raw.filter(pl.any_horizontal(pl.exclude(_ROW).is_not_null()))  # blank lines
        try:
            valid, rejects, blank = _check_batch(raw, plan, state, source)
        except pl.exceptions.PolarsError as exc:  # e.g. a date_format polars cannot use
            first = str(exc).strip().splitlines()[0]
            raise LoadRefused(f"{source.path}: its rows cannot be checked: {first}") from exc
        result.replaced += _upsert(con, spec, valid, state.store_had_rows)
        _insert_rejects(con, load_id, rejects)
        result.rows_in += raw.height - blank
        result.rows_loaded += valid.height
        result.rows_rejected += rejects.height
        if amount is not None and valid.height:
            amount += valid.get_column("amount").sum() or Decimal(0)
        seconds = time.perf_counter() - clock
        say(f"{source.path}: {result.rows_in:,} rows checked ({seconds:.1f} s)")
    result.amount, result.load_id = amount, load_id
    used = set(plan.sources.values())
    result.ignored_columns = [c for c in source.columns if c not in used]
    message = f"{result.rows_rejected} row(s) rejected" if result.rows_rejected else None
    con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            spec.name,
            str(source.path),
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
        ],
    )
    say(
        f"{source.path}: {result.rows_loaded:,} rows loaded, {result.rows_rejected:,} rejected"
        + (f", {result.replaced:,} replaced" if result.replaced else "")
    )


def _has_rows(con: duckdb.DuckDBPyConnection, spec: Table) -> bool:
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {spec.name})").fetchall()[0][0])


def _known_ids(con: duckdb.DuckDBPyConnection, spec: Table) -> Known:
    """The ids the table's rows may refer to, per referring column (table names are ours)."""
    known: Known = {}
    for column, master in REFERENCES.items():
        if column in spec.column_names and spec.name != master:
            rows = con.execute(f"SELECT DISTINCT {column} FROM {master}").fetchall()
            if rows:
                known[column] = pl.Series(column, [r[0] for r in rows], pl.String)
    return known


def _check_batch(
    raw: pl.DataFrame, plan: _Plan, state: _FileState, source: _Source
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Split a batch of raw rows into typed rows to load and rejects with their reasons;
    also count the rows that hold nothing but spaces (they are not rows)."""
    spec = plan.table
    checked = [c for c in spec.columns if not (plan.number_lines and c.name == spec.line_column)]
    texts = raw.select(_ROW, *[_cleaned(plan, c.name) for c in spec.columns])
    typed = _typed_columns(texts, plan, checked)
    if plan.number_lines:
        typed = _number_lines(typed, spec, state)
    bad = typed.select(
        pl.any_horizontal(
            _bad(c, pl.col(_S + c.name), pl.col(c.name), plan, state.known) for c in checked
        )
    ).to_series()
    duplicate_of = _duplicate_of(typed, spec, state, plan)
    refused = bad if duplicate_of is None else bad | duplicate_of.is_not_null()
    if not refused.any():
        return typed.select(spec.column_names), _no_rejects(), 0
    valid = typed.filter(~refused).select(spec.column_names)
    bad_rows = typed.filter(refused)
    if duplicate_of is None:
        bad_rows = bad_rows.with_columns(pl.lit(None, pl.Int64).alias("_kpi_dup"))
    else:
        bad_rows = bad_rows.with_columns(duplicate_of.filter(refused).alias("_kpi_dup"))
    raw_rows = raw.filter(refused)
    spaces = raw_rows.select(
        pl.all_horizontal(pl.exclude(_ROW).str.strip_chars().fill_null("") == "")
    ).to_series()
    if spaces.any():
        bad_rows, raw_rows = bad_rows.filter(~spaces), raw_rows.filter(~spaces)
    reasons = bad_rows.select(
        pl.col(_ROW).cast(pl.Int64).alias("row_number"),
        raw_rows.select(pl.struct(pl.exclude(_ROW)).struct.json_encode())
        .to_series()
        .alias("raw_row"),
        _reason(spec, plan, checked, source, state.known).alias("reason"),
    )
    return valid, reasons, int(spaces.sum())


def _typed_columns(texts: pl.DataFrame, plan: _Plan, checked: list[Column]) -> pl.DataFrame:
    """The checked columns in their types: the fast reading first, the full one where needed."""
    typed = (
        texts.lazy()
        .with_columns(
            _typed(c, pl.col(_S + c.name), plan, fast=True).alias(c.name) for c in checked
        )
        .collect()
    )
    again = [c for c in checked if c.kind in _HAS_FAST_PATH]
    if again:
        lost = typed.select(
            (pl.col(_S + c.name).is_not_null() & pl.col(c.name).is_null()).any().alias(c.name)
            for c in again
        ).row(0, named=True)
        again = [c for c in again if lost[c.name]]
    if again:
        typed = (
            typed.lazy()
            .with_columns(_typed(c, pl.col(_S + c.name), plan).alias(c.name) for c in again)
            .collect()
        )
    return typed


def _reason(
    spec: Table, plan: _Plan, checked: list[Column], source: _Source, known: Known
) -> pl.Expr:
    problems = [_problem(c, pl.col(_S + c.name), pl.col(c.name), plan, known) for c in checked]
    key = ", ".join(spec.key)
    problems.append(
        pl.when(pl.col("_kpi_dup").is_not_null()).then(
            pl.concat_str(
                pl.lit("duplicate of row "),
                _thousands(pl.col("_kpi_dup")),
                pl.lit(f" (same {key})"),
            )
        )
    )
    where = pl.concat_str(pl.lit("row "), _thousands(pl.col(_ROW)))
    if source.line_label:
        line = _thousands(pl.col(_ROW) + 1)
        where = pl.concat_str(where, pl.lit(f" ({source.line_label} "), line, pl.lit(")"))
    return pl.concat_str(
        where, pl.lit(": "), pl.concat_str(problems, separator="; ", ignore_nulls=True)
    )


def _thousands(n: pl.Expr) -> pl.Expr:
    """1204 as '1,204' (vectorised; up to 999,999,999,999)."""
    n = n.cast(pl.Int64)

    def group(k: int) -> pl.Expr:
        return pl.concat_str(pl.lit(","), (n // 10**k % 1000).cast(pl.String).str.zfill(3))

    out = n.cast(pl.String)
    for digits in (9, 6, 3):
        head = pl.concat_str(
            [(n // 10**digits).cast(pl.String)] + [group(k) for k in range(digits - 3, -1, -3)]
        )
        out = pl.when(n >= 10**digits).then(head).otherwise(out)
    return out


def _key_hash(columns: list[str]) -> list[pl.Expr]:
    """Two independent 64-bit hashes of a key: together they stand for the key across batches
    (a false match among 10 million keys has odds below 1 in 10^24), at 16 bytes a row."""
    key = pl.struct(columns)
    return [key.hash(seed=1).alias("_kpi_h1"), key.hash(seed=2).alias("_kpi_h2")]


_HASHES = ["_kpi_h1", "_kpi_h2"]


def _number_lines(typed: pl.DataFrame, spec: Table, state: _FileState) -> pl.DataFrame:
    """Number each document's lines 1, 2, 3... in file order, continuing across batches."""
    line, doc = spec.line_column, spec.key[0]
    assert line is not None
    frame = typed.select(doc, *_key_hash([doc])).with_columns(
        pl.when(pl.col(doc).is_not_null()).then(pl.col(doc).cum_count().over(doc)).alias(line)
    )
    if state.lines_so_far is not None:
        frame = frame.join(state.lines_so_far, on=_HASHES, how="left", maintain_order="left")
        frame = frame.with_columns(pl.col(line) + pl.col("_kpi_before").fill_null(0))
    counts = (
        frame.filter(pl.col(doc).is_not_null())
        .group_by(_HASHES)
        .agg(pl.col(line).max().alias("_kpi_before"))
    )
    if state.lines_so_far is not None:
        counts = pl.concat([state.lines_so_far, counts])
        counts = counts.group_by(_HASHES).agg(pl.max("_kpi_before"))
    state.lines_so_far = counts
    return typed.with_columns(frame.get_column(line).cast(pl.Int32))


def _duplicate_of(
    typed: pl.DataFrame, spec: Table, state: _FileState, plan: _Plan
) -> pl.Series | None:
    """For each row repeating an earlier row's key (in this batch or before), that row's
    number; None when no row does."""
    key = list(spec.key)
    if plan.number_lines and key[-1] == spec.line_column:
        return None  # numbered lines make every key unique
    frame = typed.select(_ROW, *_key_hash(key))
    if any(typed.get_column(k).null_count() for k in key):
        frame = frame.filter(pl.all_horizontal(typed.get_column(k).is_not_null() for k in key))
    h1 = frame.get_column("_kpi_h1")
    maybe = h1.is_duplicated()
    seen = state.seen_keys
    earlier = None
    if seen is not None:
        earlier = seen.filter(pl.col("_kpi_h1").is_in(h1.implode()))
        if earlier.height:
            maybe = maybe | h1.is_in(earlier.get_column("_kpi_h1").implode())
    firsts = frame.select(*_HASHES, pl.col(_ROW).cast(pl.Int64).alias("_kpi_seen"))
    dups = None
    if maybe.any():
        candidates = frame.filter(maybe).select(_ROW, *_HASHES)
        pool = candidates.select(*_HASHES, pl.col(_ROW).cast(pl.Int64).alias("_kpi_seen"))
        if earlier is not None and earlier.height:
            pool = pl.concat([earlier, pool])
        first = pool.group_by(_HASHES).agg(pl.col("_kpi_seen").min())
        dups = candidates.join(first, on=_HASHES).filter(pl.col("_kpi_seen") < pl.col(_ROW))
        dups = dups.select(_ROW, pl.col("_kpi_seen").alias("_kpi_dup"))
        firsts = firsts.filter(~pl.col("_kpi_seen").is_in(dups.get_column(_ROW).implode()))
    state.seen_keys = firsts if seen is None else pl.concat([seen, firsts])
    if dups is None or dups.height == 0:
        return None
    out = typed.select(_ROW).join(dups, on=_ROW, how="left", maintain_order="left")
    return out.get_column("_kpi_dup")


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={"row_number": pl.Int64, "raw_row": pl.String, "reason": pl.String})


# ---- writing -----------------------------------------------------------------------------
# DuckDB reads a frame named in SQL straight from the calling function's local variables
# (a "replacement scan", zero copy through Arrow). Unlike con.register(), it lets go of the
# frame afterwards: registering each batch kept every batch alive until the end of the load.
def _upsert(con: duckdb.DuckDBPyConnection, spec: Table, rows: pl.DataFrame, replace: bool) -> int:
    """Insert rows, first deleting the store's rows with the same key; the count deleted."""
    if rows.height == 0:
        return 0
    _kpi_batch = rows.to_arrow(compat_level=pl.CompatLevel.newest())  # noqa: F841 - used in SQL
    replaced = 0
    if replace:
        same = " AND ".join(f"t.{k} = b.{k}" for k in spec.key)
        replaced = con.execute(
            f"DELETE FROM {spec.name} AS t USING _kpi_batch AS b WHERE {same}"
        ).fetchall()[0][0]
    columns = ", ".join(spec.column_names)
    con.execute(f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM _kpi_batch")
    return int(replaced)


def _insert_rejects(con: duckdb.DuckDBPyConnection, load_id: int, rejects: pl.DataFrame) -> None:
    if rejects.height == 0:
        return
    _kpi_rejects = rejects.to_arrow()  # noqa: F841 - used in SQL
    con.execute(
        "INSERT INTO rejects SELECT ?, row_number, raw_row, reason FROM _kpi_rejects", [load_id]
    )
