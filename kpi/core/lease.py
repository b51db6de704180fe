"""A lock that holds across machines: a lease file beside the file being written.

`flock` (kpi.core.atomic.locked) is honoured only by the kernel that granted it: two app
replicas on two machines sharing `config/` over SMB/CIFS, an NFS mount with `local_lock`,
or a FUSE mount of a file share would both "hold" it. A lease is a plain file, so every
shared file system that can rename and link files keeps it exclusive:

- taking it: the holder writes its lease (host, pid, machine, since, token) to a file of
  its own, `.<name>.lease.<token>`, and hard-links it to `.<name>.lease`. `link` fails
  when the name exists, atomically, on every POSIX file system, NFSv2/3 included (where
  O_EXCL was not), and the lease is complete before anybody can see it. Where the file
  system cannot hard-link (some FUSE or object-store mounts), the lease is created with
  O_CREAT|O_EXCL instead and is the holder's by its token;
- holding it: a thread touches the lease every quarter of `stale_after_s`, so a live
  holder's lease never looks stale however long the write takes;
- a stale lease (its holder crashed or its machine died): one not touched for
  `stale_after_s` by the clock of the file system (the age is measured against a file
  this process just touched there, so two machines' clocks need not agree), or one whose
  holder is a process of this same machine (same host, boot and pid namespace) that no
  longer runs, which is broken at once. Breakers take turns on a guard file and remove
  the lease only if it is still the one judged stale, so a fresh lease is never removed;
- giving it back: in `finally`, the lease is removed if it is still this holder's.

What no lock on files can give: a holder frozen for longer than `stale_after_s` (a VM
paused, a process stopped) may find its lease broken and taken when it wakes. Writers
therefore call `Lease.check()` just before they replace a file, and the definitions keep
their optimistic version check as well, so a late writer is refused, never silently wins.
A writer that dies while breaking a lease leaves its guard, which is cleared after
`BREAK_STALE_S` (or at once by its own machine).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

STALE_AFTER_S = 60.0  # a lease not touched for this long belongs to a holder that is gone
BREAK_STALE_S = 10.0  # breaking takes milliseconds: a guard this old was left by a crash
_POLL_S = (0.01, 0.05)  # the wait between two tries to take a held lease (random within)


class Busy(TimeoutError):
    """Another writer held the lock longer than the timeout."""


class LeaseLost(RuntimeError):
    """This holder's lease was judged stale and broken by another writer: write nothing."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as its file says (fields may be empty for a foreign file)."""

    host: str = ""
    pid: int = 0
    machine: str = ""
    since: str = ""
    token: str = ""

    def describe(self) -> str:
        if not self.host:
            return "another writer"
        return f"process {self.pid} on {self.host} (since {self.since})"


def machine_id() -> str:
    """This host, its boot and its pid namespace: two processes with the same id see the
    same pids, so a dead pid there is a dead holder. Empty when it cannot be known (not
    Linux): then only the age of a lease breaks it."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{socket.gethostname()}/{boot}/{pidns}"


class Lease:
    """A lease held by this process: `check()` before a write, released by `leased`."""

    def __init__(self, lease: Path, mine: Path, holder: Holder) -> None:
        self.path = lease
        self.mine = mine
        self.holder = holder

    def held(self) -> bool:
        """Whether the lease file is still this holder's (the same file, linked)."""
        try:
            if os.path.samefile(self.path, self.mine):
                return True
            return _token(self.path) == self.holder.token  # created without a link
        except OSError:
            return False

    def check(self) -> None:
        """Raise LeaseLost when another writer broke this lease (this holder stalled for
        longer than the stale bound): the caller must not write."""
        if not self.held():
            raise LeaseLost(
                f"the lock on {self.path.name.removeprefix('.').removesuffix('.lease')} "
                "was taken over by another writer while this one waited"
            )


def lease_path_for(path: Path) -> Path:
    """kpis.yaml → .kpis.yaml.lease in the same folder."""
    return path.with_name(f".{path.name}.lease")


