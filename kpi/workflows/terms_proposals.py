"""Payment-terms proposals: finance proposes, procurement answers per supplier, both sign.

A terms change is worked out together, not handed over. The rules (kpi.core.permissions)
hold whatever the page shows or hides:

- a finance member or the CFO turns a saved simulator scenario into a proposal: its
  suppliers, the new contractual terms for each and the cash finance expects (the
  simulator's figures, kept as finance's first view);
- a procurement member answers per supplier: accept, counter-offer (other days) or refuse,
  each with the price pass-through procurement expects (percent of the supplier's spend),
  the relationship risk and a reason;
- any change (an answer, finance's revision) makes a new version and voids every signature
  on the earlier ones; the proposal is agreed when a finance member or the CFO and a
  procurement member have signed the same version, each in their own name;
- refused (by procurement) and withdrawn (by finance) proposals stay on record;
- every write adds a row to the audit log (`terms_proposal_events`: who, when, what, why) in
  the same transaction as the change.

The side-by-side figures and the tracking after agreement are in
kpi.workflows.terms_tracking; how each step's rows land in the store (versions, lines,
voided signatures, the audit log) in kpi.workflows.terms_proposal_rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from kpi.analyses.terms import MAX_TERMS_DAYS, PaymentPolicy, simulate_terms
from kpi.core.people import Person
from kpi.core.permissions import approving_department, require_signer, require_terms_actor
from kpi.store.database import Store
from kpi.store.queries import terms_proposals as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.store.query import fetch_frame
from kpi.workflows import terms_proposal_rows as rows
from kpi.workflows.terms_proposal_rows import ProposalError
from kpi.workflows.waiting import WaitingItem

ANSWERS = ("accept", "counter", "refuse")
RISKS = ("low", "medium", "high")
STATUSES = ("open", "agreed", "refused", "withdrawn")
PAGE = "pages/terms.py"
SUBJECT = "terms_proposal"  # a thread's subject is "terms_proposal:<id>"


@dataclass(frozen=True)
class SupplierAnswer:
    """Procurement's answer for one supplier of a proposal."""

    supplier_id: str
    answer: str  # accept, counter, refuse
    passthrough_pct: Decimal | float | str  # the price increase procurement expects, in %
    relationship_risk: str  # low, medium, high
    reason: str
    counter_days: int | None = None  # the days procurement offers instead (counter only)


@dataclass(frozen=True)
class Proposal:
    """A proposal as one version shows it (the current one unless asked otherwise)."""

    record: dict[str, Any]  # the terms_proposals row
    version: int  # the version shown
    current_version: int
    effective_from: date
    lines: pl.DataFrame  # terms_proposal_lines of this version
    versions: pl.DataFrame
    signatures: pl.DataFrame  # every signature on every version, voided ones included

    @property
    def proposal_id(self) -> int:
        return int(self.record["proposal_id"])

    @property
    def status(self) -> str:
        return str(self.record["status"])

    @property
    def unanswered(self) -> list[str]:
        return self.lines.filter(pl.col("answer").is_null())["supplier_id"].to_list()

    def standing_signatures(self) -> dict[str, dict[str, Any]]:
        """The signatures that count on the current version, by department."""
        standing = self.signatures.filter(
            (pl.col("version") == self.current_version) & pl.col("voided_at").is_null()
        )
        return {r["department"]: r for r in standing.iter_rows(named=True)}


# ---- making and changing a proposal -----------------------------------------------------------


