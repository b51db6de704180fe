"""Time to first full render of the CFO overview in Chromium, cold and warm.

    .venv/bin/python benchmarks/render.py STORE [--cold 3] [--warm 5]

"Fully rendered" is one precise signal, checked by the page itself on every animation
frame: the four headline tiles (`stMetric`) are there, at least one scorecard table has
drawn its canvas, the four headline charts have each drawn a plotly trace inside their SVG,
no spinner shows and Streamlit's status widget does not say "Running". The time is the
page's own `performance.now()` at that frame, which counts from navigation start, so
neither Playwright's polling nor the server's start-up is in it.

- cold: a fresh `streamlit run` process (empty st.cache_data, modules not yet imported by
  the script) and a fresh browser context (no HTTP cache), then the first navigation;
- warm: on the same server after one full render, a reload (a new Streamlit session whose
  reads hit st.cache_data, and the browser's cached static files).

Each figure is the median of its runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.support import ARGS, ARTIFACTS, CHROMIUM, problems, running_app  # noqa: E402

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

    @property
    def cold(self) -> float:
        return statistics.median(self.cold_s)

    @property
    def warm(self) -> float:
        return statistics.median(self.warm_s)


def _rendered_after(page, url: str | None, shot: Path | None = None) -> float:
    """Navigate (or reload when url is None) and return seconds to the full render."""
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
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


def render_times(
    db: Path, cold: int = 3, warm: int = 5, say=print, shot: Path | None = None
) -> RenderTimes:
    """Median-ready cold and warm times of the CFO overview on the store `db`."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    times = RenderTimes([], [])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for i in range(cold):
                with running_app(db) as url:
                    context = browser.new_context(viewport={"width": 1400, "height": 2600})
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
        finally:
            browser.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="a DuckDB store, e.g. a demo build")
    parser.add_argument("--cold", type=int, default=3, help="cold runs (default 3)")
    parser.add_argument("--warm", type=int, default=5, help="warm runs (default 5)")
    args = parser.parse_args(argv)
    times = render_times(args.store.resolve(), args.cold, max(args.warm, 1))
    print(f"cold median {times.cold:.2f} s, warm median {times.warm:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
