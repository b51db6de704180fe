"""Fixtures shared by several test groups.

`local_browser` is here because AppTests run in tests/app and tests/trust alike.
`browser` is here, not in tests/browser/, because tests in tests/unit and tests/trust also
drive Chromium (the hostile chart names, the bad-file uploads); the running app and the
page fixtures only the browser tests use are in tests/browser/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.support import ARGS, CHROMIUM

LOCAL_BROWSER = {"host": "localhost:8501"}

# The suite's stores compute every figure live (the reference the rollups are checked
# against) and no write pays for a rollup refresh; tests/unit/test_rollups.py and the tests
# of pages on rollups turn them on for themselves (monkeypatch.setenv / the app's env).
os.environ.setdefault("KPI_ROLLUPS", "off")
# the views' catalogue kept on disk (kpi.store.catalog_cache) goes to a folder of this run,
# not to the user's own cache
os.environ.setdefault("KPI_CACHE_DIR", tempfile.mkdtemp(prefix="kpi-test-cache-"))


@pytest.fixture(autouse=True)
def local_browser(monkeypatch) -> dict[str, str]:
    """AppTest sends no request headers, which local mode refuses as a foreign request:
    every test's sessions come from a browser on this computer unless the test changes
    the returned headers (a tests/app test of the refusals does)."""
    headers = dict(LOCAL_BROWSER)
    monkeypatch.setattr("ui.context.request_headers", lambda: headers)
    return headers


@pytest.fixture(autouse=True)
def rollups_refresh_in_the_foreground():
    """app.py makes its process refresh the rollups in the background; an AppTest runs it
    in the test process, so without this a later test in the same worker would write and
    read before its refresh landed."""
    import sys

    rollups = sys.modules.get("kpi.semantic.rollups")
    saved = (rollups.AFTER_WRITE.background, rollups.AFTER_WRITE.say) if rollups else None
    yield
    rollups = sys.modules.get("kpi.semantic.rollups")
    if rollups is not None:
        background, say = saved or (False, None)
        rollups.AFTER_WRITE.background, rollups.AFTER_WRITE.say = background, say


@pytest.fixture(scope="session")
def demo_copy(tmp_path_factory) -> Callable[[float, Path], Path]:
    """`demo_copy(scale, path)` puts a copy of the demo store (seed 7) at `scale` at `path`.

    Several modules test on the same seeded demo; each scale is built once per test process
    (a few seconds to half a minute) and copied, so a module may write to its copy.
    """
    from kpi.demo.build import build_demo

    built: dict[float, Path] = {}

    def copy(scale: float, path: Path) -> Path:
        if scale not in built:
            built[scale] = tmp_path_factory.mktemp(f"demo_seed7_scale{scale}") / "kpi.duckdb"
            build_demo(built[scale], seed=7, scale=scale)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[scale], path)
        return path

    return copy


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium for a module's browser tests (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that drives Chromium must carry the `browser` mark, so that
    `-m "not browser and not slow"` selects the fast part of the suite and nothing else."""
    unmarked = [
        item.nodeid
        for item in items
        if "browser" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser")
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the browser but lack the `browser` mark "
            "(add `pytestmark = browser_marks()` or `@browser_marks()[0]`): " + ", ".join(unmarked)
        )
