"""The curated views KPI formulas run over: their bodies, their catalogue, creating them.

Each view carries the derived columns KPI formulas need, so that a formula is one aggregate
expression over one view. Nothing in a view comes from user text: the bodies are constant
SQL in which a marker (`__display__`, `__base__`, `__obsolete_days__`, `__fiscal_year__`,
`__savings_window__`) stands for a setting, and kpi.store.template puts sqlglot literals in
the markers' places.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
from sqlglot import exp

from kpi.core.settings import FiscalCalendar, Settings
from kpi.store import identifiers
from kpi.store.schema import CURRENCIES, all_ddl
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
           __fiscal_year__ AS fiscal_year,
           CASE WHEN i.currency = __display__ THEN CAST(1 AS DECIMAL(18,8)) ELSE fx.factor END
               AS fx_factor
    FROM invoices i
    LEFT JOIN items it ON it.item_id = i.item_id
    LEFT JOIN fx_day fx ON fx.currency = i.currency AND fx.day = i.invoice_date
), ranks AS (
    -- rank of each supplier inside its category by spend in the fiscal year (1 = largest)
    SELECT category_resolved, fiscal_year, supplier_id,
           dense_rank() OVER (PARTITION BY category_resolved, fiscal_year
                              ORDER BY sum(amount * fx_factor) DESC) AS supplier_rank
    FROM lines GROUP BY category_resolved, fiscal_year, supplier_id
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
    l.discount_taken
FROM lines l
LEFT JOIN suppliers s ON s.supplier_id = l.supplier_id
LEFT JOIN contract_price cp
  ON cp.supplier_id = l.supplier_id AND cp.item_id = l.item_id AND cp.currency = l.currency
 AND l.invoice_date BETWEEN cp.first_day AND cp.last_day
LEFT JOIN category_cover cc
  ON cc.supplier_id = l.supplier_id AND cc.category = l.category_resolved
 AND l.invoice_date BETWEEN cc.first_day AND cc.last_day
LEFT JOIN ranks r ON r.category_resolved IS NOT DISTINCT FROM l.category_resolved
 AND r.fiscal_year = l.fiscal_year AND r.supplier_id = l.supplier_id
"""

