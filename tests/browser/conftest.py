"""Fixtures of the browser tests: the demo store, the app running on it, a fresh page.

A module overrides `app_url` (its own store or config) or `page` (another viewport).
"""

from __future__ import annotations

import pytest

from tests.browser.support import ARTIFACTS, running_app


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, demo_copy):
    """A module's own copy of the small demo store (seed 7, scale 0.1, built once per run):
    its tests may write to it (uploads, saves) without another module seeing it."""
    return demo_copy(0.1, tmp_path_factory.mktemp("browser") / "kpi.duckdb")


@pytest.fixture(scope="module")
def app_url(demo_db):
    """The app running on `demo_db` (a module overrides this for its own store or config)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(demo_db, wait_stopped=False) as url:  # stopped in the background
        yield url


@pytest.fixture()
def page(browser):
    """A fresh browser context per test, tall enough for a whole page in one screenshot."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    pg = ctx.new_page()
    yield pg
    ctx.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed browser test, keep what the page showed: a screenshot under
    tests/artifacts/failures/ and, in the test's report, the app's state and the page's text
    (CI keeps only its output, so a failure seen once there can still be read)."""
    report = yield
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or page is None:
        return report
    try:
        folder = ARTIFACTS / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / (item.name.replace("/", "_")[:120] + ".png")
        page.screenshot(path=str(shot), full_page=True)
        state = page.evaluate(_STATE)
        report.sections.append(("page at failure", f"screenshot: {shot}\n{state}"))
    except Exception as exc:  # the page may be gone; the failure itself is what matters
        report.sections.append(("page at failure", f"could not capture the page: {exc}"))
    return report


# The app's connection and script state, the person acting, the disabled buttons and the
# start of the page's text.
_STATE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const disabled = [...document.querySelectorAll('button:disabled')]
        .map(b => b.innerText.trim()).filter(t => t).slice(0, 20);
    const text = (document.body.innerText || '').replace(/\\n\\s*\\n/g, '\\n').slice(0, 3000);
    return `connection=${app && app.dataset.testConnectionState} ` +
        `script=${app && app.dataset.testScriptState}\\ndisabled buttons: ` +
        `${JSON.stringify(disabled)}\\n--- page text ---\\n${text}`;
}"""
