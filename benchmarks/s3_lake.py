"""The lake in S3 (`lake: s3://...`) against the lake in a folder, at one scale: migration,
a reader's first and later opening, every KPI by quarter, and 1,000-line loads.

    .venv/bin/python benchmarks/s3_lake.py                    # scale 1
    .venv/bin/python benchmarks/s3_lake.py --scale 0.1 --loads 2

S3 here is moto's server (`moto_server`, installed with the test requirements) in a
process of its own on this machine: no network between the app and the store, so the
figures are what the lake's own work costs, not a real bucket's round trips. The number of
requests each step sends is counted from the server's log and printed, so that the cost in
a real region (each request 10-30 ms, several in flight at once) can be estimated.

Prints progress, then a Markdown table; nothing is written to the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import run as bench  # noqa: E402  (benchmarks/run.py: say, measured, small loads)

from kpi.core.settings import Settings  # noqa: E402
from kpi.demo.build import build_demo  # noqa: E402
from kpi.semantic.definitions import load_definitions  # noqa: E402
from kpi.semantic.engine import compute  # noqa: E402
from kpi.store.lake import LakeStore  # noqa: E402
from kpi.store.lake_migrate import migrate_to_lake  # noqa: E402

say = bench.say


class Server:
    """moto's S3 server in its own process; `requests()` counts the requests served so far."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = folder / "moto.log"
        server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        self.proc = subprocess.Popen(
            [server or "moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)

    def requests(self) -> int:
        return sum(1 for line in self.log.read_text(errors="replace").splitlines()
                   if '" 2' in line or '" 3' in line or '" 4' in line)  # fmt: skip

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kpi-s3-bench-"))
    server = Server(work)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "KPI_LAKE_CACHE": str(work / "cache"),
        "KPI_ROLLUPS": "off",
    }
    os.environ.update(env)
    rows: list[tuple[str, str, str]] = []
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="kpi")
        db = work / "kpi.duckdb"
        say(f"Building the demo at scale {args.scale:g} ...")
        build_demo(db, scale=args.scale, seed=42)
        settings = Settings(store="lake")
        folder = LakeStore(work / "lake", settings)
        url = "s3://kpi/lake"
        s3 = LakeStore(url, settings)
        times = {}
        for name, lake in (("folder", folder), ("s3", s3)):
            before = server.requests()
            t = time.perf_counter()
            assert migrate_to_lake(db, lake).published
            times[name] = (time.perf_counter() - t, server.requests() - before)
        rows.append(("`kpi migrate` (every table copied and compared)",
                     f"{times['folder'][0]:.1f} s", f"{times['s3'][0]:.1f} s, "
                     f"{times['s3'][1]:,} requests"))  # fmt: skip

        def opening(lake: LakeStore) -> tuple[float, int]:
            before = server.requests()
            t = time.perf_counter()
            with lake.read() as con:
                con.execute("SELECT count(*) FROM invoices").fetchall()
            return time.perf_counter() - t, server.requests() - before

        shutil.rmtree(work / "cache" / next(iter(os.listdir(work / "cache"))) / "files",
                      ignore_errors=True)  # fmt: skip
        first = opening(s3)
        later = [opening(s3) for _ in range(args.runs)]
        local = [opening(folder) for _ in range(args.runs)]
        rows.append(("a reader's first opening (S3: every current file fetched)",
                     f"{statistics.median(t for t, _ in local):.2f} s",
                     f"{first[0]:.2f} s, {first[1]:,} requests"))  # fmt: skip
        rows.append(("a reader's later opening",
                     f"{statistics.median(t for t, _ in local):.2f} s",
                     f"{statistics.median(t for t, _ in later):.2f} s, "
                     f"{max(n for _, n in later):,} requests"))  # fmt: skip

        definitions = load_definitions(None, settings)
        for name, lake in (("folder", folder), ("s3", s3)):
            spent = []
            for _ in range(args.runs):
                t = time.perf_counter()
                compute(lake, definitions, "quarter", live=True)
                spent.append(time.perf_counter() - t)
            times[name] = (statistics.median(spent), 0)
        rows.append(("every KPI by quarter, live (median)", f"{times['folder'][0]:.2f} s",
                     f"{times['s3'][0]:.2f} s"))  # fmt: skip

        if args.loads:
            (work / "loads").mkdir()
            files = bench.small_load_files(db, work / "loads", args.loads)
            loads: dict[str, list[float]] = {"folder": [], "s3": []}
            requests: list[int] = []
            for small in files:
                for name, where in (("folder", str(work / "lake")), ("s3", url)):
                    cmd = [sys.executable, "-m", "kpi", "load", "invoices", str(small)]
                    before = server.requests()
                    run = bench.measured(
                        cmd,
                        f"kpi load ({name})",
                        env={**env, "KPI_STORE": "lake", "KPI_LAKE": where},  # fmt: skip
                    )
                    loads[name].append(run.seconds)
                    if name == "s3":
                        requests.append(server.requests() - before)
            rows.append((f"1,000-line `kpi load` (command line, median of {args.loads})",
                         f"{statistics.median(loads['folder']):.2f} s",
                         f"{statistics.median(loads['s3']):.2f} s, "
                         f"{statistics.median(requests):,.0f} requests"))  # fmt: skip
    finally:
        server.stop()
    say(f"\n| scale {args.scale:g} | lake in a folder | lake in S3 (moto, this machine) |")
    say("| --- | --- | --- |")
    for label, a, b in rows:
        say(f"| {label} | {a} | {b} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
