"""The store as a lake: one Delta Lake table per store table, in a folder others can read.

Why a lake: a group with several ERPs, app replicas and a data team reads the same tables
from Parquet files; DuckDB (and Spark) read them directly. Each table of kpi.store.schema
(`all_ddl()`: the canonical tables, the loads' bookkeeping, the company's records) is a
Delta table in `<lake>/<table>/`, written with `deltalake` (no JVM, no download); money
stays DECIMAL in the Parquet files. The tables that grow with each month's transactions are
partitioned by the month of their date (`<lake>/invoices/month=2025-03/`, see MONTH_OF): a
load of a month's lines writes files under that month's folder only.

A write changes several tables, and a reader must see all of it or none: the tables' Delta
versions that belong together are named by a small manifest, `<lake>/_kpi/manifest.json`,
which a write replaces atomically as its last step (under the writer's lock). Readers read
the versions the manifest names, never a table's latest: a write that fails half way has
written Delta versions nobody reads, and the lake reads as it was.

`LakeStore` keeps `Store`'s interface, so the engine, the pages, the loads and the workflows
run on it unchanged:

- `read()` is an in-memory DuckDB connection whose database `store` holds one view per
  table over that table's Parquet files at the manifest's version (an empty table with its
  schema when it has none), locked down like the file store's readers: it may read exactly
  those files and the rollups, nothing else on disk.
- `write()` is an in-memory DuckDB connection where every table is such a view (see
  `LakeWriter`): an INSERT goes into the table's added rows, a DELETE by whole keys names
  gone keys, anything else first makes the table a real in-memory table. At commit only the
  tables changed are written: added rows appended and gone keys deleted (a Delta merge), or
  a whole table as its next version; then the manifest names the new versions.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import os
import secrets
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import sqlglot
from sqlglot import exp

from kpi.core import atomic
from kpi.core.atomic import private_files
from kpi.core.settings import Settings, lake_path, load_settings
from kpi.store import database
from kpi.store.database import (
    LOCKED_DOWN,
    ROLLUPS_DATABASE,
    Store,
    StoreError,
    StoreMissing,
    file_version,
)
from kpi.store.object_lake import (
    LEASE,
    URL_FILE,
    Conflict,
    ObjectLake,
    ObjectLakeError,
    is_url,
)
from kpi.store.schema import all_ddl
from kpi.store.template import DIALECT, render

_KEPT = itertools.count(1)
SIDE_FOLDER = "_kpi"  # the lake's own files: manifest, writer's lock, rollups
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class LakeTable:
    """A table of the lake: the DDL that makes it (constraints included) and its columns with
    their DuckDB types, in order, as `all_ddl()` leaves them."""

    name: str
    create: str
    columns: tuple[tuple[str, str], ...]


_CATALOG_TABLES = "SELECT table_name, sql FROM duckdb_tables() ORDER BY table_name"
_CATALOG_COLUMNS = (
    "SELECT table_name, column_name, data_type FROM duckdb_columns() "
    "ORDER BY table_name, column_index"
)


@lru_cache(maxsize=1)
def lake_tables() -> dict[str, LakeTable]:
    """Every table of a store, read off an empty in-memory one made by `all_ddl()`: the lake
    holds the same tables with the same columns and types as the file store."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in con.execute(_CATALOG_COLUMNS).fetchall():
            columns.setdefault(table, []).append((column, kind))
        return {
            name: LakeTable(name, create, tuple(columns[name]))
            for name, create in con.execute(_CATALOG_TABLES).fetchall()
        }
    finally:
        con.close()


# ---- the manifest -----------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    """The tables' Delta versions that make one state of the lake (None: no version yet, the
    table reads as empty), the write's number (`serial`), which counts the writes, and the
    lake's identity (`lake_id`, drawn by the write that made the lake): a lake deleted and
    made again at the same place has the same version numbers and other files, and a
    version's file list is cached under the lake's identity (empty for a lake made before
    identities, until its next write)."""

    serial: int
    tables: dict[str, int | None]
    lake_id: str = ""

    def then(self, tables: dict[str, int | None]) -> Manifest:
        """The manifest of the next write, naming `tables`."""
        return Manifest(self.serial + 1, tables, self.lake_id or secrets.token_hex(8))

    def as_json(self) -> bytes:
        data: dict[str, Any] = {"format": MANIFEST_FORMAT, "serial": self.serial,
                                "tables": self.tables}  # fmt: skip
        if self.lake_id:
            data["lake_id"] = self.lake_id
        return json.dumps(data, indent=1, sort_keys=True).encode()


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at `path`, or None when there is none; a damaged one is an error."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"The lake's manifest {path} cannot be read: {exc}") from exc
    return parse_manifest(data, str(path))


def parse_manifest(raw: bytes, path: str) -> Manifest:
    """A manifest's bytes as read from `path` (a file or an object); a damaged one is an
    error."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StoreError(f"The lake's manifest {path} cannot be read: {exc}") from exc
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, dict) or data.get("format") != MANIFEST_FORMAT:
        raise StoreError(f"The lake's manifest {path} is not one this version understands.")
    return Manifest(
        int(data.get("serial", 0)),
        {str(k): v for k, v in tables.items()},
        str(data.get("lake_id") or ""),
    )


# ---- partitions ---------------------------------------------------------------------------
# The tables that grow with every month's transactions are partitioned by the month of one of
# their dates, in a Hive layout (`<lake>/invoices/month=2025-03/part-….parquet`): a load of
# two months' lines deletes and adds files under those two months' folders only. A row
# without that date goes to Delta's null partition (`month=__HIVE_DEFAULT_PARTITION__`),
# never lost. The partition column is the lake's, not the store's: readers never see it. The
# other tables (suppliers, items, rates, budgets, the loads' bookkeeping, the company's
# records) are small and stay one folder each.
PARTITION = "month"
MONTH_OF: dict[str, str] = {
    "invoices": "invoice_date",
    "purchase_orders": "po_date",
    "goods_receipts": "receipt_date",
    "inventory": "snapshot_date",
}


def month_of(name: str, alias: str | None = None) -> exp.Expression:
    """The partition value of a row of table `name`: its date's month as 'YYYY-MM' (null for
    a row without the date)."""
    date = exp.column(MONTH_OF[name], alias, quoted=True)
    return exp.func("strftime", date, exp.Literal.string("%Y-%m"))


