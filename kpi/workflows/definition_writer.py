"""The one writer of config/kpis.yaml: locked, checked, atomic, recorded, one unit of work.

Every save (kpi.workflows.definition_saves) goes through `save`, which under a lock file
reads the file, refuses a save based on a version somebody else has replaced in between
(`ConflictError` carries both versions), applies the change, validates the would-be file
exactly like `python -m kpi check` (refusing with its issues, and refusing to write over a
file somebody broke by hand), replaces the file atomically and appends one JSON line to
the history (kpis.history.jsonl next to kpis.yaml): who, when, which KPI, what (a unified
diff of the entry), why. A target agreed in the goals meeting also writes its decision row
into the store's `goal_decisions` (kpi.workflows.goal_decisions).

A write that spans two places is one unit of work. The file and its history line (and a
decision row) are two or three writes, so under the lock a save

1. writes a journal first (kpis.pending.json beside kpis.yaml, itself replaced atomically):
   the file's version before and after, the history line and the decision row;
2. replaces kpis.yaml;
3. appends the history line and writes the decision row;
4. removes the journal.

A journal left behind (the process killed, the disk full at step 3) is settled by
`recover_pending` before the next save and when the app starts: if kpis.yaml has the
journal's "after" version the save landed, so its history line and decision row are
written now (each only if it is not there yet); any other version means the file was not
replaced (or was changed by hand since), so nothing was recorded and the journal is
dropped. Either both places hold the change, with who, when and why, or neither does.

The history is chained (kpi.workflows.history_chain): each line carries the hash of the
line before it, computed when the line is appended, under the lock, so a line completed by
`recover_pending` links like one written at once; it is appended only if it is not there
yet, and a line of its own cut short by a full disk is cut away and written whole. Every
file written here is created readable by its owner only, and a replaced file keeps its mode
(kpi.core.atomic).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kpi.core import atomic
from kpi.core.settings import Settings, kpis_path, load_settings
from kpi.semantic import rollups
from kpi.semantic.definitions import DefinitionsError, Issue, check_file
from kpi.store.database import Store, StoreError
from kpi.store.stores import open_store
from kpi.workflows.definition_versions import entry_version, entry_yaml, history_path_for
from kpi.workflows.goal_decisions import record_decision
from kpi.workflows.history_chain import plan_append
from kpi.workflows.yaml_splice import BrokenFile, SourceFile, plain, sha

LOCK_TIMEOUT_S = 30.0
# Test hook: `KPI_FAULT_POINT=between_file_and_record` makes a save stop for a minute after
# kpis.yaml is replaced and before its history line and decision row are written, saying so
# on stderr, so a test can kill it at that exact moment (as kpi.store.database does).
FAULT_POINT_ENV = "KPI_FAULT_POINT"


class EditError(ValueError):
    """A save refused by a rule of the editor (not by validation); says what to do."""


class InvalidEdit(DefinitionsError):
    """The file as it would be after the save fails `kpi check`; `issues` says where."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues)
        listed = "\n".join(f"  {issue}" for issue in issues)
        Exception.__init__(self, f"Not saved: the change would not pass `kpi check`:\n{listed}")


class ConflictError(RuntimeError):
    """Somebody saved the file after the person opened it: nothing was written.

    Holds both versions: `current_entry` (the KPI as saved now; None if it is gone or the
    save was an add) with `current_text` (the whole file) and `current_version`, and
    `proposed_entry`, the person's change applied to the current entry (or what they
    sent, when it cannot be applied). A page shows both and lets the person redo.
    """

    def __init__(
        self,
        path: Path,
        kpi_id: str,
        expected_version: str,
        current_version: str,
        current_text: str,
        current_entry: dict | None,
        proposed_entry: dict | None,
        saved_by: str | None = None,
    ) -> None:
        first = f" ({saved_by})" if saved_by else ""
        super().__init__(
            f"Not saved: {path.name} was changed by someone else since you opened it{first}; "
            f"nothing of yours was written. Compare their version of '{kpi_id}' with yours "
            "and redo your change."
        )
        self.path = path
        self.kpi_id = kpi_id
        self.expected_version = expected_version
        self.current_version = current_version
        self.current_text = current_text
        self.current_entry = current_entry
        self.proposed_entry = proposed_entry

    @property
    def current_entry_yaml(self) -> str:
        return entry_yaml(self.current_entry) if self.current_entry else ""

    @property
    def proposed_entry_yaml(self) -> str:
        return entry_yaml(self.proposed_entry) if self.proposed_entry else ""


