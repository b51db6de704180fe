"""A tiny store for payment behaviour, every figure of which is worked out by hand in
tests/unit/test_payments.py.

Four suppliers, all EUR; the last data day is 2026-06-30 (the latest invoice date).

- P1 Credit Co (DE, large), 30-day terms: an invoice of 10,000 paid at 30 days and a
  credit note of -9,000 paid at 60 days, both paid on 2026-02-01.
- P2 Small Parts (FR, SME), 30-day terms: one invoice without a due date paid at 40 days
  (due by terms on 2026-02-04: 10 days late), one paid on time at 21 days, and one still
  open 15 days past its due date on the last day.
- P3 Disc Ltd (NL, large), 60-day terms; today 2 % for payment in 10 days, but its terms
  history says 1 % from 2025-01-01 and 2 % only from 2026-03-01.
- P4 Overdue Org (DE, SME), 30-day terms: nothing paid; invoices open 30, 60, 72 and 91
  days past due (one of them without a due date), one not yet due, and an open credit note.
"""

from __future__ import annotations

from pathlib import Path

from kpi.store.database import Store
from kpi.store.schema import TABLES

ROWS = {
    "suppliers": [
        # id, name, country, size, preferred, terms, disc_pct, disc_days, strategic, single
        ("P1", "Credit Co", "DE", "large", False, 30, 0, None, False, False),
        ("P2", "Small Parts", "FR", "sme", False, 30, 0, None, False, False),
        ("P3", "Disc Ltd", "NL", "large", False, 60, 2, 10, False, False),
        ("P4", "Overdue Org", "DE", "sme", False, 30, 0, None, False, False),
    ],
    "supplier_terms": [
        # supplier, valid from, terms, discount %, discount days
        ("P3", "2025-01-01", 60, 1, 10),
        ("P3", "2026-03-01", 60, 2, 10),
    ],
    "invoices": [
        # id, line, supplier, po, inv date, due, paid, item, cat, cc, qty, price, amount, cur,
        # discount taken
        ("C1", 1, "P1", None, "2026-01-02", "2026-02-01", "2026-02-01", None, "Parts",
         "CC1", None, None, 10000.00, "EUR", 0),
        ("C2", 1, "P1", None, "2025-12-03", "2026-01-02", "2026-02-01", None, "Parts",
         "CC1", None, None, -9000.00, "EUR", 0),
        ("D1", 1, "P2", None, "2026-01-05", None, "2026-02-14", None, "Parts",
         "CC1", None, None, 1000.00, "EUR", 0),
        ("D2", 1, "P2", None, "2026-01-20", "2026-02-19", "2026-02-10", None, "Parts",
         "CC1", None, None, 3000.00, "EUR", 0),
        ("G1", 1, "P2", None, "2026-05-16", "2026-06-15", None, None, "Parts",
         "CC1", None, None, 1000.00, "EUR", None),
        ("E1", 1, "P3", None, "2026-02-02", "2026-04-03", "2026-02-10", None, "Parts",
         "CC2", None, None, 1000.00, "EUR", 20.00),
        ("E2", 1, "P3", None, "2026-03-02", "2026-05-01", "2026-03-10", None, "Parts",
         "CC2", None, None, 1000.00, "EUR", 20.00),
        ("E3", 1, "P3", None, "2026-03-05", "2026-05-04", "2026-03-30", None, "Parts",
         "CC2", None, None, 2000.00, "EUR", 0),
        ("F0", 1, "P4", None, "2026-06-30", "2026-07-30", None, None, "Parts",
         "CC2", None, None, 500.00, "EUR", None),
        ("F1", 1, "P4", None, "2026-05-01", "2026-05-31", None, None, "Parts",
         "CC2", None, None, 100.00, "EUR", None),
        ("F2", 1, "P4", None, "2026-04-01", None, None, None, "Parts",
         "CC2", None, None, 200.00, "EUR", None),
        ("F3", 1, "P4", None, "2026-03-01", "2026-03-31", None, None, "Parts",
         "CC2", None, None, 400.00, "EUR", None),
        ("F4", 1, "P4", None, "2026-03-20", "2026-04-19", None, None, "Parts",
         "CC2", None, None, 800.00, "EUR", None),
        ("F5", 1, "P4", None, "2026-03-01", "2026-03-31", None, None, "Parts",
         "CC2", None, None, -50.00, "EUR", None),
    ],
}  # fmt: skip


def build(path: Path) -> Store:
    """Write the fixture rows into a new store at `path` and return it."""
    store = Store(path)
    with store.write(fresh=True) as con:
        for table, rows in ROWS.items():
            marks = ", ".join("?" for _ in rows[0])
            names = ", ".join(TABLES[table].column_names)  # the table's own columns, in order
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store
