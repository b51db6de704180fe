"""The command line, `python -m kpi ...`: the same nouns and functions as the app.

Every command turns bad input into one clear sentence on stderr and a non-zero exit code;
a person never sees a traceback (set KPI_DEBUG=1 to get one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kpi.commands import UserError, collab
from kpi.core import collector
from kpi.core.settings import db_path, kpis_path, load_settings

if TYPE_CHECKING:
    from kpi.ingest.loader import Loader
    from kpi.store.database import CopyAhead, Store

__all__ = ["UserError", "build_parser", "main"]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from kpi.demo.build import build_demo

    path = Path(args.db) if args.db else db_path()
    started = time.perf_counter()
    summary = build_demo(path, seed=args.seed, scale=args.scale, progress=_progress)
    took = time.perf_counter() - started
    print(f"Demo store built at {path} in {took:.1f} s (seed {args.seed}, scale {args.scale:g}):")
    for table, rows in summary.items():
        print(f"  {table:<20} {rows:>12,} rows")
    return 0


# ---- load ---------------------------------------------------------------------------------
def cmd_load(args: argparse.Namespace) -> int:
    with collector.importing():
        from kpi.store.stores import open_store

    store = open_store(args.db)
    # the store's copy for the write starts now, in a thread, while the load's modules are
    # imported and its files read and checked (on a big store the copy is most of a small
    # load); a load that writes nothing stops and removes it
    with store.copy_ahead() as ahead:
        return _load(args, store, ahead)


def _import_ahead(store: Store) -> None:
    """The rollups' modules (and Arrow, which their refresh moves rows with) imported on
    a thread of their own while the load reads its file and DuckDB writes it (most of
    which holds no Python lock), and the refresh's plan made (rollups.prepare): the refresh
    after the write then finds them ready. The load waits for it before it returns,
    whatever the outcome (an interpreter that exits while a thread holds an import's lock
    may hang). A failure here is the refresh's to report, when it meets it itself."""
    with collector.importing(), contextlib.suppress(Exception):
        import pyarrow  # noqa: F401

        from kpi.semantic import rollups

        rollups.prepare(store.settings)


def _load(args: argparse.Namespace, store: Store, ahead: CopyAhead) -> int:
    with collector.importing():
        from kpi.core.permissions import PermissionDenied
        from kpi.ingest.pipelines import LoadRefused, load_files

    importing = threading.Thread(target=_import_ahead, args=(store,), name="rollups-import")
    if rollups_on():  # their modules imported meanwhile, for the refresh after the write
        importing.start()
    try:
        report = load_files(
            store,
            args.table,
            [Path(f) for f in args.files],
            mapping=args.mapping,
            mapping_file=Path(args.mapping_file) if args.mapping_file else None,
            progress=_progress,
            force=args.force,
            loader=_loader(args.as_person),
            ahead=ahead,
        )
    except (LoadRefused, PermissionDenied) as exc:
        print(f"Refused, nothing was loaded: {exc}", file=sys.stderr)
        return 1
    finally:
        if importing.is_alive():  # never left importing when the process exits
            importing.join()
    print(report.as_table())
    return 0


def _loader(email: str | None) -> Loader:
    """Who the command line loads as: the person named by --as (from people.yaml), else the
    computer's operator (the OS user, who could write the store file anyway)."""
    from kpi.core.people import load_people
    from kpi.ingest.loader import COMMAND_LINE, Loader

    if email is None:
        return Loader.operator()
    try:
        people = load_people()
    except (OSError, ValueError) as exc:
        raise UserError(f"--as {email}: people.yaml cannot be read ({exc})") from exc
    for person in people:
        if person.email.lower() == email.strip().lower():
            return Loader.of(person, COMMAND_LINE)
    raise UserError(
        f"--as {email}: nobody with that e-mail is in config/people.yaml; "
        "name a person listed there, or leave --as out to load as this computer's user"
    )