@dataclass(frozen=True)
class SaveResult:
    """What a save did. `changed` is False when there was nothing to write (then `diff`
    is empty, no history line is written and `version` is the unchanged file's)."""

    kpi_id: str
    action: str
    changed: bool
    version: str
    entry_version: str
    status: str | None
    status_reset: bool = False
    cleared_approvals: dict[str, dict] = field(default_factory=dict)
    diff: str = ""
    record: dict | None = None
    message: str = ""


@dataclass
class Change:
    """What a mutation did to the parsed file, for the writer and the history."""

    kpi_id: str
    action: str
    who: str
    why: str
    index: int
    before: dict | None
    after: dict
    status_reset: bool = False
    cleared: dict[str, dict] = field(default_factory=dict)
    signers: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after


Mutation = Callable[[CommentedMap, CommentedSeq], Change]


def save(
    path: Path,
    expected_version: str,
    kpi_id: str,
    mutate: Mutation,
    proposal: dict | None,
    settings: Settings | None,
    history_path: Path | None,
    decision: dict[str, Any] | None = None,
    store: Store | None = None,
) -> SaveResult:
    """Under the lock: settle a leftover journal, read, refuse a stale version, apply,
    validate, then journal, replace, record (history line; with `decision`, its row in
    `store`, carrying the new file version) and clear the journal."""
    path = Path(path)
    hist = Path(history_path) if history_path else history_path_for(path)
    with _locked(path) as lease:
        _settle(path)
        raw = path.read_bytes()
        current = sha(raw)
        source = SourceFile.parse(path, raw, settings)
        if current != expected_version:
            raise conflict(source, kpi_id, expected_version, current, mutate, proposal, hist)
        change = mutate(source.doc, source.entries)
        if not change.changed:
            if decision is not None and store is not None:
                record_decision(store, {**decision, "kpis_version": current})
            return result(change, current, "", None)
        text, diff = source.render(change.index, change.kpi_id)
        data = source.encode(text)
        version = sha(data)
        record = history_record(change, diff, version)
        pending = {
            "file": path.name,
            "before": current,
            "after": version,
            "history_path": str(hist),
            "history": record,
            "decision": None if decision is None else {**decision, "kpis_version": version},
            "store": None if store is None or decision is None else str(store.location),
        }
        journal = journal_path_for(path)
        try:
            _still_ours(lease, path, current)
            atomic.replace(journal, _journal_bytes(pending))
            _replace_checked(path, data, settings)
        except OSError as exc:
            journal.unlink(missing_ok=True)
            raise EditError(disk_problem(path, exc)) from exc
        except BaseException:
            journal.unlink(missing_ok=True)
            raise
        _fault_point("between_file_and_record")
        try:
            _complete(pending, store)
        except (OSError, StoreError) as exc:
            raise EditError(_not_recorded(path, change.kpi_id, exc)) from exc
        journal.unlink(missing_ok=True)
        atomic.fsync_dir(path.parent)
    _refresh_rollups(path, settings)
    return result(change, version, diff, record)


def _refresh_rollups(path: Path, settings: Settings | None) -> None:
    """A saved formula may need measures the rollups do not hold yet: the company's store
    refreshes them in the background (the changed KPI is computed live until then)."""
    if path.resolve() != kpis_path().resolve():
        return  # a definitions file of its own (a test, a draft): no store of its own
    store = open_store(None, settings or load_settings())
    rollups.refresh_in_background(store)


def conflict(
    source: SourceFile,
    kpi_id: str,
    expected: str,
    current: str,
    mutate: Mutation,
    proposal: dict | None,
    history_path: Path | None = None,
) -> ConflictError:
    """Both versions: the entry as saved now, and the person's change applied to it; and,
    when the history says so, who saved first."""
    now = {str(e.get("id")): plain(e) for e in source.entries if isinstance(e, Mapping)}
    current_entry, proposed = now.get(kpi_id), proposal
    with contextlib.suppress(ValueError, PermissionError, KeyError, TypeError):
        proposed = mutate(source.doc, source.entries).after
    saved_by = saved_since(history_path, current) if history_path else None
    return ConflictError(
        source.path, kpi_id, expected, current, source.text, current_entry, proposed, saved_by
    )


