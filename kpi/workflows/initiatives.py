"""The savings-initiative ledger: add, edit and list initiatives, finance's verdict, the audit log.

The rules live here, not in the page, so they hold whatever the app shows or hides:

- procurement members and the CFO add and edit initiatives; finance members and viewers
  may not;
- finance members and the CFO accept or reject them, always with a reason; procurement
  never does, not even for an initiative it did not raise;
- four eyes from the record: whoever created an initiative, or changed one of its money
  fields since finance's last verdict, may not judge it (read from `initiative_changes`;
  the free-text owner is a display field and decides nothing);
- a verdict carries the fingerprint of the numbers the reviewer was shown (`numbers_hash`)
  and is refused when the stored numbers changed since; the verdict's audit rows keep it;
- editing a money-relevant field (kind, prices, volume, currency, dates, supplier, item,
  category) of an initiative finance already accepted or rejected sends it back to
  pending, and says so;
- two priced initiatives on the same scope (the same supplier and item, or the same
  supplier and category, both category-wide) whose windows share a day are refused: an
  invoice line counts for one initiative only (`check_no_overlap`, also run on loads);
- a new initiative identical to one the same person created in the last TWIN_MINUTES
  minutes (every field but the id and finance's verdict) is refused as a twin: a
  double click on Save, a resent form or a second browser tab adds it once
  (`check_not_twin`);
- every change writes audit rows (who, when, which field, old → new, why) into
  `initiative_changes` in the same write transaction as the change itself.

Bulk loads (`python -m kpi load savings_initiatives FILE`, the Data page) go through
kpi.ingest.pipelines, which applies the same rules and writes the same audit rows
(kpi.ingest.audited): finance's verdict never comes from a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import duckdb
import polars as pl
from pydantic import (
    ValidationError,
)

from kpi.core.people import Person
from kpi.core.permissions import (
    INITIATIVE_VALIDATORS,
    require_independent_reviewer,
    require_initiative_editor,
    require_initiative_validator,
)
from kpi.store.audit_log import (
    AUTHORS_SINCE_VERDICT,
    audit_text,
    last_initiative_change,
    write_initiative_changes,
)
from kpi.store.database import Store
from kpi.store.queries import savings_ledger as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.store.query import fetch_frame
from kpi.workflows.initiative_model import (
    DECISIONS,
    FINANCE_FIELDS,
    MONEY_FIELDS,
    Initiative,
    InitiativeError,
    blank_to_none,
    field_problems,
    money_summary,
    numbers_hash,
)

# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _values(value: str | Sequence[str] | None) -> list[str] | None:
    """A filter given as one value or several; None or nothing means no filter."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return [str(v) for v in items] or None


def list_initiatives(
    store: Store,
    kind: str | Sequence[str] | None = None,
    stage: str | Sequence[str] | None = None,
    finance_status: str | Sequence[str] | None = None,
    category: str | Sequence[str] | None = None,
    owner: str | Sequence[str] | None = None,
    search: str | None = None,
) -> pl.DataFrame:
    """The initiatives, filtered; each filter takes one value or a list (any of them).

    `category` matches the initiative's category, or its item's when it has none; `search`
    finds text (case ignored) in the id, title, category, supplier, item, owner and note.
    Columns: every `savings_initiatives` column (an unset finance_status reads 'pending'),
    then `supplier_name` and `item_description`. Ordered by initiative_id.
    """
    params = {
        "kind": _values(kind),
        "stage": _values(stage),
        "finance_status": _values(finance_status),
        "category": _values(category),
        "owner": _values(owner),
        "search": (search or "").strip() or None,
    }
    with store.read() as con:
        return fetch_frame(con, q.LIST_INITIATIVES, params)


def get_initiative(store: Store, initiative_id: str) -> Initiative:
    """One initiative as stored, to fill an edit form and to pass as `based_on` when saving.

    A row loaded in bulk may break today's rules (no title, say); it is still returned, and
    `save_initiative` then says what to fix.
    """
    with store.read() as con:
        row = _fetch(con, initiative_id)
    if row is None:
        raise InitiativeError(f"There is no initiative '{initiative_id}'.", "initiative_id")
    try:
        return Initiative.model_validate(row)
    except ValidationError:
        return Initiative.model_construct(**row)


