"""Fixtures shared by several test groups.

`local_browser` is here because AppTests run in tests/app and tests/trust alike.
`browser` is here, not in tests/browser/, because tests in tests/unit and tests/trust also
drive Chromium (the hostile chart names, the bad-file uploads); the running app and the
page fixtures only the browser tests use are in tests/browser/conftest.py.
"""

from __future__ import annotations

import fcntl
import gc
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


def pytest_configure(config: pytest.Config) -> None:
    _scan_component_packages_once()


def _scan_component_packages_once() -> None:
    """Streamlit's AppTest looks for custom components (v2) in every installed package's
    metadata the first time each AppTest runs: about 0.2 s of parsing 300 packages' METADATA
    files, a tenth of a short page test, for every AppTest a test makes (about 9 % of the
    page tests' time, measured on two files). The installed packages do not change while
    the tests run: scanned once per process, the same answer."""
    from functools import cache

    from streamlit.components.v2 import manifest_scanner

    manifest_scanner.scan_component_manifests = cache(manifest_scanner.scan_component_manifests)


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


# scripts/test.sh points this at a folder of its own for the run: each seeded demo store is
# then built once per run, not once per xdist worker, and the workers copy it from there.
DEMO_CACHE = "KPI_TEST_DEMO_CACHE"


def built_demo(seed: int, scale: float, folder: Path) -> Path:
    """The demo store (`seed`, `scale`) built once, to be copied, never written.

    Under $KPI_TEST_DEMO_CACHE it is built once per run: a file lock makes a second worker
    wait for the first's build and then use it. Without the variable it is built in
    `folder` (the caller's folder of this process). The rollups mode is part of the name,
    since the build refreshes them when they are on.
    """
    from kpi.demo.build import build_demo

    name = f"demo_seed{seed}_scale{scale}_rollups-{os.environ.get('KPI_ROLLUPS', 'on')}"
    shared = os.environ.get(DEMO_CACHE)
    root = Path(shared) if shared else folder
    done = root / name / "kpi.duckdb"
    if done.exists():
        return done
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not done.exists():  # another worker may have built it while this one waited
            building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
            build_demo(building / "kpi.duckdb", seed=seed, scale=scale)
            building.rename(done.parent)  # whole, or not there at all
    return done


@pytest.fixture(scope="session")
def demo_copy(tmp_path_factory) -> Callable[..., Path]:
    """`demo_copy(scale, path, seed=7)` puts a copy of the seeded demo store at `path`.

    Several modules test on the same seeded demo; each (seed, scale) is built once per run
    (scripts/test.sh) or per test process (built_demo: a few seconds to half a minute) and
    copied, a real copy, so a module may write to its own.
    """
    folder = tmp_path_factory.mktemp("demo_stores")

    def copy(scale: float, path: Path, seed: int = 7) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built_demo(seed, scale, folder), path)
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


# The test files that take longest, longest first (measured on two workers, 2026-12-04:
# each takes 2-7 % of the run's test time; every other file takes under 2 %). xdist's
# `--dist loadfile` hands whole files to the workers in collection order when scripts/test.sh
# turns off its reordering by number of tests (--no-loadscope-reorder): started first, they
# leave the short files to even out the two workers at the end, where one long file
# started last would keep the run waiting for it alone.
LONGEST_FIRST = (
    "tests/unit/test_rollups_months.py",
    "tests/unit/test_rollups.py",
    "tests/unit/test_rollups_random_1.py",
    "tests/unit/test_rollups_random_2.py",
    "tests/unit/test_range_reads.py",
    "tests/unit/test_digest.py",
    "tests/trust/test_faults.py",
    "tests/app/test_app_goals.py",
    "tests/trust/test_hostile.py",
    "tests/app/test_app_definitions.py",
    "tests/unit/test_explain.py",
    "tests/unit/test_bridge.py",
    "tests/unit/test_golden.py",
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Collection imported the libraries (DuckDB, polars, sqlglot, Streamlit, plotly, pandas)
    and every test module: frozen out of the cycle collector's sight, as they live until the
    process ends, and its youngest generation collected less often. Its passes over those
    millions of objects were about a tenth of the suite's time (measured on four files:
    85-90 s instead of 89-101 s). The app's own servers and `python -m kpi` do the same in
    their way (kpi.core.collector)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that drives Chromium must carry the `browser` mark, so that
    `-m "not browser and not slow"` selects the fast part of the suite and nothing else.
    The files of LONGEST_FIRST go first, in its order; every file keeps its tests' order."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable
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
