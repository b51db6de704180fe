"""Lineage: every loaded row keeps its load, the file's own name, the Excel sheet and its row
as a spreadsheet program numbers it (header row 1, so the first data row is 2), whatever the
path that wrote it: CSV, Excel (a named sheet), Parquet, a mapped ERP export, a reload with
--force, an upload from the Data page, the demo; rows entered in the app say so; a store
made before lineage keeps working; the curated views carry the rows' lineage.

Every expected row number below is counted by hand from the file written in the test.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from kpi.core.people import Person
from kpi.demo.build import build_demo
from kpi.ingest.pipelines import load_files
from kpi.ingest.upload import load_upload
from kpi.store.database import Store
from kpi.store.schema import ENTERED_IN_APP, LINEAGE_NAMES, TABLES
from kpi.workflows.goals import set_price_outlook
from kpi.workflows.initiative_model import Initiative
from kpi.workflows.initiatives import save_initiative
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]
SAP_SAMPLE = ROOT / "data" / "samples" / "sap_invoices_2026-01.csv"
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")

HEAD = (
    "invoice_id,invoice_line,supplier_id,invoice_date,item_id,quantity,unit_price,amount,currency\n"
)
# line 2: good; line 3: a date that does not exist (rejected); line 4: good
LINES = (
    HEAD
    + "N-1,1,S1,2026-05-02,I1,10,10.00,100.00,EUR\n"
    + "N-2,1,S1,2026-02-30,I1,1,10.00,10.00,EUR\n"
    + "N-3,1,S1,2026-05-03,I2,2,20.00,40.00,EUR\n"
)
LINEAGE = ", ".join(LINEAGE_NAMES)


def rows(store: Store, sql: str) -> list[tuple]:
    with store.read() as con:
        return con.execute(sql).fetchall()


def lineage_of(store: Store, table: str = "invoices", key: str = "invoice_id") -> list[tuple]:
    return rows(store, f"SELECT {key}, {LINEAGE} FROM {table} ORDER BY source_row, {key}")


# ---- every load path -------------------------------------------------------------------------
def test_a_csv_row_keeps_its_spreadsheet_row_number_a_rejected_row_between(tmp_path):
    store = Store(tmp_path / "kpi.duckdb")
    path = tmp_path / "invoices_may.csv"
    path.write_text(LINES, encoding="utf-8")
    report = load_files(store, "invoices", [path])
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert lineage_of(store) == [
        ("N-1", 1, "invoices_may.csv", None, 2),
        ("N-3", 1, "invoices_may.csv", None, 4),
    ]
    # the reject names the line in between: the rows and their reject read alike
    ((number, reason),) = rows(store, "SELECT row_number, reason FROM rejects")
    assert number == 2 and reason.startswith("row 2 (line 3): invoice_date '2026-02-30'")
    assert rows(store, "SELECT load_id, file_name FROM loads") == [(1, "invoices_may.csv")]


def test_an_excel_load_from_a_named_sheet_says_the_sheet(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Read me: the budget is on the next sheet"])
    sheet = book.create_sheet("Budget 2026")
    sheet.append(["Monat", "Kostenstelle", "Warengruppe", "Budget"])
    sheet.append(["2026-01", "CC1", "Packaging", 1000])
    sheet.append(["2026-13", "CC1", "Packaging", 5])  # no such month: rejected
    sheet.append(["2026-02", "CC2", "IT hardware", 2500.5])
    path = tmp_path / "Budget workbook.xlsx"
    book.save(path)
    store = Store(tmp_path / "kpi.duckdb")
    report = load_files(store, "budgets", [path], mapping="budget_workbook")
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert rows(store, f"SELECT period, amount, {LINEAGE} FROM budgets ORDER BY period") == [
        ("2026-01", Decimal("1000.00"), 1, "Budget workbook.xlsx", "Budget 2026", 2),
        ("2026-02", Decimal("2500.50"), 1, "Budget workbook.xlsx", "Budget 2026", 4),
    ]
    ((reason,),) = rows(store, "SELECT reason FROM rejects")
    assert reason.startswith("row 2 (sheet row 3):")


def test_an_excel_load_of_the_first_sheet_names_it_too(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Export"
    for line in LINES.splitlines():
        book.active.append(line.split(","))
    path = tmp_path / "invoices.xlsx"
    book.save(path)
    store = Store(tmp_path / "kpi.duckdb")
    load_files(store, "invoices", [path])
    assert lineage_of(store) == [
        ("N-1", 1, "invoices.xlsx", "Export", 2),
        ("N-3", 1, "invoices.xlsx", "Export", 4),
    ]


def test_a_parquet_load_numbers_its_rows_as_a_spreadsheet_would(tmp_path):
    frame = pl.DataFrame(
        {
            "invoice_id": ["P-1", "P-2", "P-3"],
            "invoice_line": [1, 1, 1],
            "supplier_id": ["S1", "S1", "S2"],
            "invoice_date": ["2026-05-02", "2026-05-03", "2026-05-04"],
            "amount": ["10.00", "20.00", "30.00"],
            "currency": ["EUR", "EUR", "USD"],
        }
    ).with_columns(pl.col("invoice_date").str.to_date())
    path = tmp_path / "invoices.parquet"
    frame.write_parquet(path)
    store = Store(tmp_path / "kpi.duckdb")
    load_files(store, "invoices", [path])
    assert lineage_of(store) == [
        ("P-1", 1, "invoices.parquet", None, 2),
        ("P-2", 1, "invoices.parquet", None, 3),
        ("P-3", 1, "invoices.parquet", None, 4),
    ]


def test_a_mapped_erp_export_keeps_its_own_name_and_lines(tmp_path):
    store = Store(tmp_path / "kpi.duckdb")
    load_files(store, "invoices", [SAP_SAMPLE], mapping="sap_invoices")
    found = rows(
        store,
        "SELECT invoice_id, invoice_line, source_file, source_sheet, source_row FROM invoices "
        "ORDER BY source_row",
    )
    assert len(found) == 12
    # the sample's line 2 is BELNR 5100000101 BUZEI 001, line 3 its BUZEI 002
    assert found[:2] == [
        ("5100000101", 1, "sap_invoices_2026-01.csv", None, 2),
        ("5100000101", 2, "sap_invoices_2026-01.csv", None, 3),
    ]
    assert [r[4] for r in found] == list(range(2, 14))  # no rejects: lines 2 to 13


def test_a_reload_with_force_gives_replaced_rows_the_new_loads_lineage(tmp_path):
    store = Store(tmp_path / "kpi.duckdb")
    first = tmp_path / "invoices_may.csv"
    first.write_text(LINES, encoding="utf-8")
    load_files(store, "invoices", [first])
    load_files(store, "invoices", [first], force=True)
    assert [r[1] for r in lineage_of(store)] == [2, 2]  # the same bytes, the second load
    # a corrected file: N-3 first, then N-2 with its date fixed, N-1 not repeated
    fixed = tmp_path / "invoices_may_fixed.csv"
    fixed.write_text(
        HEAD
        + "N-3,1,S1,2026-05-03,I2,2,20.00,40.00,EUR\n"
        + "N-2,1,S1,2026-02-28,I1,1,10.00,10.00,EUR\n",
        encoding="utf-8",
    )
    report = load_files(store, "invoices", [fixed], force=True)
    assert report.files[0].replaced == 1
    assert lineage_of(store) == [
        ("N-1", 2, "invoices_may.csv", None, 2),
        ("N-3", 3, "invoices_may_fixed.csv", None, 2),
        ("N-2", 3, "invoices_may_fixed.csv", None, 3),
    ]


def test_an_upload_from_the_data_page_keeps_the_uploaded_files_own_name(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    folder = tmp_path / "tmpab12"
    folder.mkdir()
    path = folder / "tmp0a1b2c.csv"  # the page's temporary copy
    path.write_text(LINES, encoding="utf-8")
    load_upload(store, SAM, "invoices", [path], file_names=["invoices_2026-05.csv"])
    (load_id,) = rows(store, "SELECT max(load_id) FROM loads")[0]
    assert rows(store, f"SELECT invoice_id, {LINEAGE} FROM invoices WHERE load_id IS NOT NULL "
                "ORDER BY invoice_id") == [
        ("N-1", load_id, "invoices_2026-05.csv", None, 2),
        ("N-3", load_id, "invoices_2026-05.csv", None, 4),
    ]  # fmt: skip
    # the fixture's own rows were written without a load: no lineage
    assert rows(store, "SELECT count(*) FROM invoices WHERE load_id IS NULL")[0][0] == 5


# ---- rows the app writes, and the audited tables ---------------------------------------------
def test_rows_entered_in_the_app_say_so(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    saved = save_initiative(
        store,
        JONAS,
        Initiative(
            title="Glove re-tender",
            kind="price_reduction",
            category="MRO spares",
            supplier_id="S2",
            item_id="I3",
            baseline_unit_price=Decimal("100.00"),
            negotiated_unit_price=Decimal("90.00"),
            expected_volume=Decimal("10"),
            currency="EUR",
            start_date="2027-06-01",
            end_date="2027-12-31",
            stage="identified",
        ),
    )
    assert rows(
        store, f"SELECT {LINEAGE} FROM savings_initiatives WHERE initiative_id = '{saved}'"
    ) == [(None, ENTERED_IN_APP, None, None)]
    set_price_outlook(store, JONAS, "FY2027-Q1", "Packaging", "2.5", "Board prices")
    assert rows(store, f"SELECT {LINEAGE} FROM price_outlook WHERE quarter = 'FY2027-Q1'") == [
        (None, ENTERED_IN_APP, None, None)
    ]


def test_a_reloaded_initiative_logs_no_lineage_as_a_field_change(tmp_path):
    """SI1 loaded with its numbers as stored and a new stage: its lineage changes (none
    before, this file now), yet the audit log records the stage only."""
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    path = tmp_path / "si1.csv"
    path.write_text(
        "initiative_id,title,kind,category,supplier_id,item_id,baseline_unit_price,"
        "negotiated_unit_price,expected_volume,currency,start_date,end_date,owner,stage\n"
        "SI1,Carton re-tender,price_reduction,Packaging,S1,I1,11.00,10.00,200,EUR,2026-01-01,"
        "2026-12-31,jonas.berg@example.org,implemented\n",
        encoding="utf-8",
    )
    load_upload(store, JONAS, "savings_initiatives", [path])
    assert rows(store, "SELECT field FROM initiative_changes WHERE initiative_id = 'SI1'") == [
        ("stage",)
    ]
    assert rows(
        store, "SELECT source_file, source_row FROM savings_initiatives WHERE initiative_id = 'SI1'"
    ) == [("si1.csv", 2)]


# ---- the demo --------------------------------------------------------------------------------
def test_the_demos_rows_name_their_demo_load(tmp_path):
    store_path = tmp_path / "demo.duckdb"
    counts = build_demo(store_path, seed=42, scale=0.02)
    store = Store(store_path)
    loads = dict(rows(store, "SELECT table_name, load_id FROM loads"))
    names = dict(rows(store, "SELECT table_name, file_name FROM loads"))
    assert names["invoices"] == "demo invoices (seed 42, scale 0.02)"
    for name in TABLES:
        found = rows(
            store,
            f"SELECT count(*), count(DISTINCT load_id), min(load_id), min(source_file), "
            f"count(source_sheet), min(source_row), max(source_row) FROM {name}",
        )
        n = counts[name]
        assert found == [(n, 1, loads[name], names[name], 0, 2, n + 1)], name
    # the first suppliers row of the demo frame is row 2: S0001, the first id
    assert rows(store, "SELECT supplier_id FROM suppliers WHERE source_row = 2") == [("S0001",)]


# ---- a store made before lineage -------------------------------------------------------------
def test_a_store_made_before_lineage_reads_then_gains_the_columns(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    con = duckdb.connect(str(store.path))
    for name in TABLES:
        for column in LINEAGE_NAMES:
            con.execute(f'ALTER TABLE {name} DROP COLUMN "{column}"')
    con.close()
    # read as it is (read-only): the views still work, the lineage reads null
    assert rows(store, "SELECT count(*), count(source_file) FROM spend") == [(5, 0)]
    assert rows(store, "SELECT count(*), count(load_id) FROM budget_vs_actual")[0][1] == 0
    # the next load adds the columns: the old rows keep null, the new rows are filled
    path = tmp_path / "invoices_may.csv"
    path.write_text(LINES, encoding="utf-8")
    load_files(store, "invoices", [path])
    assert rows(
        store,
        "SELECT count(*) FILTER (WHERE source_file IS NULL), "
        "count(*) FILTER (WHERE source_file = 'invoices_may.csv') FROM invoices",
    ) == [(5, 2)]


# ---- the views carry lineage -----------------------------------------------------------------
def test_the_views_carry_their_rows_lineage(tmp_path):
    store = Store(tmp_path / "kpi.duckdb")
    path = tmp_path / "invoices_may.csv"
    path.write_text(LINES, encoding="utf-8")
    load_files(store, "invoices", [path])
    budget = tmp_path / "budgets.csv"
    budget.write_text(
        "period,cost_centre,category,amount,currency\n2026-05,CC1,office,500.00,EUR\n",
        encoding="utf-8",
    )
    load_files(store, "budgets", [budget])
    for view in ("spend", "payments", "invoice_match", "savings_lines"):
        assert rows(
            store,
            f"SELECT v.invoice_id, v.source_row, v.source_file FROM {view} v "
            "JOIN invoices i USING (invoice_id, invoice_line) "
            "WHERE v.source_row = i.source_row AND v.load_id = i.load_id ORDER BY 1",
        ) == [("N-1", 2, "invoices_may.csv"), ("N-3", 4, "invoices_may.csv")], view
        with store.read() as con:  # the lineage columns come last
            names = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
        assert names[-4:] == list(LINEAGE_NAMES), view
    # budget_vs_actual: a group's lineage is its budget line's; no budget, no lineage
    assert rows(
        store,
        "SELECT cost_centre, category, source_file, source_row FROM budget_vs_actual "
        "ORDER BY cost_centre NULLS LAST, category",
    ) == [("CC1", "office", "budgets.csv", 2), (None, None, None, None)]
    # spend_yoy: a line a year earlier is May 2026's prior year; each row keeps its line's
    earlier = tmp_path / "invoices_2025.csv"
    earlier.write_text(HEAD + "N-0,1,S1,2025-05-02,I1,1,10.00,10.00,EUR\n", encoding="utf-8")
    load_files(store, "invoices", [earlier])
    assert rows(
        store,
        "SELECT source_file, source_row, current_amount, prior_amount FROM spend_yoy "
        "ORDER BY source_file, source_row",
    ) == [
        ("invoices_2025.csv", 2, Decimal("0.00"), Decimal("10.00")),
        ("invoices_may.csv", 2, Decimal("100.00"), Decimal("0.00")),
        ("invoices_may.csv", 4, Decimal("40.00"), Decimal("0.00")),
    ]
