"""Bounded uploads: a file is judged by what its metadata says it unpacks to before it is
parsed, and parsed in a child process that a memory and a time limit stop without taking
the server (or the command line) down with it.

Each hostile file is built here by hand, small: a workbook claiming the whole grid, a
deflate bomb (200 MB of zeros packed into 200 KB), a Parquet file with one big row group,
a workbook whose one far cell makes the Excel reader ask for half a terabyte. Each refusal
is checked by its message and leaves the store as it was.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zipfile
import zlib
from contextlib import ExitStack
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kpi.ingest import readers, sandbox, upload_checks
from kpi.ingest.mappings import MappingError, load_mappings
from kpi.ingest.pipelines import LoadRefused, load_files
from kpi.store.database import Store

ROOT = Path(__file__).resolve().parents[2]

# ---- building workbooks by hand --------------------------------------------------------------
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PARTS = {
    "[Content_Types].xml": _CONTENT_TYPES,
    "_rels/.rels": f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
    f'Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets><sheet '
    'name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
    f'Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def workbook(path: Path, dimension: str | None, rows: list[tuple[int, str]]) -> Path:
    """A minimal .xlsx whose one sheet declares `dimension` and holds `rows` (number, cells)."""
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    data = "".join(f'<row r="{n}">{cells}</row>' for n, cells in rows)
    sheet = f'<worksheet xmlns="{_MAIN}">{declared}<sheetData>{data}</sheetData></worksheet>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (_PARTS | {"xl/worksheets/sheet1.xml": sheet}).items():
            archive.writestr(name, text)
    return path


def deflate_bomb(path: Path, unpacked_mb: int = 200) -> Path:
    """An .xlsx whose sheet is `unpacked_mb` MB of zeros packed into about 200 KB, written
    by hand in a fraction of a second: after a full flush deflate forgets what came before,
    so one megabyte's packed bytes, repeated, are the packing of all of them."""
    megabyte = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(megabyte) + packer.flush(zlib.Z_FULL_FLUSH)
    packed = block * unpacked_mb + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(unpacked_mb):
        crc = zlib.crc32(megabyte, crc)
    members = [
        (name.encode(), zipfile.ZIP_STORED, zlib.crc32(text.encode()), text.encode(), len(text))
        for name, text in _PARTS.items()
    ] + [(b"xl/worksheets/sheet1.xml", zipfile.ZIP_DEFLATED, crc, packed, unpacked_mb << 20)]
    day = (2026 - 1980) << 9 | 1 << 5 | 1
    body, directory = b"", b""
    for name, method, check, data, size in members:
        fields = (20, 0, method, 0, day, check, len(data), size, len(name))
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0,
                                 len(body)) + name  # fmt: skip
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + name + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(directory), len(body), 0)  # fmt: skip
    path.write_bytes(body + directory + end)
    return path


def refused(store: Store, files: list[Path], **load) -> str:
    """The refusal of loading `files` into suppliers; the store must be unchanged by it."""
    before = store.path.read_bytes() if store.path.exists() else None
    with pytest.raises(LoadRefused) as refusal:
        load_files(store, "suppliers", files, **load)
    assert (store.path.read_bytes() if store.path.exists() else None) == before
    return str(refusal.value)


@pytest.fixture()
def store(tmp_path) -> Store:
    return Store(tmp_path / "kpi.duckdb")  # a refused load must not even create it


# ---- 1. an .xlsx judged by its zip directory and its declared dimension ----------------------
def test_a_workbook_declaring_the_whole_grid_is_refused_before_reading(store, tmp_path):
    grid = workbook(tmp_path / "grid.xlsx", "A1:XFD1048576", [(1, cell("A1", "supplier_id"))])
    assert refused(store, [grid]) == (
        f"{grid}: its sheet xl/worksheets/sheet1.xml declares 1,048,576 rows x 16,384 columns "
        "(A1:XFD1048576); the limits are 50,000,000 cells and 2,000 columns. Delete the empty "
        "rows and columns around the data (or save it as CSV), split the export, or raise "
        "KPI_XLSX_MAX_CELLS / KPI_XLSX_MAX_COLUMNS"
    )


