"""A small store for the spend, budget, approval, compliance and supplier figures.

Everything is in EUR in fiscal year 2026 (calendar year), so each expected figure in
tests/unit/test_spend.py and tests/unit/test_suppliers.py can be worked out from these rows by hand.

- Alpha Pack (preferred, 30-day terms) holds contract K1 for item P1 at 2.00 all year.
- Beta Print (not preferred) has no contract: it sells P1 at 2.50 and flyers without PO.
- Gamma IT holds contract K2 for laptops T1 at 900.00 until 2026-06-30.

Invoices (amount, PO): INV1 Jan 210.00 PO1 · INV2 Feb 250.00 PO2 · INV3 Feb 300.00 no PO ·
INV4 Mar 950.00 PO3 (raised after the invoice) · INV5 Apr 200.00 PO4 · INV6 May 600.00 no PO.
Open orders: PO4 (400.00 ordered, 200.00 invoiced) and PO5 (1,800.00, not approved yet);
PO6 is cancelled. The latest invoice is 2026-05-05, so 5 of 12 months have data.
"""

from __future__ import annotations

from pathlib import Path

from kpi.store.database import Store
from kpi.store.schema import TABLES

ROWS = {
    "suppliers": [
        # id, name, country, size, preferred, terms, discount_pct, discount_days, strategic, single
        ("A", "Alpha Pack", "DE", "large", True, 30, 2, 10, False, False),
        ("B", "Beta Print", "FR", "sme", False, 60, 0, 0, False, False),
        ("C", "Gamma IT", "NL", "sme", False, 45, 0, 0, False, False),
    ],
    "items": [
        ("P1", "Box small", "Packaging", "pcs", 0, 5, "low"),
        ("P2", "Box large", "Packaging", "pcs", 0, 5, "low"),
        ("M1", "Flyer print", "Marketing", "pcs", 0, 5, "low"),
        ("T1", "Laptop", "IT", "pcs", 0, 10, "low"),
    ],
    "contracts": [
        ("K1", "A", "Packaging", "P1", "2026-01-01", "2026-12-31", 2.00, "EUR"),
        ("K2", "C", "IT", "T1", "2026-01-01", "2026-06-30", 900.00, "EUR"),
    ],
    "fx_rates": [],
    "invoices": [
        # id, line, supplier, po, date, due, paid, item, category, cc, qty, price, amount, cur,
        # discount_taken
        (
            "INV1",
            1,
            "A",
            "PO1",
            "2026-01-15",
            "2026-02-14",
            "2026-02-10",
            "P1",
            "Packaging",
            "CC-A",
            100,
            2.10,
            210.00,
            "EUR",
            0,
        ),
        (
            "INV2",
            1,
            "B",
            "PO2",
            "2026-02-10",
            "2026-04-11",
            "2026-04-20",
            "P1",
            "Packaging",
            "CC-A",
            100,
            2.50,
            250.00,
            "EUR",
            0,
        ),
        (
            "INV3",
            1,
            "B",
            None,
            "2026-02-20",
            "2026-04-21",
            "2026-03-01",
            "M1",
            "Marketing",
            "CC-M",
            1000,
            0.30,
            300.00,
            "EUR",
            0,
        ),
        (
            "INV4",
            1,
            "C",
            "PO3",
            "2026-03-05",
            "2026-04-19",
            None,
            "T1",
            "IT",
            "CC-IT",
            1,
            950.00,
            950.00,
            "EUR",
            0,
        ),
        (
            "INV5",
            1,
            "A",
            "PO4",
            "2026-04-10",
            "2026-05-10",
            "2026-05-20",
            "P2",
            "Packaging",
            "CC-A",
            50,
            4.00,
            200.00,
            "EUR",
            0,
        ),
        (
            "INV6",
            1,
            "B",
            None,
            "2026-05-05",
            "2026-07-04",
            None,
            "M1",
            "Marketing",
            "CC-M",
            2000,
            0.30,
            600.00,
            "EUR",
            0,
        ),
    ],  # fmt: skip
    "purchase_orders": [
        # po, line, date, approved, supplier, item, category, cc, qty, price, amount, cur,
        # contract, promised, status
        (
            "PO1",
            1,
            "2026-01-05",
            "2026-01-07",
            "A",
            "P1",
            "Packaging",
            "CC-A",
            100,
            2.00,
            200.00,
            "EUR",
            "K1",
            "2026-01-12",
            "closed",
        ),
        (
            "PO2",
            1,
            "2026-02-01",
            "2026-02-05",
            "B",
            "P1",
            "Packaging",
            "CC-A",
            100,
            2.50,
            250.00,
            "EUR",
            None,
            "2026-02-08",
            "closed",
        ),
        (
            "PO3",
            1,
            "2026-03-10",
            "2026-03-10",
            "C",
            "T1",
            "IT",
            "CC-IT",
            1,
            950.00,
            950.00,
            "EUR",
            "K2",
            "2026-03-01",
            "closed",
        ),
        (
            "PO4",
            1,
            "2026-04-01",
            "2026-04-03",
            "A",
            "P2",
            "Packaging",
            "CC-A",
            50,
            4.00,
            200.00,
            "EUR",
            None,
            "2026-04-08",
            "partially_received",
        ),
        (
            "PO4",
            2,
            "2026-04-01",
            "2026-04-03",
            "A",
            "P2",
            "Packaging",
            "CC-A",
            50,
            4.00,
            200.00,
            "EUR",
            None,
            "2026-04-08",
            "partially_received",
        ),
        (
            "PO5",
            1,
            "2026-05-10",
            None,
            "C",
            "T1",
            "IT",
            "CC-IT",
            1,
            900.00,
            900.00,
            "EUR",
            "K2",
            "2026-05-30",
            "open",
        ),
        (
            "PO5",
            2,
            "2026-05-10",
            None,
            "C",
            "T1",
            "IT",
            "CC-IT",
            1,
            900.00,
            900.00,
            "EUR",
            "K2",
            "2026-05-30",
            "open",
        ),
        (
            "PO6",
            1,
            "2026-06-01",
            "2026-06-08",
            "B",
            "M1",
            "Marketing",
            "CC-M",
            1000,
            0.30,
            300.00,
            "EUR",
            None,
            "2026-06-15",
            "cancelled",
        ),
    ],  # fmt: skip
    "goods_receipts": [
        ("PO1", 1, "2026-01-10", 100),
        ("PO2", 1, "2026-02-09", 100),
        ("PO3", 1, "2026-03-04", 1),
        ("PO4", 1, "2026-04-07", 50),
    ],
    "budgets": [
        *[(f"2026-{m:02d}", "CC-A", "Packaging", 200.00, "EUR") for m in range(1, 13)],
        *[(f"2026-{m:02d}", "CC-M", "Marketing", 100.00, "EUR") for m in range(1, 13)],
        ("2026-03", "CC-IT", "IT", 1000.00, "EUR"),
        ("2026-09", "CC-IT", "IT", 1000.00, "EUR"),
    ],
}


def build(path: Path) -> Store:
    """Write the fixture rows into a new store at `path` and return it."""
    store = Store(path)
    with store.write(fresh=True) as con:
        for table, rows in ROWS.items():
            if rows:
                marks = ", ".join("?" for _ in rows[0])
                names = ", ".join(TABLES[table].column_names)  # the table's own columns, in order
                con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store
