"""Loads of the tables people also write on a page: the same rules and audit logs as there.

- Finance's verdict columns of savings_initiatives (finance_status, finance_note) never
  come from a file, a mapped column or a mapping constant: the load plan drops them, and the
  rows that carried a value are counted so the report says they were ignored. Finance gives
  verdicts on the Savings page (kpi.workflows.initiatives.validate_initiative).
- A loaded initiative is the loader's edit: a new one lands pending; one that replaces a
  stored initiative keeps finance's stored verdict unless a money field changed, and then
  goes back to pending, as an edit on the page does. Each new initiative writes 'created'
  rows and each changed field an 'edited' row to initiative_changes (changed_by = the
  loader, reason "loaded from <file>"), so the four-eyes rule sees who wrote the numbers.
- Loaded initiatives follow the ledger's scope rules (`refuse_overlaps`): two priced
  initiatives on the same supplier and item (or category, both category-wide) whose
  windows share a day, or a category-wide one priced by one baseline for every item, refuse
  the load with a message naming them, as the Savings page's form refuses them.
- A loaded price-outlook row that is new or differs from the stored one writes an
  outlook_changes row (who, when, old, new, "loaded from <file>").
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import duckdb
import polars as pl

from kpi.ingest.loader import Loader
from kpi.ingest.matching import Plan
from kpi.ingest.report import LoadRefused
from kpi.store import audit_log as log
from kpi.store.queries import savings_ledger as ledger
from kpi.store.schema import MONEY_COLUMNS, TABLES, VERDICT_COLUMNS

INITIATIVES, OUTLOOK = "savings_initiatives", "price_outlook"
AUDITED_TABLES = (INITIATIVES, OUTLOOK)
VERDICT_NOTE = "finance gives verdicts on the Savings page"
_DECISIONS = ("accepted", "rejected")


@dataclasses.dataclass(frozen=True)
class Withheld:
    """A verdict column the file (or the mapping) tried to set, and where its value was."""

    column: str
    file_column: str | None = None  # the file's column holding it
    constant: str | None = None  # or the mapping's constant


def withhold_verdicts(plan: Plan) -> tuple[Plan, list[Withheld]]:
    """The plan without finance's verdict columns, and what it would have read them from."""
    if plan.table.name != INITIATIVES:
        return plan, []
    withheld = [
        Withheld(c, plan.sources.get(c), plan.constants.get(c))
        for c in VERDICT_COLUMNS
        if c in plan.sources or (c in plan.constants and plan.constants[c].strip())
    ]
    if not withheld:
        return plan, []
    sources = {k: v for k, v in plan.sources.items() if k not in VERDICT_COLUMNS}
    constants = {k: v for k, v in plan.constants.items() if k not in VERDICT_COLUMNS}
    return dataclasses.replace(plan, sources=sources, constants=constants), withheld


def count_withheld(raw: pl.DataFrame, withheld: list[Withheld], counts: dict[str, int]) -> None:
    """Add to `counts` the rows of a batch that gave each withheld column a value."""
    for w in withheld:
        if w.constant is not None:
            given = raw.height
        else:
            text = pl.col(str(w.file_column)).cast(pl.String).str.strip_chars().fill_null("")
            given = int(raw.select((text != "").sum()).item())
        if given:
            counts[w.column] = counts.get(w.column, 0) + given


def withheld_note(counts: dict[str, int], withheld: list[Withheld], mapping: str | None) -> str:
    """'finance_status ignored for 3 rows: finance gives verdicts on the Savings page'."""
    parts = []
    for w in withheld:
        if counts.get(w.column):
            n = counts[w.column]
            how = f" (a constant of mapping '{mapping}')" if w.constant is not None else ""
            parts.append(f"{w.column} ignored for {n} row{'s' * (n != 1)}{how}")
    return f"{', '.join(parts)}: {VERDICT_NOTE}" if parts else ""


@dataclasses.dataclass
class AuditTally:
    """What a load's audit wrote: log rows, and initiatives sent back to pending."""

    rows: int = 0
    back_to_pending: int = 0


def audit_batch(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pl.DataFrame,
    loader: Loader,
    file_name: str,
    now: datetime,
    tally: AuditTally,
) -> pl.DataFrame:
    """Write the audit rows of a batch about to be upserted; return the rows to upsert
    (for initiatives, with finance's verdict as the rules leave it)."""
    if rows.height == 0 or table not in AUDITED_TABLES:
        return rows
    if table == INITIATIVES:
        return _audit_initiatives(con, rows, loader, file_name, now, tally)
    _audit_outlook(con, rows, loader, file_name, now, tally)
    return rows


