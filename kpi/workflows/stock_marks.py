"""Stock procurement keeps on purpose: marking an item as safety or strategic stock, the history.

Finance sees idle stock as waste; procurement often holds it on purpose. A mark writes that
purpose down, so the inventory classes can use it and both departments see why:

- procurement members and the CFO mark an item (`mark_stock`) as `safety` or `strategic`
  stock with a reason and a review date, change the mark (the same call on a marked item)
  or remove it (`unmark_stock`), always with a reason; finance members and viewers may not
  (PermissionDenied: finance challenges a mark in the stock item's thread,
  subject `stock_item:<item_id>`);
- the review date is required and must be after the day of marking (UTC): a mark is a
  decision to look again, not a permanent exemption;
- every change is a new row of `stock_mark_changes` (who, when, why, what), never updated
  or deleted: the history is the record and an item's latest row is its mark. The table is
  a company record apart from loaded data, so loads, `--force` and view rebuilds keep it;
- a change applies from the store's latest stock snapshot on or before its day (the
  snapshot procurement was looking at; the day itself when there is none) onwards, so
  earlier snapshots keep the classes they had (`effective_from`, kept on the row);
- the inventory classes (view `inventory_position`) read the marks: stock of an item
  whose mark in force at a snapshot has a review date on or after the snapshot date is
  neither excess nor obsolete; from the day after its review date it is classed as if
  unmarked. Every KPI and page reading the classes therefore agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from kpi.core.people import Person
from kpi.core.permissions import require_stock_marker
from kpi.store.database import Store
from kpi.store.queries import stock_marks as q
from kpi.store.query import fetch_frame

KINDS = ("safety", "strategic")
KIND_LABELS = {"safety": "safety stock", "strategic": "strategic stock"}
ACTIONS = ("marked", "changed", "removed")


class StockMarkError(ValueError):
    """A mark that cannot be written as given; the message says what to do."""


@dataclass(frozen=True)
class StockMark:
    """An item's mark as it stands after a change."""

    item_id: str
    action: str  # marked, changed or removed
    kind: str | None  # None once removed
    review_date: date | None
    reason: str
    effective_from: date
    changed_at: datetime
    changed_by: str
    message: str  # one sentence for the person who made the change


# ---- reading ------------------------------------------------------------------------------


def current_marks(store: Store, today: date | None = None) -> pl.DataFrame:
    """Every item's mark in force now, soonest review first.

    Columns: item_id, description, category, kind, review_date, reason, effective_from,
    marked_at (UTC), marked_by, marked_by_name, change_id, review_passed (the review date
    is before `today`, default the UTC day: the mark no longer keeps stock out of excess
    and obsolete in snapshots after it, and asks procurement to look again).
    """
    # a store written before marks existed reads an empty stand-in (kpi.store.views)
    with store.read() as con:
        return fetch_frame(con, q.CURRENT_MARKS, {"today": today or _now().date()})


def mark_history(store: Store, item_id: str | None = None) -> pl.DataFrame:
    """Every change of the marks (or one item's), newest first: change_id, item_id,
    description, action (marked, changed, removed), kind, review_date, reason,
    effective_from, changed_at (UTC), changed_by, changed_by_name."""
    with store.read() as con:
        return fetch_frame(con, q.HISTORY, {"item_id": item_id})


def markable_items(store: Store) -> dict[str, str]:
    """Items in the latest stock snapshot of any location: id -> 'id · description
    (category)', the mark form's choices."""
    with store.read() as con:
        rows = con.execute(q.MARKABLE_ITEMS).fetchall()
    return {
        i: f"{i} · {desc or 'no description'} ({cat or 'no category'})" for i, desc, cat in rows
    }


# ---- writing ------------------------------------------------------------------------------


