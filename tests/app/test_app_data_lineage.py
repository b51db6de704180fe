"""An upload through the Data page gives every loaded row its lineage: the load listed on the
page, the file's own name as uploaded (not the server's temporary copy) and its line in the
file, the line the rejected row beside it names. Runs on tests/hand_fixture.py."""

from __future__ import annotations

from tests.app.test_app_data import FINANCE, INVOICES, REASON, page, upload


def test_rows_uploaded_on_the_data_page_name_their_load_file_and_line(store):
    at = upload(page(FINANCE), "invoices", "invoices_2026-11.csv", INVOICES)
    newest = at.tabs[0].dataframe[1].value.iloc[0]  # the page's load list, newest first
    with store.read() as con:
        found = con.execute(
            "SELECT invoice_id, load_id, source_file, source_sheet, source_row FROM invoices "
            "WHERE load_id IS NOT NULL ORDER BY source_row"
        ).fetchall()
    # N-1 on line 2, N-2 on line 3; N-3 on line 4 was rejected (REASON names line 4)
    assert found == [
        ("N-1", newest["load_id"], "invoices_2026-11.csv", None, 2),
        ("N-2", newest["load_id"], "invoices_2026-11.csv", None, 3),
    ]
    assert "(line 4)" in REASON and newest["file_name"] == "invoices_2026-11.csv"