def partition_by(name: str) -> tuple[str, ...]:
    """The partition columns the table is written with (none for a small table)."""
    return (PARTITION,) if name in MONTH_OF else ()


@dataclass(frozen=True)
class TableFiles:
    """A table's Parquet files at one Delta version, the columns they hold and the columns
    the table is partitioned by (none for a table a version before partitions wrote)."""

    files: tuple[str, ...]
    columns: frozenset[str]
    partitions: tuple[str, ...] = ()


# A Delta version never changes once written: its file list is kept for the process.
_FILES: dict[tuple[str, int, str], TableFiles] = {}


def table_files(folder: Path | str, version: int | None, lake_id: str = "") -> TableFiles:
    """The Parquet files of the Delta table in `folder` at `version` (none for None), of the
    lake `lake_id` (Manifest.lake_id)."""
    if version is None:
        return TableFiles((), frozenset())
    key = (str(folder), version, lake_id)
    found = _FILES.get(key)
    if found is None:
        remote = ObjectLake(str(folder).rsplit("/", 1)[0]) if is_url(str(folder)) else None
        kept = remote.listing(str(folder), version, lake_id) if remote else None
        if kept is not None:
            found = TableFiles(tuple(kept["files"]), frozenset(kept["columns"]),
                               tuple(kept["partitions"]))  # fmt: skip
        else:
            found = _read_files(folder, version)
            if remote is not None:
                remote.keep_listing(str(folder), version, lake_id, {
                    "files": list(found.files), "columns": sorted(found.columns),
                    "partitions": list(found.partitions)})  # fmt: skip
        if len(_FILES) > 4096:
            _FILES.clear()
        _FILES[key] = found
    return found


def _read_files(folder: Path | str, version: int) -> TableFiles:
    from deltalake import DeltaTable  # only a lake's reader needs it

    try:
        table = DeltaTable(str(folder), version=version)
    except Exception as exc:  # noqa: BLE001 - deltalake raises its own kinds
        raise StoreError(
            f"The lake table {folder} cannot be read at version {version}: {exc}"
        ) from exc
    return TableFiles(
        tuple(table.file_uris()),
        frozenset(f.name for f in table.schema().fields),
        tuple(table.metadata().partition_columns),
    )


# ---- SQL built by sqlglot ---------------------------------------------------------------
def _type(kind: str) -> exp.DataType:
    return exp.DataType.build(kind, dialect=DIALECT)


def parquet_select(table: LakeTable, files: TableFiles, with_rows: bool = False) -> exp.Select:
    """SELECT the table's columns, in order, from its Parquet files; a column the files lack
    (added to the schema after they were written) reads as null of its type. `with_rows`:
    each row's file and number in it too (a write's overlay, LakeWriter)."""
    listed = exp.Array(expressions=[exp.Literal.string(f) for f in files.files])
    # the partition's value is in the file's path, not in the file: not read (never a column)
    options = [exp.EQ(this=exp.column("hive_partitioning"), expression=exp.false())]
    options += [
        exp.EQ(this=exp.column(o), expression=exp.true())
        for o in (("filename", "file_row_number") if with_rows else ())
    ]
    source = exp.func("read_parquet", listed, *options)
    rows = [
        exp.column(o).as_(n, quoted=True)
        for o, n in zip(("filename", "file_row_number"), ("_lake_file", "_lake_row"), strict=True)
        if with_rows
    ]
    columns = [
        exp.column(name, quoted=True)
        if name in files.columns
        else exp.alias_(exp.cast(exp.null(), _type(kind)), name, quoted=True)
        for name, kind in table.columns
    ]
    return exp.select(*columns, *rows).from_(source)


def _create_view(name: str, select: exp.Select) -> str:
    create = exp.Create(
        kind="VIEW", this=exp.to_table(name, quoted=True), expression=select, replace=True
    )
    return render(create)


def _drop_view(name: str) -> str:
    return render(exp.Drop(kind="VIEW", tables=[exp.to_table(name, quoted=True)]))


def _fill(name: str, select: exp.Select) -> str:
    return render(exp.insert(select, exp.to_table(name, quoted=True)))


# ---- which tables a statement writes ----------------------------------------------------
_READ_ONLY = (exp.Query, exp.Set, exp.Transaction, exp.Commit, exp.Rollback, exp.Describe,
              exp.Pragma, exp.Use)  # fmt: skip
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
           exp.TruncateTable, exp.Copy)  # fmt: skip


@lru_cache(maxsize=1024)
def written_tables(statement: str) -> frozenset[str] | None:
    """The tables a statement may change (lower-case names), or None when that cannot be
    told (a statement sqlglot cannot parse, a command it does not know): then every table."""
    try:
        trees = sqlglot.parse(statement, read=DIALECT)
    except sqlglot.errors.SqlglotError:
        return None
    names: set[str] = set()
    for tree in trees:
        if tree is None or isinstance(tree, _READ_ONLY) and not tree.find(*_WRITES):
            continue
        if not isinstance(tree, _WRITES):
            return None
        for node in tree.find_all(*_WRITES):
            target = node.this
            if isinstance(target, exp.Schema):
                target = target.this
            listed = node.expressions if isinstance(node, exp.TruncateTable) else None
            if isinstance(node, exp.Drop):
                listed = node.args.get("tables") or ([node.this] if node.this else [])
            if listed is not None:
                if not all(isinstance(t, exp.Table) for t in listed):
                    return None
                names.update(t.name.lower() for t in listed)
                continue
            if not isinstance(target, exp.Table):
                return None
            names.add(target.name.lower())
    return frozenset(names)


# ---- the store --------------------------------------------------------------------------
# A lake in an object store: its manifest's HEAD, kept for a second (LakeStore._remote_head).
MANIFEST_HEAD_TTL_S = 1.0
_MANIFEST_HEADS: dict[str, tuple[float, dict[str, Any] | None]] = {}


