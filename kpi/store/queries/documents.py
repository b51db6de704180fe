"""The statements of the three-way view (kpi.analyses.documents): an invoice line, its order
line, that line's goods receipts and the payment, each row with the lineage it was loaded
with. Constant SQL with bound parameters only; the views (spend, payments, invoice_match,
po_lines) are read so that amounts, lateness and match verdicts follow the same rules as
the KPIs.
"""

from __future__ import annotations

# Does the invoice line exist, and which order does it name?
INVOICE_LINE = """
SELECT i.invoice_id, i.invoice_line, i.supplier_id,
       coalesce(s.supplier_name, i.supplier_id) AS supplier, i.po_id, i.invoice_date,
       i.item_id, i.quantity, i.unit_price, i.amount, i.currency, i.discount_taken,
       i.load_id, i.source_file, i.source_sheet, i.source_row
FROM invoices i
LEFT JOIN suppliers s ON s.supplier_id = i.supplier_id
WHERE i.invoice_id = $invoice_id AND i.invoice_line = $invoice_line
"""

# The lines an invoice id has (to say which exist when the one asked for does not).
INVOICE_LINES = """
SELECT invoice_line FROM invoices WHERE invoice_id = $invoice_id ORDER BY invoice_line
"""

# The line numbers of an order (to say which exist when the one asked for does not).
ORDER_LINE_NUMBERS = """
SELECT po_line FROM purchase_orders WHERE po_id = $po_id ORDER BY po_line
"""

# The lines of one order ($po_line NULL: every line), with the amount in the display
# currency $display as po_lines converts it (at the order date's rate; the factor is kept
# for the totals) and what was received. Read from the tables, not po_lines: that view
# judges every line of the store, and this needs one order's.
ORDER_LINES = """
SELECT po.po_id, po.po_line, po.po_date, po.approved_date, po.promised_date, po.status,
       po.supplier_id, coalesce(s.supplier_name, po.supplier_id) AS supplier, po.item_id,
       po.quantity, po.unit_price, po.amount, po.currency,
       CAST(round(po.amount * CASE WHEN po.currency = $display THEN 1 ELSE fx.factor END, 2)
            AS DECIMAL(18,2)) AS display_amount,
       coalesce(r.received_qty, 0) AS received_qty, r.last_receipt_date,
       CASE WHEN po.currency = $display THEN CAST(1 AS DECIMAL(18,8)) ELSE fx.factor END
           AS display_factor,
       po.load_id, po.source_file, po.source_sheet, po.source_row
FROM purchase_orders po
LEFT JOIN suppliers s ON s.supplier_id = po.supplier_id
LEFT JOIN (SELECT po_line, sum(quantity) AS received_qty, max(receipt_date) AS last_receipt_date
           FROM goods_receipts WHERE po_id = $po_id GROUP BY po_line) r
  ON r.po_line = po.po_line
ASOF LEFT JOIN fx_factor fx ON fx.currency = po.currency AND po.po_date >= fx.date
WHERE po.po_id = $po_id AND ($po_line::INTEGER IS NULL OR po.po_line = $po_line)
ORDER BY po.po_line
"""

# The goods received against one order line, in the order they came.
RECEIPTS = """
SELECT g.po_id, g.po_line, g.receipt_date, g.quantity,
       sum(coalesce(g.quantity, 0)) OVER (ORDER BY g.receipt_date
                                          ROWS UNBOUNDED PRECEDING) AS received_to_date,
       g.receipt_date > po.promised_date AS after_promised_date,
       g.load_id, g.source_file, g.source_sheet, g.source_row
FROM goods_receipts g
LEFT JOIN purchase_orders po ON po.po_id = g.po_id AND po.po_line = g.po_line
WHERE g.po_id = $po_id AND g.po_line = $po_line
ORDER BY g.receipt_date
"""

