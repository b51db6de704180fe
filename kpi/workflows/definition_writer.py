"""The one writer of config/kpis.yaml: locked, checked, atomic, recorded.

Every save (kpi.workflows.definition_saves) goes through `save`, which under a lock file
reads the file, refuses a save based on a version somebody else has replaced in between
(`ConflictError` carries both versions), applies the change, validates the would-be file
exactly like `python -m kpi check` (refusing with its issues, and refusing to write over a
file somebody broke by hand), replaces the file atomically and appends one JSON line to
the history (kpis.history.jsonl next to kpis.yaml): who, when, which KPI, what (a unified
diff of the entry), why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kpi.core import atomic
from kpi.core.settings import Settings
from kpi.semantic.definitions import DefinitionsError, Issue, check_file
from kpi.workflows.definition_versions import entry_version, entry_yaml, history_path_for
from kpi.workflows.yaml_splice import BrokenFile, SourceFile, plain, sha

LOCK_TIMEOUT_S = 30.0


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
    ) -> None:
        super().__init__(
            f"Not saved: {path.name} was changed by someone else since you opened it. "
            f"Compare their version of '{kpi_id}' with yours and redo your change."
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
) -> SaveResult:
    """Under the lock: read, refuse a stale version, apply, validate, replace, record."""
    path = Path(path)
    with _locked(path):
        raw = path.read_bytes()
        current = sha(raw)
        source = SourceFile.parse(path, raw, settings)
        if current != expected_version:
            raise conflict(source, kpi_id, expected_version, current, mutate, proposal)
        change = mutate(source.doc, source.entries)
        if not change.changed:
            return result(change, current, "", None)
        text, diff = source.render(change.index, change.kpi_id)
        data = source.encode(text)
        try:
            _replace_checked(path, data, settings)
        except OSError as exc:
            raise EditError(disk_problem(path, exc)) from exc
        version = sha(data)
        record = history_record(change, diff, version)
        _append_history(Path(history_path) if history_path else history_path_for(path), record)
    return result(change, version, diff, record)


def conflict(
    source: SourceFile,
    kpi_id: str,
    expected: str,
    current: str,
    mutate: Mutation,
    proposal: dict | None,
) -> ConflictError:
    """Both versions: the entry as saved now, and the person's change applied to it."""
    now = {str(e.get("id")): plain(e) for e in source.entries if isinstance(e, Mapping)}
    current_entry, proposed = now.get(kpi_id), proposal
    with contextlib.suppress(ValueError, PermissionError, KeyError, TypeError):
        proposed = mutate(source.doc, source.entries).after
    return ConflictError(
        source.path, kpi_id, expected, current, source.text, current_entry, proposed
    )


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
def _locked(path: Path) -> Iterator[None]:
    """One writer of the definitions at a time (kpi.core.atomic.locked), its refusals as
    sentences: a folder the app cannot write, or somebody else saving right now."""
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(atomic.locked(path, LOCK_TIMEOUT_S))
    except atomic.Busy:
        raise EditError(f"{path.name} is being saved by someone else; try again.") from None
    except OSError as exc:  # a read-only folder fails here, before anything is read
        raise EditError(disk_problem(path, exc)) from exc
    with stack:
        yield


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
    atomic.append_line(hist, json.dumps(record, ensure_ascii=False, default=str))
