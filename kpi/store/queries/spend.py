"""The SQL of the spend, budget, approval, compliance and supplier pages.

Part of the SQL layer (kpi/store/views.py holds the curated views these queries read:
`spend`, `po_lines`, `payments`, `budget_vs_actual`). Every statement here is constant SQL
written out in full; values are bound parameters (`$name`), and an optional filter is a
list parameter that is NULL when it is not used, so nothing is ever assembled from what a
person typed. The budget status per dimension is a template whose column is filled in by
sqlglot. Money stays
DECIMAL; only shares and averages are DOUBLE.
"""

from __future__ import annotations

from kpi.store import identifiers
from kpi.store.template import fill, literal, parsed, render

# The invoice lines of the period and the filters, written once: the spend statements hold
# the marker `__spend_lines__` where this condition goes (the page's drill-down adds supplier
# and item; lines without a category or item are named as SPEND_TREE shows them).
SPEND_LINES = """
s.invoice_date BETWEEN $start AND $end AND s.amount IS NOT NULL
AND ($category::VARCHAR[] IS NULL
     OR list_contains($category::VARCHAR[], coalesce(s.category, '(no category)')))
AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], s.cost_centre))
AND ($supplier::VARCHAR[] IS NULL OR list_contains($supplier::VARCHAR[], s.supplier))
AND ($item_id::VARCHAR[] IS NULL
     OR list_contains($item_id::VARCHAR[], coalesce(s.item_id, '(no item)')))
"""


def _with_spend_lines(template: str) -> str:
    """A spend statement with the shared condition in place of `__spend_lines__`."""
    return render(fill(template, spend_lines=parsed(SPEND_LINES)))


# ---- spend: drill-down, trend, Pareto -----------------------------------------------------

_SPEND_TREE = """
SELECT coalesce(s.category, '(no category)') AS category, s.supplier,
       coalesce(s.item_id, '(no item)') AS item_id,
       coalesce(it.description, s.item_id, '(no item)') AS item,
       sum(s.amount) AS amount, sum(s.quantity) AS quantity, count(*) AS lines
FROM spend s LEFT JOIN items it ON it.item_id = s.item_id
WHERE __spend_lines__
GROUP BY ALL
ORDER BY amount DESC, category, supplier, item_id
"""

_SPEND_BY_COST_CENTRE = """
SELECT coalesce(s.cost_centre, '(no cost centre)') AS cost_centre,
       coalesce(s.category, '(no category)') AS category, sum(s.amount) AS amount
FROM spend s
WHERE __spend_lines__
GROUP BY ALL
ORDER BY cost_centre, amount DESC
"""

_SPEND_MONTHLY = """
SELECT strftime(s.invoice_date, '%Y-%m') AS month, sum(s.amount) AS amount,
       coalesce(sum(s.amount) FILTER (WHERE NOT s.has_po), 0) AS no_po_amount,
       coalesce(sum(s.amount) FILTER (WHERE s.on_contract), 0) AS on_contract_amount
FROM spend s
WHERE __spend_lines__
GROUP BY ALL
ORDER BY month
"""

_SUPPLIER_PARETO = """
WITH t AS (
    SELECT s.supplier_id, s.supplier, sum(s.amount) AS amount
    FROM spend s
    WHERE __spend_lines__
    GROUP BY ALL
)
SELECT row_number() OVER (ORDER BY amount DESC, supplier_id) AS rank, supplier_id, supplier,
       amount,
       CAST(amount AS DOUBLE) / nullif(CAST(sum(amount) OVER () AS DOUBLE), 0) AS share,
       CAST(sum(amount) OVER (ORDER BY amount DESC, supplier_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS DOUBLE)
           / nullif(CAST(sum(amount) OVER () AS DOUBLE), 0) AS cumulative_share
FROM t
ORDER BY rank
"""

# ---- budgets: budget vs committed vs actual over one fiscal year -------------------------------

BUDGET_MONTHLY = """
SELECT strftime(month_start, '%Y-%m') AS month, sum(budget_amount) AS budget,
       sum(actual_amount) AS actual, sum(committed_amount) AS committed,
       sum(maverick_amount) AS no_po_actual, sum(accrued_amount) AS accrued,
       sum(fx_variance) AS fx_variance
FROM budget_vs_actual
WHERE month_start BETWEEN $fy_start AND $fy_end
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY ALL
ORDER BY month
"""

