"""The load pipeline: files in, good rows loaded, bad rows kept with a reason, nothing lost.

Every figure below is counted by hand from the rows written in the test. Fixture files are
made in a temporary folder; the one committed sample (data/samples) is loaded as it is.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi.ingest import loading, readers
from kpi.ingest.mappings import MappingError, load_mappings
from kpi.ingest.pipelines import UNCHANGED, LoadRefused, LoadReport, load_files
from kpi.store.database import Store
from kpi.store.schema import TABLES

ROOT = Path(__file__).resolve().parents[2]
SAP_SAMPLE = ROOT / "data" / "samples" / "sap_invoices_2026-01.csv"


# ---- helpers ------------------------------------------------------------------------------
def invoice(**values: str) -> dict[str, str]:
    row = {
        "invoice_id": "INV-1",
        "invoice_line": "1",
        "supplier_id": "S1",
        "po_id": "PO-1",
        "invoice_date": "2026-01-05",
        "due_date": "2026-02-04",
        "paid_date": "2026-02-01",
        "item_id": "IT-1",
        "category": "office",
        "cost_centre": "CC1",
        "quantity": "10",
        "unit_price": "12.5",
        "amount": "125.00",
        "currency": "EUR",
        "discount_taken": "2.50",
    }
    return row | values


# Three good invoice lines: 125.00 + 99.96 - 25.00 (a credit note) = 199.96
GOOD_INVOICES = [
    invoice(),
    invoice(invoice_line="2", quantity="4", unit_price="24.99", amount="99.96", discount_taken=""),
    invoice(invoice_id="CN-7", po_id="", paid_date="", quantity="-2", amount="-25.00"),
]

# One good row per table, and a fresh row (another key) that each case spoils.
GOOD = {
    "invoices": (GOOD_INVOICES, invoice(invoice_id="INV-3")),
    "purchase_orders": (
        [
            dict(
                po_id="PO-1",
                po_line="1",
                po_date="2026-01-02",
                supplier_id="S1",
                quantity="5",
                unit_price="2.5",
                amount="12.50",
                currency="EUR",
            ),
        ],
        dict(
            po_id="PO-2",
            po_line="1",
            po_date="2026-01-03",
            supplier_id="S1",
            quantity="1",
            unit_price="1",
            amount="1.00",
            currency="EUR",
        ),
    ),
    "suppliers": (
        [
            dict(
                supplier_id="S1",
                supplier_name="Kartonwerk",
                size="large",
                preferred="yes",
                payment_terms_days="30",
                discount_pct="0.02",
            )
        ],
        dict(
            supplier_id="S2",
            supplier_name="Byte Parts",
            size="sme",
            preferred="no",
            payment_terms_days="60",
            discount_pct="0",
        ),
    ),
    "budgets": (
        [
            dict(
                period="2026-01",
                cost_centre="CC1",
                category="office",
                amount="1000.00",
                currency="EUR",
            )
        ],
        dict(period="2026-02", cost_centre="CC1", category="office", amount="1.00", currency="EUR"),
    ),
    "price_outlook": (
        [dict(quarter="FY2026-Q1", category="office", expected_change_pct="0.03")],
        dict(quarter="FY2026-Q2", category="office", expected_change_pct="0.01"),
    ),
    "fx_rates": (
        [dict(date="2026-01-01", currency="USD", rate="0.92")],
        dict(date="2026-01-02", currency="USD", rate="0.91"),
    ),
}


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\n",
    tail: str = "",
) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator=newline
    )
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes((out.getvalue() + tail).encode(encoding))
    return path


def snapshot(store: Store) -> tuple[bytes, tuple[int, int, int]] | None:
    """The store file's bytes and version: equal before and after means nothing landed."""
    return (store.path.read_bytes(), store.version()) if store.exists() else None


def query(store: Store, sql: str) -> list[tuple]:
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def rejects(store: Store) -> list[tuple[int, dict, str]]:
    rows = query(store, "SELECT row_number, raw_row, reason FROM rejects ORDER BY row_number")
    return [(n, json.loads(raw), reason) for n, raw, reason in rows]


def invariant_holds(report: LoadReport) -> bool:
    return all(f.rows_in == f.rows_loaded + f.rows_rejected for f in report.files)


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "kpi.duckdb")


@pytest.fixture()
def loaded(store: Store, tmp_path: Path) -> Store:
    """A store holding the three good invoice lines."""
    load_files(store, "invoices", [write_csv(tmp_path / "first.csv", GOOD_INVOICES)])
    return store


# ---- good files in every format -----------------------------------------------------------
def good_csv(folder: Path) -> tuple[Path, dict]:
    return write_csv(folder / "invoices.csv", GOOD_INVOICES), {}


