"""The inbox: everything that waits for a person or their department, and signing from it.

`waiting_for(store, person)` gathers every workflow's waiting items (kpi.workflows.waiting):
KPI definitions whose current content their department has not approved, quarterly targets
waiting for their department's signature, savings initiatives waiting for finance's verdict
(those the person may judge: never one they created or changed since the last verdict),
payment-terms proposals waiting for their department's answer or signature, and threads
that mention them.
`waiting_for_department` is the same for a department, without the four-eyes filter (the
digest's view). The sidebar counts the first, so the count, the inbox and the digest agree.

A target waits for signatures in two ways: the goals meeting agreed it (both departments'
latest proposals for the quarter name the same value) and a department has not signed it
yet; or one department signed a target and the other has not. `confirm` signs an item from
the inbox: only the acting person's own signature, for their own department, and only the
content they were shown (`seen_version`, the entry's content hash: a version changed or
voided since is refused with what to do).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kpi.core.formatting import format_value
from kpi.core.people import DEPARTMENTS, Person, load_people
from kpi.core.permissions import (
    PermissionDenied,
    approving_department,
    may_validate_initiatives,
    require_signer,
)
from kpi.core.settings import kpis_path as default_kpis_path
from kpi.semantic.definitions import DefinitionsError
from kpi.store.audit_log import AUTHORS_SINCE_VERDICT
from kpi.store.database import Store
from kpi.store.queries import inbox as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.workflows import definition_saves, goals, terms_proposals, threads
from kpi.workflows.definition_versions import (
    approval_checks,
    effective_status,
    entry_version,
    file_version,
    kpi_history,
)
from kpi.workflows.definition_writer import EditError
from kpi.workflows.initiative_model import MONEY_FIELDS
from kpi.workflows.initiatives import list_initiatives
from kpi.workflows.signing_diff import undo
from kpi.workflows.waiting import KINDS, WaitingItem
from kpi.workflows.yaml_splice import read_file

INBOX_PAGE = "pages/inbox.py"
SAVINGS_PAGE = "pages/savings.py"


class InboxError(ValueError):
    """A signature from the inbox that cannot be recorded; the message says what to do."""


# ---- gathering ---------------------------------------------------------------------------------


def waiting_for(
    store: Store, person: Person | None, kpis_path: Path | None = None
) -> list[WaitingItem]:
    """Everything waiting for this person, sorted (kind, then the oldest first).

    Approvals and signatures their department owes (members; the CFO for finance);
    initiatives awaiting finance's review that they may judge. Viewers sign and judge
    nothing: they have no such item."""
    if person is None:
        return []
    items: list[WaitingItem] = threads.waiting_for(store, person) if store.exists() else []
    dept = approving_department(person)
    if dept is not None:
        items += _signatures(store, dept, kpis_path)
        items += terms_proposals.waiting_for_department(store, dept)
    if may_validate_initiatives(person):
        items += _initiative_reviews(store, person)
    return sort_items(items)


def waiting_for_department(
    store: Store, department: str, kpis_path: Path | None = None
) -> list[WaitingItem]:
    """Everything waiting for a department (finance or procurement), sorted: its approvals
    and signatures, and for finance every initiative awaiting its verdict."""
    if department not in DEPARTMENTS:
        raise ValueError(f"'{department}' is not a department: use finance or procurement.")
    items = _signatures(store, department, kpis_path)
    items += terms_proposals.waiting_for_department(store, department)
    if store.exists():
        # threads read a department's name where a person's address goes (threads._names_for)
        desk = Person(department, department.capitalize(), department, "member")
        items += threads.waiting_for(store, desk, people=[])
    if department == "finance":
        items += _initiative_reviews(store, None)
    return sort_items(items)


def sort_items(items: Sequence[WaitingItem]) -> list[WaitingItem]:
    """The inbox's order: by kind (KINDS), then waiting longest first, then by title."""

    def key(item: WaitingItem) -> tuple:
        rank = KINDS.index(item.kind) if item.kind in KINDS else len(KINDS)
        since = item.since or datetime.max
        return (rank, since, item.title)

    return sorted(items, key=key)


