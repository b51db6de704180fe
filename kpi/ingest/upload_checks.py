"""Checks on a file before any pipeline reads it: a size limit, a type check and the bounds
its own metadata declares.

A file arriving through the app or `python -m kpi load` is untrusted: it may be far larger
than an export ever is, or be something else under a data file's name (a zip, a program,
a workbook renamed .csv). Each file must be no larger than the limit, have an extension on
the allow-list, and start (and for Parquet, end) with the bytes its format always has.
A packed format is also judged by what it says it unpacks to, read from its metadata alone:
an .xlsx by its zip directory (total unpacked size, packing ratio of each part) and each
sheet's declared dimension; a Parquet file by its footer (rows and unpacked bytes of each
row group, and in all). A refusal names the file and says what to do, before a byte of it
is parsed. (Reading itself then runs under a memory and time limit: `sandbox`.)
"""

from __future__ import annotations

import math
import os
import re
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

# The same default as Streamlit's server.maxUploadSize (.streamlit/config.toml) for files
# uploaded in the app. KPI_MAX_UPLOAD_MB overrides it, and also limits `python -m kpi load`,
# which has no limit otherwise: an operator's ERP export may well be gigabytes.
DEFAULT_MAX_MB = 200
_ENV = "KPI_MAX_UPLOAD_MB"

# What a packed file may unpack to, each overridable by its environment variable. They let
# through ERP exports of a few hundred MB (an .xlsx sheet packs about 15 times; Parquet
# writers cut row groups of 100,000 to a few million rows) and refuse what no export is:
# a deflate bomb (zeros pack about 1,000 times) or a sheet that claims the whole grid.
XLSX_MAX_UNPACKED_MB = 4_000  # all parts of an .xlsx together, unpacked
XLSX_MAX_RATIO = 100  # unpacked / packed size of one part (parts above 1 MB unpacked)
XLSX_MAX_CELLS = 50_000_000  # rows x columns of a sheet's declared dimension
XLSX_MAX_COLUMNS = 2_000  # columns of a sheet's declared dimension (Excel allows 16,384)
PARQUET_MAX_ROW_GROUP_MB = 1_000  # one row group, unpacked: read whole at a time
PARQUET_MAX_ROW_GROUP_ROWS = 10_000_000
PARQUET_MAX_UNPACKED_MB = 20_000  # all row groups together, unpacked
_LIMITS = {  # environment variable -> default
    "KPI_XLSX_MAX_UNPACKED_MB": XLSX_MAX_UNPACKED_MB,
    "KPI_XLSX_MAX_RATIO": XLSX_MAX_RATIO,
    "KPI_XLSX_MAX_CELLS": XLSX_MAX_CELLS,
    "KPI_XLSX_MAX_COLUMNS": XLSX_MAX_COLUMNS,
    "KPI_PARQUET_MAX_ROW_GROUP_MB": PARQUET_MAX_ROW_GROUP_MB,
    "KPI_PARQUET_MAX_ROW_GROUP_ROWS": PARQUET_MAX_ROW_GROUP_ROWS,
    "KPI_PARQUET_MAX_UNPACKED_MB": PARQUET_MAX_UNPACKED_MB,
}
# Fixed bounds on the metadata itself, so that reading it stays small: a workbook has tens
# of parts (a thousand sheets would be 2,000), a Parquet footer a few hundred KB.
_XLSX_MAX_PARTS = 10_000
_ZIP_MAX_DIRECTORY = 16_000_000
_PARQUET_MAX_FOOTER = 64_000_000
_RATIO_FROM = 1_000_000  # a part smaller than this unpacked cannot be a bomb worth refusing
_DIMENSION_HEAD = 8192  # the dimension comes first in a sheet's XML, before any cell

