"""Payment terms & cash and Inventory in a real browser on the demo store, with a simulator run.

The figures on screen are checked against the library's own results on the same store, so
what a person reads is what `python -m kpi terms-sim` prints. Screenshots land in
tests/artifacts/.
"""

from __future__ import annotations

from kpi.analyses.terms import list_scenarios, simulate_terms
from kpi.core.formatting import format_value
from kpi.store.database import Store
from tests.browser.support import (
    ARTIFACTS,
    browser_marks,
    expect_text,
    open_page,
    problems,
    wait_idle,
)

pytestmark = browser_marks()


def _open(page, url: str) -> None:
    open_page(page, url, wait_for=".js-plotly-plot")


def test_terms_page_tabs(page, app_url):
    _open(page, f"{app_url}/terms")
    assert page.locator("h1").first.inner_text() == "Payment terms & cash"
    body = page.inner_text("body")
    assert "Shared KPIs in FY" in body and "Late payments to SMEs" in body
    assert page.locator(".js-plotly-plot").count() >= 4  # segment, trend, late, discounts
    page.screenshot(path=str(ARTIFACTS / "browser_terms.png"))
    page.get_by_role("combobox", name="Supplier segment").click()
    page.get_by_role("option", name="Country").click()
    expect_text(page, "Terms and days to pay by country")
    page.get_by_role("tab", name="Late payments").click()
    expect_text(page, "Paid late to SMEs")
    page.get_by_role("tab", name="Policy").click()
    expect_text(page, "Target terms")
    assert "break the policy" in page.inner_text("body")  # the demo has 90-day terms in the EU
    page.screenshot(path=str(ARTIFACTS / "browser_terms_policy.png"))
    assert problems(page) == []


def test_a_simulator_run_and_save(page, app_url, demo_db):
    _open(page, f"{app_url}/terms")
    page.get_by_role("combobox", name="Acting as").click()
    page.get_by_role("option", name="Sam Okafor (finance, member)").click()
    wait_idle(page)
    page.get_by_role("tab", name="Terms simulator").click()
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_label("New terms (days)").fill("90")
    form.get_by_role("combobox", name="Suppliers").click()
    page.get_by_role("option", name="Large preferred suppliers").click()
    form.get_by_role("button", name="Simulate").click()
    expect_text(page, "Suppliers at risk")
    wait_idle(page)
    # the story the demo plants: large preferred suppliers on 60-day terms paid in ~20 days
    expected = simulate_terms(Store(demo_db), 90, "size = 'large' and preferred").summary
    body = page.inner_text("body")
    shown = format_value(float(expected["cash_released"]), "currency", "EUR", compact=True)
    assert shown in body, shown
    assert f"{expected['suppliers_at_risk']} of {expected['suppliers_affected']}" in body
    kinds = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data[0].type)"
    )
    assert "waterfall" in kinds
    page.screenshot(path=str(ARTIFACTS / "browser_terms_simulator.png"))
    save = page.locator('[data-testid="stForm"]').nth(1)
    save.get_by_label("Scenario name").fill("Browser: large preferred to 90 days")
    save.get_by_role("button", name="Save scenario").click()
    expect_text(page, "saved.")
    assert problems(page) == []
    names = list_scenarios(Store(demo_db))["name"].to_list()
    assert "Browser: large preferred to 90 days" in names


def test_inventory_page_and_a_definition(page, app_url):
    _open(page, f"{app_url}/inventory")
    assert page.locator("h1").first.inner_text() == "Inventory"
    assert page.locator(".js-plotly-plot").count() == 2
    body = page.inner_text("body")
    assert "Items finance would question" in body and "Turns a year" in body
    page.screenshot(path=str(ARTIFACTS / "browser_inventory.png"))
    page.get_by_role("button", name="Definition").first.click()
    dialog = page.locator('[role="dialog"]')
    dialog.wait_for(timeout=30_000)
    text = dialog.inner_text()
    assert "Days of inventory" in text and "Procurement reads it as" in text
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser_inventory_definition.png"))
    assert problems(page) == []
