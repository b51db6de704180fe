"""Benchmarks at scale 1, 10 and 50 (about 10 million invoice lines): loading, computing
every KPI, and the CFO overview in a real browser, each against a yardstick and a goal.

    .venv/bin/python benchmarks/run.py [--scales 1,10,50] [--quick] [--no-browser] [--out DIR]

For each scale asked (default 1, 10 and 50) it:

1. builds the demo store (`python -m kpi demo --scale N`) in a subprocess: wall time, peak
   memory, invoice lines;
2. exports the store's invoices to a CSV in canonical columns with ISO dates and loads it
   with `python -m kpi load invoices FILE --db fresh.duckdb` and with DuckDB's own
   `read_csv` (explicit canonical types) into the canonical table, each in a subprocess:
   wall time (Python start-up included), peak RSS, rows/s;
3. computes every KPI of config/kpis.yaml by quarter with kpi.semantic.engine.compute and with ONE
   hand-written statement on the canonical tables (benchmarks/all_kpis.sql), whose values
   must equal the engine's to 1e-6 relative; each timed warm (one run to warm up, then 5
   runs in alternation, a fresh connection per run as the engine opens one): median times
   and the median of the per-run ratios. Up to scale 10 also pandas on a subset
   (benchmarks/pandas_kpis.py);
4. opens the CFO overview in Chromium, cold (fresh server and browser context) and warm
   (reload after one render), until fully drawn (benchmarks/render.py says precisely what
   that means);
5. loads 1,000 of those invoice lines again into the demo store itself (an upsert: the
   store's figures stay the same): what one small load costs on a big store, whose writer
   copies the store and swaps the copy in.

Goals: `kpi load` >= 300,000 rows/s with peak memory under 4 GB at scale 50; every-KPI
compute within 1.5 x the hand-written statement (at every scale); overview warm render
under 2 s at scale 10. It prints progress, then the tables with PASS / MISS, and writes
them as markdown to DIR/results.md (default benchmarks/out/, not committed).
`--quick` is a smoke run: scale 1, one cold and two warm renders.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import duckdb  # noqa: E402
import pandas_kpis  # noqa: E402
import polars as pl  # noqa: E402

from kpi.core.settings import load_settings  # noqa: E402
from kpi.semantic.definitions import load_definitions  # noqa: E402
from kpi.semantic.engine import compute  # noqa: E402
from kpi.store.database import LOCKED_DOWN, Store  # noqa: E402
from kpi.store.schema import TABLES  # noqa: E402

SEED = 42
SCALES = (1.0, 10.0, 50.0)
RUNS = 5
TOLERANCE = 1e-6
PANDAS_MAX_SCALE = 10  # pandas needs the whole tables in memory; beyond this it only swaps
SMALL_LOAD_ROWS = 1_000

# the goals of issue 8, point 4
LOAD_RATE_GOAL = 300_000  # rows/s of `kpi load` ...
LOAD_PEAK_GOAL_MB = 4 * 1024  # ... with peak memory under 4 GB ...
LOAD_GOAL_SCALE = 50.0  # ... at scale 50
COMPUTE_GOAL = 1.5  # engine time at most this multiple of the hand-written statement's
RENDER_WARM_GOAL_S = 2.0  # overview warm render under this ...
RENDER_GOAL_SCALE = 10.0  # ... at scale 10

# DuckDB loading the same CSV into the canonical table, run in its own process.
DUCKDB_LOAD = """
import sys, duckdb
sys.path.insert(0, sys.argv[3])
from kpi.store.schema import TABLES, create_table_sql
table = TABLES["invoices"]
types = "{" + ", ".join(f"'{c.name}': '{c.sql_type}'" for c in table.columns) + "}"
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
con.execute(create_table_sql(table))
con.execute(
    f"INSERT INTO invoices BY NAME SELECT * FROM read_csv(?, header = true, columns = {types}, "
    "dateformat = '%Y-%m-%d')",
    [sys.argv[1]],
)
print(f"{con.execute('SELECT count(*) FROM invoices').fetchone()[0]:,} rows loaded by DuckDB")
con.close()
"""


def say(message: str) -> None:
    print(message, flush=True)


# ---- measuring ---------------------------------------------------------------------------
@dataclass
class Run:
    seconds: float
    peak_mb: float
    cpu_s: float = 0.0  # user + system CPU time of the process and its threads


def measured(cmd: list[str], label: str, shown: str | None = None) -> Run:
    """Run a command, echo its output indented, and measure its wall time and peak RSS.

    os.wait4 gives the rusage of this one child (RUSAGE_CHILDREN would report the largest
    child so far, which is wrong for every run after a bigger one)."""
    say(f"  $ {shown or ' '.join(cmd)}")
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        say(f"    | {line.rstrip()}")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed (exit code {proc.returncode})")
    # Linux reports the peak RSS in KiB
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def median_time(fn: Callable[[], object], label: str, runs: int = RUNS) -> tuple[float, list]:
    """One warm-up run, then the median of `runs` timed runs; also each timed run's result."""
    fn()
    times, results = [], []
    for i in range(runs):
        start = time.perf_counter()
        results.append(fn())
        times.append(time.perf_counter() - start)
        say(f"  {label}: run {i + 1}/{runs} {times[-1]:.3f} s")
    return statistics.median(times), results