def history(store: Store, initiative_id: str | None = None) -> pl.DataFrame:
    """The audit log, newest first: every change, or one initiative's.

    Columns: change_id, initiative_id, title (the initiative's current title), changed_at
    (UTC), changed_by (e-mail), action (created, edited, finance_reset, accepted, rejected),
    field, old_value, new_value (as text; NULL when unset), reason.
    """
    with store.read() as con:
        if not _one(con, HAS_TABLE, {"name": "initiative_changes"})[0]:  # a store before the log
            return _empty_history()
        return fetch_frame(con, q.HISTORY, {"initiative_id": initiative_id})


def _empty_history() -> pl.DataFrame:
    text = pl.String
    return pl.DataFrame(
        schema={
            "change_id": pl.Int64,
            "initiative_id": text,
            "title": text,
            "changed_at": pl.Datetime("us"),
            "changed_by": text,
            "action": text,
            "field": text,
            "old_value": text,
            "new_value": text,
            "reason": text,
        }
    )


def get_row(con: duckdb.DuckDBPyConnection, initiative_id: str) -> dict[str, Any]:
    """One initiative as stored, as a dict, read in a transaction already open (the demo
    builder reads what it wrote, to judge the numbers it shows its finance member)."""
    row = _fetch(con, initiative_id)
    if row is None:
        raise InitiativeError(f"There is no initiative '{initiative_id}'.", "initiative_id")
    return row


def _fetch(con: duckdb.DuckDBPyConnection, initiative_id: str) -> dict[str, Any] | None:
    row = _one(con, q.GET_INITIATIVE, {"initiative_id": initiative_id})
    if row is None:
        return None
    out = {c: blank_to_none(v) for c, v in zip(q.INITIATIVE_COLUMNS, row, strict=True)}
    out["finance_status"] = out["finance_status"] or "pending"
    return out


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


class Saved(str):
    """The id `save_initiative` wrote, carrying what happened (it is the id as a string).

    `message` is a sentence for the person; `changed` the fields that changed;
    `finance_reset` is True when the edit sent a ruled initiative back to pending.
    """

    message: str
    changed: tuple[str, ...]
    finance_reset: bool
    created: bool

    def __new__(
        cls, initiative_id: str, message: str, changed: tuple[str, ...], reset: bool, new: bool
    ) -> Saved:
        obj = super().__new__(cls, initiative_id)
        obj.message, obj.changed, obj.finance_reset, obj.created = message, changed, reset, new
        return obj


class _NothingChanged(Exception):
    """Raised inside the write so that an edit changing nothing leaves the store untouched."""


def save_initiative(
    store: Store,
    person: Person,
    initiative: Initiative,
    reason: str | None = None,
    based_on: Initiative | None = None,
) -> Saved:
    """Add an initiative (a new id SI-<year>-NNNN when it has none) or edit the stored one.

    Only procurement members and the CFO may (PermissionDenied otherwise). `based_on` is
    the initiative as the editor first read it: when the store holds something else by now,
    the save is refused rather than overwriting someone else's change. Editing a
    money-relevant field of an initiative finance accepted or rejected resets it to
    pending; the returned `Saved` says so. The model's finance_status and finance_note are
    never taken on an edit (finance sets them with `validate_initiative`), and a new
    initiative starts pending. Audit rows are written in the same transaction.
    """
    require_initiative_editor(person)
    try:  # a model built with model_construct or model_copy skipped the checks
        initiative = Initiative.model_validate(initiative.model_dump(warnings=False))
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {v}" for k, v in field_problems(exc).items())
        raise InitiativeError(f"The initiative cannot be saved: {problems}.") from exc
    reason = (reason or "").strip() or None
    now = _now()
    outcome: Saved | None = None
    try:
        with store.write() as con:
            _check_references(con, initiative)
            check_not_twin(con, person, initiative, now)
            check_no_overlap(con, initiative, store.settings.savings_window_months)
            stored = _fetch(con, initiative.initiative_id) if initiative.initiative_id else None
            _check_not_stale(stored, based_on)
            if stored is None:
                outcome = _add(con, person, initiative, reason, now)
            else:
                outcome = _edit(con, person, initiative, stored, reason, now)
    except _NothingChanged:
        ini_id = str(initiative.initiative_id)
        return Saved(ini_id, f"Nothing changed in {ini_id}; nothing was saved.", (), False, False)
    assert outcome is not None
    return outcome


