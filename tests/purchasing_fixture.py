"""A small store for on time in full, PO compliance, price variance and three-way match.

Everything is in EUR in 2026 (calendar fiscal year): Q1 = January–March, Q2 = April–June,
Q3 = July–September. tests/unit/test_purchasing.py works every expected figure out by hand
from these rows.

- The last data day is 2026-08-14 (INV8's payment, the latest order, approval, receipt,
  invoice or payment date); PO4, promised 2026-09-30, is not due yet.
- Alpha Pack (A) holds contract K1 for boxes P1 at 2.00 all year; SI1 negotiated the
  same 2.00, so its leakage is the contract overcharge.
- PO lines: PO1/1 delivers 60 of 100 by its promise (rest after it), PO1/2 in full on
  time, PO2/1 nothing, PO3/1 in full after its promise, PO4/1 not due, PO5/1 cancelled,
  PO7/1 a service (no quantity) received on time, PO8/1 in full on the day, PO9 not
  approved, PO10 raised after its invoice; PO9 and PO10 have no promised date.
- Invoices: INV1 and INV2 on valid POs, INV3 names PO99 (no such PO), INV4 is on the
  unapproved PO9 at 1.10 against its 1.00, INV5 on PO10 raised after it, INV6 (Utilities)
  without a PO, INV8 bills 60 more boxes on PO1 than received.
"""

from __future__ import annotations

from pathlib import Path

from kpi.core.settings import Settings
from kpi.store.database import Store
from kpi.store.schema import TABLES

_ITEMS = {"P1": ("A", "Packaging", "CC-A"), "M1": ("B", "Marketing", "CC-M"),
          "U1": ("B", "Utilities", "CC-M"), "X1": ("B", "Services", "CC-M")}  # fmt: skip


def _po(
    po: str,
    line: int,
    day: str,
    approved: str | None,
    item: str,
    qty: int | None,
    price: float | None,
    amount: float,
    promised: str | None,
    status: str,
) -> tuple:
    """A PO line of the item's supplier, category and cost centre (K1 for Alpha's P1)."""
    supplier, category, cc = _ITEMS[item]
    contract = "K1" if item == "P1" else None
    return (po, line, day, approved, supplier, item, category, cc, qty, price, amount, "EUR",
            contract, promised, status)  # fmt: skip


def _inv(
    inv: str,
    po: str | None,
    day: str,
    due: str,
    paid: str,
    item: str,
    qty: int,
    price: float,
    amount: float,
) -> tuple:
    """Line 1 of an invoice from the item's supplier, in EUR, no discount taken."""
    supplier, category, cc = _ITEMS[item]
    return (inv, 1, supplier, po, day, due, paid, item, category, cc, qty, price, amount, "EUR",
            0)  # fmt: skip


