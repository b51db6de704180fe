"""The lease that keeps writes of a shared `config/` one at a time across machines
(kpi.core.lease, held by kpi.core.atomic.locked), and the definitions' saves on it.

"Another machine" is played by a process whose flock does nothing (as on a share where
flock is not seen by the other machine's kernel) and whose machine id is its own.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from kpi.core import atomic, lease
from kpi.core.people import Person
from kpi.workflows import definition_writer
from kpi.workflows.definition_saves import edit_kpi
from kpi.workflows.definition_versions import file_version, kpi_history
from kpi.workflows.definition_writer import ConflictError, EditError

ROOT = Path(__file__).resolve().parents[2]
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
FORK = multiprocessing.get_context("fork")


@pytest.fixture()
def kpis(tmp_path) -> Path:
    path = tmp_path / "config" / "kpis.yaml"
    path.parent.mkdir()
    shutil.copyfile(ROOT / "config" / "kpis.yaml", path)
    return path


def another_machine(name: str, links: bool = True) -> None:
    """In a child process: flock no longer excludes anyone, and the machine is `name`;
    without `links`, the file system cannot hard-link (as some FUSE mounts)."""
    atomic.fcntl.flock = lambda *args: None  # type: ignore[assignment]
    lease.machine_id = lambda: name  # type: ignore[assignment]
    lease.socket.gethostname = lambda: name  # type: ignore[assignment]
    if not links:
        lease.os.link = no_link  # type: ignore[assignment]


def no_link(*args) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")


def lease_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f".{path.name}.lease*"))


# ---- two processes, two machines ------------------------------------------------------------


def _save(machine: str, path: str, person: Person, name: str, opened: str, gate, queue) -> None:
    another_machine(machine)
    gate.wait(timeout=60)
    try:
        edit_kpi(Path(path), person, "total_spend", {"name": name}, "rename", opened)
        queue.put((machine, "saved", name))
    except ConflictError as exc:
        queue.put((machine, str(exc), exc.proposed_entry["name"]))


def test_two_machines_saving_the_same_kpi_one_lands_the_other_is_told(kpis):
    opened = file_version(kpis)  # both people opened the same version
    gate, queue = FORK.Barrier(2), FORK.Queue()
    names = {"machine-a": ("Spend A", CFO), "machine-b": ("Spend B", FIN)}
    procs = [
        FORK.Process(target=_save, args=(m, str(kpis), who, n, opened, gate, queue))
        for m, (n, who) in names.items()
    ]
    for p in procs:
        p.start()
    outcomes = {m: (said, name) for m, said, name in (queue.get(timeout=120) for _ in procs)}
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    saved = [m for m, (said, _) in outcomes.items() if said == "saved"]
    refused = [m for m in outcomes if m not in saved]
    assert len(saved) == 1 and len(refused) == 1, outcomes
    winner, loser = saved[0], refused[0]
    message, kept = outcomes[loser]
    # the loser is told who saved first and what to do, and still has their change
    winner_email = names[winner][1].email
    assert "changed by someone else since you opened it" in message
    assert f"{names[winner][1].name} saved 'total_spend' at" in message  # by name
    assert "redo your change" in message and kept == names[loser][0]
    data = yaml.safe_load(kpis.read_text(encoding="utf-8"))
    entry = next(k for k in data["kpis"] if k["id"] == "total_spend")
    assert entry["name"] == names[winner][0]
    history = kpi_history(kpis)
    assert [(r["who"], r["kpi_id"]) for r in history] == [(winner_email, "total_spend")]
    assert lease_files(kpis) == []


def _count(machine: str, counter: str, rounds: int, gate, links: bool) -> None:
    """Read, wait, write: two of these lose increments unless the lease keeps them apart."""
    another_machine(machine, links)
    path = Path(counter)
    gate.wait(timeout=60)
    for _ in range(rounds):
        with atomic.locked(path, timeout_s=60):
            value = int(path.read_text())
            time.sleep(0.002)
            path.write_text(str(value + 1))


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "no hard links"])
def test_the_lease_alone_keeps_two_machines_apart(tmp_path, links):
    counter = tmp_path / "counter"
    counter.write_text("0")
    _foreign_lease(counter, age_s=600)  # a dead machine's lease both find stale at once
    gate = FORK.Barrier(2)
    procs = [
        FORK.Process(target=_count, args=(m, str(counter), 25, gate, links))
        for m in ("machine-a", "machine-b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert counter.read_text() == "50"  # 2 x 25, none lost
    assert lease_files(counter) == []


def _hold(machine: str, target: str, gate, queue, done) -> None:
    another_machine(machine)
    gate.wait(timeout=60)
    try:
        with lease.leased(Path(target), timeout_s=0):
            queue.put((machine, "held"))
            done.wait(timeout=60)  # held until both have said how they fared
    except lease.Busy as exc:
        queue.put((machine, str(exc)))


def test_two_processes_racing_for_the_lease_one_holds_it_the_other_is_refused(tmp_path):
    target = tmp_path / "kpis.yaml"
    gate, queue, done = FORK.Barrier(2), FORK.Queue(), FORK.Event()
    procs = [
        FORK.Process(target=_hold, args=(m, str(target), gate, queue, done))
        for m in ("machine-a", "machine-b")
    ]
    for p in procs:
        p.start()
    said = dict(queue.get(timeout=60) for _ in procs)
    done.set()
    for p in procs:
        p.join(timeout=60)
    assert sorted(said.values()).count("held") == 1, said
    holder = next(m for m, s in said.items() if s == "held")
    other = next(m for m in said if m != holder)
    assert said[other].startswith("kpis.yaml is locked by process ") and holder in said[other]


# ---- stale leases -------------------------------------------------------------------------

HOLD_AND_SLEEP = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from kpi.core.lease import leased
    with leased(Path({path!r}), timeout_s=5):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_a_lease_whose_holder_died_on_this_machine_is_broken_at_once(tmp_path):
    target = tmp_path / "kpis.yaml"
    code = HOLD_AND_SLEEP.format(root=str(ROOT), path=str(target))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    left = lease_files(target)
    assert len(left) == 2  # the lease and the dead holder's own link to it
    started = time.monotonic()
    with lease.leased(target, timeout_s=0, stale_after_s=3600) as held:
        assert held.held()
        assert lease_files(target) == sorted([".kpis.yaml.lease", held.mine.name])
    assert time.monotonic() - started < 5  # not waited out: the pid is gone
    assert lease_files(target) == []  # the dead holder's file went with its lease


def _foreign_lease(target: Path, age_s: float) -> Path:
    """A lease written by process 4242 of another machine, last touched `age_s` ago."""
    path = lease.lease_path_for(target)
    holder = {"host": "other-host", "pid": 4242, "machine": "other-host/boot/1"}
    path.write_text(json.dumps({**holder, "since": "2026-12-04T09:00:00+00:00", "token": "ab"}))
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_a_lease_from_another_machine_is_waited_for_until_it_is_stale(tmp_path):
    target = tmp_path / "kpis.yaml"
    _foreign_lease(target, age_s=5)
    with pytest.raises(lease.Busy) as refused, lease.leased(target, 0.2, stale_after_s=60):
        pytest.fail("a fresh lease of another machine was taken")
    assert str(refused.value) == (
        "kpis.yaml is locked by process 4242 on other-host (since 2026-12-04T09:00:00+00:00)"
    )
    _foreign_lease(target, age_s=61)  # its holder stopped touching it a minute ago
    with lease.leased(target, timeout_s=0, stale_after_s=60) as held:
        assert held.held()
    assert lease_files(target) == []


def test_a_live_holder_keeps_its_lease_however_long_it_writes(tmp_path):
    target = tmp_path / "kpis.yaml"
    refused = 0
    with lease.leased(target, timeout_s=0, stale_after_s=1.0) as held:
        ends = time.monotonic() + 2.5  # two and a half times the stale bound
        while time.monotonic() < ends:
            t = threading.Thread(target=_try_other_machine, args=(target, 1.0))
            results.clear()
            t.start()
            t.join()
            refused += results == ["busy"]
            time.sleep(0.1)
        held.check()  # still ours
    assert refused >= 5


results: list[str] = []


def _try_other_machine(target: Path, stale_after_s: float) -> None:
    """A second writer that judges by age only (as another machine would)."""
    original = lease.machine_id
    try:
        lease.machine_id = lambda: ""  # type: ignore[assignment]
        with lease.leased(target, timeout_s=0.02, stale_after_s=stale_after_s):
            results.append("taken")
    except lease.Busy:
        results.append("busy")
    finally:
        lease.machine_id = original  # type: ignore[assignment]


def test_a_holder_whose_lease_was_broken_finds_out_and_leaves_the_new_one_alone(tmp_path):
    target = tmp_path / "kpis.yaml"
    first = lease.leased(target, timeout_s=0, stale_after_s=3600)
    held = first.__enter__()
    old = time.time() - 120
    os.utime(held.mine, (old, old))  # as if it froze two minutes without a heartbeat
    original = lease.machine_id
    lease.machine_id = lambda: ""  # type: ignore[assignment]  # another machine judges
    try:
        with lease.leased(target, timeout_s=0, stale_after_s=60) as second:
            with pytest.raises(lease.LeaseLost, match="kpis.yaml was taken over"):
                held.check()
            first.__exit__(None, None, None)  # the late holder lets go...
            assert second.held()  # ...of nothing that is not its own
    finally:
        lease.machine_id = original  # type: ignore[assignment]
    assert lease_files(target) == []


def test_many_writers_breaking_one_stale_lease_at_once_end_up_one_at_a_time(tmp_path):
    target = tmp_path / "kpis.yaml"
    _foreign_lease(target, age_s=600)
    inside, most = [0], [0]
    guard = threading.Lock()
    gate = threading.Barrier(6)

    def write() -> None:
        gate.wait()
        for _ in range(5):
            with lease.leased(target, timeout_s=30, stale_after_s=60):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.005)
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert most == [1]
    assert lease_files(target) == []


# ---- released on error, refused when lost ---------------------------------------------------


def test_the_lock_is_released_when_the_write_fails(tmp_path):
    target = tmp_path / "kpis.yaml"
    with pytest.raises(OSError, match="disk full"), atomic.locked(target, timeout_s=1):
        assert lease_files(target) != []
        raise OSError("disk full")
    assert lease_files(target) == []
    with atomic.locked(target, timeout_s=0):  # free at once
        pass


def test_a_save_whose_lease_was_lost_writes_nothing(kpis, monkeypatch):
    before = kpis.read_bytes()

    def lost(self) -> None:
        raise lease.LeaseLost("taken over")

    monkeypatch.setattr(lease.Lease, "check", lost)
    with pytest.raises(EditError, match="someone else was saving kpis.yaml at the same moment"):
        edit_kpi(kpis, CFO, "total_spend", {"name": "Spend"}, "rename", file_version(kpis))
    assert kpis.read_bytes() == before and kpi_history(kpis) == []
    assert not definition_writer.journal_path_for(kpis).exists()


def test_without_hard_links_the_lease_is_created_exclusively_and_still_broken_when_stale(
    tmp_path, monkeypatch
):
    target = tmp_path / "kpis.yaml"
    monkeypatch.setattr(lease.os, "link", no_link)
    with lease.leased(target, timeout_s=0) as held:
        assert held.held() and not os.path.samefile(held.path, held.mine)
        # a second writer waits, as with links
        with pytest.raises(lease.Busy), lease.leased(target, timeout_s=0.1):
            pytest.fail("taken twice")
    assert lease_files(target) == []
    _foreign_lease(target, age_s=61)
    with lease.leased(target, timeout_s=0, stale_after_s=60) as held:
        assert held.held()
    assert lease_files(target) == []