@dataclass
class Paired:
    """Two ways of doing the same work, timed in alternation."""

    ours_s: float  # median wall time
    theirs_s: float
    ratio: float  # median of the per-round wall-time ratios ours / theirs
    cpu_ratio: float  # median CPU time (this process, all threads) ours / theirs
    ours: object  # the last results
    theirs: object


def paired_times(
    ours: Callable[[], object], theirs: Callable[[], object], labels: tuple[str, str], runs: int
) -> Paired:
    """Time two ways of doing the same work in alternation, after one warm-up each.

    On a shared machine the load changes from second to second; alternating exposes both
    to the same conditions, so the ratio is steadier than one of two separate medians. The
    CPU time (process_time, which counts DuckDB's threads too) hardly depends on what else
    runs: it says how much work each does, where the wall time says how long one waits."""
    ours(), theirs()
    wall: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    ratios: list[float] = []
    results: list[object] = [None, None]
    for i in range(runs):
        for side, fn in enumerate((ours, theirs)):
            start, start_cpu = time.perf_counter(), time.process_time()
            results[side] = fn()
            wall[side].append(time.perf_counter() - start)
            cpu[side].append(time.process_time() - start_cpu)
        ratios.append(wall[0][-1] / wall[1][-1])
        say(
            f"  run {i + 1}/{runs}: {labels[0]} {wall[0][-1]:.3f} s (CPU {cpu[0][-1]:.3f} s), "
            f"{labels[1]} {wall[1][-1]:.3f} s (CPU {cpu[1][-1]:.3f} s), ratio {ratios[-1]:.2f}"
        )
    med = statistics.median
    return Paired(
        med(wall[0]),
        med(wall[1]),
        med(ratios),
        med(cpu[0]) / med(cpu[1]),
        results[0],
        results[1],
    )


def count_rows(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def _remove_store(path: Path) -> None:
    for p in path.parent.glob(path.name + "*"):
        p.unlink()


# ---- 1. demo build -----------------------------------------------------------------------
def bench_demo(scale: float, out: Path) -> tuple[Path, Run, int]:
    db = out / f"demo-scale{scale:g}.duckdb"
    _remove_store(db)
    say(f"\nDemo build at scale {scale:g} -> {db}")
    cmd = [sys.executable, "-m", "kpi", "demo", "--db", str(db), "--scale", f"{scale:g}"]
    run = measured([*cmd, "--seed", str(SEED)], "kpi demo")
    return db, run, count_rows(db, "invoices")


# ---- 2. loading a CSV --------------------------------------------------------------------
def export_invoices(store: Path, csv: Path) -> int:
    """The store's invoices as CSV in canonical columns with ISO dates; the line count."""
    rows = count_rows(store, "invoices")
    say(f"\nExporting {rows:,} invoice lines to {csv} ...")
    columns = ", ".join(TABLES["invoices"].column_names)
    target = str(csv).replace("'", "''")
    con = duckdb.connect(str(store), read_only=True)
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"COPY (SELECT {columns} FROM invoices) TO '{target}' "
            "(HEADER, DELIMITER ',', DATEFORMAT '%Y-%m-%d')"
        )
    finally:
        con.close()
    return rows


