"""From a row to its documents (issue 16, point 4): the three-way view of an invoice line
and of a purchase order line, on tests/documents_fixture.py, every figure worked out by hand.

The rows, and the figures the tests expect from them: the fixture's docstring.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kpi.analyses import documents as d
from kpi.store.database import Store
from kpi.store.query import run
from kpi.store.schema import LINEAGE_NAMES
from tests import documents_fixture
from tests.documents_fixture import LINEAGE_ROW

D = Decimal


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return documents_fixture.build(Path(tmp_path_factory.mktemp("documents")) / "kpi.duckdb")


_VIEWS: dict[tuple, d.Documents] = {}


def _inv(store: Store, invoice_id: str, line: int) -> d.Documents:
    """An invoice line's view, computed once for the module (the store does not change)."""
    key = ("invoice", str(store.path), invoice_id, line)
    if key not in _VIEWS:
        _VIEWS[key] = d.invoice_line_documents(store, invoice_id, line)
    return _VIEWS[key]


def _po(store: Store, po_id: str, line: int, currency: str | None = None) -> d.Documents:
    """An order line's view, computed once for the module."""
    key = ("po", str(store.path), po_id, line, currency)
    if key not in _VIEWS:
        _VIEWS[key] = d.po_line_documents(store, po_id, line, currency)
    return _VIEWS[key]


def _section(view: d.Documents, title: str) -> d.Section:
    return next(s for s in view.sections if s.title == title)


def _total(view: d.Documents, measure: str) -> dict:
    assert view.totals is not None
    return next(r for r in view.totals.iter_rows(named=True) if r["measure"].startswith(measure))


# ---- an invoice line -----------------------------------------------------------------------
def test_an_invoice_line_goes_to_the_order_line_of_its_item(store):
    view = _inv(store, "INV1", 1)
    po = _section(view, "Purchase order line").rows.row(0, named=True)
    assert (po["po_id"], po["po_line"], po["item_id"]) == ("PO1", 1, "P1")
    # INV3 bills P2: PO1's line 2, whatever the invoices of P1 before it
    po3 = _section(_inv(store, "INV3", 1), "Purchase order line").rows
    assert po3["po_line"].to_list() == [2]


def test_a_line_without_an_item_fills_the_order_lines_in_line_order(store):
    # INV1/2 (freight): 80.00 invoiced on PO1 before it, line 1 ends at 200.00 -> line 1
    view = _inv(store, "INV1", 2)
    assert _section(view, "Purchase order line").rows["po_line"].to_list() == [1]
    assert "filled in line order" in (_section(view, "Purchase order line").note or "")
    # PO2: INV6/1 (100.00) fills line 1 (0 before it < 100.00); INV6/2 finds 100.00 filled,
    # line 1's end, so it lands on line 2 (ends at 150.00)
    lines = [_section(_inv(store, "INV6", n), "Purchase order line").rows for n in (1, 2)]
    assert [f["po_line"].to_list() for f in lines] == [[1], [2]]


def test_the_receipts_of_the_order_line_with_their_running_total(store):
    receipts = _section(_inv(store, "INV1", 1), "Receipts").rows
    assert [str(x) for x in receipts["receipt_date"].to_list()] == ["2026-01-10", "2026-01-25"]
    assert receipts["quantity"].to_list() == [D("40.000"), D("30.000")]
    assert receipts["received_to_date"].to_list() == [D("40.000"), D("70.000")]
    # promised 2026-01-20: the second delivery came after it
    assert receipts["after_promised_date"].to_list() == [False, True]


def test_the_payment_is_the_payments_views(store):
    view = _inv(store, "INV1", 1)
    pay = _section(view, "Payment").rows.row(0, named=True)
    # due 02-11, paid 02-20: 9 days late; 01-12 -> 02-20 is 19 + 20 = 39 days to pay
    assert (pay["days_late"], pay["paid_late"], pay["days_to_pay"]) == (9, True, 39)
    row = run(
        store,
        "SELECT days_late, paid_late, days_to_pay FROM payments "
        "WHERE invoice_id = 'INV1' AND invoice_line = 1",
    ).row(0)
    assert row == (pay["days_late"], pay["paid_late"], pay["days_to_pay"])
    assert "paid 9 days late" in view.facts[0]


def test_a_due_date_from_the_terms_and_a_payment_on_time(store):
    view = _inv(store, "INV2", 1)
    pay = _section(view, "Payment").rows.row(0, named=True)
    # no due date on the invoice: 02-01 + 30 days of terms = 03-03; paid 02-15
    assert str(pay["effective_due_date"]) == "2026-03-03" and pay["due_date_from_terms"]
    assert (pay["days_to_pay"], pay["paid_late"], pay["days_late"]) == (14, False, 0)
    assert view.facts[0].endswith("paid on time.")


def test_the_match_verdict_is_the_invoice_match_views(store):
    facts = _inv(store, "INV3", 1).facts
    verdict = facts[1]
    assert verdict.startswith("Three-way match exception")
    assert "unit price above the order's 4.0000" in verdict
    assert "20.000 invoiced on the order for this item so far" in verdict
    assert "the 0.000 received by the invoice date" in verdict
    # P1 by INV2's date: 40 - 5 + 30 = 65 invoiced, 70 received: no exception (USD price is
    # not compared with a EUR order)
    assert _inv(store, "INV2", 1).facts[1].startswith("Three-way match: price within")
    assert "not judged" in _inv(store, "CN1", 1).facts[1]


