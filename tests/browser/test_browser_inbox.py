"""The inbox in a real browser (Debian's Chromium via Playwright): a finance member asks a
question on a KPI mentioning @procurement; in another session the procurement member's
inbox lists it, the sidebar counts it, and its link opens the KPI's thread.

Screenshots land in tests/artifacts/i17-inbox/ (not committed).
"""

from __future__ import annotations

import shutil

import pytest

from tests.browser.support import (
    ARTIFACTS,
    ROOT,
    acting_url,
    browser_marks,
    expect_text,
    problems,
    running_app,
    wait_rendered,
)

pytestmark = browser_marks()

SAM = "sam.okafor@example.org"
JONAS = "jonas.berg@example.org"
SHOTS = ARTIFACTS / "i17-inbox"
QUESTION = "Why did total spend jump this quarter? @procurement"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser_inbox_config") / "config"
    shutil.copytree(ROOT / "config", folder)
    return folder


@pytest.fixture(scope="module")
def app_url(demo_db, config):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(demo_db, config=config) as url:
        yield url


def _session(browser):
    return browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()


def _settle(page) -> None:
    page.wait_for_timeout(1200)
    wait_rendered(page)


def test_a_mention_reaches_the_other_departments_inbox_and_opens_the_thread(browser, app_url):
    sam = _session(browser)
    sam.goto(acting_url(f"{app_url}/definitions", SAM))
    sam.wait_for_selector("h1:has-text('KPI definitions')", timeout=60_000)
    wait_rendered(sam)
    expect_text(sam, "Finance reads it as")
    sam.get_by_role("tab", name="Discussion").click()
    sam.locator('textarea[aria-label="Your comment"]:visible').fill(QUESTION)
    sam.locator("button:has-text('Post comment'):visible").click()
    _settle(sam)
    expect_text(sam, QUESTION)
    sam.screenshot(path=str(SHOTS / "finance_asks.png"))
    assert problems(sam) == []

    jonas = _session(browser)  # another session: procurement's member at their desk
    jonas.goto(acting_url(f"{app_url}/inbox", JONAS))
    jonas.wait_for_selector("h1:has-text('Waiting for you')", timeout=60_000)
    wait_rendered(jonas)
    expect_text(jonas, "Threads that mention you or your department (1)")
    body = jonas.inner_text("body")
    assert f"Sam Okafor mentioned @procurement: “{QUESTION}” (reply or resolve it)" in body
    sidebar = jonas.locator('[data-testid="stSidebar"]').inner_text()
    assert "Waiting for you: " in sidebar
    jonas.screenshot(path=str(SHOTS / "procurement_inbox.png"), full_page=True)
    assert problems(jonas) == []

    jonas.get_by_role("link", name="Open the thread").click()
    jonas.wait_for_selector("h1:has-text('KPI definitions')", timeout=60_000)
    _settle(jonas)
    expect_text(jonas, QUESTION)  # the Discussion tab of Total spend, opened by the link
    assert jonas.locator('textarea[aria-label="Your comment"]:visible').count() == 1
    jonas.screenshot(path=str(SHOTS / "procurement_opens_the_thread.png"))
    assert problems(jonas) == []
