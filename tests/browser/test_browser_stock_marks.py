"""Stock kept on purpose in a real browser on the demo store: procurement marks an item,
finance sees the mark and its history with the forms read-only and the reason why.

Screenshots land in tests/artifacts/i17-stock/.
"""

from __future__ import annotations

from kpi.analyses.inventory import items_to_question
from kpi.core.scope import Scope
from kpi.store.database import Store
from kpi.workflows import stock_marks
from tests.browser.support import (
    ARTIFACTS,
    acting_url,
    browser_marks,
    expect_text,
    problems,
    wait_rendered,
)

pytestmark = browser_marks()
SHOTS = ARTIFACTS / "i17-stock"
JONAS = "jonas.berg@example.org"
SAM = "sam.okafor@example.org"


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    wait_rendered(page)


def _an_obsolete_item(db) -> str:
    """An item of the demo with obsolete stock at its latest snapshot (the one to mark)."""
    store = Store(db)
    with store.read() as con:
        (last,) = con.execute("SELECT max(snapshot_date) FROM inventory").fetchall()[0]
    rows = items_to_question(store, Scope.of(last, last))
    return rows.filter(rows["obsolete_value"] > 0)["item_id"][0]


def test_procurement_marks_and_finance_reads_the_mark(page, app_url, demo_db):
    SHOTS.mkdir(parents=True, exist_ok=True)
    item = _an_obsolete_item(demo_db)
    _open(page, acting_url(f"{app_url}/inventory", JONAS))
    expect_text(page, "Stock kept on purpose")
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_role("combobox", name="Item (in the latest snapshot)").click()
    page.keyboard.type(item)  # the list is long: type to narrow it
    page.get_by_role("option", name=f"{item} ·").first.click()
    form.get_by_text("strategic stock").click()
    form.get_by_label("Why (kept in the history)").fill("Spare kept for the old press line")
    form.get_by_role("button", name="Save the mark").click()
    expect_text(page, f"Marked {item}: strategic stock until")
    wait_rendered(page)
    assert problems(page) == []
    page.screenshot(path=str(SHOTS / "inventory_marked_by_procurement.png"), full_page=True)
    marks = stock_marks.current_marks(Store(demo_db))
    assert marks["item_id"].to_list() == [item]

    _open(page, acting_url(f"{app_url}/inventory", SAM))
    expect_text(page, "may not mark, change or remove stock marks")
    body = page.inner_text("body")
    assert "To question a mark, comment in the stock item's thread." in body
    history = stock_marks.mark_history(Store(demo_db))
    assert history["reason"].to_list() == ["Spare kept for the old press line"]
    form = page.locator('[data-testid="stForm"]').first
    assert form.get_by_role("button", name="Save the mark").is_disabled()
    assert problems(page) == []
    page.screenshot(path=str(SHOTS / "inventory_read_only_for_finance.png"), full_page=True)