# ---- check --------------------------------------------------------------------------------
def _spark_check(path: Path) -> bool:
    """`check --engine spark`: each KPI's statement written as Spark SQL (sqlglot, no Spark
    started); one line per KPI that cannot be, with why, on stderr. True when all can."""
    from kpi.semantic.definitions import load_definitions
    from kpi.semantic.rollups import spark_problems
    from kpi.semantic.spark_engine import transpile_problems

    settings = load_settings()
    definitions = load_definitions(path, settings)
    problems = transpile_problems(settings, definitions)
    for kpi_id, why in problems.items():
        print(f"{kpi_id}: cannot be transpiled to Spark SQL: {why}", file=sys.stderr)
    # the pre-computed sums Spark builds on the lake: a table it cannot is never refreshed
    sums = spark_problems(settings, definitions)
    for table, why in sums.items():
        print(f"rollup table {table}: cannot be transpiled to Spark SQL: {why}", file=sys.stderr)
    if problems or sums:
        print(
            f"{path}: {len(problems)} of {len(definitions)} KPI(s) and {len(sums)} rollup "
            "table(s) cannot run on Spark",
            file=sys.stderr,
        )
        return False
    print(f"{path}: all {len(definitions)} KPIs and their rollup tables transpile to Spark SQL")
    return True


def cmd_check(args: argparse.Namespace) -> int:
    """The definitions file, then its chained history beside it (when there is one): each
    problem with its line on stderr, the count last, exit 1 if anything is wrong."""
    from kpi.semantic.definitions import check_file
    from kpi.workflows.definition_versions import history_path_for
    from kpi.workflows.history_chain import verify

    path = Path(args.path) if args.path else kpis_path()
    issues = check_file(path)
    hist = history_path_for(path)
    try:
        history = verify(hist) if hist.is_file() else None
    except OSError as exc:
        raise UserError(f"Cannot read the history {hist}: {exc.strerror or exc}") from exc
    if history is not None:
        if history.ok:
            print(history.summary())
        else:
            for problem in history.problems:
                print(problem, file=sys.stderr)
            print(
                f"{hist}: {len(history.problems)} problem(s): the history was changed after "
                "it was written; restore it from a backup, or keep it and note why",
                file=sys.stderr,
            )
    if not issues:
        print(f"{path}: OK")
        for note in _approval_notes(path):
            print(note)
        for note in _live_notes(path):
            print(note)
        spark_ok = _spark_check(path) if args.engine == "spark" else True
        return 0 if (history is None or history.ok) and spark_ok else 1
    for issue in issues:
        print(issue, file=sys.stderr)
    print(f"{path}: {len(issues)} problem(s)", file=sys.stderr)
    return 1


def _live_notes(path: Path) -> list[str]:
    """KPIs the rollups cannot answer (their formula holds an aggregate that is not a sum, a
    count, a minimum or a maximum of parts): computed live every time, and why."""
    from kpi.semantic.definitions import load_definitions
    from kpi.semantic.measures import split

    definitions = load_definitions(path)
    live = [(k.id, split(k.formula_tree).why) for k in definitions]
    live = [(kpi_id, why) for kpi_id, why in live if why]
    if not live:
        return [f"rollups: all {len(definitions)} KPIs can be answered from the rollups"]
    return [
        f"rollups: {len(live)} of {len(definitions)} KPIs are computed live, never from the "
        "rollups:",
        *[f"  {kpi_id}: {why}" for kpi_id, why in live],
    ]


def _approval_notes(path: Path) -> list[str]:
    """KPIs the file marks agreed whose approvals do not count (no content hash, a signer not
    in people.yaml or of the wrong department, an older content): the app shows them as
    proposed. Notes, not problems: the file is valid and the app reads it."""
    from kpi.core.people import load_people
    from kpi.semantic.definitions import load_definitions
    from kpi.workflows.definition_versions import approval_checks

    try:
        people = load_people()
    except (OSError, ValueError) as exc:
        return [f"note: people.yaml cannot be read ({exc}), so no approval counts"]
    notes = []
    for kpi in load_definitions(path, load_settings()):
        checks = approval_checks(kpi, people)
        if kpi.status != "agreed" or all(c.counts for c in checks.values()):
            continue
        why = "; ".join(
            f"{dept}: {c.reason}" if c.reason else f"{dept} has not approved"
            for dept, c in checks.items()
            if not c.counts
        )
        notes.append(f"note: kpi '{kpi.id}' is marked agreed but counts as proposed: {why}")
    return notes