def _add(
    con: duckdb.DuckDBPyConnection,
    person: Person,
    initiative: Initiative,
    reason: str | None,
    now: datetime,
) -> Saved:
    if initiative.finance_status != "pending" or initiative.finance_note is not None:
        raise InitiativeError(
            "A new initiative starts pending: finance accepts or rejects it afterwards.",
            "finance_status",
        )
    row = initiative.model_dump()
    row["initiative_id"] = row["initiative_id"] or _next_id(con, initiative.start_date, now)
    row["owner"] = row["owner"] or person.email
    con.execute(q.INSERT_INITIATIVE, row)
    changes = [
        Change("created", f, None, _text(row[f], f))
        for f in q.INITIATIVE_COLUMNS
        if f != "initiative_id" and row[f] is not None
    ]
    _audit(con, row["initiative_id"], person, now, changes, reason)
    ini_id = row["initiative_id"]
    return Saved(ini_id, f"Added {ini_id}; it is pending finance's review.", (), False, True)


def _edit(
    con: duckdb.DuckDBPyConnection,
    person: Person,
    initiative: Initiative,
    stored: dict[str, Any],
    reason: str | None,
    now: datetime,
) -> Saved:
    row = initiative.model_dump()
    ini_id = row["initiative_id"]
    # finance's fields are never taken from an edit: the stored verdict stays (or is reset)
    kept = [f for f in FINANCE_FIELDS if row[f] != stored[f]]
    row.update({f: stored[f] for f in FINANCE_FIELDS})
    changed = tuple(
        f for f in q.INITIATIVE_COLUMNS if f not in FINANCE_FIELDS and row[f] != stored[f]
    )
    if not changed:
        raise _NothingChanged
    changes = [Change("edited", f, _text(stored[f], f), _text(row[f], f)) for f in changed]
    money = [f for f in changed if f in MONEY_FIELDS]
    reset = bool(money) and stored["finance_status"] in DECISIONS
    message = f"Saved {ini_id} ({', '.join(changed)} changed)."
    if kept:
        message += (
            f" The {' and '.join(kept)} given were not taken: only {INITIATIVE_VALIDATORS} "
            "set them, with their verdict."
        )
    if reset:
        was = stored["finance_status"]
        row["finance_status"] = "pending"
        row["finance_note"] = (
            f"Back to pending on {now:%Y-%m-%d}: {', '.join(money)} changed after finance {was} it."
        )
        why = f"money-relevant fields changed after finance {was} it: {', '.join(money)}"
        changes += [
            Change("finance_reset", f, _text(stored[f]), _text(row[f]), why) for f in FINANCE_FIELDS
        ]
        message += (
            f" Finance had {was} it; because {', '.join(money)} changed it is pending "
            "finance's review again."
        )
    con.execute(q.UPDATE_INITIATIVE, row)
    _audit(con, ini_id, person, now, changes, reason)
    return Saved(ini_id, message, changed, reset, False)


def validate_initiative(
    store: Store,
    person: Person,
    initiative_id: str,
    decision: str,
    reason: str,
    *,
    numbers_seen: str,
) -> None:
    """Finance's verdict on an initiative: 'accepted' or 'rejected', always with a reason.

    Only finance members and the CFO may, never procurement, and never someone who created
    the initiative or changed its money fields since the last verdict (PermissionDenied,
    decided from the audit log). `numbers_seen` is `numbers_hash` of the initiative as the
    reviewer was shown it: when the stored numbers differ, the verdict is refused
    (InitiativeError) so that nobody accepts numbers they did not see. The reason becomes
    the finance_note; the verdict, the note and their audit rows (with the fingerprint) are
    written in one transaction.
    """
    require_initiative_validator(person)
    decision, reason = _verdict_given(decision, reason)
    now = _now()
    with store.write() as con:
        record_verdict(con, person, initiative_id, decision, reason, numbers_seen, now)


def _verdict_given(decision: str, reason: str) -> tuple[str, str]:
    if decision not in DECISIONS:
        raise InitiativeError(
            f"'{decision}' is not a verdict: use 'accepted' or 'rejected'.", "finance_status"
        )
    reason = (reason or "").strip()
    if not reason:
        raise InitiativeError(
            f"Say why the initiative is {decision}: the reason is kept as finance's note "
            "and in the audit log.",
            "finance_note",
        )
    return decision, reason


