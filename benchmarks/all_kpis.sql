-- Every KPI of config/kpis.yaml by fiscal quarter, in ONE statement written by hand straight
-- on the canonical tables: the yardstick for kpi.semantic.engine.compute (benchmarks/run.py).
--
-- It means what the KPI descriptions of config/kpis.yaml say, for the demo's settings (fiscal
-- year = calendar year, labels FY2026-Q1; reporting currency EUR; obsolete after 180 days),
-- and it is written the way a person who knows DuckDB would write it for speed: invoice lines
-- are read once (a MATERIALIZED CTE), carry only the columns the KPIs use, and are aggregated
-- before any join that does not need single lines (supplier ranks and shares, preferred
-- suppliers, year-on-year); the fx rate is looked up once per (currency, day); quarters are
-- grouped as dates and labelled once at the end.
-- Output: kpi, period, value (DOUBLE), one row per KPI and quarter with data.
WITH
fx_day AS (
    SELECT k.currency, k.day,
           CASE WHEN k.currency = 'EUR' THEN CAST(1 AS DECIMAL(18, 8))
                ELSE CAST(r.rate AS DECIMAL(18, 8)) END AS factor
    FROM (SELECT DISTINCT currency, invoice_date AS day FROM invoices) k
    ASOF LEFT JOIN fx_rates r ON r.currency = k.currency AND k.day >= r.date
),
-- contract prices: the lowest price of an item's contracts on each span of days between
-- contract start and end dates (spans of one supplier, item and currency never overlap)
item_days AS (
    SELECT supplier_id, item_id, currency, start_date AS day FROM contracts
    WHERE item_id IS NOT NULL AND start_date IS NOT NULL
    UNION
    SELECT supplier_id, item_id, currency, coalesce(end_date, DATE '9999-12-31') + 1
    FROM contracts WHERE item_id IS NOT NULL AND start_date IS NOT NULL
),
item_price AS (
    SELECT s.supplier_id, s.item_id, s.currency, s.first_day, s.last_day,
           min(c.unit_price) AS contract_unit_price
    FROM (SELECT *, day AS first_day,
                 lead(day) OVER (PARTITION BY supplier_id, item_id, currency ORDER BY day) - 1
                     AS last_day
          FROM item_days) s
    JOIN contracts c
      ON c.supplier_id = s.supplier_id AND c.item_id = s.item_id AND c.currency = s.currency
     AND c.start_date <= s.first_day AND coalesce(c.end_date, DATE '9999-12-31') >= s.last_day
    GROUP BY ALL
),
category_days AS (
    SELECT supplier_id, category, start_date AS day FROM contracts
    WHERE item_id IS NULL AND start_date IS NOT NULL
    UNION
    SELECT supplier_id, category, coalesce(end_date, DATE '9999-12-31') + 1
    FROM contracts WHERE item_id IS NULL AND start_date IS NOT NULL
),
category_cover AS (
    SELECT DISTINCT s.supplier_id, s.category, s.first_day, s.last_day
    FROM (SELECT *, day AS first_day,
                 lead(day) OVER (PARTITION BY supplier_id, category ORDER BY day) - 1 AS last_day
          FROM category_days) s
    JOIN contracts c
      ON c.item_id IS NULL AND c.supplier_id = s.supplier_id AND c.category = s.category
     AND c.start_date <= s.first_day AND coalesce(c.end_date, DATE '9999-12-31') >= s.last_day
),
-- each order as compliance judges it: raised on its first line's date, approved when a line
-- not cancelled has an approval date (the demo's settings exempt no category from POs)
po_head AS (
    SELECT po_id, min(po_date) AS po_date,
           bool_or(approved_date IS NOT NULL
                   AND lower(coalesce(status, '')) NOT IN ('cancelled', 'canceled')) AS approved
    FROM purchase_orders GROUP BY po_id
),
-- one row per invoice line, the columns the KPIs need, amounts in EUR
lines AS MATERIALIZED (
    SELECT i.invoice_id, i.invoice_line, i.po_id, ph.po_id IS NOT NULL AS po_exists,
           coalesce(ph.approved AND ph.po_date <= i.invoice_date, false) AS on_po,
           coalesce(ph.po_date > i.invoice_date, false) AS po_after_invoice,
           CAST(round(greatest(i.unit_price - cp.contract_unit_price, 0) * i.quantity * f.factor, 2)
                AS DECIMAL(18, 2)) AS contract_overcharge,
           i.invoice_date, i.paid_date, i.due_date, i.supplier_id, i.item_id, i.currency,
           coalesce(i.category, it.category) AS category, i.quantity, i.unit_price,
           f.factor,
           CAST(date_trunc('quarter', i.invoice_date) AS DATE) AS quarter,
           CAST(round(i.amount * f.factor, 2) AS DECIMAL(18, 2)) AS amount,
           CAST(round(coalesce(i.discount_taken, 0) * f.factor, 2) AS DECIMAL(18, 2))
               AS discount_captured,
           coalesce(i.discount_taken, 0) = 0 AS no_discount_taken,
           coalesce(i.amount < 0, false) AS credit_note,
           cp.contract_unit_price IS NOT NULL OR cc.supplier_id IS NOT NULL AS on_contract,
           CAST(round((i.unit_price - cp.contract_unit_price) * i.quantity * f.factor, 2)
                AS DECIMAL(18, 2)) AS price_variance
    FROM invoices i
    LEFT JOIN items it ON it.item_id = i.item_id
    LEFT JOIN po_head ph ON ph.po_id = i.po_id
    LEFT JOIN fx_day f ON f.currency = i.currency AND f.day = i.invoice_date
    LEFT JOIN item_price cp
      ON cp.supplier_id = i.supplier_id AND cp.item_id = i.item_id AND cp.currency = i.currency
     AND i.invoice_date BETWEEN cp.first_day AND cp.last_day
    LEFT JOIN category_cover cc
      ON cc.supplier_id = i.supplier_id AND cc.category = coalesce(i.category, it.category)
     AND i.invoice_date BETWEEN cc.first_day AND cc.last_day
),
-- spend per quarter, category and supplier: ranks and supplier facts join this, not lines
by_supplier AS (
    SELECT quarter, category, supplier_id,
           sum(amount) AS amount,
           sum(amount) FILTER (WHERE on_po) AS po_amount,
           sum(amount) FILTER (WHERE po_after_invoice) AS late_po_amount,
           sum(amount) FILTER (WHERE on_contract) AS contract_amount,
           sum(price_variance) AS price_variance,
           sum(contract_overcharge) AS contract_overcharge
    FROM lines WHERE invoice_date IS NOT NULL
    GROUP BY ALL
),
-- each supplier within its category in the quarter reported, on all the category's spend:
-- its place by spend (exactly five in the top five: a tie goes to the lower supplier id)
-- and its share of the category's spend (HHI = spend-weighted mean of the shares)
ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY quarter, category
                              ORDER BY amount DESC, supplier_id) AS supplier_rank,
           CAST(amount AS DOUBLE) / nullif(sum(amount) OVER (PARTITION BY quarter, category), 0)
               AS category_share
    FROM by_supplier
),
spend_q AS (
    SELECT b.quarter,
           sum(b.amount) AS total,
           sum(b.po_amount) AS po_amount,
           sum(b.amount - coalesce(b.po_amount, 0)) AS no_po_amount,
           sum(CASE WHEN coalesce(s.preferred, false) THEN b.amount ELSE b.contract_amount END)
               AS managed_amount,
           sum(b.late_po_amount) AS late_po_amount,
           sum(b.price_variance) AS price_variance,
           sum(b.contract_overcharge) AS contract_overcharge,
           sum(b.amount) FILTER (WHERE b.supplier_rank <= 5) AS top5_amount,
           sum(b.amount * b.category_share) AS share_weighted
    FROM ranked b
    LEFT JOIN suppliers s ON s.supplier_id = b.supplier_id
    GROUP BY b.quarter
),
-- budgets: budget, invoices, accrued and committed at ONE budget rate per currency and fiscal
-- year, the first rate of the fiscal year (the demo sets no `budget_rates`)
budget_rate AS (
    SELECT year(date) AS fiscal_year, currency, arg_min(rate, date) AS rate
    FROM fx_rates GROUP BY ALL
),
open_po AS (
    SELECT * FROM purchase_orders WHERE lower(status) NOT IN ('closed', 'cancelled', 'canceled')
),
-- what was invoiced against each open order, whatever the item, in the order's currency
po_billed AS (
    SELECT i.po_id,
           sum(CASE WHEN i.currency = p.currency THEN i.amount
                    ELSE round(i.amount * CASE WHEN i.currency = 'EUR' THEN 1 ELSE ri.rate END
                               / CASE WHEN p.currency = 'EUR' THEN 1 ELSE rp.rate END, 2)
               END) AS billed
    FROM invoices i
    JOIN (SELECT po_id, arg_min(currency, po_line) AS currency FROM open_po GROUP BY 1) p
      ON p.po_id = i.po_id
    LEFT JOIN budget_rate ri ON ri.fiscal_year = year(i.invoice_date) AND ri.currency = i.currency
    LEFT JOIN budget_rate rp ON rp.fiscal_year = year(i.invoice_date) AND rp.currency = p.currency
    GROUP BY 1
),
-- per open line: invoiced (the order's invoices fill its lines in line order) and received
-- value (received quantity x unit price, at most the line's amount)
po_open AS (
    SELECT po.currency, po.amount, coalesce(po.promised_date, po.po_date) AS due_day,
           r.last_receipt,
           least(po.amount, greatest(coalesce(b.billed, 0) - coalesce(sum(po.amount)
               OVER (PARTITION BY po.po_id ORDER BY po.po_line
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) AS invoiced,
           least(po.amount, round(coalesce(r.qty, 0) * coalesce(po.unit_price, 0), 2))
               AS received_value
    FROM open_po po
    LEFT JOIN po_billed b ON b.po_id = po.po_id
    LEFT JOIN (SELECT po_id, po_line, sum(quantity) AS qty, max(receipt_date) AS last_receipt
               FROM goods_receipts GROUP BY ALL) r
      ON r.po_id = po.po_id AND r.po_line = po.po_line
),
-- committed (ordered, neither received nor invoiced) on the promised day, accrued (received,
-- not invoiced) on the last receipt's: each euro of an order once
budget_moves AS (
    SELECT CAST(period || '-01' AS DATE) AS day, currency, amount AS budget,
           0 AS actual, 0 AS on_order
    FROM budgets
    UNION ALL
    SELECT invoice_date, currency, 0, amount, 0 FROM invoices
    UNION ALL
    SELECT due_day, currency, 0, 0, amount - greatest(invoiced, received_value)
    FROM po_open WHERE amount - greatest(invoiced, received_value) > 0
    UNION ALL
    SELECT last_receipt, currency, 0, 0, received_value - invoiced
    FROM po_open WHERE received_value > invoiced
),
budget_qs AS (
    SELECT CAST(date_trunc('quarter', m.day) AS DATE) AS quarter,
           sum(m.budget * f.rate) AS budget, sum(m.actual * f.rate) AS actual,
           sum(m.on_order * f.rate) AS on_order
    FROM (SELECT *, year(day) AS fiscal_year FROM budget_moves) m
    LEFT JOIN (SELECT fiscal_year, currency,
                      CASE WHEN currency = 'EUR' THEN 1 ELSE rate END AS rate
               FROM budget_rate
               UNION ALL
               -- EUR is 1 even where fx_rates holds no EUR row for that year
               SELECT DISTINCT year(day), 'EUR', 1 FROM budget_moves
               WHERE year(day) NOT IN (SELECT fiscal_year FROM budget_rate
                                       WHERE currency = 'EUR')) f
      ON f.fiscal_year = m.fiscal_year AND f.currency = m.currency
    GROUP BY 1
),
budget_use AS (
    SELECT quarter, coalesce(actual, 0) / nullif(budget, 0) AS value FROM budget_qs
),
committed_use AS (
    SELECT quarter, (coalesce(actual, 0) + coalesce(on_order, 0)) / nullif(budget, 0) AS value
    FROM budget_qs
),
-- year on year: spend per day, each day counted now and, moved a year on, as the prior
by_day AS (
    SELECT invoice_date AS day, sum(amount) AS amount FROM lines GROUP BY ALL
),
bounds AS (
    SELECT CAST(date_trunc('month', min(invoice_date)) AS DATE) AS first_day,
           max(invoice_date) AS last_day
    FROM invoices
),
yoy AS (
    SELECT CAST(date_trunc('quarter', d) AS DATE) AS quarter,
           sum(current_amount) - sum(prior_amount) AS value
    FROM (
        SELECT day AS d, amount AS current_amount, 0 AS prior_amount FROM by_day, bounds
        WHERE day >= first_day + INTERVAL 1 YEAR
        UNION ALL
        SELECT CAST(day + INTERVAL 1 YEAR AS DATE), 0, amount FROM by_day, bounds
        WHERE day + INTERVAL 1 YEAR <= last_day
    )
    WHERE d IS NOT NULL
    GROUP BY 1
),
-- savings: each invoice line to at most one initiative (an item's before a category-wide
-- one of the same supplier, then the latest start, then the smallest id), inside its window
-- (no end date: 12 months, the demo's savings_window_months), implemented or realised
saving_initiatives AS (
    SELECT si.initiative_id, si.kind, si.supplier_id, si.item_id, si.category,
           coalesce(si.category, it.category) AS scope_category,
           coalesce(si.finance_status, 'pending') AS finance_status, si.stage, si.currency,
           si.baseline_unit_price, si.quoted_unit_price, si.negotiated_unit_price,
           si.expected_volume, si.price_change_pct, si.start_date,
           coalesce(si.end_date, CAST(si.start_date + INTERVAL 12 MONTH - INTERVAL 1 DAY AS DATE))
               AS window_end
    FROM savings_initiatives si LEFT JOIN items it ON it.item_id = si.item_id
    WHERE si.kind IN ('price_reduction', 'cost_avoidance') AND si.start_date IS NOT NULL
),
saving_match AS (
    SELECT i.invoice_date, i.quantity, i.unit_price, f.factor,
           CAST(round(i.amount * f.factor, 2) AS DECIMAL(18, 2)) AS amount,
           i.currency AS line_currency, c.*
    FROM invoices i
    LEFT JOIN items it ON it.item_id = i.item_id
    LEFT JOIN fx_day f ON f.currency = i.currency AND f.day = i.invoice_date
    JOIN saving_initiatives c
      ON c.supplier_id = i.supplier_id
     AND (i.item_id = c.item_id
          OR (c.item_id IS NULL AND coalesce(i.category, it.category) = c.category))
     AND i.invoice_date BETWEEN c.start_date AND c.window_end
    WHERE c.stage IN ('implemented', 'realised')
      AND (c.item_id IS NOT NULL OR c.price_change_pct IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY i.invoice_id, i.invoice_line
                               ORDER BY c.item_id IS NULL, c.start_date DESC, c.initiative_id) = 1
),
saving_lines AS (
    SELECT CAST(date_trunc('quarter', m.invoice_date) AS DATE) AS quarter, m.kind,
           m.finance_status,
           CASE WHEN m.item_id IS NULL
                THEN round(m.amount * -m.price_change_pct / (100 + m.price_change_pct), 2)
                ELSE round(CAST(CASE m.kind WHEN 'price_reduction' THEN m.baseline_unit_price
                                           ELSE m.quoted_unit_price END AS DECIMAL(38, 4))
                           * m.quantity
                           * CASE WHEN m.currency = 'EUR' THEN CAST(1 AS DECIMAL(18, 8))
                                  WHEN m.currency = m.line_currency THEN m.factor
                                  ELSE CAST(r.rate AS DECIMAL(18, 8)) END
                           - CAST(m.unit_price AS DECIMAL(38, 4)) * m.quantity * m.factor, 2)
           END AS saving
    FROM saving_match m
    ASOF LEFT JOIN fx_rates r ON r.currency = m.currency AND m.invoice_date >= r.date
),
-- the expected saving of implemented and realised price reductions, in cents spread evenly
-- over the months of the window that the invoices span, at each month's first-day rate
saving_plan AS (
    SELECT currency, CAST(date_trunc('month', start_date) AS DATE) AS first_month,
           CAST(date_diff('month', date_trunc('month', start_date),
                          date_trunc('month', window_end)) + 1 AS BIGINT) AS months,
           CAST(round(CASE WHEN item_id IS NULL
                           THEN expected_volume * -price_change_pct / (100 + price_change_pct)
                           ELSE expected_volume * (baseline_unit_price - negotiated_unit_price)
                      END, 2) * 100 AS BIGINT) AS cents
    FROM saving_initiatives
    WHERE kind = 'price_reduction' AND stage IN ('implemented', 'realised')
),
saving_expected AS (
    SELECT CAST(date_trunc('quarter', p.month_start) AS DATE) AS quarter,
           sum(CAST(round(p.share * CASE WHEN p.currency = 'EUR' THEN 1 ELSE r.rate END, 2)
                    AS DECIMAL(18, 2))) AS expected
    FROM (
        SELECT currency, CAST(first_month + to_months(CAST(k AS INTEGER)) AS DATE) AS month_start,
               CAST(((cents - ((cents % months) + months) % months) // months
                     + CASE WHEN k < ((cents % months) + months) % months THEN 1 ELSE 0 END)
                    AS DECIMAL(18, 0)) / 100 AS share
        FROM (SELECT *, unnest(range(months)) AS k FROM saving_plan WHERE cents IS NOT NULL)
    ) p
    ASOF LEFT JOIN fx_rates r ON r.currency = p.currency AND p.month_start >= r.date
    WHERE p.month_start BETWEEN (SELECT CAST(date_trunc('month', min(invoice_date)) AS DATE)
                                 FROM invoices)
                            AND (SELECT max(invoice_date) FROM invoices)
    GROUP BY 1
),
-- addressable spend: lines in categories that hold a price-reduction initiative
addressable_q AS (
    SELECT quarter, sum(amount) AS addressable
    FROM lines
    WHERE category IN (SELECT coalesce(si.category, it.category)
                       FROM savings_initiatives si LEFT JOIN items it ON it.item_id = si.item_id
                       WHERE si.kind = 'price_reduction')
    GROUP BY 1
),
savings_sums AS (
    SELECT quarter,
           sum(saving) FILTER (WHERE kind = 'price_reduction') AS realised,
           sum(saving) FILTER (WHERE kind = 'price_reduction' AND finance_status = 'accepted')
               AS recognised,
           sum(saving) FILTER (WHERE kind = 'cost_avoidance') AS avoided,
           -- accepted / (accepted + rejected): pending claims are in neither
           coalesce(sum(saving) FILTER (WHERE finance_status = 'accepted'), 0)
               / nullif(sum(saving) FILTER (WHERE finance_status IN ('accepted', 'rejected')), 0)
               AS acceptance
    FROM saving_lines
    GROUP BY quarter
),
savings_q AS (
    SELECT q.quarter, s.realised, s.recognised, s.avoided, s.acceptance,
           coalesce(s.realised, 0) / nullif(a.addressable, 0) AS addressable_share,
           coalesce(s.realised, 0) / nullif(e.expected, 0) AS realised_vs_expected
    FROM (SELECT quarter FROM savings_sums UNION SELECT quarter FROM addressable_q
          UNION SELECT quarter FROM saving_expected) q
    LEFT JOIN savings_sums s ON s.quarter = q.quarter
    LEFT JOIN addressable_q a ON a.quarter = q.quarter
    LEFT JOIN saving_expected e ON e.quarter = q.quarter
),
-- payment facts: the due date is the invoice's, else the invoice date plus the terms in
-- force that day (supplier_terms as of the invoice date, else suppliers); credit notes are
-- judged neither on time nor late and offer no discount
pay_lines AS (
    SELECT l.invoice_date, l.paid_date, l.amount, l.discount_captured, l.no_discount_taken,
           l.credit_note, s.size,
           coalesce(l.due_date, l.invoice_date + CASE WHEN t.valid_from IS NULL
               THEN s.payment_terms_days ELSE t.payment_terms_days END) AS due,
           CASE WHEN l.credit_note THEN CAST(0 AS DECIMAL(18, 2))
                ELSE CAST(round(l.amount * CASE WHEN t.valid_from IS NULL
                    THEN coalesce(s.discount_pct, 0) ELSE coalesce(t.discount_pct, 0) END
                    * 0.01, 2) AS DECIMAL(18, 2)) END AS available
    FROM lines l LEFT JOIN suppliers s ON s.supplier_id = l.supplier_id
    ASOF LEFT JOIN supplier_terms t
      ON t.supplier_id = l.supplier_id AND l.invoice_date >= t.valid_from
),
payments_q AS (
    SELECT CAST(date_trunc('quarter', paid_date) AS DATE) AS quarter,
           sum(amount * (paid_date - invoice_date)) FILTER (WHERE NOT credit_note)
               / nullif(sum(amount) FILTER (WHERE NOT credit_note), 0) AS days_to_pay,
           coalesce(sum(amount) FILTER (WHERE NOT credit_note AND paid_date <= due), 0)
               / nullif(sum(amount) FILTER (WHERE NOT credit_note AND due IS NOT NULL), 0)
               AS on_time,
           coalesce(sum(least(discount_captured, available)), 0) / nullif(sum(available), 0)
               AS discount_capture,
           coalesce(sum(amount) FILTER (WHERE NOT credit_note AND paid_date > due
                                        AND size = 'sme'), 0)
               / nullif(sum(amount) FILTER (WHERE NOT credit_note AND due IS NOT NULL
                                            AND size = 'sme'), 0) AS late_sme,
           coalesce(sum(amount) FILTER (WHERE NOT credit_note AND paid_date < due
                                        AND no_discount_taken), 0) AS early_no_discount
    FROM pay_lines
    WHERE paid_date IS NOT NULL
    GROUP BY 1
),
-- open lines past due on the last data day (the latest invoice or paid date), in its quarter
overdue_q AS (
    SELECT CAST(date_trunc('quarter', d.last_day) AS DATE) AS quarter,
           coalesce(sum(p.amount) FILTER (WHERE p.paid_date IS NULL AND NOT p.credit_note
                                          AND p.due < d.last_day), 0) AS overdue
    FROM pay_lines p,
         (SELECT greatest(max(invoice_date), max(paid_date)) AS last_day FROM invoices) d
    GROUP BY 1
),
-- stock: obsolete when nothing moved for more than 180 days; the last movement is the later
-- of the last issue and the item's last goods receipt (at any location) on or before the
-- snapshot, else the first snapshot of the item at the location (it arrived then at the
-- latest). Only a critical item (criticality critical or high) keeps its safety level when
-- idle: its stock above that level is obsolete, and idle stock up to the level is not.
item_receipt_days AS (
    SELECT DISTINCT po.item_id, g.receipt_date
    FROM goods_receipts g
    JOIN purchase_orders po ON po.po_id = g.po_id AND po.po_line = g.po_line
    WHERE po.item_id IS NOT NULL AND g.receipt_date IS NOT NULL
),
stock_rows AS (
    SELECT inv.snapshot_date, inv.location, inv.on_hand_qty, inv.issued_qty_90d,
           inv.max_stock_qty, coalesce(inv.safety_stock_qty, 0) AS safety_level,
           CAST(inv.unit_cost * CASE WHEN inv.currency = 'EUR' THEN 1 ELSE r.rate END
                AS DECIMAL(18, 4)) AS unit_cost,
           lower(coalesce(it.criticality, '')) IN ('critical', 'high') AS critical,
           inv.snapshot_date - coalesce(
               CASE WHEN inv.last_issue_date IS NULL THEN rc.receipt_date
                    WHEN rc.receipt_date IS NULL THEN inv.last_issue_date
                    ELSE greatest(inv.last_issue_date, rc.receipt_date) END,
               min(inv.snapshot_date) OVER (PARTITION BY inv.item_id, inv.location))
               AS idle_days
    FROM inventory inv
    LEFT JOIN items it ON it.item_id = inv.item_id
    ASOF LEFT JOIN fx_rates r ON r.currency = inv.currency AND inv.snapshot_date >= r.date
    ASOF LEFT JOIN item_receipt_days rc
      ON rc.item_id = inv.item_id AND inv.snapshot_date >= rc.receipt_date
    WHERE inv.snapshot_date IS NOT NULL
),
stock_classes AS (
    SELECT *,
           CASE WHEN obsolete AND NOT critical THEN 0
                ELSE least(on_hand_qty, safety_level) END AS safety_qty
    FROM (SELECT *, idle_days > 180 AND (NOT critical OR on_hand_qty > safety_level) AS obsolete
          FROM stock_rows)
),
-- each location's quarter: its sums over its own number of snapshot dates in the quarter
stock_by_location AS (
    SELECT CAST(date_trunc('quarter', snapshot_date) AS DATE) AS quarter, location,
           count(DISTINCT snapshot_date) AS snapshots,
           sum(CAST(round(on_hand_qty * unit_cost, 2) AS DECIMAL(18, 2))) AS stock,
           sum(coalesce(issued_qty_90d, 0) * unit_cost / 90) AS usage_per_day,
           sum(CAST(round(safety_qty * unit_cost, 2) AS DECIMAL(18, 2))) AS safety,
           sum(CAST(round(CASE WHEN obsolete THEN on_hand_qty - safety_qty ELSE 0 END
                          * unit_cost, 2) AS DECIMAL(18, 2))) AS obsolete,
           sum(CAST(round(CASE WHEN obsolete THEN 0
                               ELSE greatest(on_hand_qty - greatest(
                                   coalesce(max_stock_qty, on_hand_qty), safety_qty), 0) END
                          * unit_cost, 2) AS DECIMAL(18, 2))) AS excess
    FROM stock_classes
    GROUP BY ALL
),
inventory_q AS (
    SELECT quarter,
           sum(stock / snapshots) / nullif(sum(usage_per_day / snapshots), 0) AS days_inventory,
           -- the cash conversion gap weighs every snapshot row alike (its own KPI's formula)
           sum(stock) / nullif(sum(usage_per_day), 0) AS days_of_stock,
           sum(excess / snapshots) AS excess,
           sum(safety / snapshots) AS safety,
           sum(obsolete / snapshots) AS obsolete
    FROM stock_by_location
    GROUP BY quarter
),
-- on time in full: judged at the promised date on lines due by the last data day (the latest
-- order, approval, receipt, invoice or payment date), cancelled lines left out
by_promise AS (
    SELECT g.po_id, g.po_line, sum(coalesce(g.quantity, 0)) AS qty, count(*) AS receipts
    FROM goods_receipts g
    JOIN purchase_orders p ON p.po_id = g.po_id AND p.po_line = g.po_line
    WHERE g.receipt_date <= p.promised_date
    GROUP BY ALL
),
last_data_day AS (
    SELECT greatest((SELECT max(po_date) FROM purchase_orders),
                    (SELECT max(approved_date) FROM purchase_orders),
                    (SELECT max(receipt_date) FROM goods_receipts),
                    (SELECT max(invoice_date) FROM invoices),
                    (SELECT max(paid_date) FROM invoices)) AS day
),
otd_q AS (
    SELECT CAST(date_trunc('quarter', po.promised_date) AS DATE) AS quarter,
           count(*) FILTER (WHERE po.promised_date <= d.day AND NOT cancelled
                            AND CASE WHEN po.quantity IS NULL THEN coalesce(b.receipts, 0) > 0
                                     ELSE coalesce(b.qty, 0) >= po.quantity END)
               / nullif(count(*) FILTER (WHERE po.promised_date <= d.day AND NOT cancelled), 0)
               AS otd
    FROM (SELECT *, lower(coalesce(status, '')) IN ('cancelled', 'canceled') AS cancelled
          FROM purchase_orders) po
    CROSS JOIN last_data_day d
    LEFT JOIN by_promise b ON b.po_id = po.po_id AND b.po_line = po.po_line
    WHERE po.promised_date IS NOT NULL
    GROUP BY 1
),
-- three-way match: invoice lines on an existing order with an item, against the order's
-- price for the item and what its lines of the item had received by the invoice date
match_lines AS (
    SELECT invoice_id, invoice_line, quarter, amount, po_id, item_id, currency, unit_price,
           invoice_date,
           sum(quantity) OVER (PARTITION BY po_id, item_id
                               ORDER BY invoice_date, invoice_id, invoice_line
                               ROWS UNBOUNDED PRECEDING) AS invoiced_to_date
    FROM lines WHERE po_exists AND item_id IS NOT NULL
),
match_received AS (
    SELECT m.invoice_id, m.invoice_line, sum(coalesce(g.quantity, 0)) AS qty
    FROM match_lines m
    JOIN purchase_orders po ON po.po_id = m.po_id AND po.item_id = m.item_id
    JOIN goods_receipts g ON g.po_id = po.po_id AND g.po_line = po.po_line
     AND g.receipt_date <= m.invoice_date
    WHERE m.amount > 0
    GROUP BY ALL
),
match_q AS (
    SELECT m.quarter,
           sum(m.amount) FILTER (WHERE m.amount > 0 AND (m.unit_price > pp.po_unit_price
                                 OR m.invoiced_to_date > coalesce(r.qty, 0))) AS exceptions
    FROM match_lines m
    LEFT JOIN (SELECT po_id, item_id, currency, max(unit_price) AS po_unit_price
               FROM purchase_orders
               WHERE item_id IS NOT NULL
                 AND lower(coalesce(status, '')) NOT IN ('cancelled', 'canceled')
               GROUP BY ALL) pp
      ON pp.po_id = m.po_id AND pp.item_id = m.item_id AND pp.currency = m.currency
    LEFT JOIN match_received r ON r.invoice_id = m.invoice_id AND r.invoice_line = m.invoice_line
    GROUP BY 1
),
cycle_q AS (
    SELECT CAST(date_trunc('quarter', po_date) AS DATE) AS quarter,
           avg(approved_date - po_date) AS cycle_days
    FROM purchase_orders WHERE po_date IS NOT NULL
    GROUP BY 1
)
-- quarters are grouped as their first day (a date) and labelled at the end
SELECT kpi, 'FY' || year(quarter) || '-Q' || quarter(quarter) AS period,
       CAST(value AS DOUBLE) AS value
FROM (
    SELECT kpi, quarter, value
    FROM (
        SELECT quarter, total AS total_spend,
               coalesce(po_amount, 0) / nullif(total, 0) AS po_compliance,
               coalesce(no_po_amount, 0) / nullif(total, 0) AS maverick_spend_rate,
               coalesce(late_po_amount, 0) / nullif(total, 0) AS after_the_fact_po_rate,
               coalesce(managed_amount, 0) / nullif(total, 0) AS spend_under_management,
               price_variance AS purchase_price_variance,
               contract_overcharge,
               coalesce(top5_amount, 0) / nullif(total, 0) AS supplier_concentration_top5,
               share_weighted / nullif(total, 0) AS supplier_hhi
        FROM spend_q
    ) UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        total_spend, po_compliance, maverick_spend_rate, after_the_fact_po_rate,
        spend_under_management, purchase_price_variance, contract_overcharge,
        supplier_concentration_top5, supplier_hhi))
    UNION ALL
    -- every quarter with spend has a value (0 without exceptions), as the engine gives it
    SELECT 'three_way_match_exceptions', s.quarter, coalesce(m.exceptions, 0)
    FROM spend_q s LEFT JOIN match_q m ON m.quarter = s.quarter
    UNION ALL
    SELECT 'budget_utilisation', quarter, value FROM budget_use
    UNION ALL
    SELECT 'committed_budget_utilisation', quarter, value FROM committed_use
    UNION ALL
    SELECT 'expense_change_yoy', quarter, value FROM yoy
    UNION ALL
    SELECT kpi, quarter, value FROM savings_q UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        realised AS 'savings_realised', recognised AS 'savings_recognised',
        avoided AS 'cost_avoidance', acceptance AS 'savings_acceptance_rate',
        addressable_share AS 'savings_share_of_addressable_spend',
        realised_vs_expected AS 'savings_realised_vs_expected'))
    UNION ALL
    SELECT kpi, quarter, value FROM payments_q UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        days_to_pay AS 'days_to_pay', on_time AS 'on_time_payment_rate',
        discount_capture AS 'discount_capture_rate', late_sme AS 'late_payment_rate_sme',
        early_no_discount AS 'early_payment_without_discount'))
    UNION ALL
    SELECT 'overdue_payables', quarter, overdue FROM overdue_q
    UNION ALL
    SELECT kpi, quarter, value FROM inventory_q UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        days_inventory AS 'days_inventory', excess AS 'excess_inventory_value',
        safety AS 'safety_stock_value', obsolete AS 'obsolete_stock_value'))
    UNION ALL
    -- cash conversion gap: days of inventory minus days to pay, in quarters with either
    SELECT 'cash_conversion_gap', coalesce(i.quarter, p.quarter), i.days_of_stock - p.days_to_pay
    FROM inventory_q i FULL OUTER JOIN payments_q p ON p.quarter = i.quarter
    UNION ALL
    SELECT 'supplier_otd', quarter, otd FROM otd_q
    UNION ALL
    SELECT 'po_cycle_time_days', quarter, cycle_days FROM cycle_q
)
