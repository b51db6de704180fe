"""An upload with a bad row in a real browser: Sam (finance member) loads a small invoice file
through the file uploader and sees, without reloading the page, how many rows loaded, the
rejected row with its reason, and the file under its own name in the load list and in the
Rejected rows tab. Screenshots land in tests/artifacts/i15-upload/.
"""

from __future__ import annotations

import duckdb
import pytest

from tests.browser.support import (
    ARTIFACTS,
    browser_marks,
    expect_text,
    open_page,
    problems,
    wait_idle,
)

pytestmark = browser_marks()

SAM = "sam.okafor@example.org"
SHOTS = ARTIFACTS / "i15-upload"
NAME = "invoices_2026-11.csv"
REASON = "row 3 (line 4): invoice_date '2026-11-31' is not a date (expected YYYY-MM-DD)"


@pytest.fixture()
def invoice_file(demo_db, tmp_path):
    """Two good invoice lines of a demo supplier and item, and a third dated 31 November."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        supplier, item = con.execute(
            "SELECT supplier_id, item_id FROM invoices ORDER BY invoice_id LIMIT 1"
        ).fetchone()
    head = (
        "invoice_id,invoice_line,supplier_id,invoice_date,due_date,item_id,quantity,"
        "unit_price,amount,currency\n"
    )
    lines = [
        f"UP-1,1,{supplier},2026-11-02,2026-12-02,{item},10,12.50,125.00,EUR",
        f"UP-2,1,{supplier},2026-11-03,2026-12-03,{item},4,12.50,50.00,EUR",
        f"UP-3,1,{supplier},2026-11-31,2026-12-31,{item},1,12.50,12.50,EUR",
    ]
    path = tmp_path / NAME
    path.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def visible_panel_cells(page) -> list[str]:
    """The grid cells of the tab panel in view."""
    return page.evaluate(
        """() => {
            const panels = [...document.querySelectorAll('[role="tabpanel"]')]
                .filter(p => !p.hidden && p.offsetParent !== null);
            return panels.flatMap(p =>
                [...p.querySelectorAll('[data-testid="stDataFrame"] [role="gridcell"]')]
                    .map(td => td.textContent));
        }"""
    )


def test_sam_uploads_a_file_with_a_bad_row_and_sees_what_happened(page, app_url, invoice_file):
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_page(page, f"{app_url}/data", SAM, wait_for="h1")
    page.evaluate("window.__same_page = true")  # gone if the page were reloaded
    page.get_by_role("tab", name="Upload a file").click()
    page.get_by_role("combobox", name="Table").click()
    page.get_by_role("option", name="invoices — ").click()
    wait_idle(page)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(str(invoice_file))
    page.locator('[data-testid="stFileUploader"]').get_by_text(NAME).first.wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Load the file").click()
    expect_text(page, f"{NAME}: 2 rows loaded into invoices, 1 rejected.")
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "upload_result.png"))
    assert REASON in page.inner_text("body")  # listed whole under the count
    shown = visible_panel_cells(page)  # and in the grid: row, column, reason, values
    assert shown[:3] == ["3", "invoice_date", REASON], shown
    assert "invoice_date: 2026-11-31" in shown[3], shown
    assert problems(page) == []

    page.get_by_role("tab", name="Tables and loads").click()
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "load_list.png"))
    loads = visible_panel_cells(page)
    assert NAME in loads, loads
    assert not [c for c in loads if "/tmp" in c], loads

    page.get_by_role("tab", name="Rejected rows").click()
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "rejected_rows.png"))
    rejected = visible_panel_cells(page)
    assert REASON in rejected, rejected
    assert page.evaluate("window.__same_page === true")  # no reload happened


def test_a_viewer_sees_the_upload_form_disabled_with_the_reason(page, app_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_page(page, f"{app_url}/data", "lee.chen@example.org", wait_for="h1")
    page.get_by_role("tab", name="Upload a file").click()
    expect_text(page, "Lee Chen (operations, viewer) may not load data")
    page.get_by_role("button", name="Load the file").wait_for(timeout=30_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "viewer_upload.png"))
    assert page.get_by_role("button", name="Load the file").is_disabled()
    assert page.locator('[data-testid="stFileUploaderDropzoneInput"]').is_disabled()
    assert problems(page) == []
