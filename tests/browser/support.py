"""Run the real app on a free port and drive Debian's Chromium against it.

The browser is the system's /usr/bin/chromium (Debian's package, which `make test` installs
when run as root), driven by Playwright, never a browser Playwright downloads; without it
the browser tests are skipped with the reason. The app runs as `streamlit run app.py` on
127.0.0.1 with the store and config folder given (KPI_DB, KPI_CONFIG); its log goes to
tests/artifacts/, with the screenshots the tests take.
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from kpi.reporting.pack_pdf import CHROMIUM_ARGS, DEFAULT_CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
# Debian's Chromium with the flags the meeting pack prints with: one list for both
CHROMIUM = DEFAULT_CHROMIUM
ARGS = list(CHROMIUM_ARGS)


# Local mode starts every session acting as nobody: a test that writes names who acts,
# in the sidebar or, as a bookmark would, in the URL.
CFO_EMAIL = "claire.dubois@example.org"


def acting_url(url: str, email: str = CFO_EMAIL) -> str:
    """`url` opened as `email` acting (the ?as= the sidebar's "Acting as" keeps)."""
    return f"{url}{'&' if '?' in url else '?'}as={email}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(
    db: Path | None,
    config: Path | None = None,
    script: Path = ROOT / "app.py",
    port: int | None = None,
    wait_stopped: bool = True,
):
    """Start `streamlit run script` (app.py by default) on the store `db` (if given) and
    `port` (default: a free one); yield its URL; stop it afterwards. Its log goes to
    tests/artifacts/. benchmarks/render.py starts its servers here too (the trivial page,
    and a fixed port so a returning browser's cache applies).

    Streamlit takes 2-6 s to stop, mostly waiting. A module's server, after which nothing
    reads its store, passes `wait_stopped=False`: it is stopped in the background while the
    tests go on, and waited for before the test process exits."""
    port = port or free_port()
    env = dict(os.environ)
    if db is not None:
        env["KPI_DB"] = str(db)
    if config:
        env["KPI_CONFIG"] = str(config)
    log = open(ARTIFACTS / f"streamlit-{port}.log", "w")  # noqa: SIM115
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true"]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _SERVING[proc] = Path(log.name)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        _SERVING.pop(proc, None)
        proc.terminate()
        if wait_stopped:
            _stop(proc, log)
        else:
            stopping = threading.Thread(target=_stop, args=(proc, log), daemon=True)
            stopping.start()
            _STOPPING.append(stopping)


def _stop(proc: subprocess.Popen, log) -> None:
    """Wait for a terminated server to end (killed after 10 s), then close its log."""
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


# the servers running now and their logs: a test that waits in vain for one asks each for
# its threads' stacks (kpi.core.stacks), to say where it is stuck
_SERVING: dict[subprocess.Popen, Path] = {}


def server_stacks(tail: int = 12_000) -> str:
    """Each running server's threads' stacks (SIGUSR1: written to its log), the log's end."""
    said = []
    for proc, log in list(_SERVING.items()):
        if proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        text = log.read_text(encoding="utf-8", errors="replace")
        said.append(f"--- {log.name} (pid {proc.pid}), its end:\n{text[-tail:]}")
    return "\n".join(said)


# servers stopping in the background: the test process waits for them before it exits, so
# that no server outlives the run
_STOPPING: list[threading.Thread] = []


@atexit.register
def _wait_for_stopping_servers() -> None:
    for stopping in _STOPPING:
        stopping.join(timeout=30)


# Streamlit marks its root with the script's state ("running", "notRunning", ...) the moment
# the server reports it, while the status widget waits 500 ms before it shows "Running":
# the attribute is what to wait on. A click reaches the server a moment after it is made, so
# idle counts once it has held for QUIET_MS (a run that starts in between resets the clock).
QUIET_MS = 350
_IDLE = """([token, quiet]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const idle = !!app && app.dataset.testConnectionState === 'CONNECTED'
        && ['notRunning', 'compilationError'].includes(app.dataset.testScriptState);
    if (window.__kpiIdleToken !== token) {
        window.__kpiIdleToken = token;
        window.__kpiIdleSince = null;
        window.__kpiLooks = {looks: 0, idle: 0, runsStarted: 0};
    }
    const looks = window.__kpiLooks;  // what the wait saw: a run that never ends, or many
    looks.looks += 1;
    if (!idle) {
        if (window.__kpiIdleSince !== null) looks.runsStarted += 1;
        window.__kpiIdleSince = null;
        return false;
    }
    looks.idle += 1;
    if (window.__kpiIdleSince === null) window.__kpiIdleSince = performance.now();
    return performance.now() - window.__kpiIdleSince >= quiet;
}"""
_calls = itertools.count()


def wait_idle(page, timeout: int = 120_000, quiet: int = QUIET_MS) -> None:
    """The app is connected and its script is not running, and has stayed so for `quiet` ms
    since this call: the page shows the outcome of whatever was done before it."""
    page.wait_for_selector('[data-testid="stApp"]', state="attached", timeout=timeout)
    try:
        page.wait_for_function(_IDLE, arg=[next(_calls), quiet], timeout=timeout, polling=50)
    except Exception as exc:  # say what the app was doing, for a failure seen once in CI
        states = page.evaluate(_STATES)
        looks = page.evaluate("() => window.__kpiLooks")  # idle at times: runs one after another
        raise AssertionError(
            f"the app never stayed idle for {quiet} ms: {states}; looks {looks}\n" + server_stacks()
        ) from exc


