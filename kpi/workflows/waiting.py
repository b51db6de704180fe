"""What waits for a person: the one shape every workflow uses to say "this needs you".

Each workflow that can wait for someone (a KPI approval, a target signature, an initiative
review, a terms proposal's answer or signature, a thread that mentions them) offers a
`waiting_for(store, person) -> list[WaitingItem]`; the inbox gathers them, the sidebar
counts them and the digest lists them, so the three never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# What kind of act an item asks for; the inbox groups and orders by it.
KINDS = (
    "definition_approval",  # a KPI definition (or its target) waits for the department's approval
    "target_signature",  # an agreed quarterly target waits for this signer
    "initiative_review",  # a savings initiative waits for finance's verdict
    "terms_response",  # a payment-terms proposal waits for procurement's answer
    "terms_signature",  # a payment-terms proposal version waits for this signer
    "mention",  # an unresolved thread mentions the person or their department
)


@dataclass(frozen=True)
class WaitingItem:
    """One thing a person (or their department) is expected to act on."""

    kind: str  # one of KINDS
    subject: str  # stable id of the thing, e.g. "kpi:days_to_pay" or "initiative:SAV-2026-014"
    title: str  # one line, plain text: what it is
    detail: str  # one line, plain text: what is expected and from whom
    page: str  # the page that acts on it, e.g. "pages/definitions.py"
    query: dict[str, str] = field(default_factory=dict)  # query parameters that open it there
    since: datetime | None = None  # when it started waiting (UTC, naive), None when unknown
