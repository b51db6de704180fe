"""Time to first full render of the CFO overview in Chromium, cold and warm.

    .venv/bin/python benchmarks/render.py STORE [--cold 3] [--warm 5] [--returning 3]
        [--after-load 3] [--no-floor]

"Fully rendered" is one precise signal, checked by the page itself on every animation
frame: the four headline tiles (`stMetric`) are there, at least one scorecard table has
drawn its canvas, the four headline charts have each drawn a plotly trace inside their SVG,
no spinner shows and Streamlit's status widget does not say "Running". The time is the
page's own `performance.now()` at that frame, which counts from navigation start, so
neither Playwright's polling nor the server's start-up is in it. The overview is opened as
the CFO acting (`?as=`, as a link from the sidebar's "Acting as" keeps it): what she waits
for includes what the app draws for a person, such as the sidebar's count of what waits
for her, which a page opened as nobody skips.

- cold: a fresh `streamlit run` process (empty st.cache_data, modules not yet imported by
  the script) and a fresh browser context (no HTTP cache), then the first navigation;
- warm: on the same server after one full render, a reload (a new Streamlit session whose
  reads hit st.cache_data, and the browser's cached static files).

Those two figures mix what this app does with what any Streamlit page costs here, so the
run also reports, each beside the same figure for the stack's floor (benchmarks/floor_app.py:
four tiles, a small dataframe and four small plotly charts, no store, timed the same way):

- floor: that trivial page, cold and warm as above;
- returning: "cold, returning browser": a fresh `streamlit run` (empty caches, modules not
  yet imported) opened in a browser whose HTTP cache already holds the app's static files,
  as a person's browser that has opened the dashboard before (a persistent profile that
  loaded the app once, every server on the same port: the cache is keyed by origin);
- after a load: "the first look after a load": a server that has drawn the overview once,
  then a small `kpi load` (SMALL_LOAD_ROWS invoice lines the store already holds, rollups
  refresh included) into a COPY of the store changes its version, so every cached read
  misses, then a reload. The store given is never written.

Each figure is the median of its runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.support import (  # noqa: E402
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    acting_url,
    free_port,
    problems,
    running_app,
)

APP = ROOT / "app.py"
FLOOR_APP = HERE / "floor_app.py"
SMALL_LOAD_ROWS = 1_000  # the "first look after a load" loads this many invoice lines
VIEWPORT = {"width": 1400, "height": 2600}

HEADLINE_TILES = 4
HEADLINE_CHARTS = 4
TIMEOUT_MS = 600_000  # a cold scale-50 render on a busy machine may take minutes

# Returns performance.now() (ms since navigation start) once the overview is fully drawn,
# else false; Playwright evaluates it on every animation frame.
FULLY_RENDERED = """
([tiles, charts]) => {
    const q = (s) => document.querySelectorAll(s);
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    if (status && status.innerText.includes('Running')) return false;
    if (q('[data-testid="stSpinner"]').length) return false;
    if (q('[data-testid="stMetric"]').length < tiles) return false;
    if (!q('[data-testid="stDataFrame"] canvas').length) return false;
    const drawn = [...q('.js-plotly-plot')].filter((c) => c.querySelector('.main-svg g.trace'));
    if (drawn.length < charts) return false;
    return performance.now();
}
"""


@dataclass
class RenderTimes:
    cold_s: list[float]
    warm_s: list[float]
    # the parts (empty when not run): the floor's cold and warm, then the returning browser
    # and the first look after a load, for the overview and for the floor
    floor_cold_s: list[float] = field(default_factory=list)
    floor_warm_s: list[float] = field(default_factory=list)
    returning_s: list[float] = field(default_factory=list)
    floor_returning_s: list[float] = field(default_factory=list)
    after_load_s: list[float] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)  # each small `kpi load`, for the record

    @property
    def cold(self) -> float:
        return statistics.median(self.cold_s)

    @property
    def warm(self) -> float:
        return statistics.median(self.warm_s)

    @property
    def after_load(self) -> float | None:
        """The first look after a load (median), None when not measured."""
        return statistics.median(self.after_load_s) if self.after_load_s else None

    def lines(self) -> list[str]:
        """Each measured figure (median, with its runs) beside the floor's."""

        def fig(values: list[float]) -> str:
            if not values:
                return "not run"
            each = ", ".join(f"{v:.2f}" for v in values)
            return f"{statistics.median(values):.2f} s (each: {each})"

        rows = [
            ("cold: fresh server, fresh browser", self.cold_s, self.floor_cold_s),
            ("warm: reload on the same server", self.warm_s, self.floor_warm_s),
            ("cold, returning browser: fresh server", self.returning_s, self.floor_returning_s),
            ("first look after a load: reload", self.after_load_s, self.floor_warm_s),
        ]
        out = []
        for name, ours, floor in rows:
            if ours or (floor and name.startswith(("cold:", "warm:"))):
                out.append(f"{name:<42} overview {fig(ours)}; floor {fig(floor)}")
        if self.load_s:
            out.append(f"{'  the small kpi load before each reload':<42} {fig(self.load_s)}")
        return out