def test_a_deflate_bomb_is_refused_by_its_packing_ratio_and_its_unpacked_size(
    store, tmp_path, monkeypatch
):
    bomb = deflate_bomb(tmp_path / "bomb.xlsx")
    packed = zipfile.ZipFile(bomb).getinfo("xl/worksheets/sheet1.xml").compress_size
    assert bomb.stat().st_size < 250_000 and packed < 210_000
    ratio = (200 << 20) / packed
    assert refused(store, [bomb]) == (
        f"{bomb} cannot be read as an Excel workbook: its part xl/worksheets/sheet1.xml "
        f"unpacks {ratio:,.0f} times its packed size ({packed:,} bytes to 209.7 MB; a real "
        "sheet packs about 15 times, the limit is 100). Save the data as CSV, or raise "
        "KPI_XLSX_MAX_RATIO if the file is genuine"
    )
    monkeypatch.setenv("KPI_XLSX_MAX_RATIO", "2000")  # past the ratio: the unpacked size
    monkeypatch.setenv("KPI_XLSX_MAX_UNPACKED_MB", "100")
    assert refused(store, [bomb]).startswith(
        f"{bomb} unpacks to 209.7 MB; the limit is 100.0 MB. Save the data as CSV or split "
        "the export (by month, for example), or raise KPI_XLSX_MAX_UNPACKED_MB"
    )


def test_a_workbook_listing_too_many_parts_is_refused_before_it_is_listed(store, tmp_path):
    many = tmp_path / "many.xlsx"
    with zipfile.ZipFile(many, "w") as archive:
        for number in range(10_001):
            archive.writestr(f"p{number}", b"")
    directory = sum(46 + len(info.filename) for info in zipfile.ZipFile(many).infolist())
    assert refused(store, [many]) == (
        f"{many} cannot be read as an Excel workbook: its zip directory lists 10,001 parts in "
        f"{directory:,} bytes (a workbook has tens); save the data as CSV"
    )


# ---- 2. Parquet judged by its footer ---------------------------------------------------------
def test_a_parquet_row_group_beyond_the_limits_is_refused_from_the_footer(
    store, tmp_path, monkeypatch
):
    ids = [f"SUPPLIER-{n:07d}-{'x' * 20}" for n in range(40_000)]  # 37 characters
    path = tmp_path / "suppliers.parquet"
    table = pa.table({"supplier_id": ids})
    pq.write_table(table, path, row_group_size=40_000, use_dictionary=False)
    unpacked = pq.read_metadata(path).row_group(0).total_byte_size  # 40,000 x (37 + 4) bytes
    assert 1_640_000 <= unpacked < 1_700_000
    monkeypatch.setenv("KPI_PARQUET_MAX_ROW_GROUP_MB", "1")
    assert refused(store, [path]) == (
        f"{path}: its row group 1 of 1 holds {unpacked / 1e6:,.1f} MB unpacked; the limit is "
        "1.0 MB. Write it with smaller row groups (e.g. row_group_size=1000000), save it as "
        "CSV, or raise KPI_PARQUET_MAX_ROW_GROUP_ROWS / KPI_PARQUET_MAX_ROW_GROUP_MB"
    )
    monkeypatch.setenv("KPI_PARQUET_MAX_ROW_GROUP_MB", "1000")
    monkeypatch.setenv("KPI_PARQUET_MAX_ROW_GROUP_ROWS", "20000")
    assert "its row group 1 of 1 holds 40,000 rows; the limit is 20,000 rows" in refused(
        store, [path]
    )
    monkeypatch.setenv("KPI_PARQUET_MAX_ROW_GROUP_ROWS", "1000000")
    monkeypatch.setenv("KPI_PARQUET_MAX_UNPACKED_MB", "1.2")
    assert refused(store, [path]) == (
        f"{path} unpacks to {unpacked / 1e6:,.1f} MB; the limit is 1.2 MB. Split the export "
        "(by month, for example) or raise KPI_PARQUET_MAX_UNPACKED_MB"
    )
    monkeypatch.delenv("KPI_PARQUET_MAX_UNPACKED_MB")  # within every default: it loads
    assert load_files(store, "suppliers", [path]).files[0].rows_loaded == 40_000