def saved_since(hist: Path, current: str) -> str | None:
    """Who made the file's `current` version, from the history: "<who> saved '<kpi>' at
    <time> UTC"; None when the history does not say (the file was changed by hand)."""
    try:
        lines = hist.read_text(encoding="utf-8").splitlines()[-200:]
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("file_version") != current:
            continue
        when = str(record.get("when", "")).replace("T", " ")[:16]
        return f"{_name(str(record.get('who')))} saved '{record.get('kpi_id')}' at {when} UTC"
    return None


def _name(email: str) -> str:
    """A person by name (config/people.yaml), as the pages show people; their address when
    the file does not list them or cannot be read. Imported here: only a conflict needs it."""
    import yaml

    from kpi.core.people import load_people
    from kpi.core.permissions import same_address

    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError, yaml.YAMLError):
        for person in load_people():
            if same_address(person.email, email):
                return person.name
    return email


def result(change: Change, version: str, diff: str, record: dict | None) -> SaveResult:
    after = change.after
    status = after.get("status")
    message = f"Saved '{change.kpi_id}' ({change.action})." if change.changed else "No change."
    if change.status_reset:
        message += (
            " Its signed content changed, so it is proposed again until finance and "
            "procurement both approve it."
        )
    elif change.changed and status == "agreed" and change.action in ("approved", "target agreed"):
        message += " Both departments approved it: it is agreed."
    return SaveResult(
        kpi_id=change.kpi_id,
        action=change.action,
        changed=change.changed,
        version=version,
        entry_version=entry_version(after),
        status=str(status) if status is not None else None,
        status_reset=change.status_reset,
        cleared_approvals=change.cleared,
        diff=diff,
        record=record,
        message=message,
    )


def history_record(change: Change, diff: str, version: str) -> dict:
    before = change.before or {}
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "who": change.who,
        "kpi_id": change.kpi_id,
        "action": change.action,
        "why": change.why,
        "diff": diff,
        "status_from": before.get("status"),
        "status_to": change.after.get("status"),
        "status_reset": change.status_reset,
        "cleared_approvals": change.cleared,
        "signers": change.signers,
        "entry_version": entry_version(change.after),
        "file_version": version,
    }


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[atomic.Lease]:
    """One writer of the definitions at a time, on this machine and across app replicas
    sharing the folder (kpi.core.atomic.locked), its refusals as sentences: a folder the
    app cannot write, or somebody else saving right now."""
    stack = contextlib.ExitStack()
    try:
        lease = stack.enter_context(atomic.locked(path, LOCK_TIMEOUT_S))
    except atomic.Busy:
        raise EditError(f"{path.name} is being saved by someone else; try again.") from None
    except OSError as exc:  # a read-only folder fails here, before anything is read
        raise EditError(disk_problem(path, exc)) from exc
    with stack:
        yield lease


def _still_ours(lease: atomic.Lease, path: Path, version: str) -> None:
    """Just before the file is replaced: the lock is still this save's (a process frozen
    past the lease's bound may have lost it) and the file is still the version read under
    it. Either failing means another writer is at work: nothing is written."""
    try:
        lease.check()
        unchanged = sha(path.read_bytes()) == version
    except atomic.LeaseLost:
        unchanged = False
    if not unchanged:
        raise EditError(
            f"Not saved: someone else was saving {path.name} at the same moment. "
            f"{path.name} is unchanged by you; open it again and redo your change."
        )


def _replace_checked(path: Path, data: bytes, settings: Settings | None) -> None:
    """Replace the file atomically, with the would-be file checked like `kpi check` first."""

    def check(tmp: Path) -> None:
        issues = [dataclasses.replace(i, path=str(path)) for i in check_file(tmp, settings)]
        if issues:
            already = check_file(path, settings)
            raise BrokenFile(already) if already else InvalidEdit(issues)

    atomic.replace(path, data, check)


