"""The bad-file corpus (tests/bad_files): every malformed input and its expected outcome.

Each entry of tests/bad_files/manifest.yaml is loaded onto a fresh store holding a small
valid baseline, so "the store is unchanged" after a refusal means something. A refusal must
name the file (and the row and column where there is one) and leave every table as it was;
a load must keep rows in = loaded + rejected, give every rejected row a reason naming its
column, and load money that adds up, to the cent, to the file's valid rows (the figures are
hand-computed in the manifest).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from kpi.core.output import to_csv_text
from kpi.ingest.pipelines import UNCHANGED, LoadRefused, LoadReport, load_files
from kpi.store.database import Store
from kpi.store.schema import TABLES
from tests.browser.support import (
    ARTIFACTS,
    acting_url,
    browser_marks,
    expect_text,
    running_app,
    wait_rendered,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "bad_files"
MAPPINGS = CORPUS / "sources.yaml"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))["entries"]
BASELINE_ORDER = ["suppliers", "items", "invoices", "purchase_orders", "goods_receipts"]
BASELINE_ORDER += ["inventory", "budgets", "contracts"]


# ---- helpers ------------------------------------------------------------------------------
def files_of(entry: dict) -> list[Path]:
    return [CORPUS / f for f in entry.get("files") or [entry["file"]]]


def entry_id(entry: dict) -> str:
    name = "+".join(f.stem for f in files_of(entry))
    return f"{name}-{entry['mapping']}" if entry.get("mapping") else name


def query(store: Store, sql: str) -> list[tuple]:
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()  # DuckDB keeps one instance per file open: close it, or it goes stale


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal dumps mean equal stores."""
    tables = [t for (t,) in query(store, "SELECT table_name FROM duckdb_tables() ORDER BY 1")]
    return {t: sorted(query(store, f"SELECT * FROM {t}"), key=repr) for t in tables}


def column_sum(store: Store, table: str, column: str) -> Decimal:
    return query(store, f"SELECT coalesce(sum({column}), 0) FROM {table}")[0][0]


def as_text(rows) -> list[list[str | None]]:
    return [[None if v is None else str(v) for v in row] for row in rows]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A store file holding the valid baseline (built once; each test works on a copy)."""
    store = Store(tmp_path_factory.mktemp("baseline") / "kpi.duckdb")
    for table in BASELINE_ORDER:
        report = load_files(store, table, [CORPUS / "baseline" / f"{table}.csv"])
        assert report.rows_rejected == 0, (table, query(store, "SELECT reason FROM rejects"))
    # 100.00 + 50.00 in invoices, 200.00 in purchase orders, 1000.00 in budgets
    assert column_sum(store, "invoices", "amount") == Decimal("150.00")
    assert column_sum(store, "purchase_orders", "amount") == Decimal("200.00")
    assert column_sum(store, "budgets", "amount") == Decimal("1000.00")
    return store.path


@pytest.fixture()
def store(baseline: Path, tmp_path: Path) -> Store:
    path = tmp_path / "kpi.duckdb"
    shutil.copyfile(baseline, path)
    return Store(path)


# ---- the corpus itself ---------------------------------------------------------------------
def test_the_corpus_covers_every_kind_of_bad_file():
    """At least 40 inputs, several tables, and each kind of the issue's list."""
    names = {f.name for e in MANIFEST for f in files_of(e)}
    assert len(MANIFEST) >= 40 and all((CORPUS / n).is_file() for n in names)
    assert {e["table"] for e in MANIFEST} >= {
        "invoices",
        "suppliers",
        "items",
        "purchase_orders",
        "goods_receipts",
        "inventory",
        "budgets",
        "contracts",
    }
    kinds = ["enc_latin1", "enc_utf16", "enc_utf8_bom", "delim_", "header_only", "empty"]
    kinds += ["col_missing", "col_extra", "col_renamed", "col_duplicated", "date_bad"]
    kinds += ["date_ambiguous", "decimal_comma", "thousands", "currency_symbols"]
    kinds += ["qty_negative", "dup_keys_in_file", "dup_across", "ref_unknown_supplier"]
    kinds += ["ref_unknown_item", "currency_unknown", "date_future", "long_field"]
    kinds += ["formula", "xlsx_several_sheets", "xlsx_merged_header", "parquet_truncated"]
    for kind in kinds:
        assert any(kind in n for n in names), kind
    on_disk = {p.name for p in CORPUS.iterdir() if p.suffix in (".csv", ".txt", ".xlsx")}
    on_disk |= {p.name for p in CORPUS.glob("*.parquet")}
    assert on_disk - {"sources.yaml"} <= names  # no file in the folder without an outcome


