"""The Documents page in a real browser (issue 16, point 4): a link opens an invoice line's
three-way view, whose payment sentence is the payments view's, and the order line it names.
Runs on the demo store of tests/browser/conftest.py; screenshots in tests/artifacts/.
"""

from __future__ import annotations

from kpi.store.database import Store
from kpi.store.query import run
from tests.browser.support import (
    ARTIFACTS,
    browser_marks,
    expect_text,
    problems,
    wait_idle,
)

pytestmark = browser_marks()

# a paid line on an order: the first by invoice id, as the demo's seed makes it
PAID_ON_ORDER = """
SELECT p.invoice_id, p.invoice_line, i.po_id, p.paid_date, p.days_to_pay
FROM payments p JOIN invoices i USING (invoice_id, invoice_line)
WHERE i.po_id IS NOT NULL AND p.is_paid AND NOT p.is_credit_note
ORDER BY p.invoice_id, p.invoice_line LIMIT 1
"""


def _open(page, url: str, wait_for: str) -> None:
    page.goto(url)
    expect_text(page, wait_for, timeout=180_000)
    wait_idle(page, timeout=180_000)


def test_a_link_opens_an_invoice_lines_documents_and_its_order_line(page, app_url, demo_db):
    line = run(Store(demo_db), PAID_ON_ORDER).row(0, named=True)
    invoice, number = line["invoice_id"], line["invoice_line"]
    _open(page, f"{app_url}/documents?invoice={invoice}&line={number}", "Download the whole view")
    assert problems(page) == []
    body = page.locator("body").inner_text()
    assert f"Invoice {invoice} line {number}" in body
    for section in ("Invoice line", "Purchase order line", "Receipts", "Payment"):
        assert section in body
    # the payment sentence says what the payments view says
    assert f"Paid on {line['paid_date']}, {line['days_to_pay']} days after the invoice" in body
    assert "Three-way match" in body
    page.screenshot(path=str(ARTIFACTS / "documents_invoice.png"), full_page=True)

    # the order line it names, by its own link
    po_line = page.locator("text=/Order .* line \\d+:/").first.inner_text()
    order_line = po_line.split(" line ")[1].split(":")[0]
    _open(page, f"{app_url}/documents?po={line['po_id']}&line={order_line}", "Totals")
    assert problems(page) == []
    body = page.locator("body").inner_text()
    assert f"Purchase order {line['po_id']} line {order_line}" in body
    # the grid draws its cells on a canvas: the invoices are there, not the sentence for none
    assert "Invoices" in body and "No invoice recorded for" not in body
    page.screenshot(path=str(ARTIFACTS / "documents_order.png"), full_page=True)
