"""The SQL of the curated views over orders, receipts, budgets and stock: constant text
with markers, filled and rendered by kpi.store.views (which says what each marker is).
"""

PO_LINES = """
WITH fx_day AS (
    -- as in `spend`: the as-of join on the distinct (currency, day) pairs only
    SELECT k.currency, k.day, fx.factor
    FROM (SELECT DISTINCT currency, po_date AS day FROM purchase_orders) k
    ASOF LEFT JOIN fx_factor fx ON fx.currency = k.currency AND k.day >= fx.date
), as_of AS (
    -- the last data day: the latest date on which something happened in the store (an
    -- order, approval, receipt, invoice or payment); promised and due dates do not count
    SELECT greatest((SELECT max(po_date) FROM purchase_orders),
                    (SELECT max(approved_date) FROM purchase_orders),
                    (SELECT max(receipt_date) FROM goods_receipts),
                    (SELECT max(invoice_date) FROM invoices),
                    (SELECT max(paid_date) FROM invoices)) AS last_data_day
)
SELECT
    po.po_id, po.po_line, po.po_date, po.approved_date, po.promised_date, po.status,
    po.supplier_id, coalesce(s.supplier_name, po.supplier_id) AS supplier, s.country,
    s.size AS supplier_size, coalesce(s.preferred, false) AS preferred,
    po.item_id, coalesce(po.category, it.category) AS category, po.cost_centre,
    po.quantity, po.unit_price,
    CAST(round(po.amount * CASE WHEN po.currency = __display__ THEN 1 ELSE fx.factor END, 2)
         AS DECIMAL(18,2)) AS amount,
    po.contract_id IS NOT NULL AS on_contract,
    po.approved_date - po.po_date AS approval_days,
    r.last_receipt_date, coalesce(r.received_qty, 0) AS received_qty,
    r.last_receipt_date IS NOT NULL AS received,
    r.last_receipt_date <= po.promised_date AS on_time,
    r.last_receipt_date - po.promised_date AS days_late,
    a.last_data_day, coalesce(r.by_promise_qty, 0) AS received_by_promise_qty,
    -- on time in full is judged on lines promised by the last data day, not cancelled
    coalesce(po.promised_date <= a.last_data_day
             AND lower(coalesce(po.status, '')) NOT IN ('cancelled', 'canceled'), false)
        AS otif_counted,
    coalesce(po.promised_date <= a.last_data_day
             AND lower(coalesce(po.status, '')) NOT IN ('cancelled', 'canceled')
             -- in full: the ordered quantity arrived; a line without quantity (a
             -- service): something was received
             AND CASE WHEN po.quantity IS NULL THEN r.by_promise_receipts > 0
                      ELSE coalesce(r.by_promise_qty, 0) >= po.quantity END, false)
        AS on_time_in_full,
    po.load_id, po.source_file, po.source_sheet, po.source_row
FROM purchase_orders po
CROSS JOIN as_of a
LEFT JOIN fx_day fx ON fx.currency = po.currency AND fx.day = po.po_date
-- the line's receipts, asked per line (a lateral join): only the receipts of the lines read
-- are grouped, so a quarter's lines do not pay for every receipt ever booked. What had
-- arrived by the promised date: later receipts never make a line on time, so a closed
-- period's figure does not move when the rest of an order arrives
LEFT JOIN LATERAL (
    SELECT max(g.receipt_date) AS last_receipt_date, sum(g.quantity) AS received_qty,
           sum(coalesce(g.quantity, 0)) FILTER (WHERE g.receipt_date <= po.promised_date)
               AS by_promise_qty,
           count(*) FILTER (WHERE g.receipt_date <= po.promised_date) AS by_promise_receipts
    FROM goods_receipts g WHERE g.po_id = po.po_id AND g.po_line = po.po_line
) r ON true
LEFT JOIN suppliers s ON s.supplier_id = po.supplier_id
LEFT JOIN items it ON it.item_id = po.item_id
"""

