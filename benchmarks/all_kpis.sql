-- Every KPI of config/kpis.yaml by fiscal quarter, in ONE statement written by hand straight
-- on the canonical tables: the yardstick for kpi.semantic.engine.compute (benchmarks/run.py).
--
-- It means what the curated views of kpi/store/views.py mean, for the demo's settings (fiscal year =
-- calendar year, labels FY2026-Q1; reporting currency EUR; obsolete after 180 days), and it
-- is written the way a person who knows DuckDB would write it for speed: invoice lines are
-- read once (a MATERIALIZED CTE), carry only the columns the KPIs use, and are aggregated
-- before any join that does not need single lines (supplier ranks, preferred suppliers,
-- year-on-year); the fx rate is looked up once per (currency, day); quarters are grouped
-- as dates and labelled once at the end.
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
-- one row per invoice line, the columns the KPIs need, amounts in EUR
lines AS MATERIALIZED (
    SELECT i.invoice_date, i.paid_date, i.due_date, i.supplier_id, i.item_id, i.currency,
           coalesce(i.category, it.category) AS category, i.quantity, i.unit_price,
           i.po_id IS NOT NULL AS has_po, f.factor,
           year(i.invoice_date) AS fiscal_year,
           CAST(date_trunc('quarter', i.invoice_date) AS DATE) AS quarter,
           i.amount * f.factor AS exact_amount,
           CAST(round(i.amount * f.factor, 2) AS DECIMAL(18, 2)) AS amount,
           CAST(round(coalesce(i.discount_taken, 0) * f.factor, 2) AS DECIMAL(18, 2))
               AS discount_captured,
           cp.contract_unit_price IS NOT NULL OR cc.supplier_id IS NOT NULL AS on_contract,
           CAST(round((i.unit_price - cp.contract_unit_price) * i.quantity * f.factor, 2)
                AS DECIMAL(18, 2)) AS price_variance
    FROM invoices i
    LEFT JOIN items it ON it.item_id = i.item_id
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
    SELECT quarter, fiscal_year, category, supplier_id,
           sum(amount) AS amount,
           sum(amount) FILTER (WHERE has_po) AS po_amount,
           sum(amount) FILTER (WHERE on_contract) AS contract_amount,
           sum(price_variance) AS price_variance,
           sum(exact_amount) AS exact_amount
    FROM lines WHERE invoice_date IS NOT NULL
    GROUP BY ALL
),
ranks AS (
    SELECT category, fiscal_year, supplier_id,
           dense_rank() OVER (PARTITION BY category, fiscal_year
                              ORDER BY sum(exact_amount) DESC) AS supplier_rank
    FROM by_supplier GROUP BY category, fiscal_year, supplier_id
),
spend_q AS (
    SELECT b.quarter,
           sum(b.amount) AS total,
           sum(b.po_amount) AS po_amount,
           sum(b.amount - coalesce(b.po_amount, 0)) AS no_po_amount,
           sum(CASE WHEN coalesce(s.preferred, false) THEN b.amount ELSE b.contract_amount END)
               AS managed_amount,
           sum(b.price_variance) AS price_variance,
           sum(b.amount) FILTER (WHERE r.supplier_rank <= 5) AS top5_amount
    FROM by_supplier b
    LEFT JOIN suppliers s ON s.supplier_id = b.supplier_id
    LEFT JOIN ranks r ON r.category IS NOT DISTINCT FROM b.category
     AND r.fiscal_year = b.fiscal_year AND r.supplier_id = b.supplier_id
    GROUP BY b.quarter
),
budget_q AS (
    SELECT CAST(date_trunc('quarter', CAST(b.period || '-01' AS DATE)) AS DATE) AS quarter,
           sum(CAST(round(b.amount * CASE WHEN b.currency = 'EUR' THEN 1 ELSE r.rate END, 2)
                    AS DECIMAL(18, 2))) AS budget
    FROM budgets b
    ASOF LEFT JOIN fx_rates r ON r.currency = b.currency
     AND CAST(b.period || '-01' AS DATE) >= r.date
    GROUP BY 1
),
budget_use AS (
    SELECT coalesce(s.quarter, b.quarter) AS quarter,
           coalesce(s.total, 0) / nullif(coalesce(b.budget, 0), 0) AS value
    FROM spend_q s FULL OUTER JOIN budget_q b ON b.quarter = s.quarter
),
-- committed: the part of each open order line not invoiced yet (what was invoiced against an
-- order and item fills its lines in line order); closed or cancelled orders commit nothing
open_lines AS (
    SELECT po.po_date, po.currency,
           po.amount - least(po.amount, greatest(coalesce(bl.billed, 0) - coalesce(sum(po.amount)
               OVER (PARTITION BY po.po_id, po.item_id, po.currency ORDER BY po.po_line
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) AS open_amount
    FROM purchase_orders po
    LEFT JOIN (SELECT po_id, item_id, currency, sum(amount) AS billed FROM invoices
               WHERE po_id IS NOT NULL GROUP BY ALL) bl
      ON bl.po_id = po.po_id AND bl.item_id IS NOT DISTINCT FROM po.item_id
     AND bl.currency = po.currency
    WHERE lower(po.status) NOT IN ('closed', 'cancelled', 'canceled')
),
committed_q AS (
    SELECT CAST(date_trunc('quarter', o.po_date) AS DATE) AS quarter,
           sum(CAST(round(o.open_amount * CASE WHEN o.currency = 'EUR' THEN 1 ELSE r.rate END, 2)
                    AS DECIMAL(18, 2))) AS committed
    FROM open_lines o
    ASOF LEFT JOIN fx_rates r ON r.currency = o.currency AND o.po_date >= r.date
    WHERE o.open_amount > 0
    GROUP BY 1
),
committed_use AS (
    SELECT coalesce(u.quarter, c.quarter) AS quarter,
           (coalesce(u.total, 0) + coalesce(c.committed, 0)) / nullif(coalesce(u.budget, 0), 0)
               AS value
    FROM (SELECT coalesce(s.quarter, b.quarter) AS quarter, s.total, b.budget
          FROM spend_q s FULL OUTER JOIN budget_q b ON b.quarter = s.quarter) u
    FULL OUTER JOIN committed_q c ON c.quarter = u.quarter
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
payments_q AS (
    SELECT CAST(date_trunc('quarter', l.paid_date) AS DATE) AS quarter,
           sum(l.amount * (l.paid_date - l.invoice_date)) / nullif(sum(l.amount), 0)
               AS days_to_pay,
           coalesce(sum(l.amount) FILTER (WHERE l.paid_date <= l.due_date), 0)
               / nullif(sum(l.amount), 0) AS on_time,
           coalesce(sum(l.discount_captured), 0) / nullif(sum(CAST(round(
               l.amount * coalesce(s.discount_pct, 0) * 0.01, 2) AS DECIMAL(18, 2))), 0)
               AS discount_capture,
           coalesce(sum(l.amount) FILTER (WHERE l.paid_date > l.due_date AND s.size = 'sme'), 0)
               / nullif(sum(l.amount) FILTER (WHERE s.size = 'sme'), 0) AS late_sme
    FROM lines l LEFT JOIN suppliers s ON s.supplier_id = l.supplier_id
    WHERE l.paid_date IS NOT NULL
    GROUP BY 1
),
stock AS (
    SELECT inv.snapshot_date, inv.on_hand_qty, inv.issued_qty_90d,
           CAST(inv.unit_cost * CASE WHEN inv.currency = 'EUR' THEN 1 ELSE r.rate END
                AS DECIMAL(18, 4)) AS unit_cost,
           least(inv.on_hand_qty, coalesce(inv.safety_stock_qty, 0)) AS safety_qty,
           coalesce(inv.snapshot_date - inv.last_issue_date > 180, true)
               AND inv.on_hand_qty > coalesce(inv.safety_stock_qty, 0) AS is_obsolete,
           inv.max_stock_qty
    FROM inventory inv
    ASOF LEFT JOIN fx_rates r ON r.currency = inv.currency AND inv.snapshot_date >= r.date
),
inventory_q AS (
    SELECT CAST(date_trunc('quarter', snapshot_date) AS DATE) AS quarter,
           sum(CAST(round(on_hand_qty * unit_cost, 2) AS DECIMAL(18, 2)))
               / nullif(sum(coalesce(issued_qty_90d, 0) * unit_cost / 90), 0) AS days_inventory,
           sum(CAST(round(CASE WHEN is_obsolete THEN 0 ELSE greatest(on_hand_qty - greatest(
                   coalesce(max_stock_qty, on_hand_qty), safety_qty), 0) END * unit_cost, 2)
                    AS DECIMAL(18, 2)))
               / nullif(count(DISTINCT snapshot_date), 0) AS excess,
           sum(CAST(round(safety_qty * unit_cost, 2) AS DECIMAL(18, 2)))
               / nullif(count(DISTINCT snapshot_date), 0) AS safety
    FROM stock WHERE snapshot_date IS NOT NULL
    GROUP BY 1
),
received AS (
    SELECT po_id, po_line, max(receipt_date) AS last_receipt_date
    FROM goods_receipts GROUP BY ALL
),
otd_q AS (
    SELECT CAST(date_trunc('quarter', po.promised_date) AS DATE) AS quarter,
           count(*) FILTER (WHERE r.last_receipt_date <= po.promised_date)
               / nullif(count(*) FILTER (WHERE r.last_receipt_date IS NOT NULL), 0) AS otd
    FROM purchase_orders po
    LEFT JOIN received r ON r.po_id = po.po_id AND r.po_line = po.po_line
    WHERE po.promised_date IS NOT NULL
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
               coalesce(managed_amount, 0) / nullif(total, 0) AS spend_under_management,
               price_variance AS purchase_price_variance,
               coalesce(top5_amount, 0) / nullif(total, 0) AS supplier_concentration_top5
        FROM spend_q
    ) UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        total_spend, po_compliance, maverick_spend_rate, spend_under_management,
        purchase_price_variance, supplier_concentration_top5))
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
        discount_capture AS 'discount_capture_rate', late_sme AS 'late_payment_rate_sme'))
    UNION ALL
    SELECT kpi, quarter, value FROM inventory_q UNPIVOT INCLUDE NULLS (value FOR kpi IN (
        days_inventory AS 'days_inventory', excess AS 'excess_inventory_value',
        safety AS 'safety_stock_value'))
    UNION ALL
    -- cash conversion gap: days of inventory minus days to pay, in quarters with either
    SELECT 'cash_conversion_gap', coalesce(i.quarter, p.quarter), i.days_inventory - p.days_to_pay
    FROM inventory_q i FULL OUTER JOIN payments_q p ON p.quarter = i.quarter
    UNION ALL
    SELECT 'supplier_otd', quarter, otd FROM otd_q
    UNION ALL
    SELECT 'po_cycle_time_days', quarter, cycle_days FROM cycle_q
)