@contextlib.contextmanager
def leased(path: Path, timeout_s: float, stale_after_s: float = STALE_AFTER_S) -> Iterator[Lease]:
    """Hold the lease of `path` (see the module's docstring). Busy after `timeout_s`;
    OSError when the folder cannot be written (a read-only folder fails here)."""
    lease = lease_path_for(path)
    token = secrets.token_hex(8)
    holder = Holder(
        socket.gethostname(),
        os.getpid(),
        machine_id(),
        datetime.now(UTC).isoformat(timespec="seconds"),
        token,
    )
    mine = lease.with_name(f"{lease.name}.{token}")
    _write_new(mine, json.dumps(holder.__dict__).encode())
    try:
        _take(lease, mine, path.name, timeout_s, stale_after_s)
        held = Lease(lease, mine, holder)
        stop = threading.Event()
        beat = threading.Thread(
            target=_heartbeat, args=(held, stop, stale_after_s / 4), daemon=True
        )
        beat.start()
        try:
            yield held
        finally:
            stop.set()
            beat.join()
            if held.held():
                lease.unlink(missing_ok=True)
    finally:
        mine.unlink(missing_ok=True)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _take(lease: Path, mine: Path, name: str, timeout_s: float, stale_after_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if _link(mine, lease):
            return
        seen = _look(lease)
        if seen is None:
            continue  # released between the link and the look: try again at once
        inode, holder, mtime = seen
        if _stale(holder, mtime, mine, stale_after_s) and _break(lease, inode, holder, mine):
            continue  # broken: take it at once
        if time.monotonic() > deadline:
            raise Busy(f"{name} is locked by {holder.describe()}")
        time.sleep(secrets.SystemRandom().uniform(*_POLL_S))


# a file system that cannot hard-link (some FUSE and object-store mounts, some container
# bind mounts) says so with one of these: the lease is then created with O_EXCL instead
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV}


def _link(mine: Path, lease: Path) -> bool:
    """Try to make `mine` the lease. Over NFS a lost reply may report a failed link that
    was made: the link count of `mine` says the truth. Where links are not supported, the
    lease is created exclusively (O_CREAT|O_EXCL) with the same content; it is then this
    holder's by its token."""
    try:
        os.link(mine, lease)
        return True
    except OSError as exc:
        with contextlib.suppress(OSError):
            if os.stat(mine).st_nlink == 2:
                return True
        if isinstance(exc, FileExistsError):
            return False
        if exc.errno in _NO_LINKS:
            return _create(lease, mine.read_bytes())
        raise


def _create(lease: Path, data: bytes) -> bool:
    """Create `lease` holding `data`, or False when it exists. A reader may see it empty for
    a moment: an unreadable lease is judged by its age only, as a foreign one is."""
    try:
        _write_new(lease, data)
    except FileExistsError:
        return False
    return True


def _token(path: Path) -> str:
    try:
        return str(json.loads(path.read_bytes()).get("token", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _look(lease: Path) -> tuple[int, Holder, float] | None:
    """The lease's inode, holder and modification time; None when it is gone."""
    try:
        st = os.stat(lease)
        raw = lease.read_bytes()
    except FileNotFoundError:
        return None
    try:
        fields = json.loads(raw)
        holder = Holder(**{k: fields[k] for k in Holder.__dataclass_fields__ if k in fields})
    except (ValueError, TypeError):
        holder = Holder()  # not written by us: judged by its age only
    return st.st_ino, holder, st.st_mtime


def _stale(holder: Holder, mtime: float, mine: Path, stale_after_s: float) -> bool:
    here = machine_id()
    if here and holder.machine == here and holder.pid and not process_alive(holder.pid):
        return True
    os.utime(mine)  # "now" by the file system's clock, the clock that stamped the lease
    return os.stat(mine).st_mtime - mtime > stale_after_s


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _break(lease: Path, inode: int, holder: Holder, mine: Path) -> bool:
    """Remove the stale lease `inode`, and nothing else. Breakers take turns on a guard,
    `.<name>.lease.break`, created exclusively: under it the lease is looked at again and
    removed only if it is still the one judged stale. Nothing else can change it meanwhile:
    a writer taking the lease never replaces one that exists. False when another writer is
    breaking it right now (wait and look again)."""
    guard = lease.with_name(f"{lease.name}.break")
    try:
        _write_new(guard, mine.read_bytes())
    except FileExistsError:
        seen = _look(guard)
        if seen is not None and _stale(seen[1], seen[2], mine, BREAK_STALE_S):
            guard.unlink(missing_ok=True)  # its breaker died half way
        return False
    try:
        now = _look(lease)
        if now is None or (now[0], now[1].token) != (inode, holder.token):
            return True  # released or broken since the look: nothing to break
        lease.unlink(missing_ok=True)
        if holder.token:  # the stale holder's own file, left by its crash
            with contextlib.suppress(OSError):
                lease.with_name(f"{lease.name}.{holder.token}").unlink()
        return True
    finally:
        guard.unlink(missing_ok=True)


def _heartbeat(held: Lease, stop: threading.Event, every_s: float) -> None:
    """Touch the lease while it is this holder's, until told to stop."""
    while not stop.wait(every_s):
        with contextlib.suppress(OSError):
            if held.held():
                os.utime(held.path)
