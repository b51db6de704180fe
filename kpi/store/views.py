"""The curated views KPI formulas run over: their bodies, their catalogue, creating them.

Each view carries the derived columns KPI formulas need, so that a formula is one aggregate
expression over one view. Nothing in a view comes from user text: the bodies are constant
SQL in which a marker (`__display__`, `__base__`, `__obsolete_days__`, `__po_exempt__`,
`__budget_rates__`, `__savings_window__`, ...) stands for a setting, and kpi.store.template
puts sqlglot literals in the markers' places. Two markers stand for the period a KPI is reported at
(`__invoice_period__`, `__snapshot_period__`: a key of the row's month, fiscal quarter or
fiscal year): supplier ranks and shares and each location's number of snapshots are
computed within that period, so the KPI compiler asks for the bodies at the grain of the
request (the temporary views use the fiscal year).
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
from sqlglot import exp

from kpi.core.settings import FiscalCalendar, Settings
from kpi.store import identifiers
from kpi.store.schema import CURRENCIES, TABLES, all_ddl, create_table_sql
from kpi.store.template import fill, literal, parsed, render

# `amount` in a view is in the reporting currency; the source's own figure stays in
# `source_amount` / `source_currency`.

_FX = """
-- units of the display currency per unit of `currency`, from each rate date on
SELECT r.date, r.currency, CAST(r.rate / d.rate AS DECIMAL(18,8)) AS factor
FROM fx_rates r JOIN fx_rates d ON d.date = r.date AND d.currency = __display__
WHERE __display__ <> __base__ AND r.currency <> __base__
UNION ALL
SELECT d.date, __base__ AS currency, CAST(1 / d.rate AS DECIMAL(18,8)) AS factor
FROM fx_rates d WHERE d.currency = __display__ AND __display__ <> __base__
UNION ALL
SELECT r.date, r.currency, CAST(r.rate AS DECIMAL(18,8))
FROM fx_rates r WHERE __display__ = __base__
"""

# `spend_base` is `spend` plus what other views need from the invoice line but formulas do
# not (discount_taken): payments reads it without joining the invoices again. It is not a
# curated view (not in the catalogue); kpi_statement computes it once for several queries.
# View bodies are SELECTs: create_views makes them temporary views, kpi_statement CTEs.
_SPEND_BASE = """
WITH fx_day AS (
    -- the factor of each (currency, day) invoiced: the as-of join runs on these few pairs
    -- and the lines find theirs by a hash join (an as-of join over every line sorts them all)
    SELECT k.currency, k.day, fx.factor
    FROM (SELECT DISTINCT currency, invoice_date AS day FROM invoices) k
    ASOF LEFT JOIN fx_factor fx ON fx.currency = k.currency AND k.day >= fx.date
), lines AS NOT MATERIALIZED (
    -- read twice (ranks, the lines), recomputed rather than stored: cheaper
    SELECT i.*, coalesce(i.category, it.category) AS category_resolved,
           __invoice_period__ AS reported_period,
           CASE WHEN i.currency = __display__ THEN CAST(1 AS DECIMAL(18,8)) ELSE fx.factor END
               AS fx_factor
    FROM invoices i
    LEFT JOIN items it ON it.item_id = i.item_id
    LEFT JOIN fx_day fx ON fx.currency = i.currency AND fx.day = i.invoice_date
), supplier_spend AS (
    SELECT category_resolved, reported_period, supplier_id,
           sum(CAST(round(amount * fx_factor, 2) AS DECIMAL(18,2))) AS spend
    FROM lines GROUP BY category_resolved, reported_period, supplier_id
), ranks AS (
    -- each supplier inside its category in the reported period (month, quarter or year),
    -- over all the category's lines (a KPI's filters apply afterwards): its rank by spend,
    -- 1 = largest, ties broken by supplier id so that the top five are exactly five; and
    -- its share of the category's spend (the Herfindahl index sums the squares)
    SELECT category_resolved, reported_period, supplier_id,
           row_number() OVER (PARTITION BY category_resolved, reported_period
                              ORDER BY spend DESC, supplier_id) AS supplier_rank,
           CAST(spend AS DOUBLE) / nullif(sum(spend) OVER (
               PARTITION BY category_resolved, reported_period), 0) AS supplier_share
    FROM supplier_spend
), item_days AS (
    -- contracts cut each (supplier, item, currency) timeline into spans of days between
    -- their start and end dates: every day of a span is covered by the same contracts
    SELECT supplier_id, item_id, currency, start_date AS day FROM contracts
    WHERE item_id IS NOT NULL AND start_date IS NOT NULL
    UNION
    SELECT supplier_id, item_id, currency, coalesce(end_date, DATE '9999-12-31') + 1
    FROM contracts WHERE item_id IS NOT NULL AND start_date IS NOT NULL
), item_spans AS (
    SELECT supplier_id, item_id, currency, day AS first_day,
           lead(day) OVER (PARTITION BY supplier_id, item_id, currency ORDER BY day) - 1
               AS last_day
    FROM item_days
), contract_price AS (
    -- the lowest price of the item's contracts in the invoice currency, per span: a line
    -- finds its one span by a join, not by matching every line against every contract
    SELECT sp.supplier_id, sp.item_id, sp.currency, sp.first_day, sp.last_day,
           min(c.unit_price) AS contract_unit_price
    FROM item_spans sp JOIN contracts c
      ON c.supplier_id = sp.supplier_id AND c.item_id = sp.item_id
     AND c.currency = sp.currency AND c.start_date <= sp.first_day
     AND coalesce(c.end_date, DATE '9999-12-31') >= sp.last_day
    GROUP BY ALL
), category_days AS (
    -- the same spans for category-wide contracts (no item), in any currency
    SELECT supplier_id, category, start_date AS day FROM contracts
    WHERE item_id IS NULL AND start_date IS NOT NULL
    UNION
    SELECT supplier_id, category, coalesce(end_date, DATE '9999-12-31') + 1
    FROM contracts WHERE item_id IS NULL AND start_date IS NOT NULL
), category_spans AS (
    SELECT supplier_id, category, day AS first_day,
           lead(day) OVER (PARTITION BY supplier_id, category ORDER BY day) - 1 AS last_day
    FROM category_days
), category_cover AS (
    SELECT DISTINCT sp.supplier_id, sp.category, sp.first_day, sp.last_day
    FROM category_spans sp JOIN contracts c
      ON c.item_id IS NULL AND c.supplier_id = sp.supplier_id AND c.category = sp.category
     AND c.start_date <= sp.first_day
     AND coalesce(c.end_date, DATE '9999-12-31') >= sp.last_day
), po_head AS (
    -- each order as compliance judges it: raised on its first line's date; approved when a
    -- line not cancelled carries an approval date (a fully cancelled order is not approved)
    SELECT po_id, min(po_date) AS po_date,
           bool_or(approved_date IS NOT NULL
                   AND lower(coalesce(status, '')) NOT IN ('cancelled', 'canceled')) AS approved
    FROM purchase_orders GROUP BY po_id
)
SELECT
    l.invoice_id, l.invoice_line, l.supplier_id,
    coalesce(s.supplier_name, l.supplier_id) AS supplier,
    s.country, s.size AS supplier_size, coalesce(s.preferred, false) AS preferred,
    l.po_id, l.po_id IS NOT NULL AS has_po,
    l.invoice_date, l.due_date, l.paid_date,
    l.item_id, l.category_resolved AS category, l.cost_centre,
    l.quantity, l.unit_price,
    CAST(round(l.amount * l.fx_factor, 2) AS DECIMAL(18,2)) AS amount,
    l.amount AS source_amount, l.currency AS source_currency, l.fx_factor,
    l.fx_factor IS NULL AS fx_missing,
    cp.contract_unit_price,
    cp.contract_unit_price IS NOT NULL OR cc.supplier_id IS NOT NULL AS on_contract,
    CAST(round((l.unit_price - cp.contract_unit_price) * l.quantity * l.fx_factor, 2)
         AS DECIMAL(18,2)) AS price_variance,
    r.supplier_rank AS supplier_rank_in_category,
    l.discount_taken,
    -- compliance: on PO only when the order exists, is approved and was raised on or before
    -- the invoice date; `has_po` above only says the line carries a PO number
    ph.po_id IS NOT NULL AS po_exists,
    coalesce(ph.approved, false) AS po_approved,
    coalesce(ph.po_date > l.invoice_date, false) AS po_after_invoice,
    coalesce(list_contains(__po_exempt__, l.category_resolved), false) AS po_exempt,
    coalesce(ph.approved AND ph.po_date <= l.invoice_date, false) AS on_po,
    -- paid above contract only: the money to recover (savings_lines' leakage, same rounding)
    CAST(round(greatest(l.unit_price - cp.contract_unit_price, 0) * l.quantity * l.fx_factor, 2)
         AS DECIMAL(18,2)) AS contract_overcharge,
    r.supplier_share AS supplier_share_in_category
FROM lines l
LEFT JOIN suppliers s ON s.supplier_id = l.supplier_id
LEFT JOIN po_head ph ON ph.po_id = l.po_id
LEFT JOIN contract_price cp
  ON cp.supplier_id = l.supplier_id AND cp.item_id = l.item_id AND cp.currency = l.currency
 AND l.invoice_date BETWEEN cp.first_day AND cp.last_day
LEFT JOIN category_cover cc
  ON cc.supplier_id = l.supplier_id AND cc.category = l.category_resolved
 AND l.invoice_date BETWEEN cc.first_day AND cc.last_day
LEFT JOIN ranks r ON r.category_resolved IS NOT DISTINCT FROM l.category_resolved
 AND r.reported_period = l.reported_period AND r.supplier_id = l.supplier_id
"""

_VIEWS: dict[str, str] = {
    "spend": """
SELECT * EXCLUDE (discount_taken) FROM spend_base
""",
    # Payment behaviour follows three rules (README, 'Payment terms'): the due date is the
    # invoice's, else the invoice date plus the supplier's terms in force that day
    # (`effective_due_date`); credit notes (negative lines) are judged neither on time nor
    # late and offer no discount; the terms in force on the invoice date are the latest
    # `supplier_terms` row from on or before it, else the `suppliers` table (today's terms).
    # `as_of_date` is the last data day (latest invoice or paid date): open lines past their
    # effective due date on that day are overdue, in the ageing bucket of their days overdue.
    "payments": """
WITH last AS (
    SELECT greatest(max(invoice_date), max(paid_date)) AS last_day FROM invoices
), term_day AS (
    -- the history row in force on each (supplier, invoice date) pair: the as-of join runs
    -- on these few pairs and the lines find theirs by a hash join
    SELECT k.supplier_id, k.day, st.valid_from, st.payment_terms_days, st.discount_pct
    FROM (SELECT DISTINCT supplier_id, invoice_date AS day FROM invoices) k
    ASOF LEFT JOIN supplier_terms st ON st.supplier_id = k.supplier_id AND k.day >= st.valid_from
), lines AS (
    SELECT sp.invoice_id, sp.invoice_line, sp.supplier_id, sp.supplier, sp.country,
           sp.supplier_size, sp.preferred, sp.category, sp.cost_centre, sp.has_po,
           sp.invoice_date, sp.due_date, sp.paid_date, sp.amount, sp.source_currency,
           sp.fx_factor, sp.discount_taken,
           coalesce(sp.source_amount < 0, false) AS credit_note,
           CASE WHEN td.valid_from IS NULL THEN s.payment_terms_days
                ELSE td.payment_terms_days END AS terms_days,
           CASE WHEN td.valid_from IS NULL THEN coalesce(s.discount_pct, 0)
                ELSE coalesce(td.discount_pct, 0) END AS terms_discount_pct,
           coalesce(sp.due_date, sp.invoice_date + CASE WHEN td.valid_from IS NULL
               THEN s.payment_terms_days ELSE td.payment_terms_days END) AS due_effective,
           last.last_day
    FROM spend_base sp
    CROSS JOIN last
    LEFT JOIN suppliers s ON s.supplier_id = sp.supplier_id
    LEFT JOIN term_day td ON td.supplier_id = sp.supplier_id AND td.day = sp.invoice_date
), judged AS (
    SELECT *,
           NOT credit_note AND terms_discount_pct > 0 AS offered,
           CASE WHEN NOT credit_note AND terms_discount_pct > 0
                THEN CAST(round(amount * terms_discount_pct * 0.01, 2) AS DECIMAL(18,2))
                ELSE CAST(0 AS DECIMAL(18,2)) END AS available,
           CAST(round(coalesce(discount_taken, 0) * fx_factor, 2) AS DECIMAL(18,2)) AS captured,
           CASE WHEN paid_date IS NULL AND NOT credit_note AND due_effective < last_day
                THEN last_day - due_effective END AS overdue_days
    FROM lines
)
SELECT
    invoice_id, invoice_line, supplier_id, supplier, country, supplier_size,
    preferred, category, cost_centre, has_po,
    invoice_date, due_date, paid_date, amount, source_currency,
    paid_date IS NOT NULL AS is_paid,
    paid_date - invoice_date AS days_to_pay,
    due_date - invoice_date AS invoice_terms_days,
    terms_days AS contract_terms_days,
    CASE WHEN NOT credit_note THEN paid_date <= due_effective END AS paid_on_time,
    CASE WHEN NOT credit_note THEN paid_date > due_effective END AS paid_late,
    CASE WHEN NOT credit_note THEN greatest(paid_date - due_effective, 0) END AS days_late,
    offered AS discount_offered,
    available AS discount_available,
    captured AS discount_captured,
    offered AND paid_date IS NOT NULL AND coalesce(discount_taken, 0) = 0 AS discount_missed,
    due_effective AS effective_due_date,
    due_date IS NULL AND due_effective IS NOT NULL AS due_date_from_terms,
    credit_note AS is_credit_note,
    least(captured, available) AS discount_captured_counted,
    paid_date < due_effective AND NOT credit_note AND coalesce(discount_taken, 0) = 0
        AS paid_early_no_discount,
    CASE WHEN NOT credit_note THEN greatest(due_effective - paid_date, 0) END AS days_early,
    last_day AS as_of_date,
    overdue_days AS days_overdue,
    CASE WHEN overdue_days BETWEEN 1 AND 30 THEN '1-30 days'
         WHEN overdue_days BETWEEN 31 AND 60 THEN '31-60 days'
         WHEN overdue_days BETWEEN 61 AND 90 THEN '61-90 days'
         WHEN overdue_days > 90 THEN 'over 90 days' END AS ageing_bucket,
    CASE WHEN overdue_days IS NOT NULL THEN last_day - invoice_date END AS open_age_days
FROM judged
""",
    "po_lines": """
WITH fx_day AS (
    -- as in `spend`: the as-of join on the distinct (currency, day) pairs only
    SELECT k.currency, k.day, fx.factor
    FROM (SELECT DISTINCT currency, po_date AS day FROM purchase_orders) k
    ASOF LEFT JOIN fx_factor fx ON fx.currency = k.currency AND k.day >= fx.date
), r AS (
    SELECT po_id, po_line, max(receipt_date) AS last_receipt_date,
           sum(quantity) AS received_qty, count(*) AS receipts
    FROM goods_receipts GROUP BY po_id, po_line
), by_promise AS (
    -- what had arrived by the promised date: later receipts never make a line on time, so
    -- a closed period's figure does not move when the rest of an order arrives
    SELECT g.po_id, g.po_line, sum(coalesce(g.quantity, 0)) AS qty, count(*) AS receipts
    FROM goods_receipts g
    JOIN purchase_orders p ON p.po_id = g.po_id AND p.po_line = g.po_line
    WHERE g.receipt_date <= p.promised_date
    GROUP BY g.po_id, g.po_line
), as_of AS (
    -- the last data day: the latest date on which something happened in the store (an
    -- order, approval, receipt, invoice or payment); promised and due dates do not count
    SELECT greatest((SELECT max(po_date) FROM purchase_orders),
                    (SELECT max(approved_date) FROM purchase_orders),
                    (SELECT max(receipt_date) FROM goods_receipts),
                    (SELECT max(invoice_date) FROM invoices),
                    (SELECT max(paid_date) FROM invoices)) AS last_data_day
), judged AS (
    -- on time in full is judged on lines promised by the last data day, not cancelled
    SELECT po.po_id, po.po_line, a.last_data_day,
           po.promised_date <= a.last_data_day
               AND lower(coalesce(po.status, '')) NOT IN ('cancelled', 'canceled') AS otif_counted,
           coalesce(bp.qty, 0) AS received_by_promise_qty,
           -- in full: the ordered quantity arrived; a line without quantity (a service):
           -- something was received
           CASE WHEN po.quantity IS NULL THEN coalesce(bp.receipts, 0) > 0
                ELSE coalesce(bp.qty, 0) >= po.quantity END AS in_full_by_promise
    FROM purchase_orders po
    CROSS JOIN as_of a
    LEFT JOIN by_promise bp ON bp.po_id = po.po_id AND bp.po_line = po.po_line
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
    j.last_data_day, j.received_by_promise_qty,
    coalesce(j.otif_counted, false) AS otif_counted,
    coalesce(j.otif_counted AND j.in_full_by_promise, false) AS on_time_in_full
FROM purchase_orders po
LEFT JOIN fx_day fx ON fx.currency = po.currency AND fx.day = po.po_date
LEFT JOIN r ON r.po_id = po.po_id AND r.po_line = po.po_line
LEFT JOIN judged j ON j.po_id = po.po_id AND j.po_line = po.po_line
LEFT JOIN suppliers s ON s.supplier_id = po.supplier_id
LEFT JOIN items it ON it.item_id = po.item_id
""",
    # Three-way match, judged when the invoice is booked: a line on an existing order is an
    # exception when its unit price is above the order's price for the item (same currency;
    # the highest, when the order has the item on several lines), or when the quantity
    # invoiced on the order for the item so far (this line included, in invoice order) is
    # above what its lines of that item had received by the invoice date. The exception's
    # amount is the whole invoice line (what would be held from payment). Credit notes,
    # lines without a PO that exists or without an item are never exceptions.
    "invoice_match": """
WITH po_price AS (
    SELECT po_id, item_id, currency, max(unit_price) AS po_unit_price
    FROM purchase_orders
    WHERE item_id IS NOT NULL AND lower(coalesce(status, '')) NOT IN ('cancelled', 'canceled')
    GROUP BY ALL
), lines AS (
    SELECT sp.invoice_id, sp.invoice_line, sp.supplier_id, sp.supplier, sp.country,
           sp.supplier_size, sp.preferred, sp.po_id, sp.invoice_date, sp.item_id,
           sp.category, sp.cost_centre, sp.quantity, sp.unit_price, sp.amount,
           sp.source_currency,
           sp.po_exists AND sp.item_id IS NOT NULL AND sp.amount > 0 AS matchable,
           CASE WHEN sp.po_exists AND sp.item_id IS NOT NULL THEN
               sum(sp.quantity) OVER (PARTITION BY sp.po_id, sp.item_id
                                      ORDER BY sp.invoice_date, sp.invoice_id, sp.invoice_line
                                      ROWS UNBOUNDED PRECEDING) END AS invoiced_qty_to_date
    FROM spend sp
), received AS (
    SELECT l.invoice_id, l.invoice_line, sum(coalesce(g.quantity, 0)) AS qty
    FROM lines l
    JOIN purchase_orders po ON po.po_id = l.po_id AND po.item_id = l.item_id
    JOIN goods_receipts g ON g.po_id = po.po_id AND g.po_line = po.po_line
     AND g.receipt_date <= l.invoice_date
    WHERE l.matchable
    GROUP BY l.invoice_id, l.invoice_line
), judged AS (
    SELECT l.*, pp.po_unit_price,
           CASE WHEN l.matchable THEN coalesce(r.qty, 0) END AS received_qty_at_invoice,
           coalesce(l.matchable AND l.unit_price > pp.po_unit_price, false) AS price_above_po,
           coalesce(l.matchable AND l.invoiced_qty_to_date > coalesce(r.qty, 0), false)
               AS quantity_above_received
    FROM lines l
    LEFT JOIN po_price pp ON pp.po_id = l.po_id AND pp.item_id = l.item_id
     AND pp.currency = l.source_currency
    LEFT JOIN received r ON r.invoice_id = l.invoice_id AND r.invoice_line = l.invoice_line
)
SELECT *, price_above_po OR quantity_above_received AS match_exception
FROM judged
""",
    "budget_vs_actual": """
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
SELECT month_start, cost_centre, category, budget_amount, actual_amount, maverick_amount,
       committed_amount,
       -- the exchange-rate variance: actual at transaction-date rates - actual at budget rate
       actual_at_transaction - actual_amount AS fx_variance,
       accrued_amount
FROM totals
""",
    "inventory_position": """
-- Obsolete: no movement for more than obsolete_after_days. The last movement is the later
-- of the last issue and the item's last goods receipt (any location) on or before the
-- snapshot; with neither on record, the first snapshot holding the item at the location
-- (it was there at least since then). So stock received recently, or new and never issued
-- yet, is not obsolete. Obsolete stock of a critical item (criticality 'critical' or
-- 'high') keeps its safety level; of any other item it is obsolete whole, safety level or
-- not.
WITH receipts AS (
    SELECT po.item_id, gr.receipt_date
    FROM goods_receipts gr
    JOIN purchase_orders po ON po.po_id = gr.po_id AND po.po_line = gr.po_line
    WHERE po.item_id IS NOT NULL
), snapshots AS (
    SELECT inv.snapshot_date, inv.item_id, inv.location,
           min(inv.snapshot_date) OVER (PARTITION BY inv.item_id, inv.location) AS first_seen,
           max(rc.receipt_date) AS last_receipt_date
    FROM inventory inv
    LEFT JOIN receipts rc ON rc.item_id = inv.item_id AND rc.receipt_date <= inv.snapshot_date
    GROUP BY inv.snapshot_date, inv.item_id, inv.location
), location_counts AS (
    -- each location's own snapshot dates in the reported period: averages over snapshots
    -- divide each location's rows by its own count, not by the dates of all locations
    SELECT location, snapshot_date,
           count(*) OVER (PARTITION BY location, __snapshot_period__) AS location_snapshots
    FROM (SELECT DISTINCT location, snapshot_date FROM inventory)
), base AS (
    SELECT inv.*, it.category, it.description, it.criticality, it.lead_time_days,
           CAST(inv.unit_cost * CASE WHEN inv.currency = __display__ THEN 1 ELSE fx.factor END
                AS DECIMAL(18,4)) AS unit_cost_rc,
           inv.snapshot_date - inv.last_issue_date AS days_since_issue,
           sn.last_receipt_date,
           inv.snapshot_date - coalesce(greatest(inv.last_issue_date, sn.last_receipt_date),
                                        sn.first_seen) AS days_since_movement,
           inv.snapshot_date - coalesce(greatest(inv.last_issue_date, sn.last_receipt_date),
                                        sn.first_seen) > __obsolete_days__
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
), q AS (
    SELECT *,
        CASE WHEN is_obsolete AND NOT is_critical THEN 0
             ELSE least(on_hand_qty, coalesce(safety_stock_qty, 0)) END AS safety_qty
    FROM base
), c AS (
    SELECT *,
        CASE WHEN is_obsolete THEN on_hand_qty - safety_qty ELSE 0 END AS obsolete_qty,
        CASE WHEN is_obsolete THEN 0
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
       last_receipt_date, location_snapshots, days_since_movement
FROM c
""",
    # One row per invoice line (every line of `spend`, with the one initiative it is
    # attributed to, if any), then one row per initiative and month of its window holding
    # its expected saving (no invoice: invoice_id is NULL, invoice_date the month's first
    # day). The rules (README, "Savings"): a line counts for the most specific initiative
    # that claims on it, inside that initiative's window, and only for the stages
    # implemented and realised; a category-wide initiative prices its lines by its percent
    # change; the initiative's prices are converted at the invoice date's rate.
    "savings_lines": """
WITH si AS (
    -- every initiative with the last day its savings count: its end date, else its start
    -- plus the savings window (settings), less a day; no start date: no window at all
    SELECT si.*, coalesce(si.category, it.category) AS scope_category,
           coalesce(si.end_date, CAST(si.start_date + to_months(__savings_window__)
                                      - INTERVAL 1 DAY AS DATE)) AS window_end
    FROM savings_initiatives si
    LEFT JOIN items it ON it.item_id = si.item_id
), claiming AS (
    -- the initiatives that claim realised savings on invoice lines
    SELECT * FROM si
    WHERE kind IN ('price_reduction', 'cost_avoidance')
      AND stage IN ('implemented', 'realised') AND start_date IS NOT NULL
      AND (item_id IS NOT NULL OR price_change_pct IS NOT NULL)
), matched AS (
    -- each invoice line to at most one initiative of its supplier: an item's initiative
    -- before a category-wide one, then the latest start, then the smallest id
    SELECT sp.invoice_id, sp.invoice_line, sp.invoice_date, c.initiative_id, c.currency
    FROM spend sp
    JOIN claiming c
      ON sp.supplier_id = c.supplier_id
     AND (sp.item_id = c.item_id OR (c.item_id IS NULL AND sp.category = c.category))
     AND sp.invoice_date BETWEEN c.start_date AND c.window_end
    QUALIFY row_number() OVER (
        PARTITION BY sp.invoice_id, sp.invoice_line
        ORDER BY c.item_id IS NULL, c.start_date DESC, c.initiative_id) = 1
), initiative_fx AS (
    -- the initiative's currency in the display currency on each day a line of it was
    -- invoiced in another currency (an as-of join on these few pairs only)
    SELECT k.currency, k.day, fx.factor
    FROM (SELECT DISTINCT currency, invoice_date AS day FROM matched) k
    ASOF LEFT JOIN fx_factor fx ON fx.currency = k.currency AND k.day >= fx.date
), lines AS (
    SELECT sp.*, c.initiative_id, c.title, c.kind, c.stage, c.owner, c.finance_status AS fs,
           c.baseline_unit_price, c.quoted_unit_price, c.negotiated_unit_price,
           c.price_change_pct, c.item_id IS NULL AS category_wide,
           CASE WHEN c.currency = __display__ THEN CAST(1 AS DECIMAL(18,8))
                WHEN c.currency = sp.source_currency THEN sp.fx_factor
                ELSE f.factor END AS initiative_factor,
           coalesce(sp.category IN (SELECT scope_category FROM si
                                    WHERE kind = 'price_reduction'), false) AS addressable
    FROM spend sp
    LEFT JOIN matched m ON m.invoice_id = sp.invoice_id AND m.invoice_line = sp.invoice_line
    LEFT JOIN claiming c ON c.initiative_id = m.initiative_id
    LEFT JOIN initiative_fx f ON f.currency = m.currency AND f.day = m.invoice_date
), priced AS (
    SELECT *,
        -- what the line would have cost at the reference price, less what it cost: at the
        -- item's baseline or quote (converted at the invoice date), or, category-wide, at
        -- the prices before the percent change p: amount x -p / (100 + p), in cents
        -- rounded half away from zero (exact integers: no binary fraction)
        CASE WHEN category_wide THEN CAST(
                 sign(CAST(amount * 100 AS HUGEINT)) * (
                     (2 * abs(CAST(amount * 100 AS HUGEINT))
                        * CAST(-price_change_pct * 10000 AS HUGEINT)
                      + CAST((100 + price_change_pct) * 10000 AS HUGEINT))
                     // (2 * CAST((100 + price_change_pct) * 10000 AS HUGEINT)))
                 AS DECIMAL(18,0)) / 100
             ELSE round(CAST(CASE kind WHEN 'price_reduction' THEN baseline_unit_price
                                       WHEN 'cost_avoidance' THEN quoted_unit_price END
                             AS DECIMAL(38,4)) * quantity * initiative_factor
                        - CAST(unit_price AS DECIMAL(38,4)) * quantity * fx_factor, 2)
             END AS saving
    FROM lines
), plan AS (
    -- the expected saving in cents in the initiative's currency, over its window's months:
    -- expected_volume x (reference - negotiated) for an item; for a category-wide
    -- initiative expected_volume is the spend it covers at the new prices, so
    -- expected_volume x -p / (100 + p), as for its lines
    SELECT *, CAST(date_trunc('month', start_date) AS DATE) AS first_month,
           CAST(date_diff('month', date_trunc('month', start_date),
                          date_trunc('month', window_end)) + 1 AS BIGINT) AS months,
           CASE WHEN item_id IS NULL THEN CAST(
                    (2 * CAST(expected_volume * 1000 AS HUGEINT)
                       * CAST(-price_change_pct * 10000 AS HUGEINT)
                     + 10 * CAST((100 + price_change_pct) * 10000 AS HUGEINT))
                    // (20 * CAST((100 + price_change_pct) * 10000 AS HUGEINT)) AS BIGINT)
                ELSE CAST(round(expected_volume
                                * (CASE kind WHEN 'price_reduction' THEN baseline_unit_price
                                             WHEN 'cost_avoidance' THEN quoted_unit_price END
                                   - negotiated_unit_price), 2) * 100 AS BIGINT) END AS cents
    FROM si
    WHERE kind IN ('price_reduction', 'cost_avoidance') AND start_date IS NOT NULL
      AND window_end >= start_date
), plan_month AS (
    SELECT *, unnest(range(months)) AS k FROM plan WHERE cents IS NOT NULL
), plan_share_all AS (
    -- even shares; the cents that do not divide go one each to the first months
    SELECT *, CAST(first_month + to_months(CAST(k AS INTEGER)) AS DATE) AS month_start,
           CAST(((cents - ((cents % months) + months) % months) // months
                 + CASE WHEN k < ((cents % months) + months) % months THEN 1 ELSE 0 END)
                AS DECIMAL(18,0)) / 100 AS expected_source
    FROM plan_month
), plan_share AS (
    -- the months the invoices span: an expected saving is compared with invoices only
    SELECT * FROM plan_share_all
    WHERE month_start BETWEEN (SELECT CAST(date_trunc('month', min(invoice_date)) AS DATE)
                               FROM invoices)
                          AND (SELECT max(invoice_date) FROM invoices)
)
SELECT
    initiative_id, title, kind, stage, owner,
    coalesce(fs, 'pending') AS finance_status,
    coalesce(fs, 'pending') = 'accepted' AS accepted,
    invoice_id, invoice_line, invoice_date, supplier_id, supplier,
    category, cost_centre, item_id, quantity, unit_price,
    baseline_unit_price, quoted_unit_price, negotiated_unit_price,
    amount,
    CAST(CASE WHEN kind = 'price_reduction' THEN saving END AS DECIMAL(18,2)) AS price_saving,
    CAST(CASE WHEN kind = 'cost_avoidance' THEN saving END AS DECIMAL(18,2)) AS avoided_cost,
    -- what procurement claims: price savings or avoided cost
    CAST(saving AS DECIMAL(18,2)) AS claimed_amount,
    CAST(CASE WHEN NOT category_wide THEN
        round(greatest(CAST(unit_price AS DECIMAL(38,4)) * fx_factor
                       - CAST(negotiated_unit_price AS DECIMAL(38,4)) * initiative_factor, 0)
              * quantity, 2) END AS DECIMAL(18,2)) AS leakage,
    price_change_pct,
    CAST(NULL AS DECIMAL(18,2)) AS expected_saving,
    initiative_id IS NOT NULL AS claims,
    addressable
FROM priced
UNION ALL
SELECT
    p.initiative_id, p.title, p.kind, p.stage, p.owner,
    coalesce(p.finance_status, 'pending'), coalesce(p.finance_status, 'pending') = 'accepted',
    NULL, NULL, p.month_start, p.supplier_id, coalesce(s.supplier_name, p.supplier_id),
    p.scope_category, NULL, p.item_id, NULL, NULL,
    p.baseline_unit_price, p.quoted_unit_price, p.negotiated_unit_price,
    NULL, NULL, NULL, NULL, NULL, p.price_change_pct,
    -- converted at the rate in force on the month's first day (as budgets are)
    CAST(round(p.expected_source
               * CASE WHEN p.currency = __display__ THEN 1 ELSE fx.factor END, 2)
         AS DECIMAL(18,2)),
    p.stage IN ('implemented', 'realised'),
    false
FROM plan_share p
LEFT JOIN suppliers s ON s.supplier_id = p.supplier_id
ASOF LEFT JOIN fx_factor fx ON fx.currency = p.currency AND p.month_start >= fx.date
""",
    "spend_yoy": """
-- this year's lines at their date, last year's lines moved one year on: summing both
-- columns over any period gives the expense now and a year earlier, side by side
WITH bounds AS (
    SELECT CAST(date_trunc('month', min(invoice_date)) + INTERVAL 1 YEAR AS DATE) AS current_from,
           max(invoice_date) AS last_day
    FROM invoices
), lines AS (
    SELECT sp.invoice_date, CAST(sp.invoice_date + INTERVAL 1 YEAR AS DATE) AS moved,
           sp.category, sp.cost_centre, sp.supplier, sp.amount
    FROM spend sp
)
-- one pass over spend: each line yields its current row, its prior row or both
SELECT CASE WHEN y.prior THEN l.moved ELSE l.invoice_date END AS period_date,
       l.category, l.cost_centre, l.supplier,
       CASE WHEN y.prior THEN CAST(0 AS DECIMAL(18,2)) ELSE l.amount END AS current_amount,
       CASE WHEN y.prior THEN l.amount ELSE CAST(0 AS DECIMAL(18,2)) END AS prior_amount
FROM lines l, bounds b, (VALUES (false), (true)) AS y(prior)
WHERE CASE WHEN y.prior THEN l.moved <= b.last_day ELSE l.invoice_date >= b.current_from END
""",
    # The cash conversion gap: stock rows (by snapshot) and paid invoice lines (by paid
    # date) in one view, so that days of inventory minus days to pay stays one aggregate
    # formula over one view. The paid lines are read from spend_base, not `payments`: they
    # are the same lines (payments joins suppliers by key only) and this needs none of the
    # supplier's terms, so no join. Credit notes are left out, as in the days_to_pay KPI.
    "working_capital_days": """
SELECT snapshot_date AS on_date, category, stock_value, usage_value_per_day,
       CAST(NULL AS DECIMAL(18,2)) AS paid_amount, CAST(NULL AS BIGINT) AS days_to_pay
FROM inventory_position
UNION ALL
SELECT paid_date, category, NULL, NULL, amount, paid_date - invoice_date
FROM spend_base WHERE paid_date IS NOT NULL AND NOT coalesce(source_amount < 0, false)
""",
}

# The curated views that read spend_base (directly or through spend), in dependency order.
SPEND_VIEWS = (
    "spend",
    "invoice_match",
    "payments",
    "budget_vs_actual",
    "savings_lines",
    "spend_yoy",
    "working_capital_days",
)

VIEW_DESCRIPTIONS: dict[str, str] = {
    "spend": "Invoice lines with supplier, contract and fiscal context (amount in reporting "
    "currency).",
    "payments": "Invoice lines with days to pay, lateness against the due date (else the "
    "invoice date plus the terms in force), early-payment discounts and overdue ageing.",
    "po_lines": "Purchase-order lines with approval time, their goods receipts and whether "
    "each came on time in full (judged at its promised date, as of the last data day).",
    "invoice_match": "Invoice lines against their purchase order's price and the quantity "
    "received by the invoice date (three-way match exceptions).",
    "budget_vs_actual": "Budget, invoiced spend, accrued (received, not invoiced) and committed "
    "spend (ordered, neither received nor invoiced, in the month promised) per month, cost "
    "centre and category, all at the fiscal year's budget rates; fx_variance is what the "
    "transaction-date rates add to the invoiced spend.",
    "inventory_position": "Stock snapshots split into safety, cycle, excess and obsolete "
    "(obsolete: no issue or receipt for obsolete_after_days; a critical item keeps its safety "
    "level), with each location's number of snapshots in the reported period.",
    "savings_lines": "Every invoice line with the one savings initiative it is attributed to "
    "(if any) and the saving on it, plus each initiative's expected saving per month.",
    "spend_yoy": "Spend now and a year earlier, side by side, for the expense change.",
    "working_capital_days": "Stock snapshots and paid invoice lines (credit notes left out) "
    "side by side, for the cash conversion gap (days of inventory minus days to pay).",
}

# Views and the helper relations under them are names of the store's own making.
identifiers.register(["fx_factor", "spend_base", *_VIEWS])

_FISCAL_YEAR = "(year(__d__ - INTERVAL (__shift__) MONTH) + __offset__)"

# A key of the period holding a date at each grain (the fiscal year; the fiscal year and
# quarter; the calendar month), the twin of kpi.core.periods' labels: rows of one period
# share one key. The temporary views rank within the fiscal year.
_PERIOD_KEY = {
    "year": _FISCAL_YEAR,
    "quarter": "((year(__d__ - INTERVAL (__shift__) MONTH) + __offset__) * 10"
    " + quarter(__d__ - INTERVAL (__shift__) MONTH))",
    "month": "(year(__d__) * 100 + month(__d__))",
}
DEFAULT_GRAIN = "year"
# The views whose rows depend on the reported period (see the module's docstring).
GRAIN_VIEWS = ("spend_base", "inventory_position")

_CREATE_VIEW = "CREATE OR REPLACE TEMPORARY VIEW __view__ AS SELECT 1"


def fiscal_year(column: exp.Expression, cal: FiscalCalendar) -> exp.Expression:
    """The fiscal-year number of a date column (the twin of kpi.core.periods' rule)."""
    return period_key(column, "year", cal)


def period_key(column: exp.Expression, grain: str, cal: FiscalCalendar) -> exp.Expression:
    """A number naming the period (month, fiscal quarter or fiscal year) holding a date."""
    if grain not in _PERIOD_KEY:
        raise ValueError(f"unknown grain '{grain}'")
    return fill(
        _PERIOD_KEY[grain],
        d=column,
        shift=literal(cal.year_start_month - 1),
        offset=literal(cal.year_offset),
    )


def _budget_rates(settings: Settings) -> exp.Expression:
    """The `budget_rates` setting as a VALUES table (fiscal_year, currency, rate); with none
    set, one row of NULLs that the view leaves out (VALUES cannot be empty)."""
    rows = [
        (literal(year), literal(currency), exp.Literal.number(str(rate)))
        for year, currency, rate in settings.budget_rates
    ] or [(exp.null(), exp.null(), exp.null())]
    return exp.values(rows, alias="budget_rates", columns=["fiscal_year", "currency", "rate"])


def exempt_categories(names: tuple[str, ...]) -> exp.Expression:
    """The PO-exempt categories as a typed list literal (an empty list stays VARCHAR[])."""
    values = exp.Array(expressions=[literal(name) for name in names])
    return exp.Cast(this=values, to=exp.DataType.build("VARCHAR[]", dialect="duckdb"))


@lru_cache(maxsize=16)
def view_bodies(
    settings: Settings, display_currency: str | None = None, grain: str = DEFAULT_GRAIN
) -> dict[str, exp.Expression]:
    """The SELECT of every view as a sqlglot tree (fx_factor and spend_base first), settings
    filled in, supplier ranks and location snapshot counts within the periods of `grain`.
    The trees are shared: copy one before changing it."""
    base = settings.reporting_currency
    display = (display_currency or base).upper()
    if display not in CURRENCIES or base not in CURRENCIES:
        raise ValueError(f"unknown currency '{display}'")
    values = {
        "display": literal(display),
        "base": literal(base),
        "obsolete_days": literal(settings.obsolete_after_days),
        "fy_shift": literal(settings.fiscal.year_start_month - 1),
        "fy_offset": literal(settings.fiscal.year_offset),
        "budget_rates": _budget_rates(settings),
        "po_exempt": exempt_categories(settings.po_exempt_categories),
        "savings_window": literal(settings.savings_window_months),
        "invoice_period": period_key(exp.column("invoice_date", table="i"), grain, settings.fiscal),
        "snapshot_period": period_key(exp.column("snapshot_date"), grain, settings.fiscal),
    }
    bodies = {"fx_factor": _FX, "spend_base": _SPEND_BASE, **_VIEWS}
    return {name: fill(body, **values) for name, body in bodies.items()}


@lru_cache(maxsize=16)
def _create_statements(settings: Settings, display_currency: str | None) -> tuple[str, ...]:
    """The CREATE VIEW statements, rendered once per settings and currency (every read
    connection runs them, and rendering a tree costs more than DuckDB needs to run them)."""
    statements = []
    for name, body in view_bodies(settings, display_currency).items():
        create = parsed(_CREATE_VIEW).copy()
        create.set("this", identifiers.table(name))
        create.set("expression", body.copy())
        statements.append(render(create))
    return tuple(statements)


# Canonical tables added after stores were first built: a store file written before them
# (the next load adds them) reads them as empty, so its views keep working meanwhile.
ADDED_TABLES = ("supplier_terms",)

_PRESENT_TABLES = "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"


@lru_cache(maxsize=len(ADDED_TABLES))
def _empty_temp_table(name: str) -> str:
    """CREATE TEMPORARY TABLE for an added canonical table, with its columns and types."""
    create = parsed(create_table_sql(TABLES[name])).copy()
    properties = create.args.get("properties") or exp.Properties(expressions=[])
    properties.append("expressions", exp.TemporaryProperty())
    create.set("properties", properties)
    return render(create)


def create_views(
    con: duckdb.DuckDBPyConnection, settings: Settings, display_currency: str | None = None
) -> None:
    """Create the curated views on this connection, in `display_currency` (default: reporting)."""
    present = {r[0] for r in con.execute(_PRESENT_TABLES).fetchall()}
    for name in ADDED_TABLES:
        if name not in present:
            con.execute(_empty_temp_table(name))
    for statement in _create_statements(settings, display_currency):
        con.execute(statement)


@lru_cache(maxsize=4)
def view_catalog(settings: Settings) -> dict[str, dict[str, str]]:
    """Every curated view with its columns and their SQL types, read off an empty store."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings)
        out: dict[str, dict[str, str]] = {}
        for view in _VIEWS:
            rows = con.execute(render(exp.Describe(this=identifiers.table(view)))).fetchall()
            out[view] = {r[0]: r[1] for r in rows}
        identifiers.register(column for columns in out.values() for column in columns)
        return out
    finally:
        con.close()
