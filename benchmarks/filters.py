"""Server time of a sidebar filter change on the CFO overview, in Streamlit's AppTest.

    .venv/bin/python benchmarks/filters.py STORE [--changes 5] [--json]

One run of pages/overview.py (which draws the shared sidebar itself, as when app.py did not
run) on the store, then, one at a time, new values for the sidebar's Category (`f_cat`) and
Cost centre (`f_cc`) multiselects, each a combination not asked before (so no st.cache_data
hit), and the time of the script's rerun that answers it: everything the server does for
the change (the scorecard, the four charts, the tables), without the browser's drawing.
Each change keeps the picks before it (as a person narrowing the figures down would). The
page runs without app.py (AppTest reruns only the page of an app with st.navigation), so
the Context app.py's sidebar leaves behind is cleared before each rerun and the page draws
the sidebar itself, as app.py would. Run it in a process of its own: KPI_DB names the
store, as for `streamlit run`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIMEOUT_S = 600  # the first run at scale 50 on a busy machine


def _changes(categories: list[str], centres: list[str], n: int) -> list[tuple[str, list[str]]]:
    """n widget changes, alternating category and cost-centre picks, each leaving the sidebar
    in a state not seen before."""
    picks: list[tuple[str, list[str]]] = []
    cats, ccs = iter(categories), iter(centres)
    for i in range(n):
        key, pool = ("f_cat", cats) if i % 2 == 0 else ("f_cc", ccs)
        value = next(pool, None)
        if value is None:
            break
        picks.append((key, [value]))
    return picks


def filter_times(db: Path, n: int = 4, say=print) -> list[float]:
    """Seconds of each rerun after a sidebar filter change (see the module docstring)."""
    os.environ["KPI_DB"] = str(db)
    from streamlit.testing.v1 import AppTest

    import ui.context

    # AppTest sends no request headers, which local mode refuses as a foreign request
    # (tests/conftest.py does the same for the test suite)
    headers = {"host": "localhost:8501"}
    ui.context.request_headers = lambda: headers

    at = AppTest.from_file(str(ROOT / "pages/overview.py"), default_timeout=TIMEOUT_S)
    start = time.perf_counter()
    at.run()
    if at.exception:
        raise RuntimeError(f"the overview failed: {at.exception[0].value}")
    say(f"  first run of the overview: {time.perf_counter() - start:.2f} s")
    categories = list(at.sidebar.multiselect(key="f_cat").options)
    centres = list(at.sidebar.multiselect(key="f_cc").options)
    times: list[float] = []
    for key, value in _changes(categories, centres, n):
        at.sidebar.multiselect(key=key).set_value(value)
        # in the app, app.py draws the sidebar on every rerun and leaves the Context for the
        # page; a page run on its own draws it only when there is none (ui/context.current)
        del at.session_state["_ctx"]
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        if at.exception:
            raise RuntimeError(f"the overview failed after {key}={value}: {at.exception[0].value}")
        say(f"  {key} -> {value}: {times[-1]:.3f} s")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="a DuckDB store, e.g. a demo build")
    parser.add_argument("--changes", type=int, default=4, help="filter changes (default 4)")
    parser.add_argument("--json", action="store_true", help="end with the times as JSON")
    args = parser.parse_args(argv)
    times = filter_times(args.store.resolve(), args.changes)
    if not times:
        raise SystemExit("the overview's sidebar offers no category or cost centre to pick")
    print(f"median {statistics.median(times):.3f} s over {len(times)} changes")
    if args.json:
        print(json.dumps({"times": times}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
