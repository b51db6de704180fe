"""Saving KPI definitions from the app: safe round-trip writes of config/kpis.yaml.

Every save (edit, add, approve, set a target) goes through one writer that

- enforces who may do it (a member of the owning department, either department for a
  joint KPI, the CFO for any; viewers and other departments never), whatever a page shows;
- refuses a save based on a version of the file somebody else has replaced in between
  (`ConflictError` carries both versions, so the person can compare and redo);
- keeps every comment, the order and the layout of the rest of the file byte for byte:
  the entry is re-rendered with ruamel.yaml's round-trip dumper and spliced into the
  original text in place of the old entry's lines;
- validates the would-be file exactly like `python -m kpi check` and refuses with its
  issues; refuses to write over a file somebody broke by hand;
- writes atomically (temporary file in the same folder, fsync, os.replace) under a lock
  file, so two processes never interleave;
- appends one JSON line per save to the history (kpis.history.jsonl next to kpis.yaml):
  who, when, which KPI, what (a unified diff of the entry), why.

Two-key approval: an approval records the short hash of the signed content of the entry
(id, source, period_by, formula, targets; `entry_version`). Changing any of them clears
the approvals, and an agreed KPI goes back to `proposed`; it is agreed again when finance
and procurement have both approved that same content. An approval whose hash no longer
matches is void; one written by hand without a hash is taken at face value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import fcntl
import hashlib
import io
import json
import os
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import LiteralScalarString, ScalarString

from kpi.core.people import PermissionDenied, Person
from kpi.core.settings import Settings
from kpi.semantic.definitions import check_file
from kpi.semantic.kpi_definition import FIELDS, DefinitionsError, Issue, UnknownKpi

# Fields whose change alters the number both departments signed: changing one clears the
# approvals and sends an agreed KPI back to `proposed`.
SIGNED_FIELDS: tuple[str, ...] = ("source", "period_by", "formula", "targets")
DEPARTMENTS: tuple[str, ...] = ("finance", "procurement")
LOCK_TIMEOUT_S = 30.0


# ---------------------------------------------------------------------------------------
# Outcomes and refusals
# ---------------------------------------------------------------------------------------


class EditError(ValueError):
    """A save refused by a rule of the editor (not by validation); says what to do."""


class InvalidEdit(DefinitionsError):
    """The file as it would be after the save fails `kpi check`; `issues` says where."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues)
        listed = "\n".join(f"  {issue}" for issue in issues)
        Exception.__init__(self, f"Not saved: the change would not pass `kpi check`:\n{listed}")