REFUSED = [e for e in MANIFEST if e["outcome"] == "refused"]
LOADED = [e for e in MANIFEST if e["outcome"] == "loaded"]


@pytest.mark.parametrize("entry", REFUSED, ids=[entry_id(e) for e in REFUSED])
def test_refused_files_name_the_problem_and_change_nothing(store, entry):
    bytes_before, rows_before = store.path.read_bytes(), dump(store)
    with pytest.raises(LoadRefused) as refused:
        load_files(
            store,
            entry["table"],
            files_of(entry),
            mapping=entry.get("mapping"),
            mapping_file=MAPPINGS if entry.get("mapping") else None,
        )
    message = str(refused.value)
    for phrase in entry["message"]:
        assert phrase in message, (phrase, message)
    assert "Traceback" not in message and "\n" not in message.strip()  # one clear line
    assert store.path.read_bytes() == bytes_before
    assert dump(store) == rows_before


@pytest.mark.parametrize("entry", LOADED, ids=[entry_id(e) for e in LOADED])
def test_loaded_files_reconcile_and_keep_their_rejects_with_reasons(store, entry):
    table = TABLES[entry["table"]]
    column = entry.get("total_column", "amount")
    sum_before = column_sum(store, table.name, column)
    last_load = query(store, "SELECT max(load_id) FROM loads")[0][0]
    report: LoadReport = load_files(
        store,
        table.name,
        files_of(entry),
        mapping=entry.get("mapping"),
        mapping_file=MAPPINGS if entry.get("mapping") else None,
    )
    # nothing lost: every row is loaded or rejected, per file and in total
    assert all(f.rows_in == f.rows_loaded + f.rows_rejected for f in report.files)
    counts = (report.rows_in, report.rows_loaded, report.rows_rejected, report.replaced)
    assert counts == (
        entry["rows_in"],
        entry["loaded"],
        entry["rejected"],
        entry.get("replaced", 0),
    )
    # money to the cent: the loaded rows add up to the file's valid rows (hand-computed)
    total = Decimal(entry["total"])
    if column == "amount":
        assert report.amount == total
    moved = column_sum(store, table.name, column) - sum_before
    assert moved == Decimal(entry.get("store_delta", entry["total"]))
    # the bookkeeping says the same
    loads = query(
        store,
        f"SELECT sum(rows_in), sum(rows_loaded), sum(rows_rejected) FROM loads "
        f"WHERE load_id > {last_load}",
    )
    assert loads == [(entry["rows_in"], entry["loaded"], entry["rejected"])]
    # each rejected row is kept, as read, with a reason that names its column
    kept = query(
        store,
        f"SELECT reason, raw_row FROM rejects WHERE load_id > {last_load} "
        "ORDER BY load_id, row_number",
    )
    assert len(kept) == entry["rejected"]
    for (reason, raw), expected in zip(kept, entry.get("reasons", []), strict=True):
        assert expected in reason, (expected, reason)
        assert any(c in reason for c in table.column_names), reason
        assert json.loads(raw)  # the original row, to fix and load again
    if "ignored" in entry:
        assert report.files[0].ignored_columns == entry["ignored"]
        assert "not loaded" in report.as_table() and entry["ignored"][0] in report.as_table()
    if "check" in entry:
        assert as_text(query(store, entry["check"]["sql"])) == as_text(entry["check"]["rows"])


# ---- duplicate keys across loads, formulas on the way out ----------------------------------
def test_duplicate_keys_across_two_loads_the_later_wins(store):
    a, b = CORPUS / "dup_across_a.csv", CORPUS / "dup_across_b.csv"
    first = load_files(store, "invoices", [a])
    second = load_files(store, "invoices", [b])
    assert (first.rows_loaded, first.replaced, first.amount) == (2, 0, Decimal("30.00"))
    assert (second.rows_loaded, second.replaced, second.amount) == (2, 1, Decimal("30.00"))
    rows = query(
        store, "SELECT invoice_id, invoice_line, amount FROM invoices WHERE invoice_id LIKE 'XF-%'"
    )
    assert sorted(rows) == [  # line 2 is b's 25.00, not a's 20.00
        ("XF-1", 1, Decimal("10.00")),
        ("XF-1", 2, Decimal("25.00")),
        ("XF-2", 1, Decimal("5.00")),
    ]
    assert column_sum(store, "invoices", "amount") == Decimal("190.00")  # 150.00 + 40.00
    before = store.path.read_bytes()
    again = load_files(store, "invoices", [a])  # the same bytes: skipped, a's 20.00 stays out
    assert again.files[0].status == UNCHANGED and store.path.read_bytes() == before


