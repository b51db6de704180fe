"""The KPI definition dialog in a real browser (issue 15): a click on a KPI's name in the
overview's scorecard opens it, closing it unselects the name, and nothing the person does
next (a sidebar filter, the currency, a download, a tab) brings it back; the same for the
Definition button under a tile on the Spend page.

Screenshots land in tests/artifacts/i15-dialog/ (not committed).
"""

from __future__ import annotations

from tests.browser.support import (
    ARTIFACTS,
    browser_marks,
    expect_text,
    open_page,
    pick_filter,
    problems,
    wait_idle,
)

pytestmark = browser_marks()

SHOTS = ARTIFACTS / "i15-dialog"
DIALOG = '[role="dialog"]'
# glide's grid keeps an accessible table beside its canvas: a table's first KPI name
NAME_CELL = "#glide-cell-1-0"


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _no_dialog_after_rerun(page) -> None:
    """The rerun has finished (a dialog would be drawn by it) and the app stayed idle a
    moment more: still no dialog."""
    wait_idle(page, quiet=600)
    assert page.locator(DIALOG).count() == 0
    assert problems(page) == []


def _click_first_kpi_name(page) -> None:
    """A click on the first scorecard row's KPI name, the mouse moved there first as a
    hand would (the grid is drawn on a canvas and places a click by the pointer's moves;
    the checkbox column comes first, the name right after it)."""
    wait_idle(page)
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    x, y = box["x"] + 120, box["y"] + 35 + 17
    page.mouse.move(x + 180, y - 60)
    page.mouse.move(x, y, steps=8)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def test_a_kpi_name_opens_its_definition_once(page, app_url):
    open_page(page, app_url, wait_for=".js-plotly-plot")
    first_name = page.locator('[data-testid="stDataFrame"]').first.locator(NAME_CELL)
    assert first_name.inner_text() == "Total spend"

    _click_first_kpi_name(page)
    dialog = page.locator(DIALOG)
    dialog.wait_for(timeout=30_000)
    expect_text(page, "Finance reads it as", timeout=120_000)
    assert "Total spend" in dialog.inner_text()
    assert "sum(amount)" in dialog.locator("pre").first.inner_text()
    assert first_name.get_attribute("aria-selected") == "true"
    wait_idle(page)
    _shot(page, "1_overview_name_clicked")

    # the X closes it and unselects the name
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden", timeout=30_000)
    wait_idle(page)
    page.wait_for_function(
        "sel => document.querySelector(sel).getAttribute('aria-selected') === 'false'",
        arg=f'[data-testid="stDataFrame"] {NAME_CELL}',
        timeout=30_000,
    )
    _no_dialog_after_rerun(page)
    _shot(page, "2_overview_closed_unselected")

    # a sidebar filter and the currency rerun the page: the dialog stays closed
    pick_filter(page, "Category", "Packaging", shows="category: Packaging")
    _no_dialog_after_rerun(page)
    page.get_by_role("combobox", name="Reporting currency").click()
    page.get_by_role("option", name="USD", exact=True).click()
    expect_text(page, "amounts in USD")
    _no_dialog_after_rerun(page)
    _shot(page, "3_overview_filter_and_currency_no_dialog")

    # the same name clicked again opens it again (the click was unselected); Esc closes it
    _click_first_kpi_name(page)
    dialog.wait_for(timeout=30_000)
    expect_text(page, "Finance reads it as", timeout=120_000)
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=30_000)
    _no_dialog_after_rerun(page)

    # a download of the scorecard reruns the page: no dialog either
    page.get_by_text("Download the scorecard").click()
    with page.expect_download():
        page.locator('[data-testid="stDownloadButton"] button').first.click()
    _no_dialog_after_rerun(page)
    _shot(page, "4_overview_download_no_dialog")


def test_a_tile_definition_button_opens_once(page, app_url):
    open_page(page, f"{app_url}/spend", wait_for=".js-plotly-plot", timeout=180_000)
    page.get_by_role("button", name="Definition").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Definition").first.click()
    dialog = page.locator(DIALOG)
    dialog.wait_for(timeout=30_000)
    expect_text(page, "Finance reads it as", timeout=120_000)
    wait_idle(page)
    _shot(page, "5_spend_tile_definition")
    # a click outside the dialog closes it
    page.mouse.click(5, 1200)
    dialog.wait_for(state="hidden", timeout=30_000)
    _no_dialog_after_rerun(page)

    with page.expect_download():
        page.locator('[data-testid="stDownloadButton"] button').first.click()
    _no_dialog_after_rerun(page)
    page.get_by_role("tab", name="Budgets").click()
    _no_dialog_after_rerun(page)
    page.get_by_role("combobox", name="Reporting currency").click()
    page.get_by_role("option", name="USD", exact=True).click()
    expect_text(page, "USD")
    _no_dialog_after_rerun(page)
    _shot(page, "6_spend_after_download_tab_currency")