def good_xlsx(folder: Path) -> tuple[Path, dict]:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(GOOD_INVOICES[0]))
    for row in GOOD_INVOICES:  # dates as date cells, numbers as number cells, as Excel keeps them
        cells = []
        for name, value in row.items():
            kind = TABLES["invoices"].column(name).kind
            if value and kind == "date":
                cells.append(datetime.fromisoformat(value))
            elif value and kind in ("money", "price", "qty", "int"):
                cells.append(float(value) if "." in value else int(value))
            else:
                cells.append(value or None)
        sheet.append(cells)
    path = folder / "invoices.xlsx"
    book.save(path)
    return path, {}


def good_parquet(folder: Path) -> tuple[Path, dict]:
    frame = pl.DataFrame(GOOD_INVOICES).with_columns(
        pl.col("invoice_line").cast(pl.Int64),
        pl.col("invoice_date", "due_date").str.to_date(),
        pl.col("paid_date").replace("", None).str.to_datetime("%Y-%m-%d"),
        pl.col("amount", "discount_taken").replace("", None).cast(pl.Decimal(18, 2)),
        pl.col("quantity").cast(pl.Float64),
    )
    path = folder / "invoices.parquet"
    frame.write_parquet(path)
    return path, {}


def sap_sample(folder: Path) -> tuple[Path, dict]:
    return SAP_SAMPLE, {"mapping": "sap_invoices"}


@pytest.mark.parametrize(
    "make, rows, total",
    [
        (good_csv, 3, Decimal("199.96")),
        (good_xlsx, 3, Decimal("199.96")),
        (good_parquet, 3, Decimal("199.96")),
        # 12 lines, two credit notes (-25,00 and 250,00-): EUR 6981.92 + USD 2829.00
        (sap_sample, 12, Decimal("9810.92")),
    ],
    ids=["csv", "xlsx", "parquet", "sap-sample"],
)
def test_good_files_load_with_their_totals(store, tmp_path, make, rows, total):
    path, options = make(tmp_path)
    report = load_files(store, "invoices", [path], **options)
    result = report.files[0]
    assert (result.status, result.rows_in, result.rows_loaded, result.rows_rejected) == (
        "loaded",
        rows,
        rows,
        0,
    )
    assert result.amount == total
    assert query(store, "SELECT count(*), sum(amount) FROM invoices") == [(rows, total)]
    assert query(store, "SELECT rows_in, rows_loaded, amount_loaded, status FROM loads") == [
        (rows, rows, total, "loaded")
    ]


def test_the_three_formats_load_the_same_rows(tmp_path):
    contents = []
    for make in (good_csv, good_xlsx, good_parquet):
        store = Store(tmp_path / f"{make.__name__}.duckdb")
        load_files(store, "invoices", [make(tmp_path)[0]])
        # the table's own columns: the lineage columns name each file (tests/unit/test_lineage.py)
        own = ", ".join(TABLES["invoices"].column_names)
        contents.append(query(store, f"SELECT {own} FROM invoices ORDER BY 1, 2"))
    assert contents[0] == contents[1] == contents[2]
    assert contents[0][2][:2] == ("INV-1", 2) and contents[0][2][12] == Decimal("99.96")
    assert contents[0][0][4] == date(2026, 1, 5)  # CN-7 sorts first; its date came from a cell


def test_sap_sample_values(store):
    load_files(store, "invoices", [SAP_SAMPLE], mapping="sap_invoices")
    by_currency = query(store, "SELECT currency, sum(amount) FROM invoices GROUP BY 1 ORDER BY 1")
    assert by_currency == [("EUR", Decimal("6981.92")), ("USD", Decimal("2829.00"))]
    first = query(
        store,
        "SELECT invoice_line, category, cost_centre, quantity, invoice_date, paid_date "
        "FROM invoices WHERE invoice_id = '5100000101' ORDER BY 1",
    )
    # cp1252 umlaut, trailing spaces and a no-break space trimmed, "001" is line 1
    assert first[0] == (
        1,
        "Büromaterial",
        "4711",
        Decimal("10.000"),
        date(2026, 1, 5),
        date(2026, 2, 2),
    )
    credit = query(store, "SELECT amount FROM invoices WHERE invoice_id = '5100000107'")
    assert credit == [(Decimal("-250.00"),)]  # SAP's trailing minus