def test_a_limit_that_is_not_a_positive_number_is_refused(store, tmp_path, monkeypatch):
    book = workbook(tmp_path / "ok.xlsx", "A1:A2", [(1, cell("A1", "supplier_id"))])
    monkeypatch.setenv("KPI_XLSX_MAX_RATIO", "lots")
    assert refused(store, [book]) == "KPI_XLSX_MAX_RATIO is 'lots': set it to a number, e.g. 100"
    monkeypatch.setenv("KPI_XLSX_MAX_RATIO", "-1")
    assert refused(store, [book]) == "KPI_XLSX_MAX_RATIO is '-1': set it to a positive number"
    monkeypatch.delenv("KPI_XLSX_MAX_RATIO")
    monkeypatch.setenv("KPI_LOAD_MEMORY_MB", "0")
    assert refused(store, [book]) == "KPI_LOAD_MEMORY_MB is '0': set it to a positive number"


# ---- 3. a mapping's encoding is a text encoding ----------------------------------------------
@pytest.mark.parametrize("codec", ["zlib_codec", "bz2_codec", "base64_codec", "rot13"])
def test_a_codec_that_is_not_a_text_encoding_is_refused(tmp_path, codec):
    mappings = tmp_path / "sources.yaml"
    mappings.write_text(
        f"sources:\n  mine:\n    table: suppliers\n    encoding: {codec}\n", encoding="utf-8"
    )
    with pytest.raises(MappingError) as error:
        load_mappings(mappings)
    name = {"zlib_codec": "zlib", "bz2_codec": "bz2", "base64_codec": "base64"}.get(codec, "rot-13")
    assert (
        f"encoding '{codec}' is not a text encoding (Python's {name} codec transforms bytes "
        "or text); use one such as utf-8, utf-8-sig, cp1252, latin-1, utf-16"
    ) in str(error.value)
    assert "mapping 'mine'" in str(error.value)


def test_text_encodings_are_accepted(tmp_path):
    mappings = tmp_path / "sources.yaml"
    names = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]
    mappings.write_text(
        "sources:\n"
        + "".join(
            f"  m{n}:\n    table: suppliers\n    encoding: {e}\n" for n, e in enumerate(names)
        ),
        encoding="utf-8",
    )
    found = load_mappings(mappings)
    assert [found[f"m{n}"].encoding for n in range(5)] == [
        "utf-8", "utf-8-sig", "cp1252", "iso8859-1", "utf-16",
    ]  # fmt: skip


# ---- 4. parsing under a memory and a time limit, in a child process --------------------------
def test_a_parse_that_exhausts_the_memory_limit_fails_that_load_only(store, tmp_path, monkeypatch):
    """One cell at XFD1048576 (and no dimension to refuse it by) makes the Excel reader ask
    for 17 billion cells at once: in this process that would abort the server."""
    corner = (1_048_576, cell("XFD1048576", "x"))
    far = workbook(tmp_path / "far.xlsx", "A1", [(1, cell("A1", "supplier_id")), corner])
    assert upload_checks.file_problem(far, 10_000_000) is None  # nothing declared to refuse
    monkeypatch.setenv("KPI_LOAD_MEMORY_MB", "400")
    assert refused(store, [far]) == (
        f"{far} needs more memory than the load limit of 400 MB allows; save it as CSV (read "
        "in batches) or split the export (by month, for example), or raise KPI_LOAD_MEMORY_MB"
    )
    # this process lives on, and the next load (same limit) goes through
    good = workbook(tmp_path / "good.xlsx", "A1:A2", [(1, cell("A1", "supplier_id")),
                                                      (2, cell("A2", "S2"))])  # fmt: skip
    assert load_files(store, "suppliers", [good]).files[0].rows_loaded == 1


