"""The one object that owns the DuckDB store: short-lived locked-down readers, one writer.

DuckDB lets a single process hold a database file for writing, and then no other process
may even read it. So writers never touch the live file: a write copies the store, works on
the copy, checkpoints it and atomically renames it over the live file. Readers (the app,
`kpi compute`) therefore always open a complete, consistent store, even while a load runs
in another process, and a load killed half way leaves the live store exactly as it was.
Writers queue on a lock file, so two loads never race.

The store holds every invoice, payment and decision, so it is its owner's only: the copy a
writer works on is created 0600 (and DuckDB's own files for it under umask 077), and before
it replaces the store it takes the store's mode, so a store made 0600 stays 0600 whatever
the process's umask; a fresh store is 0600.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import duckdb

from kpi.core.atomic import PRIVATE, mode_of, private_files
from kpi.core.settings import Settings, db_path, load_settings
from kpi.store.schema import all_ddl

# Reader connections cannot reach the file system or install code: KPI formulas are user
# text, and even a formula that slipped past the guard could not read a file through them.
LOCKED_DOWN = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def file_version(path: Path) -> tuple[int, int, int]:
    """A file's inode, modification time and size: it changes whenever the file is written
    or replaced (a cache key); (0, 0, 0) when there is none."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says why and what to do."""


class StoreMissing(StoreError):
    """No store file yet."""


class StoreBusy(StoreError):
    """Something outside the app holds the live store file for writing, for longer than a
    reader waits: the app says the data is refreshing instead of showing an error."""


# A reader that finds the live file locked (a tool that opened it for writing directly,
# not through `Store.write`) waits this long, in short steps, before giving up.
READ_RETRY_S = 3.0
READ_RETRY_STEP_S = 0.1
# Attaches tried while writes keep landing during them (each write is a file swap).
ATTACH_ATTEMPTS = 5
# Called with the store after each write has landed, under the writer's lock (see
# Store._after_write). kpi.semantic.rollups adds its refresh here: the store layer does not
# know about KPIs, the layer above registers what must follow a write.
AFTER_WRITE: list[Callable[[Store], None]] = []
# Test hook: `KPI_FAULT_POINT=before_swap` (or `after_swap`) makes a writer stop there for a
# minute, saying so on stderr, so a test can kill it at that exact moment.
FAULT_POINT_ENV = "KPI_FAULT_POINT"