def bench_load(csv: Path, rows: int, out: Path) -> tuple[Run, Run]:
    ours_db, duck_db = out / "load-kpi.duckdb", out / "load-duckdb.duckdb"
    _remove_store(ours_db)
    _remove_store(duck_db)
    say(f"\nkpi load of {csv.name} ({csv.stat().st_size / 1e6:,.0f} MB) into a fresh store")
    cmd = [sys.executable, "-m", "kpi", "load", "invoices", str(csv), "--db", str(ours_db)]
    ours = measured(cmd, "kpi load")
    say("\nDuckDB read_csv of the same file into the typed canonical table")
    duck = measured(
        [sys.executable, "-c", DUCKDB_LOAD, str(csv), str(duck_db), str(ROOT)],
        "DuckDB load",
        f"python -c <DuckDB read_csv into invoices> {csv.name} {duck_db.name}",
    )
    try:
        for db in (ours_db, duck_db):
            loaded = count_rows(db, "invoices")
            if loaded != rows:
                raise SystemExit(f"{db} holds {loaded:,} invoice lines, the CSV {rows:,}")
    finally:
        _remove_store(ours_db)
        _remove_store(duck_db)
    return ours, duck


def bench_small_load(csv: Path, store: Path, out: Path) -> Run:
    """Load the CSV's first SMALL_LOAD_ROWS lines into the demo store itself. They are
    already there, so the upsert replaces them with equal rows: the figures do not change."""
    small = out / f"invoices-first-{SMALL_LOAD_ROWS}.csv"
    with csv.open("rb") as src, small.open("wb") as dst:
        for _ in range(SMALL_LOAD_ROWS + 1):  # the header and the lines
            dst.write(src.readline())
    say(f"\nLoading {SMALL_LOAD_ROWS:,} lines into {store.name} ({_mb(store)}): copy and swap")
    cmd = [sys.executable, "-m", "kpi", "load", "invoices", str(small), "--db", str(store)]
    try:
        return measured(cmd, "kpi load (small)")
    finally:
        small.unlink()


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:,.0f} MB"


# ---- 3. computing KPIs -------------------------------------------------------------------
def hand_written(db: Path) -> pl.DataFrame:
    """benchmarks/all_kpis.sql on a fresh connection configured as the engine's readers."""
    query = (HERE / "all_kpis.sql").read_text(encoding="utf-8")
    con = duckdb.connect(str(db), read_only=True, config=dict(LOCKED_DOWN))
    try:
        return con.sql(query).pl()
    finally:
        con.close()


def with_pandas(db: Path) -> tuple:
    con = duckdb.connect(str(db), read_only=True, config=dict(LOCKED_DOWN))
    try:
        return pandas_kpis.run(con)
    finally:
        con.close()


def agreement(ours: pl.DataFrame, theirs: pl.DataFrame) -> tuple[int, int, list[str]]:
    """(values that agree, values compared, a few that do not): same (kpi, period) keys,
    both null or equal within TOLERANCE relative."""
    both = ours.select("kpi", "period", "value").join(
        theirs.select("kpi", "period", pl.col("value").cast(pl.Float64).alias("other")),
        on=["kpi", "period"],
        how="full",
        coalesce=True,
    )
    a, b = pl.col("value"), pl.col("other")
    scale = pl.max_horizontal(a.abs(), b.abs())
    ok = (a.is_null() & b.is_null()) | ((a - b).abs() <= TOLERANCE * scale).fill_null(False)
    bad = both.filter(~ok).sort("kpi", "period")
    shown = [
        f"{r['kpi']} {r['period']}: engine {r['value']}, other {r['other']}"
        for r in bad.head(5).iter_rows(named=True)
    ]
    return both.height - bad.height, both.height, shown