def _rendered_after(page, url: str | None, shot: Path | None = None) -> float:
    """Navigate as the CFO (or reload when url is None) and return seconds to the full
    render (the trivial floor page ignores who acts)."""
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(acting_url(url), wait_until="commit")
    handle = page.wait_for_function(
        FULLY_RENDERED,
        arg=[HEADLINE_TILES, HEADLINE_CHARTS],
        polling="raf",
        timeout=TIMEOUT_MS,
    )
    ms = float(handle.json_value())
    found = problems(page)
    if found:
        raise RuntimeError(f"the overview shows an error: {found[0][:300]}")
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    return ms / 1000


def _cold_and_warm(browser, script: Path, db: Path | None, cold: int, warm: int, say, what):
    """`cold` fresh servers each opened in a fresh context, then `warm` reloads on the last."""
    cold_s: list[float] = []
    warm_s: list[float] = []
    for i in range(cold):
        with running_app(db, script=script) as url:
            context = browser.new_context(viewport=VIEWPORT)
            try:
                page = context.new_page()
                cold_s.append(_rendered_after(page, url))
                say(f"  {what} cold: run {i + 1}/{cold} {cold_s[-1]:.2f} s")
                if i == cold - 1:
                    for j in range(warm):
                        warm_s.append(_rendered_after(page, None))
                        say(f"  {what} warm: run {j + 1}/{warm} {warm_s[-1]:.2f} s")
            finally:
                context.close()
    return cold_s, warm_s


def returning_times(p, script: Path, db: Path | None, runs: int, say, what: str) -> list[float]:
    """A fresh server each run, opened in a new tab of a browser profile that has loaded the
    app once before (its HTTP cache holds the static files); every server on one port."""
    port = free_port()
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="render-profile-") as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=ARGS, viewport=VIEWPORT
        )
        try:
            # the visit before: fills the HTTP cache
            with running_app(db, script=script, port=port) as url:
                page = context.new_page()
                _rendered_after(page, url)
                page.close()
            for i in range(runs):
                with running_app(db, script=script, port=port) as url:
                    page = context.new_page()
                    try:
                        times.append(_rendered_after(page, url))
                    finally:
                        page.close()
                say(f"  {what} cold, returning browser: run {i + 1}/{runs} {times[-1]:.2f} s")
        finally:
            context.close()
    return times


def store_copy(db: Path, folder: Path) -> Path:
    """The store and its rollups (`<stem>.rollups.*`) copied into `folder`."""
    copy = folder / db.name
    shutil.copy2(db, copy)
    for sidecar in db.parent.glob(f"{db.stem}.rollups.*"):
        shutil.copy2(sidecar, folder / sidecar.name)
    return copy


def first_invoice_lines(db: Path, csv: Path, rows: int = SMALL_LOAD_ROWS, skip: int = 0) -> None:
    """`rows` of the store's invoice lines (after the first `skip`) as a CSV `kpi load
    invoices` takes (canonical columns, ISO dates): loaded again, they replace equal rows,
    so no figure changes. Another `skip` gives another file: `kpi load` skips a file whose
    bytes it has loaded before, which would change nothing."""
    import duckdb

    from kpi.store.schema import TABLES

    columns = ", ".join(TABLES["invoices"].column_names)
    target = str(csv).replace("'", "''")
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(
            f"COPY (SELECT {columns} FROM invoices LIMIT {int(rows)} OFFSET {int(skip)}) "
            f"TO '{target}' (HEADER, DELIMITER ',', DATEFORMAT '%Y-%m-%d')"
        )
    finally:
        con.close()


def _version(db: Path) -> tuple[int, int, int]:
    """What the app's caches key the store by (kpi.store.database.Store.version)."""
    s = db.stat()
    return (s.st_ino, s.st_mtime_ns, s.st_size)