def test_a_parse_beyond_the_time_limit_is_stopped(store, tmp_path, monkeypatch):
    slow = tmp_path / "suppliers.csv"
    slow.write_text("supplier_id\nS9\n")
    monkeypatch.setenv("KPI_LOAD_TIMEOUT_S", "0.05")  # less than the child takes to start
    assert refused(store, [slow]) == (
        f"{slow}: reading it took longer than the load time limit of 0.05 s; split the export "
        "(by month, for example) or raise KPI_LOAD_TIMEOUT_S"
    )


def _read(opener, path: Path, mapping=None) -> tuple[dict, list]:
    """A Source's fields and its batches (or the refusal that ends them), as data."""
    with ExitStack() as cleanup:
        source = opener(path, mapping, cleanup, lambda _message: None)
        fields = {k: v for k, v in vars(source).items() if k != "batches"}
        got: list = []
        try:
            got.extend(frame.to_dicts() + [frame.schema] for frame in source.batches())
        except LoadRefused as refusal:
            got.append(str(refusal))
    return fields, got


def test_the_child_reads_exactly_what_the_process_reads(tmp_path, monkeypatch):
    """Same header, hash, first rows, row numbers, batches and refusals, in process and in
    the child (batches of 2 rows: the child keeps the parent's batch size)."""
    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    monkeypatch.setattr(sandbox, "IN_PROCESS_MAX_BYTES", 0)  # even a small CSV in the child
    csv = tmp_path / "s.csv"
    csv.write_text("supplier_id,country\nS1,DE\n\nS2,FR\nS3,US\nS4,DE,extra\n")
    rows = [(1, cell("A1", "supplier_id")), (3, cell("A3", "S3") + cell("B3", "2"))]
    book = workbook(tmp_path / "s.xlsx", "A1:B3", rows)
    parquet = tmp_path / "s.parquet"
    pl.DataFrame({"supplier_id": ["S1", "S2", "S3"], "n": [1, None, 3]}).write_parquet(parquet)
    read = {}
    for path in (csv, book, parquet):
        read[path.suffix] = _read(readers.open_source, path)
        assert _read(sandbox.open_bounded, path) == read[path.suffix]
    fields, got = read[".parquet"]  # batches of 2 rows, numbered from 1, values as text
    assert [frame[:-1] for frame in got] == [
        [{"_kpi_row": 1, "supplier_id": "S1", "n": "1"},
         {"_kpi_row": 2, "supplier_id": "S2", "n": None}],
        [{"_kpi_row": 3, "supplier_id": "S3", "n": "3"}],
    ]  # fmt: skip
    fields, got = read[".xlsx"]  # sheet rows 2 and 3: the empty row kept, as the process does
    assert fields["line_label"] == "sheet row" and fields["header_at"] == "sheet 'Sheet1' row 1"
    assert [r["_kpi_row"] for r in got[0][:-1]] == [1, 2] and got[0][1]["supplier_id"] == "S3"
    fields, got = read[".csv"]  # the refusal, word for word
    assert got == [
        f"{csv}: a row has more fields than the header; check the delimiter (',') and the "
        "quotes, or set `delimiter` in the mapping (line 6 has 3 fields, the header 2)"
    ]


def test_the_corpus_and_sample_files_pass_the_bounds():
    """Every workbook and Parquet file the tests and the demo use is within the limits."""
    files = sorted((ROOT / "tests").rglob("*.xlsx")) + sorted((ROOT / "tests").rglob("*.parquet"))
    files += sorted((ROOT / "data").rglob("*.*"))
    assert len(files) >= 5
    for path in files:
        problem = upload_checks.file_problem(path, 10**12) or ""
        assert not any(word in problem for word in ("unpacks", "declares", "row group")), problem


def _no_child(*_args, **_kwargs):
    raise AssertionError("a child process was started")


