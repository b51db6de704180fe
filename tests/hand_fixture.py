"""A tiny store whose KPI values are computed by hand in tests/unit/test_engine.py.

Two suppliers (one in USD), five invoice lines over two quarters of 2026, three PO lines,
budgets, a contract, and a few inventory and savings rows. Each expected figure in the
engine tests is worked out in a comment from these rows.
"""

from __future__ import annotations

from pathlib import Path

from kpi.store.database import Store
from kpi.store.schema import TABLES

ROWS = {
    "suppliers": [
        # id, name, country, size, preferred, terms, discount_pct, discount_days, strategic, single
        ("S1", "Kartonwerk GmbH", "DE", "large", True, 30, 2, 10, True, False),
        ("S2", "Byte Parts Inc", "US", "sme", False, 60, 0, 0, False, True),
    ],
    "items": [
        ("I1", "Carton 40x30", "Packaging", "pcs", 0, 10, "low"),
        ("I2", "Laptop dock", "IT hardware", "pcs", 0, 20, "low"),
        ("I3", "Pump seal", "MRO spares", "pcs", 5, 90, "high"),
    ],
    "contracts": [
        ("C1", "S1", "Packaging", "I1", "2026-01-01", "2026-12-31", 10.00, "EUR"),
    ],
    "fx_rates": [
        ("2026-01-01", "USD", 0.9),
        ("2026-04-01", "USD", 0.8),
    ],
    "invoices": [
        # id, line, supplier, po, inv date, due, paid, item, cat, cc, qty, price, amount, cur, disc
        (
            "INV1",
            1,
            "S1",
            "PO1",
            "2026-01-10",
            "2026-02-09",
            "2026-02-05",
            "I1",
            "Packaging",
            "CC1",
            100,
            10.50,
            1050.00,
            "EUR",
            0,
        ),
        (
            "INV1",
            2,
            "S1",
            "PO1",
            "2026-01-10",
            "2026-02-09",
            "2026-02-05",
            "I1",
            "Packaging",
            "CC1",
            10,
            10.00,
            100.00,
            "EUR",
            0,
        ),
        (
            "INV2",
            1,
            "S2",
            None,
            "2026-02-15",
            "2026-04-16",
            "2026-04-20",
            "I2",
            "IT hardware",
            "CC2",
            1,
            1000.00,
            1000.00,
            "USD",
            0,
        ),
        (
            "INV3",
            1,
            "S2",
            "PO2",
            "2026-04-05",
            "2026-06-04",
            None,
            "I2",
            "IT hardware",
            "CC2",
            2,
            500.00,
            1000.00,
            "USD",
            0,
        ),
        (
            "INV4",
            1,
            "S1",
            "PO3",
            "2026-03-20",
            "2026-04-19",
            "2026-03-28",
            "I1",
            "Packaging",
            "CC1",
            50,
            10.00,
            500.00,
            "EUR",
            10.00,
        ),
    ],
    "purchase_orders": [
        # po, line, date, approved, supplier, item, cat, cc, qty, price, amount, cur, contract,
        # promised, status
        (
            "PO1",
            1,
            "2026-01-02",
            "2026-01-04",
            "S1",
            "I1",
            "Packaging",
            "CC1",
            110,
            10.00,
            1100.00,
            "EUR",
            "C1",
            "2026-01-08",
            "closed",
        ),
        (
            "PO2",
            1,
            "2026-03-01",
            "2026-03-07",
            "S2",
            "I2",
            "IT hardware",
            "CC2",
            2,
            500.00,
            1000.00,
            "USD",
            None,
            "2026-03-31",
            "closed",
        ),
        (
            "PO3",
            1,
            "2026-03-05",
            "2026-03-06",
            "S1",
            "I1",
            "Packaging",
            "CC1",
            50,
            10.00,
            500.00,
            "EUR",
            "C1",
            "2026-03-15",
            "closed",
        ),
    ],
    "goods_receipts": [
        ("PO1", 1, "2026-01-05", 60),
        ("PO1", 1, "2026-01-09", 50),
        ("PO2", 1, "2026-03-30", 2),
        ("PO3", 1, "2026-03-15", 50),
    ],
    "budgets": [
        ("2026-01", "CC1", "Packaging", 1000.00, "EUR"),
        ("2026-02", "CC2", "IT hardware", 1000.00, "EUR"),
        ("2026-03", "CC1", "Packaging", 600.00, "EUR"),
    ],
    "inventory": [
        # snapshot, item, location, on_hand, unit_cost, cur, safety, max, last_issue, issued_90d
        ("2026-01-31", "I1", "WH1", 300, 10.00, "EUR", 50, 200, "2026-01-30", 90),
        ("2026-01-31", "I3", "WH1", 4, 100.00, "EUR", 5, 10, "2025-03-01", 0),
        ("2026-02-28", "I1", "WH1", 100, 10.00, "EUR", 50, 200, "2026-02-27", 180),
        ("2026-02-28", "I3", "WH1", 4, 100.00, "EUR", 5, 10, "2025-03-01", 0),
    ],
    "savings_initiatives": [
        # id, title, kind, cat, supplier, item, baseline, quoted, negotiated, volume, cur,
        # start, end, owner, stage, finance_status, note
        (
            "SI1",
            "Carton re-tender",
            "price_reduction",
            "Packaging",
            "S1",
            "I1",
            11.00,
            None,
            10.00,
            200,
            "EUR",
            "2026-01-01",
            "2026-12-31",
            "jonas.berg@example.org",
            "realised",
            "accepted",
            "Baseline agreed",
        ),
        (
            "SI2",
            "Dock price hold",
            "cost_avoidance",
            "IT hardware",
            "S2",
            "I2",
            None,
            1100.00,
            1000.00,
            5,
            "USD",
            "2026-01-01",
            "2026-12-31",
            "ana.ruiz@example.org",
            "realised",
            "pending",
            None,
        ),
    ],
    "price_outlook": [
        ("FY2026-Q3", "Packaging", 3.5, "Paper prices rising"),
    ],
}


def build(path: Path) -> Store:
    """Write the fixture rows into a new store at `path` and return it."""
    store = Store(path)
    with store.write(fresh=True) as con:
        for table, rows in ROWS.items():
            if rows:
                # the rows give the table's first columns; columns added later stay empty
                names = ", ".join(TABLES[table].column_names[: len(rows[0])])
                marks = ", ".join("?" for _ in rows[0])
                con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store
