"""The SQL of working capital: payment terms and cash, the terms simulator, inventory classes.

Part of the SQL layer: it runs over the curated `payments` and `inventory_position` views
(kpi/store/views.py) on a connection from `Store.read()`. Nothing here comes from user
text: statements are constants, dates and filter values are bound parameters (an optional
filter is a list parameter that is NULL when it is not used), a segment dimension is
checked against an allow-list and reaches its statement as a sqlglot node, and the
simulator's `--where` arrives as a sqlglot tree the formula guard has accepted
(kpi.semantic.formula_guard.guard_filter).
"""

from __future__ import annotations

from typing import cast

from sqlglot import exp

from kpi.store import identifiers
from kpi.store.template import fill, parsed, render

# ---- filters shared by the page queries ---------------------------------------------------
PAYMENT_FILTERS = ("category", "cost_centre")
INVENTORY_FILTERS = ("category",)
SEGMENTS = ("supplier_size", "category", "country", "preferred")

identifiers.register(SEGMENTS)  # columns of `payments`


def _filters(filters: dict[str, list[str]], allowed: tuple[str, ...]) -> dict[str, object]:
    """One list parameter per allowed filter column, NULL when that filter is not used."""
    return {column: list(filters.get(column) or []) or None for column in allowed}


# ---- payment terms & cash -----------------------------------------------------------------
# Over the lines paid in [start, end]: amount-weighted means of days to pay and of terms
# (terms only over lines whose supplier has terms), in the category and cost centre filters.
# Credit notes are not payments: left out here as in the payment KPIs (they stay in spend).
# Per month, days to pay and early payment without discount are the KPIs themselves, by the
# engine (kpi.analyses.terms.payments_by_month); these queries give what no KPI defines.

_TERMS_BY_SEGMENT = """
SELECT CAST(__segment__ AS VARCHAR) AS segment, count(DISTINCT supplier_id) AS suppliers,
       sum(amount) AS paid_amount,
       round(sum(amount * contract_terms_days) FILTER (WHERE contract_terms_days IS NOT NULL)
             / nullif(sum(amount) FILTER (WHERE contract_terms_days IS NOT NULL), 0), 1)
           AS contract_terms_days,
       round(sum(amount * invoice_terms_days) FILTER (WHERE invoice_terms_days IS NOT NULL)
             / nullif(sum(amount) FILTER (WHERE invoice_terms_days IS NOT NULL), 0), 1)
           AS invoice_terms_days
FROM payments
WHERE is_paid AND paid_date BETWEEN $start AND $end AND amount IS NOT NULL
  AND NOT is_credit_note
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY 1 ORDER BY paid_amount DESC, segment
"""

PAYMENTS_BY_MONTH = """
SELECT strftime(paid_date, '%Y-%m') AS period,
       round(sum(amount * contract_terms_days) FILTER (WHERE contract_terms_days IS NOT NULL)
             / nullif(sum(amount) FILTER (WHERE contract_terms_days IS NOT NULL), 0), 1)
           AS contract_terms_days,
       round(sum(amount * invoice_terms_days) FILTER (WHERE invoice_terms_days IS NOT NULL)
             / nullif(sum(amount) FILTER (WHERE invoice_terms_days IS NOT NULL), 0), 1)
           AS invoice_terms_days,
       sum(amount) AS paid_amount,
       count(DISTINCT invoice_id) AS invoices_paid,
       coalesce(sum(amount) FILTER (WHERE paid_late AND supplier_size = 'sme'), 0)
           AS late_amount_sme,
       count(DISTINCT invoice_id) FILTER (WHERE paid_late AND supplier_size = 'sme')
           AS late_invoices_sme,
       coalesce(sum(amount) FILTER (WHERE supplier_size = 'sme'), 0) AS paid_amount_sme,
       coalesce(sum(amount) FILTER (WHERE paid_late AND supplier_size IS DISTINCT FROM 'sme'), 0)
           AS late_amount_other,
       count(DISTINCT invoice_id) FILTER (WHERE paid_late AND supplier_size IS DISTINCT FROM 'sme')
           AS late_invoices_other,
       coalesce(sum(discount_available) FILTER (WHERE discount_offered), 0) AS discounts_offered,
       coalesce(sum(discount_captured), 0) AS discounts_taken,
       coalesce(sum(discount_available) FILTER (WHERE discount_missed), 0) AS discounts_missed,
       round(sum(amount * days_early) FILTER (WHERE paid_early_no_discount)
             / nullif(sum(amount) FILTER (WHERE paid_early_no_discount), 0), 1)
           AS days_early_no_discount
FROM payments
WHERE is_paid AND paid_date BETWEEN $start AND $end AND amount IS NOT NULL
  AND NOT is_credit_note
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
GROUP BY 1 ORDER BY 1
"""