def after_load_times(browser, db: Path, runs: int, say) -> tuple[list[float], list[float]]:
    """On a copy of `db`: the overview drawn once, then `runs` times a small `kpi load` and
    a reload. Returns the reload times and the load times."""
    times: list[float] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="render-after-load-") as tmp:
        folder = Path(tmp)
        copy = store_copy(db, folder)
        # the copy's rollups are stamped with the store's file, not the copy's: brought up to
        # date first (untimed), as the store's own are, or the first render computes live and
        # the first load rebuilds them. With the rollups off this says so and changes nothing.
        refresh = [sys.executable, "-m", "kpi", "rollups", "--refresh", "--db", str(copy)]
        subprocess.run(refresh, cwd=ROOT, capture_output=True, text=True)
        csvs = [folder / f"invoices-{i}.csv" for i in range(runs)]
        for i, csv in enumerate(csvs):  # another file each time, or the load skips it
            first_invoice_lines(copy, csv, skip=i * SMALL_LOAD_ROWS)
        with running_app(copy, script=APP) as url:
            context = browser.new_context(viewport=VIEWPORT)
            try:
                page = context.new_page()
                _rendered_after(page, url)
                for i, csv in enumerate(csvs):
                    was = _version(copy)
                    started = time.perf_counter()
                    cmd = [sys.executable, "-m", "kpi", "load", "invoices", str(csv)]
                    done = subprocess.run(
                        [*cmd, "--db", str(copy)], cwd=ROOT, capture_output=True, text=True
                    )
                    if done.returncode != 0:
                        raise RuntimeError(f"kpi load failed: {done.stderr[-500:]}")
                    loads.append(time.perf_counter() - started)
                    if _version(copy) == was:
                        raise RuntimeError(f"kpi load left the store as it was: {done.stdout}")
                    times.append(_rendered_after(page, None))
                    say(
                        f"  overview first look after a load: run {i + 1}/{runs} "
                        f"{times[-1]:.2f} s (the load {loads[-1]:.1f} s)"
                    )
            finally:
                context.close()
    return times, loads


def render_times(
    db: Path,
    cold: int = 3,
    warm: int = 5,
    say=print,
    shot: Path | None = None,
    *,
    floor: bool = False,
    returning: int = 0,
    after_load: int = 0,
) -> RenderTimes:
    """Median-ready cold and warm times of the CFO overview on the store `db`; with `floor`,
    the trivial page's cold and warm (and returning, if asked) beside them; `returning` runs
    of a fresh server in a returning browser; `after_load` reloads after a small load."""
    import compileall

    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # the app's modules as a server that has run before has them (`make` writes them too):
    # where PYTHONDONTWRITEBYTECODE is set, each fresh server would compile them again
    for folder in ("kpi", "ui"):
        compileall.compile_dir(ROOT / folder, quiet=2)
    times = RenderTimes([], [])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for i in range(cold):
                with running_app(db) as url:
                    context = browser.new_context(viewport=VIEWPORT)
                    try:
                        page = context.new_page()
                        times.cold_s.append(_rendered_after(page, url))
                        say(f"  overview cold: run {i + 1}/{cold} {times.cold_s[-1]:.2f} s")
                        if i == cold - 1:
                            for j in range(warm):
                                last = shot if j == warm - 1 else None
                                times.warm_s.append(_rendered_after(page, None, last))
                                say(f"  overview warm: run {j + 1}/{warm} {times.warm_s[-1]:.2f} s")
                    finally:
                        context.close()
            if floor:
                times.floor_cold_s, times.floor_warm_s = _cold_and_warm(
                    browser, FLOOR_APP, None, max(cold, 1), max(warm, 1), say, "floor"
                )
            if after_load:
                times.after_load_s, times.load_s = after_load_times(browser, db, after_load, say)
        finally:
            browser.close()
        if returning:
            times.returning_s = returning_times(p, APP, db, returning, say, "overview")
            if floor:
                times.floor_returning_s = returning_times(
                    p, FLOOR_APP, None, returning, say, "floor"
                )
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="a DuckDB store, e.g. a demo build")
    parser.add_argument("--cold", type=int, default=3, help="cold runs (default 3)")
    parser.add_argument("--warm", type=int, default=5, help="warm runs (default 5)")
    parser.add_argument(
        "--returning", type=int, default=3, help="cold runs in a returning browser (default 3)"
    )
    parser.add_argument(
        "--after-load", type=int, default=3, help="reloads after a small load (default 3)"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the trivial page")
    args = parser.parse_args(argv)
    times = render_times(
        args.store.resolve(),
        args.cold,
        max(args.warm, 1),
        floor=not args.no_floor,
        returning=args.returning,
        after_load=args.after_load,
    )
    if times.cold_s and times.warm_s:
        print(f"cold median {times.cold:.2f} s, warm median {times.warm:.2f} s")
    for line in times.lines():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