class Store:
    """A DuckDB store file: `read()` for queries, `write()` for loads."""

    def __init__(self, path: str | Path | None = None, settings: Settings | None = None):
        self.path = Path(path) if path else db_path()
        # where the store is, as `open_store` takes it back: the file (a lake: its folder or
        # its URL, kpi.store.lake); `path` is always a local path
        self.location: str | Path = self.path
        self.settings = settings or load_settings()
        # While the after-write hooks run: the store as it was before the write (a second
        # name of the replaced file, None when there is none) and what the writer declared
        # it changed (see `declare`), so that a hook can work from the change itself.
        self.replaced: Path | None = None
        self.declared: dict[str, tuple[int, ...]] = {}

    def declare(self, table: str, load_ids: tuple[int, ...]) -> None:
        """Say, inside `write()`, that this write changed `table` only by upserting the rows
        that now carry these load ids (each replacing the row of the same key, if any): the
        rollups then apply the change instead of recomputing its months. A write that
        declares nothing is taken to have changed anything."""
        self.declared[table] = tuple(sorted({*self.declared.get(table, ()), *load_ids}))

    # ---- facts about the file -------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def missing(self) -> StoreMissing:
        """What a reader of a store that does not exist yet is told (and what to do)."""
        return StoreMissing(
            f"There is no store at {self.path} yet. Build the demo with "
            "`python -m kpi demo` or load your files with `python -m kpi load`."
        )

    @property
    def rollups_path(self) -> Path:
        """The rollups beside the store (kpi.semantic.rollups): `kpi.duckdb` ->
        `kpi.rollups.duckdb`. A file of its own, so that refreshing them never copies the
        store, and a stale or missing one only means figures are computed live."""
        return self.path.with_name(self.path.stem + ".rollups" + (self.path.suffix or ".duckdb"))

    @property
    def rollups_stamp_path(self) -> Path:
        """Which store version the rollups file matches: a small file of its own, so that a
        write that changes nothing the rollups read is followed by a new stamp, not a copy."""
        return self.path.with_name(self.path.stem + ".rollups.json")

    def disk_bytes(self) -> int:
        """The store's size on disk (0 when there is none): what the rollups are set beside."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def version(self) -> tuple[int, int, int]:
        """Changes whenever a write lands (the file is replaced): a cache key for readers."""
        return file_version(self.path)

    # ---- reading ----------------------------------------------------------------------
    @contextmanager
    def read(self, display_currency: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection with the curated views (each created when a statement first
        names it), unable to touch the file system."""
        if not self.exists():
            raise self.missing()
        from kpi.store.views import CuratedConnection  # not at the top: a write needs none

        con = self._connect_read_only()
        try:
            yield CuratedConnection(con, self.settings, display_currency)  # type: ignore[misc]
        finally:
            con.close()

    @contextmanager
    def read_tables(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the stored tables alone, locked down like `read()`: no
        curated views (building their plan costs most of a second on a big store) and no
        rollups, for a look-up such as a load's "was this file loaded before?"."""
        if not self.exists():
            raise self.missing()
        con = self._connect_read_only(with_rollups=False)
        try:
            yield con
        finally:
            con.close()

    def _connect_read_only(self, with_rollups: bool = True) -> duckdb.DuckDBPyConnection:
        """Attach the live file read-only to a private in-memory database, then lock it down.

        Not `duckdb.connect(path)`: DuckDB shares one instance per path within a process, so
        while one reader (one app session) held a connection, every other reader would get
        the store as it was before the last load, and concurrent readers could not each lock
        its configuration. An attached file is this connection's own. A file another program
        holds for writing is waited out for READ_RETRY_S.
        """
        deadline = time.monotonic() + READ_RETRY_S
        while True:
            try:
                return self._attach_locked_down(with_rollups)
            except OSError as exc:  # unreadable (permissions) or gone between two checks
                raise StoreError(f"Cannot open the store {self.path}: {exc}") from exc
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    raise StoreError(f"Cannot open the store {self.path}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise StoreBusy(
                        f"The data is refreshing: another program is writing {self.path}. "
                        "Try again in a moment."
                    ) from exc
                time.sleep(READ_RETRY_STEP_S)

    def _attach_locked_down(self, with_rollups: bool = True) -> duckdb.DuckDBPyConnection:
        """Attach the live file whole: DuckDB opens it twice (the header, then the blocks), so
        a write landing between the two would give a header of one file and the blocks of
        another ("Could not read enough bytes"). Holding the file open pins its inode; if the
        path still names that inode after the attach, no swap came between, else try again."""
        for _ in range(ATTACH_ATTEMPTS - 1):
            pinned = os.open(self.path, os.O_RDONLY)
            try:
                con = self._attach_once(with_rollups)
                if os.stat(self.path).st_ino == os.fstat(pinned).st_ino:
                    return con
                con.close()  # a write landed during the attach: attach the new file
            finally:
                os.close(pinned)
        return self._attach_once(with_rollups)

    def _attach_once(self, with_rollups: bool = True) -> duckdb.DuckDBPyConnection:
        config = {k: v for k, v in LOCKED_DOWN.items() if k != "enable_external_access"}
        con = duckdb.connect(":memory:", config=config)
        try:
            _attach_read_only(con, self.path)
            con.execute("USE store")
            if with_rollups:
                self._attach_rollups(con)
            con.execute("SET enable_external_access = false")  # no file access from here on
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return con

    def _attach_rollups(self, con: duckdb.DuckDBPyConnection) -> None:
        """The rollups file, read-only, as database `rollups` when there is one that opens;
        if it cannot (being replaced this instant, damaged), the figures are computed live."""
        path = self.rollups_path
        if not path.is_file():
            return
        try:
            _attach_read_only(con, path, ROLLUPS_DATABASE)
        except duckdb.Error:
            return

    # ---- writing ----------------------------------------------------------------------
    @contextmanager
    def _writer_lock(self, timeout_s: float = 600.0) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE)
        except OSError as exc:
            raise StoreError(_write_problem(self.path, exc)) from exc
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(
                            f"Another load is writing {self.path}; try again when it ends."
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def copy_ahead(self) -> Iterator[CopyAhead]:
        """Take the writer's lock and start copying the store in a thread, for a `write()`
        to come (`write(ahead=...)`): a small load reads and checks its file meanwhile, and
        the copy, most of its time on a big store, is then partly done. The lock is held
        from here, so the copy is of the store the write will replace. Leaving the block
        without a write stops the copy and removes it."""
        with self._writer_lock():
            self._remove_stale_copies()
            ahead = CopyAhead(self.path, self._work_path())
            try:
                yield ahead
            finally:
                ahead.discard()

    def _work_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")

    @contextmanager
    def write(
        self, fresh: bool = False, ahead: CopyAhead | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection to a copy of the store; the copy replaces the store on success.

        Use it as one transaction: if the block raises, nothing of it reaches the store.
        With `fresh`, the copy starts empty (a rebuild, such as the demo), not from the store.
        With `ahead` (from `copy_ahead()`, whose block this runs in), its copy is used.
        """
        lock = nullcontext() if ahead is not None else self._writer_lock()
        with lock, private_files():
            if ahead is None:
                self._remove_stale_copies()
            self.declared = {}
            work = self._work_path()
            mode = mode_of(self.path)  # the store's own; a new store is 0600
            mode = PRIVATE if mode is None else mode
            try:
                if ahead is not None:
                    ahead.finish()
                elif self.path.exists() and not fresh:
                    _private_copy(self.path, work)
                con = duckdb.connect(str(work))
            except (OSError, duckdb.Error) as exc:
                _remove(work)
                raise StoreError(_write_problem(self.path, exc)) from exc
            try:
                con.execute(all_ddl())
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
                con.execute("CHECKPOINT")
                con.close()
                os.chmod(work, mode)
                _fsync(work)
                _fault_point("before_swap")
                old = _set_aside(self.path)
                try:
                    os.replace(work, self.path)
                except BaseException:
                    if old is not None:  # only a second name of the store, still live
                        old.unlink(missing_ok=True)
                    raise
                _fault_point("after_swap")
                self.replaced = old
                try:
                    self._after_write()
                finally:
                    self.replaced, self.declared = None, {}
                    _free_later(old)
            except BaseException as exc:
                try:
                    con.close()
                finally:
                    _remove(work)
                if _is_storage_failure(exc, self.path):  # a full disk, a read-only folder
                    raise StoreError(_write_problem(self.path, exc)) from exc
                raise

    def _after_write(self) -> None:
        """Run what must follow every landed write (the rollups' refresh, registered by
        kpi.semantic.rollups) under the writer's lock, so two refreshes never race. The
        write has landed: a hook that fails only says so on stderr (stale rollups are never
        read, the figures are then computed live)."""
        # by index: a hook may register another, which then runs in this same pass (the
        # command line's hook imports the rollups only when a write lands, and that import
        # registers their refresh)
        index = 0
        while index < len(AFTER_WRITE):
            hook = AFTER_WRITE[index]
            index += 1
            try:
                hook(self)
            except Exception as exc:  # noqa: BLE001 - the data is written; say, do not fail
                print(f"note: after the write, {hook.__name__} failed: {exc}", file=sys.stderr)

    def _remove_stale_copies(self) -> None:
        """Copies left by a writer that was killed (we hold the lock, so none is live), and
        replaced stores whose removal did not finish (see `_free_later`)."""
        names = (".tmp-*", ".old-*", ".kept-*")
        for pattern in (f"{self.path.name}{n}" for n in names):
            for p in self.path.parent.glob(pattern):
                _remove(p)

    def keep_replaced(self) -> Path | None:
        """Inside an after-write hook: one more name of the store the write replaced, for
        work that outlives the write (the app's refresh in a thread reads the difference
        from it); the caller removes it when done. None when there is no replaced store or
        no hard link can be made. A name left behind by a process that died is removed by
        the next write (`_remove_stale_copies`): a refresh that then finds it gone
        recomputes the months instead."""
        if self.replaced is None:
            return None
        kept = self.path.with_name(f"{self.path.name}.kept-{os.getpid()}-{next(_KEPT)}")
        try:
            os.link(self.replaced, kept)
        except OSError:
            return None
        return kept

    def initialise(self) -> None:
        """Create an empty store with every canonical table (no-op when it exists)."""
        with self.write():
            pass


ROLLUPS_DATABASE = "rollups"
_ATTACH = {  # the path is a bound parameter (DuckDB 2 binds ATTACH's path)
    "store": "ATTACH ? AS store (READ_ONLY)",
    ROLLUPS_DATABASE: "ATTACH ? AS rollups (READ_ONLY)",
}


def _attach_read_only(con: duckdb.DuckDBPyConnection, path: Path, database: str = "store") -> None:
    """Attach the file at `path` read-only as `database` ("store" or "rollups")."""
    con.execute(_ATTACH[database], [str(path)])


class CopyAhead:
    """A copy of the store made in a thread while the writer prepares (see
    `Store.copy_ahead`), in chunks so that it can stop early when no write follows."""

    CHUNK = 64 << 20

    def __init__(self, store: Path, work: Path) -> None:
        self.store, self.work = store, work
        self._stop = threading.Event()
        self._copied = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, name="store-copy", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            if self.store.exists():
                _private_copy(self.store, self.work, self._stop)
        except BaseException as exc:  # noqa: BLE001 - raised again by finish()
            self._failure = exc
        finally:
            self._copied.set()
        if self._failure is None and not self._stop.is_set():
            # the copy written to disk now, while the load reads and checks its file: the
            # write's checkpoint syncs the file before the swap, and would otherwise wait
            # for all of it then (a quarter of a second for a 600 MB store)
            with suppress(OSError):  # gone (swapped, removed): the write's own sync decides
                _fsync(self.work)

    def finish(self) -> None:
        """Wait for the copy (not for its sync to disk); raise what stopped it (a full
        disk)."""
        self._copied.wait()
        if self._failure is not None:
            raise self._failure

    def discard(self) -> None:
        """Stop the copy and remove it if no write took it (a write's swap moved it away)."""
        self._stop.set()
        self._thread.join()
        _remove(self.work)


def _private_copy(source: Path, target: Path, stop: threading.Event | None = None) -> None:
    """Copy the store into a new file that is its owner's only from the first byte (created
    0600 empty, then filled: copyfile keeps the mode of a file it writes into)."""
    if stop is None:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE))
        shutil.copyfile(source, target)
        return
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        with source.open("rb") as src:
            while not stop.is_set():
                try:
                    if os.copy_file_range(src.fileno(), out, CopyAhead.CHUNK) == 0:
                        break
                except OSError as exc:  # no in-kernel copy here: copy through this process
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise
                    if chunk := src.read(CopyAhead.CHUNK):
                        os.write(out, chunk)
                    else:
                        break
    finally:
        os.close(out)


_KEPT = itertools.count(1)  # keep_replaced's names within a process


def _set_aside(store: Path) -> Path | None:
    """A second name for the live store before the swap, so that replacing it frees none of
    its blocks: freeing a 574 MB file took 0.18 to 0.3 s here (ext4), a quarter of a small
    load, and `_free_later` does it once the new store is in place."""
    old = store.with_name(f"{store.name}.old-{os.getpid()}")
    try:
        old.unlink(missing_ok=True)
        os.link(store, old)
    except FileNotFoundError:  # a first write: no store to replace
        return None
    except OSError:  # no hard links here: the swap frees the old file itself
        return None
    return old


def _free_later(old: Path | None) -> None:
    """Remove the replaced store in a detached `rm`, which frees its blocks while this
    process goes on (a command exits at once); without `rm`, remove it here. A removal cut
    short leaves the file to the next writer's `_remove_stale_copies`."""
    if old is None:
        return
    rm = shutil.which("rm")
    if rm is None:
        _remove(old)
        return
    import subprocess  # only a writer needs it

    try:
        subprocess.Popen(
            [rm, "-f", "--", str(old)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        _remove(old)


def _remove(p: Path) -> None:
    for q in (p, p.with_name(p.name + ".wal")):
        q.unlink(missing_ok=True)


def _fsync(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fault_point(name: str) -> None:
    """Stop here for a minute when a test asked for it (see FAULT_POINT_ENV)."""
    if os.environ.get(FAULT_POINT_ENV) == name:
        print(f"fault point {name}", file=sys.stderr, flush=True)
        time.sleep(60)


_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
_STORAGE_WORDS = ("No space left", "Read-only file system", "Permission denied", "File too large")


def _is_storage_failure(exc: BaseException, store: Path) -> bool:
    """The disk or the store's folder refused a write (not a bug, not a bad input file)."""
    if isinstance(exc, OSError):
        about_store = exc.filename is None or Path(exc.filename).parent == store.parent
        return exc.errno in _STORAGE_ERRNOS and about_store
    if isinstance(exc, duckdb.IOException):
        return True  # DuckDB's own writes to the copy: the disk said no
    return isinstance(exc, duckdb.Error) and any(w in str(exc) for w in _STORAGE_WORDS)


def _is_lock_conflict(exc: BaseException) -> bool:
    return "lock" in str(exc).lower() and "conflicting" in str(exc).lower()


def _write_problem(path: Path, exc: BaseException) -> str:
    """Turn an OS or DuckDB error on write into a sentence a person can act on."""
    err = getattr(exc, "errno", None)
    text = str(exc)
    if err in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or any(
        w in text for w in ("No space left", "File too large", "Disk quota")
    ):
        return f"The disk holding {path} is full; free some space and run the load again."
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or any(
        w in text for w in ("Permission denied", "Read-only file system")
    ):
        return f"The store {path} (or its folder) is read-only; the load needs write access."
    return f"Cannot write the store {path}: {text}"
