"""Fixtures of the browser tests: the demo store, the app running on it, a fresh page.

A module overrides `app_url` (its own store or config) or `page` (another viewport).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kpi.demo.build import build_demo
from tests.browser.support import ARTIFACTS, running_app


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The small demo store (seed 7, scale 0.1), built once for the whole run: a module's
    tests get a copy of it (`demo_db`), never this file."""
    db = tmp_path_factory.mktemp("browser_demo_template") / "kpi.duckdb"
    build_demo(db, seed=7, scale=0.1)
    return db


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, demo_template):
    """A module's own copy of the small demo store: its tests may write to it (uploads,
    saves) without another module seeing it."""
    db = tmp_path_factory.mktemp("browser") / "kpi.duckdb"
    shutil.copyfile(demo_template, db)
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