def _signatures(store: Store, department: str, kpis_path: Path | None) -> list[WaitingItem]:
    """The department's KPI approvals and target signatures (a KPI with a target waiting
    for its signature is listed once, as that target)."""
    path = Path(kpis_path) if kpis_path else default_kpis_path()
    try:
        source = read_file(path)
    except (OSError, DefinitionsError):
        return []  # a missing or broken file: the definitions page says what is wrong
    people = load_people()
    entries = [e for e in source.entries if isinstance(e, dict)]
    owed = []  # (entry, its checks, its history) of each proposed KPI the department owes
    signed: list[WaitingItem] = []  # targets the other department signed: named so first
    for entry in entries:
        if effective_status(entry, people) != "proposed":
            continue
        checks = approval_checks(entry, people)
        if checks[department].counts:
            continue
        records = kpi_history(path, str(entry.get("id") or ""))
        item = _signed_target(path, entry, records, department, people)
        if item is not None:
            signed.append(item)
        else:
            owed.append((entry, checks, records))
    keys = {(i.query["kpi"], i.query["quarter"]) for i in signed}
    agreed = [
        i
        for i in _agreed_targets(store, department, entries, people)
        if (i.query["kpi"], i.query["quarter"]) not in keys
    ]
    targets = signed + agreed
    with_target = {i.query["kpi"] for i in targets}
    approvals = [
        _approval_item(entry, department, checks, records)
        for entry, checks, records in owed
        if entry.get("id") not in with_target
    ]
    return approvals + targets


def _approval_item(
    entry: dict[str, Any], department: str, checks: dict, records: list[dict]
) -> WaitingItem:
    kpi_id = str(entry["id"])
    other = _other(department)
    theirs = checks[other]
    if theirs.counts:
        who = theirs.signer.name if theirs.signer else theirs.by
        state = f"{other} approved it ({who}); {department}'s approval is missing"
    else:
        state = f"neither department approved its current content; {department} is asked"
    mine = checks[department]
    if mine.state == "void":
        state += f" ({department}'s earlier approval does not count: {mine.kind})"
    return WaitingItem(
        kind="definition_approval",
        subject=f"kpi:{kpi_id}",
        title=f"Approve the KPI '{entry.get('name') or kpi_id}' ({kpi_id})",
        detail=f"Proposed: {state}.",
        page=INBOX_PAGE,
        query={"kpi": kpi_id, "department": department},
        since=_when(records[0]) if records else None,
    )


def _signed_target(
    path: Path,
    entry: dict[str, Any],
    records: list[dict],
    department: str,
    people: Sequence[Person],
) -> WaitingItem | None:
    """The target the other department signed last (the KPI's newest save is their target
    signature, on the current content, changing exactly one period's target)."""
    if not records or records[0].get("action") not in ("target signed",):
        return None
    record = records[0]
    other = _other(department)
    if record.get("entry_version") != entry_version(entry):
        return None
    if not approval_checks(entry, people)[other].counts:
        return None
    period = _changed_period(path, entry, record)
    if period is None:
        return None
    value = (entry.get("targets") or {}).get(period)
    signer = (approval_checks(entry, people)[other].signer or None) if value is not None else None
    if signer is None:
        return None
    return _target_item(
        entry,
        period,
        float(value),
        department,
        f"{other} signed it ({signer.name})",
        _when(record),
    )