# ---- compute ------------------------------------------------------------------------------
def cmd_compute(args: argparse.Namespace) -> int:
    with collector.importing():
        from kpi.core.output import render_results
        from kpi.semantic import engine

    store_path = args.db or None
    result = engine.compute_cli(
        kpi_ids=args.kpi or [],
        grain=args.grain,
        by=args.by or [],
        start=args.start,
        end=args.end,
        currency=args.currency,
        db=store_path,
        warn=_progress,
        live=args.live,
    )
    sys.stdout.write(render_results(result, args.format, by=args.by or []))
    return 0


# ---- rollups ------------------------------------------------------------------------------
def cmd_rollups(args: argparse.Namespace) -> int:
    """Say what the rollups hold and whether they match the store; --refresh brings them up
    to date (only what changed), --rebuild builds every table again."""
    from kpi.reporting.rollups_text import render_status
    from kpi.semantic import rollups
    from kpi.store.stores import open_store

    store = open_store(args.db)
    if not store.exists():
        raise UserError(
            f"There is no store at {store.path} yet: build the demo with `python -m kpi demo` "
            "or load your files with `python -m kpi load`."
        )
    if not rollups.enabled():
        raise UserError(f"{rollups.ENV} is off: every figure is computed live, nothing stored")
    if args.refresh or args.rebuild:
        report = rollups.refresh(store, rebuild=args.rebuild)
        if report is None:
            raise UserError("config/kpis.yaml has problems (see `kpi check`): nothing built")
        _progress(
            f"rollups: {len(report.built)} table(s) built, {len(report.kept)} kept, "
            f"in {report.seconds:.1f} s"
        )
    sys.stdout.write(render_status(rollups.status(store)))
    return 0


# ---- explain ------------------------------------------------------------------------------
def cmd_explain(args: argparse.Namespace) -> int:
    """The rows behind one KPI value, with the reconciliation derived from its formula."""
    from kpi.reporting.explain_text import render_explanation
    from kpi.semantic import kpi_definition
    from kpi.semantic.definitions import load_definitions
    from kpi.semantic.explain import explain, explain_rows
    from kpi.store.stores import open_store

    if args.limit < 0:
        raise UserError(f"--limit {args.limit}: give a number of rows, 0 or more")
    store = open_store(args.db)
    definition = kpi_definition.get(load_definitions(None, store.settings), args.kpi)
    explanation = explain(store, definition, args.period, args.where or [], args.currency)
    rows = explain_rows(store, explanation, limit=args.limit)
    currency = (args.currency or store.settings.reporting_currency).upper()
    sys.stdout.write(render_explanation(explanation, rows, args.format, currency))
    return 0


# ---- bridge -------------------------------------------------------------------------------
def cmd_bridge(args: argparse.Namespace) -> int:
    from kpi.analyses.bridge import savings_bridge
    from kpi.core.scope import Scope
    from kpi.reporting.bridge_text import render_bridge
    from kpi.store.stores import open_store

    store = open_store(args.db)
    scope = Scope.of(currency=args.currency)
    frame = savings_bridge(
        store, scope, args.start, args.end, by=args.by, allow_unequal=args.allow_unequal
    )
    currency = (args.currency or store.settings.reporting_currency).upper()
    title = f"Savings bridge from {args.start} to {args.end}, in {currency}"
    sys.stdout.write(render_bridge(frame, args.format, args.by, currency, title))
    return 0


# ---- terms-sim ----------------------------------------------------------------------------
def cmd_terms_sim(args: argparse.Namespace) -> int:
    from datetime import date

    from kpi.analyses.terms import simulate_terms
    from kpi.reporting.terms_text import render_scenario
    from kpi.store.stores import open_store

    store = open_store(args.db)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        raise UserError(f"--as-of '{args.as_of}' is not a date (YYYY-MM-DD)") from None
    scenario = simulate_terms(store, args.days, args.where, as_of, currency=args.currency)
    sys.stdout.write(render_scenario(scenario, args.format))
    return 0


