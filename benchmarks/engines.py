"""Every KPI by quarter on three engines, in one run: DuckDB on the file store, DuckDB on the
lake, and Spark (local mode) on the lake; and a 1,000-line load into the lake, at each scale.

    .venv/bin/python benchmarks/engines.py                       # scales 10 and 50
    .venv/bin/python benchmarks/engines.py --scales 1 --runs 2   # a smoke run
    .venv/bin/python benchmarks/engines.py --work /tmp/engines   # keep (and reuse) the stores

For each scale it builds the demo store (seed 42; reused when `--work` already holds it),
migrates it into a lake beside it (`kpi migrate`'s own function, every table's rows and
money compared), then times `compute(..., grain="quarter", live=True)` for every KPI of
config/kpis.yaml on each engine: one warm-up run, then the median of `--runs`. Spark's
session start (the JVM, local[2]) and its first run (registering the lake's tables, the
views' plans) are printed apart from its warm runs. Every engine's values are compared with
the file store's: money to the cent, other units to 1e-9 relative.

The small loads (`--loads`, default 3) are `python -m kpi load` runs of 1,000 of the
store's own invoice lines each, in a month of their own, into the lake, with the rollups
off (the lake's write alone: issue 19's "small writes stay small") — the time includes
Python's start-up, as for anyone loading.

Prints progress, then a Markdown table of the figures; nothing is written to the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import polars as pl  # noqa: E402
import run as bench  # noqa: E402  (benchmarks/run.py: say, measured, checks, small loads)

from kpi.core.settings import Settings, load_settings  # noqa: E402
from kpi.demo.build import build_demo  # noqa: E402
from kpi.semantic.definitions import load_definitions  # noqa: E402
from kpi.semantic.engine import compute  # noqa: E402
from kpi.store.database import Store  # noqa: E402
from kpi.store.lake import LakeStore  # noqa: E402
from kpi.store.lake_migrate import migrate_to_lake  # noqa: E402

SCALES = (10.0, 50.0)
RUNS = 3
LOADS = 3
say = bench.say


@dataclass
class EngineRun:
    median_s: float
    each: list[float]
    check: tuple[int, int] | None = None  # values equal to the file store's / compared
    first_s: float | None = None  # the first run (Spark: tables and views registered)
    start_s: float | None = None  # Spark's session start


@dataclass
class ScaleRun:
    scale: float
    lines: int
    store_mb: float
    lake_mb: float
    migrate_s: float
    engines: dict[str, EngineRun] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _timed(fn: Callable[[], pl.DataFrame], label: str, runs: int) -> tuple[EngineRun, pl.DataFrame]:
    """The first run on its own, then the median of `runs`."""
    start = time.perf_counter()
    frame = fn()
    first = time.perf_counter() - start
    say(f"  {label}: first run {first:.2f} s")
    each = []
    for i in range(runs):
        start = time.perf_counter()
        frame = fn()
        each.append(time.perf_counter() - start)
        say(f"  {label}: run {i + 1}/{runs} {each[-1]:.2f} s")
    return EngineRun(statistics.median(each), each, first_s=first), frame


def _every_kpi(store: Store, settings: Settings) -> Callable[[], pl.DataFrame]:
    definitions = load_definitions()

    def run() -> pl.DataFrame:
        return compute(store, definitions, grain="quarter", live=True).frame

    return run


def bench_scale(scale: float, work: Path, runs: int, loads: int) -> ScaleRun:
    folder = work / f"scale{scale:g}"
    folder.mkdir(parents=True, exist_ok=True)
    db, lake_dir = folder / "kpi.duckdb", folder / "lake"
    settings = load_settings()
    if not db.exists():
        say(f"\nBuilding the demo store at scale {scale:g} ...")
        build_demo(db, seed=bench.SEED, scale=scale)
    lines = bench.count_rows(db, "invoices")
    lake_settings = dataclasses.replace(settings, store="lake", lake=str(lake_dir))
    lake = LakeStore(lake_dir, lake_settings)
    say(f"\nMigrating {db} ({lines:,} invoice lines) into {lake_dir} ...")
    report = migrate_to_lake(db, lake, replace=True)
    if not report.published:
        raise SystemExit(f"the migration at scale {scale:g} did not add up; see `kpi migrate`")
    result = ScaleRun(scale, lines, _size_mb(db), _size_mb(lake_dir), report.seconds)
    units = {d.id: d.unit for d in load_definitions()}

    say("\nDuckDB on the file store, every KPI by quarter (live):")
    reference_run, reference = _timed(_every_kpi(Store(db, settings), settings), "file", runs)
    result.engines["duckdb-file"] = reference_run

    say("\nDuckDB on the lake, every KPI by quarter (live):")
    lake_run, frame = _timed(_every_kpi(lake, lake_settings), "lake", runs)
    ok, total, bad = bench.rollup_agreement(reference, frame, units)
    lake_run.check = (ok, total)
    result.engines["duckdb-lake"] = lake_run
    for line in bad:
        say(f"    differs: {line}")

    from kpi.semantic import spark_engine  # pyspark only when the benchmark gets here

    spark_settings = dataclasses.replace(lake_settings, engine="spark")
    say("\nSpark local[2] on the lake, every KPI by quarter (live):")
    start = time.perf_counter()
    spark_engine.session(spark_settings)
    started = time.perf_counter() - start
    say(f"  spark: session start {started:.2f} s")
    spark_store = LakeStore(lake_dir, spark_settings)
    spark_run, frame = _timed(_every_kpi(spark_store, spark_settings), "spark", runs)
    spark_run.start_s = started
    ok, total, bad = bench.rollup_agreement(reference, frame, units)
    spark_run.check = (ok, total)
    result.engines["spark-lake"] = spark_run
    for line in bad:
        say(f"    differs: {line}")
    spark_engine.forget()

    if loads:
        with tempfile.TemporaryDirectory() as tmp:
            files = bench.small_load_files(db, Path(tmp), loads)
            for small in files:
                say(f"\nLoading {bench.SMALL_LOAD_ROWS:,} lines of {small.name} into the lake:")
                cmd = [sys.executable, "-m", "kpi", "load", "invoices", str(small)]
                cmd += ["--db", str(lake_dir)]
                env = {"KPI_STORE": "lake", "KPI_LAKE": str(lake_dir), "KPI_ROLLUPS": "off"}
                result.loads.append(bench.measured(cmd, "kpi load (lake)", env=env).seconds)
    return result


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def report(results: list[ScaleRun]) -> str:
    def row(label: str, cell: Callable[[ScaleRun], str]) -> str:
        return "| " + " | ".join([label, *(cell(r) for r in results)]) + " |"

    def engine(name: str, what: str) -> Callable[[ScaleRun], str]:
        def cell(r: ScaleRun) -> str:
            run = r.engines.get(name)
            if run is None:
                return "–"
            if what == "median":
                spread = f"{min(run.each):.2f}–{max(run.each):.2f}"
                return f"**{run.median_s:.2f} s** ({spread})"
            if what == "first":
                return _s(run.first_s)
            if what == "start":
                return _s(run.start_s)
            return f"{run.check[0]}/{run.check[1]}" if run.check else "–"

        return cell

    def versus(name: str) -> Callable[[ScaleRun], str]:
        def cell(r: ScaleRun) -> str:
            base, other = r.engines.get("duckdb-file"), r.engines.get(name)
            if not base or not other:
                return "–"
            return f"{other.median_s / base.median_s:.2f} ×"

        return cell

    def loads(r: ScaleRun) -> str:
        if not r.loads:
            return "–"
        each = ", ".join(f"{s:.2f}" for s in r.loads)
        return f"**{statistics.median(r.loads):.2f} s** (each: {each})"

    lines = [
        "| measure | " + " | ".join(f"scale {r.scale:g}" for r in results) + " |",
        "| --- |" + " --- |" * len(results),
        row("invoice lines", lambda r: f"{r.lines:,}"),
        row("store file / lake on disk", lambda r: f"{r.store_mb:,.0f} MB / {r.lake_mb:,.0f} MB"),
        row("`kpi migrate --to lake` (every table compared)", lambda r: _s(r.migrate_s)),
        row("DuckDB, file store: every KPI by quarter, live", engine("duckdb-file", "median")),
        row("DuckDB, lake: every KPI by quarter, live", engine("duckdb-lake", "median")),
        row("… ÷ file store", versus("duckdb-lake")),
        row("… values equal to the file store's", engine("duckdb-lake", "check")),
        row("Spark local[2], lake: session start", engine("spark-lake", "start")),
        row("Spark local[2], lake: first run (tables, views)", engine("spark-lake", "first")),
        row("Spark local[2], lake: every KPI by quarter", engine("spark-lake", "median")),
        row("… ÷ DuckDB on the file store", versus("spark-lake")),
        row("… values equal to the file store's", engine("spark-lake", "check")),
        row("1,000-line load into the lake (rollups off), command line", loads),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=list(SCALES))
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--loads", type=int, default=LOADS, help="small loads per scale (0: none)")
    parser.add_argument("--work", type=Path, help="folder for the stores (kept; reused)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="kpi-engines-"))
    try:
        results = [bench_scale(s, work, args.runs, args.loads) for s in args.scales]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    say(f"\n{bench.machine()}\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