def test_missing_documents_are_said_in_words(store):
    no_po = _inv(store, "INV4", 1)
    assert (
        _section(no_po, "Purchase order line").note
        == "Invoice INV4 line 1 names no purchase order."
    )
    assert _section(no_po, "Purchase order line").rows.is_empty()
    unknown_po = _section(_inv(store, "INV5", 1), "Purchase order line")
    assert "names order PO99, which is not among the purchase orders loaded" in (
        unknown_po.note or ""
    )
    no_receipt = _section(_inv(store, "INV3", 1), "Receipts")
    assert no_receipt.rows.is_empty()
    assert no_receipt.note == "No goods receipt recorded for PO1 line 2."
    unpaid = _inv(store, "INV3", 1).facts[0]
    assert unpaid == "Not paid yet; due 2026-03-07."


def test_every_row_carries_its_lineage(store):
    view = _inv(store, "INV1", 1)
    invoice = _section(view, "Invoice line").rows.row(0, named=True)
    assert tuple(invoice[c] for c in ("load_id", *LINEAGE_NAMES[1:])) == LINEAGE_ROW
    assert invoice["source"] == "invoices_jan.xlsx, sheet Invoices, row 2 (load 1)"
    # loaded before lineage was kept: said, not left blank
    po = _section(view, "Purchase order line").rows.row(0, named=True)
    assert po["source_file"] is None and po["source"] == d.NOT_RECORDED
    assert _section(view, "Receipts").rows["source"].to_list() == [d.NOT_RECORDED] * 2


# ---- an order line -------------------------------------------------------------------------
def test_an_order_line_lists_its_invoices_and_receipts(store):
    view = _po(store, "PO1", 1)
    invoices = _section(view, "Invoices").rows
    assert list(zip(invoices["invoice_id"], invoices["invoice_line"], strict=True)) == [
        ("INV1", 1),
        ("INV1", 2),
        ("CN1", 1),
        ("INV2", 1),
    ]
    assert _section(view, "Receipts").rows.height == 2
    # INV2's 66.00 USD in the order's EUR: 66.00 x 0.90 = 59.40
    assert invoices.filter(invoices["invoice_id"] == "INV2")["order_amount"].item() == D("59.40")


def test_the_totals_of_an_order_line(store):
    view = _po(store, "PO1", 1)
    # ordered 100 for 200.00; received 40 + 30 = 70, worth 70 x 2.00 = 140.00
    assert (_total(view, "Ordered")["quantity"], _total(view, "Ordered")["amount"]) == (
        D("100.000"),
        D("200.00"),
    )
    assert (_total(view, "Received")["quantity"], _total(view, "Received")["amount"]) == (
        D("70.000"),
        D("140.00"),
    )
    # invoiced 80.00 + 10.00 - 10.00 + 59.40 = 139.40 (quantity 40 - 5 + 30 = 65)
    assert (_total(view, "Invoiced")["quantity"], _total(view, "Invoiced")["amount"]) == (
        D("65.000"),
        D("139.40"),
    )
    # paid: INV1/1, INV1/2 and INV2 = 149.40 (the credit note is not settled yet)
    assert _total(view, "Paid")["amount"] == D("149.40")
    assert _total(view, "Open to invoice")["amount"] == D("60.60")  # 200.00 - 139.40
    assert _total(view, "Open to pay")["amount"] == D("-10.00")  # 139.40 - 149.40
    assert set(view.totals["currency"]) == {"EUR"} and set(view.totals["display_currency"]) == {
        "EUR"
    }


def test_the_totals_in_another_display_currency(store):
    view = _po(store, "PO1", 1, currency="USD")
    # EUR at 1 / 0.90 USD: 80.00 -> 88.89, 10.00 -> 11.11, -10.00 -> -11.11; INV2 is 66.00
    # USD already: 88.89 + 11.11 - 11.11 + 66.00 = 154.89
    assert _total(view, "Invoiced")["display_amount"] == D("154.89")
    assert _total(view, "Invoiced")["amount"] == D("139.40")  # still in the order's EUR
    assert set(view.totals["display_currency"]) == {"USD"}


def test_an_order_line_without_invoices_or_receipts_says_so(store):
    view = _po(store, "PO2", 2)
    assert _section(view, "Invoices").rows["invoice_id"].to_list() == ["INV6"]
    line2 = _po(store, "PO1", 2)
    assert _section(line2, "Receipts").note == "No goods receipt recorded for PO1 line 2."
    # P2: 200.00 ordered, INV3's 90.00 invoiced and unpaid
    assert _total(line2, "Open to invoice")["amount"] == D("110.00")
    assert _total(line2, "Open to pay")["amount"] == D("90.00")


def test_the_whole_view_is_one_table_for_the_download(store):
    table = _po(store, "PO1", 1).table()
    assert table.columns[0] == "section"
    # 1 order line + 4 invoices + 2 receipts + 6 totals
    assert table["section"].value_counts().sort("section").rows() == [
        ("Invoices", 4),
        ("Purchase order line", 1),
        ("Receipts", 2),
        ("Totals", 6),
    ]


# ---- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: d.invoice_line_documents(s, "INV-404", 1),
            "No invoice INV-404 in the store. Check the id (as on the invoice export), or load "
            "the invoices file on the Data page.",
        ),
        (
            lambda s: d.invoice_line_documents(s, "INV1", 7),
            "Invoice INV1 has no line 7; its lines are 1, 2.",
        ),
        (
            lambda s: d.po_line_documents(s, "PO-404", 1),
            "No purchase order PO-404 in the store. Check the id (as on the order export), or "
            "load the purchase orders file on the Data page.",
        ),
        (
            lambda s: d.po_line_documents(s, "PO1", 3),
            "Purchase order PO1 has no line 3; its lines are 1, 2.",
        ),
    ],
)
def test_unknown_ids_are_refused_with_a_sentence(store, call, message):
    with pytest.raises(d.DocumentsError) as refused:
        call(store)
    assert str(refused.value) == message
