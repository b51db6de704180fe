"""Move a store file into a lake without losing a row, and prove it.

Each table is streamed from the store file (read-only, locked down) into its Delta table;
then, before the lake's manifest names the new versions, each table's row count and the sum
of each of its DECIMAL columns (its money, prices, quantities) are asked of the store file
and of the lake, each by its own query, and compared. Any difference leaves the lake's
manifest as it was (nothing is published) and is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
from sqlglot import exp

from kpi.core.atomic import private_files
from kpi.store.database import Store, StoreError
from kpi.store.lake import (
    SIDE_FOLDER,
    LakeStore,
    LakeTable,
    Manifest,
    as_stored,
    lake_tables,
    partition_by,
    read_manifest,
    write_whole,
)
from kpi.store.object_lake import ObjectLakeError
from kpi.store.template import render


class MigrateError(StoreError):
    """The migration cannot start (no store, a lake already there) or did not add up."""


@dataclass
class TableCheck:
    """One table's row count and DECIMAL column sums, in the store file and in the lake."""

    table: str
    rows_store: int
    rows_lake: int
    sums_store: dict[str, Decimal] = field(default_factory=dict)
    sums_lake: dict[str, Decimal] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.rows_store == self.rows_lake and self.sums_store == self.sums_lake


@dataclass
class MigrateReport:
    store: Path
    lake: Path | str
    checks: list[TableCheck]
    seconds: float
    published: bool
    not_moved: list[str] = field(default_factory=list)  # store tables the lake has no place for

    @property
    def ok(self) -> bool:
        return self.published and all(c.equal for c in self.checks) and not self.not_moved

    def as_table(self) -> str:
        """Per table: rows and money totals in the store and in the lake, and whether equal."""
        head = ("table", "column", "store", "lake", "")
        lines: list[tuple[str, ...]] = [head]
        for c in self.checks:
            mark = "ok" if c.rows_store == c.rows_lake else "DIFFERENT"
            lines.append((c.table, "rows", f"{c.rows_store:,}", f"{c.rows_lake:,}", mark))
            if not (c.rows_store or c.rows_lake) and c.equal:
                continue  # an empty table: its sums say nothing more
            for name, total in c.sums_store.items():
                other = c.sums_lake.get(name)
                mark = "ok" if other == total else "DIFFERENT"
                lake_text = "-" if other is None else f"{other:,}"
                lines.append(("", f"sum({name})", f"{total:,}", lake_text, mark))
        for name in self.not_moved:
            lines.append((name, "rows", "(has rows)", "-", "NOT MOVED"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = []
        for n, line in enumerate(lines):
            cells = [
                cell.rjust(w) if i in (2, 3) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            ]
            out.append("  ".join(cells).rstrip())
            if n == 0:
                out.append("  ".join("-" * w for w in widths))
        return "\n".join(out) + "\n"


_STORE_TABLES = "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"


def migrate_to_lake(
    db: Path,
    lake: LakeStore,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> MigrateReport:
    """Copy every table of the store file `db` into `lake`, compare, and publish the lake's
    manifest only when every count and sum agrees. Refused (MigrateError) when there is no
    store file, or the lake's folder already holds something and `replace` is not given."""
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    if not db.is_file():
        raise MigrateError(
            f"There is no store at {db} to move: give the store file with --db, or build "
            "the demo with `python -m kpi demo`."
        )
    if _holds_something(lake) and not replace:
        raise MigrateError(
            f"The lake folder {lake.location} is not empty; nothing was moved. Add --replace to "
            "write the store over the lake that is there, or choose another folder with --lake."
        )
    source = Store(db, lake.settings)
    tables = lake_tables()
    with lake._writer_lock(), private_files(), source.read_tables() as con:
        present = {r[0] for r in con.execute(_STORE_TABLES).fetchall()}
        not_moved = [t for t in sorted(present - set(tables)) if _count(con, t)]
        current, token = lake.current()
        before = current or Manifest(0, {})
        versions: dict[str, int | None] = {}
        for name, table in tables.items():
            say(f"{name} ...")
            versions[name] = _copy(con, table, present, lake.table_uri(name))
        manifest = before.then(versions)
        checks = _compare(con, lake, manifest, present)
        published = all(c.equal for c in checks) and not not_moved
        if published:
            lake.publish(manifest, token)
    return MigrateReport(db, lake.location, checks, time.perf_counter() - t0, published, not_moved)


def _holds_something(lake: LakeStore) -> bool:
    """A lake (a manifest naming any table version) or any other file in the folder (any
    object under the URL, for a lake in an object store)."""
    if lake.remote is not None:
        try:
            return lake.remote.holds_something()
        except ObjectLakeError as exc:
            raise MigrateError(str(exc)) from exc
    folder = lake.path
    if not folder.is_dir():
        return False
    manifest = read_manifest(folder / SIDE_FOLDER / "manifest.json")
    if manifest is not None and any(v is not None for v in manifest.tables.values()):
        return True
    return any(p.name != SIDE_FOLDER for p in folder.iterdir())


def _copy(
    con: duckdb.DuckDBPyConnection, table: LakeTable, present: set[str], folder: str
) -> int | None:
    """Stream the store's table into the Delta table's next version (a column the store file
    lacks, made after it was written, is null); None when the store has no such table."""
    if table.name not in present:
        return None
    held = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND table_name = ?",
            [table.name],
        ).fetchall()
    }
    columns = [
        exp.cast(exp.column(name, quoted=True), _type(kind)).as_(name, quoted=True)
        if name in held
        else exp.cast(exp.null(), _type(kind)).as_(name, quoted=True)
        for name, kind in table.columns
    ]
    select = exp.select(*columns).from_(exp.to_table(table.name, quoted=True))
    rows = con.sql(render(as_stored(select, table.name)))
    return write_whole(folder, rows, partition_by(table.name))


def _type(kind: str) -> exp.DataType:
    return exp.DataType.build(kind, dialect="duckdb")


def _decimal_columns(table: LakeTable) -> list[str]:
    return [name for name, kind in table.columns if kind.startswith("DECIMAL")]


def _totals(
    con: duckdb.DuckDBPyConnection, name: str, decimals: list[str]
) -> tuple[int, dict[str, Decimal]]:
    """count(*) and the sum of each DECIMAL column (0 on an empty table), in one query."""
    select = exp.select(
        exp.func("count", exp.Star()),
        *[
            exp.func("coalesce", exp.func("sum", exp.column(c, quoted=True)), exp.Literal.number(0))
            for c in decimals
        ],
    ).from_(exp.to_table(name, quoted=True))
    row = con.execute(render(select)).fetchall()[0]
    return int(row[0]), {c: Decimal(row[i + 1]) for i, c in enumerate(decimals)}


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return _totals(con, name, [])[0]


def _compare(
    con: duckdb.DuckDBPyConnection, lake: LakeStore, manifest: Manifest, present: set[str]
) -> list[TableCheck]:
    """Each table's count and sums in the store file (`con`) and in the lake as `manifest`
    names it (a reader of its own, over the new Delta versions' files)."""
    out = []
    lake_con = lake.connect_at(manifest)
    try:
        for name, table in lake_tables().items():
            decimals = _decimal_columns(table)
            if name in present:
                rows, sums = _totals(con, name, decimals)
            else:
                rows, sums = 0, dict.fromkeys(decimals, Decimal(0))
            lake_rows, lake_sums = _totals(lake_con, name, decimals)
            out.append(TableCheck(name, rows, lake_rows, sums, lake_sums))
    finally:
        lake_con.close()
    return out


__all__ = ["MigrateError", "MigrateReport", "migrate_to_lake"]
