"""A small store for the three-way view (issue 16, point 4): tests/unit/test_documents.py
and tests/app/test_app_documents.py work every figure out by hand from these rows.

The store (EUR reporting currency; USD at 0.90 EUR from 2026-01-01, so 1 EUR = 1/0.90 USD):
- Alpha (A): terms 30 days, no discount. Items P1 and P2.
- PO1, raised 2026-01-05, approved 01-06: line 1 = 100 P1 at 2.00 = 200.00 EUR, promised
  01-20; line 2 = 50 P2 at 4.00 = 200.00 EUR, promised 01-31.
- PO2, 2026-02-20: two lines without an item, 100.00 and 50.00 EUR (a service).
- Receipts on PO1 line 1: 40 on 01-10, 30 on 01-25 (after its promise); none on line 2.
- Invoices (in invoice order):
  INV1/1 01-12 PO1 P1 40 x 2.00 = 80.00 EUR, due 02-11, paid 02-20 (9 days late, 39 days
         to pay) -- loaded from invoices_jan.xlsx, sheet Invoices, row 2, load 1;
  INV1/2 01-12 PO1 no item, 10.00 EUR freight, due 02-11, paid 02-20;
  INV4/1 01-15 no PO, P1 5 x 2.00 = 10.00 EUR;
  CN1/1  01-28 PO1 P1 -5 x 2.00 = -10.00 EUR, a credit note, not settled;
  INV2/1 02-01 PO1 P1 30 x 2.20 USD = 66.00 USD, no due date (02-01 + 30 = 03-03 by the
         terms), paid 02-15 (on time, 14 days to pay); 66.00 x 0.90 = 59.40 EUR;
  INV3/1 02-05 PO1 P2 20 x 4.50 = 90.00 EUR, due 03-07, not paid: price above PO1's 4.00,
         and 20 invoiced against 0 received;
  INV5/1 02-10 names PO99 (not loaded), 12.00 EUR;
  INV6/1 03-01 PO2 no item 100.00 EUR; INV6/2 03-01 PO2 no item 30.00 EUR, due 03-31.
The last data day is 2026-03-01 (INV6's date).
"""

from __future__ import annotations

from pathlib import Path

from kpi.store.database import Store
from kpi.store.schema import TABLES

LINEAGE_ROW = (1, "invoices_jan.xlsx", "Invoices", 2)

ROWS: dict[str, list[tuple]] = {
    "suppliers": [("A", "Alpha", "DE", "sme", True, 30, 0, 0, False, False)],
    "items": [("P1", "Box", "Packaging", "pcs", 0, 5, "low"),
              ("P2", "Tape", "Packaging", "pcs", 0, 5, "low")],
    "fx_rates": [("2026-01-01", "USD", 0.90)],
    "purchase_orders": [
        # po, line, date, approved, supplier, item, category, cc, qty, price, amount, cur,
        # contract, promised, status
        ("PO1", 1, "2026-01-05", "2026-01-06", "A", "P1", "Packaging", "CC1", 100, 2.00,
         200.00, "EUR", None, "2026-01-20", "open"),
        ("PO1", 2, "2026-01-05", "2026-01-06", "A", "P2", "Packaging", "CC1", 50, 4.00,
         200.00, "EUR", None, "2026-01-31", "open"),
        ("PO2", 1, "2026-02-20", "2026-02-20", "A", None, "Services", "CC1", None, None,
         100.00, "EUR", None, "2026-03-31", "open"),
        ("PO2", 2, "2026-02-20", "2026-02-20", "A", None, "Services", "CC1", None, None,
         50.00, "EUR", None, "2026-03-31", "open"),
    ],
    "goods_receipts": [("PO1", 1, "2026-01-10", 40), ("PO1", 1, "2026-01-25", 30)],
    "invoices": [
        # invoice, line, supplier, po, date, due, paid, item, category, cc, qty, price,
        # amount, currency, discount_taken
        ("INV1", 1, "A", "PO1", "2026-01-12", "2026-02-11", "2026-02-20", "P1", "Packaging",
         "CC1", 40, 2.00, 80.00, "EUR", 0),
        ("INV1", 2, "A", "PO1", "2026-01-12", "2026-02-11", "2026-02-20", None, "Packaging",
         "CC1", None, None, 10.00, "EUR", 0),
        ("INV4", 1, "A", None, "2026-01-15", "2026-02-14", None, "P1", "Packaging", "CC1", 5,
         2.00, 10.00, "EUR", 0),
        ("CN1", 1, "A", "PO1", "2026-01-28", None, None, "P1", "Packaging", "CC1", -5, 2.00,
         -10.00, "EUR", 0),
        ("INV2", 1, "A", "PO1", "2026-02-01", None, "2026-02-15", "P1", "Packaging", "CC1",
         30, 2.20, 66.00, "USD", 0),
        ("INV3", 1, "A", "PO1", "2026-02-05", "2026-03-07", None, "P2", "Packaging", "CC1",
         20, 4.50, 90.00, "EUR", 0),
        ("INV5", 1, "A", "PO99", "2026-02-10", "2026-03-12", None, "P1", "Packaging", "CC1",
         6, 2.00, 12.00, "EUR", 0),
        ("INV6", 1, "A", "PO2", "2026-03-01", "2026-03-31", None, None, "Services", "CC1",
         None, None, 100.00, "EUR", 0),
        ("INV6", 2, "A", "PO2", "2026-03-01", "2026-03-31", None, None, "Services", "CC1",
         None, None, 30.00, "EUR", 0),
    ],
}  # fmt: skip


def build(path: Path) -> Store:
    """The store above at `path`; INV1 line 1 carries its lineage (LINEAGE_ROW), the other
    rows none, as rows loaded before lineage was kept."""
    s = Store(path)
    with s.write(fresh=True) as con:
        for table, rows in ROWS.items():
            names = ", ".join(TABLES[table].column_names[: len(rows[0])])
            marks = ", ".join("?" for _ in rows[0])
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        con.execute(
            "UPDATE invoices SET load_id = ?, source_file = ?, source_sheet = ?, source_row = ? "
            "WHERE invoice_id = 'INV1' AND invoice_line = 1",
            LINEAGE_ROW,
        )
    return s