@dataclass
class Compute:
    kpis: int
    engine_s: float
    hand_s: float
    hand_check: tuple[int, int]
    ratio: float  # median of the per-round ratios engine / hand-written
    cpu_ratio: float  # median CPU time engine / hand-written
    subset: int = 0
    subset_s: float | None = None
    pandas_s: float | None = None
    pandas_check: tuple[int, int] | None = None


def bench_compute(db: Path, with_pandas_subset: bool, runs: int = RUNS) -> Compute:
    settings = load_settings()
    cal = settings.fiscal
    if (cal.year_start_month, settings.reporting_currency) != (1, "EUR"):
        raise SystemExit(
            "all_kpis.sql and pandas_kpis.py are written for the demo's settings "
            "(fiscal year = calendar year, EUR); config/settings.yaml differs"
        )
    store = Store(db, settings)
    definitions = load_definitions(None, settings)
    say(f"\nAll {len(definitions)} KPIs by quarter on {db.name}")
    paired = paired_times(
        lambda: compute(store, definitions, "quarter"),
        lambda: hand_written(db),
        ("engine", "hand-written SQL"),
        runs,
    )
    engine = paired.ours.frame  # type: ignore[attr-defined]
    hand_ok, hand_n, hand_bad = agreement(engine, paired.theirs)  # type: ignore[arg-type]
    say(f"  check: {hand_ok} of {hand_n} (KPI, quarter) values agree to {TOLERANCE:g}")
    for line in hand_bad:
        say(f"    differs: {line}")
    result = Compute(
        len(definitions),
        paired.ours_s,
        paired.theirs_s,
        (hand_ok, hand_n),
        paired.ratio,
        paired.cpu_ratio,
    )
    if not with_pandas_subset:
        return result

    subset = [d for d in definitions if d.id in pandas_kpis.KPIS]
    say(f"\n{len(subset)} KPIs with pandas and with the engine")
    result.subset = len(subset)
    result.subset_s, _ = median_time(
        lambda: compute(store, subset, "quarter"), "engine, subset", runs
    )
    result.pandas_s, pandas_runs = median_time(lambda: with_pandas(db), "pandas", runs)
    sub_ok, sub_n, sub_bad = agreement(
        engine.filter(pl.col("kpi").is_in(pandas_kpis.KPIS)), pl.from_pandas(pandas_runs[-1][0])
    )
    say(f"  check: {sub_ok} of {sub_n} (KPI, quarter) values agree to {TOLERANCE:g}")
    for line in sub_bad:
        say(f"    differs: {line}")
    result.pandas_check = (sub_ok, sub_n)
    return result


# ---- one scale ---------------------------------------------------------------------------
@dataclass
class ScaleResult:
    scale: float
    lines: int
    demo: Run
    csv_mb: float
    load: Run
    duck: Run
    compute: Compute
    small_load: Run
    store_mb: float
    render: object | None = None  # render.RenderTimes
    machine_load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average, start and end

    @property
    def load_rate(self) -> float:
        return self.lines / self.load.seconds

    @property
    def duck_rate(self) -> float:
        return self.lines / self.duck.seconds


