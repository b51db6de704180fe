"""Checks on a file before any pipeline reads it: a size limit and a type check.

A file arriving through the app or `python -m kpi load` is untrusted: it may be far larger
than an export ever is, or be something else under a data file's name (a zip, a program,
a workbook renamed .csv). Each file must be no larger than the limit, have an extension on
the allow-list, and start (and for Parquet, end) with the bytes its format always has. A
refusal names the file and says what to do, before a byte of it is parsed.
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

# The same default as Streamlit's server.maxUploadSize (.streamlit/config.toml) for files
# uploaded in the app. KPI_MAX_UPLOAD_MB overrides it, and also limits `python -m kpi load`,
# which has no limit otherwise: an operator's ERP export may well be gigabytes.
DEFAULT_MAX_MB = 200
_ENV = "KPI_MAX_UPLOAD_MB"

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
    raw = os.environ.get(_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        raise UploadRefused(
            f"KPI_MAX_UPLOAD_MB is '{raw}': set it to a number of megabytes, e.g. 200"
        ) from None
    if mb <= 0:
        raise UploadRefused(f"KPI_MAX_UPLOAD_MB is '{raw}': set it to a positive number")
    return int(mb * 1_000_000)


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
    except UploadRefused as exc:
        raise error(str(exc)) from None
    for f in files:
        problem = file_problem(Path(f), limit)
        if problem:
            raise error(problem)


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
    return None


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
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return f"{path} cannot be read as an Excel workbook: the archive is damaged"
    if "xl/workbook.xml" not in names:
        return (
            f"{path} cannot be read as an Excel workbook: it is a zip archive of something "
            "else (no xl/workbook.xml)"
        )
    return None


def _what(head: bytes) -> str:
    for magic, what in _NOT_TEXT.items():
        if head.startswith(magic):
            return what
    if not head:
        return "empty"
    return "text" if b"\x00" not in head else "binary data of an unknown kind"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB" if size >= 1_000_000 else f"{size:,} bytes"