# budget to date, actual, accrued, committed, burn rate and run-rate forecast per cost centre
# or per category, all at the year's budget rates (budget_vs_actual), with the exchange-rate
# variance apart. $elapsed is the number of months of the fiscal year with data (up to the
# month of the latest invoice), $months the months in the year. Burn rate = actual / elapsed
# months, rounded to the cent; forecast = actual + burn rate x months left, so it adds up
# exactly. Heading over budget: the forecast beats the year's budget by more than $tolerance
# (the scorecard's amber tolerance: a run rate is rough), or actual + accrued + committed
# (each euro of an order counted once) already beat it. The utilisation ratios are the
# budget KPIs' own, computed by the engine (kpi.analyses.spend.budget_status).
BUDGET_DIMENSIONS = {"cost_centre": "(no cost centre)", "category": "(no category)"}


_BUDGET_STATUS = """
WITH t AS (
    SELECT coalesce(__dim__, __missing__) AS __dim__,
           sum(budget_amount) AS budget_year,
           coalesce(sum(budget_amount) FILTER (WHERE month_start <= $as_of_month), 0)
               AS budget_to_date,
           sum(actual_amount) AS actual, sum(committed_amount) AS committed,
           sum(maverick_amount) AS no_po_actual, sum(accrued_amount) AS accrued,
           sum(fx_variance) AS fx_variance
    FROM budget_vs_actual
    WHERE month_start BETWEEN $fy_start AND $fy_end
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL
           OR list_contains($cost_centre::VARCHAR[], cost_centre))
    GROUP BY ALL
), r AS (
    SELECT *, CASE WHEN $elapsed > 0
                   THEN CAST(round(actual / $elapsed, 2) AS DECIMAL(18,2)) END AS burn_rate
    FROM t
)
SELECT __dim__, budget_year, budget_to_date, actual, committed, no_po_actual,
       actual + accrued + committed AS actual_and_committed,
       burn_rate,
       actual + burn_rate * ($months - $elapsed) AS forecast_year_end,
       actual + burn_rate * ($months - $elapsed) - budget_year AS forecast_over_budget,
       coalesce(actual + burn_rate * ($months - $elapsed)
                > budget_year * (1 + CAST($tolerance AS DECIMAL(9,4))), false)
           OR actual + accrued + committed > budget_year AS heading_over_budget,
       accrued, fx_variance
FROM r
ORDER BY heading_over_budget DESC, forecast_over_budget DESC NULLS LAST, __dim__
"""


BUDGET_STATUS = {
    column: render(fill(_BUDGET_STATUS, dim=identifiers.column(column), missing=literal(text)))
    for column, text in BUDGET_DIMENSIONS.items()
}

LAST_INVOICE_DATE = "SELECT max(invoice_date) FROM invoices"

# ---- approvals and compliance ------------------------------------------------------------------

# every compliance measure per month, cost centre and category; analyses.spend sums what is asked
_COMPLIANCE_LINES = """
WITH po_first AS (
    SELECT po_id, min(po_date) AS po_date FROM purchase_orders GROUP BY po_id
), ref AS (
    -- off-contract lines of an item that has a contract (any supplier) that day, in the
    -- line's currency: the lowest such contract price is what the line could have cost
    SELECT s.invoice_id, s.invoice_line, min(c.unit_price) AS reference_price
    FROM spend s
    JOIN contracts c ON c.item_id = s.item_id AND c.currency = s.source_currency
     AND s.invoice_date BETWEEN c.start_date AND coalesce(c.end_date, DATE '9999-12-31')
    WHERE NOT s.on_contract AND __spend_lines__
    GROUP BY ALL
)
SELECT strftime(s.invoice_date, '%Y-%m') AS month,
       coalesce(s.cost_centre, '(no cost centre)') AS cost_centre,
       coalesce(s.category, '(no category)') AS category,
       sum(s.amount) AS spend,
       coalesce(sum(s.amount) FILTER (WHERE NOT s.has_po), 0) AS no_po_amount,
       count(DISTINCT s.invoice_id) FILTER (WHERE NOT s.has_po) AS no_po_invoices,
       coalesce(sum(s.amount) FILTER (WHERE p.po_date > s.invoice_date), 0)
           AS after_the_fact_amount,
       count(DISTINCT s.invoice_id) FILTER (WHERE p.po_date > s.invoice_date)
           AS after_the_fact_invoices,
       coalesce(sum(s.amount) FILTER (WHERE s.preferred), 0) AS preferred_amount,
       coalesce(sum(s.amount) FILTER (WHERE s.on_contract), 0) AS on_contract_amount,
       coalesce(sum(s.amount) FILTER (WHERE s.preferred OR s.on_contract), 0)
           AS managed_amount,
       coalesce(sum(s.amount) FILTER (WHERE NOT s.on_contract), 0) AS off_contract_amount,
       coalesce(sum(CAST(round((s.unit_price - r.reference_price) * s.quantity * s.fx_factor, 2)
                         AS DECIMAL(18,2))), 0) AS off_contract_premium
FROM spend s
LEFT JOIN po_first p ON p.po_id = s.po_id
LEFT JOIN ref r ON r.invoice_id = s.invoice_id AND r.invoice_line = s.invoice_line
WHERE __spend_lines__
GROUP BY ALL
ORDER BY month, cost_centre, category
"""