def bench_scale(scale: float, out: Path, options: argparse.Namespace) -> ScaleResult:
    say(f"\n==== scale {scale:g} ====")
    load_before = os.getloadavg()[0]
    db, demo, lines = bench_demo(scale, out)
    csv = out / f"invoices-scale{scale:g}.csv"
    try:
        export_invoices(db, csv)
        csv_mb = csv.stat().st_size / 1e6
        load, duck = bench_load(csv, lines, out)
        comp = bench_compute(db, scale <= PANDAS_MAX_SCALE, options.runs)
        render = None
        if options.browser:
            import render as overview_render

            say(f"\nCFO overview in Chromium on {db.name}")
            shot = out / f"overview-scale{scale:g}.png"
            render = overview_render.render_times(
                db, options.cold, options.warm, say=say, shot=shot
            )
        store_mb = db.stat().st_size / 1e6
        small = bench_small_load(csv, db, out)
    finally:
        if not options.keep:
            csv.unlink(missing_ok=True)
    result = ScaleResult(scale, lines, demo, csv_mb, load, duck, comp, small, store_mb, render)
    result.machine_load = (load_before, os.getloadavg()[0])
    return result


# ---- the report --------------------------------------------------------------------------
def machine() -> str:
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f", {kib / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import pandas

    return (
        f"{os.cpu_count()} cores{mem}; Python {platform.python_version()}, DuckDB "
        f"{duckdb.__version__}, polars {pl.__version__}, pandas {pandas.__version__}"
    )


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def figures(results: list[ScaleResult]) -> list[str]:
    """One row per measure, one column per scale."""

    def row(label: str, cell: Callable[[ScaleResult], str]) -> list[str]:
        return [label] + [cell(r) for r in results]

    def render(r: ScaleResult, which: str) -> str:
        if r.render is None:
            return "not run"
        return f"{getattr(r.render, which):.2f} s"

    def pandas_cell(r: ScaleResult) -> str:
        c = r.compute
        if c.pandas_s is None or c.subset_s is None or c.pandas_check is None:
            return "not run"
        ok, n = c.pandas_check
        times = f"{c.pandas_s / c.subset_s:.1f} × engine's {c.subset_s:.2f} s"
        return f"{c.pandas_s:.2f} s ({times}; {ok}/{n} agree)"

    rows = [
        row("invoice lines", lambda r: f"{r.lines:,}"),
        row(
            f"machine load (1-min average, {os.cpu_count()} cores): start → end",
            lambda r: f"{r.machine_load[0]:.1f} → {r.machine_load[1]:.1f}",
        ),
        row(
            "demo build: time / peak memory",
            lambda r: f"{r.demo.seconds:.1f} s / {r.demo.peak_mb:,.0f} MB",
        ),
        row("invoices CSV", lambda r: f"{r.csv_mb:,.0f} MB"),
        row(
            "`kpi load` of the CSV: wall time (CPU time)",
            lambda r: f"{r.load.seconds:.2f} s ({r.load.cpu_s:.2f} s)",
        ),
        row("`kpi load`: **rows/s**", lambda r: f"{r.load_rate:,.0f}"),
        row("`kpi load`: **peak memory**", lambda r: f"{r.load.peak_mb:,.0f} MB"),
        row(
            "DuckDB `read_csv` + INSERT: rows/s / peak",
            lambda r: f"{r.duck_rate:,.0f} / {r.duck.peak_mb:,.0f} MB",
        ),
        row("`kpi load` rows/s ÷ DuckDB's", lambda r: f"{r.load_rate / r.duck_rate:.2f}"),
        row(
            "`kpi load` CPU time ÷ DuckDB's",
            lambda r: f"{r.load.cpu_s / r.duck.cpu_s:.2f}" if r.duck.cpu_s else "—",
        ),
        row(
            f"`kpi load` of {SMALL_LOAD_ROWS:,} lines into the demo store (copy and swap)",
            lambda r: f"{r.small_load.seconds:.2f} s ({r.store_mb:,.0f} MB store)",
        ),
        row(
            "engine, every KPI by quarter",
            lambda r: f"{r.compute.engine_s:.2f} s ({r.compute.kpis} KPIs)",
        ),
        row("one hand-written DuckDB statement", lambda r: f"{r.compute.hand_s:.2f} s"),
        row("**engine ÷ hand-written** (wall time)", lambda r: f"{r.compute.ratio:.2f}"),
        row("engine ÷ hand-written (CPU time)", lambda r: f"{r.compute.cpu_ratio:.2f}"),
        row("values equal to 1e-6", lambda r: "{}/{}".format(*r.compute.hand_check)),
        row("pandas, KPI subset", pandas_cell),
        row("CFO overview, **cold** render", lambda r: render(r, "cold")),
        row("CFO overview, **warm** render", lambda r: render(r, "warm")),
    ]
    return _table(["measure"] + [f"scale {r.scale:g}" for r in results], rows)