def record_verdict(
    con: duckdb.DuckDBPyConnection,
    person: Person,
    initiative_id: str,
    decision: str,
    reason: str,
    numbers_seen: str,
    now: datetime,
) -> None:
    """`validate_initiative`'s checks and writes inside a write transaction already open
    (the demo builder records its finance member's verdicts with it, in its own write)."""
    require_initiative_validator(person)
    decision, reason = _verdict_given(decision, reason)
    stored = _fetch(con, initiative_id)
    if stored is None:
        raise InitiativeError(f"There is no initiative '{initiative_id}'.", "initiative_id")
    authors = con.execute(
        AUTHORS_SINCE_VERDICT, {"ids": [initiative_id], "money": list(MONEY_FIELDS)}
    ).fetchall()
    require_independent_reviewer(person, initiative_id, [row[:3] for row in authors])
    if not (numbers_seen or "").strip():
        raise InitiativeError(
            f"A verdict on {initiative_id} needs the numbers you reviewed (their fingerprint, "
            "numbers_hash): open the review, look at the numbers, then decide."
        )
    if numbers_hash(stored) != numbers_seen.strip():
        raise InitiativeError(
            f"The numbers changed since you opened the review: {initiative_id} now reads "
            f"{money_summary(stored)}; look again before you record a verdict."
        )
    row = stored | {"finance_status": decision, "finance_note": reason}
    con.execute(q.UPDATE_INITIATIVE, row)
    changes = [
        Change(decision, f, _text(stored[f]), _text(row[f]))
        for f in FINANCE_FIELDS
        if stored[f] != row[f]
    ]
    # the same verdict with the same words again still leaves a trace of who confirmed it
    changes = changes or [Change(decision, None, None, None)]
    _audit(con, initiative_id, person, now, changes, reason, numbers_seen=numbers_hash(stored))


# ---- helpers of the writers ------------------------------------------------------------------


def _check_references(con: duckdb.DuckDBPyConnection, ini: Initiative) -> None:
    """The supplier and item exist, and the item belongs to the category given."""
    if ini.supplier_id is not None:
        (found,) = _one(con, q.SUPPLIER_EXISTS, {"supplier_id": ini.supplier_id})
        if not found:
            raise InitiativeError(
                f"There is no supplier '{ini.supplier_id}' in the store: pick one from the "
                "supplier list, or load it first (python -m kpi load suppliers FILE).",
                "supplier_id",
            )
    if ini.item_id is not None:
        found, item_category = _one(con, q.ITEM_CATEGORY, {"item_id": ini.item_id})
        if not found:
            raise InitiativeError(
                f"There is no item '{ini.item_id}' in the store: pick one from the item "
                "list, or load it first (python -m kpi load items FILE).",
                "item_id",
            )
        if ini.category and item_category and ini.category != item_category:
            raise InitiativeError(
                f"Item '{ini.item_id}' is in the category '{item_category}', not "
                f"'{ini.category}': correct the category or leave it empty.",
                "category",
            )


TWIN_MINUTES = 10  # how long an identical new initiative by the same person counts as a twin


def check_not_twin(
    con: duckdb.DuckDBPyConnection, person: Person, ini: Initiative, now: datetime
) -> None:
    """Refuse a new initiative identical to one the same person created in the last
    TWIN_MINUTES minutes: the same fields (supplier, item, category, dates, prices,
    volume, currency, kind, stage, title, owner), whatever its id and finance's verdict.
    The second click on Save, or the form sent again from another tab, adds nothing."""
    if ini.initiative_id is not None:
        return
    given = ini.model_dump()
    given["owner"] = given["owner"] or person.email
    compared = [f for f in q.INITIATIVE_COLUMNS if f != "initiative_id" and f not in FINANCE_FIELDS]
    since = now - timedelta(minutes=TWIN_MINUTES)
    recent = con.execute(q.CREATED_BY_SINCE, {"changed_by": person.email, "since": since})
    for other_id, created_at in recent.fetchall():
        stored = _fetch(con, other_id)
        if stored is not None and all(given[f] == stored[f] for f in compared):
            raise InitiativeError(
                f"You added this same initiative as {other_id} at {created_at:%H:%M} UTC: it "
                "was not added twice. To add a second one on purpose, change one of its "
                f"fields (the title, say); to change {other_id}, open it in the form.",
                "title",
            )