# ---- rows refused, with their reasons ----------------------------------------------------
REJECT_CASES = [
    (
        "invoices",
        {"invoice_date": "31/02/2026"},
        "invoice_date '31/02/2026' is not a date (expected YYYY-MM-DD)",
    ),
    (
        "invoices",
        {"invoice_date": "2026-02-30"},
        "invoice_date '2026-02-30' is not a date (expected YYYY-MM-DD)",
    ),
    (
        "invoices",
        {"due_date": "26-02-01"},
        "due_date '26-02-01' is not a date (expected YYYY-MM-DD)",
    ),
    ("invoices", {"amount": "12,3x"}, "amount '12,3x' is not a number"),
    ("invoices", {"amount": "€12.50"}, "amount '€12.50' is not a number"),
    ("invoices", {"amount": "12.50 EUR"}, "amount '12.50 EUR' is not a number"),
    ("invoices", {"amount": "1e3"}, "amount '1e3' is not a number"),
    ("invoices", {"amount": "12.345"}, "amount '12.345' has more than 2 decimal places"),
    ("invoices", {"unit_price": "1.23456"}, "unit_price '1.23456' has more than 4 decimal places"),
    ("invoices", {"quantity": "0.0001"}, "quantity '0.0001' has more than 3 decimal places"),
    ("invoices", {"amount": "12345678901234567.00"}, "amount '12345678901234567.00' is too large"),
    ("invoices", {"invoice_id": ""}, "invoice_id is missing"),
    ("invoices", {"amount": "  "}, "amount is missing"),
    (
        "invoices",
        {"currency": "XYZ"},
        "currency 'XYZ' is not a known ISO 4217 currency code (e.g. EUR, USD)",
    ),
    ("invoices", {"invoice_line": "1.5"}, "invoice_line '1.5' is not a whole number"),
    (
        "invoices",
        {"invoice_date": "2026-13-01", "currency": "EURO"},
        "invoice_date '2026-13-01' is not a date (expected YYYY-MM-DD); "
        "currency 'EURO' is not a known ISO 4217 currency code (e.g. EUR, USD)",
    ),
    (
        "invoices",
        {"invoice_id": "INV-1", "invoice_line": "2"},
        "duplicate of row 2 (same invoice_id, invoice_line)",
    ),
    (
        "invoices",
        {"invoice_id": "INV-1", "invoice_line": "02", "amount": "x"},
        "amount 'x' is not a number; duplicate of row 2 (same invoice_id, invoice_line)",
    ),
    ("purchase_orders", {"quantity": "-1"}, "quantity '-1' is negative (must be 0 or more)"),
    ("purchase_orders", {"po_date": ""}, "po_date is missing"),
    ("suppliers", {"size": "medium"}, "size 'medium' is not one of sme, large"),
    (
        "suppliers",
        {"preferred": "maybe"},
        "preferred 'maybe' is not a yes/no value (expected true/false, yes/no, y/n or 1/0)",
    ),
    (
        "suppliers",
        {"payment_terms_days": "30 days"},
        "payment_terms_days '30 days' is not a whole number",
    ),
    (
        "suppliers",
        {"discount_pct": "-0.02"},
        "discount_pct '-0.02' is negative (must be 0 or more)",
    ),
    ("budgets", {"period": "2026-13"}, "period '2026-13' is not a month (expected YYYY-MM)"),
    (
        "price_outlook",
        {"quarter": "Q1 2026"},
        "quarter 'Q1 2026' is not a fiscal quarter (expected e.g. FY2026-Q1)",
    ),
    ("fx_rates", {"rate": "-0.5"}, "rate '-0.5' is negative (must be 0 or more)"),
]


@pytest.mark.parametrize("table, spoiled, reason", REJECT_CASES)
def test_bad_rows_are_rejected_with_their_reason(store, tmp_path, table, spoiled, reason):
    good, fresh = GOOD[table]
    bad = fresh | spoiled
    path = write_csv(tmp_path / f"{table}.csv", [*good, bad])
    report = load_files(store, table, [path])
    n = len(good) + 1
    result = report.files[0]
    assert (result.rows_in, result.rows_loaded, result.rows_rejected) == (n, n - 1, 1)
    # the bad row is data row n, on line n + 1 under the header; its raw row is kept as read
    raw = {k: (v if v != "" else None) for k, v in bad.items()}
    assert rejects(store) == [(n, raw, f"row {n} (line {n + 1}): {reason}")]
    assert query(store, f"SELECT count(*) FROM {table}") == [(n - 1,)]


ACCEPTED = [  # (column, as written in the file, as stored)
    ("invoice_id", " INV-9\u00a0", "INV-9"),
    ("currency", "usd", "USD"),
    ("amount", "1,234.50", Decimal("1234.50")),
    ("amount", "12.5-", Decimal("-12.50")),
    ("amount", "+7", Decimal("7.00")),
    ("amount", "12.3400", Decimal("12.34")),  # trailing zeros are not decimals lost
    ("amount", "-0.01", Decimal("-0.01")),
    ("quantity", "3.0", Decimal("3.000")),
    ("invoice_line", "01", 1),
    ("invoice_line", "2.0", 2),
    ("invoice_date", "2026-1-5", date(2026, 1, 5)),
    ("paid_date", "", None),
]


@pytest.mark.parametrize("column, written, stored", ACCEPTED)
def test_values_written_otherwise_are_read(store, tmp_path, column, written, stored):
    path = write_csv(tmp_path / "one.csv", [invoice(**{column: written})])
    report = load_files(store, "invoices", [path])
    assert report.files[0].rows_loaded == 1, rejects(store)
    assert query(store, f"SELECT {column} FROM invoices") == [(stored,)]


