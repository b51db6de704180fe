"""Records that last: private files across writes, a chained history that `kpi check` verifies.

The store and every file the app writes keep restrictive permissions whatever the process's
umask (a new file 0600, a replaced one its own mode); each line of the definitions' history
carries the hash of the line before and a digest of its own, so an edited, deleted or
garbled line is reported by `python -m kpi check` with its line number and exit code 1;
the history line of a save is part of the save's journal and lands exactly once whether the
process stops before or after the line is written.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpi.cli import main as cli_main
from kpi.core import atomic
from kpi.core.people import Person
from kpi.store.database import Store
from kpi.workflows import definition_writer
from kpi.workflows.definition_saves import edit_kpi
from kpi.workflows.definition_versions import (
    file_version,
    history_path_for,
    history_problems,
    kpi_history,
)
from kpi.workflows.definition_writer import EditError, journal_path_for, recover_pending
from kpi.workflows.history_chain import GENESIS, content_digest, line_hash, verify

ROOT = Path(__file__).resolve().parents[2]
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The usual umask of a server process: new files readable by every local user."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def kpis(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "kpis.yaml"
    path.parent.mkdir()
    shutil.copyfile(ROOT / "config" / "kpis.yaml", path)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _save(kpis: Path, n: int) -> None:
    edit_kpi(kpis, FIN, "total_spend", {"name": f"Spend {n}"}, f"why {n}", file_version(kpis))


def _saved_three_times(kpis: Path) -> Path:
    for n in (1, 2, 3):
        _save(kpis, n)
    return history_path_for(kpis)


def _lines(hist: Path) -> list[str]:
    return hist.read_text(encoding="utf-8").splitlines()


def _write_lines(hist: Path, lines: list[str]) -> None:
    hist.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _check(kpis: Path, capsys) -> tuple[int, str, str]:
    code = cli_main(["check", str(kpis)])
    out, err = capsys.readouterr()
    return code, out, err


# ---- permissions ------------------------------------------------------------------------------


def test_a_fresh_store_is_private_and_a_write_keeps_its_mode(tmp_path):
    store = Store(tmp_path / "kpi.duckdb")
    store.initialise()
    assert _mode(store.path) == 0o600  # not 0644, although the umask is 022
    with store.write() as con:
        con.execute("CREATE TABLE note (x INTEGER)")
    assert _mode(store.path) == 0o600
    os.chmod(store.path, 0o640)  # the operator shares it with a group: kept, not widened
    with store.write(fresh=True):
        pass
    assert _mode(store.path) == 0o640
    assert _mode(tmp_path / "kpi.duckdb.lock") == 0o600
    assert os.umask(0o022) == 0o022  # the process's umask is as it was after the write


def test_a_failed_store_write_leaves_the_umask_as_it_was(tmp_path):
    store = Store(tmp_path / "kpi.duckdb")
    with pytest.raises(ZeroDivisionError), store.write():
        _ = 1 / 0
    assert os.umask(0o022) == 0o022 and not store.path.exists()


def test_a_save_keeps_the_mode_of_kpis_yaml_and_creates_private_records(kpis):
    os.chmod(kpis, 0o640)
    _save(kpis, 1)
    assert _mode(kpis) == 0o640
    assert _mode(history_path_for(kpis)) == 0o600
    assert _mode(kpis.parent / ".kpis.yaml.lock") == 0o600
    os.chmod(history_path_for(kpis), 0o640)
    _save(kpis, 2)
    assert _mode(history_path_for(kpis)) == 0o640 and len(kpi_history(kpis)) == 2


def test_the_journal_of_a_save_is_private(kpis, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "append_line", disk_full)
    with pytest.raises(EditError, match="could not be written yet"):
        _save(kpis, 1)
    assert _mode(journal_path_for(kpis)) == 0o600


def test_a_replaced_config_file_keeps_its_mode_and_a_new_one_is_private(tmp_path):
    shared = tmp_path / "scenario.yaml"
    shared.write_text("a: 1\n", encoding="utf-8")
    os.chmod(shared, 0o640)
    atomic.replace(shared, b"a: 2\n")
    assert _mode(shared) == 0o640 and shared.read_text(encoding="utf-8") == "a: 2\n"
    new = tmp_path / "new.yaml"
    atomic.replace(new, b"b: 1\n")
    atomic.append_line(tmp_path / "log.jsonl", "{}")
    assert _mode(new) == 0o600 and _mode(tmp_path / "log.jsonl") == 0o600


# ---- the chain --------------------------------------------------------------------------------


def test_each_line_links_to_the_one_before(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == GENESIS
    assert records[1]["prev"] == line_hash(lines[0].encode("utf-8"))
    assert records[2]["prev"] == line_hash(lines[1].encode("utf-8"))
    assert all(r["digest"] == content_digest(r) for r in records)
    assert [r["why"] for r in kpi_history(kpis)] == ["why 3", "why 2", "why 1"]
    code, out, err = _check(kpis, capsys)
    assert code == 0 and err == ""
    assert f"{hist}: OK, all 3 line(s) chained" in out and f"{kpis}: OK" in out


def test_an_edited_field_is_reported_with_its_line(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    lines[1] = lines[1].replace('"why": "why 2"', '"why": "approved in the meeting"')
    _write_lines(hist, lines)
    code, out, err = _check(kpis, capsys)
    assert code == 1
    assert (
        f"{hist}:2: edited line: its content no longer matches the digest it was written with"
        in err
    )
    assert f"{hist}: 1 problem(s)" in err and "Traceback" not in err
    assert f"{kpis}: OK" in out  # the definitions themselves are fine


def test_an_edit_of_the_last_line_is_reported_too(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    lines[2] = lines[2].replace(f'"who": "{FIN.email}"', '"who": "someone.else@example.org"')
    _write_lines(hist, lines)
    code, _, err = _check(kpis, capsys)
    assert code == 1 and f"{hist}:3: edited line" in err


def test_an_edit_with_a_recomputed_digest_breaks_the_next_link(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    record = json.loads(lines[1])
    record["why"] = "rewritten"
    record["digest"] = content_digest(record)
    lines[1] = json.dumps(record, ensure_ascii=False)
    _write_lines(hist, lines)
    code, _, err = _check(kpis, capsys)
    assert code == 1
    assert f"{hist}:3: line 2 is not the line this one was written after" in err


def test_a_deleted_line_is_reported_as_a_gap(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    _write_lines(hist, [lines[0], lines[2]])
    code, _, err = _check(kpis, capsys)
    assert code == 1
    assert (
        f"{hist}:2: gap in the history: 1 line(s) before it were deleted "
        "(it was written as line 3)" in err
    )
    assert f"{hist}: 1 problem(s)" in err  # one deletion, one message


def test_a_deleted_first_line_is_reported_as_a_gap(kpis, capsys):
    hist = _saved_three_times(kpis)
    _write_lines(hist, _lines(hist)[1:])
    code, _, err = _check(kpis, capsys)
    assert code == 1 and f"{hist}:1: gap in the history: 1 line(s) before it were deleted" in err


def test_a_garbled_line_is_reported_and_the_page_warns(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    lines[1] = lines[1][:40]  # cut short in the middle of a field
    _write_lines(hist, lines)
    code, _, err = _check(kpis, capsys)
    assert code == 1
    assert f"{hist}:2: broken line: it is not a readable record" in err
    assert f"{hist}: 1 problem(s)" in err  # line 3's link to it is no second problem
    # the definitions page lists the readable saves and names the broken line above them
    assert [r["why"] for r in kpi_history(kpis)] == ["why 3", "why 1"]
    (problem,) = history_problems(kpis)
    assert problem.startswith("kpis.history.jsonl, line 2: broken line")


def test_a_line_added_by_hand_is_reported(kpis, capsys):
    hist = _saved_three_times(kpis)
    lines = _lines(hist)
    forged = json.dumps({"who": "x@example.org", "kpi_id": "total_spend", "why": "forged"})
    _write_lines(hist, [lines[0], forged, *lines[1:]])
    code, _, err = _check(kpis, capsys)
    assert code == 1
    assert f"{hist}:2: this line carries no link to the line before it" in err
    assert f"{hist}: 1 problem(s)" in err


def test_an_older_history_without_links_is_kept_and_the_chain_starts_after_it(kpis, capsys):
    hist = history_path_for(kpis)
    old = [
        json.dumps({"when": "2026-01-05T09:00:00+00:00", "who": FIN.email, "why": "old 1"}),
        json.dumps({"when": "2026-01-06T09:00:00+00:00", "who": FIN.email, "why": "old 2"}),
    ]
    _write_lines(hist, old)
    code, out, _ = _check(kpis, capsys)
    assert code == 0
    assert "2 line(s) written before the chain existed; the next save starts it" in out
    _save(kpis, 1)
    lines = _lines(hist)
    new = json.loads(lines[2])
    assert (new["seq"], new["prev"]) == (3, line_hash(old[1].encode("utf-8")))
    code, out, _ = _check(kpis, capsys)
    assert code == 0
    assert (
        "lines 1-2 were written before the chain existed (not checked); lines 3-3 are chained"
        in out
    )
    _write_lines(hist, [old[0], lines[2]])  # the last older line deleted: its link shows it
    code, _, err = _check(kpis, capsys)
    assert code == 1 and f"{hist}:2: gap in the history" in err


# ---- the history line is part of the save's unit of work --------------------------------------


def test_stopped_after_the_history_line_before_the_journal_is_cleared(kpis, monkeypatch):
    """The line was appended, then the process stopped: the next start finds the journal,
    sees the line is there and does not write it again."""
    _save(kpis, 1)
    real = definition_writer._complete

    def complete_then_stop(pending, store):
        real(pending, store)
        raise KeyboardInterrupt  # the process stops before the journal is removed

    monkeypatch.setattr(definition_writer, "_complete", complete_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _save(kpis, 2)
    monkeypatch.undo()
    assert journal_path_for(kpis).exists()
    assert recover_pending(kpis) == "completed"
    assert [r["why"] for r in kpi_history(kpis)] == ["why 2", "why 1"]  # once, not twice
    assert verify(history_path_for(kpis)).ok


def test_a_line_cut_short_by_a_full_disk_is_written_whole_once(kpis, monkeypatch):
    _save(kpis, 1)
    real = atomic.append_line

    def half_then_full(path, line):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line[: len(line) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "append_line", half_then_full)
    with pytest.raises(EditError, match="could not be written yet"):
        _save(kpis, 2)
    assert history_problems(kpis)[0].startswith("kpis.history.jsonl, line 2: broken line")
    monkeypatch.setattr(atomic, "append_line", real)
    assert recover_pending(kpis) == "completed"
    assert [r["why"] for r in kpi_history(kpis)] == ["why 2", "why 1"]
    report = verify(history_path_for(kpis))
    assert report.ok and report.lines == 2 and report.chained_from == 1


KILLED_SAVE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from kpi.core.people import Person
    from kpi.workflows.definition_saves import edit_kpi
    from kpi.workflows.definition_versions import file_version
    kpis = Path({kpis!r})
    person = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
    edit_kpi(kpis, person, "total_spend", {{"name": "Spend 2"}}, "why 2", file_version(kpis))
    """
)


def test_killed_between_the_file_and_its_history_line_the_line_lands_once(kpis):
    _save(kpis, 1)
    code = KILLED_SAVE.format(root=str(ROOT), kpis=str(kpis))
    env = dict(os.environ, KPI_FAULT_POINT="between_file_and_record")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr.readline().strip() == "fault point between_file_and_record"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # killed: the file holds the change, its history line is only in the journal
    assert "Spend 2" in kpis.read_text(encoding="utf-8")
    assert [r["why"] for r in kpi_history(kpis)] == ["why 1"]
    pending = json.loads(journal_path_for(kpis).read_text(encoding="utf-8"))
    assert pending["history"]["why"] == "why 2"
    assert recover_pending(kpis) == "completed"  # the next start
    assert recover_pending(kpis) is None
    _save(kpis, 3)
    assert [r["why"] for r in kpi_history(kpis)] == ["why 3", "why 2", "why 1"]
    report = verify(history_path_for(kpis))
    assert report.ok and [r["seq"] for r in kpi_history(kpis)] == [3, 2, 1]