def propose(
    store: Store,
    person: Person | None,
    scenario_id: int,
    title: str,
    reason: str,
    *,
    supplier_ids: Sequence[str] | None = None,
    effective_from: date | None = None,
    policy: PaymentPolicy | None = None,
) -> int:
    """Finance turns a saved scenario into a proposal (version 1); returns its id.

    The scenario is simulated again over its own spend year (same filter, days, currency
    and last day), so the expected cash is the scenario's; `supplier_ids` keeps only some
    of its suppliers. The terms apply from `effective_from` (default: the first day of next
    month), which is where the tracking after agreement starts.
    """
    person = require_terms_actor(person, "finance")
    title = _text(title, "title", 200, "name the proposal")
    reason = _text(reason, "reason", 2000, "say why finance proposes it")
    with store.read() as con:
        found = (
            con.execute(HAS_TABLE, {"name": "terms_scenarios"}).fetchall()[0][0]
            and con.execute(q.SCENARIO, {"scenario_id": int(scenario_id)}).fetchall()
        )
    if not found:
        raise ProposalError(
            f"there is no saved scenario {scenario_id}: save one in the terms simulator first"
        )
    sid, name, days, where, currency, detail = found[0]
    window_end = _iso(json.loads(detail).get("window_end"))
    scenario = simulate_terms(
        store, days, where, as_of=window_end, policy=policy, currency=currency
    )
    suppliers = scenario.suppliers
    if supplier_ids is not None:
        wanted = [str(s) for s in supplier_ids]
        unknown = sorted(set(wanted) - set(suppliers["supplier_id"].to_list()))
        if unknown:
            raise ProposalError(
                f"supplier(s) {', '.join(unknown)} are not in scenario {sid} '{name}': "
                "choose among its suppliers"
            )
        suppliers = suppliers.filter(pl.col("supplier_id").is_in(wanted))
    if suppliers.is_empty():
        raise ProposalError(f"scenario {sid} '{name}' moves no supplier: choose another one")
    now = _now()
    with store.write() as con:
        proposal_id = rows.one(con, q.NEXT_PROPOSAL)
        con.execute(
            q.INSERT_PROPOSAL,
            {
                "proposal_id": proposal_id,
                "title": title,
                "scenario_id": sid,
                "scenario_name": name,
                "currency": scenario.currency,
                "window_start": scenario.window_start,
                "window_end": scenario.window_end,
                "created_at": now,
                "created_by": person.email,
                "created_by_name": person.name,
            },
        )
        start = effective_from or _next_month(now.date())
        rows.add_version(con, proposal_id, 1, start, person, "proposed", reason, now)
        for row in suppliers.iter_rows(named=True):
            line = {c: row.get(c) for c in q.LINE_COLUMNS} | {"proposed_days": days}
            rows.insert_line(con, proposal_id, 1, line)
        detail_text = f"from scenario {sid} '{name}': {suppliers.height} supplier(s) to {days} d"
        rows.log_event(con, proposal_id, 1, person, "proposed", None, detail_text, reason, now)
    return int(proposal_id)


def respond(
    store: Store,
    person: Person | None,
    proposal_id: int,
    expected_version: int,
    answers: Sequence[SupplierAnswer],
) -> int:
    """A procurement member answers suppliers of the current version; returns the new
    version (the earlier versions' signatures are void)."""
    person = require_terms_actor(person, "procurement")
    if not answers:
        raise ProposalError("answer at least one supplier")
    checked = [_checked_answer(a) for a in answers]
    now = _now()
    with store.write() as con:
        current = rows.open_current(con, proposal_id, expected_version)
        lines = {r["supplier_id"]: r for r in rows.version_lines(con, proposal_id, current)}
        for a in checked:
            if a.supplier_id not in lines:
                raise ProposalError(
                    f"supplier {a.supplier_id} is not in proposal {proposal_id}: answer its own"
                )
            lines[a.supplier_id] |= {
                "answer": a.answer,
                "counter_days": a.counter_days,
                "passthrough_pct": a.passthrough_pct,
                "relationship_risk": a.relationship_risk,
                "answer_reason": a.reason,
                "answered_by": person.email,
                "answered_by_name": person.name,
                "answered_at": now,
            }
        version = rows.new_version(con, proposal_id, current, person, "answered", now, lines)
        for a in checked:
            counter = f" {a.counter_days} d" if a.answer == "counter" else ""
            detail = (
                f"{a.answer}{counter}, pass-through {a.passthrough_pct} %, "
                f"risk {a.relationship_risk}"
            )
            rows.log_event(con, proposal_id, version, person, "answered", a.supplier_id, detail,
                   a.reason, now)  # fmt: skip
    return version