_VIEWS: dict[str, str] = {
    "spend": """
SELECT * EXCLUDE (discount_taken) FROM spend_base
""",
    "payments": """
SELECT
    sp.invoice_id, sp.invoice_line, sp.supplier_id, sp.supplier, sp.country, sp.supplier_size,
    sp.preferred, sp.category, sp.cost_centre, sp.has_po,
    sp.invoice_date, sp.due_date, sp.paid_date, sp.amount, sp.source_currency,
    sp.paid_date IS NOT NULL AS is_paid,
    sp.paid_date - sp.invoice_date AS days_to_pay,
    sp.due_date - sp.invoice_date AS invoice_terms_days,
    s.payment_terms_days AS contract_terms_days,
    sp.paid_date <= sp.due_date AS paid_on_time,
    sp.paid_date > sp.due_date AS paid_late,
    greatest(sp.paid_date - sp.due_date, 0) AS days_late,
    coalesce(s.discount_pct, 0) > 0 AS discount_offered,
    CAST(round(sp.amount * coalesce(s.discount_pct, 0) * 0.01, 2) AS DECIMAL(18,2))
        AS discount_available,
    CAST(round(coalesce(sp.discount_taken, 0) * sp.fx_factor, 2) AS DECIMAL(18,2))
        AS discount_captured,
    coalesce(s.discount_pct, 0) > 0 AND sp.paid_date IS NOT NULL
        AND coalesce(sp.discount_taken, 0) = 0 AS discount_missed
FROM spend_base sp
LEFT JOIN suppliers s ON s.supplier_id = sp.supplier_id
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
    r.last_receipt_date - po.promised_date AS days_late
FROM purchase_orders po
LEFT JOIN fx_day fx ON fx.currency = po.currency AND fx.day = po.po_date
LEFT JOIN r ON r.po_id = po.po_id AND r.po_line = po.po_line
LEFT JOIN suppliers s ON s.supplier_id = po.supplier_id
LEFT JOIN items it ON it.item_id = po.item_id
""",
    "budget_vs_actual": """
WITH b AS (
    SELECT CAST(strptime(b.period || '-01', '%Y-%m-%d') AS DATE) AS month_start,
           b.cost_centre, b.category,
           sum(CAST(round(b.amount * CASE WHEN b.currency = __display__ THEN 1
                                         ELSE fx.factor END, 2)
                    AS DECIMAL(18,2))) AS budget_amount
    FROM budgets b
    ASOF LEFT JOIN fx_factor fx ON fx.currency = b.currency
        AND CAST(strptime(b.period || '-01', '%Y-%m-%d') AS DATE) >= fx.date
    GROUP BY ALL
), a AS (
    SELECT CAST(date_trunc('month', invoice_date) AS DATE) AS month_start, cost_centre,
           category, sum(amount) AS actual_amount,
           sum(amount) FILTER (WHERE NOT has_po) AS maverick_amount
    FROM spend GROUP BY ALL
), billed AS (
    -- what was invoiced against each order and item, in the order's currency; only the
    -- orders still open are read (open_lines joins nothing else): most invoiced orders are
    -- closed, so this aggregates a few lines rather than every invoice line with an order
    SELECT po_id, item_id, currency, sum(amount) AS billed
    FROM invoices WHERE po_id IN (
        SELECT po_id FROM purchase_orders
        WHERE lower(status) NOT IN ('closed', 'cancelled', 'canceled'))
    GROUP BY ALL
), open_lines AS (
    -- committed: the part of an order line not invoiced yet; the invoiced amount fills the
    -- lines of one order and item in line order. Closed or cancelled orders commit nothing.
    SELECT po.po_date, po.cost_centre, coalesce(po.category, it.category) AS category,
           po.currency,
           po.amount - least(po.amount, greatest(coalesce(bl.billed, 0) - coalesce(sum(po.amount)
               OVER (PARTITION BY po.po_id, po.item_id, po.currency ORDER BY po.po_line
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) AS open_amount
    FROM purchase_orders po
    LEFT JOIN items it ON it.item_id = po.item_id
    LEFT JOIN billed bl ON bl.po_id = po.po_id
     AND bl.item_id IS NOT DISTINCT FROM po.item_id AND bl.currency = po.currency
    WHERE lower(po.status) NOT IN ('closed', 'cancelled', 'canceled')
), c AS (
    -- open orders count in the month they were placed, at that day's rate
    SELECT CAST(date_trunc('month', o.po_date) AS DATE) AS month_start, o.cost_centre,
           o.category,
           sum(CAST(round(o.open_amount * CASE WHEN o.currency = __display__ THEN 1
                                               ELSE fx.factor END, 2) AS DECIMAL(18,2)))
               AS committed_amount
    FROM open_lines o
    ASOF LEFT JOIN fx_factor fx ON fx.currency = o.currency AND o.po_date >= fx.date
    WHERE o.open_amount > 0
    GROUP BY ALL
), ba AS (
    SELECT coalesce(b.month_start, a.month_start) AS month_start,
           coalesce(b.cost_centre, a.cost_centre) AS cost_centre,
           coalesce(b.category, a.category) AS category,
           b.budget_amount, a.actual_amount, a.maverick_amount
    FROM b FULL OUTER JOIN a
      ON a.month_start = b.month_start AND a.cost_centre = b.cost_centre
     AND a.category = b.category
)
SELECT coalesce(ba.month_start, c.month_start) AS month_start,
       coalesce(ba.cost_centre, c.cost_centre) AS cost_centre,
       coalesce(ba.category, c.category) AS category,
       coalesce(ba.budget_amount, 0) AS budget_amount,
       coalesce(ba.actual_amount, 0) AS actual_amount,
       coalesce(ba.maverick_amount, 0) AS maverick_amount,
       coalesce(c.committed_amount, 0) AS committed_amount
FROM ba FULL OUTER JOIN c
  ON c.month_start = ba.month_start AND c.cost_centre = ba.cost_centre
 AND c.category = ba.category
""",
    "inventory_position": """
WITH base AS (
    SELECT inv.*, it.category, it.description, it.criticality, it.lead_time_days,
           CAST(inv.unit_cost * CASE WHEN inv.currency = __display__ THEN 1 ELSE fx.factor END
                AS DECIMAL(18,4)) AS unit_cost_rc,
           least(inv.on_hand_qty, coalesce(inv.safety_stock_qty, 0)) AS safety_qty,
           inv.snapshot_date - inv.last_issue_date AS days_since_issue,
           coalesce(inv.snapshot_date - inv.last_issue_date > __obsolete_days__, true)
               AND inv.on_hand_qty > coalesce(inv.safety_stock_qty, 0) AS is_obsolete
    FROM inventory inv
    LEFT JOIN items it ON it.item_id = inv.item_id
    ASOF LEFT JOIN fx_factor fx ON fx.currency = inv.currency AND inv.snapshot_date >= fx.date
), q AS (
    SELECT *,
        CASE WHEN is_obsolete THEN on_hand_qty - safety_qty ELSE 0 END AS obsolete_qty,
        CASE WHEN is_obsolete THEN 0
             ELSE greatest(on_hand_qty - greatest(coalesce(max_stock_qty, on_hand_qty),
                                                  safety_qty), 0) END AS excess_qty
    FROM base
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
       coalesce(issued_qty_90d, 0) * unit_cost_rc / 90 AS usage_value_per_day
FROM q
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
    # supplier's terms, so no join.
    "working_capital_days": """
SELECT snapshot_date AS on_date, category, stock_value, usage_value_per_day,
       CAST(NULL AS DECIMAL(18,2)) AS paid_amount, CAST(NULL AS BIGINT) AS days_to_pay
FROM inventory_position
UNION ALL
SELECT paid_date, category, NULL, NULL, amount, paid_date - invoice_date
FROM spend_base WHERE paid_date IS NOT NULL
""",
}

# The curated views that read spend_base (directly or through spend), in dependency order.
SPEND_VIEWS = (
    "spend",
    "payments",
    "budget_vs_actual",
    "savings_lines",
    "spend_yoy",
    "working_capital_days",
)

VIEW_DESCRIPTIONS: dict[str, str] = {
    "spend": "Invoice lines with supplier, contract and fiscal context (amount in reporting "
    "currency).",
    "payments": "Invoice lines with days to pay, lateness and early-payment discounts.",
    "po_lines": "Purchase-order lines with approval time and their goods receipts.",
    "budget_vs_actual": "Budget, invoiced spend and committed spend (open purchase orders not "
    "yet invoiced, in the month ordered) per month, cost centre and category.",
    "inventory_position": "Stock snapshots split into safety, cycle, excess and obsolete.",
    "savings_lines": "Every invoice line with the one savings initiative it is attributed to "
    "(if any) and the saving on it, plus each initiative's expected saving per month.",
    "spend_yoy": "Spend now and a year earlier, side by side, for the expense change.",
    "working_capital_days": "Stock snapshots and paid invoice lines side by side, for the "
    "cash conversion gap (days of inventory minus days to pay).",
}

# Views and the helper relations under them are names of the store's own making.
identifiers.register(["fx_factor", "spend_base", *_VIEWS])

_FISCAL_YEAR = "(year(__d__ - INTERVAL (__shift__) MONTH) + __offset__)"

_CREATE_VIEW = "CREATE OR REPLACE TEMPORARY VIEW __view__ AS SELECT 1"


def fiscal_year(column: exp.Expression, cal: FiscalCalendar) -> exp.Expression:
    """The fiscal-year number of a date column (the twin of kpi.core.periods' rule)."""
    return fill(
        _FISCAL_YEAR,
        d=column,
        shift=literal(cal.year_start_month - 1),
        offset=literal(cal.year_offset),
    )


@lru_cache(maxsize=16)
def view_bodies(
    settings: Settings, display_currency: str | None = None
) -> dict[str, exp.Expression]:
    """The SELECT of every view as a sqlglot tree (fx_factor and spend_base first), settings
    filled in. The trees are shared: copy one before changing it."""
    base = settings.reporting_currency
    display = (display_currency or base).upper()
    if display not in CURRENCIES or base not in CURRENCIES:
        raise ValueError(f"unknown currency '{display}'")
    values = {
        "display": literal(display),
        "base": literal(base),
        "obsolete_days": literal(settings.obsolete_after_days),
        "savings_window": literal(settings.savings_window_months),
        "fiscal_year": fiscal_year(exp.column("invoice_date", table="i"), settings.fiscal),
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


def create_views(
    con: duckdb.DuckDBPyConnection, settings: Settings, display_currency: str | None = None
) -> None:
    """Create the curated views on this connection, in `display_currency` (default: reporting)."""
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
