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