def disk_problem(path: Path, exc: OSError) -> str:
    """A failed write of the definitions as a sentence: nothing was saved, and why."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why = f"the disk holding {path.parent} is full; free some space"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = f"{path.parent} is read-only for the app; ask whoever runs it for write access"
    else:
        why = f"the file could not be written ({exc.strerror or exc})"
    return f"Not saved: {why}, then save again. {path.name} is unchanged."


def _append_history(hist: Path, record: dict) -> None:
    """Append `record` as the next link of the chained history (kpi.workflows.history_chain),
    first cutting away this same line if an earlier try was cut short by a full disk."""
    try:
        existing = hist.read_bytes()
    except FileNotFoundError:
        existing = b""
    plan = plan_append(existing, record)
    if plan.keep is not None:
        os.truncate(hist, plan.keep)
    atomic.append_line(hist, plan.text.removesuffix("\n"))


# ---- the journal: a save that spans two places -------------------------------------------


def journal_path_for(path: Path) -> Path:
    """kpis.yaml → kpis.pending.json in the same folder."""
    path = Path(path)
    return path.with_name(f"{path.stem}.pending.json")


def recover_pending(path: Path) -> str | None:
    """Settle a save left half done (see the module's docstring): 'completed' (its history
    line and decision row written now), 'dropped' (the file was not replaced), 'pending'
    (it cannot be settled yet: the disk is still full, the folder read-only; the next
    start or save tries again), or None when there was nothing to settle. Run when the
    app starts; every save runs it too."""
    path = Path(path)
    if not journal_path_for(path).exists():
        return None
    try:
        with _locked(path):
            return _settle(path)
    except (EditError, OSError, StoreError):
        return "pending"


def _settle(path: Path) -> str | None:
    """Under the lock: complete or drop the journal beside `path`."""
    journal = journal_path_for(path)
    try:
        pending = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:  # a journal cut short: written before the file, so the file is as before
        journal.unlink(missing_ok=True)
        return "dropped"
    try:
        landed = sha(path.read_bytes()) == pending.get("after")
    except FileNotFoundError:
        landed = False
    if landed:
        store = open_store(pending["store"]) if pending.get("store") else None
        _complete(pending, store)
    journal.unlink(missing_ok=True)
    atomic.fsync_dir(path.parent)
    return "completed" if landed else "dropped"


def _complete(pending: dict[str, Any], store: Store | None) -> None:
    """The second write(s) of a save whose file landed, each skipped when already there."""
    hist = Path(pending["history_path"])
    record = pending["history"]
    if not _has_record(hist, record):
        _append_history(hist, record)
    decision = pending.get("decision")
    if decision is not None and store is not None:
        decided_at = decision["decided_at"]
        if isinstance(decided_at, str):
            decided_at = datetime.fromisoformat(decided_at)
        record_decision(store, {**decision, "decided_at": decided_at})


def _has_record(hist: Path, record: dict) -> bool:
    if not hist.exists():
        return False
    key = (record.get("when"), record.get("kpi_id"), record.get("file_version"))
    for line in hist.read_text(encoding="utf-8").splitlines()[-50:]:
        try:
            seen = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(seen, dict)
            and (
                seen.get("when"),
                seen.get("kpi_id"),
                seen.get("file_version"),
            )
            == key
        ):
            return True
    return False


def _journal_bytes(pending: dict[str, Any]) -> bytes:
    return json.dumps(pending, ensure_ascii=False, default=str).encode("utf-8")


def _not_recorded(path: Path, kpi_id: str, exc: BaseException) -> str:
    """The file was saved but its record could not be written yet: it will be."""
    return (
        f"Saved '{kpi_id}' in {path.name}, but its record (history line or decision) could "
        f"not be written yet ({exc}). It is kept in {journal_path_for(path).name} and written "
        "on the next save or when the app starts; free some space if the disk is full."
    )


def _fault_point(name: str) -> None:
    """Stop here for a minute when a test asked for it (see FAULT_POINT_ENV)."""
    if os.environ.get(FAULT_POINT_ENV) == name:
        print(f"fault point {name}", file=sys.stderr, flush=True)
        time.sleep(60)