# purchase orders by month created and cost centre: approval time per PO line (as the KPI
# po_cycle_time_days), and the orders still waiting for approval
APPROVAL_LINES = """
SELECT strftime(po_date, '%Y-%m') AS month,
       coalesce(cost_centre, '(no cost centre)') AS cost_centre,
       count(DISTINCT po_id) AS orders,
       count(approval_days) AS approved_lines,
       coalesce(sum(approval_days), 0) AS approval_days_total,
       count(DISTINCT po_id) FILTER (WHERE approved_date IS NULL
                                     AND lower(status) NOT IN ('closed', 'cancelled', 'canceled'))
           AS waiting_orders,
       coalesce(sum(amount) FILTER (WHERE approved_date IS NULL
                                    AND lower(status) NOT IN ('closed', 'cancelled', 'canceled')),
                0) AS waiting_amount
FROM po_lines
WHERE po_date BETWEEN $start AND $end
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY ALL
ORDER BY month, cost_centre
"""

WAITING_ORDERS = """
SELECT po_id, min(po_date) AS po_date, any_value(supplier) AS supplier,
       any_value(cost_centre) AS cost_centre, sum(amount) AS amount,
       $today - min(po_date) AS days_waiting
FROM po_lines
WHERE approved_date IS NULL AND lower(status) NOT IN ('closed', 'cancelled', 'canceled')
  AND po_date BETWEEN $start AND $end
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY po_id
ORDER BY days_waiting DESC, po_id
"""

# ---- suppliers ---------------------------------------------------------------------------------

# The columns a KPI defines (on-time delivery, price variance, we paid on time, days to
# pay, top-5 share, HHI) are not computed here: analyses.suppliers joins the KPIs by the
# engine beside these figures (one definition everywhere) and puts the table in order.
_SUPPLIER_SCORECARD = """
WITH sp AS (
    SELECT s.supplier_id, any_value(s.supplier) AS supplier, sum(s.amount) AS spend,
           count(DISTINCT s.invoice_id) FILTER (WHERE NOT s.has_po) AS invoices_without_po,
           coalesce(sum(s.amount) FILTER (WHERE NOT s.has_po), 0) AS spend_without_po,
           coalesce(sum(s.amount) FILTER (WHERE s.on_contract), 0) AS on_contract_spend
    FROM spend s
    WHERE __spend_lines__
    GROUP BY s.supplier_id
), d AS (
    SELECT supplier_id, count(*) FILTER (WHERE received) AS received_lines,
           count(*) FILTER (WHERE on_time) AS on_time_lines
    FROM po_lines WHERE promised_date BETWEEN $start AND $end
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
    GROUP BY supplier_id
), p AS (
    SELECT supplier_id, count(*) FILTER (WHERE is_paid) AS paid_lines,
           count(*) FILTER (WHERE paid_on_time) AS paid_on_time_lines
    FROM payments
    WHERE invoice_date BETWEEN $start AND $end AND amount IS NOT NULL
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
    GROUP BY supplier_id
)
SELECT sp.supplier_id, sp.supplier, su.country, su.size, coalesce(su.preferred, false)
           AS preferred,
       sp.spend, CAST(sp.spend AS DOUBLE) / nullif(CAST(sum(sp.spend) OVER () AS DOUBLE), 0)
           AS spend_share,
       CAST(sp.on_contract_spend AS DOUBLE) / nullif(CAST(sp.spend AS DOUBLE), 0)
           AS on_contract_share,
       d.received_lines, d.on_time_lines,
       sp.invoices_without_po, sp.spend_without_po,
       p.paid_lines, p.paid_on_time_lines,
       su.payment_terms_days, su.discount_pct, su.discount_days
FROM sp
LEFT JOIN d ON d.supplier_id = sp.supplier_id
LEFT JOIN p ON p.supplier_id = sp.supplier_id
LEFT JOIN suppliers su ON su.supplier_id = sp.supplier_id
ORDER BY sp.spend DESC, sp.supplier_id
"""