def revise(
    store: Store,
    person: Person | None,
    proposal_id: int,
    expected_version: int,
    reason: str,
    *,
    days_by_supplier: Mapping[str, int] | None = None,
    effective_from: date | None = None,
    policy: PaymentPolicy | None = None,
) -> int:
    """Finance changes the proposed days of some suppliers (or the start date); returns the
    new version. A supplier whose days change needs procurement's answer again; finance's
    view of it is simulated again over the proposal's spend year."""
    person = require_terms_actor(person, "finance")
    reason = _text(reason, "reason", 2000, "say why finance revises the proposal")
    changes = {str(k): _days(v, f"the days for {k}") for k, v in (days_by_supplier or {}).items()}
    proposal = get(store, proposal_id)
    known = {r["supplier_id"]: r for r in proposal.lines.iter_rows(named=True)}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ProposalError(f"supplier(s) {', '.join(unknown)} are not in proposal {proposal_id}")
    changes = {k: v for k, v in changes.items() if v != known[k]["proposed_days"]}
    if not changes and (effective_from is None or effective_from == proposal.effective_from):
        raise ProposalError("nothing changes: give other days or another start date")
    fresh: dict[str, dict[str, Any]] = {}
    if changes:
        rec = proposal.record
        simulated = simulate_terms(
            store, next(iter(changes.values())), as_of=rec["window_end"], policy=policy,
            currency=rec["currency"], days_by_supplier=changes,
        ).suppliers  # fmt: skip
        fresh = {r["supplier_id"]: r for r in simulated.iter_rows(named=True)}
    now = _now()
    with store.write() as con:
        current = rows.open_current(con, proposal_id, expected_version)
        lines = {r["supplier_id"]: r for r in rows.version_lines(con, proposal_id, current)}
        for supplier, days in changes.items():
            figures = {c: fresh[supplier].get(c) for c in q.LINE_COLUMNS if c in fresh[supplier]}
            lines[supplier] |= (
                figures | {"proposed_days": days} | dict.fromkeys(q.LINE_COLUMNS[13:], None)
            )  # procurement answers again
        start = effective_from or proposal.effective_from
        version = rows.new_version(con, proposal_id, current, person, "revised", now, lines,
                               reason=reason, effective_from=start)  # fmt: skip
        said = [f"{s} to {d} d" for s, d in changes.items()]
        if start != proposal.effective_from:
            said.append(f"terms apply from {start.isoformat()}")
        rows.log_event(
            con, proposal_id, version, person, "revised", None, "; ".join(said), reason, now
        )
    return version


def sign(store: Store, person: Person | None, proposal_id: int, version: int, reason: str) -> str:
    """The acting person signs `version` for their own department; returns the proposal's
    status after it ('agreed' when the other department has signed the same version)."""
    department = require_signer(person, "sign payment-terms proposals")
    assert person is not None
    reason = _text(reason, "reason", 2000, "say why you sign")
    now = _now()
    with store.write() as con:
        record = rows.proposal_record(con, proposal_id)
        current = rows.current_version(con, proposal_id)
        if int(version) != current:
            raise ProposalError(
                f"version {version} of proposal {proposal_id} was replaced by version "
                f"{current}: its signatures are void. Read version {current} and sign it."
            )
        rows.require_open(record)
        lines = rows.version_lines(con, proposal_id, current)
        waiting = [r["supplier_id"] for r in lines if r["answer"] is None]
        if waiting:
            raise ProposalError(
                f"procurement has not answered {', '.join(waiting)} yet: a version is "
                "signed once every supplier has procurement's answer"
            )
        if all(r["answer"] == "refuse" for r in lines):
            raise ProposalError(
                "procurement refused every supplier: there is nothing to agree; finance "
                "revises or withdraws the proposal"
            )
        signed = fetch_frame(con, q.SIGNATURES, {"proposal_id": proposal_id}).filter(
            (pl.col("version") == current) & pl.col("voided_at").is_null()
        )
        mine = signed.filter(pl.col("department") == department)
        if mine.height:
            raise ProposalError(
                f"{mine['signed_by_name'][0]} already signed version {current} for {department}"
            )
        con.execute(
            q.INSERT_SIGNATURE,
            {
                "proposal_id": proposal_id,
                "version": current,
                "department": department,
                "signed_by": person.email,
                "signed_by_name": person.name,
                "signed_at": now,
                "reason": reason,
            },
        )
        rows.log_event(con, proposal_id, current, person, "signed", None, f"for {department}",
                       reason, now)  # fmt: skip
        if signed.height:  # the other department signed this same version: agreed
            rows.close_proposal(con, proposal_id, "agreed", person, "signed by both departments",
                                now, current)  # fmt: skip
            return "agreed"
    return "open"