SUPPLIER_TERMS = """
WITH paid AS (
    SELECT supplier_id, sum(amount) AS paid_amount,
           round(sum(amount * days_to_pay) / nullif(sum(amount), 0), 1) AS days_to_pay,
           count(DISTINCT invoice_id) FILTER (WHERE paid_late) AS late_invoices
    FROM payments
    WHERE is_paid AND paid_date BETWEEN $start AND $end AND amount IS NOT NULL
      AND NOT is_credit_note
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL
           OR list_contains($cost_centre::VARCHAR[], cost_centre))
    GROUP BY 1
)
SELECT s.supplier_id, coalesce(s.supplier_name, s.supplier_id) AS supplier, s.country,
       s.size, coalesce(s.preferred, false) AS preferred,
       coalesce(s.strategic, false) AS strategic,
       coalesce(s.single_source, false) AS single_source,
       s.payment_terms_days, s.discount_pct, s.discount_days,
       coalesce(p.paid_amount, 0) AS paid_amount, p.days_to_pay,
       coalesce(p.late_invoices, 0) AS late_invoices
FROM suppliers s LEFT JOIN paid p USING (supplier_id)
ORDER BY paid_amount DESC, s.supplier_id
"""


def terms_by_segment(segment: str, filters: dict[str, list[str]]) -> tuple[str, dict]:
    """Terms and days to pay per value of `segment`, over lines paid in [start, end]."""
    if segment not in SEGMENTS:
        raise ValueError(f"cannot split payment terms by '{segment}'; use {', '.join(SEGMENTS)}")
    query = render(fill(_TERMS_BY_SEGMENT, segment=identifiers.column(segment)))
    return query, _filters(filters, PAYMENT_FILTERS)


def payments_by_month(filters: dict[str, list[str]]) -> tuple[str, dict]:
    """Per month of the paid date: terms, late payments (SMEs apart), early-payment
    discounts offered, taken and missed, and the mean days paid early without discount."""
    return PAYMENTS_BY_MONTH, _filters(filters, PAYMENT_FILTERS)


def supplier_terms(filters: dict[str, list[str]]) -> tuple[str, dict]:
    """Every supplier with its terms and discount, and what was paid to it in [start, end]."""
    return SUPPLIER_TERMS, _filters(filters, PAYMENT_FILTERS)


# The open lines past their due date on the last data day, oldest first: the detail under the
# overdue_payables KPI (whose figures come from the engine).
OVERDUE_LINES = """
SELECT supplier_id, supplier, supplier_size, category, cost_centre, invoice_id, invoice_line,
       invoice_date, due_date, effective_due_date, due_date_from_terms, amount, days_overdue,
       ageing_bucket, as_of_date
FROM payments
WHERE days_overdue > 0
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
  AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
ORDER BY days_overdue DESC, amount DESC, invoice_id, invoice_line
"""


def overdue_lines(filters: dict[str, list[str]]) -> tuple[str, dict]:
    """Every open line past its due date on the last data day, in the filters."""
    return OVERDUE_LINES, _filters(filters, PAYMENT_FILTERS)


