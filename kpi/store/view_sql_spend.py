"""The SQL of the curated views over invoice lines (spend and what reads it): constant
text with markers, filled and rendered by kpi.store.views.

Markers (`__display__`, `__base__`, `__po_exempt__`, `__savings_window__`, ...) stand for
settings; kpi.store.views says what each is and puts sqlglot literals in their places.
"""

FX = """
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
SPEND_BASE = """
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
    r.supplier_share AS supplier_share_in_category,
    -- lineage: the invoice line's load, file, sheet and row (kpi.store.schema)
    l.load_id, l.source_file, l.source_sheet, l.source_row
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

SPEND = """
SELECT * EXCLUDE (discount_taken) FROM spend_base
"""

# Payment behaviour follows three rules (README, 'Payment terms'): the due date is the
# invoice's, else the invoice date plus the supplier's terms in force that day
# (`effective_due_date`); credit notes (negative lines) are judged neither on time nor
# late and offer no discount; the terms in force on the invoice date are the latest
# `supplier_terms` row from on or before it, else the `suppliers` table (today's terms).
# `as_of_date` is the last data day (latest invoice or paid date): open lines past their
# effective due date on that day are overdue, in the ageing bucket of their days overdue.
PAYMENTS = """
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
           sp.load_id, sp.source_file, sp.source_sheet, sp.source_row,
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
    CASE WHEN overdue_days IS NOT NULL THEN last_day - invoice_date END AS open_age_days,
    load_id, source_file, source_sheet, source_row
FROM judged
"""

# One row per invoice line (every line of `spend`, with the one initiative it is
# attributed to, if any), then one row per initiative and month of its window holding
# its expected saving (no invoice: invoice_id is NULL, invoice_date the month's first
# day). The rules (README, "Savings"): a line counts for the most specific initiative
# that claims on it, inside that initiative's window, and only for the stages
# implemented and realised; a category-wide initiative prices its lines by its percent
# change; the initiative's prices are converted at the invoice date's rate.
SAVINGS_LINES = """
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
                 AS DECIMAL(18,0)) * 0.01
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
                AS DECIMAL(18,0)) * 0.01 AS expected_source
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
    addressable,
    -- lineage: the invoice line's (spend carries the invoices table's)
    load_id, source_file, source_sheet, source_row
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
    false,
    -- lineage: the initiative's
    p.load_id, p.source_file, p.source_sheet, p.source_row
FROM plan_share p
LEFT JOIN suppliers s ON s.supplier_id = p.supplier_id
ASOF LEFT JOIN fx_factor fx ON fx.currency = p.currency AND p.month_start >= fx.date
"""

SPEND_YOY = """
-- this year's lines at their date, last year's lines moved one year on: summing both
-- columns over any period gives the expense now and a year earlier, side by side
WITH bounds AS (
    SELECT CAST(date_trunc('month', min(invoice_date)) + INTERVAL 1 YEAR AS DATE) AS current_from,
           max(invoice_date) AS last_day
    FROM invoices
), lines AS (
    SELECT sp.invoice_date, CAST(sp.invoice_date + INTERVAL 1 YEAR AS DATE) AS moved,
           sp.category, sp.cost_centre, sp.supplier, sp.amount,
           sp.load_id, sp.source_file, sp.source_sheet, sp.source_row
    FROM spend sp
)
-- one pass over spend: each line yields its current row, its prior row or both
SELECT CASE WHEN y.prior THEN l.moved ELSE l.invoice_date END AS period_date,
       l.category, l.cost_centre, l.supplier,
       CASE WHEN y.prior THEN CAST(0 AS DECIMAL(18,2)) ELSE l.amount END AS current_amount,
       CASE WHEN y.prior THEN l.amount ELSE CAST(0 AS DECIMAL(18,2)) END AS prior_amount,
       l.load_id, l.source_file, l.source_sheet, l.source_row
FROM lines l, bounds b, (VALUES (false), (true)) AS y(prior)
WHERE CASE WHEN y.prior THEN l.moved <= b.last_day ELSE l.invoice_date >= b.current_from END
"""

# The cash conversion gap: stock rows (by snapshot) and paid invoice lines (by paid
# date) in one view, so that days of inventory minus days to pay stays one aggregate
# formula over one view. The paid lines are read from spend_base, not `payments`: they
# are the same lines (payments joins suppliers by key only) and this needs none of the
# supplier's terms, so no join. Credit notes are left out, as in the days_to_pay KPI.
WORKING_CAPITAL_DAYS = """
SELECT snapshot_date AS on_date, category, stock_value, usage_value_per_day,
       CAST(NULL AS DECIMAL(18,2)) AS paid_amount, CAST(NULL AS BIGINT) AS days_to_pay,
       load_id, source_file, source_sheet, source_row  -- the stock row's lineage
FROM inventory_position
UNION ALL
SELECT paid_date, category, NULL, NULL, amount, paid_date - invoice_date,
       load_id, source_file, source_sheet, source_row  -- the invoice line's
FROM spend_base WHERE paid_date IS NOT NULL AND NOT coalesce(source_amount < 0, false)
"""
