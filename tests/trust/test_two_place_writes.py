"""A write that spans two places is one unit of work (kpi.workflows.definition_writer).

A definition save writes kpis.yaml and then its history line; agreeing a target in the
goals meeting (the second of the two signatures) writes kpis.yaml and then its
`goal_decisions` row. A full disk at the second
write, or the process killed between the two, must leave, after the next start, either
both writes or neither, and the history line and the decision row say who, when and why.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kpi.core import atomic
from kpi.core.people import Person
from kpi.semantic.definitions import load_definitions
from kpi.semantic.kpi_definition import get
from kpi.store.database import Store, StoreError
from kpi.workflows import definition_writer, goals
from kpi.workflows.definition_saves import edit_kpi
from kpi.workflows.definition_versions import file_version, kpi_history
from kpi.workflows.definition_writer import EditError, journal_path_for, recover_pending
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
PRO = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")


@pytest.fixture
def kpis(tmp_path) -> Path:
    path = tmp_path / "config" / "kpis.yaml"
    path.parent.mkdir()
    shutil.copyfile(ROOT / "config" / "kpis.yaml", path)
    return path


@pytest.fixture
def store(tmp_path) -> Store:
    return hand_fixture.build(tmp_path / "hand" / "kpi.duckdb")


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ---- a definition save: kpis.yaml, then its history line ------------------------------------


def test_a_full_disk_at_the_history_line_is_completed_on_the_next_start(kpis, monkeypatch):
    before = kpis.read_bytes()
    monkeypatch.setattr(atomic, "append_line", _disk_full)
    with pytest.raises(EditError, match="record .* could not be written yet"):
        edit_kpi(kpis, FIN, "total_spend", {"name": "Spend"}, "shorter", file_version(kpis))
    # the file is saved, its history line is not yet: the journal holds it
    assert kpis.read_bytes() != before
    assert kpi_history(kpis) == []
    assert journal_path_for(kpis).exists()
    monkeypatch.undo()  # space again; the app starts
    assert recover_pending(kpis) == "completed"
    (record,) = kpi_history(kpis)
    assert (record["who"], record["why"], record["kpi_id"]) == (FIN.email, "shorter", "total_spend")
    assert record["when"] and record["file_version"] == file_version(kpis)
    assert not journal_path_for(kpis).exists()
    assert recover_pending(kpis) is None and len(kpi_history(kpis)) == 1  # never twice


def test_a_journal_left_by_a_failed_start_is_completed_by_the_next_save(kpis, monkeypatch):
    monkeypatch.setattr(atomic, "append_line", _disk_full)
    with pytest.raises(EditError):
        edit_kpi(kpis, FIN, "total_spend", {"name": "Spend"}, "first", file_version(kpis))
    assert recover_pending(kpis) == "pending"  # still full: kept for later, no error
    monkeypatch.undo()
    edit_kpi(kpis, FIN, "total_spend", {"name": "Spend, all"}, "second", file_version(kpis))
    assert [r["why"] for r in kpi_history(kpis)] == ["second", "first"]
    assert not journal_path_for(kpis).exists()


def test_a_full_disk_at_the_journal_writes_nothing(kpis, monkeypatch):
    before = kpis.read_bytes()
    real = atomic.replace

    def journal_fails(path, data, check=None):
        if path == journal_path_for(kpis):
            _disk_full()
        real(path, data, check)

    monkeypatch.setattr(atomic, "replace", journal_fails)
    with pytest.raises(EditError, match="the disk holding .* is full"):
        edit_kpi(kpis, FIN, "total_spend", {"name": "Spend"}, "shorter", file_version(kpis))
    assert kpis.read_bytes() == before and kpi_history(kpis) == []
    assert not journal_path_for(kpis).exists()


# ---- agreeing a target: kpis.yaml, then the decision row ------------------------------------


def _finance_signs(store: Store, kpis: Path) -> None:
    """Sam signs 1000 for finance: the first of the two signatures (no decision yet)."""
    goals.sign_target(
        store, kpis, FIN, "FY2026-Q3", "total_spend", 1000, "Proposed", file_version(kpis)
    )


def _agree(store: Store, kpis: Path) -> None:
    """Sam signs for finance, then Jonas the same target for procurement: agreed."""
    _finance_signs(store, kpis)
    goals.sign_target(
        store, kpis, PRO, "FY2026-Q3", "total_spend", 1000, "Agreed", file_version(kpis)
    )


def _both_or_neither(store: Store, kpis: Path) -> bool:
    """True when both writes of procurement's agreeing signature are there (with who, when,
    why), False when neither is."""
    kpi = get(load_definitions(kpis), "total_spend")
    decisions = goals.decision_log(store)
    history = [r for r in kpi_history(kpis) if r["action"] == "target agreed"]
    if kpi.approvals.procurement is None:  # the file kept finance's signature only
        assert decisions.is_empty() and history == []
        return False
    assert kpi.targets.get("FY2026-Q3") == 1000 and kpi.status == "agreed"
    assert decisions.height == 1 and len(history) == 1
    row = decisions.row(0, named=True)
    assert (row["finance_by"], row["procurement_by"]) == (FIN.email, PRO.email)
    assert row["rationale"] == "Agreed" and row["decided_at"] is not None
    assert row["kpis_version"] == file_version(kpis) == history[0]["file_version"]
    assert history[0]["why"] == "Agreed" and history[0]["who"] == PRO.email
    assert history[0]["signers"] == [PRO.email]
    return True


def test_a_full_disk_at_the_decision_row_is_completed_on_the_next_start(kpis, store, monkeypatch):
    def store_full(*args, **kwargs):
        raise StoreError("the disk holding the store is full")

    _finance_signs(store, kpis)
    monkeypatch.setattr(definition_writer, "record_decision", store_full)
    with pytest.raises(EditError, match="could not be written yet"):
        goals.sign_target(
            store, kpis, PRO, "FY2026-Q3", "total_spend", 1000, "Agreed", file_version(kpis)
        )
    assert goals.decision_log(store).is_empty() and journal_path_for(kpis).exists()
    monkeypatch.undo()
    assert recover_pending(kpis) == "completed"
    assert _both_or_neither(store, kpis) is True
    assert recover_pending(kpis) is None and goals.decision_log(store).height == 1


KILLED_AGREEMENT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from kpi.core.people import Person
    from kpi.store.database import Store
    from kpi.workflows import goals
    from kpi.workflows.definition_versions import file_version
    kpis = Path({kpis!r})
    goals.sign_target(
        Store({store!r}),
        kpis,
        Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member"),
        "FY2026-Q3", "total_spend", 1000, "Agreed", file_version(kpis),
    )
    """
)