def mark_stock(
    store: Store,
    person: Person,
    item_id: str,
    kind: str,
    reason: str,
    review_date: date,
    seen_change: int | None = None,
) -> StockMark:
    """Mark an item as safety or strategic stock, or change its mark (kind, reason or review
    date). Only procurement members and the CFO may (PermissionDenied); the reason is
    required and the review date must be after today (StockMarkError). A change that
    changes nothing is refused rather than written twice. `seen_change` is the item's
    latest change id as the person was shown it (0: no change shown); when the store holds
    a later one, the write is refused rather than overwriting someone else's change."""
    require_stock_marker(person)
    item_id = (item_id or "").strip()
    reason = _reason(reason, "mark")
    if kind not in KINDS:
        raise StockMarkError(f"'{kind}' is not a kind of mark: use 'safety' or 'strategic'.")
    now = _now()
    if not isinstance(review_date, date):
        raise StockMarkError("Give a review date: the day the mark must be looked at again.")
    if review_date <= now.date():
        raise StockMarkError(
            f"The review date {review_date:%Y-%m-%d} is not in the future (today is "
            f"{now:%Y-%m-%d} UTC): pick a later day to look at this stock again."
        )
    with store.write() as con:
        _check_item(con, item_id)
        latest = _latest(con, item_id)
        _check_not_stale(item_id, latest, seen_change)
        marked = latest is not None and latest["action"] != "removed"
        if marked and (latest["kind"], latest["review_date"], latest["reason"]) == (
            kind,
            review_date,
            reason,
        ):
            raise StockMarkError(
                f"{item_id} is already marked as {KIND_LABELS[kind]} until "
                f"{review_date:%Y-%m-%d} for this reason: nothing was changed."
            )
        action = "changed" if marked else "marked"
        effective = _write(con, person, item_id, action, kind, review_date, reason, now)
    verb = "Changed the mark of" if marked else "Marked"
    message = (
        f"{verb} {item_id}: {KIND_LABELS[kind]} until {review_date:%Y-%m-%d}, from the "
        f"snapshot of {effective:%Y-%m-%d} on; it is not counted as excess or obsolete "
        "until then."
    )
    return StockMark(
        item_id, action, kind, review_date, reason, effective, now, person.email, message
    )


def unmark_stock(
    store: Store, person: Person, item_id: str, reason: str, seen_change: int | None = None
) -> StockMark:
    """Remove an item's mark, with a reason (kept in the history): from the latest snapshot
    on, its stock is classed as if it had never been marked. Only procurement members and
    the CFO may; an item without a mark is refused (StockMarkError), and so is a removal
    after someone else changed the mark (`seen_change`, as for `mark_stock`)."""
    require_stock_marker(person)
    item_id = (item_id or "").strip()
    reason = _reason(reason, "remove the mark")
    now = _now()
    with store.write() as con:
        latest = _latest(con, item_id)
        _check_not_stale(item_id, latest, seen_change)
        if latest is None or latest["action"] == "removed":
            raise StockMarkError(f"{item_id or 'This item'} has no mark to remove.")
        effective = _write(con, person, item_id, "removed", None, None, reason, now)
    message = (
        f"Removed the mark of {item_id}: from the snapshot of {effective:%Y-%m-%d} on, its "
        "stock is classed by its levels and movement alone."
    )
    return StockMark(item_id, "removed", None, None, reason, effective, now, person.email, message)


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise StockMarkError(
            f"Say why you {what}: the reason is kept in the item's history for finance and "
            "procurement to read."
        )
    return text


def _check_not_stale(item_id: str, latest: dict[str, Any] | None, seen: int | None) -> None:
    if seen is None or (latest["change_id"] if latest else 0) == seen:
        return
    assert latest is not None  # a later change than the one seen exists
    raise StockMarkError(
        f"The mark of {item_id} was changed by {latest['changed_by_name'] or latest['changed_by']} "
        f"at {latest['changed_at']:%Y-%m-%d %H:%M} UTC since you opened the page: look at it "
        "again, then make your change."
    )


def _check_item(con: Any, item_id: str) -> None:
    if not item_id or not con.execute(q.ITEM_KNOWN, {"item_id": item_id}).fetchall()[0][0]:
        raise StockMarkError(
            f"There is no item '{item_id}' in the store: pick one from the stock list, or "
            "load it first (python -m kpi load items FILE)."
        )


def _latest(con: Any, item_id: str) -> dict[str, Any] | None:
    rows = con.execute(q.LATEST_CHANGE, {"item_id": item_id}).fetchall()
    if not rows:
        return None
    names = (
        "change_id",
        "action",
        "kind",
        "review_date",
        "reason",
        "effective_from",
        "changed_at",
        "changed_by",
        "changed_by_name",
    )
    return dict(zip(names, rows[0], strict=True))


def _write(
    con: Any,
    person: Person,
    item_id: str,
    action: str,
    kind: str | None,
    review_date: date | None,
    reason: str,
    now: datetime,
) -> date:
    """Append one change; returns the first snapshot date it applies to."""
    (effective,) = con.execute(q.EFFECTIVE_FROM, {"day": now.date()}).fetchall()[0]
    (last,) = con.execute(q.LAST_CHANGE_ID).fetchall()[0]
    con.execute(
        q.INSERT_CHANGE,
        {
            "change_id": last + 1,
            "item_id": item_id,
            "action": action,
            "kind": kind,
            "review_date": review_date,
            "reason": reason,
            "effective_from": effective,
            "changed_at": now,
            "changed_by": person.email,
            "changed_by_name": person.name,
        },
    )
    return effective


def _now() -> datetime:
    """UTC, without a zone (DuckDB TIMESTAMP); the one place this module reads the clock."""
    return datetime.now(UTC).replace(tzinfo=None)
