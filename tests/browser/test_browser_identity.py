"""Who a person acts as survives a reload in local mode (issue 15, point 5), in Chromium.

The choice lives in the URL (?as=, which the sidebar's "Acting as" writes): a reload, a
page switch through the sidebar's navigation and a bookmark all bring the same person back.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.browser.support import (
    ARTIFACTS,
    acting_url,
    browser_marks,
    expect_text,
    problems,
    wait_idle,
)

pytestmark = browser_marks()

JONAS = "Jonas Berg (procurement, member)"


def _settled(page) -> None:
    page.wait_for_selector("h1", timeout=90_000)
    wait_idle(page)


def _acting_as(page) -> str:
    """The sidebar above its filters: "Acting as" (its select box) and the local-mode note."""
    text = page.locator('[data-testid="stSidebar"]').inner_text()
    return text.split("Filters")[0]


def _url_as(page) -> list[str]:
    return parse_qs(urlparse(page.url).query).get("as", [])


def _reload(page) -> None:
    page.reload()
    _settled(page)


def test_the_person_chosen_survives_reloads_and_page_switches(page, app_url):
    page.goto(app_url)
    _settled(page)
    assert "nobody chosen" in _acting_as(page)
    page.get_by_role("combobox", name="Acting as").click()
    page.get_by_role("option", name=JONAS, exact=True).click()
    expect_text(page, "acting as Jonas Berg")
    wait_idle(page)
    assert _url_as(page) == ["jonas.berg@example.org"]

    _reload(page)
    expect_text(page, "acting as Jonas Berg")
    assert "Jonas Berg" in _acting_as(page)
    assert _url_as(page) == ["jonas.berg@example.org"]

    page.locator('[data-testid="stSidebarNav"] a', has_text="Savings").first.click()
    page.wait_for_function("() => location.pathname.endsWith('/savings')", timeout=60_000)
    _settled(page)
    assert page.locator("h1").first.inner_text() == "Savings & cost avoidance"
    assert _url_as(page) == ["jonas.berg@example.org"]

    _reload(page)
    expect_text(page, "acting as Jonas Berg")
    assert page.locator("h1").first.inner_text() == "Savings & cost avoidance"
    assert "Jonas Berg" in _acting_as(page) and "Claire" not in _acting_as(page)
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_identity_after_reload.png"))


def test_choosing_someone_else_replaces_the_person_of_the_link(page, app_url):
    # opened from a bookmark acting as the CFO, then Jonas is chosen: a reload keeps Jonas
    page.goto(acting_url(f"{app_url}/spend"))
    _settled(page)
    expect_text(page, "acting as Claire Dubois")
    wait_idle(page)
    page.get_by_role("combobox", name="Acting as").click()
    page.get_by_role("option", name=JONAS, exact=True).click()
    expect_text(page, "acting as Jonas Berg")
    wait_idle(page)
    _reload(page)
    expect_text(page, "acting as Jonas Berg")
    assert "Claire Dubois" not in _acting_as(page)
    assert _url_as(page) == ["jonas.berg@example.org"]


def test_a_deep_link_names_who_acts(page, app_url):
    page.goto(acting_url(f"{app_url}/inventory", "lee.chen@example.org"))
    _settled(page)
    expect_text(page, "acting as Lee Chen")
    wait_idle(page)
    assert page.locator("h1").first.inner_text() == "Inventory"
    assert "Lee Chen" in _acting_as(page)
    _reload(page)
    expect_text(page, "acting as Lee Chen")
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_identity_deep_link.png"))