def _kill_between_the_writes(store: Store, kpis: Path) -> bytes:
    """Sam signs for finance; Jonas's agreeing signature is killed between its two writes.
    Returns the file as it was before Jonas's save."""
    _finance_signs(store, kpis)
    before = kpis.read_bytes()
    code = KILLED_AGREEMENT.format(root=str(ROOT), kpis=str(kpis), store=str(store.path))
    env = dict(os.environ, KPI_FAULT_POINT="between_file_and_record")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr.readline().strip() == "fault point between_file_and_record"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return before


def test_an_agreement_killed_between_the_file_and_the_row_is_completed(kpis, store):
    _kill_between_the_writes(store, kpis)
    # killed: the file holds the target, the row and the history line are missing
    assert get(load_definitions(kpis), "total_spend").approvals.procurement.by == PRO.email
    assert goals.decision_log(store).is_empty()
    assert [r["who"] for r in kpi_history(kpis)] == [FIN.email]  # finance's line only
    assert recover_pending(kpis) == "completed"  # the next start
    assert _both_or_neither(store, kpis) is True


def test_a_journal_whose_file_never_landed_is_dropped(kpis, store):
    before = _kill_between_the_writes(store, kpis)
    pending = json.loads(journal_path_for(kpis).read_text(encoding="utf-8"))
    assert pending["before"] == kpi_history(kpis)[0]["file_version"]  # after Sam's signature
    kpis.write_bytes(before)  # as if killed just before the file was replaced
    assert recover_pending(kpis) == "dropped"
    assert _both_or_neither(store, kpis) is False
    assert not journal_path_for(kpis).exists()