CSV_TYPES = (".csv", ".txt", ".tsv")
EXCEL_TYPES = (".xlsx", ".xlsm")
LEGACY_EXCEL_TYPES = (".xls",)
PARQUET_TYPES = (".parquet", ".pq")
ALLOWED_TYPES = (*CSV_TYPES, *EXCEL_TYPES, *LEGACY_EXCEL_TYPES, *PARQUET_TYPES)

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary Excel (.xls) container
_PARQUET = b"PAR1"
# What a file really is when it starts with these bytes (checked on text files).
# Worded as the pipeline's own CSV reader words them, so both refuse alike.
_NOT_TEXT = {
    _ZIP: "an Excel (.xlsx) or zip file",
    _OLE: "an old binary Excel (.xls) workbook",
    _PARQUET: "a Parquet file",
    b"MZ": "a Windows program",
    b"\x7fELF": "a Linux program",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class UploadRefused(ValueError):
    """A file refused before it is read; the message names the file."""


def max_upload_bytes() -> int:
    """The limit in bytes: KPI_MAX_UPLOAD_MB (a positive number of megabytes) or 200 MB."""
    return int(env_limit(_ENV, DEFAULT_MAX_MB, "a number of megabytes") * 1_000_000)


def env_limit(name: str, default: float, what: str = "a number") -> float:
    """A positive limit from the environment variable `name`, or `default` when it is unset;
    a setting that is not a positive number is refused (never read as "no limit")."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UploadRefused(f"{name} is '{raw}': set it to {what}, e.g. {default:g}") from None
    if not (math.isfinite(value) and value > 0):
        raise UploadRefused(f"{name} is '{raw}': set it to a positive number")
    return value


def _limit(name: str) -> float:
    return env_limit(name, _LIMITS[name])


def check_files(
    files: Iterable[Path | str],
    max_bytes: int | None = None,
    error: Callable[[str], Exception] = UploadRefused,
    command_line: bool = False,
) -> None:
    """Refuse (raise `error`) the first file that is too big or not what its name says.

    `error` lets the pipeline raise its own LoadRefused, so callers catch one exception.
    On the `command_line` only the type is checked unless KPI_MAX_UPLOAD_MB is set.
    """
    if command_line and max_bytes is None and not os.environ.get(_ENV, "").strip():
        max_bytes = sys.maxsize
    try:
        limit = max_bytes if max_bytes is not None else max_upload_bytes()
        for f in files:
            problem = file_problem(Path(f), limit)
            if problem:
                raise error(problem)
    except UploadRefused as exc:  # a limit set to something that is not a number
        raise error(str(exc)) from None


def file_problem(path: Path, limit: int) -> str | None:
    """Why `path` is refused, or None when it may be read."""
    if not path.is_file():
        return None  # the pipeline says "no such file" in its own words
    name = str(path)  # as given, as the pipeline's own messages name it
    suffix = path.suffix.lower()
    if suffix not in ALLOWED_TYPES:
        return (
            f"{name}: cannot tell the format from the extension '{path.suffix}'; "
            "name the file .csv (or .txt/.tsv), .xlsx or .parquet"
        )
    size = path.stat().st_size
    if size > limit:
        return (
            f"{name} is {_mb(size)}; the limit is {_mb(limit)}. Split the export (by month, "
            "for example) or raise KPI_MAX_UPLOAD_MB"
        )
    with path.open("rb") as fh:
        head = fh.read(4096)
        if suffix in PARQUET_TYPES and size >= 8:
            fh.seek(-4, os.SEEK_END)
            tail = fh.read(4)
        else:
            tail = b""
    if suffix in CSV_TYPES:
        return _text_problem(name, head)
    if suffix in EXCEL_TYPES:
        return _xlsx_problem(path, head)
    if suffix in LEGACY_EXCEL_TYPES:
        ok = head.startswith(_OLE) or head.startswith(_ZIP)
        return None if ok else f"{name} cannot be read as an Excel workbook: it is {_what(head)}"
    if not head.startswith(_PARQUET):
        return f"{name} cannot be read as Parquet: it is {_what(head)} (no PAR1 mark at its start)"
    if tail != _PARQUET:
        return f"{name} cannot be read as Parquet: the file is cut short (no PAR1 mark at its end)"
    return _parquet_problem(path, size)


def utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the bytes read as ASCII text interleaved with zeros."""
    even, odd = head[:4096:2], head[1:4096:2]
    for zeros, text, name in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if text and zeros.count(0) >= 0.9 * len(zeros) and 0 not in text:
            return name
    return None


def _text_problem(name: str, head: bytes) -> str | None:
    for magic, what in _NOT_TEXT.items():
        if head.startswith(magic):
            return f"{name} is {what}, not CSV text; give it the right extension"
    if b"\x00" in head and not head.startswith(_UTF16_BOMS) and not utf16_without_bom(head):
        return f"{name} is not a text (CSV) file: it holds binary data"
    return None


def _xlsx_problem(path: Path, head: bytes) -> str | None:
    if not head.startswith(_ZIP):
        return f"{path} cannot be read as an Excel workbook: it is {_what(head)}, not an .xlsx"
    directory = _zip_directory(path)
    if directory and (directory[0] > _XLSX_MAX_PARTS or directory[1] > _ZIP_MAX_DIRECTORY):
        return (
            f"{path} cannot be read as an Excel workbook: its zip directory lists "
            f"{directory[0]:,} parts in {_mb(directory[1])} (a workbook has tens); save the "
            "data as CSV"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            if "xl/workbook.xml" not in {p.filename for p in parts}:
                return (
                    f"{path} cannot be read as an Excel workbook: it is a zip archive of "
                    "something else (no xl/workbook.xml)"
                )
            return _unpacked_problem(path, parts) or _dimension_problem(path, archive, parts)
    except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, NotImplementedError, EOFError):
        return f"{path} cannot be read as an Excel workbook: the archive is damaged"


def _zip_directory(path: Path) -> tuple[int, int] | None:
    """(parts, bytes) of a zip's central directory, from its end record (Zip64 too), read
    before Python's zipfile lists every part in memory; None when there is no end record
    (zipfile then calls the archive damaged)."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - 65_557)  # the end record (22 bytes) and a comment of <= 64 KB
        fh.seek(start)
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        parts = int.from_bytes(tail[at + 10 : at + 12], "little")
        length = int.from_bytes(tail[at + 12 : at + 16], "little")
        locator = tail[at - 20 : at] if at >= 20 else b""
        if (parts == 0xFFFF or length == 0xFFFFFFFF) and locator.startswith(b"PK\x06\x07"):
            fh.seek(int.from_bytes(locator[8:16], "little"))
            record = fh.read(56)
            if record.startswith(b"PK\x06\x06") and len(record) == 56:
                parts = int.from_bytes(record[32:40], "little")
                length = int.from_bytes(record[40:48], "little")
    return parts, length


def _unpacked_problem(path: Path, parts: list[zipfile.ZipInfo]) -> str | None:
    """A workbook that unpacks to far more than an export needs: in all, or one part packed
    as only repeated bytes pack (a deflate bomb: a few KB that inflate to gigabytes)."""
    total, limit = sum(p.file_size for p in parts), _limit("KPI_XLSX_MAX_UNPACKED_MB") * 1e6
    if total > limit:
        return (
            f"{path} unpacks to {_mb(total)}; the limit is {_mb(limit)}. Save the data as CSV "
            "or split the export (by month, for example), or raise KPI_XLSX_MAX_UNPACKED_MB"
        )
    most = _limit("KPI_XLSX_MAX_RATIO")
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size >= _RATIO_FROM and ratio > most:
            return (
                f"{path} cannot be read as an Excel workbook: its part {part.filename} "
                f"unpacks {ratio:,.0f} times its packed size ({_mb(part.compress_size)} to "
                f"{_mb(part.file_size)}; a real sheet packs about 15 times, the limit is "
                f"{most:g}). Save the data as CSV, or raise KPI_XLSX_MAX_RATIO if the file "
                "is genuine"
            )
    return None


_DIMENSION = re.compile(
    rb"<(?:[\w.-]+:)?dimension\b[^>]*?\bref\s*=\s*[\"']\$?([A-Za-z]+)\$?(\d+)"
    rb"(?::\$?([A-Za-z]+)\$?(\d+))?[\"']"
)


def _dimension_problem(
    path: Path, archive: zipfile.ZipFile, parts: list[zipfile.ZipInfo]
) -> str | None:
    """A sheet whose declared dimension (`<dimension ref="A1:XFD1048576"/>`, first in its
    XML) spans more cells or columns than an export holds; only the first 8 KB of each
    sheet is unpacked. A sheet without one is left to the reader's memory limit."""
    most_cells, most_columns = _limit("KPI_XLSX_MAX_CELLS"), _limit("KPI_XLSX_MAX_COLUMNS")
    for part in parts:
        name = part.filename
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        with archive.open(part) as sheet:
            found = _DIMENSION.search(sheet.read(_DIMENSION_HEAD))
        if not found:
            continue
        first_col, first_row, last_col, last_row = found.groups()
        columns = abs(_column_number(last_col or first_col) - _column_number(first_col)) + 1
        rows = abs(int(last_row or first_row) - int(first_row)) + 1
        if columns > most_columns or rows * columns > most_cells:
            ref = found.group(0).split(b"=", 1)[1].strip(b"\"' ").decode("ascii", "replace")
            return (
                f"{path}: its sheet {name} declares {rows:,} rows x {columns:,} columns "
                f"({ref}); the limits are {most_cells:,.0f} cells and {most_columns:,.0f} "
                "columns. Delete the empty rows and columns around the data (or save it as "
                "CSV), split the export, or raise KPI_XLSX_MAX_CELLS / KPI_XLSX_MAX_COLUMNS"
            )
    return None


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper()[:8]:  # 8 letters already exceed any limit
        number = number * 26 + letter - ord("A") + 1
    return number


def _parquet_problem(path: Path, size: int) -> str | None:
    """Row groups (each read whole at a time) or a file that unpacks to more than the limits,
    judged from the footer alone; a footer that cannot be read is left to the reader, which
    refuses the file in its own words."""
    with path.open("rb") as fh:
        fh.seek(-8, os.SEEK_END)
        footer = int.from_bytes(fh.read(4), "little")
    if footer > _PARQUET_MAX_FOOTER:
        return (
            f"{path} cannot be read as Parquet: its footer (the file's metadata) is "
            f"{_mb(footer)}, far more than any export writes; save the data as CSV"
        )
    if footer > size - 12:
        return None
    import pyarrow.parquet as pq  # only for Parquet files: pyarrow is slow to import

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - damaged: the reader says so in its own words
        return None
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    most_rows = _limit("KPI_PARQUET_MAX_ROW_GROUP_ROWS")
    most_bytes = _limit("KPI_PARQUET_MAX_ROW_GROUP_MB") * 1e6
    for number, group in enumerate(groups, start=1):
        what = (
            f"{group.num_rows:,} rows; the limit is {most_rows:,.0f} rows"
            if group.num_rows > most_rows
            else f"{_mb(group.total_byte_size)} unpacked; the limit is {_mb(most_bytes)}"
            if group.total_byte_size > most_bytes
            else None
        )
        if what:
            return (
                f"{path}: its row group {number} of {len(groups)} holds {what}. Write it "
                "with smaller row groups (e.g. row_group_size=1000000), save it as CSV, or "
                "raise KPI_PARQUET_MAX_ROW_GROUP_ROWS / KPI_PARQUET_MAX_ROW_GROUP_MB"
            )
    total, limit = sum(g.total_byte_size for g in groups), _limit("KPI_PARQUET_MAX_UNPACKED_MB")
    if total > limit * 1e6:
        return (
            f"{path} unpacks to {_mb(total)}; the limit is {_mb(limit * 1e6)}. Split the "
            "export (by month, for example) or raise KPI_PARQUET_MAX_UNPACKED_MB"
        )
    return None


def _what(head: bytes) -> str:
    for magic, what in _NOT_TEXT.items():
        if head.startswith(magic):
            return what
    if not head:
        return "empty"
    return "text" if b"\x00" not in head else "binary data of an unknown kind"


def _mb(size: float) -> str:
    return f"{size / 1_000_000:,.1f} MB" if size >= 1_000_000 else f"{int(size):,} bytes"
