"""A tiny store for working capital, every figure of which is worked out by hand in the tests.

Four suppliers, seven invoice lines (all EUR), two stock snapshots of three items. The
spend year of the terms simulator ends at the latest invoice date, 2026-06-30.

- A1 Alpha Packaging (DE, large, preferred), 60-day terms, paid in 20 days.
- A2 Beta Tools (FR, SME, single source), 30-day terms with 2 % for payment in 10 days;
  paid once in 8 days (discount taken) and once 15 days late (discount missed).
- A3 Gamma Office (US, large, strategic), 90-day terms, paid on the day due.
- A4 Delta Spares (DE, SME), 75-day terms (over the legal 60), nothing invoiced.
"""

from __future__ import annotations

from pathlib import Path

from kpi.store.database import Store
from kpi.store.schema import TABLES

ROWS = {
    "suppliers": [
        # id, name, country, size, preferred, terms, disc_pct, disc_days, strategic, single
        ("A1", "Alpha Packaging", "DE", "large", True, 60, 0, None, False, False),
        ("A2", "Beta Tools", "FR", "sme", False, 30, 2, 10, False, True),
        ("A3", "Gamma Office", "US", "large", False, 90, 0, None, True, False),
        ("A4", "Delta Spares", "DE", "sme", False, 75, 0, None, False, False),
    ],
    "items": [
        # id, description, category, unit, safety, lead time, criticality
        ("I1", "Carton 40x30", "Packaging", "pcs", 50, 10, "low"),
        ("I2", "Pump seal", "MRO spares", "pcs", 5, 120, "high"),
        ("I3", "Binder A4", "Office supplies", "pcs", 0, 5, "low"),
    ],
    "invoices": [
        # id, line, supplier, po, inv date, due, paid, item, cat, cc, qty, price, amount, cur,
        # discount taken
        ("V0", 1, "A1", None, "2025-06-01", "2025-07-31", "2025-06-21", "I1", "Packaging",
         "CC1", 500, 2.00, 1000.00, "EUR", 0),
        ("V1", 1, "A1", None, "2026-01-10", "2026-03-11", "2026-01-30", "I1", "Packaging",
         "CC1", 1825, 2.00, 3650.00, "EUR", 0),
        ("V2", 1, "A1", None, "2026-04-01", "2026-05-31", "2026-04-21", "I1", "Packaging",
         "CC1", 1825, 2.00, 3650.00, "EUR", 0),
        ("V3", 1, "A2", None, "2026-02-01", "2026-03-03", "2026-02-09", "I2", "MRO spares",
         "CC2", 2, 500.00, 1000.00, "EUR", 20.00),
        ("V4", 1, "A2", None, "2026-03-01", "2026-03-31", "2026-04-15", "I2", "MRO spares",
         "CC2", 4, 500.00, 2000.00, "EUR", 0),
        ("V5", 1, "A2", None, "2026-06-30", "2026-07-30", None, "I2", "MRO spares",
         "CC2", 1, 650.00, 650.00, "EUR", None),
        ("V6", 1, "A3", None, "2026-03-15", "2026-06-13", "2026-06-13", "I3", "Office supplies",
         "CC1", 2433, 3.00, 7300.00, "EUR", 0),
    ],
    "inventory": [
        # snapshot, item, location, on_hand, unit_cost, cur, safety, max, last_issue, issued_90d
        ("2026-03-31", "I1", "WH1", 300, 2.00, "EUR", 50, 200, "2026-03-30", 900),
        ("2026-03-31", "I2", "WH1", 4, 500.00, "EUR", 5, 6, "2025-01-15", 0),
        ("2026-03-31", "I3", "WH1", 10, 3.00, "EUR", 0, 20, "2025-06-01", 0),
        ("2026-06-30", "I1", "WH1", 150, 2.00, "EUR", 50, 200, "2026-06-29", 2700),
        ("2026-06-30", "I2", "WH1", 4, 500.00, "EUR", 5, 6, "2025-01-15", 0),
        ("2026-06-30", "I3", "WH1", 10, 3.00, "EUR", 0, 20, "2025-06-01", 0),
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