# ---- migrate ------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    """Move the store file into a lake; print per table the rows and money totals on both
    sides; exit 1 (the lake left as it was) when anything differs."""
    from kpi.store.lake import LakeStore
    from kpi.store.lake_migrate import migrate_to_lake

    settings = load_settings()
    db = Path(args.db) if args.db else db_path()
    lake = LakeStore(_lake_arg(args.lake), settings)
    report = migrate_to_lake(db, lake, replace=args.replace, progress=_progress)
    print(f"From the store {report.store} to the lake {report.lake}:")
    print(report.as_table())
    if not report.ok:
        print(
            "Error: the lake does not hold exactly what the store holds (the lines marked "
            "DIFFERENT or NOT MOVED); the lake was left as it was. Nothing in the store changed.",
            file=sys.stderr,
        )
        return 1
    print(
        f"Every table moved with the same rows and totals, in {report.seconds:.1f} s. "
        "To use the lake, set `store: lake` (and `lake: <folder>`) in config/settings.yaml, "
        "or KPI_STORE=lake; then `python -m kpi rollups --refresh` pre-computes its figures."
    )
    return 0


def _lake_arg(given: str | None) -> str | Path | None:
    """`--lake`: a folder, or an s3:// URL kept as text (None: the settings' lake)."""
    from kpi.core.settings import lake_url_problem
    from kpi.store.object_lake import is_url

    if not given:
        return None
    if is_url(given):
        problem = lake_url_problem(given.strip())
        if problem:
            raise UserError(f"--lake: {problem}")
        return given.strip()
    return Path(given)


