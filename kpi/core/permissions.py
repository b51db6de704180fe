"""Who may do what: every "may this person do this" check on a write, in one place.

The checks live in the library, so a write refused to a viewer is refused whatever the app
shows or hides. Each `require_*` raises PermissionDenied with a message that says who may;
each `may_*` answers the same question, and each `*_refusal` says why not (None when the
person may) in the same words, for the page that shows the form disabled with the reason.

- loading data: per table, the same people as the page that writes it: master data and
  transactions finance and procurement members and the CFO; the price outlook procurement
  members and the CFO; savings initiatives procurement members and the CFO (as on the
  savings ledger); the command line without --as loads as the computer's operator;
- saving a terms scenario: finance and procurement members and the CFO;
- KPI definitions: members edit what their department owns (and joint KPIs), the CFO any;
  members approve for their department, the CFO for finance;
- the goals meeting: procurement members and the CFO set the price outlook; each
  department proposes its own target; finance signs by a member or the CFO, procurement
  by a member, each only for their own department (a signature is the signer's own act:
  no write takes another person as signer); a recorded signature counts only when its
  signer is in people.yaml and may sign for that department (`signature_problem`);
- savings initiatives: procurement members and the CFO add and edit them, finance members
  and the CFO judge them, never one they created or whose money fields they changed since
  the last verdict (decided from the audit log, not from the free-text owner);
- discussions (threads on KPIs, a KPI's value for a period, initiatives, terms proposals,
  goal decisions, stock items): finance and procurement members and the CFO comment,
  reply and resolve; viewers (and members of other departments) read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kpi.core.people import DEPARTMENTS, Person

OUTLOOK_EDITORS = "procurement members and the CFO"
INITIATIVE_EDITORS = "procurement members and the CFO"
INITIATIVE_VALIDATORS = "finance members and the CFO"
SIGNERS = {"finance": "a finance member or the CFO", "procurement": "a procurement member"}


# Who the messages name when nobody is signed in (sign-in) or chosen (local mode).
NOBODY = "Someone who is not signed in (or has not chosen who they act as)"


class PermissionDenied(PermissionError):
    """The person may not do this; the message says who may."""


# ---- data and scenarios ---------------------------------------------------------------------


# who loads each canonical table: the people who write it on its page
DATA_LOADERS = "finance and procurement members and the CFO"
TABLE_LOADERS: dict[str, str] = {
    "price_outlook": OUTLOOK_EDITORS,
    "savings_initiatives": INITIATIVE_EDITORS,
}


def may_load(person: Person | None, table: str) -> bool:
    """May the person load files into `table`? The same rule as the page that writes it."""
    if table == "price_outlook":
        return can_edit_outlook(person)
    if table == "savings_initiatives":
        return may_edit_initiatives(person)
    return person is not None and person.can_write


def load_refusal(person: Person | None, table: str) -> str | None:
    """Why the person may not load `table` (one sentence naming who may), or None."""
    if may_load(person, table):
        return None
    who = person.label if person else NOBODY
    whom = TABLE_LOADERS.get(table, DATA_LOADERS)
    return f"{who} may not load {table}: only {whom} may; ask one of them to load the file."


def require_table_loader(person: Person | None, table: str) -> Person:
    """PermissionDenied unless the person may load `table` (see `may_load`)."""
    refusal = load_refusal(person, table)
    if refusal is not None:
        raise PermissionDenied(refusal)
    assert person is not None
    return person


def may_save_scenario(person: Person | None) -> bool:
    """Finance and procurement members and the CFO save scenarios; viewers read them."""
    return person is not None and person.can_write


def require_scenario_saver(person: Person | None) -> None:
    if not may_save_scenario(person):
        who = person.label if person else NOBODY
        raise PermissionDenied(
            f"{who} may not save scenarios: finance and procurement members and the CFO may."
        )


# ---- KPI definitions ------------------------------------------------------------------------


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


def _kpi_editors(owner: str | None) -> str:
    if owner in DEPARTMENTS:
        return f"{owner} members and the CFO"
    return "finance and procurement members and the CFO"


def kpi_edit_refusal(person: Person | None, owner: Any, action: str) -> str | None:
    """Why the person may not change (or add) a KPI with this owner, or None when they may:
    the page shows it beside the disabled form, `require_kpi_editor` raises it."""
    if may_edit_kpi(person, owner if isinstance(owner, str) else None):
        return None
    who = person.label if person else NOBODY
    return (
        f"{who} may not {action}: only {_kpi_editors(owner)} may "
        f"(the KPI's owner is {owner or 'not set'})."
    )


def require_kpi_editor(person: Person | None, owner: Any, action: str) -> None:
    """May the person change (or add) a KPI with this owner?"""
    refusal = kpi_edit_refusal(person, owner, action)
    if refusal is not None:
        raise PermissionDenied(refusal)


def definition_writer_refusal(person: Person | None, action: str) -> str | None:
    """Why the person may not write the KPI definitions at all, or None: finance and
    procurement members and the CFO may."""
    if person is not None and approving_department(person) is not None:
        return None
    who = person.label if person else NOBODY
    return f"{who} may not {action}: only finance and procurement members and the CFO may."


def require_definition_writer(person: Person | None, action: str) -> None:
    """Anyone who writes kpis.yaml at all: finance and procurement members and the CFO."""
    refusal = definition_writer_refusal(person, action)
    if refusal is not None:
        raise PermissionDenied(refusal)


def approver_refusal(person: Person | None) -> str | None:
    """Why the person may not approve KPIs, or None when they approve for a department."""
    if approving_department(person) is not None:
        return None
    who = person.label if person else NOBODY
    return (
        f"{who} may not approve KPIs: finance members and the CFO approve for finance, "
        "procurement members for procurement."
    )


def require_approver(person: Person | None) -> str:
    """The department the person approves a KPI for, or PermissionDenied."""
    refusal = approver_refusal(person)
    if refusal is not None:
        raise PermissionDenied(refusal)
    dept = approving_department(person)
    assert dept is not None
    return dept


# ---- the goals meeting ----------------------------------------------------------------------


def can_edit_outlook(person: Person | None) -> bool:
    """Procurement members and the CFO set the price outlook."""
    return person is not None and (
        person.role == "cfo" or (person.department == "procurement" and person.role == "member")
    )


def outlook_refusal(person: Person | None) -> str | None:
    """Why the person may not change the price outlook, or None when they may."""
    if can_edit_outlook(person):
        return None
    who = person.label if person else NOBODY
    return f"{who} may not change the price outlook: {OUTLOOK_EDITORS} set it."


def require_outlook_editor(person: Person | None) -> Person:
    refusal = outlook_refusal(person)
    if refusal is not None:
        raise PermissionDenied(refusal)
    assert person is not None
    return person


def proposer_refusal(person: Person | None) -> str | None:
    """Why the person may not propose a target, or None when they propose for a department."""
    if approving_department(person) is not None:
        return None
    who = person.label if person else NOBODY
    return (
        f"{who} may not propose a target: finance members and the CFO propose finance's, "
        "procurement members procurement's."
    )


def proposing_department(person: Person | None) -> str:
    """Whose target the person proposes: finance (members, the CFO) or procurement (members)."""
    refusal = proposer_refusal(person)
    if refusal is not None:
        raise PermissionDenied(refusal)
    dept = approving_department(person)
    assert dept is not None
    return dept


def signer_refusal(person: Person | None, action: str) -> str | None:
    """Why the person may not sign (a KPI's content, an agreed target), or None when they
    sign for their own department."""
    if approving_department(person) is not None:
        return None
    who = person.label if person else NOBODY
    return (
        f"{who} may not {action}: {SIGNERS['finance']} signs for finance, "
        f"{SIGNERS['procurement']} for procurement."
    )


def require_signer(person: Person | None, action: str) -> str:
    """The department the acting person signs for (a KPI's content, an agreed target), or
    PermissionDenied: a signature is always the signer's own act, for their own department."""
    refusal = signer_refusal(person, action)
    if refusal is not None:
        raise PermissionDenied(refusal)
    dept = approving_department(person)
    assert dept is not None
    return dept


def same_address(a: object, b: object) -> bool:
    """Two e-mail addresses name the same person: equal after trimming and folding ASCII
    case only (a look-alike Unicode letter never matches)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    a, b = a.strip(), b.strip()
    return a.isascii() and b.isascii() and a.lower() == b.lower()


def find_person(email: object, people: Iterable[Person]) -> Person | None:
    """The person of people.yaml with this address, or None."""
    return next((p for p in people if same_address(p.email, email)), None)


def signature_problem(
    email: object, department: str, people: Iterable[Person]
) -> tuple[str, str] | None:
    """Why a recorded signature for `department` by `email` does not count, as (kind, text),
    or None when the signer is in people.yaml and may sign for it. Kinds: 'unknown signer'
    (not in people.yaml), 'wrong department' (may not sign for this department)."""
    person = find_person(email, people)
    if person is None:
        return "unknown signer", f"{email} is not in people.yaml"
    if approving_department(person) != department:
        return "wrong department", (
            f"{person.name} ({person.department}, {person.role}) may not sign for "
            f"{department}: {SIGNERS[department]} signs for it"
        )
    return None


# ---- savings initiatives --------------------------------------------------------------------


def may_edit_initiatives(person: Person | None) -> bool:
    """Procurement members and the CFO add and edit initiatives."""
    if person is None:
        return False
    return person.role == "cfo" or (person.department == "procurement" and person.role == "member")


def may_validate_initiatives(person: Person | None) -> bool:
    """Finance members and the CFO accept or reject; procurement never judges its own claims."""
    if person is None or person.department == "procurement":
        return False
    return person.role == "cfo" or (person.department == "finance" and person.role == "member")


def initiative_edit_refusal(person: Person | None) -> str | None:
    """Why the person may not add or edit initiatives (naming who acts and who may), or
    None: the page shows it beside the disabled form, the write raises it."""
    return _refusal(
        may_edit_initiatives(person), person, "add or edit savings initiatives", INITIATIVE_EDITORS
    )


def initiative_review_refusal(person: Person | None) -> str | None:
    """Why the person may not accept or reject initiatives, or None (as above)."""
    return _refusal(
        may_validate_initiatives(person),
        person,
        "accept or reject savings initiatives",
        INITIATIVE_VALIDATORS,
    )


def require_initiative_editor(person: Person | None) -> None:
    refusal = initiative_edit_refusal(person)
    if refusal is not None:
        raise PermissionDenied(refusal)


def require_initiative_validator(person: Person | None) -> None:
    refusal = initiative_review_refusal(person)
    if refusal is not None:
        raise PermissionDenied(refusal)


def require_independent_reviewer(
    person: Person, initiative_id: str, authors: Sequence[tuple[str, str, str | None]]
) -> None:
    """Four eyes from the record: nobody judges an initiative they created, or one whose
    money fields they changed since finance's last verdict.

    `authors` are the audit log's (changed_by, action, field) rows that count: every
    'created' row and each 'edited' row of a money field since the last verdict. The
    free-text owner plays no part: it is a display field anyone editing may set.
    """
    me = person.email.strip().lower()
    mine = [(action, field) for by, action, field in authors if by.strip().lower() == me]
    if not mine:
        return
    if any(action == "created" for action, _ in mine):
        why = f"created {initiative_id}"
    else:
        fields = sorted({field for _, field in mine if field})
        why = f"changed {', '.join(fields)} of {initiative_id} since finance's last verdict"
    raise PermissionDenied(
        f"{person.label} {why} and may not judge it: another of the {INITIATIVE_VALIDATORS} must."
    )


def _refusal(allowed: bool, person: Person | None, action: str, who: str) -> str | None:
    if allowed:
        return None
    label = person.label if person else NOBODY
    return f"{label} may not {action}: only {who} may."


# ---- discussions ----------------------------------------------------------------------------

DISCUSSION_WRITERS = "finance and procurement members and the CFO"


def may_discuss(person: Person | None) -> bool:
    """Finance and procurement members and the CFO comment, reply and resolve threads;
    everyone who may open the dashboard reads them."""
    return person is not None and person.can_write


def discussion_refusal(person: Person | None, action: str = "comment on threads") -> str | None:
    """Why the person may not write in a thread (comment, reply, resolve), or None: the
    panel shows it instead of the form, the write raises it."""
    if may_discuss(person):
        return None
    label = person.label if person else NOBODY
    return f"{label} may not {action}: only {DISCUSSION_WRITERS} may; everyone else reads them."


def require_discussion_writer(person: Person | None, action: str = "comment on threads") -> Person:
    """PermissionDenied unless the person may write in a thread (see `may_discuss`)."""
    refusal = discussion_refusal(person, action)
    if refusal is not None:
        raise PermissionDenied(refusal)
    assert person is not None
    return person
