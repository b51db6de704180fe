"""The savings page's forms in a real browser on the demo store: a double click on Save adds
one initiative and leaves the form empty; finance's decision needs a chosen verdict, Enter
records nothing, and the page stays on the Initiatives tab afterwards. Screenshots land in
tests/artifacts/.
"""

from __future__ import annotations

from kpi.store.database import Store
from kpi.workflows.initiatives import list_initiatives
from tests.browser.support import (
    ARTIFACTS,
    acting_url,
    browser_marks,
    expect_text,
    problems,
    wait_idle,
)

pytestmark = browser_marks()

TITLE = "Browser test: double-clicked pallet wrap deal"
SAM = "sam.okafor@example.org"
JONAS = "jonas.berg@example.org"


def _initiatives_tab(page, url: str, email: str) -> None:
    page.goto(acting_url(f"{url}/savings", email))
    page.wait_for_selector(".js-plotly-plot", timeout=180_000)  # the first tab is drawn
    wait_idle(page, timeout=180_000)
    page.get_by_role("tab", name="Initiatives").click(
        timeout=120_000
    )  # the keyed tabs rerun the page
    expect_text(page, "Finance review", timeout=120_000)
    wait_idle(page, timeout=120_000)


def _supplier_without_initiatives(db) -> str:
    with Store(db).read() as con:
        return con.execute(
            "SELECT min(supplier_id) FROM suppliers WHERE supplier_id NOT IN "
            "(SELECT supplier_id FROM savings_initiatives WHERE supplier_id IS NOT NULL)"
        ).fetchone()[0]


def _selected_tab(page) -> str:
    return page.locator('[role="tab"][aria-selected="true"]').inner_text()


def test_a_double_click_on_save_adds_one_initiative_and_empties_the_form(page, app_url, demo_db):
    supplier = _supplier_without_initiatives(demo_db)
    _initiatives_tab(page, app_url, JONAS)
    page.get_by_role("combobox", name="Supplier").click()
    page.keyboard.type(supplier)
    page.get_by_role("option", name=f"{supplier} · ").first.click()
    wait_idle(page, timeout=120_000)
    page.get_by_role("textbox", name="Category").fill("Packaging")
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_label("Title", exact=True).fill(TITLE)
    # category-wide: the price change in percent; a supplier without initiatives, so no
    # other initiative's window overlaps it
    form.get_by_label("Price change % (category-wide only)", exact=True).fill("-4.8")
    form.get_by_label("Expected volume", exact=True).fill("1000")
    form.get_by_label("Why (kept in the history)", exact=True).fill("double click test")
    form.get_by_role("button", name="Save initiative").dblclick()
    expect_text(page, "; it is pending finance's review.", timeout=120_000)
    wait_idle(page, timeout=120_000, quiet=1000)  # and no second run, had a click started one
    page.screenshot(path=str(ARTIFACTS / "browser_savings_double_click.png"))
    assert problems(page) == []
    added = list_initiatives(Store(demo_db), search=TITLE)
    assert added.height == 1, added
    # the form is empty again and the page is still on the Initiatives tab
    form = page.locator('[data-testid="stForm"]').first
    assert form.get_by_label("Title", exact=True).input_value() == ""
    assert page.get_by_role("textbox", name="Category").input_value() == ""
    assert _selected_tab(page) == "Initiatives"


def test_finance_chooses_the_verdict_and_stays_on_the_tab(page, app_url, demo_db):
    _initiatives_tab(page, app_url, SAM)
    # Sam may not add initiatives: the form is read-only with the reason
    assert "Sam Okafor (finance, member) may not add or edit savings initiatives" in (
        page.inner_text("body")
    )
    assert (
        page.locator('[data-testid="stForm"]')
        .first.get_by_role("button", name="Save initiative")
        .is_disabled()
    )
    # the review opens on the first pending initiative of the ledger, as the page lists it
    ledger = list_initiatives(Store(demo_db))
    pending_id = ledger.filter(ledger["finance_status"] == "pending")["initiative_id"][0]
    review = page.locator('[data-testid="stForm"]').nth(1)
    assert not review.get_by_role("radio", name="Accept").is_checked()
    assert not review.get_by_role("radio", name="Reject").is_checked()
    reason = review.get_by_label("Reason (required)")
    reason.fill("Quotes on file")
    reason.press("Enter")  # Enter records nothing: the reviewer chooses
    wait_idle(page, timeout=120_000, quiet=600)
    review.get_by_role("button", name="Record decision").click()
    expect_text(page, "Choose Accept or Reject before you record the decision", 120_000)
    status = list_initiatives(Store(demo_db)).filter(
        list_initiatives(Store(demo_db))["initiative_id"] == pending_id
    )
    assert status["finance_status"][0] == "pending"
    review.get_by_text("Accept", exact=True).click()
    review.get_by_role("button", name="Record decision").click()
    expect_text(page, f"{pending_id}: accepted.", timeout=120_000)
    # the refusal of the first try goes once the decision's rerun has drawn the page
    page.wait_for_function(
        "() => !document.body.innerText.includes('Choose Accept or Reject')", timeout=120_000
    )
    wait_idle(page, timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "browser_savings_decided.png"))
    assert _selected_tab(page) == "Initiatives"
    assert problems(page) == []
    ledger = list_initiatives(Store(demo_db))
    row = ledger.filter(ledger["initiative_id"] == pending_id)
    assert (row["finance_status"][0], row["finance_note"][0]) == ("accepted", "Quotes on file")