ROWS: dict[str, list[tuple]] = {
    "suppliers": [
        # id, name, country, size, preferred, terms, discount_pct, discount_days, strategic, single
        ("A", "Alpha Pack", "DE", "large", True, 30, 0, 0, False, False),
        ("B", "Beta Print", "FR", "sme", False, 60, 0, 0, False, False),
    ],
    "items": [
        ("P1", "Box small", "Packaging", "pcs", 0, 5, "low"),
        ("M1", "Flyer print", "Marketing", "pcs", 0, 5, "low"),
        ("U1", "Electricity", "Utilities", "kWh", 0, 0, "low"),
        ("X1", "Installation", "Services", "h", 0, 0, "low"),
    ],
    "contracts": [
        ("K1", "A", "Packaging", "P1", "2026-01-01", "2026-12-31", 2.00, "EUR"),
    ],
    "purchase_orders": [
        # po, line, ordered, approved, item, qty, price, amount, promised, status
        _po("PO1", 1, "2026-01-05", "2026-01-06", "P1", 100, 2.10, 210.00, "2026-01-20", "closed"),
        _po("PO1", 2, "2026-01-05", "2026-01-06", "P1", 50, 2.10, 105.00, "2026-01-20", "closed"),
        _po("PO2", 1, "2026-02-01", "2026-02-02", "P1", 10, 1.90, 19.00, "2026-02-10", "open"),
        _po("PO3", 1, "2026-02-15", "2026-02-16", "P1", 20, 2.00, 40.00, "2026-03-10", "received"),
        _po("PO4", 1, "2026-07-01", "2026-07-02", "P1", 30, 2.00, 60.00, "2026-09-30", "open"),
        _po("PO5", 1, "2026-02-01", "2026-02-02", "P1", 10, 2.00, 20.00, "2026-02-15", "cancelled"),
        _po(
            "PO7", 1, "2026-04-20", "2026-04-21", "X1", None, None, 300.00, "2026-05-10", "received"
        ),
        _po("PO8", 1, "2026-05-01", "2026-05-02", "M1", 10, 1.00, 10.00, "2026-05-20", "received"),
        _po("PO9", 1, "2026-02-25", None, "M1", 100, 1.00, 100.00, None, "open"),
        _po("PO10", 1, "2026-03-20", "2026-03-20", "M1", 200, 1.00, 200.00, None, "closed"),
    ],
    "goods_receipts": [
        ("PO1", 1, "2026-01-15", 60),
        ("PO1", 1, "2026-01-25", 40),
        ("PO1", 2, "2026-01-14", 50),
        ("PO3", 1, "2026-04-05", 20),
        ("PO7", 1, "2026-05-09", None),
        ("PO8", 1, "2026-05-20", 10),
        ("PO9", 1, "2026-03-01", 100),
        ("PO10", 1, "2026-03-05", 200),
    ],
    "invoices": [
        # invoice, po, date, due, paid, item, qty, price, amount
        _inv("INV1", "PO1", "2026-01-16", "2026-02-15", "2026-02-10", "P1", 100, 2.10, 210.00),
        _inv("INV2", "PO2", "2026-02-12", "2026-03-14", "2026-03-10", "P1", 50, 1.90, 95.00),
        _inv("INV3", "PO99", "2026-02-20", "2026-03-22", "2026-03-20", "P1", 10, 2.00, 20.00),
        _inv("INV4", "PO9", "2026-03-05", "2026-05-04", "2026-05-01", "M1", 100, 1.10, 110.00),
        _inv("INV5", "PO10", "2026-03-10", "2026-05-09", "2026-05-05", "M1", 200, 1.00, 200.00),
        _inv("INV6", None, "2026-03-15", "2026-05-14", "2026-05-10", "U1", 1000, 0.50, 500.00),
        _inv("INV8", "PO1", "2026-04-10", "2026-05-10", "2026-08-14", "P1", 60, 2.10, 126.00),
    ],
    "savings_initiatives": [
        # id, title, kind, category, supplier, item, baseline, quoted, negotiated, volume,
        # currency, start, end, owner, stage, finance_status, note
        (
            "SI1",
            "Box re-tender",
            "price_reduction",
            "Packaging",
            "A",
            "P1",
            2.50,
            None,
            2.00,
            1000,
            "EUR",
            "2026-01-01",
            "2026-12-31",
            "jonas.berg@example.org",
            "implemented",
            "accepted",
            None,
        ),
    ],  # fmt: skip
}


def build(path: Path, settings: Settings | None = None, rows: dict | None = None) -> Store:
    """Write the fixture rows (or `rows`, the same layout) into a new store at `path`."""
    store = Store(path, settings) if settings else Store(path)
    with store.write(fresh=True) as con:
        for table, table_rows in (rows or ROWS).items():
            if table_rows:
                # the rows give the table's first columns; columns added later stay empty
                names = ", ".join(TABLES[table].column_names[: len(table_rows[0])])
                marks = ", ".join("?" for _ in table_rows[0])
                con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", table_rows)
    return store