def cmd_compact(args: argparse.Namespace) -> int:
    """Merge the lake's small files and remove those no recent version reads."""
    from kpi.store.lake import LakeStore

    if args.keep_days < 1:
        raise UserError(f"--keep-days {args.keep_days}: keep at least 1 day of versions")
    settings = load_settings()
    lake = LakeStore(_lake_arg(args.lake), settings)
    if not lake.exists():
        raise UserError(f"There is no lake at {lake.location}: nothing to compact.")
    done = lake.compact(keep_hours=args.keep_days * 24)
    for name, (before, after, partitioned) in done.items():
        how = ", now partitioned by month" if partitioned else ""
        print(f"  {name:<28} {before:>6,} files -> {after:,}{how}")
    print(f"Compacted {len(done)} table(s) of {lake.location}; the data is unchanged.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kpi",
        description="Finance–procurement KPIs: build the demo store, load your exports, "
        "check the shared KPI definitions and compute them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="(re)build the demo store with realistic, seeded data")
    p.add_argument("--db", help="store file to build (default: KPI_DB or data/kpi.duckdb)")
    p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    p.add_argument(
        "--scale", type=float, default=1.0, help="1 gives ~200,000 invoice lines; 10 ~2 million"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "load",
        help="load CSV, Excel (.xlsx) or Parquet files into one canonical table",
        description="Load files into a canonical table in one transaction. Each file's rows "
        "in / loaded / rejected are printed; rejected rows are kept with their reason. "
        "A file that cannot be read, or lacks a required column, is refused and nothing "
        "is loaded.",
    )
    p.add_argument("table", help="canonical table, e.g. invoices, suppliers, budgets")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--mapping", help="name of a mapping in config/sources.yaml")
    p.add_argument("--mapping-file", help="a YAML file holding the mapping(s)")
    p.add_argument(
        "--force",
        action="store_true",
        help="load files again even when the same bytes were loaded before "
        "(e.g. after correcting a mapping)",
    )
    p.add_argument(
        "--as",
        dest="as_person",
        metavar="EMAIL",
        help="load as this person from config/people.yaml (their rule for the table applies); "
        "without it the load is recorded as this computer's user (os:<user>)",
    )
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser(
        "check",
        help="validate the KPI definitions (config/kpis.yaml) and verify their chained "
        "history (kpis.history.jsonl beside it)",
    )
    p.add_argument("path", nargs="?", help="definitions file (default: config/kpis.yaml)")
    p.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="spark: also check that every KPI's statement transpiles to Spark SQL "
        "(sqlglot; no Spark is started)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "compute",
        help="compute KPIs by month, quarter, fiscal year or over the whole range",
        description="Compute KPIs from the store. Periods follow the fiscal calendar in "
        "config/settings.yaml. --from/--to take a date (YYYY-MM-DD) or a period label "
        "(2026-03, FY2026-Q1, FY2026).",
    )
    p.add_argument("--kpi", action="append", metavar="ID", help="KPI id (repeat; default: all)")
    p.add_argument("--grain", choices=["month", "quarter", "year", "range"], default="quarter")
    p.add_argument("--by", action="append", metavar="DIM", help="split by a dimension (repeat)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first date or period")
    p.add_argument("--to", dest="end", metavar="DATE", help="last date or period")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--currency", help="show money in this currency (needs fx_rates for it)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.add_argument(
        "--live",
        action="store_true",
        help="compute every figure from the transactions, not from the rollups (to check one)",
    )
    p.set_defaults(func=cmd_compute)

    p = sub.add_parser(
        "rollups",
        help="what the pre-computed KPI measures hold and whether they match the data",
        description="The rollups: every KPI's measures summed by month and by every "
        "dimension it can be split or filtered by, refreshed after each load and each save "
        "of the definitions, never read when they do not match the data.",
    )
    p.add_argument("--refresh", action="store_true", help="bring them up to date now")
    p.add_argument("--rebuild", action="store_true", help="build every table again")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_rollups)

    p = sub.add_parser(
        "explain",
        help="the rows behind one KPI value, with their source file and line, and how they "
        "add up to it",
        description="List the rows of a KPI's view behind its value for one period: the "
        "columns the formula reads, each row's part of every aggregate of the formula, its "
        "source file and row, and a reconciliation derived from the formula (a sum adds up "
        "to the value to the cent; a ratio or an average is its numerator's and denominator's "
        "totals, whose quotient is the value to 1e-9). PERIOD is a month (2026-03), a fiscal "
        "quarter (FY2026-Q1) or a fiscal year (FY2026).",
    )
    p.add_argument("kpi", metavar="KPI", help="KPI id, as in config/kpis.yaml")
    p.add_argument("--period", required=True, metavar="PERIOD", help="2026-03, FY2026-Q1, FY2026")
    p.add_argument(
        "--where",
        action="append",
        metavar="FILTER",
        help="keep only rows where this holds, e.g. \"category = 'IT hardware'\" (repeat; "
        "checked like every filter: columns of the KPI's view, no statements)",
    )
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="rows to list (default 50)")
    p.add_argument("--currency", help="show money in this currency (needs fx_rates for it)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "bridge",
        help="savings bridge between two periods: price, exchange rates, volume, mix, spend "
        "without quantity, new and lost items",
        description="Explain how spend moved from one period to another: base spend + price "
        "+ fx + volume + mix + unquantified + new + lost = current spend, to the cent; the "
        "rows of --by add up to the total in every column. PERIOD is a period label "
        "(2026-03, FY2026-Q1, FY2026) or a date; the two periods may not overlap and must be "
        "of the same kind (two months, quarters, fiscal years or days).",
    )
    p.add_argument("--from", dest="start", required=True, metavar="PERIOD", help="base period")
    p.add_argument("--to", dest="end", required=True, metavar="PERIOD", help="current period")
    p.add_argument(
        "--by",
        metavar="DIM",
        help="one bridge per value of category, cost_centre, supplier, supplier_size or country",
    )
    p.add_argument(
        "--allow-unequal",
        action="store_true",
        help="compare periods of different length (e.g. a fiscal year with a quarter)",
    )
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--currency", help="show money in this currency (needs fx_rates for it)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_bridge)

    p = sub.add_parser(
        "terms-sim",
        help="simulate moving suppliers to new payment terms: cash, discounts, prices, risk",
        description="Move a segment of suppliers to N-day payment terms and see, over the last "
        "twelve months of spend: the cash released (from the change in the days actually paid "
        "in: the days_to_pay KPI with invoices still open past due), its yearly value at our "
        "cost of capital, the early-payment discounts lost, the price suppliers are likely to "
        "pass on and the suppliers at risk (from the change in contractual terms), the net "
        "effect, and the suppliers pushed over the legal maximum with the net effect without "
        "them. Rates and legal limits: config/payment_policy.yaml.",
    )
    p.add_argument("--days", type=int, required=True, metavar="N", help="new terms in days")
    p.add_argument(
        "--where",
        metavar="FILTER",
        help="which suppliers, e.g. \"size = 'large' and preferred\"; columns: supplier_id, "
        "supplier_name, country, size (or supplier_size), preferred, strategic, single_source, "
        "payment_terms_days, discount_pct, discount_days, category, annual_spend, "
        "days_to_pay, discounts_captured, paid_amount, open_overdue_amount (default: every "
        "supplier)",
    )
    p.add_argument(
        "--as-of", metavar="DATE", help="last day of the spend year (default: the last data day)"
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--currency", help="show money in this currency (needs fx_rates for it)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_terms_sim)

    p = sub.add_parser(
        "migrate",
        help="move the store file into a lake (a folder of Delta tables), checking every "
        "table's rows and money totals",
        description="Copy every table of the store file into the lake, then compare, table by "
        "table, the number of rows and the total of every money (and price, quantity, "
        "percentage) column in the store and in the lake, and print them side by side. The "
        "lake only takes the new data when everything is equal; otherwise the command says "
        "what differs and exits with an error. The store file is only read, never changed.",
    )
    p.add_argument("--to", choices=["lake"], required=True, help="where to move the store: lake")
    p.add_argument(
        "--lake",
        metavar="FOLDER",
        help="the lake's folder (default: `lake` in settings.yaml, KPI_LAKE, or data/lake)",
    )
    p.add_argument("--db", help="store file to move (default: KPI_DB or data/kpi.duckdb)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="write over a lake that already holds data (by default a folder that is not "
        "empty is refused)",
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "compact",
        help="lake only: merge the small files each write adds, and delete old ones",
        description="Every load or save on a lake adds a small file to each table it "
        "changed. This merges each table's files into a few larger ones (the data stays "
        "the same), each month's on their own, then deletes the files no version of the last "
        "--keep-days still uses. A lake made before its invoices, orders, receipts and stock "
        "were kept by month has those tables written again by month. Run it now and then, "
        "e.g. weekly; it waits for a load that is running.",
    )
    p.add_argument(
        "--lake",
        metavar="FOLDER",
        help="the lake's folder (default: `lake` in settings.yaml, KPI_LAKE, or data/lake)",
    )
    p.add_argument(
        "--keep-days",
        type=int,
        default=7,
        help="keep the files of versions this many days old (default 7)",
    )
    p.set_defaults(func=cmd_compact)

    collab.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _refresh_rollups_after_writes()
        return args.func(args)
    except KeyboardInterrupt:
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # every error a person can meet ends as one sentence
        if os.environ.get("KPI_DEBUG"):
            raise
        print(f"Error: {_describe(exc)}", file=sys.stderr)
        return 1


# ---- the rollups after each write -------------------------------------------------------
ROLLUPS_MODULE = "kpi.semantic.rollups"


def _refresh_rollups_after_writes() -> None:
    """Every write of this process refreshes the rollups, saying so on stderr. Their module
    (sqlglot, the compiler, the definitions) takes half a second to import: it is imported
    when a write lands with the rollups on, never by a command that writes nothing or a
    load with KPI_ROLLUPS=off. Its import registers its refresh as the store's next hook."""
    from kpi.store import database

    if ROLLUPS_MODULE in sys.modules:  # imported already: its refresh is registered
        sys.modules[ROLLUPS_MODULE].AFTER_WRITE.say = _progress
    if _import_rollups not in database.AFTER_WRITE:
        database.AFTER_WRITE.append(_import_rollups)


def _import_rollups(_store: object) -> None:
    """The store's after-write hook standing in for the rollups' refresh until it is needed:
    imports them (which registers `rollups.refresh_after_write`, run right after this one)."""
    if not rollups_on():
        return
    with collector.importing():
        from kpi.semantic import rollups

    rollups.AFTER_WRITE.say = _progress


def rollups_on() -> bool:
    """`kpi.semantic.rollups.enabled()` without importing the rollups (a test keeps the two
    the same)."""
    return os.environ.get("KPI_ROLLUPS", "on").strip().lower() not in ("off", "0", "false", "no")


def _describe(exc: Exception) -> str:
    from kpi.store.database import StoreError

    if isinstance(exc, (UserError, StoreError, ValueError, FileNotFoundError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (set KPI_DEBUG=1 for details)"
