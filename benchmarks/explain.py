"""Benchmark of the rows behind a figure (issue 16, point 5): for every KPI of the scorecard,
the time `kpi compute` takes for one quarter's value beside the time the first page of the
rows behind it takes: in the app (the page hands over the value it shows; the row count,
the parts' totals and the first 50 rows are read in one scan) and on the command line
(`kpi explain`, which also asks the engine for the value, side by side with the scan).

    .venv/bin/python benchmarks/explain.py [--db STORE | --scale 10] [--period FY2026-Q1]
                                           [--kpi ID ...]

Without --db it builds the demo at --scale (default 10) in benchmarks/out/. Each figure is
the median of RUNS runs after one warm-up run (the app asks again and again, so the
statements' text is cached as it is there).
Goal: the first page under 1 s at scale 10. Results also go to benchmarks/out/explain.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from kpi.semantic import engine  # noqa: E402
from kpi.semantic.definitions import load_definitions  # noqa: E402
from kpi.semantic.explain import explain, explain_rows  # noqa: E402
from kpi.semantic.kpi_definition import get  # noqa: E402
from kpi.store.database import Store  # noqa: E402

RUNS = 3
GOAL_S = 1.0
PAGE = 50


def _timed(run) -> tuple[float, float]:
    """(cold, median of RUNS warm) seconds."""
    started = time.perf_counter()
    run()
    cold = time.perf_counter() - started
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return cold, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an existing demo store (default: build one)")
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--period", default="FY2026-Q1", help="the quarter explained")
    parser.add_argument("--out", default=str(HERE / "out"))
    parser.add_argument("--kpi", nargs="*", help="only these KPIs (default: every one)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = Path(args.db) if args.db else out / f"explain_scale{args.scale:g}.duckdb"
    if not args.db:
        print(f"building the demo at scale {args.scale:g} in {db} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "kpi", "demo", "--scale", str(args.scale), "--db", str(db)],
            check=True,
            cwd=ROOT,
        )
    store = Store(db)
    definitions = load_definitions(None, store.settings)
    start, end = engine.parse_bounds(args.period, args.period, store)
    lines = [
        f"Rows-behind benchmark, {time.strftime('%Y-%m-%d')}, {db.name}, period {args.period}, "
        f"{os.cpu_count()} cores ({platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f} at the start; median of {RUNS} warm runs",
        "",
        "| KPI | rows behind | compute (s) | first page in the app (s) | ratio "
        "| `kpi explain` first page (s) | goal < 1 s in the app |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    chosen = [get(definitions, k) for k in args.kpi] if args.kpi else list(definitions)
    missed = 0
    for kpi in chosen:
        shown: dict = {}

        def compute(kpi=kpi, shown=shown) -> None:
            frame = engine.compute(store, [kpi], "quarter", (), start, end).frame
            values = frame["value"].to_list()
            shown["value"] = values[0] if values else None

        _, compute_s = _timed(compute)
        found = {}

        def in_app(kpi=kpi, found=found, shown=shown) -> None:
            e = explain(store, kpi, args.period, value=shown["value"])
            explain_rows(store, e, limit=PAGE)
            found["e"] = e

        def on_command_line(kpi=kpi) -> None:
            explain_rows(store, explain(store, kpi, args.period), limit=PAGE)

        _, app_s = _timed(in_app)
        _, cli_s = _timed(on_command_line)
        e = found["e"]
        verdict = "PASS" if app_s < GOAL_S else "MISS"
        missed += verdict == "MISS"
        line = (
            f"| {kpi.id} | {e.row_count:,} | {compute_s:.2f} | {app_s:.2f} | "
            f"{app_s / compute_s:.1f} | {cli_s:.2f} | {verdict} |"
        )
        print(line, flush=True)
        lines.append(line)
    lines.append(f"\n{len(chosen) - missed} of {len(chosen)} KPIs under {GOAL_S:g} s in the app")
    lines.append(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    (out / "explain.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