def test_a_small_csv_is_read_in_process_and_reads_the_same(tmp_path, monkeypatch):
    """A few megabytes of CSV cannot come near the limits: no child (it costs more than the
    rest of a small load), and the same Source as the reading in process."""
    csv = tmp_path / "s.csv"
    csv.write_text("supplier_id,country\nS1,DE\nS2,FR\n")
    read = _read(readers.open_source, csv)
    monkeypatch.setattr(sandbox.subprocess, "run", _no_child)
    assert _read(sandbox.open_bounded, csv) == read


@pytest.mark.parametrize(
    ("name", "size", "env"),
    [
        ("big.csv", sandbox.IN_PROCESS_MAX_BYTES + 1, {}),  # above the size
        ("s.csv", 100, {"KPI_LOAD_TIMEOUT_S": "2"}),  # a time limit too low to be sure
        ("s.csv", 100, {"KPI_LOAD_MEMORY_MB": "300"}),  # a memory limit too low to be sure
        ("s.xlsx", 100, {}),  # a workbook always
        ("s.parquet", 100, {}),  # Parquet always
    ],
)
def test_what_goes_to_the_child(tmp_path, monkeypatch, name, size, env):
    path = tmp_path / name
    path.write_bytes(b"x" * size)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    memory = float(env.get("KPI_LOAD_MEMORY_MB", sandbox.DEFAULT_MEMORY_MB))
    seconds = float(env.get("KPI_LOAD_TIMEOUT_S", sandbox.DEFAULT_TIMEOUT_S))
    assert not sandbox._small_csv(path, memory, seconds)
    small = tmp_path / "ok.csv"
    small.write_bytes(b"x" * size)
    assert sandbox._small_csv(small, sandbox.DEFAULT_MEMORY_MB, sandbox.DEFAULT_TIMEOUT_S) == (
        size <= sandbox.IN_PROCESS_MAX_BYTES
    )


def test_the_parent_takes_each_batch_as_it_comes_and_removes_it(tmp_path, monkeypatch):
    """The child's batches are handed over one by one (the parent checks one while the
    child reads the next), each file removed once read: no rows are left in the folder."""
    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    monkeypatch.setattr(sandbox, "IN_PROCESS_MAX_BYTES", 0)
    folders = tmp_path / "reading"
    folders.mkdir()
    real = sandbox.tempfile.TemporaryDirectory
    monkeypatch.setattr(
        sandbox.tempfile, "TemporaryDirectory", lambda **kw: real(dir=folders, **kw)
    )
    csv = tmp_path / "s.csv"
    csv.write_text("supplier_id\n" + "".join(f"S{n}\n" for n in range(1, 6)))
    with ExitStack() as cleanup:
        source = sandbox.open_bounded(csv, None, cleanup, lambda _message: None)
        assert source.columns == ["supplier_id"] and source.kind == "CSV"
        seen = [frame.get_column("supplier_id").to_list() for frame in source.batches()]
        assert seen == [["S1", "S2"], ["S3", "S4"], ["S5"]]
        assert list(folders.glob("*/batch-*")) == []  # each removed once read
    assert list(folders.iterdir()) == []  # the folder too, when the load ends


def test_batch_folders_of_dead_loads_are_removed_and_no_others(tmp_path):
    """A load killed while its child read a file leaves the batches; the next load that
    reads through a child removes them, but not a running load's, nor a folder whose name
    names no process (made by an older version: whose it is cannot be told)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    folders = {
        "dead": tmp_path / f"kpi-read-{gone.pid}-x1y2",
        "this process": tmp_path / f"kpi-read-{os.getpid()}-a1b2",
        "init": tmp_path / "kpi-read-1-c3d4",
        "no process named": tmp_path / "kpi-read-7k2m9q",
        "another program's": tmp_path / f"other-{gone.pid}-z9",
    }
    for folder in folders.values():
        folder.mkdir()
        (folder / "batch-000000.arrow").write_bytes(b"rows")
    sandbox._remove_orphans(tmp_path)
    left = {name for name, folder in folders.items() if folder.exists()}
    assert left == {"this process", "init", "no process named", "another program's"}
