"""The command line's sub-commands of working together: the meeting pack, the digest, and
backing up and restoring the company's records (`python -m kpi pack|digest|backup|restore`).

Split from kpi.cli, which builds the parser and runs them; the same rule holds: bad input
ends as one UserError sentence, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kpi.commands import UserError
from kpi.core.settings import kpis_path, load_settings

if TYPE_CHECKING:
    from kpi.store.database import Store


# ---- pack ---------------------------------------------------------------------------------
def cmd_pack(args: argparse.Namespace) -> int:
    """The meeting pack the Quarterly goals page downloads (all spend, the reporting
    currency), as that HTML file or printed by Chromium to an A4 PDF."""
    from kpi.reporting import pack_pdf
    from kpi.reporting.meeting_pack import meeting_pack_html
    from kpi.semantic.definitions import load_definitions
    from kpi.store.stores import open_store

    out = _pack_out(Path(args.out))
    if args.format == "pdf":
        try:
            pack_pdf.check_chromium()
        except pack_pdf.PackPrintError as exc:
            raise UserError(str(exc)) from None
    store = open_store(args.db)
    plan = _pack_quarter(store, args.quarter)
    page = meeting_pack_html(store, load_definitions(None, store.settings), plan)
    try:
        if args.format == "html":
            pack_pdf.write_whole(out, page.encode("utf-8"))
            print(f"Meeting pack for {plan} written to {out} (HTML, opens offline)")
            return 0
        pages = pack_pdf.print_pdf(page, out, f"Quarterly goals {plan}: meeting pack")
    except pack_pdf.PackPrintError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write it ({exc.strerror or exc})") from None
    print(f"Meeting pack for {plan} written to {out} (PDF, A4, {pages} pages)")
    return 0


def _pack_out(out: Path) -> Path:
    """--out checked before the pack is built: a file in an existing, writable folder."""
    folder = out.parent
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name, e.g. {out / 'pack.pdf'}")
    if not folder.is_dir():
        raise UserError(
            f"--out {out}: the folder {folder} does not exist; create it or write elsewhere"
        )
    if not os.access(folder, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UserError(f"--out {out}: this user may not write there; choose another file")
    return out


def _pack_quarter(store: Store, quarter: str) -> str:
    """A quarter the Quarterly goals page offers to plan, or one the meeting has already
    recorded proposals or decisions for (a past meeting's pack printed again)."""
    from kpi.reporting.goals_view import quarters_to_plan
    from kpi.workflows import goals

    plan = goals.check_quarter(quarter)
    offered = quarters_to_plan(store)
    if plan in offered:
        return plan
    if (
        not goals.proposals(store, plan).is_empty()
        or not goals.decision_log(store, plan).is_empty()
    ):
        return plan
    if not offered:
        raise UserError(
            f"--quarter {plan}: the store holds no complete quarter of data yet, so there is "
            "no quarter to plan; load invoices first (python -m kpi load ...)"
        )
    raise UserError(
        f"--quarter {plan}: no meeting can plan it and none has recorded anything for it; "
        f"the quarters to plan are {', '.join(offered)}"
    )


# ---- digest -------------------------------------------------------------------------------
def cmd_digest(args: argparse.Namespace) -> int:
    """The digest for a person or a department since a date: printed, or sent by e-mail."""
    from kpi.core.people import load_people
    from kpi.reporting.digest import (
        build_digest,
        digest_html,
        digest_subject,
        digest_text,
        parse_since,
        recipient,
    )
    from kpi.reporting.digest_mail import DeliveryError, digest_message, send
    from kpi.semantic.definitions import load_definitions
    from kpi.store.stores import open_store

    settings = load_settings()
    try:
        people = load_people()
    except (OSError, ValueError) as exc:
        raise UserError(f"config/people.yaml cannot be read ({exc})") from exc
    since = parse_since(args.since, settings.timezone)
    recipient(people, args.for_)  # refuse an unknown name before the store is opened
    store = open_store(args.db)
    if not store.exists():
        raise UserError(
            f"No store at {store.path}: build it with `python -m kpi demo` or load your "
            "exports with `python -m kpi load`, or name it with --db"
        )
    path = kpis_path()
    digest = build_digest(
        store, load_definitions(path, store.settings), people, args.for_, since, path
    )
    text, html = digest_text(digest, people), digest_html(digest, people)
    if not args.send:
        sys.stdout.write(html if args.format == "html" else text)
        return 0
    smtp = settings.digest_smtp
    to = digest.recipient.addresses
    try:
        send(
            digest_message(digest_subject(digest), smtp.sender if smtp else "", to, text, html),
            smtp,
        )
    except DeliveryError as exc:
        print(f"Not sent: {exc}", file=sys.stderr)
        return 1
    print(f"Digest for {digest.recipient.name} sent to {', '.join(to)} via {smtp.host}:{smtp.port}")
    return 0


# ---- backup / restore ---------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace) -> int:
    """The company's records and definitions into a new folder (kpi.workflows.backup)."""
    from kpi.store.stores import open_store
    from kpi.workflows.backup import BackupError, backup

    store = open_store(args.db)
    kpis = Path(args.kpis) if args.kpis else kpis_path()
    try:
        report = backup(store, Path(args.out), kpis)
    except BackupError as exc:
        raise UserError(str(exc)) from exc
    print(report.as_text("Backed up into"))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Put a backup's records and definitions back (loaded data stays as it is)."""
    from kpi.store.stores import open_store
    from kpi.workflows.backup import BackupError, restore

    store = open_store(args.db)
    kpis = Path(args.kpis) if args.kpis else kpis_path()
    try:
        report = restore(store, Path(args.folder), kpis)
    except BackupError as exc:
        raise UserError(str(exc)) from exc
    print(report.as_text("Restored from"))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The sub-commands of this module, in the order `python -m kpi --help` lists them."""
    p = sub.add_parser(
        "pack",
        help="the quarterly goals meeting pack as HTML or as an A4 PDF (printed by Chromium)",
        description="Write the meeting pack the Quarterly goals page downloads, for all spend "
        "in the reporting currency: decisions and open items first, the scorecard by theme, "
        "the savings picture, the spend outlook and each KPI's history, forecast, proposals "
        "and agreed target. --format pdf prints it with Debian's Chromium (/usr/bin/chromium, "
        "or KPI_CHROMIUM) to A4 with page numbers.",
    )
    p.add_argument(
        "--quarter", required=True, metavar="QUARTER", help="quarter to plan, e.g. FY2026-Q3"
    )
    p.add_argument("--format", choices=["html", "pdf"], default="html")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write (replaced whole)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser(
        "digest",
        help="what changed since a date for a person or a department: printed or e-mailed",
        description="The KPIs whose scorecard status changed since DATE (the latest complete "
        "quarter now against the one the scorecard showed at DATE, by the definitions of "
        "then), those newly off target, what waits for them (the inbox), new comments "
        "mentioning them, "
        "and the KPI definitions saved since. --send e-mails it (text and HTML parts) to the "
        "person, or to everyone of the department, through the server in settings.yaml "
        "(digest.smtp); the password comes from KPI_SMTP_PASSWORD or .streamlit/secrets.toml.",
    )
    p.add_argument(
        "--since", required=True, metavar="DATE", help="YYYY-MM-DD (midnight in settings' zone)"
    )
    p.add_argument(
        "--for",
        dest="for_",
        required=True,
        metavar="EMAIL|DEPT",
        help="a person's e-mail from config/people.yaml, or a department (finance, procurement)",
    )
    p.add_argument(
        "--format",
        choices=["text", "html"],
        default="text",
        help="what is printed (a sent digest carries both)",
    )
    p.add_argument("--send", action="store_true", help="e-mail it instead of printing it")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser(
        "backup",
        help="back up what the company entered (threads, initiatives, decisions, scenarios, "
        "KPI definitions) into a new folder",
        description="Write the company's records from the store (threads, savings initiatives "
        "and their audit log, the price outlook, target proposals and goal decisions, saved "
        "terms scenarios) as Parquet files, and the KPI definitions with their history, into "
        "a new folder with a manifest of checksums. Loaded data is not included: load the "
        "exports again to get it back.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) folder")
    p.add_argument("--kpis", metavar="FILE", help="definitions file (default: config/kpis.yaml)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore",
        help="put a backup's records and KPI definitions back (loaded data stays)",
        description="Check every file of a backup folder against its manifest, then replace "
        "the store's records with the backup's in one write and the KPI definitions and "
        "their history with the backup's. A damaged or partial backup changes nothing.",
    )
    p.add_argument("folder", metavar="DIR", help="a folder written by `python -m kpi backup`")
    p.add_argument("--kpis", metavar="FILE", help="definitions file (default: config/kpis.yaml)")
    p.add_argument("--db", help="store file (default: KPI_DB or data/kpi.duckdb)")
    p.set_defaults(func=cmd_restore)
