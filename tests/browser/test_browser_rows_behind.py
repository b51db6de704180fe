"""The rows behind a scorecard value in a real browser (issue 16, point 6): the CFO clicks
Total spend's value on the overview's scorecard; the dialog that opens says how many rows
add up to which sum, and that sum is the value the scorecard shows. Its second page and a
sort by amount work in place; a viewer (Lee Chen) opens it from a tile.

Screenshots land in tests/artifacts/i16-rows/ (not committed).
"""

from __future__ import annotations

import re
from decimal import Decimal

from tests.browser.support import (
    ARTIFACTS,
    CFO_EMAIL,
    browser_marks,
    expect_text,
    open_page,
    pick_filter,
    problems,
    wait_idle,
)

pytestmark = browser_marks()

SHOTS = ARTIFACTS / "i16-rows"
DIALOG = '[role="dialog"]'
# glide's grid keeps an accessible table beside its canvas: row 0's KPI name and value
NAME_CELL = "#glide-cell-1-0"
VALUE_CELL = "#glide-cell-2-0"
VIEWER_EMAIL = "lee.chen@example.org"
ADD_UP = re.compile(r"([\d,]+) rows? add up to (€[\d,]+\.\d\d)")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _euros(text: str) -> Decimal:
    return Decimal(text.replace("€", "").replace(",", ""))


def _click_first_value(page) -> None:
    """A click on the first scorecard row's value, the mouse moved there first as a hand
    would (the grid is a canvas: the checkbox column, the KPI's name, then its value)."""
    wait_idle(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    name = grid.locator(NAME_CELL)
    assert name.inner_text() == "Total spend"
    # the value column starts where the name column ends: the header cells say where
    header = page.locator('[data-testid="stDataFrame"]').first.locator("#glide-header-2")
    x = None
    if header.count():
        hb = header.bounding_box()
        if hb and hb["width"] > 0:
            x = hb["x"] + hb["width"] / 2
    if x is None:
        x = box["x"] + 35 + 230
    y = box["y"] + 35 + 17
    page.mouse.move(x + 120, y - 60)
    page.mouse.move(x, y, steps=8)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def test_a_scorecard_value_opens_the_rows_that_add_up_to_it(page, app_url):
    open_page(page, app_url, CFO_EMAIL, wait_for=".js-plotly-plot", timeout=120_000)
    grid = page.locator('[data-testid="stDataFrame"]').first
    shown = grid.locator(VALUE_CELL).inner_text()
    assert shown.startswith("€"), shown

    _click_first_value(page)
    dialog = page.locator(DIALOG)
    dialog.wait_for(timeout=60_000)
    expect_text(page, "add up to", timeout=120_000)
    wait_idle(page)
    text = dialog.inner_text()
    assert "Total spend" in text and "The rows behind this figure" in text
    count, total = ADD_UP.search(text).groups()
    assert _euros(total) == _euros(shown)  # the dialog's sum is the scorecard's value
    assert f"of {count}" in text  # "rows 1–50 of N"
    assert "page 1 of" in text
    assert problems(page) == []
    _shot(page, "1_cfo_scorecard_value_rows")

    # the second page, in place (the dialog stays open)
    page_box = dialog.get_by_label("Page")
    page_box.fill("2")
    page_box.press("Enter")
    expect_text(page, "page 2 of", timeout=60_000)
    wait_idle(page)
    assert "rows 51–100 of" in dialog.inner_text()
    _shot(page, "2_cfo_page_two")

    # sorted by amount, largest first
    dialog.get_by_role("combobox", name="Sort by").click()
    page.get_by_role("option", name="Amount", exact=True).click()
    wait_idle(page)
    dialog.get_by_text("Descending").click()
    wait_idle(page)
    expect_text(page, "page 1 of", timeout=60_000)  # a new order starts at the first page
    _shot(page, "3_cfo_sorted_by_amount")
    assert problems(page) == []

    # the download is prepared on request, then saved as CSV
    dialog.get_by_role("button", name=re.compile("Prepare download of all")).click()
    wait_idle(page)
    with page.expect_download() as saved:
        dialog.get_by_role("button", name="⬇ CSV", exact=True).click()
    assert saved.value.suggested_filename.startswith("rows_behind_total_spend_")
    wait_idle(page)
    assert page.locator(DIALOG).count() == 1  # the download leaves the dialog open

    # closing it and changing a filter does not bring it back (its Close button: after the
    # download's rerun the focus may have left the dialog, where Esc no longer reaches it)
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden", timeout=30_000)
    wait_idle(page)
    pick_filter(page, "Category", "Packaging", shows="category: Packaging")
    wait_idle(page, quiet=600)  # a dialog would be drawn by the rerun itself
    assert page.locator(DIALOG).count() == 0


def test_a_viewer_opens_the_rows_behind_a_tile(page, app_url):
    open_page(page, app_url, VIEWER_EMAIL, wait_for=".js-plotly-plot", timeout=120_000)
    expect_text(page, "Lee Chen")
    _shot(page, "4_viewer_overview_tiles")
    page.get_by_role("button", name="Rows behind").first.click()
    dialog = page.locator(DIALOG)
    dialog.wait_for(timeout=60_000)
    expect_text(page, "add up to", timeout=120_000)
    wait_idle(page)
    text = dialog.inner_text()
    assert "Total spend" in text
    assert ADD_UP.search(text)
    assert problems(page) == []
    _shot(page, "5_viewer_tile_rows")
    # A ticked row opens its documents: the invoice line's order line, receipts and payment,
    # for the invoice the row names (its id and line are columns of the row).
    grid = dialog.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 12, box["y"] + 55)
    page.mouse.click(box["x"] + 12, box["y"] + 55)  # the first row's tick box
    expect_text(page, "Documents of INV-", timeout=120_000)
    wait_idle(page)
    text = dialog.inner_text()
    invoice = re.search(r"Documents of (INV-[\w-]+) line (\d+)", text)
    assert invoice, text[-800:]
    assert "Purchase order line" in text and "Payment" in text
    assert problems(page) == []
    _shot(page, "6_viewer_row_documents")
