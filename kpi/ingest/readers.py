"""Reading a file to load: CSV (any encoding), Excel or Parquet as rows of text, batch by
batch, with a readable refusal (line, column, byte) when a file cannot be read."""

from __future__ import annotations

import codecs
import csv
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from kpi.ingest.mappings import Mapping, encoding_problem
from kpi.ingest.report import LoadRefused
from kpi.ingest.upload_checks import utf16_without_bom

Progress = Callable[[str], None]

BATCH_ROWS = 1_000_000  # rows checked and written at a time: bounds memory on big files
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
ROW = "_kpi_row"  # 1-based data row number, carried through every frame
HEADER_ROWS = 1  # the header line: a data row's spreadsheet row number is ROW + HEADER_ROWS


@dataclass
class Source:
    """One readable file: its header, its hash, and a way to stream its rows as text."""

    path: Path
    kind: str  # "CSV" | "Excel" | "Parquet"
    columns: list[str]
    content_hash: str
    batches: Callable[[], Iterator[pl.DataFrame]]  # raw text rows with ROW
    line_label: str | None  # "line" / "sheet row": where a data row sits in the file
    first_rows: list[list[str]] = field(default_factory=list)  # as written, header first
    header_at: str = "line 1"  # where the header sits, for messages
    hint: str = ""  # added to a missing-column refusal (e.g. the workbook's other sheets)
    sheet: str | None = None  # Excel: the sheet read (named or the first), for lineage


def open_source(path: Path, mapping: Mapping | None, cleanup: ExitStack, say: Progress) -> Source:
    """Check that a file can be read (its header, its hash); refuse it if not. In this
    process: `sandbox.open_bounded` does the same in a child process with a memory limit."""
    announce(path, say)
    return read_source(path, mapping, cleanup)


def announce(path: Path, say: Progress) -> None:
    """Refuse a path that is no file; say that the file is being read."""
    if not path.is_file():
        raise LoadRefused(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    say(f"Reading {path} ({_size(path)}) ...")


def read_source(path: Path, mapping: Mapping | None, cleanup: ExitStack) -> Source:
    """A file's Source (`open_source` without the progress message)."""
    suffix = path.suffix.lower()
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

    source = Source(path, "CSV", columns, content_hash, batches, "line")
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
    frame = pl.scan_csv(path, **options).with_row_index(ROW, offset=1)
    yield from frame.collect_batches(chunk_size=BATCH_ROWS)


def _csv_encoding(head: bytes, mapping: Mapping | None) -> str:
    """The file's text encoding: a byte-order mark wins, then the mapping, then UTF-8."""
    for bom, name in _BOMS.items():
        if head.startswith(bom):
            return name
    wanted = (mapping.encoding if mapping else None) or "utf-8"
    if problem := encoding_problem(wanted):  # a Mapping made in code, not read from YAML
        raise LoadRefused(problem)
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


def _open_excel(path: Path, mapping: Mapping | None, content_hash: str) -> Source:
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
        yield frame.with_row_index(ROW, offset=1)

    source = Source(path, "Excel", frame.columns, content_hash, batches, "sheet row")
    shown = sheet if isinstance(sheet, str) else names[sheet]
    source.header_at = f"sheet '{shown}' row 1"
    source.sheet = str(shown)
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


def _open_parquet(path: Path, content_hash: str) -> Source:
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # noqa: BLE001 - damaged or not Parquet at all
        raise LoadRefused(f"{path} cannot be read as Parquet (damaged or not Parquet)") from exc
    as_text = [_parquet_text(path, name, dtype) for name, dtype in schema.items()]

    def batches() -> Iterator[pl.DataFrame]:
        frame = pl.scan_parquet(path).select(as_text).with_row_index(ROW, offset=1)
        try:
            yield from frame.collect_batches(chunk_size=BATCH_ROWS)
        except pl.exceptions.PolarsError as exc:
            raise LoadRefused(f"{path} cannot be read as Parquet: {exc}") from exc

    return Source(path, "Parquet", list(schema), content_hash, batches, None)


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
