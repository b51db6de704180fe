"""Golden outputs on the demo store: what a user sees, recorded so a refactor can prove it
changed nothing.

`python scripts/golden.py --write` records them in tests/golden/; the test suite
(tests/unit/test_golden.py) rebuilds the demo and compares byte for byte.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

# name -> the command-line arguments after `python -m kpi`
COMMANDS: dict[str, list[str]] = {
    "compute_quarter.csv": ["compute", "--grain", "quarter", "--format", "csv"],
    "compute_quarter_by_category.csv": [
        "compute",
        "--grain",
        "quarter",
        "--by",
        "category",
        "--format",
        "csv",
    ],
    "compute_year_usd.json": [
        "compute",
        "--grain",
        "year",
        "--currency",
        "USD",
        "--format",
        "json",
    ],
    "bridge_total.json": ["bridge", "--from", "FY2025", "--to", "FY2026", "--format", "json"],
    "bridge_total.txt": ["bridge", "--from", "FY2025-Q3", "--to", "FY2026-Q3"],
    "bridge_by_category.json": [
        "bridge",
        "--from",
        "FY2025",
        "--to",
        "FY2026",
        "--by",
        "category",
        "--format",
        "json",
    ],
    "terms_sim_90.json": ["terms-sim", "--days", "90", "--format", "json"],
}

# name -> (period, filters, currency) of the overview's scorecard download
SCORECARDS: dict[str, tuple[str, dict[str, list[str]], str]] = {
    "scorecard_FY2026-Q3.csv": ("FY2026-Q3", {}, "EUR"),
    "scorecard_FY2026-Q2_packaging_usd.csv": ("FY2026-Q2", {"category": ["Packaging"]}, "USD"),
    "scorecard_FY2025-Q4_cc.csv": ("FY2025-Q4", {"cost_centre": ["CC-3030", "CC-1010"]}, "EUR"),
}


def _cli(db: Path, args: list[str]) -> bytes:
    env = {**os.environ, "KPI_DB": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "kpi", *args], cwd=ROOT, env=env, capture_output=True, check=True
    )
    return done.stdout


def scorecard_csv(db: Path, period: str, filters: dict[str, list[str]], currency: str) -> bytes:
    """The overview's 'Download the scorecard' CSV, as the page builds it."""
    sys.path.insert(0, str(ROOT))
    from scripts.golden_scorecard import scorecard_download

    return scorecard_download(db, period, filters, currency)


def outputs(db: Path) -> dict[str, bytes]:
    """Every golden output, computed on the store `db`."""
    result = {name: _cli(db, args) for name, args in COMMANDS.items()}
    for name, (period, filters, currency) in SCORECARDS.items():
        result[name] = scorecard_csv(db, period, filters, currency)
    return result


def build(db: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "kpi", "demo", "--db", str(db)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


_NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def same_output(recorded: bytes, now: bytes) -> bool:
    """Byte for byte, except the last digits of floating-point ratios.

    DuckDB sums DOUBLE columns in parallel, so a ratio over floats (days of inventory,
    the cash conversion gap) can differ in its 15th digit between two runs on the same
    store, before any change of ours. Such numbers may differ by 1e-9 relative; money
    (two decimals) and every other byte must be identical.
    """
    if recorded == now:
        return True
    old, new = recorded.decode(), now.decode()
    old_parts, new_parts = _NUMBER.split(old), _NUMBER.split(new)
    if old_parts != new_parts:
        return False
    for a, b in zip(_NUMBER.findall(old), _NUMBER.findall(new), strict=True):
        if a == b:
            continue
        # money (DECIMAL) always prints at most two decimals on both sides; a float that
        # happens to print short (102602.3 against 102602.29999999999) is still a float
        if len(a.split(".")[1]) <= 2 and len(b.split(".")[1]) <= 2:
            return False  # money differs
        if abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a))):
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record into tests/golden/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "kpi.duckdb"
        build(db)
        got = outputs(db)
    if args.write:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, data in got.items():
            (GOLDEN / name).write_bytes(data)
        print(f"wrote {len(got)} golden files to {GOLDEN}")
        return 0
    differ = [n for n, d in got.items() if not same_output((GOLDEN / n).read_bytes(), d)]
    print("differ: " + ", ".join(differ) if differ else f"all {len(got)} golden outputs match")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