def test_formulas_load_as_text_and_are_neutralised_on_the_way_out(store):
    load_files(store, "suppliers", [CORPUS / "formula_text_cells_suppliers.csv"])
    names = query(store, "SELECT supplier_name FROM suppliers WHERE supplier_id IN ('S7', 'S9')")
    frame = pl.DataFrame({"supplier_name": sorted(n for (n,) in names)})
    exported = to_csv_text(frame).splitlines()[1:]
    assert exported == ['"\'=HYPERLINK(""http://evil.example"",""Click"")"', "'@SUM(A1:A9)"]


def test_a_supplier_loaded_later_lets_the_rejected_invoice_load_with_force(store):
    path = CORPUS / "ref_unknown_supplier_invoices.csv"
    assert load_files(store, "invoices", [path]).rows_rejected == 2
    new = store.path.parent / "suppliers.csv"
    new.write_text("supplier_id,supplier_name\nS99,Late Supplier\n", encoding="utf-8")
    load_files(store, "suppliers", [new])
    assert load_files(store, "invoices", [path]).files[0].status == UNCHANGED
    again = load_files(store, "invoices", [path], force=True)
    # S99's invoice loads now; IT-404 is still unknown: 10.00 + 20.00
    assert (again.rows_loaded, again.rows_rejected, again.amount) == (2, 1, Decimal("30.00"))


# ---- the command line ---------------------------------------------------------------------
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


def test_command_line_refusal_is_one_clear_message_and_a_non_zero_exit(store):
    before = store.path.read_bytes()
    done = run_cli("invoices", str(CORPUS / "col_duplicated.csv"), "--db", str(store.path))
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    problem = [line for line in done.stderr.splitlines() if line.startswith("Refused")]
    assert len(problem) == 1
    assert "col_duplicated.csv, header (line 1): columns 9 ('amount') and 11" in problem[0]
    assert store.path.read_bytes() == before


def test_command_line_prints_counts_and_the_columns_it_did_not_load(store):
    done = run_cli("invoices", str(CORPUS / "col_extra.csv"), "--db", str(store.path))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if "col_extra.csv" in x and "loaded" in x)
    assert line.split()[1:] == ["loaded", "2", "2", "0", "0", "11.99"]  # 11.00 + 0.99
    assert "column(s) not loaded, no invoices column has their name: notes, approver" in (
        done.stdout
    )


# ---- the app's Data page: the same pipeline, the same messages ------------------------------
BROWSER, ON_CHROMIUM = browser_marks()


def upload(page, table: str, path: Path) -> None:
    page.get_by_role("combobox", name="Table").click()
    # the option reads "invoices — …"; a bare name would also match other tables' notes
    page.get_by_role("option", name=f"{table} — ").first.click()
    wait_rendered(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_role("button", name="Load the file").wait_for(timeout=30_000)
    page.wait_for_timeout(800)  # the uploader hands the file over before the button counts it
    page.get_by_role("button", name="Load the file").click()


@BROWSER
@ON_CHROMIUM
def test_data_page_refuses_and_quarantines_corpus_files(browser, store):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = store.path.read_bytes()
    with running_app(store.path) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
        page.goto(acting_url(f"{url}/data"))
        wait_rendered(page)
        page.get_by_role("tab", name="Upload a file").click()
        upload(page, "invoices", CORPUS / "col_duplicated.csv")
        # the refusal stays on the page under "Last load", the file named
        expect_text(page, "Refused, nothing was loaded")
        body = page.inner_text("body")
        assert "col_duplicated.csv, header (line 1): columns 9 ('amount') and 11" in body
        assert page.locator('[data-testid="stException"]').count() == 0  # no traceback
        page.wait_for_timeout(500)  # the box's opening animation
        page.screenshot(path=str(ARTIFACTS / "bad_files_refused.png"))
        assert store.path.read_bytes() == before
        upload(page, "invoices", CORPUS / "ref_unknown_supplier_invoices.csv")
        # 3 rows in, 1 loaded (10.00), 2 rejected: S99 and IT-404 are unknown
        expect_text(page, "loaded into invoices, 2 rejected")
        page.get_by_text("Load report").click()  # the full report, folded away
        expect_text(page, "ref_unknown_supplier_invoices.csv  ")
        lines = page.inner_text("body").splitlines()
        line = next(x for x in lines if "ref_unknown_supplier_invoices.csv  " in x)
        assert line.split()[-6:] == ["loaded", "3", "1", "2", "0", "10.00"]
        page.screenshot(path=str(ARTIFACTS / "bad_files_quarantined.png"))
    assert query(store, "SELECT count(*) FROM rejects WHERE reason LIKE '%S99%'") == [(1,)]
