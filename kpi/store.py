"""The one object that owns the DuckDB store: short-lived locked-down readers, one writer.

DuckDB lets a single process hold a database file for writing, and then no other process
may even read it. So writers never touch the live file: a write copies the store, works on
the copy, checkpoints it and atomically renames it over the live file. Readers (the app,
`kpi compute`) therefore always open a complete, consistent store, even while a load runs
in another process, and a load killed half way leaves the live store exactly as it was.
Writers queue on a lock file, so two loads never race.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from kpi import sql
from kpi.schema import all_ddl
from kpi.settings import Settings, db_path, load_settings

# Reader connections cannot reach the file system or install code: KPI formulas are user
# text, and even a formula that slipped past the guard could not read a file through them.
LOCKED_DOWN = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says why and what to do."""


class StoreMissing(StoreError):
    """No store file yet."""


class Store:
    """A DuckDB store file: `read()` for queries, `write()` for loads."""

    def __init__(self, path: str | Path | None = None, settings: Settings | None = None):
        self.path = Path(path) if path else db_path()
        self.settings = settings or load_settings()

    # ---- facts about the file -------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def version(self) -> tuple[int, int, int]:
        """Changes whenever a write lands (the file is replaced): a cache key for readers."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # ---- reading ----------------------------------------------------------------------
    @contextmanager
    def read(self, display_currency: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection with the curated views, unable to touch the file system."""
        if not self.path.exists():
            raise StoreMissing(
                f"There is no store at {self.path} yet. Build the demo with "
                "`python -m kpi demo` or load your files with `python -m kpi load`."
            )
        try:
            con = duckdb.connect(str(self.path), read_only=True, config=dict(LOCKED_DOWN))
        except duckdb.Error as exc:
            raise StoreError(f"Cannot open the store {self.path}: {exc}") from exc
        try:
            con.execute("SET lock_configuration = true")
            sql.create_views(con, self.settings, display_currency)
            yield con
        finally:
            con.close()

    # ---- writing ----------------------------------------------------------------------
    @contextmanager
    def _writer_lock(self, timeout_s: float = 600.0) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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
    def write(self, fresh: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection to a copy of the store; the copy replaces the store on success.

        Use it as one transaction: if the block raises, nothing of it reaches the store.
        With `fresh`, the copy starts empty (a rebuild, such as the demo), not from the store.
        """
        with self._writer_lock():
            self._remove_stale_copies()
            work = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
            try:
                if self.path.exists() and not fresh:
                    shutil.copyfile(self.path, work)
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
                _fsync(work)
                os.replace(work, self.path)
            except BaseException:
                try:
                    con.close()
                finally:
                    _remove(work)
                raise

    def _remove_stale_copies(self) -> None:
        """Copies left by a writer that was killed (we hold the lock, so none is live)."""
        for p in self.path.parent.glob(f"{self.path.name}.tmp-*"):
            _remove(p)

    def initialise(self) -> None:
        """Create an empty store with every canonical table (no-op when it exists)."""
        with self.write():
            pass


def _remove(p: Path) -> None:
    for q in (p, p.with_name(p.name + ".wal")):
        q.unlink(missing_ok=True)


def _fsync(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_problem(path: Path, exc: BaseException) -> str:
    """Turn an OS or DuckDB error on write into a sentence a person can act on."""
    err = getattr(exc, "errno", None)
    text = str(exc)
    if err == errno.ENOSPC or "No space left" in text:
        return f"The disk holding {path} is full; free some space and run the load again."
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or "Permission denied" in text:
        return f"The store {path} (or its folder) is read-only; the load needs write access."
    return f"Cannot write the store {path}: {text}"