def _changed_period(path: Path, entry: dict[str, Any], record: dict) -> str | None:
    """The one period whose target the save changed, read from the save's diff."""
    import yaml

    source = read_file(path)
    index = next(
        (
            n
            for n, e in enumerate(source.entries)
            if isinstance(e, dict) and e.get("id") == entry.get("id")
        ),
        None,
    )
    if index is None or index >= len(source.spans):
        return None
    span = source.spans[index]
    lines = [line.rstrip("\r") + "\n" for line in source.lines[span.start : span.end]]
    before_lines = undo(lines, str(record.get("diff") or ""))
    if before_lines is None:
        return None
    try:
        parsed = yaml.safe_load("".join(before_lines)) if before_lines else [{}]
    except yaml.YAMLError:
        return None
    before = parsed[0] if isinstance(parsed, list) and parsed else {}
    old = before.get("targets") or {} if isinstance(before, dict) else {}
    new = entry.get("targets") or {}
    changed = [str(p) for p in new if p not in old or old[p] != new[p]]
    return changed[0] if len(changed) == 1 else None


def _agreed_targets(
    store: Store, department: str, entries: list[dict[str, Any]], people: Sequence[Person]
) -> list[WaitingItem]:
    """Targets the meeting agreed (equal latest proposals, no decision for that value) that
    the department has not signed: the file holds another value, or its approval of the
    content does not count."""
    if not store.exists():
        return []
    with store.read() as con:
        if not con.execute(HAS_TABLE, {"name": "target_proposals"}).fetchall()[0][0]:
            return []
        agreed = con.execute(q.AGREED_PROPOSALS).fetchall()
        decided = set()
        if con.execute(HAS_TABLE, {"name": "goal_decisions"}).fetchall()[0][0]:
            decided = {(qr, k, float(v)) for qr, k, v in con.execute(q.DECIDED).fetchall()}
    by_id = {str(e.get("id")): e for e in entries}
    items = []
    for quarter, kpi_id, value, agreed_at, finance_name, procurement_name in agreed:
        entry = by_id.get(kpi_id)
        if entry is None or (quarter, kpi_id, float(value)) in decided:
            continue
        held = (entry.get("targets") or {}).get(quarter)
        mine = approval_checks(entry, people)[department]
        if held is not None and float(held) == float(value) and mine.counts:
            continue  # signed already; the other department's signature is theirs to give
        how = f"the meeting agreed it ({finance_name} and {procurement_name} proposed it)"
        items.append(_target_item(entry, quarter, float(value), department, how, agreed_at))
    return items


def _target_item(
    entry: dict[str, Any],
    quarter: str,
    value: float,
    department: str,
    how: str,
    since: datetime | None,
) -> WaitingItem:
    kpi_id = str(entry["id"])
    shown = format_value(value, str(entry.get("unit") or ""))
    return WaitingItem(
        kind="target_signature",
        subject=f"goal_decision:{quarter}/{kpi_id}",
        title=f"Sign the {quarter} target of '{entry.get('name') or kpi_id}': {shown}",
        detail=f"{how[:1].upper()}{how[1:]}; {department}'s signature is missing.",
        page=INBOX_PAGE,
        query={"kpi": kpi_id, "quarter": quarter, "value": repr(value), "department": department},
        since=since,
    )


def _initiative_reviews(store: Store, person: Person | None) -> list[WaitingItem]:
    """Pending initiatives; for a person, only those they may judge (four eyes)."""
    if not store.exists():
        return []
    pending = list_initiatives(store, finance_status="pending")
    if pending.is_empty():
        return []
    with store.read() as con:
        logged = con.execute(HAS_TABLE, {"name": "initiative_changes"}).fetchall()[0][0]
        since = dict(con.execute(q.LAST_CHANGED).fetchall()) if logged else {}
        authors: dict[str, set[str]] = {}
        if logged and person is not None:
            ids = pending["initiative_id"].to_list()
            rows = con.execute(AUTHORS_SINCE_VERDICT, {"ids": ids, "money": list(MONEY_FIELDS)})
            for by, _, _, ini_id in rows.fetchall():
                authors.setdefault(ini_id, set()).add(str(by).strip().lower())
    items = []
    for row in pending.iter_rows(named=True):
        ini_id = row["initiative_id"]
        if person is not None and person.email.strip().lower() in authors.get(ini_id, set()):
            continue  # they created or changed it: another finance member judges it
        supplier = row.get("supplier_name") or row.get("supplier_id") or "no supplier"
        items.append(
            WaitingItem(
                kind="initiative_review",
                subject=f"initiative:{ini_id}",
                title=f"Review {ini_id} · {row.get('title') or 'untitled'}",
                detail=(
                    f"{supplier}, {str(row.get('kind') or '').replace('_', ' ')}, stage "
                    f"{row.get('stage') or 'not set'}: waits for finance's verdict."
                ),
                page=SAVINGS_PAGE,
                query={"initiative": ini_id},
                since=since.get(ini_id),
            )
        )
    return items


