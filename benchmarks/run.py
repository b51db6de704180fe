"""Benchmarks: demo build, `kpi load` against DuckDB's own CSV reader, and the KPI engine
against one hand-written DuckDB statement and against pandas.

    .venv/bin/python benchmarks/run.py [--scales 1,10] [--out DIR]

Prints progress while it works and, at the end, one table of figures and ratios, which it
also writes as markdown to DIR/results.md (default benchmarks/out/, not committed).

1. Demo build (`python -m kpi demo`) at each scale asked, in a subprocess: wall time, peak
   memory, invoice lines.
2. A 2-million-line invoices CSV exported once from the scale-10 demo store (DuckDB COPY,
   canonical columns, ISO dates), loaded by `python -m kpi load invoices FILE --db fresh`
   and by DuckDB itself (read_csv with explicit canonical types, INSERT into the canonical
   table), each in a subprocess: wall time, peak memory, rows/s. Goal: ours >= 0.5 x
   DuckDB's rate.
3. Every KPI of config/kpis.yaml by quarter on the scale-10 store: kpi.engine.compute
   against ONE hand-written statement on the canonical tables (benchmarks/all_kpis.sql),
   whose values must match the engine's to 1e-6 (relative) for every KPI and quarter, each
   timed warm (one run to warm up, then the median of 3, a fresh connection per run as the
   engine opens one). Goal: engine < 1.5 x the hand-written statement. Then pandas on a
   subset of the KPIs (benchmarks/pandas_kpis.py) against the engine on the same subset.
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

from kpi.definitions import load_definitions  # noqa: E402
from kpi.engine import compute  # noqa: E402
from kpi.schema import TABLES  # noqa: E402
from kpi.settings import load_settings  # noqa: E402
from kpi.store import LOCKED_DOWN, Store  # noqa: E402

SEED = 42
BIG_SCALE = 10  # the store the load and compute benchmarks use (~2 million invoice lines)
RUNS = 3
TOLERANCE = 1e-6
LOAD_GOAL = 0.5  # kpi load's rows/s at least this share of DuckDB's
COMPUTE_GOAL = 1.5  # engine time below this multiple of the hand-written statement's

# DuckDB loading the same CSV into the canonical table, run in its own process.
DUCKDB_LOAD = """
import sys, duckdb
sys.path.insert(0, sys.argv[3])
from kpi.schema import TABLES, create_table_sql
table = TABLES["invoices"]
types = "{" + ", ".join(f"'{c.name}': '{c.sql_type}'" for c in table.columns) + "}"
con = duckdb.connect(sys.argv[2])
con.execute(create_table_sql(table))
con.execute(
    f"INSERT INTO invoices SELECT * FROM read_csv(?, header = true, columns = {types}, "
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
    return Run(seconds, usage.ru_maxrss / 1024)  # Linux reports KiB


def median_time(fn: Callable[[], object], label: str) -> tuple[float, list]:
    """One warm-up run, then the median of RUNS timed runs; also each timed run's result."""
    fn()
    times, results = [], []
    for i in range(RUNS):
        start = time.perf_counter()
        results.append(fn())
        times.append(time.perf_counter() - start)
        say(f"  {label}: run {i + 1}/{RUNS} {times[-1]:.3f} s")
    return statistics.median(times), results


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
def export_invoices(store: Path, out: Path) -> tuple[Path, int]:
    """The store's invoices as CSV in canonical columns with ISO dates (once per run)."""
    csv = out / f"invoices-scale{BIG_SCALE}.csv"
    rows = count_rows(store, "invoices")
    say(f"\nExporting {rows:,} invoice lines to {csv} ...")
    columns = ", ".join(TABLES["invoices"].column_names)
    target = str(csv).replace("'", "''")
    con = duckdb.connect(str(store), read_only=True)
    try:
        con.execute(
            f"COPY (SELECT {columns} FROM invoices) TO '{target}' "
            "(HEADER, DELIMITER ',', DATEFORMAT '%Y-%m-%d')"
        )
    finally:
        con.close()
    return csv, rows


def bench_load(csv: Path, rows: int, out: Path) -> tuple[Run, Run]:
    ours_db, duck_db = out / "load-kpi.duckdb", out / "load-duckdb.duckdb"
    _remove_store(ours_db)
    _remove_store(duck_db)
    say(f"\nkpi load of {csv.name} ({csv.stat().st_size / 1e6:.0f} MB) into a fresh store")
    cmd = [sys.executable, "-m", "kpi", "load", "invoices", str(csv), "--db", str(ours_db)]
    ours = measured(cmd, "kpi load")
    say("\nDuckDB read_csv of the same file into the typed canonical table")
    duck = measured(
        [sys.executable, "-c", DUCKDB_LOAD, str(csv), str(duck_db), str(ROOT)],
        "DuckDB load",
        f"python -c <DuckDB read_csv into invoices> {csv.name} {duck_db.name}",
    )
    for db in (ours_db, duck_db):
        loaded = count_rows(db, "invoices")
        if loaded != rows:
            raise SystemExit(f"{db} holds {loaded:,} invoice lines, the CSV {rows:,}")
    return ours, duck


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


def bench_compute(db: Path) -> dict:
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
    engine_s, results = median_time(lambda: compute(store, definitions, "quarter"), "engine")
    engine = results[-1].frame
    hand_s, hands = median_time(lambda: hand_written(db), "hand-written SQL")
    hand_ok, hand_n, hand_bad = agreement(engine, hands[-1])
    say(f"  check: {hand_ok} of {hand_n} (KPI, quarter) values agree to {TOLERANCE:g}")
    for line in hand_bad:
        say(f"    differs: {line}")

    subset = [d for d in definitions if d.id in pandas_kpis.KPIS]
    say(f"\n{len(subset)} KPIs with pandas and with the engine")
    subset_s, _ = median_time(lambda: compute(store, subset, "quarter"), "engine, subset")
    pandas_s, runs = median_time(lambda: with_pandas(db), "pandas")
    pandas_frame = pl.from_pandas(runs[-1][0])
    load_s = statistics.median(r[1] for r in runs)
    work_s = statistics.median(r[2] for r in runs)
    sub_ok, sub_n, sub_bad = agreement(
        engine.filter(pl.col("kpi").is_in(pandas_kpis.KPIS)), pandas_frame
    )
    say(f"  check: {sub_ok} of {sub_n} (KPI, quarter) values agree to {TOLERANCE:g}")
    for line in sub_bad:
        say(f"    differs: {line}")
    return {
        "kpis": len(definitions),
        "engine_s": engine_s,
        "hand_s": hand_s,
        "hand_check": (hand_ok, hand_n),
        "subset": len(subset),
        "subset_s": subset_s,
        "pandas_s": pandas_s,
        "pandas_load_s": load_s,
        "pandas_work_s": work_s,
        "pandas_check": (sub_ok, sub_n),
    }


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


def report(demos: list, load: tuple, comp: dict) -> str:
    rows: list[list[str]] = []
    for scale, run, lines in demos:
        rows.append(
            [
                f"demo build, scale {scale:g} ({lines:,} invoice lines)",
                f"{run.seconds:.1f} s",
                f"{run.peak_mb:,.0f} MB",
                "",
            ]
        )
    csv_rows, ours, duck = load
    for name, run in (("`kpi load`", ours), ("DuckDB `read_csv` + INSERT", duck)):
        rows.append(
            [
                f"{name}, {csv_rows:,}-line invoices CSV",
                f"{run.seconds:.2f} s",
                f"{run.peak_mb:,.0f} MB",
                f"{csv_rows / run.seconds:,.0f} rows/s",
            ]
        )
    hand_ok, hand_n = comp["hand_check"]
    sub_ok, sub_n = comp["pandas_check"]
    rows += [
        [
            f"engine, all {comp['kpis']} KPIs by quarter, scale {BIG_SCALE}",
            f"{comp['engine_s']:.2f} s",
            "",
            "median of 3, warm",
        ],
        [
            "one hand-written DuckDB statement, same work",
            f"{comp['hand_s']:.2f} s",
            "",
            f"{hand_ok}/{hand_n} values agree to {TOLERANCE:g}",
        ],
        [f"engine, {comp['subset']}-KPI subset", f"{comp['subset_s']:.2f} s", "", ""],
        [
            f"pandas, same {comp['subset']} KPIs (load via .df() + compute)",
            f"{comp['pandas_s']:.2f} s",
            "",
            f"medians: load {comp['pandas_load_s']:.2f} s, compute {comp['pandas_work_s']:.2f} s; "
            f"{sub_ok}/{sub_n} values agree to {TOLERANCE:g}",
        ],
    ]
    load_ratio = duck.seconds / ours.seconds  # same rows: rate ratio = inverse time ratio
    compute_ratio = comp["engine_s"] / comp["hand_s"]
    pandas_ratio = comp["pandas_s"] / comp["subset_s"]
    ratios = [
        [
            "`kpi load` rows/s ÷ DuckDB's",
            f"{load_ratio:.2f}",
            f"≥ {LOAD_GOAL}",
            "holds" if load_ratio >= LOAD_GOAL else "does NOT hold",
        ],
        [
            "engine time ÷ hand-written statement's",
            f"{compute_ratio:.2f}",
            f"< {COMPUTE_GOAL}",
            "holds" if compute_ratio < COMPUTE_GOAL else "does NOT hold",
        ],
        ["pandas time ÷ engine's (subset)", f"{pandas_ratio:.2f}", "", ""],
        [
            "values: hand-written = engine",
            f"{hand_ok}/{hand_n}",
            "all",
            "holds" if hand_ok == hand_n else "does NOT hold",
        ],
    ]
    subset = ", ".join(pandas_kpis.KPIS)
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        "",
        *_table(["what", "time", "peak memory", "notes"], rows),
        "",
        *_table(["ratio", "value", "goal", ""], ratios),
        "",
        f"pandas subset: {subset}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,10", help="demo scales to build (default 1,10)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output folder")
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    say(f"Benchmarks on {machine()}")

    demos, big = [], None
    for scale in sorted(set(scales) | {float(BIG_SCALE)}):
        db, run, lines = bench_demo(scale, out)
        if scale in scales:
            demos.append((scale, run, lines))
        if scale == BIG_SCALE:
            big = db
    assert big is not None
    csv, rows = export_invoices(big, out)
    ours, duck = bench_load(csv, rows, out)
    comp = bench_compute(big)

    text = report(demos, (rows, ours, duck), comp)
    (out / "results.md").write_text(text, encoding="utf-8")
    say("\n" + text)
    say(f"Written to {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