# ---- terms simulator ----------------------------------------------------------------------
# The simulator's year: the twelve calendar months ending with the as-of date's month, up
# to the as-of date (default: the last data day, the latest invoice or paid date). Whole
# months, so that the days_to_pay KPI is one engine period over exactly this year.
SIMULATOR_YEAR = """
WITH last AS (
    SELECT coalesce(CAST($as_of AS DATE), greatest(max(invoice_date), max(paid_date))) AS d
    FROM invoices
)
SELECT CAST(date_trunc('month', d) - INTERVAL 11 MONTH AS DATE) AS first_day, d AS last_day
FROM last
"""

# One row per supplier: its terms and flags, and over the simulator's year its spend (by
# invoice date), the days_to_pay KPI (computed by the engine, passed in as two lists), the
# amount that KPI averages over (paid non-credit lines, by paid date), the early-payment
# discounts taken, and its invoices still open past their due date on the last day (with
# their age so far). The contractual terms are those in force on the last day: the latest
# supplier_terms row on or before it, else the suppliers table. The simulator's filter
# reads these columns.
SUPPLIER_SEGMENT = """
WITH bounds AS (
    SELECT CAST($first_day AS DATE) AS first_day, CAST($last_day AS DATE) AS last_day
), kpi AS (
    SELECT unnest($kpi_supplier_ids::VARCHAR[]) AS supplier_id,
           unnest($kpi_days_to_pay::DOUBLE[]) AS days_to_pay
), lines AS (
    SELECT p.supplier_id, p.category, p.amount, p.discount_captured
    FROM payments p, bounds b
    WHERE p.invoice_date BETWEEN b.first_day AND b.last_day AND p.amount IS NOT NULL
), paid AS (
    -- the weight of the KPI's mean: the amount of the lines it averages over
    SELECT p.supplier_id, sum(p.amount) AS paid_amount
    FROM payments p, bounds b
    WHERE p.paid_date BETWEEN b.first_day AND b.last_day AND NOT p.is_credit_note
      AND p.amount IS NOT NULL
    GROUP BY 1
), open_overdue AS (
    -- invoices still open on the last day and past their due date, at their age so far
    SELECT p.supplier_id, sum(p.amount) AS open_overdue_amount,
           sum(p.amount * (b.last_day - p.invoice_date)) AS open_overdue_amount_days
    FROM payments p, bounds b
    WHERE p.invoice_date <= b.last_day AND (p.paid_date IS NULL OR p.paid_date > b.last_day)
      AND NOT p.is_credit_note AND p.effective_due_date < b.last_day AND p.amount IS NOT NULL
    GROUP BY 1
), by_supplier AS (
    SELECT supplier_id, sum(amount) AS annual_spend,
           sum(discount_captured) AS discounts_captured
    FROM lines GROUP BY 1
), by_category AS (
    SELECT supplier_id, category, sum(amount) AS spend FROM lines GROUP BY ALL
), main_category AS (
    SELECT supplier_id, arg_max(category, spend) AS category FROM by_category GROUP BY 1
), terms_now AS (
    SELECT s.supplier_id, st.valid_from, st.payment_terms_days, st.discount_pct,
           st.discount_days
    FROM suppliers s, bounds b
    ASOF LEFT JOIN supplier_terms st
      ON st.supplier_id = s.supplier_id AND b.last_day >= st.valid_from
), segment AS (
    SELECT s.supplier_id, coalesce(s.supplier_name, s.supplier_id) AS supplier_name,
           s.country, s.size, s.size AS supplier_size, coalesce(s.preferred, false) AS preferred,
           coalesce(s.strategic, false) AS strategic,
           coalesce(s.single_source, false) AS single_source,
           CASE WHEN t.valid_from IS NULL THEN s.payment_terms_days
                ELSE t.payment_terms_days END AS payment_terms_days,
           CASE WHEN t.valid_from IS NULL THEN coalesce(s.discount_pct, 0)
                ELSE coalesce(t.discount_pct, 0) END AS discount_pct,
           CASE WHEN t.valid_from IS NULL THEN s.discount_days
                ELSE t.discount_days END AS discount_days,
           c.category,
           CAST(coalesce(b.annual_spend, 0) AS DECIMAL(18,2)) AS annual_spend,
           -- the KPI's mean (a DOUBLE) to 12 decimals, then to tenths: a floating value on a
           -- half tenth rounds the same on every engine (DuckDB rounds a DOUBLE by its binary
           -- value, Spark by its shortest decimal text; and their sums differ in the last bit)
           CAST(round(CAST(k.days_to_pay AS DECIMAL(38,12)), 1) AS DECIMAL(9,1)) AS days_to_pay,
           CAST(coalesce(b.discounts_captured, 0) AS DECIMAL(18,2)) AS discounts_captured,
           (SELECT last_day FROM bounds) AS window_end,
           CAST(coalesce(pd.paid_amount, 0) AS DECIMAL(18,2)) AS paid_amount,
           CAST(coalesce(o.open_overdue_amount, 0) AS DECIMAL(18,2)) AS open_overdue_amount,
           coalesce(o.open_overdue_amount_days, 0) AS open_overdue_amount_days
    FROM suppliers s
    LEFT JOIN terms_now t USING (supplier_id)
    LEFT JOIN by_supplier b USING (supplier_id)
    LEFT JOIN main_category c USING (supplier_id)
    LEFT JOIN kpi k USING (supplier_id)
    LEFT JOIN paid pd USING (supplier_id)
    LEFT JOIN open_overdue o USING (supplier_id)
)
SELECT * FROM segment ORDER BY supplier_id
"""