class BrokenFile(DefinitionsError):
    """The file on disk is broken (edited by hand): the app will not write over it."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues)
        path = issues[0].path if issues else "kpis.yaml"
        listed = "\n".join(f"  {issue}" for issue in issues)
        Exception.__init__(
            self,
            f"Not saved: {path} has {len(issues)} problem(s) from a hand edit. Fix the file "
            f"by hand first (`python -m kpi check` lists them), then save again:\n{listed}",
        )


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


# ---------------------------------------------------------------------------------------
# Who may do what
# ---------------------------------------------------------------------------------------


def may_edit_kpi(person: Person | None, owner: str | None) -> bool:
    """The CFO edits any KPI; a finance or procurement member edits those their department
    owns, and joint ones. The same rule decides who may add a KPI with that owner."""
    if person is None:
        return False
    if person.role == "cfo":
        return True
    if person.role != "member" or person.department not in DEPARTMENTS:
        return False
    return owner in (person.department, "joint")


def approving_department(person: Person | None) -> str | None:
    """The department a person approves for: members approve for their department, the
    CFO for finance; viewers and other departments do not approve."""
    if person is None:
        return None
    if person.role == "cfo":
        return "finance"
    if person.role == "member" and person.department in DEPARTMENTS:
        return person.department
    return None


def _editors(owner: str | None) -> str:
    if owner in DEPARTMENTS:
        return f"{owner} members and the CFO"
    return "finance and procurement members and the CFO"


def _require_editor(person: Person, owner: Any, action: str) -> None:
    if not may_edit_kpi(person, owner if isinstance(owner, str) else None):
        raise PermissionDenied(
            f"{person.label} may not {action}: only {_editors(owner)} may "
            f"(the KPI's owner is {owner or 'not set'})."
        )


def _require_writer(person: Person | None, action: str) -> None:
    if person is None or approving_department(person) is None:
        who = person.label if person else "Nobody signed in"
        raise PermissionDenied(
            f"{who} may not {action}: only finance and procurement members and the CFO may."
        )


# ---------------------------------------------------------------------------------------
# Versions and approvals
# ---------------------------------------------------------------------------------------


def file_version(path: Path) -> str:
    """The token an editor holds: the SHA-256 of the file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def entry_version(entry: Mapping | BaseModel) -> str:
    """Short hash of what both departments sign: id, source, period_by, formula, targets."""
    data = _as_data(entry)
    signed = {key: data.get(key) for key in ("id", *SIGNED_FIELDS)}
    signed["formula"] = str(signed["formula"] or "").strip()
    signed["targets"] = {str(k): _number(v) for k, v in (data.get("targets") or {}).items()}
    text = json.dumps(signed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def approvals_state(entry: Mapping | BaseModel) -> dict[str, str]:
    """For finance and procurement: 'approved' (this content, or by hand without a
    version), 'void' (approved another content) or 'missing'."""
    data = _as_data(entry)
    version = entry_version(data)
    approvals = data.get("approvals") or {}
    state = {}
    for dept in DEPARTMENTS:
        given = approvals.get(dept) if isinstance(approvals, Mapping) else None
        if not isinstance(given, Mapping):
            state[dept] = "missing"
        elif given.get("version") in (None, version):
            state[dept] = "approved"
        else:
            state[dept] = "void"
    return state


def effective_status(entry: Mapping | BaseModel) -> str:
    """The status to show: 'agreed' only with both departments' valid approvals."""
    data = _as_data(entry)
    status = str(data.get("status") or "draft")
    if status == "agreed" and set(approvals_state(data).values()) != {"approved"}:
        return "proposed"
    return status


def read_entry(path: Path, kpi_id: str) -> tuple[dict, str]:
    """A KPI's entry as written in the file (plain data) and the file's version, read
    together: what an edit form starts from."""
    raw = Path(path).read_bytes()
    source = _Source.parse(Path(path), raw, None)
    _, entry = _find(source.entries, kpi_id, Path(path))
    return _plain(entry), _sha(raw)


def entry_yaml(entry: Mapping) -> str:
    """A KPI entry as readable YAML (block style, fields in the file's order)."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(_commented_entry(entry, None), buf)
    return buf.getvalue()


def history_path_for(path: Path) -> Path:
    """kpis.yaml → kpis.history.jsonl in the same folder."""
    path = Path(path)
    return path.with_name(f"{path.stem}.history.jsonl")


def kpi_history(
    path: Path, kpi_id: str | None = None, history_path: Path | None = None
) -> list[dict]:
    """Every recorded save (of one KPI, or all), newest first."""
    hist = Path(history_path) if history_path else history_path_for(path)
    if not hist.exists():
        return []
    records = []
    for line in hist.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line mangled by hand; the rest still reads
        if isinstance(record, dict) and (kpi_id is None or record.get("kpi_id") == kpi_id):
            records.append(record)
    return records[::-1]


# ---------------------------------------------------------------------------------------
# The saves
# ---------------------------------------------------------------------------------------


@dataclass
class _Change:
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


_Mutation = Callable[[CommentedMap, CommentedSeq], _Change]


def edit_kpi(
    path: Path,
    person: Person,
    kpi_id: str,
    changes: Mapping[str, Any],
    reason: str,
    expected_version: str,
    *,
    settings: Settings | None = None,
    history_path: Path | None = None,
) -> SaveResult:
    """Change fields of one KPI (`changes`: field → new value; None removes an optional
    field; unchanged values are ignored, so a whole form may be passed). The id and the
    approvals are not edited here, and only approvals make a KPI agreed."""
    _require_writer(person, "edit KPI definitions")
    why = _reason(reason)

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> _Change:
        index, entry = _find(entries, kpi_id, Path(path))
        before = _plain(entry)
        _require_editor(person, before.get("owner"), f"edit '{kpi_id}'")
        wanted = {k: v for k, v in changes.items() if _plain(v) != before.get(k)}
        _check_edit(wanted, before)
        if "owner" in wanted:
            _require_editor(person, wanted["owner"], f"give '{kpi_id}' to {wanted['owner']}")
        for key, value in wanted.items():
            _assign(entry, key, value)
        change = _Change(kpi_id, "edited", person.email, why, index, before, _plain(entry))
        return _after_content_change(entry, change)

    return _save(path, expected_version, kpi_id, mutate, dict(changes), settings, history_path)


def add_kpi(
    path: Path,
    person: Person,
    entry: Mapping[str, Any],
    reason: str,
    expected_version: str,
    *,
    settings: Settings | None = None,
    history_path: Path | None = None,
) -> SaveResult:
    """Append a new KPI at the end of the file, laid out like the KPI before it. Its
    owner must be the person's department or joint (the CFO: any); it starts as `draft`
    unless it says `proposed`; approvals come from `approve_kpi`."""
    _require_writer(person, "add KPIs")
    why = _reason(reason)
    new = {k: v for k, v in entry.items() if v is not None}
    kpi_id = str(new.get("id") or "")
    _require_editor(person, new.get("owner"), f"add a KPI owned by {new.get('owner')}")
    if new.get("approvals"):
        raise EditError("A new KPI starts without approvals: each department approves it.")
    if new.setdefault("status", "draft") == "agreed":
        raise EditError("A new KPI cannot start agreed: save it as draft or proposed.")

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> _Change:
        if any(isinstance(e, Mapping) and e.get("id") == kpi_id for e in entries):
            raise EditError(f"A KPI with the id '{kpi_id}' already exists: choose another id.")
        like = next((e for e in reversed(entries) if isinstance(e, CommentedMap)), None)
        entries.append(_commented_entry(new, like))
        after = _plain(entries[-1])
        return _Change(kpi_id, "added", person.email, why, len(entries) - 1, None, after)

    return _save(path, expected_version, kpi_id, mutate, new, settings, history_path)


def approve_kpi(
    path: Path,
    person: Person,
    kpi_id: str,
    expected_version: str,
    reason: str = "",
    *,
    settings: Settings | None = None,
    history_path: Path | None = None,
) -> SaveResult:
    """Approve the KPI's current content for the person's department (members; the CFO
    for finance). When both departments approved the same content, it becomes agreed.
    Approving again for a department that already approved this content changes nothing."""
    dept = approving_department(person)
    if dept is None:
        who = person.label if person else "Nobody signed in"
        raise PermissionDenied(
            f"{who} may not approve KPIs: finance members and the CFO approve for finance, "
            "procurement members for procurement."
        )

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> _Change:
        index, entry = _find(entries, kpi_id, Path(path))
        before = _plain(entry)
        change = _Change(kpi_id, "approved", person.email, reason.strip(), index, before, before)
        state = approvals_state(before)
        if state[dept] != "approved":
            _approve(entry, entries, dept, person.email)
        other = "procurement" if dept == "finance" else "finance"
        if state[other] == "void":
            change.cleared[other] = _json_safe(before["approvals"][other])
            del entry["approvals"][other]
        _settle_status(entry)
        change.after = _plain(entry)
        return change

    return _save(path, expected_version, kpi_id, mutate, None, settings, history_path)


def set_target(
    path: Path,
    person: Person,
    kpi_id: str,
    period: str,
    value: float,
    rationale: str,
    expected_version: str,
    *,
    settings: Settings | None = None,
    history_path: Path | None = None,
) -> SaveResult:
    """Write targets[period] = value (keeping the targets' style and order). Same rules as
    an edit: a target change clears the approvals and an agreed KPI becomes proposed."""
    _require_writer(person, "set targets")
    why = _reason(rationale)
    period, value = _target(period, value)

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> _Change:
        index, entry = _find(entries, kpi_id, Path(path))
        before = _plain(entry)
        _require_editor(person, before.get("owner"), f"set targets of '{kpi_id}'")
        _put_target(entry, entries, period, value)
        change = _Change(kpi_id, "target set", person.email, why, index, before, _plain(entry))
        return _after_content_change(entry, change)

    proposal = {"targets": {period: value}}
    return _save(path, expected_version, kpi_id, mutate, proposal, settings, history_path)


def set_agreed_target(
    path: Path,
    finance_person: Person,
    procurement_person: Person,
    kpi_id: str,
    period: str,
    value: float,
    rationale: str,
    expected_version: str,
    *,
    settings: Settings | None = None,
    history_path: Path | None = None,
) -> SaveResult:
    """The quarterly goals meeting: write the target and both sign-offs at once (the
    approvals name the new content), so the KPI stays or becomes agreed. Needs a finance
    member or the CFO, and a procurement member."""
    if approving_department(finance_person) != "finance":
        who = finance_person.label if finance_person else "Nobody"
        raise PermissionDenied(f"{who} cannot sign for finance: a finance member or the CFO signs.")
    if approving_department(procurement_person) != "procurement":
        who = procurement_person.label if procurement_person else "Nobody"
        raise PermissionDenied(f"{who} cannot sign for procurement: a procurement member signs.")
    why = _reason(rationale)
    period, value = _target(period, value)
    signers = [finance_person.email, procurement_person.email]

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> _Change:
        index, entry = _find(entries, kpi_id, Path(path))
        before = _plain(entry)
        _put_target(entry, entries, period, value)
        change = _Change(
            kpi_id, "target agreed", ", ".join(signers), why, index, before, _plain(entry)
        )
        change = _after_content_change(entry, change)
        for dept, email in zip(DEPARTMENTS, signers, strict=True):
            _approve(entry, entries, dept, email)  # the meeting's signers, even if approved
        _settle_status(entry)
        change.status_reset = False  # signed again in the same save
        change.signers = signers
        change.after = _plain(entry)
        return change

    proposal = {"targets": {period: value}}
    return _save(path, expected_version, kpi_id, mutate, proposal, settings, history_path)


# ---- rules shared by the saves --------------------------------------------------------


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise EditError("Say why: every change of a KPI definition is recorded with a reason.")
    return text


def _check_edit(wanted: Mapping[str, Any], before: Mapping[str, Any]) -> None:
    if "id" in wanted:
        raise EditError(
            f"The id '{before.get('id')}' cannot change: add a new KPI with the new id instead."
        )
    if "approvals" in wanted:
        raise EditError("Approvals are not edited: each department approves the KPI instead.")
    if wanted.get("status") == "agreed":
        raise EditError("A KPI becomes agreed only when finance and procurement approve it.")


def _target(period: Any, value: Any) -> tuple[str, float | int]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EditError(f"A target is a number, got {value!r}.")
    return str(period).strip(), _tidy_number(value)


def _after_content_change(entry: CommentedMap, change: _Change) -> _Change:
    """When the signed content changed: approvals are cleared (kept in the history) and
    an agreed KPI goes back to proposed."""
    before, after = change.before or {}, _plain(entry)
    if entry_version(before) == entry_version(after):
        return change
    if "approvals" in entry:
        change.cleared = _json_safe(dict(before.get("approvals") or {}))
        del entry["approvals"]
    if entry.get("status") == "agreed":
        entry["status"] = "proposed"
        change.status_reset = True
    change.after = _plain(entry)
    return change


def _approve(entry: CommentedMap, entries: CommentedSeq, dept: str, email: str) -> None:
    record = {"by": email, "on": datetime.now(UTC).date(), "version": entry_version(entry)}
    approvals = entry.get("approvals")
    if not isinstance(approvals, CommentedMap):
        like = _sibling_value(entries, "approvals")
        approvals = _commented({}, like, depth=1)
        if "approvals" in entry:
            entry["approvals"] = approvals
        else:
            entry.insert(_position(entry, "approvals"), "approvals", approvals)
    if isinstance(approvals.get(dept), CommentedMap):
        _merge_map(approvals[dept], record, 3)
    else:
        like = next((v for v in approvals.values() if isinstance(v, CommentedMap)), None)
        like = like or _child_like(_sibling_value(entries, "approvals"), dept)
        approvals[dept] = _commented(record, like, depth=2)


def _settle_status(entry: CommentedMap) -> None:
    """Agreed with both departments' valid approvals; an agreed KPI that lacks one (an
    approval voided by a hand edit) is proposed again."""
    both = set(approvals_state(_plain(entry)).values()) == {"approved"}
    if both and entry.get("status") != "agreed":
        entry["status"] = "agreed"
    elif not both and entry.get("status") == "agreed":
        entry["status"] = "proposed"


def _put_target(entry: CommentedMap, entries: CommentedSeq, period: str, value: Any) -> None:
    targets = entry.get("targets")
    if not isinstance(targets, CommentedMap):
        targets = _commented({}, _sibling_value(entries, "targets"), depth=1)
        if "targets" in entry:
            entry["targets"] = targets
        else:
            entry.insert(_position(entry, "targets"), "targets", targets)
    if period in targets:
        if _number(targets[period]) != _number(value):
            targets[period] = value
        return
    keys = [str(k) for k in targets]
    at = len(keys)
    if keys == sorted(keys):  # keep chronological files chronological
        at = sum(1 for k in keys if k < period)
    targets.insert(at, period, value)


# ---------------------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------------------


def _save(
    path: Path,
    expected_version: str,
    kpi_id: str,
    mutate: _Mutation,
    proposal: dict | None,
    settings: Settings | None,
    history_path: Path | None,
) -> SaveResult:
    """Under the lock: read, refuse a stale version, apply, validate, replace, record."""
    path = Path(path)
    with _locked(path):
        raw = path.read_bytes()
        current = _sha(raw)
        source = _Source.parse(path, raw, settings)
        if current != expected_version:
            raise _conflict(source, kpi_id, expected_version, current, mutate, proposal)
        change = mutate(source.doc, source.entries)
        if not change.changed:
            return _result(change, current, "", None)
        text, diff = source.render(change)
        data = source.encode(text)
        try:
            _replace_checked(path, data, settings)
        except OSError as exc:
            raise EditError(_disk_problem(path, exc)) from exc
        version = _sha(data)
        record = _record(change, diff, version)
        _append_history(Path(history_path) if history_path else history_path_for(path), record)
    return _result(change, version, diff, record)


def _conflict(
    source: _Source,
    kpi_id: str,
    expected: str,
    current: str,
    mutate: _Mutation,
    proposal: dict | None,
) -> ConflictError:
    """Both versions: the entry as saved now, and the person's change applied to it."""
    now = {str(e.get("id")): _plain(e) for e in source.entries if isinstance(e, Mapping)}
    current_entry, proposed = now.get(kpi_id), proposal
    with contextlib.suppress(ValueError, PermissionError, KeyError, TypeError):
        proposed = mutate(source.doc, source.entries).after
    return ConflictError(
        source.path, kpi_id, expected, current, source.text, current_entry, proposed
    )


def _result(change: _Change, version: str, diff: str, record: dict | None) -> SaveResult:
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


def _record(change: _Change, diff: str, version: str) -> dict:
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
    """An exclusive lock on a file beside the definitions (one writer at a time, across
    threads and processes); released by the OS if the process dies."""
    lock = path.with_name(f".{path.name}.lock")
    try:
        handle = open(lock, "a+b")  # noqa: SIM115 - closed by the with below
    except OSError as exc:  # a read-only folder fails here, before anything is read
        raise EditError(_disk_problem(path, exc)) from exc
    with handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EditError(
                        f"{path.name} is being saved by someone else; try again."
                    ) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _replace_checked(path: Path, data: bytes, settings: Settings | None) -> None:
    """Write a temporary file beside the definitions, check it like `kpi check`, and only
    then move it over the file (atomic on POSIX)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        issues = [dataclasses.replace(i, path=str(path)) for i in check_file(tmp, settings)]
        if issues:
            already = check_file(path, settings)
            raise BrokenFile(already) if already else InvalidEdit(issues)
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _disk_problem(path: Path, exc: OSError) -> str:
    """A failed write of the definitions as a sentence: nothing was saved, and why."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why = f"the disk holding {path.parent} is full; free some space"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = f"{path.parent} is read-only for the app; ask whoever runs it for write access"
    else:
        why = f"the file could not be written ({exc.strerror or exc})"
    return f"Not saved: {why}, then save again. {path.name} is unchanged."


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_history(hist: Path, record: dict) -> None:
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with open(hist, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


# ---------------------------------------------------------------------------------------
# Round trip: parse, render one entry, splice it into the original text
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """Lines [start, end) of one KPI entry, from its '- ' to its last value; `dash` is
    the column of the '-' (-1 when the entry does not start with one on its first line)."""

    start: int
    end: int
    dash: int


@dataclass
class _Source:
    """The file as read: its text and lines (split on '\\n' only, so the rest is rebuilt
    byte for byte), the round-trip document and where each entry sits."""

    path: Path
    text: str
    lines: list[str]
    bom: bool
    doc: CommentedMap
    entries: CommentedSeq
    spans: list[_Span]
    indent: tuple[int, int, int]

    @classmethod
    def parse(cls, path: Path, raw: bytes, settings: Settings | None) -> _Source:
        try:
            text = raw.decode("utf-8-sig")
            node, doc = _parse(text)
        except (YAMLError, ValueError) as exc:
            issues = check_file(path, settings) or [Issue(str(path), None, None, None, str(exc))]
            raise BrokenFile(issues) from None
        kpis = doc.get("kpis") if isinstance(doc, CommentedMap) else None
        if not isinstance(doc, CommentedMap) or not isinstance(kpis, CommentedSeq | None):
            raise BrokenFile(check_file(path, settings))
        if kpis is None:
            doc["kpis"] = CommentedSeq()
        lines = text.split("\n")
        items = _kpis_node(node)
        spans, indent = _spans(items, lines), _indent(node, items, lines)
        bom = raw.startswith(b"\xef\xbb\xbf")
        return cls(path, text, lines, bom, doc, doc["kpis"], spans, indent)

    @property
    def crlf(self) -> bool:
        return self.text.count("\r\n") > self.text.count("\n") // 2

    def encode(self, text: str) -> bytes:
        return ("\ufeff" if self.bom else "").encode("utf-8") + text.encode("utf-8")

    def render(self, change: _Change) -> tuple[str, str]:
        """The new file text and the unified diff of the entry: the entry's new lines in
        place of its old ones (or after the last entry), checked to read back as the
        document; a layout that cannot be followed gets the whole file round-tripped."""
        i = change.index
        old = self.lines[self.spans[i].start : self.spans[i].end] if i < len(self.spans) else []
        new = self._entry_lines(i, old)
        text = self._splice(new, i) if new is not None else None
        if text is None or not _reads_as(text, self.doc):
            text = self._dump(self.doc)
            lines = text.split("\n")
            span = _spans(_kpis_node(_parse(text)[0]), lines)[i]
            new = lines[span.start : span.end]
            if self.crlf:
                text = "\r\n".join(line.rstrip("\r") for line in lines)
        name = f"{self.path.name} {change.kpi_id}"
        diff = difflib.unified_diff(
            [line.rstrip("\r") + "\n" for line in old],
            [line.rstrip("\r") + "\n" for line in new or []],
            fromfile=f"{name} (before)",
            tofile=f"{name} (after)",
        )
        return text, "".join(diff)

    def _entry_lines(self, i: int, old: list[str]) -> list[str] | None:
        """Entry i rendered on its own by the round-trip dumper, at the file's column."""
        root = CommentedMap()
        root["kpis"] = CommentedSeq([self.entries[i]])
        dumped = self._dump(root)
        lines = dumped.split("\n")
        spans = _spans(_kpis_node(_round_trip(None).compose(io.StringIO(dumped))), lines)
        if not spans or spans[0].dash < 0 or not self.spans or self.spans[0].dash < 0:
            return None
        span = spans[0]
        dash = self.spans[min(i, len(self.spans) - 1)].dash
        new = _without_strays(_shift(lines[span.start : span.end], dash - span.dash), old)
        return [line.rstrip("\r") + "\r" for line in new] if self.crlf else new

    def _splice(self, entry: list[str], i: int) -> str | None:
        lines = self.lines
        if any(span.dash < 0 for span in self.spans):
            return None
        if i < len(self.spans):  # an edit: the entry's lines replaced
            span = self.spans[i]
            return "\n".join(lines[: span.start] + entry + lines[span.end :])
        end = self.spans[-1].end  # an add: after the last entry, spaced like the others
        gap = [""] if len(self.spans) < 2 or not lines[self.spans[1].start - 1].strip() else []
        return "\n".join(lines[:end] + gap + entry + lines[end:])

    def _dump(self, data: Any) -> str:
        buf = io.StringIO()
        _round_trip(self.indent).dump(data, buf)
        return buf.getvalue()


def _reads_as(text: str, doc: Any) -> bool:
    try:
        return _plain(_parse(text)[1]) == _plain(doc)
    except (YAMLError, ValueError):
        return False


def _parse(text: str) -> tuple[Node | None, Any]:
    """One parse: the node tree (lines and columns) and the round-trip data built from it."""
    yaml = _round_trip(None)
    node = yaml.compose(io.StringIO(text))
    return node, (yaml.constructor.construct_document(node) if node is not None else None)


def _round_trip(indent: tuple[int, int, int] | None) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    mapping, sequence, offset = indent or (2, 4, 2)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _kpis_node(root: Node | None) -> list[Node]:
    for key, value in root.value if isinstance(root, MappingNode) else []:
        is_kpis = isinstance(key, ScalarNode) and key.value == "kpis"
        if is_kpis and isinstance(value, SequenceNode) and not value.flow_style:
            return list(value.value)
    return []


def _spans(items: list[Node], lines: list[str]) -> list[_Span]:
    spans = []
    for n, item in enumerate(items):
        start = item.start_mark.line
        end = _end_line(item)
        if n + 1 < len(items):
            end = min(end, items[n + 1].start_mark.line)
        text = lines[start] if start < len(lines) else ""
        dash = len(text) - len(text.lstrip(" "))
        dash = dash if text[dash : dash + 1] == "-" else -1
        spans.append(_Span(start, max(end, start + 1), dash))
    return spans


def _end_line(node: Node) -> int:
    """The line after the last character of a node's content (comments after it are not
    part of it: they stay where they are in the file)."""
    key: Node | None = None
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        if isinstance(node, MappingNode):
            key, node = node.value[-1]
        else:
            key, node = None, node.value[-1]
    if isinstance(node, ScalarNode) and node.value == "" and not node.style and key is not None:
        return key.end_mark.line + 1  # `key:` with nothing after it
    mark = node.end_mark
    return mark.line if mark.column == 0 and mark.line > node.start_mark.line else mark.line + 1


def _indent(root: Node | None, items: list[Node], lines: list[str]) -> tuple[int, int, int]:
    """The file's indentation (mapping, sequence, offset) as ruamel.yaml's settings."""
    if not items or not isinstance(root, MappingNode):
        return (2, 4, 2)
    key = next(k for k, v in root.value if isinstance(k, ScalarNode) and k.value == "kpis")
    first = items[0]
    text = lines[first.start_mark.line]
    dash = len(text) - len(text.lstrip(" "))
    sequence = first.start_mark.column - key.start_mark.column
    offset = dash - key.start_mark.column
    mapping = 2
    if isinstance(first, MappingNode):
        for k, v in first.value:
            if isinstance(v, MappingNode) and not v.flow_style and v.value:
                mapping = v.value[0][0].start_mark.column - k.start_mark.column
                break
    if offset < 0 or sequence < offset + 2 or mapping < 1:
        return (2, 4, 2)
    return (mapping, sequence, offset)


def _without_strays(new: list[str], old: list[str]) -> list[str]:
    """The entry's new lines without blank or comment lines it did not have: ruamel.yaml
    keeps the lines that follow an entry with its last key, so a key added after that one
    would carry them into the entry (they stay, from the original text, after it)."""
    kept = Counter(line.strip() for line in old if _trivia(line))
    out = []
    for line in new:
        if _trivia(line):
            if kept[line.strip()] <= 0:
                continue
            kept[line.strip()] -= 1
        out.append(line)
    return out


def _trivia(line: str) -> bool:
    text = line.strip()
    return not text or text.startswith("#")


def _shift(lines: list[str], delta: int) -> list[str]:
    if delta > 0:
        return [" " * delta + line if line.strip() else line for line in lines]
    if delta < 0:
        return [line[min(-delta, len(line) - len(line.lstrip(" "))) :] for line in lines]
    return lines


# ---------------------------------------------------------------------------------------
# Values in the round-trip document, in the style of their neighbours
# ---------------------------------------------------------------------------------------


def _find(entries: Sequence[Any], kpi_id: str, path: Path) -> tuple[int, CommentedMap]:
    for index, entry in enumerate(entries):
        if isinstance(entry, CommentedMap) and entry.get("id") == kpi_id:
            return index, entry
    known = [str(e.get("id")) for e in entries if isinstance(e, Mapping)]
    close = difflib.get_close_matches(kpi_id, known, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownKpi(f"There is no KPI '{kpi_id}' in {path.name}.{hint}")


def _assign(mapping: CommentedMap, key: Any, value: Any, depth: int = 1) -> None:
    """Set mapping[key] keeping what is unchanged as it is written (style, comments);
    `depth` is the value's depth below the entry (1 for a field of the entry)."""
    if value is None:
        if key in mapping:
            del mapping[key]
        return
    old = mapping.get(key)
    if isinstance(old, CommentedMap) and isinstance(value, Mapping):
        _merge_map(old, value, depth + 1)
    elif isinstance(old, CommentedSeq) and isinstance(value, list | tuple):
        if _plain(old) != _plain(list(value)):
            del old[:]
            old.extend(_commented(v, None, depth + 1) for v in value)
    elif key in mapping:
        if _plain(old) != _plain(value):
            mapping[key] = _commented(value, old, depth)
    else:
        mapping.insert(_position(mapping, key, depth), key, _commented(value, None, depth))


def _merge_map(old: CommentedMap, new: Mapping, depth: int) -> None:
    for key in [k for k in old if k not in new]:
        del old[key]
    for key, value in new.items():
        _assign(old, key, value, depth)


def _position(mapping: CommentedMap, key: Any, depth: int = 1) -> int:
    """Where a new key goes: a field of the entry in the order of the KPI fields, anything
    else at the end."""
    if depth != 1 or key not in FIELDS:
        return len(mapping)
    rank = FIELDS.index(key)
    for pos, existing in enumerate(mapping):
        if existing in FIELDS and FIELDS.index(existing) > rank:
            return pos
    return len(mapping)


def _commented_entry(entry: Mapping[str, Any], like: CommentedMap | None) -> CommentedMap:
    """A new entry, fields in the usual order, each styled like the same field of `like`."""
    keys = [k for k in FIELDS if k in entry] + [k for k in entry if k not in FIELDS]
    out = CommentedMap()
    for key in keys:
        if entry[key] is not None:
            sibling = like.get(key) if isinstance(like, CommentedMap) else None
            if not isinstance(sibling, CommentedMap | CommentedSeq):
                sibling = None  # another KPI's text style (folded, quoted) is not copied
            out[key] = _commented(entry[key], sibling, depth=1, flow=key == "raci" or None)
    return out


def _commented(value: Any, like: Any, depth: int, flow: bool | None = None) -> Any:
    """Plain data as round-trip data, styled like `like` (the value it replaces or a
    sibling's); without one, lists and nested records are flow style, the rest block."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _commented(item, _child_like(like, key), depth + 1)
        if _flow_of(like, flow if flow is not None else depth >= 2):
            out.fa.set_flow_style()
        else:
            out.fa.set_block_style()
        return out
    if isinstance(value, list | tuple):
        seq = CommentedSeq(_commented(v, None, depth + 1) for v in value)
        if _flow_of(like, True):
            seq.fa.set_flow_style()
        else:
            seq.fa.set_block_style()
        return seq
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _tidy_number(value)
    if isinstance(value, str):
        if isinstance(like, ScalarString):
            return type(like)(value)
        return LiteralScalarString(value) if "\n" in value else value
    return value


def _flow_of(like: Any, default: bool) -> bool:
    if isinstance(like, CommentedMap | CommentedSeq):
        style = like.fa.flow_style()
        return bool(style) if style is not None else default
    return default


def _child_like(like: Any, key: Any) -> Any:
    if not isinstance(like, CommentedMap):
        return None
    if key in like:
        return like[key]
    return next((v for v in like.values() if isinstance(v, CommentedMap)), None)


def _sibling_value(entries: CommentedSeq, key: str) -> Any:
    """The same field in another entry, for its style."""
    for entry in entries:
        if isinstance(entry, CommentedMap) and isinstance(entry.get(key), CommentedMap):
            return entry[key]
    return None


# ---- plain data -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Round-trip data as plain Python (dict, list, str, int, float, bool, date)."""
    if isinstance(value, Mapping):
        return {(str(k) if isinstance(k, str) else k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _as_data(entry: Mapping | BaseModel) -> dict:
    if isinstance(entry, BaseModel):
        return entry.model_dump()
    return _plain(entry)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(_plain(value), default=str))


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return float(value)


def _tidy_number(value: float | int) -> float | int:
    """1000000.0 is written 1000000; 0.7 stays 0.7."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return int(value) if isinstance(value, int) else float(value)


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ---- for editors: one entry checked alone, the catalogue, a targets table --------------------

APPROVAL_SHOWN = {
    "approved": "✓ approved",
    "void": "✗ void (older version)",
    "missing": "– not yet",
}
CATALOGUE_COLUMNS = (
    "id",
    "name",
    "owner",
    "theme",
    "unit",
    "status",
    "finance_approval",
    "procurement_approval",
    "description",
)


def entry_text(entry: dict) -> str:
    """One entry as a definitions file of its own, to check it exactly as `kpi check` does."""
    import yaml

    return yaml.safe_dump({"version": 1, "kpis": [entry]}, sort_keys=False, allow_unicode=True)


def check_candidate(text: str, settings: Settings | None = None) -> tuple[list, list[Issue]]:
    """The definitions a would-be file gives, or every issue `kpi check` would report."""
    from kpi.semantic.definitions import load_definitions

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder) / "kpis.yaml"
        tmp.write_text(text, encoding="utf-8")
        try:
            return load_definitions(tmp, settings), []
        except DefinitionsError as exc:
            return [], list(exc.issues)


def catalogue(definitions: Sequence) -> pl.DataFrame:
    """One row per KPI with its effective status and each department's approval state."""
    rows = []
    for k in definitions:
        state = approvals_state(k)
        rows.append(
            {
                "id": k.id,
                "name": k.name,
                "owner": k.owner,
                "theme": k.theme,
                "unit": k.unit,
                "status": effective_status(k),
                "finance_approval": APPROVAL_SHOWN[state["finance"]],
                "procurement_approval": APPROVAL_SHOWN[state["procurement"]],
                "description": k.description,
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(CATALOGUE_COLUMNS, pl.String))


def targets_from_rows(rows: Sequence[tuple[object, object]]) -> tuple[dict, list[str]]:
    """(period, value) rows of a targets table → mapping, and the periods given twice."""
    import math

    targets: dict[str, float | None] = {}
    twice = []
    for period, value in rows:
        if period is None or not str(period).strip():
            continue
        label = str(period).strip()
        if label in targets:
            twice.append(label)
        bad = value is None or (isinstance(value, float) and math.isnan(value))
        targets[label] = None if bad else float(value)
    return targets, twice