# ---- signing from the inbox ---------------------------------------------------------------------


def confirm(
    store: Store,
    person: Person | None,
    item: WaitingItem,
    seen_version: str,
    rationale: str = "",
    kpis_path: Path | None = None,
) -> Any:
    """The acting person signs an inbox item (a KPI approval or a target signature) for
    their own department, on the content they were shown (`seen_version`: the entry's
    content hash shown with the change). Refused: someone who signs for no department
    (viewers), an item waiting for the other department, a content changed or voided since
    it was shown. Returns what the save returns (kpi.workflows.definition_writer)."""
    dept = require_signer(person, "sign KPI approvals or targets")
    assert person is not None
    if item.kind not in ("definition_approval", "target_signature"):
        raise InboxError(f"'{item.title}' is not signed in the inbox: open it on its page.")
    owed = item.query.get("department")
    if owed != dept:
        raise PermissionDenied(
            f"{person.label} may not sign this: it waits for {owed}'s signature, and you sign "
            f"for {dept} only. A signature is always the signer's own act."
        )
    path = Path(kpis_path) if kpis_path else default_kpis_path()
    kpi_id = item.query["kpi"]
    version = file_version(path)
    entry = _entry(path, kpi_id)
    if entry_version(entry) != seen_version:
        raise InboxError(
            f"Not signed: '{kpi_id}' changed since you opened it (another save replaced or "
            "voided the version you read). Read the change again, then sign."
        )
    people = load_people()
    if item.kind == "definition_approval":
        if effective_status(entry, people) != "proposed":
            raise InboxError(f"Not signed: '{kpi_id}' is {effective_status(entry, people)} now.")
        return definition_saves.approve_kpi(
            path, person, kpi_id, version, rationale, people=people, settings=store.settings
        )
    quarter, value = item.query["quarter"], float(item.query["value"])
    if not (rationale or "").strip():
        raise InboxError("Say why you sign this target: the reason goes into the decision log.")
    try:
        return goals.sign_target(
            store, path, person, quarter, kpi_id, value, rationale, version, people=people
        )
    except goals.GoalError as exc:
        raise InboxError(str(exc)) from exc


def tell_verdict(
    store: Store, person: Person, initiative_id: str, decision: str, reason: str
) -> threads.Comment:
    """Finance's verdict, told to procurement where it can answer: a comment in the
    initiative's thread mentioning @procurement (after the verdict was recorded)."""
    text = (
        f"Finance {decision} {initiative_id}: {reason.strip()} "
        "@procurement, answer here if you see it differently."
    )
    return threads.post_comment(store, person, f"initiative:{initiative_id}", text)


def _entry(path: Path, kpi_id: str) -> dict[str, Any]:
    for entry in read_file(path).entries:
        if isinstance(entry, dict) and entry.get("id") == kpi_id:
            return entry
    raise EditError(f"There is no KPI '{kpi_id}' in {path.name} any more: nothing to sign.")


def _other(department: str) -> str:
    return "procurement" if department == "finance" else "finance"


def _when(record: dict) -> datetime | None:
    """A history record's time as naive UTC (WaitingItem.since)."""
    try:
        when = datetime.fromisoformat(str(record.get("when")))
    except ValueError:
        return None
    return when.replace(tzinfo=None)
