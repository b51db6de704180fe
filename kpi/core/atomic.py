"""Safe file writes: one writer at a time, a file replaced whole or not at all, lines kept.

- `locked(path)`: an exclusive lock beside `path`, across threads, processes and machines:
  an flock (the OS releases it if the process dies; waiters on one machine queue on it)
  and a lease file (kpi.core.lease), which also holds where flock does not reach across
  machines (SMB, some NFS mounts), for app replicas sharing `config/` or a lake;
- `replace(path, data, check)`: a temporary file in the same folder, fsynced, checked by
  `check` (which may refuse by raising), then moved over `path` (atomic on POSIX) and the
  folder fsynced; on any failure the temporary file is removed and `path` is unchanged;
- `append_line(path, line)`: one line appended and fsynced;
- `private_files()`: while it is held, files this process creates are its owner's only
  (umask 077), for files another library creates (DuckDB's store and its WAL).

Every file written here is private: a new file is created 0600, a replaced file keeps the
mode of the file it replaces (never wider), so the definitions, their history and the
journal are not readable by every local user just because the process's umask is 022.

Any layer may use these: they know nothing of what the files hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kpi.core.lease import STALE_AFTER_S, Lease, leased
from kpi.core.lease import Busy as Busy  # callers catch atomic.Busy
from kpi.core.lease import LeaseLost as LeaseLost  # and atomic.LeaseLost

PRIVATE = 0o600  # a file we create: readable and writable by its owner only


@contextlib.contextmanager
def locked(path: Path, timeout_s: float, stale_after_s: float = STALE_AFTER_S) -> Iterator[Lease]:
    """Hold `.<name>.lock` (flock) and then `.<name>.lease` beside `path` exclusively;
    yields the lease, whose `check()` a writer calls just before it replaces a file.
    OSError when the lock file cannot be opened (a read-only folder fails here, before
    anything is read); Busy after `timeout_s`."""
    lock = path.with_name(f".{path.name}.lock")
    with os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE), "r+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Busy(f"{path.name} is locked by another writer") from None
                time.sleep(0.01)
        try:
            left = max(0.0, deadline - time.monotonic())
            with leased(path, left, stale_after_s) as lease:
                yield lease
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def replace(path: Path, data: bytes, check: Callable[[Path], None] | None = None) -> None:
    """Write `data` to a temporary file beside `path`, let `check` look at it, and only then
    move it over `path`, keeping the file's permissions (a new file: 0600, as mkstemp
    creates it)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if check is not None:
            check(tmp)
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line (a newline is added) and make it durable before returning; a new
    file is created 0600, an existing one keeps its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_umask_guard = threading.Lock()
_umask_holders = 0
_umask_before = 0


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created while this is held (by this process, any thread) get no group or
    other permissions: umask 077 on top of the process's own. The umask belongs to the
    process, so nested and concurrent holders share one change, undone by the last."""
    global _umask_holders, _umask_before
    with _umask_guard:
        if _umask_holders == 0:
            _umask_before = os.umask(0o077)
            os.umask(_umask_before | 0o077)
        _umask_holders += 1
    try:
        yield
    finally:
        with _umask_guard:
            _umask_holders -= 1
            if _umask_holders == 0:
                os.umask(_umask_before)


def mode_of(path: Path) -> int | None:
    """The permission bits of `path`, or None when there is no such file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