def withdraw(store: Store, person: Person | None, proposal_id: int, reason: str) -> None:
    """Finance withdraws an open proposal; it stays on record as withdrawn."""
    person = require_terms_actor(person, "finance")
    _end(store, person, proposal_id, "withdrawn", _text(reason, "reason", 2000, "say why"))


def refuse(store: Store, person: Person | None, proposal_id: int, reason: str) -> None:
    """Procurement refuses an open proposal as a whole; it stays on record as refused."""
    person = require_terms_actor(person, "procurement")
    _end(store, person, proposal_id, "refused", _text(reason, "reason", 2000, "say why"))


def _end(store: Store, person: Person, proposal_id: int, status: str, reason: str) -> None:
    now = _now()
    with store.write() as con:
        rows.require_open(rows.proposal_record(con, proposal_id))
        current = rows.current_version(con, proposal_id)
        rows.close_proposal(con, proposal_id, status, person, reason, now, None)
        rows.log_event(con, proposal_id, current, person, status, None, None, reason, now)


# ---- reading ---------------------------------------------------------------------------------


def get(store: Store, proposal_id: int, version: int | None = None) -> Proposal:
    """One proposal at `version` (default: the current one); ProposalError when unknown."""
    with store.read() as con:
        if not con.execute(HAS_TABLE, {"name": "terms_proposals"}).fetchall()[0][0]:
            raise ProposalError(f"there is no terms proposal {proposal_id}")
        record = rows.proposal_record(con, proposal_id)
        versions = fetch_frame(con, q.VERSIONS, {"proposal_id": proposal_id})
        current = int(versions["version"].max())
        shown = current if version is None else int(version)
        if shown not in versions["version"].to_list():
            raise ProposalError(f"proposal {proposal_id} has no version {version}")
        lines = fetch_frame(con, q.LINES, {"proposal_id": proposal_id, "version": shown})
        signatures = fetch_frame(con, q.SIGNATURES, {"proposal_id": proposal_id})
    start = versions.filter(pl.col("version") == shown)["effective_from"][0]
    return Proposal(record, shown, current, start, lines, versions, signatures)


def list_proposals(store: Store) -> pl.DataFrame:
    """Every proposal, newest first, whatever its status (empty when none was made)."""
    with store.read() as con:
        if not con.execute(HAS_TABLE, {"name": "terms_proposals"}).fetchall()[0][0]:
            return pl.DataFrame()
        return fetch_frame(con, q.PROPOSALS)


def history(store: Store, proposal_id: int) -> pl.DataFrame:
    """The proposal's audit log, oldest first: at, version, by, action, supplier, detail, why."""
    with store.read() as con:
        if not con.execute(HAS_TABLE, {"name": "terms_proposals"}).fetchall()[0][0]:
            return pl.DataFrame()
        return fetch_frame(con, q.EVENTS, {"proposal_id": proposal_id})