# The parameters of SUPPLIER_SEGMENT when only its columns are wanted (no rows).
NO_SEGMENT = {
    "first_day": None,
    "last_day": None,
    "kpi_supplier_ids": [],
    "kpi_days_to_pay": [],
}


def supplier_segment(condition: exp.Expression | None) -> str:
    """The simulator's supplier rows, kept by a guarded row filter (None: every supplier)."""
    if condition is None:
        return SUPPLIER_SEGMENT
    select = cast(exp.Select, parsed(SUPPLIER_SEGMENT).copy())
    return render(select.where(condition.copy(), copy=False))


# The simulator's supplier rows' columns and types (what a row filter may use).
SUPPLIER_SEGMENT_COLUMNS = render(exp.Describe(this=parsed(SUPPLIER_SEGMENT).copy()))


# ---- inventory ------------------------------------------------------------------------------
STOCK_BY_SNAPSHOT = """
SELECT snapshot_date,
       coalesce(sum(safety_value), 0) AS safety, coalesce(sum(cycle_value), 0) AS cycle,
       coalesce(sum(excess_value), 0) AS excess, coalesce(sum(obsolete_value), 0) AS obsolete,
       coalesce(sum(stock_value), 0) AS stock_value,
       sum(usage_value_per_day) AS usage_value_per_day
FROM inventory_position
WHERE snapshot_date BETWEEN $start AND $end
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
GROUP BY 1 ORDER BY 1
"""

STOCK_AT = """
WITH last AS (
    -- each location's own last snapshot in the range (locations count on different days)
    SELECT location, max(snapshot_date) AS d FROM inventory_position
    WHERE snapshot_date BETWEEN $start AND $end
    GROUP BY location
)
SELECT snapshot_date, item_id, description, category, ip.location, criticality,
       lead_time_days, on_hand_qty, safety_stock_qty, max_stock_qty, last_issue_date,
       days_since_issue, issued_qty_90d, unit_cost, is_obsolete, excess_qty, stock_value,
       safety_value,
       cycle_value, excess_value, obsolete_value, days_since_movement,
       stock_mark, mark_review_date, mark_reason, held_on_purpose
FROM inventory_position ip JOIN last ON last.location = ip.location
WHERE snapshot_date = last.d
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
ORDER BY stock_value DESC, item_id, location
"""


def stock_by_snapshot(filters: dict[str, list[str]]) -> tuple[str, dict]:
    """Stock value per snapshot split into its classes, and the value issued per day."""
    return STOCK_BY_SNAPSHOT, _filters(filters, INVENTORY_FILTERS)


def stock_at(filters: dict[str, list[str]]) -> tuple[str, dict]:
    """Every stock line of the last snapshot in [start, end], with what procurement set."""
    return STOCK_AT, _filters(filters, INVENTORY_FILTERS)
