"""The audit logs that every writer shares: how a value reads in them, and their SQL.

`initiative_changes` is written by the savings ledger (kpi.workflows.initiatives), by loads
of savings_initiatives and by the demo builder; `outlook_changes` by the goals meeting and
by loads of price_outlook. Keeping the rows' shape and the values' text in one place means
a change reads the same in the log whichever way it came.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import duckdb
import polars as pl

# one row of initiative_changes, in this order (numbers_seen only on a verdict)
INITIATIVE_CHANGE_FIELDS: tuple[str, ...] = (
    "change_id",
    "initiative_id",
    "changed_at",
    "changed_by",
    "action",
    "field",
    "old_value",
    "new_value",
    "reason",
    "numbers_seen",
)

LAST_INITIATIVE_CHANGE = "SELECT coalesce(max(change_id), 0) FROM initiative_changes"

_INSERT_INITIATIVE_CHANGES = """
INSERT INTO initiative_changes (change_id, initiative_id, changed_at, changed_by, action, field,
    old_value, new_value, reason, numbers_seen)
SELECT change_id, initiative_id, changed_at, changed_by, action, field, old_value, new_value,
    reason, numbers_seen
FROM _kpi_changes
"""

# Who created each initiative of $ids, and who changed one of its money fields since
# finance's last verdict on it (every change, when it has none): the people the four-eyes
# rule keeps from judging it. change_id grows with every change, so "since" compares change
# ids. One statement for a list: the inbox asks it for every pending initiative at once.
AUTHORS_SINCE_VERDICT = """
SELECT c.changed_by, c.action, c.field, c.initiative_id
FROM initiative_changes AS c
LEFT JOIN (SELECT initiative_id, max(change_id) AS change_id
           FROM initiative_changes
           WHERE action IN ('accepted', 'rejected')
           GROUP BY initiative_id) AS verdict
  ON verdict.initiative_id = c.initiative_id
WHERE list_contains($ids::VARCHAR[], c.initiative_id)
  AND (c.action = 'created'
       OR (c.action = 'edited' AND list_contains($money::VARCHAR[], c.field)
           AND c.change_id > coalesce(verdict.change_id, 0)))
ORDER BY c.initiative_id, c.change_id
"""

# savings_initiatives rows by id, every column in the table's order (a load's "before")
STORED_INITIATIVES = """
SELECT * FROM savings_initiatives WHERE list_contains($ids::VARCHAR[], initiative_id)
"""

# the price outlook as stored (a load's "before"; a few rows per quarter)
STORED_OUTLOOK = "SELECT quarter, category, expected_change_pct, note FROM price_outlook"

NEXT_OUTLOOK_CHANGE = "SELECT coalesce(max(change_id), 0) + 1 FROM outlook_changes"

INSERT_OUTLOOK_CHANGE = """
INSERT INTO outlook_changes (change_id, quarter, category, changed_at, changed_by,
    changed_by_name, old_change_pct, new_change_pct, old_note, new_note, reason)
VALUES ($change_id, $quarter, $category, $changed_at, $changed_by, $changed_by_name,
    $old_change_pct, $new_change_pct, $old_note, $new_note, $reason)
"""


def audit_text(value: object, field: str = "") -> str | None:
    """A field's value as the audit log keeps it: ISO dates, prices with their decimals
    (11.0000 -> 11.00, 10.1250 -> 10.125), volumes without trailing zeros (200)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        plain = value.normalize()
        if field.endswith("_price") and plain.as_tuple().exponent > -2:  # type: ignore[operator]
            plain = plain.quantize(Decimal("0.01"))
        return format(plain, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_initiative_changes(
    con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[object]]
) -> None:
    """Append rows (each in INITIATIVE_CHANGE_FIELDS order) to initiative_changes at once."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    _kpi_changes = pl.DataFrame(  # noqa: F841 - read by the SQL (a replacement scan)
        {
            "change_id": pl.Series(columns[0], dtype=pl.Int64),
            "initiative_id": pl.Series(columns[1], dtype=pl.String),
            "changed_at": pl.Series(columns[2], dtype=pl.Datetime("us")),
            **{
                name: pl.Series(values, dtype=pl.String)
                for name, values in zip(INITIATIVE_CHANGE_FIELDS[3:], columns[3:], strict=True)
            },
        }
    )
    con.execute(_INSERT_INITIATIVE_CHANGES)


def last_initiative_change(con: duckdb.DuckDBPyConnection) -> int:
    """The highest change id so far (0 for an empty log): new rows number on from it."""
    return int(con.execute(LAST_INITIATIVE_CHANGE).fetchall()[0][0])
