"""Backing up and restoring what the company entered: its records in the store and its KPI
definitions, as a folder of plain files with a manifest of their checksums.

What is kept (kpi.store.schema.COMPANY_RECORDS and the definitions' files): threads, savings
initiatives and their audit log, the price outlook and its changes, target proposals and
goal decisions, saved terms scenarios; config/kpis.yaml and its chained history. Loaded
data (invoices, orders, stock...) is not: it comes back by loading the ERP's exports again,
and a reload never touches these records.

A restore checks every file against the manifest first and refuses a damaged or partial
backup before changing anything; then it replaces each kept table's rows in one store
write (all or nothing), and the definitions' files atomically, the KPI file checked like
`kpi check` before it replaces the live one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from sqlglot import exp

from kpi.core import atomic
from kpi.semantic.definitions import check_file
from kpi.store.database import Store
from kpi.store.queries.catalog import HAS_TABLE
from kpi.store.query import fetch_frame
from kpi.store.schema import COMPANY_RECORDS
from kpi.store.template import render
from kpi.workflows.definition_versions import history_path_for

MANIFEST = "manifest.json"
FORMAT = "kpi-backup/1"
RECORDS_DIR = "records"
DEFINITIONS_DIR = "definitions"
LOCK_TIMEOUT_S = 10.0


class BackupError(RuntimeError):
    """A backup cannot be written or restored; the message says why and what to do."""


@dataclass
class BackupReport:
    """What a backup holds (or a restore put back): rows per table, the files kept."""

    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # tables the store did not have

    def as_text(self, verb: str) -> str:
        lines = [f"{verb} {self.folder}:"]
        lines += [f"  {name:<22} {rows:>9,} rows" for name, rows in self.tables.items()]
        lines += [f"  {name:<22} (none yet)" for name in self.absent]
        lines += [f"  {name}" for name in self.files]
        return "\n".join(lines)


def _select_all(table: str) -> str:
    return render(exp.select("*").from_(exp.to_table(table, quoted=True)))


def _delete_all(table: str) -> str:
    return render(exp.delete(exp.to_table(table, quoted=True)))


def _insert_frame(table: str) -> str:
    """INSERT INTO <table> BY NAME SELECT * FROM _kpi_restore: columns matched by name, so a
    backup made before a column was added restores with that column empty."""
    insert = exp.insert(
        exp.select("*").from_(exp.to_table("_kpi_restore")), exp.to_table(table, quoted=True)
    )
    insert.set("by_name", True)
    return render(insert)


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(HAS_TABLE, {"name": table}).fetchall()[0][0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(store: Store, folder: Path, kpis_file: Path) -> BackupReport:
    """Write the company's records and definitions into `folder` (new or empty)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(
            f"{folder} exists and is not an empty folder: name a new folder for the backup "
            "(a backup never overwrites another)."
        )
    if not store.exists():
        raise BackupError(f"There is no store at {store.location}: nothing to back up.")
    report = BackupReport(folder)
    try:
        (folder / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
        (folder / DEFINITIONS_DIR).mkdir(exist_ok=True)
        checksums: dict[str, str] = {}
        tables: dict[str, int | None] = {}
        with store.read() as con:  # one consistent snapshot of the store
            for table in COMPANY_RECORDS:
                present = _has_table(con, table)
                if not present:
                    tables[table] = None
                    report.absent.append(table)
                    continue
                frame = fetch_frame(con, _select_all(table))
                name = f"{RECORDS_DIR}/{table}.parquet"
                frame.write_parquet(folder / name)
                tables[table] = report.tables[table] = frame.height
                checksums[name] = _sha256(folder / name)
        with atomic.locked(kpis_file, LOCK_TIMEOUT_S):  # the file and its history agree
            for source in (kpis_file, history_path_for(kpis_file)):
                if source.is_file():
                    name = f"{DEFINITIONS_DIR}/{source.name}"
                    shutil.copyfile(source, folder / name)
                    checksums[name] = _sha256(folder / name)
                    report.files.append(name)
        manifest = {
            "format": FORMAT,
            "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "store": str(store.location),
            "tables": tables,
            "definitions": [Path(n).name for n in report.files],
            "sha256": checksums,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except atomic.Busy:
        raise BackupError(f"{kpis_file.name} is being saved by someone else; try again.") from None
    except OSError as exc:
        raise BackupError(f"Cannot write the backup into {folder}: {exc}") from exc
    return report


def read_manifest(folder: Path) -> dict:
    """The manifest of a backup folder, with every file it lists checked against its
    checksum; BackupError naming the first problem."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            f"{folder} holds no {MANIFEST}: name a folder written by `python -m kpi backup`."
        ) from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read ({exc}): the backup is damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a backup this version reads (format {FORMAT}).")
    for name, expected in (manifest.get("sha256") or {}).items():
        file = folder / name
        if not file.is_file():
            raise BackupError(f"The backup lacks {name}: it is incomplete; nothing was restored.")
        if _sha256(file) != expected:
            raise BackupError(
                f"{name} differs from the backup's checksum: the file was changed or damaged "
                "since the backup; nothing was restored."
            )
    unknown = set(manifest.get("tables") or {}) - set(COMPANY_RECORDS)
    if unknown:
        raise BackupError(
            f"The backup holds tables this version does not know ({', '.join(sorted(unknown))}): "
            "restore it with the version that made it."
        )
    return manifest


def restore(store: Store, folder: Path, kpis_file: Path) -> BackupReport:
    """Put the backup's records and definitions back, replacing the current ones; loaded
    data stays as it is. Every file is checked first; the records go in one write."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    report = BackupReport(folder)
    if kpis_file.name in (manifest.get("definitions") or []):
        issues = check_file(folder / DEFINITIONS_DIR / kpis_file.name, store.settings)
        if issues:
            raise BackupError(
                f"The backup's {kpis_file.name} does not pass `kpi check` here ({issues[0]}); "
                "nothing was restored."
            )
    frames = {
        table: pl.read_parquet(folder / RECORDS_DIR / f"{table}.parquet")
        for table, rows in manifest["tables"].items()
        if rows is not None
    }
    with store.write() as con:  # its set-up makes every table of COMPANY_RECORDS first
        for table, rows in manifest["tables"].items():
            if rows is None:  # the table had no rows when backed up: empty it if it exists now
                if _has_table(con, table):
                    con.execute(_delete_all(table))
                report.absent.append(table)
                continue
            con.execute(_delete_all(table))
            con.register("_kpi_restore", frames[table])
            con.execute(_insert_frame(table))
            con.unregister("_kpi_restore")
            report.tables[table] = frames[table].height
    _restore_definitions(folder, manifest, kpis_file, store, report)
    return report


def _restore_definitions(
    folder: Path, manifest: dict, kpis_file: Path, store: Store, report: BackupReport
) -> None:
    names = manifest.get("definitions") or []
    if not names:
        return
    history = history_path_for(kpis_file)
    targets = {kpis_file.name: kpis_file, history.name: history}

    def check(tmp: Path) -> None:
        issues = check_file(tmp, store.settings)
        if issues:
            raise BackupError(
                f"The backup's {kpis_file.name} does not pass `kpi check` here ("
                f"{issues[0]}); the records were restored, the definitions were not."
            )

    try:
        with atomic.locked(kpis_file, LOCK_TIMEOUT_S) as lease:
            for name in names:
                target = targets.get(name)
                if target is None:
                    continue
                data = (folder / DEFINITIONS_DIR / name).read_bytes()
                lease.check()  # still this restore's lock (another replica may have broken it)
                atomic.replace(target, data, check if target == kpis_file else None)
                report.files.append(f"{DEFINITIONS_DIR}/{name}")
    except (atomic.Busy, atomic.LeaseLost):
        raise BackupError(
            f"{kpis_file.name} is being saved by someone else; the records were restored, run "
            "the restore again for the definitions."
        ) from None
    except OSError as exc:
        raise BackupError(
            f"Cannot write {kpis_file} from the backup: {exc}; the records were restored, "
            "the definitions were not."
        ) from exc
