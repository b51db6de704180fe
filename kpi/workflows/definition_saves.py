"""Saving KPI definitions from the app: edit, add, approve, set a target, sign a target.

Each save enforces who may do it (kpi.core.permissions: a member of the owning department,
either department for a joint KPI, the CFO for any; viewers and other departments never),
whatever a page shows, then hands its change to the one writer
(kpi.workflows.definition_writer). A change of the signed content clears the approvals and
sends an agreed KPI back to `proposed` (kpi.workflows.definition_versions). Approving and
signing a target write only the acting person's own signature, for their own department:
an agreement is two acts by two people.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kpi.core.people import Person, load_people
from kpi.core.permissions import (
    require_approver,
    require_definition_writer,
    require_kpi_editor,
    require_signer,
    same_address,
)
from kpi.core.settings import Settings
from kpi.store.database import Store
from kpi.workflows.definition_versions import approval_checks, approvals_state, entry_version
from kpi.workflows.definition_writer import Change, EditError, Mutation, SaveResult, save
from kpi.workflows.yaml_splice import (
    SourceFile,
    assign,
    child_like,
    commented,
    commented_entry,
    comparable,
    find_entry,
    json_safe,
    merge_map,
    plain,
    position,
    sha,
    sibling_value,
    tidy_number,
)


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
    require_definition_writer(person, "edit KPI definitions")
    why = _reason(reason)

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> Change:
        index, entry = find_entry(entries, kpi_id, Path(path))
        before = plain(entry)
        require_kpi_editor(person, before.get("owner"), f"edit '{kpi_id}'")
        wanted = {k: v for k, v in changes.items() if plain(v) != before.get(k)}
        _check_edit(wanted, before)
        if "owner" in wanted:
            require_kpi_editor(person, wanted["owner"], f"give '{kpi_id}' to {wanted['owner']}")
        for key, value in wanted.items():
            assign(entry, key, value)
        change = Change(kpi_id, "edited", person.email, why, index, before, plain(entry))
        return _after_content_change(entry, change)

    return save(path, expected_version, kpi_id, mutate, dict(changes), settings, history_path)


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
    require_definition_writer(person, "add KPIs")
    why = _reason(reason)
    new = {k: v for k, v in entry.items() if v is not None}
    kpi_id = str(new.get("id") or "")
    require_kpi_editor(person, new.get("owner"), f"add a KPI owned by {new.get('owner')}")
    if new.get("approvals"):
        raise EditError("A new KPI starts without approvals: each department approves it.")
    if new.setdefault("status", "draft") == "agreed":
        raise EditError("A new KPI cannot start agreed: save it as draft or proposed.")

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> Change:
        if any(isinstance(e, Mapping) and e.get("id") == kpi_id for e in entries):
            raise EditError(f"A KPI with the id '{kpi_id}' already exists: choose another id.")
        like = next((e for e in reversed(entries) if isinstance(e, CommentedMap)), None)
        entries.append(commented_entry(new, like))
        after = plain(entries[-1])
        return Change(kpi_id, "added", person.email, why, len(entries) - 1, None, after)

    return save(path, expected_version, kpi_id, mutate, new, settings, history_path)


def approve_kpi(
    path: Path,
    person: Person,
    kpi_id: str,
    expected_version: str,
    reason: str = "",
    *,
    people: Sequence[Person] | None = None,
    settings: Settings | None = None,
    history_path: Path | None = None,
) -> SaveResult:
    """Approve the KPI's current content for the person's department (members; the CFO
    for finance): only the acting person's own signature is written. When the other
    department's approval counts for the same content (`people`: people.yaml, loaded here
    when not given), it becomes agreed. Approving again for a department that already
    approved this content changes nothing."""
    dept = require_approver(person)
    people = _people(people)

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> Change:
        index, entry = find_entry(entries, kpi_id, Path(path))
        before = plain(entry)
        change = Change(kpi_id, "approved", person.email, reason.strip(), index, before, before)
        if approval_checks(before, people)[dept].state != "approved":
            _approve(entry, entries, dept, person.email)
        _clear_void(entry, _other(dept), people, change)
        _settle_status(entry, people)
        change.after = plain(entry)
        return change

    return save(path, expected_version, kpi_id, mutate, None, settings, history_path)


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
    require_definition_writer(person, "set targets")
    why = _reason(rationale)
    period, value = _target(period, value)

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> Change:
        index, entry = find_entry(entries, kpi_id, Path(path))
        before = plain(entry)
        require_kpi_editor(person, before.get("owner"), f"set targets of '{kpi_id}'")
        _put_target(entry, entries, period, value)
        change = Change(kpi_id, "target set", person.email, why, index, before, plain(entry))
        return _after_content_change(entry, change)

    proposal = {"targets": {period: value}}
    return save(path, expected_version, kpi_id, mutate, proposal, settings, history_path)


def sign_target(
    path: Path,
    person: Person,
    kpi_id: str,
    period: str,
    value: float,
    rationale: str,
    expected_version: str,
    *,
    people: Sequence[Person] | None = None,
    settings: Settings | None = None,
    history_path: Path | None = None,
    decision: Callable[[dict[str, Person]], dict[str, Any]] | None = None,
    store: Store | None = None,
) -> SaveResult:
    """The acting person signs a target for their own department (a finance member or the
    CFO for finance, a procurement member for procurement): targets[period] = value, and
    their department's approval of the entry's new content. Nobody signs for anyone else.

    A different value changes the signed content, which voids the other department's
    earlier signature (as any change does). When the other department's approval counts
    for exactly this content (its signer checked against `people`, people.yaml, loaded
    here when not given), the KPI becomes agreed; then `decision` (given the two signers
    by department) makes the goals meeting's row for `goal_decisions`, written into
    `store` in the same unit of work as the file (kpi.workflows.definition_writer)."""
    dept = require_signer(person, "sign targets")
    why = _reason(rationale)
    period, value = _target(period, value)
    people = _people(people)

    def mutate(doc: CommentedMap, entries: CommentedSeq) -> Change:
        index, entry = find_entry(entries, kpi_id, Path(path))
        before = plain(entry)
        _put_target(entry, entries, period, value)
        change = Change(kpi_id, "target signed", person.email, why, index, before, plain(entry))
        change = _after_content_change(entry, change)
        mine = approval_checks(plain(entry), people)[dept]
        if not (mine.counts and same_address(mine.by, person.email)):
            _approve(entry, entries, dept, person.email)  # the actor's own signature only
        _clear_void(entry, _other(dept), people, change)
        _settle_status(entry, people)
        change.after = plain(entry)
        if _agreement(change.after, people):
            change.action = "target agreed"
        change.signers = [person.email]
        return change

    expected = _dry_run(Path(path), expected_version, mutate, settings)
    agreed = _agreement(expected.after, people) if expected else None
    row = decision(agreed) if agreed and decision is not None else None

    def checked(doc: CommentedMap, entries: CommentedSeq) -> Change:
        change = mutate(doc, entries)
        if expected is None or _agreement(change.after, people) != agreed:
            raise EditError(
                f"Not signed: '{kpi_id}' changed while you signed. Read it again, then sign."
            )
        return change

    proposal = {"targets": {period: value}}
    return save(
        path, expected_version, kpi_id, checked, proposal, settings, history_path, row, store
    )


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
    return str(period).strip(), tidy_number(value)


def _after_content_change(entry: CommentedMap, change: Change) -> Change:
    """When the signed content changed: approvals are cleared (kept in the history) and
    an agreed KPI goes back to proposed."""
    before, after = change.before or {}, plain(entry)
    if entry_version(before) == entry_version(after):
        return change
    if "approvals" in entry:
        change.cleared = json_safe(dict(before.get("approvals") or {}))
        del entry["approvals"]
    if entry.get("status") == "agreed":
        entry["status"] = "proposed"
        change.status_reset = True
    change.after = plain(entry)
    return change


def _approve(entry: CommentedMap, entries: CommentedSeq, dept: str, email: str) -> None:
    record = {"by": email, "on": datetime.now(UTC).date(), "version": entry_version(entry)}
    approvals = entry.get("approvals")
    if not isinstance(approvals, CommentedMap):
        like = sibling_value(entries, "approvals")
        approvals = commented({}, like, depth=1)
        if "approvals" in entry:
            entry["approvals"] = approvals
        else:
            entry.insert(position(entry, "approvals"), "approvals", approvals)
    if isinstance(approvals.get(dept), CommentedMap):
        merge_map(approvals[dept], record, 3)
    else:
        like = next((v for v in approvals.values() if isinstance(v, CommentedMap)), None)
        like = like or child_like(sibling_value(entries, "approvals"), dept)
        approvals[dept] = commented(record, like, depth=2)


def _settle_status(entry: CommentedMap, people: Sequence[Person]) -> None:
    """Agreed with both departments' valid approvals; an agreed KPI that lacks one (an
    approval voided by a hand edit, by an unknown signer) is proposed again."""
    both = set(approvals_state(plain(entry), people).values()) == {"approved"}
    if both and entry.get("status") != "agreed":
        entry["status"] = "agreed"
    elif not both and entry.get("status") == "agreed":
        entry["status"] = "proposed"


def _other(dept: str) -> str:
    return "procurement" if dept == "finance" else "finance"


def _people(people: Sequence[Person] | None) -> list[Person]:
    """The people a save checks recorded signatures against: given, or people.yaml."""
    return list(people) if people is not None else load_people()


def _clear_void(entry: CommentedMap, dept: str, people: Sequence[Person], change: Change) -> None:
    """Drop a department's approval that does not count (kept in the history's cleared
    approvals), so the file never shows a signature that is not one."""
    if approval_checks(plain(entry), people)[dept].state == "void":
        change.cleared[dept] = json_safe(entry["approvals"][dept])
        del entry["approvals"][dept]


def _agreement(entry: Mapping[str, Any], people: Sequence[Person]) -> dict[str, Person] | None:
    """The two signers (by department) when the entry is agreed on approvals that count."""
    checks = approval_checks(entry, people)
    if entry.get("status") != "agreed" or not all(c.counts for c in checks.values()):
        return None
    return {d: c.signer for d, c in checks.items() if c.signer is not None}


def _dry_run(
    path: Path, expected_version: str, mutate: Mutation, settings: Settings | None
) -> Change | None:
    """What a save would do to the file as the person read it (None when the file is no
    longer that version: the save itself then refuses). The decision row depends on it
    and must be handed to the writer before the write; the save checks it again."""
    raw = path.read_bytes()
    if sha(raw) != expected_version:
        return None
    source = SourceFile.parse(path, raw, settings)
    return mutate(source.doc, source.entries)


def _put_target(entry: CommentedMap, entries: CommentedSeq, period: str, value: Any) -> None:
    targets = entry.get("targets")
    if not isinstance(targets, CommentedMap):
        targets = commented({}, sibling_value(entries, "targets"), depth=1)
        if "targets" in entry:
            entry["targets"] = targets
        else:
            entry.insert(position(entry, "targets"), "targets", targets)
    if period in targets:
        if comparable(targets[period]) != comparable(value):
            targets[period] = value
        return
    keys = [str(k) for k in targets]
    at = len(keys)
    if keys == sorted(keys):  # keep chronological files chronological
        at = sum(1 for k in keys if k < period)
    targets.insert(at, period, value)
