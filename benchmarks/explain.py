"""Benchmark of `kpi explain` (issue 16, point 5): for a representative set of scorecard KPIs,
the time `kpi compute` takes for one quarter's value and the time explain takes for the
first page of the rows behind it (the engine's value, the row count, the parts' totals and
the first 50 rows), and their ratio.

    .venv/bin/python benchmarks/explain.py [--db STORE | --scale 10] [--period FY2026-Q1]

Without --db it builds the demo at --scale (default 10) in benchmarks/out/. Each figure is
the median of RUNS runs after one warm-up run (the app asks again and again, so the
statements' text is cached as it is there); the cold first run is printed beside it.
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

# a sum on spend, ratios on spend and payments, inventory, savings, budget, a count ratio
KPIS = (
    "total_spend",
    "po_compliance",
    "days_to_pay",
    "excess_inventory_value",
    "savings_realised",
    "budget_utilisation",
    "supplier_otd",
)
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
        f"Explain benchmark, {time.strftime('%Y-%m-%d')}, {db.name}, period {args.period}, "
        f"{os.cpu_count()} cores ({platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f} at the start",
        "",
        "| KPI | rows behind | compute (s) | explain first page (s) | ratio | cold page (s) "
        "| goal < 1 s |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for kpi_id in KPIS:
        kpi = get(definitions, kpi_id)
        _, compute_s = _timed(
            lambda kpi=kpi: engine.compute(store, [kpi], "quarter", (), start, end)
        )
        found = {}

        def first_page(kpi=kpi, found=found) -> None:
            e = explain(store, kpi, args.period)
            explain_rows(store, e, limit=PAGE)
            found["e"] = e

        cold_s, page_s = _timed(first_page)
        e = found["e"]
        verdict = "PASS" if page_s < GOAL_S else "MISS"
        line = (
            f"| {kpi_id} | {e.row_count:,} | {compute_s:.2f} | {page_s:.2f} | "
            f"{page_s / compute_s:.1f} | {cold_s:.2f} | {verdict} |"
        )
        print(line, flush=True)
        lines.append(line)
    lines.append(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    (out / "explain.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