# Three-way match, judged when the invoice is booked: a line on an existing order is an
# exception when its unit price is above the order's price for the item (same currency;
# the highest, when the order has the item on several lines), or when the quantity
# invoiced on the order for the item so far (this line included, in invoice order) is
# above what its lines of that item had received by the invoice date. The exception's
# amount is the whole invoice line (what would be held from payment). Credit notes,
# lines without a PO that exists or without an item are never exceptions.
INVOICE_MATCH = """
WITH lines AS (
    SELECT sp.invoice_id, sp.invoice_line, sp.supplier_id, sp.supplier, sp.country,
           sp.supplier_size, sp.preferred, sp.po_id, sp.invoice_date, sp.item_id,
           sp.category, sp.cost_centre, sp.quantity, sp.unit_price, sp.amount,
           sp.source_currency, sp.load_id, sp.source_file, sp.source_sheet, sp.source_row,
           sp.po_exists AND sp.item_id IS NOT NULL AND sp.amount > 0 AS matchable,
           sp.po_exists AND sp.item_id IS NOT NULL AS on_order
    FROM spend sp
), to_date AS (
    -- the quantity invoiced on the order's item up to and including each line; the window
    -- runs over these few columns only (carrying every column of the line through it
    -- costs ten times as much)
    SELECT invoice_id, invoice_line,
           sum(quantity) OVER (PARTITION BY po_id, item_id
                               ORDER BY invoice_date, invoice_id, invoice_line
                               ROWS UNBOUNDED PRECEDING) AS invoiced_qty_to_date
    FROM lines WHERE on_order
), po_price AS (
    -- the orders' prices, for the orders of these lines only
    SELECT po_id, item_id, currency, max(unit_price) AS po_unit_price
    FROM purchase_orders
    WHERE item_id IS NOT NULL AND lower(coalesce(status, '')) NOT IN ('cancelled', 'canceled')
      AND po_id IN (SELECT po_id FROM lines WHERE on_order)
    GROUP BY ALL
), received AS (
    SELECT l.invoice_id, l.invoice_line, sum(coalesce(g.quantity, 0)) AS qty
    FROM lines l
    JOIN purchase_orders po ON po.po_id = l.po_id AND po.item_id = l.item_id
    JOIN goods_receipts g ON g.po_id = po.po_id AND g.po_line = po.po_line
     AND g.receipt_date <= l.invoice_date
    WHERE l.matchable
    GROUP BY l.invoice_id, l.invoice_line
), judged AS (
    SELECT l.* EXCLUDE (on_order), t.invoiced_qty_to_date, pp.po_unit_price,
           CASE WHEN l.matchable THEN coalesce(r.qty, 0) END AS received_qty_at_invoice,
           coalesce(l.matchable AND l.unit_price > pp.po_unit_price, false) AS price_above_po,
           coalesce(l.matchable AND t.invoiced_qty_to_date > coalesce(r.qty, 0), false)
               AS quantity_above_received
    FROM lines l
    LEFT JOIN to_date t ON t.invoice_id = l.invoice_id AND t.invoice_line = l.invoice_line
    LEFT JOIN po_price pp ON pp.po_id = l.po_id AND pp.item_id = l.item_id
     AND pp.currency = l.source_currency
    LEFT JOIN received r ON r.invoice_id = l.invoice_id AND r.invoice_line = l.invoice_line
)
SELECT * EXCLUDE (load_id, source_file, source_sheet, source_row),
       price_above_po OR quantity_above_received AS match_exception,
       load_id, source_file, source_sheet, source_row  -- the invoice line's lineage
FROM judged
"""