class LakeStore(Store):
    """The lake at `path` (a folder, or an s3:// URL: kpi.store.object_lake), with the file
    store's interface (see the module). `path` is the folder this machine keeps the lake's
    own files in: the lake itself, or the local cache of a lake in an object store;
    `location` is where the lake is (the folder, or the URL)."""

    def __init__(
        self,
        path: str | Path | None = None,
        settings: Settings | None = None,
        pinned: Path | None = None,
    ):
        settings = settings or load_settings()
        where = path if path else lake_path(settings)
        self.remote: ObjectLake | None = None
        if isinstance(where, str) and is_url(where):
            try:
                self.remote = ObjectLake(where)
            except ObjectLakeError as exc:
                raise StoreError(str(exc)) from exc
            where = self.remote.cache
            with contextlib.suppress(OSError):  # the rollups' folder; a reader needs none
                (self.remote.ensure_cache() / SIDE_FOLDER).mkdir(exist_ok=True)
        super().__init__(Path(where), settings)
        self.location = self.remote.url if self.remote else self.path
        # a reader of the lake as an earlier manifest named it (the rollups read the lake
        # as it was before a write from the replaced manifest, see `replaced`)
        self.pinned = pinned
        self._lease: atomic.Lease | None = None  # the writer's, while its lock is held

    @classmethod
    def as_of(cls, manifest: Path, settings: Settings) -> LakeStore:
        """The lake as the manifest file `manifest` (a replaced one kept) names it; for a
        lake in an object store, the file is in its local cache, which names its URL."""
        root = manifest.parent.parent
        marker = root / URL_FILE
        where: str | Path = marker.read_text(encoding="utf-8").strip() if marker.is_file() else root
        return cls(where, settings, pinned=manifest)

    def readable(self, found: dict[str, TableFiles]) -> dict[str, TableFiles]:
        """The tables' files as DuckDB reads them: as they are in a folder; local copies of
        a lake in an object store (kpi.store.object_lake: fetched once, then local)."""
        if self.remote is None:
            return found
        try:
            local = self.remote.local_copies(sorted({f for t in found.values() for f in t.files}))
        except ObjectLakeError as exc:
            raise StoreError(str(exc)) from exc
        return {
            name: TableFiles(tuple(local[f] for f in t.files), t.columns, t.partitions)
            for name, t in found.items()
        }

    def table_uri(self, name: str) -> str:
        """Where the Delta table `name` is: a folder, or a URL."""
        return self.remote.table(name) if self.remote else str(self.path / name)

    # ---- facts about the lake -------------------------------------------------------
    @property
    def side(self) -> Path:
        return self.path / SIDE_FOLDER

    @property
    def manifest_path(self) -> Path:
        return self.side / MANIFEST

    def exists(self) -> bool:
        if self.remote is not None and self.pinned is None:
            return self._remote_head() is not None
        return (self.pinned or self.manifest_path).is_file()

    def _remote_head(self) -> dict[str, Any] | None:
        """The manifest object's ETag, time and size, asked of the store at most once a
        second per lake and process: a page's run asks for the store's version at every
        read (14 times for a warm overview, 47 cold), each a round trip to a bucket. Another
        replica's write is seen within the second; this process's own at once (the memo is
        dropped when it replaces the manifest)."""
        assert self.remote is not None
        url = self.remote.url
        memo = _MANIFEST_HEADS.get(url)
        if memo is not None and time.monotonic() - memo[0] < MANIFEST_HEAD_TTL_S:
            return memo[1]
        try:
            meta = self.remote.head(f"{SIDE_FOLDER}/{MANIFEST}")
        except ObjectLakeError as exc:
            raise StoreError(str(exc)) from exc
        _MANIFEST_HEADS[url] = (time.monotonic(), meta)
        return meta

    def current(self) -> tuple[Manifest | None, str | None]:
        """The lake's manifest now (None: a new lake) and what a write must find unchanged to
        replace it (an object's ETag; None for a folder, where the writer's lock suffices)."""
        if self.remote is None:
            return read_manifest(self.manifest_path), None
        try:
            found = self.remote.get(f"{SIDE_FOLDER}/{MANIFEST}")
        except ObjectLakeError as exc:
            raise StoreError(str(exc)) from exc
        if found is None:
            return None, None
        raw, etag = found
        return parse_manifest(raw, f"{self.remote.url}/{SIDE_FOLDER}/{MANIFEST}"), etag

    def _replace_manifest(self, manifest: Manifest, token: str | None) -> None:
        """Make `manifest` the lake's: a folder's file replaced atomically; an object put only
        if it is still the one read (`token`), else nothing is written (StoreError)."""
        self._still_ours()
        if self.remote is None:
            atomic.replace(self.manifest_path, manifest.as_json())
            return
        _MANIFEST_HEADS.pop(self.remote.url, None)
        try:
            self.remote.put(f"{SIDE_FOLDER}/{MANIFEST}", manifest.as_json(), token)
            _MANIFEST_HEADS.pop(self.remote.url, None)  # a read meanwhile kept the old one
        except Conflict as exc:
            raise StoreError(
                f"Nothing was written to {self.location}: another writer changed the lake "
                "meanwhile; try again."
            ) from exc
        except ObjectLakeError as exc:
            raise StoreError(f"Nothing was written to {self.location}: {exc}") from exc

    @property
    def rollups_path(self) -> Path:
        """The rollups live in the lake's own folder: a DuckDB file, as beside a file store."""
        return self.side / "rollups.duckdb"

    @property
    def rollups_stamp_path(self) -> Path:
        return self.side / "rollups.json"

    def version(self) -> tuple[int, int, int]:
        """Changes whenever a write lands (the manifest is replaced by a new file): a cache
        key, and the version a second name of the replaced manifest keeps."""
        if self.remote is not None and self.pinned is None:
            meta = self._remote_head()
            if meta is None:
                return (0, 0, 0)
            stamp = meta.get("last_modified")
            return (
                zlib.crc32(str(meta.get("e_tag") or "").encode()),
                int(stamp.timestamp() * 1e9) if stamp else 0,
                int(meta.get("size") or 0),
            )
        return file_version(self.pinned or self.manifest_path)

    def disk_bytes(self) -> int:
        """The Parquet files of the versions the manifest names (what a reader reads; the
        older versions `kpi compact` has not removed yet are not counted)."""
        if not self.exists():
            return 0
        total = 0
        manifest = self.manifest()
        for name, version in manifest.tables.items():
            files = table_files(self.table_uri(name), version, manifest.lake_id).files
            if self.remote is not None and files:
                try:
                    sizes = self.remote.sizes(name)
                except ObjectLakeError:
                    continue
                total += sum(sizes.get(uri, 0) for uri in files)
                continue
            for uri in files:
                try:
                    total += Path(uri.removeprefix("file://")).stat().st_size
                except OSError:
                    continue
        return total

    def missing(self) -> StoreMissing:
        return StoreMissing(
            f"There is no lake at {self.location} yet. Move a store into it with "
            "`python -m kpi migrate --to lake`."
        )

    def manifest(self) -> Manifest:
        manifest = read_manifest(self.pinned) if self.pinned is not None else self.current()[0]
        if manifest is None:
            raise self.missing()
        return manifest

    # ---- reading (Store.read and Store.read_tables, through _connect_read_only) ------
    def _connect_read_only(self, with_rollups: bool = True) -> duckdb.DuckDBPyConnection:
        return self.connect_at(self.manifest(), with_rollups)

    def connect_at(
        self, manifest: Manifest, with_rollups: bool = False
    ) -> duckdb.DuckDBPyConnection:
        """A locked-down reader of the lake as `manifest` names it: database `store` holds a
        view per table over its files (an empty table when it has none); the connection
        may read those files (and the rollups, attached first) and nothing else."""
        found = self.readable(
            {
                name: table_files(self.table_uri(name), manifest.tables.get(name), manifest.lake_id)
                for name in lake_tables()
            }
        )
        allowed = sorted({f for t in found.values() for f in t.files})
        config: dict[str, Any] = {
            k: v for k, v in LOCKED_DOWN.items() if k != "enable_external_access"
        }
        con = duckdb.connect(":memory:", config=config)
        try:
            con.execute("SET allowed_paths = $paths", {"paths": allowed})
            con.execute("ATTACH ':memory:' AS store")
            con.execute("USE store")
            _make_tables(con, found)
            if with_rollups:
                self._attach_rollups(con)
            con.execute("SET enable_external_access = false")  # no file access from here on
            con.execute("SET lock_configuration = true")
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"Cannot open the lake {self.location}: {exc}") from exc
        except BaseException:
            con.close()
            raise
        return con

    def _attach_rollups(self, con: duckdb.DuckDBPyConnection) -> None:
        path = self.rollups_path
        if not path.is_file():
            return
        try:
            database._attach_read_only(con, path, ROLLUPS_DATABASE)
        except duckdb.Error:
            return

    # ---- writing ----------------------------------------------------------------------
    @contextmanager
    def _writer_lock(self, timeout_s: float = 600.0) -> Iterator[None]:
        try:
            self.side.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(database._write_problem(self.path, exc)) from exc
        if self.remote is not None:  # the lock is an object every replica sees
            lock: Any = self.remote.leased(f"{SIDE_FOLDER}/{LEASE}", timeout_s)
        else:
            lock = atomic.locked(self.side / "writer", timeout_s=timeout_s)
        try:
            with lock as lease:
                self._lease = lease
                try:
                    yield
                finally:
                    self._lease = None
        except atomic.Busy as exc:
            message = f"Another load is writing {self.location}; try again when it ends."
            raise StoreError(message) from exc
        except ObjectLakeError as exc:
            raise StoreError(f"Cannot write {self.location}: {exc}") from exc

    @contextmanager
    def copy_ahead(self) -> Iterator[database.CopyAhead]:
        """Take the writer's lock for a `write(ahead=...)` to come; a lake has no copy to
        make, so this only keeps the lock from here (the file store's interface)."""
        with self._writer_lock():
            yield _NoCopy()  # type: ignore[misc]

    @contextmanager
    def write(
        self, fresh: bool = False, ahead: database.CopyAhead | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection to the lake; what it changed lands as one new manifest.

        Use it as one transaction: if the block raises, the manifest is not replaced and
        the lake reads as it was. With `fresh`, every table starts empty (a rebuild)."""
        lock = _held() if ahead is not None else self._writer_lock()
        with lock, private_files():
            self.declared = {}
            current, token = self.current()
            before = current or Manifest(0, {})
            if fresh:
                before = Manifest(before.serial, {}, before.lake_id)
            con = duckdb.connect(":memory:")
            writer = LakeWriter(con, self.table_uri, before, self.readable)
            try:
                writer.setup()
                con.execute("BEGIN TRANSACTION")
                yield writer  # type: ignore[misc]
                con.execute("COMMIT")
                changed = set(lake_tables()) if fresh else writer.touched
                versions = dict(before.tables)
                for name in sorted(changed):
                    versions[name] = writer.write_back(name)
                database._fault_point("before_swap")
                after = before.then({n: versions.get(n) for n in lake_tables()})
                old = self._set_aside(current)
                try:
                    self._replace_manifest(after, token)
                except BaseException:
                    if old is not None:
                        old.unlink(missing_ok=True)
                    raise
                database._fault_point("after_swap")
            except BaseException as exc:
                if database._is_storage_failure(exc, self.manifest_path):
                    raise StoreError(database._write_problem(self.path, exc)) from exc
                raise
            finally:
                con.close()
            self.replaced = old
            try:
                self._after_write()
            finally:
                self.replaced, self.declared = None, {}
                if old is not None:
                    old.unlink(missing_ok=True)

    def _set_aside(self, current: Manifest | None) -> Path | None:
        """A second name of the manifest a write replaces (`current`; None for a new lake):
        while the after-write hooks run, the rollups read the lake as it was from it
        (`replaced`), so that a load's difference is applied instead of its months
        recomputed; for a lake in an object store, a copy in the local cache. Names left by
        a process that died are removed here (the writer's lock is held)."""
        for stale in self.side.glob(MANIFEST + ".*-*"):
            stale.unlink(missing_ok=True)
        old = self.side / f"{MANIFEST}.old-{os.getpid()}"
        if self.remote is not None:
            if current is None:
                return None
            self.remote.ensure_cache()
            self.side.mkdir(parents=True, exist_ok=True)
            old.write_bytes(current.as_json())
            return old
        try:
            os.link(self.manifest_path, old)
        except OSError:  # a first write, or no hard links here
            return None
        return old

    def keep_replaced(self) -> Path | None:
        """Inside an after-write hook: one more name of the replaced manifest, for a refresh
        in a thread (removed by its caller; one left by a process that died goes with the
        next write)."""
        if self.replaced is None:
            return None
        kept = self.side / f"{MANIFEST}.kept-{os.getpid()}-{next(_KEPT)}"
        try:
            os.link(self.replaced, kept)
        except OSError:
            return None
        return kept

    def compact(self, keep_hours: int = 168) -> dict[str, Compacted]:
        """Merge each table's small files (a write appends one per table it adds rows to)
        into files of about TARGET_FILE_BYTES, each partition's on their own, as one new
        manifest, then remove files no version of the last `keep_hours` reads (a reader
        holds a manifest for seconds; the week kept by default also leaves time travel).
        A table a version before partitions wrote whole is written again partitioned by
        month (MONTH_OF). Per table compacted: its files before and after. The data is the
        same, so the rollups stay (restamped)."""
        from deltalake import DeltaTable

        done: dict[str, Compacted] = {}
        with self._writer_lock(), private_files():
            current, token = self.current()
            if current is None:
                raise self.missing()
            before = current
            versions = dict(before.tables)
            for name in lake_tables():
                version = before.tables.get(name)
                folder = self.table_uri(name)
                if version is None or DeltaTable(folder).version() != version:
                    continue  # empty, or versions a killed write left: the next write's
                found = table_files(folder, version, before.lake_id)
                upgrade = found.partitions != partition_by(name) and bool(found.files)
                if upgrade:
                    versions[name] = _partitioned(folder, name, self.readable({name: found})[name])
                elif len(found.files) > 1:
                    DeltaTable(folder).optimize.compact(target_size=TARGET_FILE_BYTES)
                    versions[name] = DeltaTable(folder).version()
                if versions[name] != version:
                    after = len(table_files(folder, versions[name], before.lake_id).files)
                    done[name] = Compacted(len(found.files), after, upgrade)
            if done:
                old = self._set_aside(before)
                try:
                    self._replace_manifest(before.then(versions), token)
                except BaseException:
                    if old is not None:
                        old.unlink(missing_ok=True)
                    raise
                self.replaced = old
                try:
                    self._after_write()
                finally:
                    self.replaced = None
                    if old is not None:
                        old.unlink(missing_ok=True)
            for name in lake_tables():
                if versions.get(name) is not None:
                    DeltaTable(self.table_uri(name)).vacuum(
                        retention_hours=keep_hours, enforce_retention_duration=False, dry_run=False
                    )
            if self.remote is not None:  # this machine's copies: those the two manifests read
                keep = {
                    f
                    for m in (before.tables, versions)
                    for name, v in m.items()
                    for f in table_files(self.table_uri(name), v, before.lake_id).files
                }
                self.remote.prune_copies(keep)
        return done

    def publish(self, manifest: Manifest, token: str | None = None) -> None:
        """Make `manifest` the lake's (a migration's last step, under the writer's lock), if
        the lake's manifest is still the one `current()` gave with `token`."""
        with private_files():
            self._replace_manifest(manifest, token)

    def _still_ours(self) -> None:
        """Just before the manifest is replaced: the writer's lease on the lake is still
        this writer's (a writer on another machine breaks a lease left untouched for a
        minute; the one who stalled must then not publish over its work)."""
        if self._lease is not None:
            try:
                self._lease.check()
            except atomic.LeaseLost as exc:
                raise StoreError(f"Nothing was written to {self.location}: {exc}.") from exc


class Compacted(NamedTuple):
    """What `compact` did to a table: its files before and after, and whether it was
    written again partitioned by month (a table a version before partitions wrote)."""

    files_before: int
    files_after: int
    partitioned: bool = False


def _partitioned(folder: Path | str, name: str, files: TableFiles) -> int:
    """The table's rows in `files` written again as its next version, partitioned as
    `partition_by(name)` says; its number."""
    con = duckdb.connect(":memory:")
    try:
        select = as_stored(parquet_select(lake_tables()[name], files), name)
        return write_whole(folder, con.sql(render(select)), partition_by(name))
    finally:
        con.close()


def _make_tables(con: duckdb.DuckDBPyConnection, found: dict[str, TableFiles]) -> None:
    """In the current database: a view per table over its files, or the empty table."""
    for name, table in lake_tables().items():
        files = found[name]
        if files.files:
            con.execute(_create_view(name, parquet_select(table, files)))
        else:
            con.execute(table.create)


# A whole table is written in files of about this size, its rows in the order of its key:
# a later write that deletes some keys (a reload of corrected lines) then rewrites only the
# files holding them (the Delta merge skips files whose key range misses them), not the
# whole table, and a reader's key look-ups skip files too.
TARGET_FILE_BYTES = 8 << 20


def as_stored(select: exp.Select, name: str) -> exp.Select:
    """The SELECT of table `name`'s columns as the lake stores them: a partitioned table's
    partition column added last, and the rows in the order of their month (so that a commit
    holds a few months), then of the table's key (kpi.store.schema), when it has one."""
    order = [exp.column(k, quoted=True) for k in _keys(name)]
    if name in MONTH_OF:
        select = select.select(month_of(name).as_(PARTITION, quoted=True))
        order.insert(0, exp.column(PARTITION, quoted=True))
    return select.order_by(*order) if order else select


# A whole table is written in key order, in commits of at most this many rows: delta-rs
# spreads one stream over parallel writers, so the files of one commit overlap in key range;
# commits of their own keep each stretch of keys in a few files, which a merge by key can
# then pick out by the files' statistics instead of reading them all.
WRITE_CHUNK_ROWS = 400_000


def write_whole(
    folder: Path | str, rows: duckdb.DuckDBPyRelation, partitions: tuple[str, ...] = ()
) -> int:
    """Write `rows` as the Delta table's next version, over the one before, partitioned by
    the columns `partitions` (a table written before partitions gets them here); its number
    (several Delta commits for a big table: the first overwrites, the others append; the
    manifest names the last, so a reader never sees part of it)."""
    from deltalake import DeltaTable, write_deltalake

    reader = rows.to_arrow_reader(WRITE_CHUNK_ROWS)
    by = list(partitions) or None
    first = True
    for batch in reader:
        write_deltalake(
            str(folder),
            batch,
            mode="overwrite" if first else "append",
            schema_mode="overwrite" if first else None,
            partition_by=by,
            target_file_size=TARGET_FILE_BYTES,
        )
        first = False
    if first:  # no rows: an empty version with the table's columns
        import pyarrow as pa

        empty = pa.Table.from_batches([], schema=reader.schema)
        write_deltalake(
            str(folder), empty, mode="overwrite", schema_mode="overwrite", partition_by=by
        )
    return DeltaTable(str(folder)).version()


def _write_table(con: duckdb.DuckDBPyConnection, folder: Path | str, name: str) -> int:
    """Write the table as the Delta table's next version (the whole table); its number."""
    select = as_stored(exp.select(exp.Star()).from_(exp.to_table(name, quoted=True)), name)
    return write_whole(folder, con.sql(render(select)), partition_by(name))


class _NoCopy:
    """What `LakeStore.copy_ahead` yields: nothing to finish or discard."""

    def finish(self) -> None:
        return None

    def discard(self) -> None:
        return None


@contextmanager
def _held() -> Iterator[None]:
    yield


class LakeWriter:
    """A write's connection: statements pass through; before a statement changes a table,
    the table is made ready for it, and remembered as changed (`touched`).

    - An INSERT into a table with files goes into that table's added rows (a real table),
      and the table reads as its files' rows plus those: nothing of the files is read.
    - A DELETE from a canonical table (one with a key) names the keys of the file rows it
      removes (they read as gone), and deletes from the added rows as usual. It is taken
      this way only when no other file row shares those keys (a delete of whole keys,
      as a load's upsert does); else the table is made whole first.
    - Anything else (UPDATE, a statement sqlglot cannot read, ...) first makes the table a
      real in-memory table holding all its rows ("whole"), as it reads now.

    At commit (see `LakeStore.write`), a whole table is written as the Delta table's next
    version; a table with added or gone rows as a delete of the gone keys (a Delta merge)
    and an append of the added rows: the cost of the rows changed, not of the table.
    Anything but `execute`, `sql`, `executemany` and `append` goes to the DuckDB
    connection as it is."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table_uri: Callable[[str], str],
        manifest: Manifest,
        readable: Callable[[dict[str, TableFiles]], dict[str, TableFiles]] = lambda f: f,
    ):
        self._con = con
        self._table_uri = table_uri  # where each Delta table is (LakeStore.table_uri)
        self._readable = readable  # the files as DuckDB reads them (LakeStore.readable)
        self._manifest = manifest
        self._files: dict[str, TableFiles] = {}
        self.touched: set[str] = set()
        self.overlays: set[str] = set()  # tables read as files + added - gone

    def setup(self) -> None:
        # a frame named in SQL (a load's batch, kpi.ingest.loading) is a local variable of
        # the caller, a frame above this proxy's: DuckDB looks in every frame for it
        self._con.execute("SET python_scan_all_frames = true")
        self._files = self._readable(
            {
                name: table_files(
                    self._table_uri(name), self._manifest.tables.get(name), self._manifest.lake_id
                )
                for name in lake_tables()
            }
        )
        _make_tables(self._con, self._files)

    def version_of(self, name: str) -> int | None:
        return self._manifest.tables.get(name)

    # ---- a table made whole -------------------------------------------------------------
    def _materialise(self, names: frozenset[str] | None) -> None:
        tables = lake_tables()
        wanted = set(tables) if names is None else {n for n in names if n in tables}
        for name in sorted(wanted):
            self._whole(name)

    def _whole(self, name: str) -> None:
        """Make the table a real table holding every row it reads as now."""
        table = lake_tables()[name]
        if name in self.overlays:
            snap = _named("_lake_snap_", name)
            self._con.execute(render(exp.Create(kind="TABLE", this=snap, expression=_all(name))))
            self._drop_overlay(name)
            self._con.execute(table.create)
            self._con.execute(render(exp.insert(_all(snap.name), exp.to_table(name, quoted=True))))
            self._con.execute(render(exp.Drop(kind="TABLE", tables=[snap])))
            self.overlays.discard(name)
        elif name not in self.touched and self._files[name].files:
            self._con.execute(_drop_view(name))
            self._con.execute(table.create)
            self._con.execute(_fill(name, parquet_select(table, self._files[name])))
        self.touched.add(name)

    # ---- a table read as its files plus added rows, less gone keys --------------------
    def _overlay(self, name: str) -> bool:
        """Make the table an overlay (see the class) if it is not yet; False when it cannot
        be one (no files: it is a real table already; or made whole already)."""
        if name in self.overlays:
            return True
        if name in self.touched or not self._files[name].files:
            return False
        table = lake_tables()[name]
        base, seen, gone, added = (_named(p, name) for p in _OVERLAY)
        select = parquet_select(table, self._files[name], with_rows=True)
        self._con.execute(_drop_view(name))
        self._con.execute(render(exp.Create(kind="VIEW", this=base, expression=select)))
        self._con.execute(_renamed(table, added))
        keys = _keys(name)
        self._con.execute(_key_table(table, keys, gone, self._by_month(name)))
        kept = exp.select(exp.Star()).from_(_as(base, "b"))
        if keys:
            same = exp.and_(*(exp.column(k, "g").eq(exp.column(k, "b")) for k in keys))
            hit = exp.select(exp.Literal.number(1)).from_(_as(gone, "g")).where(same)
            kept = kept.where(exp.Not(this=exp.Exists(this=hit)))
        self._con.execute(render(exp.Create(kind="VIEW", this=seen, expression=kept)))
        names = [exp.column(c, quoted=True) for c, _ in table.columns]
        union = exp.union(
            exp.select(*names).from_(seen.copy()),
            exp.select(*[n.copy() for n in names]).from_(added.copy()),
            distinct=False,
        )
        self._con.execute(
            render(exp.Create(kind="VIEW", this=exp.to_table(name, quoted=True), expression=union))
        )
        self.overlays.add(name)
        self.touched.add(name)
        return True

    def _by_month(self, name: str) -> bool:
        """The table's files are partitioned by month: its gone keys carry their month (not
        so in a table a version before partitions wrote, read and written as it is)."""
        return name in MONTH_OF and PARTITION in self._files[name].partitions

    def _drop_overlay(self, name: str) -> None:
        base, seen, gone, added = (_named(p, name) for p in _OVERLAY)
        self._con.execute(_drop_view(name))
        for kind, table in (("VIEW", seen), ("VIEW", base), ("TABLE", gone), ("TABLE", added)):
            self._con.execute(render(exp.Drop(kind=kind, tables=[table], exists=True)))

    def _insert(self, tree: exp.Insert, name: str, run: Any, args: tuple, kwargs: dict) -> Any:
        tree = tree.copy()
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        target.replace(_named(_OVERLAY[3], name))
        return run(render(tree), *args, **kwargs)

    def _delete(self, tree: exp.Delete, name: str, args: tuple, kwargs: dict) -> Any:
        """The DELETE on the overlay: the file rows it matches become gone keys (when no
        other file row has those keys), the added rows it matches are deleted; its result
        is the count of both, as DuckDB's DELETE gives it."""
        keys = _keys(name)
        alias = tree.this.alias_or_name
        base, seen, gone, added = (_named(p, name) for p in _OVERLAY)
        hit = _named("_lake_hit_", name)
        months = [month_of(name, alias).as_("_lake_month")] if self._by_month(name) else []
        rows = (
            exp.select(*[exp.column(c, alias) for c in (*_ROW_ID, *keys)], *months)
            .distinct()
            .from_(_as(seen, alias))
        )
        for using in tree.args.get("using") or []:
            rows = rows.join(using.copy(), join_type="cross")
        if tree.args.get("where"):
            rows = rows.where(tree.args["where"].this.copy())
        self._con.execute(
            render(exp.Create(kind="TABLE", this=hit, expression=rows)), *args, **kwargs
        )
        try:
            n_hit = self._con.execute(_count(hit)).fetchall()[0][0]
            same = exp.and_(*(exp.column(k, "h").eq(exp.column(k, "s")) for k in keys))
            sharing = (
                exp.select(exp.func("count", exp.Star()))
                .from_(_as(seen, "s"))
                .where(
                    exp.Exists(
                        this=exp.select(exp.Literal.number(1)).from_(_as(hit, "h")).where(same)
                    )
                )
            )
            if self._con.execute(render(sharing)).fetchall()[0][0] != n_hit:
                return None  # other file rows share the keys: the caller makes it whole
            with_month = [*keys, "_lake_month"] if months else keys
            gone_keys = exp.select(*map(exp.column, with_month)).distinct().from_(hit.copy())
            self._con.execute(render(exp.insert(gone_keys, gone.copy())))
        finally:
            self._con.execute(render(exp.Drop(kind="TABLE", tables=[hit], exists=True)))
        tree = tree.copy()
        tree.this.replace(_as(added, alias))
        n_added = self._con.execute(render(tree), *args, **kwargs).fetchall()[0][0]
        return _Counted(self._con, int(n_hit) + int(n_added))

    def _special(self, statement: str, args: tuple, kwargs: dict, many: bool = False) -> Any:
        """Run an INSERT or a DELETE on an overlay; None when the statement is not one."""
        plan = _append_or_delete(statement)
        if plan is None:
            return None
        kind, name, tree = plan
        if name not in lake_tables():
            return None
        run = self._con.executemany if many else self._con.execute
        if kind == "insert" and self._overlay(name):
            return self._insert(tree, name, run, args, kwargs)  # type: ignore[arg-type]
        if kind == "delete" and not many and _keys(name) and self._overlay(name):
            return self._delete(tree, name, args, kwargs)  # type: ignore[arg-type]
        return None

    # ---- the connection's interface -----------------------------------------------------
    def _prepare(self, statement: object) -> None:
        if isinstance(statement, str):
            self._materialise(written_tables(statement))
        else:
            self._materialise(None)  # a prepared statement object: no text to read

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        if isinstance(statement, str):
            done = self._special(statement, args, kwargs)
            if done is not None:
                return done
        self._prepare(statement)
        return self._con.execute(statement, *args, **kwargs)

    def executemany(self, statement: Any, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        if isinstance(statement, str):
            done = self._special(statement, args, kwargs, many=True)
            if done is not None:
                return done
        self._prepare(statement)
        return self._con.executemany(statement, *args, **kwargs)

    def sql(self, statement: Any, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyRelation:
        self._prepare(statement)
        return self._con.sql(statement, *args, **kwargs)

    def append(self, table_name: str, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        self._materialise(frozenset({table_name.lower()}))
        return self._con.append(table_name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    # ---- commit -------------------------------------------------------------------------
    def write_back(self, name: str) -> int:
        """Write a changed table to its Delta table; the new version."""
        folder = self._table_uri(name)
        if name not in self.overlays:
            return _write_table(self._con, folder, name)
        from deltalake import DeltaTable, write_deltalake

        if DeltaTable(str(folder)).version() != self.version_of(name):
            # a failed write left versions nobody reads: write the whole table over them
            return _write_table(self._con, folder, name)
        _base, _seen, gone, added = (_named(p, name) for p in _OVERLAY)
        keys = _keys(name)
        by_month = self._by_month(name)
        if keys and self._con.execute(_count(gone)).fetchall()[0][0]:
            same = exp.and_(*(exp.column(k, "t").eq(exp.column(k, "s")) for k in keys))
            if by_month:  # the merge reads the files of the gone keys' months only
                same = exp.and_(same, _same_month())
            for part in _gone_by_file(self._con, folder, gone, keys[0], by_month):
                source = self._con.sql(render(part))
                (
                    DeltaTable(str(folder))
                    .merge(
                        source, same.sql(), source_alias="s", target_alias="t", streamed_exec=False
                    )
                    .when_matched_delete()
                    .execute()
                )
        if self._con.execute(_count(added)).fetchall()[0][0]:
            rows = exp.select(exp.Star()).from_(added.copy())
            if by_month:  # each row into its month's folder
                rows = rows.select(month_of(name).as_(PARTITION, quoted=True))
            reader = self._con.sql(render(rows))
            write_deltalake(str(folder), reader, mode="append", schema_mode="merge")
        return DeltaTable(str(folder)).version()


def _same_month() -> exp.Expression:
    """A merge's target row `t` and source row `s` lie in the same month's partition (a
    row without a date in the null partition)."""
    t, s = exp.column(PARTITION, "t"), exp.column(PARTITION, "s")
    both_null = exp.and_(t.copy().is_(exp.null()), s.copy().is_(exp.null()))
    return exp.or_(t.eq(s), both_null)


def _gone_by_file(
    con: duckdb.DuckDBPyConnection,
    folder: Path | str,
    gone: exp.Table,
    first: str,
    by_month: bool = False,
) -> list[exp.Select]:
    """The keys a write removes, in groups that each fall between two neighbouring files'
    largest first key. A merge prunes the table's files by its source's key range: one
    merge of a month's lines (credit notes `CN-…` and invoices `INV-…`) would span most
    of the table (or of the month's partition) and read it all; one merge per group reads
    the file or two holding it. `by_month`: the gone keys carry their month, and only the
    files of those months' partitions count (the merge skips the others by their month).
    Only a grouping: each merge still deletes its keys wherever they are, so a table
    whose statistics are missing or not text is merged in one go."""
    everything = exp.select(exp.Star()).from_(gone.copy())
    from deltalake import DeltaTable

    try:
        import polars as pl  # reads delta-rs's Arrow table as it is: no pyarrow, no pandas

        actions = pl.DataFrame(DeltaTable(str(folder)).get_add_actions(flatten=True))
        if by_month:
            month = exp.column(PARTITION, quoted=True)
            months = {r[0] for r in con.execute(render(exp.select(month).from_(gone.copy())))
                      .fetchall()}  # fmt: skip
            held = actions[f"partition.{PARTITION}"].to_list()
            actions = actions.filter(pl.Series([m in months for m in held], dtype=pl.Boolean))
        maxes = sorted({m for m in actions[f"max.{first}"].to_list() if m is not None})
    except Exception:  # noqa: BLE001 - no statistics: one merge, as correct
        return [everything]
    column = exp.column(first, quoted=True)
    values = [r[0] for r in con.execute(render(exp.select(column).distinct().from_(gone.copy())))
              .fetchall()]  # fmt: skip
    if not all(isinstance(v, str) for v in [*values, *maxes]):
        return [everything]
    groups: dict[int, list[str]] = {}
    for value in sorted(values):
        groups.setdefault(bisect.bisect_left(maxes, value), []).append(value)
    if len(groups) <= 1:
        return [everything]
    return [everything.where(column.isin(*map(exp.Literal.string, g))) for g in groups.values()]


class _Counted:
    """What a DELETE on an overlay gives back: its count of rows deleted, already fetched
    (as DuckDB's own DELETE result, it leaves no query open on the connection)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, count: int) -> None:
        self._con, self._rows = con, [(count,)]

    def fetchall(self) -> list[tuple[int]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[int] | None:
        return self._rows.pop(0) if self._rows else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


# base view (files, with each row's file and number), visible file rows, gone keys, added rows
_OVERLAY = ("_lake_base_", "_lake_seen_", "_lake_gone_", "_lake_add_")
_ROW_ID = ("_lake_file", "_lake_row")


def _as(table: exp.Table, alias: str) -> exp.Table:
    """A copy of the table under an alias (FROM t AS alias)."""
    table = table.copy()
    table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return table


def _named(prefix: str, name: str) -> exp.Table:
    return exp.to_table(prefix + name, quoted=True)


def _all(name: str) -> exp.Select:
    return exp.select(exp.Star()).from_(exp.to_table(name, quoted=True))


def _count(table: exp.Table) -> str:
    return render(exp.select(exp.func("count", exp.Star())).from_(table.copy()))


def _keys(name: str) -> tuple[str, ...]:
    """A canonical table's key (kpi.store.schema); none for the bookkeeping tables."""
    from kpi.store.schema import TABLES

    spec = TABLES.get(name)
    return spec.key if spec else ()


def _renamed(table: LakeTable, to: exp.Table) -> str:
    """The table's DDL making a table of another name (its added rows)."""
    create = sqlglot.parse_one(table.create, read=DIALECT)
    create.this.set("this", to.copy())
    return render(create)


def _key_table(
    table: LakeTable, keys: tuple[str, ...], to: exp.Table, with_month: bool = False
) -> str:
    """CREATE TABLE for the gone keys: the key columns with their types, and the month of
    each key's row when the table is partitioned by it (a table without a key gets one
    with its first column, never filled)."""
    types = {**dict(table.columns), PARTITION: "VARCHAR"}
    columns = (*keys, *((PARTITION,) if with_month else ())) or (table.columns[0][0],)
    schema = exp.Schema(
        this=to.copy(),
        expressions=[
            exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=_type(types[c]))
            for c in columns
        ],
    )
    return render(exp.Create(kind="TABLE", this=schema))


@lru_cache(maxsize=1024)
def _append_or_delete(statement: str) -> tuple[str, str, exp.Expression] | None:
    """("insert" | "delete", table, tree) for one plain INSERT or DELETE of an unqualified
    table (no ON CONFLICT, OR REPLACE, RETURNING, ...); None for anything else."""
    try:
        trees = sqlglot.parse(statement, read=DIALECT)
    except sqlglot.errors.SqlglotError:
        return None
    if len(trees) != 1 or trees[0] is None:
        return None
    tree = trees[0]
    if isinstance(tree, exp.Insert):
        extras = ("conflict", "returning", "alternative", "overwrite", "ignore", "where",
                  "partition", "is_function", "settings", "source")  # fmt: skip
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        if any(tree.args.get(k) for k in extras) or not _plain(target):
            return None
        return ("insert", target.name.lower(), tree)
    if isinstance(tree, exp.Delete):
        extras = ("returning", "order", "limit", "tables", "cluster", "hint")
        if any(tree.args.get(k) for k in extras) or not _plain(tree.this):
            return None
        return ("delete", tree.this.name.lower(), tree)
    return None


def _plain(target: object) -> bool:
    return (
        isinstance(target, exp.Table)
        and isinstance(target.this, exp.Identifier)
        and not target.args.get("db")
        and not target.args.get("catalog")
    )


__all__ = ["LakeStore", "LakeWriter", "Manifest", "lake_tables", "read_manifest", "written_tables"]
