"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from kpi.demo.build import build_demo
from tests.browser.support import ARGS, ARTIFACTS, CHROMIUM, running_app


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium for a module's browser tests (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A small demo store (seed 7, scale 0.1) for a module's browser tests."""
    db = tmp_path_factory.mktemp("browser") / "kpi.duckdb"
    build_demo(db, seed=7, scale=0.1)
    return db


@pytest.fixture(scope="module")
def app_url(demo_db):
    """The app running on `demo_db` (a module overrides this for its own store or config)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(demo_db) as url:
        yield url


@pytest.fixture()
def page(browser):
    """A fresh browser context per test, tall enough for a whole page in one screenshot."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    pg = ctx.new_page()
    yield pg
    ctx.close()