BUDGET_VS_ACTUAL = """
-- Every figure of a fiscal year at one budget rate per currency, so that a cost centre that
-- spent exactly its budget in the budget's currency shows 100 % whatever the rates did.
WITH set_rate AS (
    SELECT CAST(fiscal_year AS INTEGER) AS fiscal_year, CAST(currency AS VARCHAR) AS currency,
           CAST(rate AS DECIMAL(18,8)) AS rate
    FROM __budget_rates__ WHERE fiscal_year IS NOT NULL
), budget_rate AS (
    -- units of the reporting currency per unit, per fiscal year: the `budget_rates` setting,
    -- else the first rate dated in the fiscal year; a year with neither takes the latest
    -- earlier year's (every lookup below is an as-of join on the fiscal year)
    SELECT fiscal_year, currency, rate FROM set_rate
    UNION ALL
    SELECT f.fiscal_year, f.currency, arg_min(f.rate, f.date)
    FROM (SELECT currency, rate, date,
                 CAST(year(date - INTERVAL (__fy_shift__) MONTH) + __fy_offset__ AS INTEGER)
                     AS fiscal_year
          FROM fx_rates) f
    WHERE NOT EXISTS (SELECT 1 FROM set_rate s
                      WHERE s.fiscal_year = f.fiscal_year AND s.currency = f.currency)
    GROUP BY f.fiscal_year, f.currency
), open_po AS (
    -- closed or cancelled orders commit and accrue nothing
    SELECT * FROM purchase_orders
    WHERE lower(status) NOT IN ('closed', 'cancelled', 'canceled')
), po_currency AS (
    SELECT po_id, arg_min(currency, po_line) AS currency FROM open_po GROUP BY po_id
), invoiced_po AS (
    SELECT inv.po_id, inv.amount, inv.currency, pc.currency AS po_currency,
           CAST(year(inv.invoice_date - INTERVAL (__fy_shift__) MONTH) + __fy_offset__
                AS INTEGER) AS fiscal_year
    FROM invoices inv JOIN po_currency pc ON pc.po_id = inv.po_id
), billed AS (
    -- what was invoiced against each open order, whatever the item, in the order's
    -- currency (its first line's): an invoice in another currency is converted at the
    -- budget rates of the invoice's fiscal year
    SELECT i.po_id,
           sum(CASE WHEN i.currency = i.po_currency THEN i.amount
                    ELSE CAST(round(i.amount
                                    * CASE WHEN i.currency = __base__ THEN 1 ELSE ri.rate END
                                    / CASE WHEN i.po_currency = __base__ THEN 1 ELSE rp.rate END,
                                    2) AS DECIMAL(18,2)) END) AS billed
    FROM invoiced_po i
    ASOF LEFT JOIN budget_rate ri ON ri.currency = i.currency AND i.fiscal_year >= ri.fiscal_year
    ASOF LEFT JOIN budget_rate rp
        ON rp.currency = i.po_currency AND i.fiscal_year >= rp.fiscal_year
    GROUP BY i.po_id
), received AS (
    SELECT po_id, po_line, sum(quantity) AS received_qty, max(receipt_date) AS last_receipt
    FROM goods_receipts WHERE po_id IN (SELECT po_id FROM open_po)
    GROUP BY po_id, po_line
), po_state AS (
    -- per order line: invoiced (the order's invoices fill its lines in line order, as no
    -- invoice names its line) and received value (received quantity x order unit price,
    -- at most the line's amount)
    SELECT po.po_id, po.po_line, po.cost_centre,
           coalesce(po.category, it.category) AS category, po.currency, po.amount,
           coalesce(po.promised_date, po.po_date) AS due_day, r.last_receipt,
           least(po.amount, greatest(coalesce(bl.billed, 0) - coalesce(sum(po.amount)
               OVER (PARTITION BY po.po_id ORDER BY po.po_line
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) AS invoiced,
           least(po.amount, CAST(round(coalesce(r.received_qty, 0)
                                       * coalesce(po.unit_price, 0), 2) AS DECIMAL(18,2)))
               AS received_value
    FROM open_po po
    LEFT JOIN items it ON it.item_id = po.item_id
    LEFT JOIN billed bl ON bl.po_id = po.po_id
    LEFT JOIN received r ON r.po_id = po.po_id AND r.po_line = po.po_line
), moves AS (
    -- every figure in its document currency, in the month it falls in; invoices also at
    -- their transaction-date rates (`at_transaction`, already in the display currency)
    SELECT CAST(strptime(period || '-01', '%Y-%m-%d') AS DATE) AS month_start, cost_centre,
           category, currency, 'budget' AS measure, amount,
           CAST(NULL AS DECIMAL(18,2)) AS at_transaction
    FROM budgets
    UNION ALL
    SELECT CAST(date_trunc('month', invoice_date) AS DATE), cost_centre, category,
           source_currency, CASE WHEN has_po THEN 'actual' ELSE 'maverick' END, source_amount,
           amount
    FROM spend
    UNION ALL
    -- committed: ordered, neither received nor invoiced, in the month promised
    SELECT CAST(date_trunc('month', due_day) AS DATE), cost_centre, category, currency,
           'committed', amount - greatest(invoiced, received_value), NULL
    FROM po_state WHERE amount - greatest(invoiced, received_value) > 0
    UNION ALL
    -- accrued: received, not invoiced yet, in the month of the last receipt
    SELECT CAST(date_trunc('month', last_receipt) AS DATE), cost_centre, category, currency,
           'accrued', received_value - invoiced, NULL
    FROM po_state WHERE received_value > invoiced
), grouped AS (
    SELECT month_start, cost_centre, category, currency, measure, sum(amount) AS amount,
           sum(at_transaction) AS at_transaction,
           CAST(year(month_start - INTERVAL (__fy_shift__) MONTH) + __fy_offset__ AS INTEGER)
               AS fiscal_year,
           __display__ AS display_currency
    FROM moves GROUP BY ALL
), converted AS (
    -- to the display currency at the budget rates of the month's fiscal year: document
    -- currency -> reporting currency at its budget rate -> display currency at the display
    -- currency's budget rate (a figure in the display currency itself is not converted)
    SELECT g.month_start, g.cost_centre, g.category, g.measure, g.at_transaction,
           CAST(round(g.amount * CASE WHEN g.currency = g.display_currency THEN 1
               ELSE CAST(CASE WHEN g.currency = __base__ THEN 1 ELSE rc.rate END
                         / CASE WHEN g.display_currency = __base__ THEN 1 ELSE rd.rate END
                         AS DECIMAL(18,8)) END, 2) AS DECIMAL(18,2)) AS amount
    FROM grouped g
    ASOF LEFT JOIN budget_rate rc ON rc.currency = g.currency AND g.fiscal_year >= rc.fiscal_year
    ASOF LEFT JOIN budget_rate rd
        ON rd.currency = g.display_currency AND g.fiscal_year >= rd.fiscal_year
), totals AS (
    SELECT month_start, cost_centre, category,
           coalesce(sum(amount) FILTER (WHERE measure = 'budget'), 0) AS budget_amount,
           coalesce(sum(amount) FILTER (WHERE measure IN ('actual', 'maverick')), 0)
               AS actual_amount,
           coalesce(sum(amount) FILTER (WHERE measure = 'maverick'), 0) AS maverick_amount,
           coalesce(sum(amount) FILTER (WHERE measure = 'committed'), 0) AS committed_amount,
           coalesce(sum(at_transaction), 0) AS actual_at_transaction,
           coalesce(sum(amount) FILTER (WHERE measure = 'accrued'), 0) AS accrued_amount
    FROM converted GROUP BY month_start, cost_centre, category
)
SELECT t.month_start, t.cost_centre, t.category, t.budget_amount, t.actual_amount,
       t.maverick_amount, t.committed_amount,
       -- the exchange-rate variance: actual at transaction-date rates - actual at budget rate
       t.actual_at_transaction - t.actual_amount AS fx_variance,
       t.accrued_amount,
       -- lineage: the budget line of the month, cost centre and category (one by the
       -- budgets table's key), null where there is no budget
       b.load_id, b.source_file, b.source_sheet, b.source_row
FROM totals t
LEFT JOIN budgets b ON b.period = strftime(t.month_start, '%Y-%m')
 AND b.cost_centre = t.cost_centre AND b.category = t.category
"""