_CONCENTRATION = """
WITH t AS (
    SELECT coalesce(s.category, '(no category)') AS category, s.supplier_id,
           any_value(s.supplier) AS supplier, sum(s.amount) AS amount
    FROM spend s
    WHERE __spend_lines__
    GROUP BY ALL
), shares AS (
    SELECT *, CAST(amount AS DOUBLE)
                  / nullif(CAST(sum(amount) OVER (PARTITION BY category) AS DOUBLE), 0) AS share,
           row_number() OVER (PARTITION BY category ORDER BY amount DESC, supplier_id) AS rank
    FROM t
)
SELECT category, sum(amount) AS spend, count(*) AS suppliers,
       any_value(supplier) FILTER (WHERE rank = 1) AS top_supplier,
       max(share) AS top_supplier_share,
       count(*) = 1 AS single_source
FROM shares
GROUP BY category
ORDER BY category
"""

_SUPPLIER_MONTHLY = """
SELECT strftime(s.invoice_date, '%Y-%m') AS month, sum(s.amount) AS amount,
       coalesce(sum(s.amount) FILTER (WHERE NOT s.has_po), 0) AS no_po_amount
FROM spend s
WHERE s.supplier_id = $supplier_id
  AND __spend_lines__
GROUP BY ALL
ORDER BY month
"""

_SUPPLIER_ITEMS = """
SELECT coalesce(s.item_id, '(no item)') AS item_id,
       coalesce(it.description, s.item_id, '(no item)') AS item,
       coalesce(s.category, '(no category)') AS category,
       sum(s.quantity) AS quantity, sum(s.amount) AS amount,
       min(s.unit_price) AS min_unit_price, max(s.unit_price) AS max_unit_price,
       min(s.contract_unit_price) AS contract_unit_price,
       coalesce(sum(s.price_variance), 0) AS price_variance
FROM spend s LEFT JOIN items it ON it.item_id = s.item_id
WHERE s.supplier_id = $supplier_id
  AND __spend_lines__
GROUP BY ALL
ORDER BY amount DESC, item_id
"""

# the name the views give a supplier (the KPIs are split and filtered by it)
SUPPLIER_NAME = """
SELECT coalesce(supplier_name, supplier_id) FROM suppliers WHERE supplier_id = $supplier_id
"""

SUPPLIER_DELIVERIES = """
SELECT strftime(promised_date, '%Y-%m') AS month,
       count(*) FILTER (WHERE received) AS received_lines,
       count(*) FILTER (WHERE on_time) AS on_time_lines,
       avg(greatest(days_late, 0)) FILTER (WHERE received) AS avg_days_late
FROM po_lines
WHERE supplier_id = $supplier_id AND promised_date BETWEEN $start AND $end
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY ALL
ORDER BY month
"""


# ---- the statements, with the shared condition filled in (once, at import) ----------------

SPEND_TREE = _with_spend_lines(_SPEND_TREE)
SPEND_BY_COST_CENTRE = _with_spend_lines(_SPEND_BY_COST_CENTRE)
SPEND_MONTHLY = _with_spend_lines(_SPEND_MONTHLY)
SUPPLIER_PARETO = _with_spend_lines(_SUPPLIER_PARETO)
COMPLIANCE_LINES = _with_spend_lines(_COMPLIANCE_LINES)
SUPPLIER_SCORECARD = _with_spend_lines(_SUPPLIER_SCORECARD)
CONCENTRATION = _with_spend_lines(_CONCENTRATION)
SUPPLIER_MONTHLY = _with_spend_lines(_SUPPLIER_MONTHLY)
SUPPLIER_ITEMS = _with_spend_lines(_SUPPLIER_ITEMS)
