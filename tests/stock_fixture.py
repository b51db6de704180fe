"""A tiny store for procurement's stock marks, every class of which is worked out by hand.

Three items at one location (WH1), snapshots at the end of four quarters (2026-06-30,
2026-09-30, 2026-12-31, 2027-03-31), obsolete after 180 days (config/settings.yaml), every
row the same in each snapshot:

- P1 pump impeller, criticality low: 10 on hand @ 100.00, safety 2, max 8, last issued
  2025-01-15 (idle 531 days and more): unmarked it is obsolete whole, 1000.00 (not
  critical, so its safety level does not protect it); marked, it is safety 2 x 100 =
  200.00 and cycle 800.00, obsolete 0 and excess 0 (10 is above its max of 8, but the mark
  keeps it out).
- X1 steel sheet, moving (issued on the 1st of each snapshot's month): 50 @ 10.00, safety
  10, max 30: unmarked safety 100.00, cycle 200.00, excess 20 x 10 = 200.00; marked, safety
  100.00, cycle 400.00, excess 0.
- N1 gloves, moving: 20 @ 5.00, safety 5, max 30: safety 25.00, cycle 75.00.

Two invoice lines for gloves (2026-04-01 and 2027-03-31) give the app its window of
periods (FY2026-Q2 to FY2027-Q1); nothing in the stock classes reads them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from kpi.store.database import Store
from kpi.store.schema import TABLES

SNAPSHOTS = ("2026-06-30", "2026-09-30", "2026-12-31", "2027-03-31")
ITEMS = [
    # id, description, category, unit, safety, lead time, criticality
    ("P1", "Pump impeller", "MRO spares", "pcs", 2, 90, "low"),
    ("X1", "Steel sheet", "Raw material", "pcs", 10, 20, "medium"),
    ("N1", "Gloves", "Safety gear", "pcs", 5, 5, "low"),
]


SUPPLIERS = [("S1", "Safe Hands", "DE", "sme", False, 30, 0, None, False, False)]
INVOICES = [
    # id, line, supplier, po, inv date, due, paid, item, cat, cc, qty, price, amount, cur, disc
    ("G1", 1, "S1", None, "2026-04-01", "2026-05-01", "2026-04-30", "N1", "Safety gear",
     "CC1", 20, 5.00, 100.00, "EUR", 0),
    ("G2", 1, "S1", None, "2027-03-31", "2027-04-30", None, "N1", "Safety gear",
     "CC1", 20, 5.00, 100.00, "EUR", None),
]  # fmt: skip


def inventory_rows() -> list[tuple]:
    rows = []
    for day in SNAPSHOTS:
        issued = str(date.fromisoformat(day).replace(day=1))  # moving items: this month
        rows += [
            # snapshot, item, location, on_hand, unit_cost, cur, safety, max, last issue, 90d
            (day, "P1", "WH1", 10, 100, "EUR", 2, 8, "2025-01-15", 0),
            (day, "X1", "WH1", 50, 10, "EUR", 10, 30, issued, 90),
            (day, "N1", "WH1", 20, 5, "EUR", 5, 30, issued, 90),
        ]
    return rows


def build(path: Path) -> Store:
    """Write the fixture rows into a new store at `path` and return it."""
    store = Store(path)
    with store.write(fresh=True) as con:
        tables = {
            "suppliers": SUPPLIERS,
            "items": ITEMS,
            "invoices": INVOICES,
            "inventory": inventory_rows(),
        }
        for table, rows in tables.items():
            marks = ", ".join("?" for _ in rows[0])
            names = ", ".join(TABLES[table].column_names)  # the table's own columns, in order
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store