def check_no_overlap(con: duckdb.DuckDBPyConnection, ini: Initiative, window_months: int) -> None:
    """Refuse an initiative whose scope and window another priced initiative already holds.

    Same scope: the same supplier and the same item, or both category-wide on the same
    category. The window runs from the start date to the end date (else `window_months`
    months from the start); an initiative without a start date has none and overlaps
    nothing. An item's initiative beside a category-wide one is allowed: the item's
    initiative takes its own lines (item before category).
    """
    params = {
        "initiative_id": ini.initiative_id,
        "kind": ini.kind,
        "supplier_id": ini.supplier_id,
        "item_id": ini.item_id,
        "category": ini.category,
        "start_date": ini.start_date,
        "end_date": ini.end_date,
        "window": window_months,
    }
    others = con.execute(q.OVERLAPPING, params).fetchall()
    if not others:
        return
    other_id, title, start, end = others[0]
    scope = f"item {ini.item_id}" if ini.item_id else f"category {ini.category}"
    raise InitiativeError(
        f"This initiative overlaps {other_id} ('{title}', {start} to {end}): the same "
        f"supplier {ini.supplier_id} and {scope} in the same days, so an invoice line would "
        f"count twice. End {other_id} before this one starts, start this one after "
        f"{end}, or edit {other_id} instead.",
        "start_date",
    )


def _check_not_stale(stored: dict[str, Any] | None, based_on: Initiative | None) -> None:
    if based_on is None:
        return
    seen = based_on.model_dump(warnings=False)
    if stored is None or any(seen[f] != stored[f] for f in q.INITIATIVE_COLUMNS):
        raise InitiativeError(
            f"{based_on.initiative_id} was changed by someone else since you opened it: "
            "reload it and make your change again."
        )


def _next_id(con: duckdb.DuckDBPyConnection, start: date | None, now: datetime) -> str:
    """SI-<year>-NNNN: the year the initiative starts (else this year), next free number."""
    year = (start or now.date()).year
    pattern = rf"^SI-{year}-(\d+)$"
    (last,) = _one(con, q.LAST_SEQUENCE, {"pattern": pattern})
    return f"SI-{year}-{int(last) + 1:04d}"


class Change(NamedTuple):
    """One audit row to write; `reason` overrides the reason the person gave."""

    action: str
    field: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None = None


def _audit(
    con: duckdb.DuckDBPyConnection,
    initiative_id: str,
    person: Person,
    now: datetime,
    changes: list[Change],
    reason: str | None,
    numbers_seen: str | None = None,
) -> None:
    last = last_initiative_change(con)
    rows = [
        (
            last + n,
            initiative_id,
            now,
            person.email,
            c.action,
            c.field,
            c.old_value,
            c.new_value,
            c.reason or reason,
            numbers_seen,
        )
        for n, c in enumerate(changes, start=1)
    ]
    write_initiative_changes(con, rows)


def _text(value: object, field: str = "") -> str | None:
    """A field's value as the audit log keeps it (kpi.store.audit_log.audit_text)."""
    return audit_text(value, field)


def _one(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> Any:
    """The first row of a query (or None), with the result read to the end as DuckDB wants."""
    rows = con.execute(query, params).fetchall() if params else con.execute(query).fetchall()
    return rows[0] if rows else None


def _now() -> datetime:
    """UTC, without a zone (DuckDB TIMESTAMP)."""
    return datetime.now(UTC).replace(tzinfo=None)


def supplier_items(store: Store) -> dict[str, list[str]]:
    """The items each supplier invoiced (supplier id -> item ids): the initiative form
    offers only the chosen supplier's items."""
    sold: dict[str, list[str]] = {}
    with store.read() as con:
        for supplier_id, item_id in con.execute(q.SUPPLIER_ITEMS).fetchall():
            sold.setdefault(supplier_id, []).append(item_id)
    return sold


def form_choices(store: Store) -> tuple[dict[str, str], dict[str, str]]:
    """Suppliers and items for the initiative form: id -> 'id · name' labels."""
    with store.read() as con:
        suppliers = con.execute(q.SUPPLIER_CHOICES).fetchall()
        items = con.execute(q.ITEM_CHOICES).fetchall()
    return (
        {s: f"{s} · {name or ''}" for s, name in suppliers},
        {i: f"{i} · {desc or ''} ({cat or 'no category'})" for i, desc, cat in items},
    )