@pytest.mark.parametrize(
    "column, written, stored",
    [
        ("size", "SME", "sme"),
        ("preferred", "Yes", True),
        ("preferred", "n", False),
        ("preferred", "1", True),
        ("payment_terms_days", "45", 45),
    ],
)
def test_choices_and_yes_no_values(store, tmp_path, column, written, stored):
    row = GOOD["suppliers"][0][0] | {column: written}
    load_files(store, "suppliers", [write_csv(tmp_path / "s.csv", [row])])
    assert query(store, f"SELECT {column} FROM suppliers") == [(stored,)]


def test_reasons_give_row_numbers_with_thousands_separators(store, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BATCH_ROWS", 500)  # also crosses batch boundaries
    rows = [invoice(invoice_id=f"INV-{i}") for i in range(1, 1205)]
    rows[1203]["invoice_date"] = "31/02/2026"  # data row 1,204 on line 1,205
    rows.append(invoice(invoice_id="INV-7"))  # repeats row 7, two batches earlier
    report = load_files(store, "invoices", [write_csv(tmp_path / "big.csv", rows)])
    assert (report.rows_in, report.rows_loaded, report.rows_rejected) == (1205, 1203, 2)
    assert [(n, reason) for n, _raw, reason in rejects(store)] == [
        (
            1204,
            "row 1,204 (line 1,205): invoice_date '31/02/2026' is not a date (expected YYYY-MM-DD)",
        ),
        (1205, "row 1,205 (line 1,206): duplicate of row 7 (same invoice_id, invoice_line)"),
    ]


def test_excel_reasons_name_the_sheet_row(store, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["period", "cost_centre", "category", "amount", "currency"])
    sheet.append(["2026-01", "CC1", "office", 100.5, "EUR"])
    sheet.append([None] * 5)  # an empty row is not a row
    sheet.append(["2026-02", "CC1", "office", 12.345, "EUR"])
    book.save(tmp_path / "budgets.xlsx")
    report = load_files(store, "budgets", [tmp_path / "budgets.xlsx"])
    assert (report.rows_in, report.rows_loaded, report.rows_rejected) == (2, 1, 1)
    assert rejects(store)[0][2] == (
        "row 3 (sheet row 4): amount '12.345' has more than 2 decimal places"
    )


# ---- file shapes and encodings that real exports have --------------------------------------
def test_header_only_file_loads_nothing(store, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(",".join(GOOD_INVOICES[0]) + "\n")
    report = load_files(store, "invoices", [path])
    assert (report.rows_in, report.rows_loaded, report.rows_rejected) == (0, 0, 0)
    assert report.files[0].status == "loaded"
    assert query(store, "SELECT rows_in, status FROM loads") == [(0, "loaded")]


@pytest.mark.parametrize(
    "encoding, newline, tail",
    [
        ("utf-8", "\n", "\n"),  # a blank last line
        ("utf-8", "\r\n", "\r\n\r\n"),  # CRLF and blank lines at the end
        ("utf-8-sig", "\r\n", ""),  # a byte-order mark (Excel's "CSV UTF-8")
        ("utf-8-sig", "\n", "\n\n"),
    ],
)
def test_line_endings_blank_lines_and_bom(store, tmp_path, encoding, newline, tail):
    rows = [invoice(category="Bürobedarf"), *GOOD_INVOICES[1:]]
    path = write_csv(tmp_path / "x.csv", rows, encoding=encoding, newline=newline, tail=tail)
    report = load_files(store, "invoices", [path])
    assert (report.rows_in, report.rows_loaded, report.rows_rejected) == (3, 3, 0)
    assert query(
        store,
        "SELECT DISTINCT category FROM invoices WHERE invoice_line = 1 AND invoice_id = 'INV-1'",
    ) == [("Bürobedarf",)]


MAPPING_FILE = """
sources:
  erp_lines:
    table: invoices
    columns: {invoice_id: Beleg, supplier_id: Lieferant, invoice_date: Datum, amount: Betrag}
    constants: {currency: eur}
    date_format: "%d.%m.%Y"
    decimal_comma: true
    encoding: cp1252
    delimiter: ";"
"""


def test_cp1252_semicolons_decimal_comma_and_numbered_lines(store, tmp_path):
    mapping = tmp_path / "sources.yaml"
    mapping.write_text(MAPPING_FILE)
    lines = [  # no line column: each document's lines are numbered in file order
        dict(Beleg="A1", Lieferant="Müller\u00a0", Datum="31.01.2026", Betrag="1.234,56"),
        dict(Beleg="B2", Lieferant="Größe", Datum="01.02.2026", Betrag="-10,00"),
        dict(Beleg="A1", Lieferant="Müller", Datum="31.01.2026", Betrag="0,44"),
        dict(Beleg="A1", Lieferant="Müller", Datum="2026-01-31", Betrag="5"),
    ]
    path = write_csv(
        tmp_path / "export.csv",
        lines,
        delimiter=";",
        encoding="cp1252",
        newline="\r\n",
        tail="\r\n",
    )
    report = load_files(store, "invoices", [path], mapping_file=mapping)
    assert report.files[0].amount == Decimal("1230.00")  # 1234.56 - 10 + 0.44 + 5
    assert query(
        store,
        "SELECT invoice_id, invoice_line, supplier_id, invoice_date, amount, currency "
        "FROM invoices ORDER BY 1, 2",
    ) == [
        ("A1", 1, "Müller", date(2026, 1, 31), Decimal("1234.56"), "EUR"),
        ("A1", 2, "Müller", date(2026, 1, 31), Decimal("0.44"), "EUR"),
        ("A1", 3, "Müller", date(2026, 1, 31), Decimal("5.00"), "EUR"),
        ("B2", 1, "Größe", date(2026, 2, 1), Decimal("-10.00"), "EUR"),
    ]
    assert query(store, "SELECT mapping FROM loads") == [("erp_lines",)]


def test_numbered_lines_continue_across_batches_and_reload_replaces_them(
    store, tmp_path, monkeypatch
):
    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    mapping = tmp_path / "sources.yaml"
    mapping.write_text(MAPPING_FILE.replace("decimal_comma: true", "decimal_comma: false"))
    lines = [
        dict(Beleg=doc, Lieferant="S", Datum="01.02.2026", Betrag="1")
        for doc in ["A", "B", "A", "A", "B", "C", "A"]
    ]
    path = write_csv(tmp_path / "run.csv", lines, delimiter=";")
    load_files(store, "invoices", [path], mapping_file=mapping)
    expected = [("A", 1), ("A", 2), ("A", 3), ("A", 4), ("B", 1), ("B", 2), ("C", 1)]
    assert query(store, "SELECT invoice_id, invoice_line FROM invoices ORDER BY 1, 2") == expected
    for line in lines:
        line["Betrag"] = "2"  # the next export of the same run: same lines, new amounts
    report = load_files(
        store,
        "invoices",
        [write_csv(tmp_path / "run2.csv", lines, delimiter=";")],
        mapping_file=mapping,
    )
    assert (report.rows_loaded, report.replaced) == (7, 7)
    assert query(store, "SELECT count(*), sum(amount) FROM invoices") == [(7, Decimal("14.00"))]


# ---- files refused whole: nothing of the command lands -----------------------------------
def missing_column(folder: Path) -> list[Path]:
    rows = [{k: v for k, v in r.items() if k != "invoice_date"} for r in GOOD_INVOICES]
    return [write_csv(folder / "no_date.csv", rows)]


def second_file_bad(folder: Path) -> list[Path]:
    return [write_csv(folder / "good.csv", GOOD_INVOICES), *missing_column(folder)]


def binary(folder: Path) -> list[Path]:
    path = folder / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 4)
    return [path]


def bad_utf8(folder: Path) -> list[Path]:
    path = write_csv(folder / "latin.csv", [invoice(category="Bürobedarf")], encoding="cp1252")
    return [path]


def empty(folder: Path) -> list[Path]:
    (folder / "empty.csv").write_bytes(b"")
    return [folder / "empty.csv"]


def truncated_parquet(folder: Path) -> list[Path]:
    path = good_parquet(folder)[0]
    path.write_bytes(path.read_bytes()[:200])
    return [path]


def text_as_xlsx(folder: Path) -> list[Path]:
    path = folder / "invoices.xlsx"
    path.write_text("invoice_id,amount\nA,1\n")
    return [path]


def unknown_extension(folder: Path) -> list[Path]:
    path = folder / "invoices.json"
    path.write_text("[]")
    return [path]


def ragged(folder: Path) -> list[Path]:
    path = write_csv(folder / "ragged.csv", GOOD_INVOICES)
    path.write_text(path.read_text() + "A,1,S1,,2026-01-01,,,,,,,,1.00,EUR,,extra\n")
    return [path]


def wrong_delimiter(folder: Path) -> list[Path]:
    return [write_csv(folder / "semi.csv", GOOD_INVOICES, delimiter=";")]


def missing_file(folder: Path) -> list[Path]:
    return [folder / "nowhere.csv"]


REFUSALS = [
    (
        missing_column,
        {},
        [
            "no_date.csv",
            "missing required column invoice_date",
            "columns found: 'invoice_id', 'invoice_line'",
        ],
    ),
    (second_file_bad, {}, ["no_date.csv", "invoice_date"]),
    (binary, {}, ["garbage.csv", "not a text (CSV) file"]),
    (bad_utf8, {}, ["latin.csv", "not valid UTF-8", "encoding: cp1252"]),
    (empty, {}, ["empty.csv", "is empty"]),
    (truncated_parquet, {}, ["invoices.parquet", "cannot be read as Parquet"]),
    (text_as_xlsx, {}, ["invoices.xlsx", "cannot be read as an Excel workbook"]),
    (unknown_extension, {}, ["invoices.json", "extension"]),
    (
        ragged,
        {},
        ["ragged.csv", "more fields than the header", "(line 5 has 16 fields, the header 15)"],
    ),
    (wrong_delimiter, {}, ["semi.csv", "missing required column", "delimiter"]),
    (missing_file, {}, ["nowhere.csv", "no such file"]),
    (
        second_file_bad,
        {"table": "invoice"},
        ["'invoice' is not a canonical table", "invoices, budgets"],
    ),
    (second_file_bad, {"mapping": "nope"}, ["no mapping named 'nope'", "sap_invoices"]),
    (
        second_file_bad,
        {"mapping": "sap_vendors"},
        ["mapping 'sap_vendors' is for table suppliers, not invoices"],
    ),
    (
        second_file_bad,
        {"mapping": "sap_invoices"},
        ["good.csv", "invoice_id (mapped from 'BELNR')"],
    ),
]


@pytest.mark.parametrize(
    "make, options, phrases",
    REFUSALS,
    ids=[f"{m.__name__}-{'-'.join(o.values())}" for m, o, _ in REFUSALS],
)
def test_unreadable_files_are_refused_and_nothing_lands(loaded, tmp_path, make, options, phrases):
    before = snapshot(loaded)
    options = dict(options)
    table = options.pop("table", "invoices")
    with pytest.raises(LoadRefused) as refused:
        load_files(loaded, table, make(tmp_path), **options)
    message = str(refused.value).replace("\\", "/")
    for phrase in phrases:
        assert phrase in message
    if table == "invoices" and make is not second_file_bad:
        assert str(make(tmp_path)[0]) in str(refused.value)  # the file, as given
    assert snapshot(loaded) == before


def test_bad_utf8_deep_in_a_big_file_is_refused(loaded, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BATCH_ROWS", 10)
    rows = [invoice(invoice_id=f"INV-{i}") for i in range(50)]
    path = write_csv(tmp_path / "late.csv", rows)
    path.write_bytes(path.read_bytes() + b"X,1,S1,,2026-01-01,,,,\xe4,,,,1.00,EUR,\n")
    before = snapshot(loaded)
    with pytest.raises(LoadRefused, match="late.csv is not valid UTF-8"):
        load_files(loaded, "invoices", [path])
    assert snapshot(loaded) == before


def test_a_load_that_dies_half_way_leaves_the_store_as_it_was(loaded, tmp_path, monkeypatch):
    real_upsert = loading._upsert
    calls = []

    def upsert_then_die(*args, **kwargs):
        calls.append(real_upsert(*args, **kwargs))
        if len(calls) == 2:
            raise RuntimeError("disk gone")
        return calls[-1]

    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    monkeypatch.setattr(loading, "_upsert", upsert_then_die)
    before = snapshot(loaded)
    rows = [invoice(invoice_id=f"NEW-{i}") for i in range(6)]
    with pytest.raises(RuntimeError, match="disk gone"):
        load_files(loaded, "invoices", [write_csv(tmp_path / "new.csv", rows)])
    assert len(calls) == 2
    assert snapshot(loaded) == before
    assert query(loaded, "SELECT count(*) FROM invoices") == [(3,)]


# ---- loading again -----------------------------------------------------------------------
def test_loading_the_same_file_twice_changes_nothing(loaded, tmp_path):
    before = snapshot(loaded)
    again = load_files(loaded, "invoices", [tmp_path / "first.csv"])
    assert [(f.status, f.rows_in, f.rows_loaded, f.previous_load_id) for f in again.files] == [
        (UNCHANGED, 0, 0, 1)
    ]
    assert snapshot(loaded) == before
    assert "unchanged (already loaded)" in again.as_table()
    copy = tmp_path / "copy.csv"  # same bytes under another name: still the same data
    copy.write_bytes((tmp_path / "first.csv").read_bytes())
    assert load_files(loaded, "invoices", [copy]).files[0].status == UNCHANGED


def test_a_corrected_file_replaces_rows_by_key(loaded, tmp_path):
    fixed = [invoice(amount="130.00"), invoice(invoice_id="INV-4", amount="1.00")]
    report = load_files(loaded, "invoices", [write_csv(tmp_path / "fixed.csv", fixed)])
    assert (report.rows_loaded, report.replaced) == (2, 1)
    assert query(loaded, "SELECT count(*), sum(amount) FROM invoices") == [
        (4, Decimal("205.96"))  # 199.96 - 125.00 + 130.00 + 1.00
    ]
    assert query(loaded, "SELECT load_id, rows_loaded FROM loads ORDER BY 1") == [(1, 3), (2, 2)]


def test_files_of_one_command_load_in_order_and_the_later_wins(store, tmp_path):
    one = write_csv(tmp_path / "one.csv", GOOD_INVOICES)
    two = write_csv(tmp_path / "two.csv", [invoice(amount="1.00")])
    report = load_files(store, "invoices", [one, two, one])
    assert [(f.status, f.rows_loaded, f.replaced) for f in report.files] == [
        ("loaded", 3, 0),
        ("loaded", 1, 1),
        (UNCHANGED, 0, 0),
    ]
    assert query(store, "SELECT sum(amount) FROM invoices") == [(Decimal("75.96"),)]
    # the report adds up what each file loaded: 199.96 + 1.00, although 125.00 was replaced
    assert printed_counts(report.as_table(), "total") == [
        "(3",
        "files)",
        "4",
        "4",
        "0",
        "1",
        "200.96",
    ]


def test_store_unchanged_after_rejects_only_reload(store, tmp_path):
    path = write_csv(tmp_path / "bad.csv", [invoice(amount="x")])
    first = load_files(store, "invoices", [path])
    assert (first.rows_in, first.rows_rejected) == (1, 1)
    before = snapshot(store)
    assert load_files(store, "invoices", [path]).files[0].status == UNCHANGED
    assert snapshot(store) == before


# ---- invariants --------------------------------------------------------------------------
AMOUNTS = st.one_of(
    st.decimals(min_value=-(10**6), max_value=10**6, places=2).map(str),
    st.decimals(min_value=-(10**6), max_value=10**6, places=3).map(str),
    st.sampled_from(["", "abc", "1,5", "€3", "12.5-", "1,234.50", " 7 ", "0.1e1"]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(amounts=st.lists(AMOUNTS, min_size=1, max_size=30))
def test_rows_in_equal_loaded_plus_rejected_and_totals_reconcile(tmp_path_factory, amounts):
    folder = tmp_path_factory.mktemp("prop")
    store = Store(folder / "kpi.duckdb")
    rows = [invoice(invoice_id=f"INV-{i}", amount=a) for i, a in enumerate(amounts)]
    report = load_files(store, "invoices", [write_csv(folder / "p.csv", rows)])
    assert invariant_holds(report) and report.rows_in == len(amounts)
    stored = query(store, "SELECT count(*), coalesce(sum(amount), 0) FROM invoices")[0]
    assert stored == (report.rows_loaded, report.amount)
    assert query(store, "SELECT count(*) FROM rejects") == [(report.rows_rejected,)]
    # the loaded total is the exact sum of the amounts that are plain numbers of 2 places
    expected = sum(
        (
            Decimal(a.replace(",", "").strip().removesuffix("-"))
            * (-1 if a.strip().endswith("-") else 1)
            for a in amounts
            if _plain_money(a)
        ),
        Decimal("0"),
    )
    assert report.amount == expected


def _plain_money(text: str) -> bool:
    import re

    t = text.strip()
    shaped = re.fullmatch(r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d*)?|(\d+|\d{1,3}(,\d{3})+)(\.\d*)?-", t)
    return (
        bool(shaped) and re.fullmatch(r"[+-]?\d*(\.\d{0,2}0*)?-?", t.replace(",", "")) is not None
    )


# ---- mappings ----------------------------------------------------------------------------
def test_sources_yaml_mappings_are_valid():
    mappings = load_mappings(ROOT / "config" / "sources.yaml")
    sap = mappings["sap_invoices"]
    assert (
        sap.table,
        sap.columns["invoice_id"],
        sap.date_format,
        sap.decimal_comma,
        sap.encoding,
        sap.delimiter,
    ) == ("invoices", "BELNR", "%d.%m.%Y", True, "cp1252", ";")
    assert mappings["sap_payment_run"].constants == {"currency": "EUR"}


@pytest.mark.parametrize(
    "body, problem",
    [
        ("table: invoice", "table 'invoice' is not a canonical table"),
        ("table: invoices\ncolumns: {invoice_no: BELNR}", "'invoice_no' is not a column"),
        (
            "table: invoices\nconstants: {currency: EUR}\ncolumns: {currency: WAERS}",
            "'currency' is both mapped and a constant",
        ),
        ("table: invoices\nencoding: klingon", "encoding 'klingon'"),
        ("table: invoices\ndate_format: DD.MM.YYYY", "date_format must be a strftime format"),
        ("table: invoices\ndelimiter: ';;'", "delimiter must be one character"),
        ("table: invoices\ndecimal_comma: sometimes", "decimal_comma must be true or false"),
        ("table: invoices\ncolums: {}", "unknown field 'colums'"),
    ],
)
def test_mapping_mistakes_are_named(tmp_path, body, problem):
    path = tmp_path / "m.yaml"
    indented = "\n".join("    " + line for line in body.splitlines())
    path.write_text(f"sources:\n  mine:\n{indented}\n")
    with pytest.raises(MappingError) as error:
        load_mappings(path)
    assert problem in str(error.value) and "mapping 'mine'" in str(error.value)


def test_progress_is_reported(store, tmp_path):
    messages: list[str] = []
    load_files(
        store, "invoices", [write_csv(tmp_path / "p.csv", GOOD_INVOICES)], progress=messages.append
    )
    assert any(m.startswith("Reading") for m in messages)
    assert any("3 rows loaded, 0 rejected" in m for m in messages)


# ---- the command line --------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KPI_DEBUG", "KPI_DB")}
    return subprocess.run(
        [sys.executable, "-m", "kpi", "load", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def printed_counts(stdout: str, name: str) -> list[str]:
    """The status and figures printed on the file's line of the report."""
    return next(line for line in stdout.splitlines() if name in line).split()[1:]


def test_command_line_loads_and_prints_counts(tmp_path):
    db = tmp_path / "cli.duckdb"
    bad = write_csv(tmp_path / "mixed.csv", [*GOOD_INVOICES, invoice(invoice_id="X", amount="?")])
    done = run_cli(
        "invoices",
        str(SAP_SAMPLE),
        str(bad),
        "--mapping-file",
        str(ROOT / "config" / "sources.yaml"),
        "--mapping",
        "sap_invoices",
        "--db",
        str(db),
    )
    assert done.returncode == 1 and "Refused, nothing was loaded" in done.stderr  # SAP columns
    done = run_cli("invoices", str(bad), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert printed_counts(done.stdout, "mixed.csv") == ["loaded", "4", "3", "1", "0", "199.96"]
    assert "Traceback" not in done.stderr
    again = run_cli("invoices", str(bad), "--db", str(db))
    assert again.returncode == 0 and "unchanged (already loaded)" in again.stdout


def test_command_line_sap_sample_and_refusal(tmp_path):
    db = tmp_path / "cli.duckdb"
    done = run_cli("invoices", str(SAP_SAMPLE), "--mapping", "sap_invoices", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert printed_counts(done.stdout, "sap_invoices") == [
        "loaded",
        "12",
        "12",
        "0",
        "0",
        "9810.92",
    ]
    before = db.read_bytes()
    missing = write_csv(
        tmp_path / "no_amount.csv",
        [{k: v for k, v in r.items() if k != "amount"} for r in GOOD_INVOICES],
    )
    refused = run_cli("invoices", str(missing), "--db", str(db))
    assert refused.returncode == 1
    assert "no_amount.csv" in refused.stderr and "amount" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    assert db.read_bytes() == before
    unknown = run_cli("invoicez", str(missing), "--db", str(db))
    assert unknown.returncode == 1 and "not a canonical table" in unknown.stderr


def test_lines_of_spaces_or_delimiters_are_not_rows_and_numbering_follows_the_file(store, tmp_path):
    path = write_csv(tmp_path / "gaps.csv", GOOD_INVOICES[:2])
    with path.open("a") as out:
        out.write(",,,,,,,,,,,,,,\n   \n")  # Excel's empty rows, a line of spaces
        out.write(",".join(invoice(invoice_id="INV-9", amount="oops").values()) + "\n\n")
    report = load_files(store, "invoices", [path])
    assert (report.rows_in, report.rows_loaded, report.rows_rejected) == (3, 2, 1)
    assert rejects(store)[0][2] == "row 5 (line 6): amount 'oops' is not a number"


def test_parquet_rows_are_numbered_without_lines(store, tmp_path):
    frame = pl.DataFrame(
        {
            "period": ["2026-01", "2026-02"],
            "cost_centre": ["CC1", "CC1"],
            "category": ["office", "office"],
            "amount": [Decimal("10.000"), Decimal("1.005")],
            "currency": ["EUR", "EUR"],
        },
        schema_overrides={"amount": pl.Decimal(18, 3)},
    )
    frame.write_parquet(tmp_path / "b.parquet")
    report = load_files(store, "budgets", [tmp_path / "b.parquet"])
    assert (report.rows_loaded, report.rows_rejected, report.amount) == (1, 1, Decimal("10.00"))
    assert rejects(store)[0][2] == "row 2: amount '1.005' has more than 2 decimal places"


def test_an_excel_sheet_named_by_the_only_mapping_in_a_file(store, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    sheet = book.create_sheet("Budget 2026")
    sheet.append(["Monat", "Kostenstelle", "Warengruppe", "Budget"])
    sheet.append(["2026-01", "CC1", "office", 1500])
    sheet.append(["2026-02", "CC1", "office", 1499.99])
    book.save(tmp_path / "budget.xlsx")
    mapping = tmp_path / "mine.yaml"
    mapping.write_text(
        "sources:\n  wb:\n    table: budgets\n    sheet: Budget 2026\n"
        "    columns: {period: Monat, cost_centre: Kostenstelle, category: Warengruppe, "
        "amount: Budget}\n    constants: {currency: EUR}\n"
    )
    report = load_files(store, "budgets", [tmp_path / "budget.xlsx"], mapping_file=mapping)
    assert (report.rows_loaded, report.amount) == (2, Decimal("2999.99"))
    mapping.write_text(mapping.read_text().replace("Budget 2026", "Budget 2027"))
    with pytest.raises(LoadRefused, match="has no sheet 'Budget 2027'; sheets: Notes, Budget 2026"):
        load_files(store, "budgets", [tmp_path / "budget.xlsx"], mapping_file=mapping)