def waiting_for(store: Store, person: Person | None) -> list[WaitingItem]:
    """What open proposals expect of the person: procurement members answer suppliers not
    answered yet (terms_response); once every supplier is answered, each department that
    has not signed the current version signs it (terms_signature)."""
    department = approving_department(person)
    return [] if department is None else waiting_for_department(store, department)


def waiting_for_department(store: Store, department: str) -> list[WaitingItem]:
    """What open proposals expect of a department (finance or procurement): the digest's
    and the inbox's view of the same rule as `waiting_for`."""
    if not store.exists():
        return []
    items: list[WaitingItem] = []
    with store.read() as con:
        if not con.execute(HAS_TABLE, {"name": "terms_proposals"}).fetchall()[0][0]:
            return []
        for record in fetch_frame(con, q.OPEN_PROPOSALS).iter_rows(named=True):
            pid = int(record["proposal_id"])
            versions = fetch_frame(con, q.VERSIONS, {"proposal_id": pid})
            current = int(versions["version"].max())
            since = versions.filter(pl.col("version") == current)["created_at"][0]
            lines = rows.version_lines(con, pid, current)
            open_ = [r["supplier_id"] for r in lines if r["answer"] is None]
            signed = fetch_frame(con, q.SIGNATURES, {"proposal_id": pid}).filter(
                (pl.col("version") == current) & pl.col("voided_at").is_null()
            )
            title = f"Terms proposal {pid}: {record['title']}"
            query = {"proposal": str(pid)}
            subject = f"{SUBJECT}:{pid}"
            if open_ and department == "procurement":
                detail = f"procurement answers {len(open_)} supplier(s): {', '.join(open_[:5])}"
                items.append(WaitingItem("terms_response", subject, title, detail, PAGE,
                                         query, since))  # fmt: skip
            elif not open_ and department not in signed["department"].to_list():
                if all(r["answer"] == "refuse" for r in lines):
                    continue  # nothing to sign: finance revises or withdraws
                detail = f"{department} signs version {current}"
                items.append(WaitingItem("terms_signature", subject, title, detail, PAGE,
                                         query, since))  # fmt: skip
    return items


# ---- helpers ---------------------------------------------------------------------------------


def _checked_answer(a: SupplierAnswer) -> SupplierAnswer:
    who = f"supplier {a.supplier_id}"
    if a.answer not in ANSWERS:
        raise ProposalError(f"{who}: answer accept, counter or refuse (not '{a.answer}')")
    counter = None
    if a.answer == "counter":
        if a.counter_days is None:
            raise ProposalError(f"{who}: a counter-offer names the days procurement offers")
        counter = _days(a.counter_days, f"{who}: the counter-offer")
    try:
        pct = Decimal(str(a.passthrough_pct).strip())
    except (InvalidOperation, ValueError):
        pct = Decimal("NaN")
    if not pct.is_finite() or not Decimal(-100) < pct <= Decimal(100):
        raise ProposalError(
            f"{who}: the expected price pass-through '{a.passthrough_pct}' must be a percent "
            "above -100 and at most 100 (e.g. 1.5 for prices 1.5 % up)"
        )
    if a.relationship_risk not in RISKS:
        raise ProposalError(f"{who}: the relationship risk is low, medium or high")
    reason = _text(a.reason, f"reason for {a.supplier_id}", 2000, f"{who}: say why")
    return SupplierAnswer(a.supplier_id, a.answer, pct.quantize(Decimal("0.0001")),
                          a.relationship_risk, reason, counter)  # fmt: skip


def _days(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TERMS_DAYS:
        raise ProposalError(f"{what} must be a whole number of days from 0 to {MAX_TERMS_DAYS}")
    return value


def _text(value: object, field: str, limit: int, required: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ProposalError(f"{required}: the {field} is empty")
    if len(text) > limit:
        raise ProposalError(f"the {field} is {len(text)} characters long; keep it to {limit}")
    return text


def _iso(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