# The app's connection and script states, and what its status widget says.
_STATES = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    return {connection: app && app.dataset.testConnectionState,
            script: app && app.dataset.testScriptState,
            status: status ? status.innerText : null};
}"""


def wait_rendered(page, timeout: int = 60_000) -> None:
    """Streamlit draws over a websocket: wait for the app to finish running the script (the
    name the older tests use for wait_idle)."""
    wait_idle(page, timeout)


def open_page(
    page, url: str, email: str | None = None, *, wait_for: str | None = None, timeout=60_000
) -> None:
    """Open `url` as `email` acting (None: as nobody, or as the URL's ?as= says), wait for
    the selector `wait_for` when given (something the page must draw), then until idle."""
    page.goto(acting_url(url, email) if email else url)
    if wait_for:
        page.wait_for_selector(wait_for, timeout=timeout)
    wait_idle(page, timeout)


def problems(page) -> list[str]:
    """Exception boxes and error alerts on the page."""
    found = [e.inner_text() for e in page.locator('[data-testid="stException"]').all()]
    found += [e.inner_text() for e in page.locator('[data-testid="stAlertContentError"]').all()]
    return found


def browser_marks() -> list:
    """pytestmark of a browser test module: marked, and skipped with a reason without Chromium."""
    import pytest

    return [
        pytest.mark.browser,
        pytest.mark.skipif(
            not CHROMIUM.exists(),
            reason="Debian's chromium is not installed (make test installs it when run as root)",
        ),
    ]


def expect_text(page, text: str, timeout: int = 60_000) -> None:
    """Wait until the page shows `text` (a rerun may still be on its way), then go on."""
    page.wait_for_function(
        "text => document.body.innerText.includes(text)", arg=text, timeout=timeout
    )


# The chips a multiselect shows for its picked options, by its label.
_CHIPS = """label => {
    const box = [...document.querySelectorAll('[data-testid="stMultiSelect"]')]
        .find(b => b.innerText.split('\\n')[0].trim() === label);
    return box ? [...box.querySelectorAll('[data-tag]')].map(t => t.getAttribute('aria-label'))
               : null;
}"""

# Whether the multiselect `label` shows a chip for `option` (the same finder, as a function).
_HAS_CHIP = f"([label, option]) => (({_CHIPS})(label) || []).includes(option)"


def pick_filter(page, label: str, option: str, shows: str, timeout: int = 60_000) -> None:
    """Pick `option` in the multiselect `label` as a person would (open it, click the option,
    Esc to close the menu) and wait until the page shows `shows`. The chip must appear
    before Esc: a click the menu did not take is then told apart from a rerun that never
    drew; a timeout says which, with the app's state."""
    wait_idle(page)
    # A click on an option while the open menu still scrolls it into place can land on no
    # option (seen once under load: the option highlighted, nothing picked); a person
    # clicks again, and so does this, up to three times, the menu opened again if it closed.
    for attempt in range(3):
        if attempt and page.evaluate(_HAS_CHIP, [label, option]):
            break  # the earlier click was taken, late
        if not page.get_by_role("option", name=option, exact=True).is_visible():
            page.get_by_role("combobox", name=label).click()
        page.get_by_role("option", name=option, exact=True).click()
        try:
            wait = timeout if attempt == 2 else min(timeout, 10_000)
            page.wait_for_function(_HAS_CHIP, arg=[label, option], timeout=wait)
            break
        except Exception as exc:
            if attempt < 2:
                continue
            chips = page.evaluate(_CHIPS, label)
            raise AssertionError(
                f"{label}: the click on {option!r} left the chips {chips}; {page.evaluate(_STATES)}"
            ) from exc
    page.keyboard.press("Escape")
    try:
        expect_text(page, shows, timeout)
    except Exception as exc:
        chips = page.evaluate(_CHIPS, label)
        raise AssertionError(
            f"{label}: {option!r} picked (chips now {chips}) but the page never showed "
            f"{shows!r}; {page.evaluate(_STATES)}"
        ) from exc


def focus_grid_cell(page, grid, dx: float, dy: float, attempts: int = 6) -> None:
    """Click the data grid `grid` at (dx, dy) from its corner until the keyboard's focus is in
    it. A grid drawn while a chart above it still grows moves between measuring and clicking;
    a click that misses leaves the focus where it was (a tab: ArrowRight then switched tabs
    and Ctrl+A selected the page, once under load). Keys pressed after this reach the grid."""
    for _ in range(attempts):
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        if box is not None:
            page.mouse.click(box["x"] + dx, box["y"] + dy)
            if grid.evaluate("el => el.contains(document.activeElement)"):
                return
        page.wait_for_timeout(500)
    raise AssertionError(f"the grid never took the keyboard's focus at ({dx}, {dy})")
