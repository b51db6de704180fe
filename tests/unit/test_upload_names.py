"""An upload is known by the name the person gave the file, never by the server's temporary
copy: in `loads`, in the progress and refusal messages, in the Data page's rejected rows; the
command line keeps its real path. And the rejected rows say which columns are at fault and
what the file held. Runs on tests/hand_fixture.py (suppliers S1, S2; items I1-I3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi import cli
from kpi.analyses.data_status import load_history, rejected_rows
from kpi.core.people import Person
from kpi.ingest.pipelines import LoadRefused
from kpi.ingest.upload import load_upload
from kpi.store.database import Store
from tests import hand_fixture

SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
HEAD = (
    "invoice_id,invoice_line,supplier_id,invoice_date,due_date,item_id,quantity,unit_price,"
    "amount,currency\n"
)
GOOD = "N-1,1,S1,2026-05-02,2026-06-01,I1,10,10.00,100.00,EUR\n"
BAD_DATE = "N-2,1,S1,2026-02-30,2026-04-01,I1,1,10.00,10.00,EUR\n"
TWICE = "N-1,1,S1,2026-05-03,2026-06-02,I9,1,10.00,10.00,EUR\n"  # N-1 line 1 again, item unknown


@pytest.fixture()
def store(tmp_path) -> Store:
    return hand_fixture.build(tmp_path / "kpi.duckdb")


def temporary_copy(tmp_path: Path, text: str) -> Path:
    """The upload as the page keeps it: in a folder of its own with a server-chosen name."""
    folder = tmp_path / "tmpab12"
    folder.mkdir()
    path = folder / "tmp0a1b2c.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_upload_is_recorded_and_reported_under_its_own_name(store, tmp_path):
    path = temporary_copy(tmp_path, HEAD + GOOD + BAD_DATE)
    said: list[str] = []
    report = load_upload(
        store, SAM, "invoices", [path], file_names=["invoices_2026-11.csv"], progress=said.append
    )
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    (load,) = load_history(store).to_dicts()
    assert (load["source"], load["file_name"]) == ("invoices_2026-11.csv", "invoices_2026-11.csv")
    assert not [m for m in said if str(path) in m or "tmpab12" in m]
    assert "invoices_2026-11.csv: 1 rows loaded, 1 rejected" in said


def test_a_refusal_names_the_uploaded_file_its_line_and_the_columns(store, tmp_path):
    path = temporary_copy(tmp_path, "invoice_id,supplier_id\nN-1,S1\n")
    with pytest.raises(LoadRefused) as refused:
        load_upload(store, SAM, "invoices", [path], file_names=["invoices_short.csv"])
    assert str(refused.value) == (
        "invoices_short.csv, header (line 1): missing required columns invoice_date, amount, "
        "currency; columns found: 'invoice_id', 'supplier_id'"
    )
    assert load_history(store).is_empty()


def test_the_command_line_keeps_recording_the_real_path(store, tmp_path, capsys):
    path = tmp_path / "invoices_2026-11.csv"
    path.write_text(HEAD + GOOD, encoding="utf-8")
    assert cli.main(["load", "invoices", str(path), "--db", str(store.path)]) == 0
    (load,) = load_history(store).to_dicts()
    assert (load["source"], load["file_name"]) == (str(path), "invoices_2026-11.csv")


def test_rejected_rows_name_the_file_the_columns_at_fault_and_the_values(store, tmp_path):
    path = temporary_copy(tmp_path, HEAD + GOOD + BAD_DATE + TWICE)
    load_upload(store, SAM, "invoices", [path], file_names=["invoices_2026-11.csv"])
    rows = rejected_rows(store).to_dicts()
    assert [(r["file_name"], r["row_number"], r["columns"]) for r in rows] == [
        ("invoices_2026-11.csv", 2, "invoice_date"),
        # the key (invoice_id, invoice_line) repeats row 1, and item I9 is unknown
        ("invoices_2026-11.csv", 3, "item_id, invoice_id, invoice_line"),
    ]
    assert rows[1]["reason"] == (
        "row 3 (line 4): item_id 'I9' is not in the items table (load it there first, then "
        "this file with --force); duplicate of row 1 (same invoice_id, invoice_line)"
    )
    assert rows[0]["values"] == (
        "invoice_id: N-2 · invoice_line: 1 · supplier_id: S1 · invoice_date: 2026-02-30 · "
        "due_date: 2026-04-01 · item_id: I1 · quantity: 1 · unit_price: 10.00 · amount: "
        "10.00 · currency: EUR"
    )
    assert set(rejected_rows(store, load_id=1)["row_number"]) == {2, 3}
    assert rejected_rows(store, load_id=2).is_empty()


def test_a_load_recorded_without_its_files_name_shows_the_last_part_of_its_path(store):
    with store.write() as con:  # as a store written before loads kept file_name
        con.execute(
            "INSERT INTO loads (load_id, table_name, source, content_hash, status, rows_in, "
            "rows_loaded, rows_rejected, started, finished) VALUES (7, 'invoices', "
            "'/data/exports/may.csv', 'abc', 'loaded', 1, 1, 0, TIMESTAMP '2026-05-02 09:00', "
            "TIMESTAMP '2026-05-02 09:01')"
        )
    (load,) = load_history(store).to_dicts()
    assert load["file_name"] == "may.csv"