# Every invoice line naming the order, put on one of its lines, with its payment (the
# payments view: amount in the display currency as spend has it, lateness, discounts) and
# match verdict (invoice_match). No invoice names its order line, so (the rule of
# po_lines / invoice_match / budget_vs_actual, made exact for one line):
#   * an invoice line whose item the order has goes to the order's lines of that item;
#   * any other line goes to all the order's lines;
#   and among those lines the invoices fill them in line order: in invoice order (date, id,
#   line) each invoice line lands on the first line not yet filled by the invoices before it
#   (the same item's invoices for an item's lines; all the order's invoices otherwise, as
#   budget_vs_actual fills them), the last line when all are filled.
# Amounts are compared in the order's currency (its first line's): an invoice in another
# currency is converted through the reporting currency ($base) at the rates of its date.
ORDER_INVOICES = """
WITH po AS (
    SELECT po_line, item_id, amount, currency FROM purchase_orders WHERE po_id = $po_id
), order_currency AS (
    SELECT arg_min(currency, po_line) AS currency FROM po
), inv AS (
    SELECT i.invoice_id, i.invoice_line, i.invoice_date, i.item_id, i.amount, i.currency,
           oc.currency AS order_currency,
           coalesce(i.item_id IN (SELECT item_id FROM po WHERE item_id IS NOT NULL), false)
               AS item_on_order
    FROM invoices i CROSS JOIN order_currency oc
    WHERE i.po_id = $po_id
), converted AS (
    SELECT inv.*,
           CASE WHEN inv.currency = inv.order_currency THEN inv.amount
                ELSE CAST(round(inv.amount
                                * CASE WHEN inv.currency = $base THEN 1 ELSE ri.rate END
                                / CASE WHEN inv.order_currency = $base THEN 1 ELSE ro.rate END,
                                2) AS DECIMAL(18,2)) END AS order_amount
    FROM inv
    ASOF LEFT JOIN fx_rates ri ON ri.currency = inv.currency AND inv.invoice_date >= ri.date
    ASOF LEFT JOIN fx_rates ro
        ON ro.currency = inv.order_currency AND inv.invoice_date >= ro.date
), filled AS (
    SELECT *,
           CASE WHEN item_on_order THEN item_id END AS pool_item,
           CASE WHEN item_on_order THEN
                coalesce(sum(order_amount) OVER (
                    PARTITION BY item_on_order, item_id
                    ORDER BY invoice_date, invoice_id, invoice_line
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                ELSE coalesce(sum(order_amount) OVER (
                    ORDER BY invoice_date, invoice_id, invoice_line
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
           END AS filled_before
    FROM converted
), pools AS (
    -- each order line in the two pools it serves: its item's lines, and all the lines
    SELECT po_line, item_id AS pool_item,
           sum(amount) OVER (PARTITION BY item_id ORDER BY po_line) AS fill_end
    FROM po WHERE item_id IS NOT NULL
    UNION ALL
    SELECT po_line, NULL, sum(amount) OVER (ORDER BY po_line) FROM po
), placed AS (
    SELECT f.invoice_id, f.invoice_line, f.item_on_order, f.order_currency, f.order_amount,
           f.filled_before,
           coalesce(min(p.po_line) FILTER (WHERE p.fill_end > f.filled_before),
                    max(p.po_line)) AS po_line
    FROM filled f JOIN pools p ON p.pool_item IS NOT DISTINCT FROM f.pool_item
    GROUP BY ALL
)
SELECT pl.po_line, i.invoice_id, i.invoice_line, i.invoice_date, i.item_id, i.quantity,
       i.unit_price, i.amount, i.currency, pl.order_amount, pl.order_currency,
       pl.item_on_order, pm.amount AS display_amount,
       pm.due_date, pm.effective_due_date, pm.due_date_from_terms, i.paid_date, pm.is_paid,
       pm.days_to_pay, pm.paid_on_time, pm.paid_late, pm.days_late, pm.is_credit_note,
       i.discount_taken, pm.discount_offered, pm.discount_available, pm.discount_captured,
       pm.discount_missed, pm.days_overdue, pm.as_of_date,
       m.po_unit_price, m.received_qty_at_invoice, m.invoiced_qty_to_date, m.matchable,
       m.price_above_po, m.quantity_above_received, m.match_exception,
       i.load_id, i.source_file, i.source_sheet, i.source_row
FROM placed pl
JOIN invoices i ON i.invoice_id = pl.invoice_id AND i.invoice_line = pl.invoice_line
LEFT JOIN payments pm ON pm.invoice_id = i.invoice_id AND pm.invoice_line = i.invoice_line
LEFT JOIN invoice_match m ON m.invoice_id = i.invoice_id AND m.invoice_line = i.invoice_line
WHERE $po_line::INTEGER IS NULL OR pl.po_line = $po_line
ORDER BY i.invoice_date, i.invoice_id, i.invoice_line
"""

# The payment and match verdict of an invoice line that names no order that exists (the
# line is on no order line, so ORDER_INVOICES does not list it).
INVOICE_PAYMENT = """
SELECT pm.amount AS display_amount, pm.due_date, pm.effective_due_date,
       pm.due_date_from_terms, pm.paid_date, pm.is_paid,
       pm.days_to_pay, pm.paid_on_time, pm.paid_late, pm.days_late, pm.is_credit_note,
       i.discount_taken, pm.discount_offered, pm.discount_available, pm.discount_captured,
       pm.discount_missed, pm.days_overdue, pm.as_of_date,
       m.po_unit_price, m.received_qty_at_invoice, m.invoiced_qty_to_date, m.matchable,
       m.price_above_po, m.quantity_above_received, m.match_exception
FROM invoices i
LEFT JOIN payments pm ON pm.invoice_id = i.invoice_id AND pm.invoice_line = i.invoice_line
LEFT JOIN invoice_match m ON m.invoice_id = i.invoice_id AND m.invoice_line = i.invoice_line
WHERE i.invoice_id = $invoice_id AND i.invoice_line = $invoice_line
"""

# What a person can pick on the Documents page: the ids that start with their text.
INVOICE_IDS = """
SELECT DISTINCT invoice_id FROM invoices
WHERE starts_with(lower(invoice_id), lower($prefix))
ORDER BY invoice_id LIMIT $limit
"""

ORDER_IDS = """
SELECT DISTINCT po_id FROM purchase_orders
WHERE starts_with(lower(po_id), lower($prefix))
ORDER BY po_id LIMIT $limit
"""