def _audit_initiatives(
    con: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    loader: Loader,
    file_name: str,
    now: datetime,
    tally: AuditTally,
) -> pl.DataFrame:
    found = con.execute(log.STORED_INITIATIVES, {"ids": rows["initiative_id"].to_list()})
    names = [d[0] for d in found.description]
    stored = {r[0]: dict(zip(names, r, strict=True)) for r in found.fetchall()}
    # the table's own columns: STORED_INITIATIVES also returns the lineage columns, which
    # change with every load and are no field of the initiative (never logged as a change)
    fields = [c for c in TABLES[INITIATIVES].column_names if c not in ("initiative_id",)]
    reason = f"loaded from {file_name}"
    changes: list[tuple[str, str, str | None, str | None, str | None, str]] = []
    statuses: list[str | None] = []
    notes: list[str | None] = []
    for row in rows.iter_rows(named=True):
        ini = row["initiative_id"]
        before = stored.get(ini)
        if before is None:  # new: pending, whatever the file said
            statuses.append(None)
            notes.append(None)
            changes += [
                (ini, "created", f, None, log.audit_text(row[f], f), reason)
                for f in fields
                if f not in VERDICT_COLUMNS and row[f] is not None
            ]
            continue
        changed = [
            f
            for f in fields
            if f not in VERDICT_COLUMNS
            and log.audit_text(row[f], f) != log.audit_text(before[f], f)
        ]
        changes += [
            (ini, "edited", f, log.audit_text(before[f], f), log.audit_text(row[f], f), reason)
            for f in changed
        ]
        money = [f for f in changed if f in MONEY_COLUMNS]
        was = before["finance_status"]
        if money and was in _DECISIONS:
            note = (
                f"Back to pending on {now:%Y-%m-%d}: {', '.join(money)} changed "
                f"({reason}) after finance {was} it."
            )
            why = f"money-relevant fields changed after finance {was} it: {', '.join(money)}"
            changes += [
                (ini, "finance_reset", "finance_status", was, "pending", why),
                (ini, "finance_reset", "finance_note", before["finance_note"], note, why),
            ]
            statuses.append("pending")
            notes.append(note)
            tally.back_to_pending += 1
        else:  # finance's verdict stays as finance left it
            statuses.append(was)
            notes.append(before["finance_note"])
    first = log.last_initiative_change(con) + 1
    log.write_initiative_changes(
        con,
        [
            (first + n, ini, now, loader.loaded_by, action, f, old, new, why, None)
            for n, (ini, action, f, old, new, why) in enumerate(changes)
        ],
    )
    tally.rows += len(changes)
    return rows.with_columns(
        pl.Series("finance_status", statuses, dtype=pl.String),
        pl.Series("finance_note", notes, dtype=pl.String),
    )


def _audit_outlook(
    con: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    loader: Loader,
    file_name: str,
    now: datetime,
    tally: AuditTally,
) -> None:
    stored = {(q, c): (pct, note) for q, c, pct, note in con.execute(log.STORED_OUTLOOK).fetchall()}
    change_id = int(con.execute(log.NEXT_OUTLOOK_CHANGE).fetchall()[0][0])
    for row in rows.iter_rows(named=True):
        old_pct, old_note = stored.get((row["quarter"], row["category"]), (None, None))
        new_pct: Decimal | None = row["expected_change_pct"]
        key_known = (row["quarter"], row["category"]) in stored
        if key_known and old_pct == new_pct and old_note == row["note"]:
            continue  # the same numbers again: nothing changed, nothing to log
        con.execute(
            log.INSERT_OUTLOOK_CHANGE,
            {
                "change_id": change_id,
                "quarter": row["quarter"],
                "category": row["category"],
                "changed_at": now,
                "changed_by": loader.loaded_by,
                "changed_by_name": loader.name,
                "old_change_pct": old_pct,
                "new_change_pct": new_pct,
                "old_note": old_note,
                "new_note": row["note"],
                "reason": f"loaded from {file_name}",
            },
        )
        change_id += 1
        tally.rows += 1


def refuse_overlaps(
    con: duckdb.DuckDBPyConnection, ids: list[str], file_name: str, window_months: int
) -> None:
    """Refuse the load (LoadRefused: nothing is loaded) when a loaded initiative overlaps
    another on the same scope, or is category-wide with one baseline for every item."""
    if not ids:
        return
    pairs = con.execute(ledger.OVERLAPPING_PAIRS, {"ids": ids, "window": window_months})
    found = pairs.fetchall()
    if found:
        named = "; ".join(f"{a} overlaps {b}" for a, b in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        raise LoadRefused(
            f"{file_name}: nothing was loaded: {named}{more}: the same supplier and item (or "
            "category) in the same days, so an invoice line would count twice. End one "
            "before the other starts, or merge them, and load the file again."
        )
    flat = con.execute(ledger.ONE_PRICE_FOR_A_CATEGORY, {"ids": ids}).fetchall()
    if flat:
        named = ", ".join(r[0] for r in flat[:5]) + (" …" if len(flat) > 5 else "")
        raise LoadRefused(
            f"{file_name}: nothing was loaded: {named} cover a whole category without an "
            "item and without price_change_pct: give the price change in percent "
            "(price_change_pct, e.g. -5 for 5 % lower) and leave the unit prices empty, or "
            "give one row per item with its baseline price."
        )