def goals(results: list[ScaleResult]) -> list[list[str]]:
    """goal, scale, measured, PASS / MISS / not measured."""
    at = {r.scale: r for r in results}
    rows: list[list[str]] = []
    big = at.get(LOAD_GOAL_SCALE)
    if big is None:
        rows.append([f"`kpi load` ≥ {LOAD_RATE_GOAL:,} rows/s", "50", "—", "not measured"])
        rows.append(["`kpi load` peak memory < 4 GB", "50", "—", "not measured"])
    else:
        rows.append(
            [
                f"`kpi load` ≥ {LOAD_RATE_GOAL:,} rows/s",
                "50",
                f"{big.load_rate:,.0f} rows/s",
                _verdict(big.load_rate >= LOAD_RATE_GOAL),
            ]
        )
        rows.append(
            [
                "`kpi load` peak memory < 4 GB",
                "50",
                f"{big.load.peak_mb:,.0f} MB",
                _verdict(big.load.peak_mb < LOAD_PEAK_GOAL_MB),
            ]
        )
    for r in results:
        rows.append(
            [
                f"every-KPI compute ≤ {COMPUTE_GOAL} × hand-written",
                f"{r.scale:g}",
                f"{r.compute.ratio:.2f} ×",
                _verdict(r.compute.ratio <= COMPUTE_GOAL),
            ]
        )
        ok, n = r.compute.hand_check
        rows.append(
            ["engine values = hand-written values", f"{r.scale:g}", f"{ok}/{n}", _verdict(ok == n)]
        )
    mid = at.get(RENDER_GOAL_SCALE)
    if mid is None or mid.render is None:
        rows.append([f"overview warm render < {RENDER_WARM_GOAL_S:g} s", "10", "—", "not measured"])
    else:
        warm = mid.render.warm  # type: ignore[attr-defined]
        rows.append(
            [
                f"overview warm render < {RENDER_WARM_GOAL_S:g} s",
                "10",
                f"{warm:.2f} s",
                _verdict(warm < RENDER_WARM_GOAL_S),
            ]
        )
    return rows


def report(results: list[ScaleResult]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        "",
        *figures(results),
        "",
        *_table(["goal", "scale", "measured", "status"], goals(results)),
        "",
        f"pandas subset (scales up to {PANDAS_MAX_SCALE}): {', '.join(pandas_kpis.KPIS)}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scales", default=None, help="demo scales, comma separated (default 1,10,50)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: scale 1 (unless --scales), fewer runs"
    )
    parser.add_argument(
        "--no-browser", dest="browser", action="store_false", help="skip the overview renders"
    )
    parser.add_argument("--keep", action="store_true", help="keep the exported CSV files")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output folder")
    args = parser.parse_args(argv)
    default = "1" if args.quick else ",".join(f"{s:g}" for s in SCALES)
    scales = sorted({float(s) for s in (args.scales or default).split(",") if s.strip()})
    args.runs, args.cold, args.warm = (1, 1, 2) if args.quick else (RUNS, 3, 5)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    say(f"Benchmarks at scale {', '.join(f'{s:g}' for s in scales)} on {machine()}")

    results = [bench_scale(scale, out, args) for scale in scales]
    text = report(results)
    (out / "results.md").write_text(text, encoding="utf-8")
    say("\n" + text)
    say(f"Written to {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