INVENTORY_POSITION = """
-- Obsolete: no movement for more than obsolete_after_days. The last movement is the later
-- of the last issue and the item's last goods receipt (any location) on or before the
-- snapshot; with neither on record, the first snapshot holding the item at the location
-- (it was there at least since then). So stock received recently, or new and never issued
-- yet, is not obsolete. Obsolete stock of a critical item (criticality 'critical' or
-- 'high') keeps its safety level; of any other item it is obsolete whole, safety level or
-- not.
-- Stock procurement marked as safety or strategic stock (kpi/workflows/stock_marks.py) is
-- held on purpose in a snapshot when the item's mark in force at the snapshot date (its
-- latest change effective on or before it, not a removal) has a review date on or after the
-- snapshot date: then it is neither excess nor obsolete (safety up to the safety level, the
-- rest cycle stock); from the day after the review date it is classed as if unmarked.
WITH marks AS (
    -- per item and effective date, the last change made (a change id grows with each)
    SELECT item_id, effective_from, arg_max(action, change_id) AS action,
           arg_max(kind, change_id) AS kind, arg_max(review_date, change_id) AS review_date,
           arg_max(reason, change_id) AS reason
    FROM stock_mark_changes GROUP BY item_id, effective_from
), receipts AS (
    SELECT DISTINCT po.item_id, gr.receipt_date
    FROM goods_receipts gr
    JOIN purchase_orders po ON po.po_id = gr.po_id AND po.po_line = gr.po_line
    WHERE po.item_id IS NOT NULL
), snapshots AS (
    -- the item's last receipt on or before the snapshot: an as-of join finds it per
    -- (snapshot, item, location) without pairing each snapshot with every earlier receipt
    -- (the range join and its max() took 2.5 s at scale 10, this 1 s; same figures)
    SELECT inv.snapshot_date, inv.item_id, inv.location,
           min(inv.snapshot_date) OVER (PARTITION BY inv.item_id, inv.location) AS first_seen,
           rc.receipt_date AS last_receipt_date
    FROM (SELECT DISTINCT snapshot_date, item_id, location FROM inventory) inv
    ASOF LEFT JOIN receipts rc ON rc.item_id = inv.item_id AND inv.snapshot_date >= rc.receipt_date
), location_counts AS (
    -- each location's own snapshot dates in the reported period: averages over snapshots
    -- divide each location's rows by its own count, not by the dates of all locations
    SELECT location, snapshot_date,
           count(*) OVER (PARTITION BY location, __snapshot_period__) AS location_snapshots
    FROM (SELECT DISTINCT location, snapshot_date FROM inventory)
), base AS (
    SELECT inv.*, it.category, it.description, it.criticality, it.lead_time_days,
           CASE WHEN mk.action <> 'removed' THEN mk.kind END AS stock_mark,
           CASE WHEN mk.action <> 'removed' THEN mk.review_date END AS mark_review_date,
           CASE WHEN mk.action <> 'removed' THEN mk.reason END AS mark_reason,
           coalesce(mk.action <> 'removed' AND inv.snapshot_date <= mk.review_date, false)
               AS held_on_purpose,
           CAST(inv.unit_cost * CASE WHEN inv.currency = __display__ THEN 1 ELSE fx.factor END
                AS DECIMAL(18,4)) AS unit_cost_rc,
           inv.snapshot_date - inv.last_issue_date AS days_since_issue,
           sn.last_receipt_date,
           inv.snapshot_date - coalesce(greatest(inv.last_issue_date, sn.last_receipt_date),
                                        sn.first_seen) AS days_since_movement,
           inv.snapshot_date - coalesce(greatest(inv.last_issue_date, sn.last_receipt_date),
                                        sn.first_seen) > __obsolete_days__
               AND NOT coalesce(mk.action <> 'removed'
                                AND inv.snapshot_date <= mk.review_date, false)
               AND (lower(coalesce(it.criticality, '')) NOT IN ('critical', 'high')
                    OR inv.on_hand_qty > coalesce(inv.safety_stock_qty, 0)) AS is_obsolete,
           lower(coalesce(it.criticality, '')) IN ('critical', 'high') AS is_critical,
           lc.location_snapshots
    FROM inventory inv
    LEFT JOIN items it ON it.item_id = inv.item_id
    LEFT JOIN snapshots sn ON sn.snapshot_date = inv.snapshot_date
     AND sn.item_id = inv.item_id AND sn.location = inv.location
    LEFT JOIN location_counts lc ON lc.location = inv.location
     AND lc.snapshot_date = inv.snapshot_date
    ASOF LEFT JOIN fx_factor fx ON fx.currency = inv.currency AND inv.snapshot_date >= fx.date
    ASOF LEFT JOIN marks mk ON mk.item_id = inv.item_id AND inv.snapshot_date >= mk.effective_from
), q AS (
    SELECT *,
        CASE WHEN is_obsolete AND NOT is_critical THEN 0
             ELSE least(on_hand_qty, coalesce(safety_stock_qty, 0)) END AS safety_qty
    FROM base
), c AS (
    SELECT *,
        CASE WHEN is_obsolete THEN on_hand_qty - safety_qty ELSE 0 END AS obsolete_qty,
        CASE WHEN is_obsolete OR held_on_purpose THEN 0
             ELSE greatest(on_hand_qty - greatest(coalesce(max_stock_qty, on_hand_qty),
                                                  safety_qty), 0) END AS excess_qty
    FROM q
)
SELECT snapshot_date, item_id, location, category, description, criticality, lead_time_days,
       on_hand_qty, safety_stock_qty, max_stock_qty, last_issue_date, days_since_issue,
       issued_qty_90d, unit_cost_rc AS unit_cost, is_obsolete,
       safety_qty, on_hand_qty - safety_qty - obsolete_qty - excess_qty AS cycle_qty,
       excess_qty, obsolete_qty,
       CAST(round(on_hand_qty * unit_cost_rc, 2) AS DECIMAL(18,2)) AS stock_value,
       CAST(round(safety_qty * unit_cost_rc, 2) AS DECIMAL(18,2)) AS safety_value,
       -- cycle stock is the rest, so the four classes add up to stock_value to the cent
       CAST(round(on_hand_qty * unit_cost_rc, 2) - round(safety_qty * unit_cost_rc, 2)
            - round(excess_qty * unit_cost_rc, 2) - round(obsolete_qty * unit_cost_rc, 2)
            AS DECIMAL(18,2)) AS cycle_value,
       CAST(round(excess_qty * unit_cost_rc, 2) AS DECIMAL(18,2)) AS excess_value,
       CAST(round(obsolete_qty * unit_cost_rc, 2) AS DECIMAL(18,2)) AS obsolete_value,
       coalesce(issued_qty_90d, 0) * unit_cost_rc / 90 AS usage_value_per_day,
       last_receipt_date, location_snapshots, days_since_movement,
       stock_mark, mark_review_date, mark_reason, held_on_purpose,
       load_id, source_file, source_sheet, source_row  -- the stock row's lineage
FROM c
"""
