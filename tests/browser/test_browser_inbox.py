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
    with running_app(demo_db, config=config, wait_stopped=False) as url:
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
    # the KPI's box is at the top, the catalogue folded above it: the question is on screen
    expect_text(jonas, "The catalogue (")
    box = jonas.get_by_text(QUESTION).first.bounding_box()
    assert box is not None and box["y"] < jonas.viewport_size["height"]
    jonas.screenshot(path=str(SHOTS / "procurement_opens_the_thread.png"))
    assert problems(jonas) == []


def test_procurement_signs_from_its_inbox_and_finance_reviews_with_the_evidence(
    browser, app_url, config
):
    import yaml

    jonas = _session(browser)
    jonas.goto(acting_url(f"{app_url}/inbox", JONAS))
    jonas.wait_for_selector("h1:has-text('Waiting for you')", timeout=60_000)
    wait_rendered(jonas)
    # the innermost block holding the item's title: its own bordered card
    card = (
        jonas.locator('[data-testid="stVerticalBlock"]')
        .filter(has_text="(committed_budget_utilisation)")
        .last
    )
    card.get_by_text("Read what you sign, then sign").click()
    jonas.wait_for_timeout(500)
    expect_text(jonas, "The content you sign:")
    jonas.screenshot(path=str(SHOTS / "procurement_reads_what_it_signs.png"), full_page=True)
    card.get_by_role("button", name="Approve this version for procurement").click()
    _settle(jonas)
    expect_text(jonas, "It is agreed now.")
    kpis = yaml.safe_load((config / "kpis.yaml").read_text(encoding="utf-8"))["kpis"]
    entry = next(k for k in kpis if k["id"] == "committed_budget_utilisation")
    assert entry["status"] == "agreed" and entry["approvals"]["procurement"]["by"] == JONAS
    assert "KPI definitions to approve (9)" in jonas.inner_text("body")  # it left the inbox
    assert problems(jonas) == []

    sam = _session(browser)
    sam.goto(acting_url(f"{app_url}/inbox", SAM))
    sam.wait_for_selector("h1:has-text('Waiting for you')", timeout=60_000)
    wait_rendered(sam)
    expect_text(sam, "Savings initiatives awaiting finance's review")
    sam.get_by_role("link", name="Open the review").first.click()
    sam.wait_for_selector("h1:has-text('Savings')", timeout=60_000)
    _settle(sam)
    expect_text(sam, "Evidence")
    review = sam.get_by_text("Finance review", exact=True)
    review.scroll_into_view_if_needed()
    sam.screenshot(path=str(SHOTS / "finance_review_evidence.png"), full_page=True)
    assert problems(sam) == []
