"""The SQL of the savings ledger: initiatives, their audit log, savings by month, two lenses.

Part of the SQL layer (kpi/store/views.py holds the curated views these queries read:
`spend`, `savings_lines`, `fx_factor`). Every statement here is a constant. Values are bound
parameters (`$name`); an optional filter is a list parameter that is NULL when it is not
used, so no statement is ever assembled from what a person typed. The statements that name
every column of `savings_initiatives` are built once by sqlglot from kpi.store.schema.
"""

from __future__ import annotations

from typing import cast

from sqlglot import exp

from kpi.store import identifiers
from kpi.store.schema import ENTERED_IN_APP, TABLES
from kpi.store.template import parsed, render

INITIATIVE_COLUMNS: tuple[str, ...] = tuple(TABLES["savings_initiatives"].column_names)

_TABLE = "savings_initiatives"

# ---- the initiatives ------------------------------------------------------------------------

# a status never set reads as pending, as in the `savings_lines` view
_PENDING = "coalesce(si.finance_status, 'pending') AS finance_status"

_LIST_INITIATIVES = """
SELECT __initiative__, s.supplier_name, it.description AS item_description
FROM savings_initiatives si
LEFT JOIN suppliers s ON s.supplier_id = si.supplier_id
LEFT JOIN items it ON it.item_id = si.item_id
WHERE ($kind::VARCHAR[] IS NULL OR list_contains($kind::VARCHAR[], si.kind))
  AND ($stage::VARCHAR[] IS NULL OR list_contains($stage::VARCHAR[], si.stage))
  AND ($finance_status::VARCHAR[] IS NULL
       OR list_contains($finance_status::VARCHAR[], coalesce(si.finance_status, 'pending')))
  AND ($category::VARCHAR[] IS NULL
       OR list_contains($category::VARCHAR[], coalesce(si.category, it.category)))
  AND ($owner::VARCHAR[] IS NULL OR list_contains($owner::VARCHAR[], si.owner))
  AND ($search::VARCHAR IS NULL OR contains(lower(concat_ws(' ',
        si.initiative_id, si.title, si.kind, si.category, it.category, si.supplier_id,
        s.supplier_name, si.item_id, it.description, si.owner, si.stage, si.finance_note)),
      lower($search::VARCHAR)))
ORDER BY si.initiative_id
"""


SUPPLIER_EXISTS = "SELECT count(*) FROM suppliers WHERE supplier_id = $supplier_id"

ITEM_CATEGORY = "SELECT count(*), max(category) FROM items WHERE item_id = $item_id"

# the highest number n among ids SI-<year>-n (any width), or 0
LAST_SEQUENCE = """
SELECT coalesce(max(TRY_CAST(regexp_extract(initiative_id, $pattern, 1) AS BIGINT)), 0)
FROM savings_initiatives WHERE regexp_full_match(initiative_id, $pattern)
"""


def _list_initiatives() -> str:
    """LIST_INITIATIVES with the marker `__initiative__` swapped for every initiative column."""
    select = cast(exp.Select, parsed(_LIST_INITIATIVES).copy())
    columns = [
        parsed(_PENDING).copy() if c == "finance_status" else identifiers.column(c, of="si")
        for c in INITIATIVE_COLUMNS
    ]
    select.set("expressions", [*columns, *select.expressions[1:]])
    return render(select)


def _by_id() -> exp.EQ:
    return exp.EQ(this=identifiers.column("initiative_id"), expression=_param("initiative_id"))


def _param(name: str) -> exp.Placeholder:
    """`$name`: a bound parameter named after its column."""
    return exp.Placeholder(this=name)


LIST_INITIATIVES = _list_initiatives()

GET_INITIATIVE = render(
    exp.select(*[identifiers.column(c) for c in INITIATIVE_COLUMNS])
    .from_(identifiers.table(_TABLE))
    .where(_by_id())
    .limit(1)
)

# an initiative entered on the Savings page came from no file (kpi.store.schema.ENTERED_IN_APP)
INSERT_INITIATIVE = render(
    exp.insert(
        exp.values(
            [(*(_param(c) for c in INITIATIVE_COLUMNS), exp.Literal.string(ENTERED_IN_APP))]
        ),
        identifiers.table(_TABLE),
        columns=[identifiers.ident(c) for c in (*INITIATIVE_COLUMNS, "source_file")],
    )
)

UPDATE_INITIATIVE = render(
    exp.update(
        identifiers.table(_TABLE),
        {c: _param(c) for c in INITIATIVE_COLUMNS if c != "initiative_id"},
        where=_by_id(),
    )
)

# ---- the audit log ----------------------------------------------------------------------------

LAST_CHANGE_ID = "SELECT coalesce(max(change_id), 0) FROM initiative_changes"

INSERT_CHANGE = """
INSERT INTO initiative_changes
    (change_id, initiative_id, changed_at, changed_by, action, field, old_value, new_value,
     reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


HISTORY = """
SELECT c.change_id, c.initiative_id, si.title, c.changed_at, c.changed_by, c.action,
       c.field, c.old_value, c.new_value, c.reason
FROM initiative_changes c
LEFT JOIN savings_initiatives si ON si.initiative_id = c.initiative_id
WHERE ($initiative_id::VARCHAR IS NULL OR c.initiative_id = $initiative_id::VARCHAR)
ORDER BY c.changed_at DESC, c.change_id DESC
"""

# ---- savings by initiative and month ---------------------------------------------------------
#
# Parameters: $kind ('price_reduction' or 'cost_avoidance'), $start and $end (dates, both
# included), $window (settings.savings_window_months) and one list parameter per filter
# (NULL: no filter). `reference_unit_price` is the price the saving is measured against:
# the baseline for a price reduction, the supplier's quote for a cost avoidance. The
# saving and the expected saving are the `savings_lines` view's (one definition: the
# attribution, window, stage, percent and currency rules are there).

INITIATIVE_MONTHS = """
WITH si AS (
    SELECT si.initiative_id, si.title, si.kind, si.supplier_id, si.item_id,
           si.category AS own_category, coalesce(si.category, it.category) AS category,
           coalesce(s.supplier_name, si.supplier_id) AS supplier,
           coalesce(si.finance_status, 'pending') AS finance_status, si.finance_note,
           si.currency, si.negotiated_unit_price, si.price_change_pct, si.stage,
           si.start_date,
           coalesce(si.end_date, CAST(si.start_date + to_months(CAST($window AS INTEGER))
                                      - INTERVAL 1 DAY AS DATE)) AS window_end,
           CASE si.kind WHEN 'price_reduction' THEN si.baseline_unit_price
                        WHEN 'cost_avoidance' THEN si.quoted_unit_price END
               AS reference_unit_price
    FROM savings_initiatives si
    LEFT JOIN suppliers s ON s.supplier_id = si.supplier_id
    LEFT JOIN items it ON it.item_id = si.item_id
    WHERE si.kind = $kind
      AND ($initiative_id::VARCHAR[] IS NULL
           OR list_contains($initiative_id::VARCHAR[], si.initiative_id))
      AND ($category::VARCHAR[] IS NULL
           OR list_contains($category::VARCHAR[], coalesce(si.category, it.category)))
      AND ($supplier::VARCHAR[] IS NULL
           OR list_contains($supplier::VARCHAR[], coalesce(s.supplier_name, si.supplier_id)))
      AND ($supplier_id::VARCHAR[] IS NULL
           OR list_contains($supplier_id::VARCHAR[], si.supplier_id))
      AND ($owner::VARCHAR[] IS NULL OR list_contains($owner::VARCHAR[], si.owner))
      AND ($stage::VARCHAR[] IS NULL OR list_contains($stage::VARCHAR[], si.stage))
      AND ($finance_status::VARCHAR[] IS NULL
           OR list_contains($finance_status::VARCHAR[], coalesce(si.finance_status, 'pending')))
), lines AS (
    -- the invoice lines attributed to the initiative: quantity, price paid (initiative
    -- currency when the line is in it), saving, leakage
    SELECT sl.initiative_id, CAST(date_trunc('month', sl.invoice_date) AS DATE) AS month_start,
           sum(sl.quantity) AS quantity,
           sum(sl.unit_price * sl.quantity) AS paid_source,
           sum(sl.claimed_amount) AS saving,
           sum(sl.leakage) AS leakage
    FROM savings_lines sl JOIN si ON si.initiative_id = sl.initiative_id
    WHERE sl.invoice_id IS NOT NULL AND sl.invoice_date BETWEEN $start AND $end
      AND ($cost_centre::VARCHAR[] IS NULL
           OR list_contains($cost_centre::VARCHAR[], sl.cost_centre))
    GROUP BY ALL
), expected AS (
    -- the view's expected saving per month of the initiative's window (any stage)
    SELECT sl.initiative_id, sl.invoice_date AS month_start, sl.expected_saving AS expected
    FROM savings_lines sl JOIN si ON si.initiative_id = sl.initiative_id
    WHERE sl.invoice_id IS NULL
      AND sl.invoice_date <= $end AND last_day(sl.invoice_date) >= $start
), off_contract AS (
    -- the same item (or, without an item, category) bought from other suppliers inside
    -- the initiative's window: volume that bypassed the negotiated price
    SELECT initiative_id, month_start, sum(quantity) AS quantity, sum(amount) AS amount
    FROM (
        SELECT si.initiative_id, CAST(date_trunc('month', sp.invoice_date) AS DATE)
                   AS month_start, sp.quantity, sp.amount, sp.invoice_date, sp.cost_centre,
               si.start_date, si.window_end
        FROM si JOIN spend sp ON sp.item_id = si.item_id AND sp.supplier_id <> si.supplier_id
        UNION ALL
        SELECT si.initiative_id, CAST(date_trunc('month', sp.invoice_date) AS DATE),
               sp.quantity, sp.amount, sp.invoice_date, sp.cost_centre,
               si.start_date, si.window_end
        FROM si JOIN spend sp
          ON si.item_id IS NULL AND sp.category = si.own_category
         AND sp.supplier_id <> si.supplier_id
    ) o
    WHERE invoice_date BETWEEN $start AND $end
      AND invoice_date BETWEEN start_date AND window_end
      AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], cost_centre))
    GROUP BY ALL
), keys AS (
    SELECT initiative_id, month_start FROM lines
    UNION SELECT initiative_id, month_start FROM expected
    UNION SELECT initiative_id, month_start FROM off_contract
)
SELECT si.initiative_id, si.title, si.kind, si.category, si.supplier,
       si.finance_status, si.finance_note,
       strftime(k.month_start, '%Y-%m') AS month,
       CAST(coalesce(l.quantity, 0) AS DECIMAL(18,3)) AS quantity,
       CAST(l.paid_source / nullif(l.quantity, 0) AS DECIMAL(18,4)) AS avg_unit_price_paid,
       si.reference_unit_price, si.negotiated_unit_price, si.currency AS price_currency,
       CAST(coalesce(l.saving, 0) AS DECIMAL(18,2)) AS saving,
       e.expected,
       CAST(coalesce(l.leakage, 0) AS DECIMAL(18,2)) AS leakage,
       CAST(coalesce(o.quantity, 0) AS DECIMAL(18,3)) AS off_contract_quantity,
       CAST(coalesce(o.amount, 0) AS DECIMAL(18,2)) AS off_contract_amount,
       si.stage, si.price_change_pct
FROM keys k
JOIN si ON si.initiative_id = k.initiative_id
LEFT JOIN lines l ON l.initiative_id = k.initiative_id AND l.month_start = k.month_start
LEFT JOIN expected e ON e.initiative_id = k.initiative_id AND e.month_start = k.month_start
LEFT JOIN off_contract o
  ON o.initiative_id = k.initiative_id AND o.month_start = k.month_start
ORDER BY si.initiative_id, k.month_start
"""

# ---- the pipeline, and initiatives that cannot claim ---------------------------------------
#
# The pipeline: the expected saving of the initiatives not yet implemented (identified,
# negotiating, contracted) in the months of the period, by stage, from the view's plan
# rows. Parameters: $start, $end and the initiative filter lists.
PIPELINE = """
SELECT sl.stage, sl.kind, count(DISTINCT sl.initiative_id) AS initiatives,
       CAST(sum(sl.expected_saving) AS DECIMAL(18,2)) AS expected
FROM savings_lines sl
WHERE sl.invoice_id IS NULL AND NOT sl.claims
  AND sl.invoice_date <= $end AND last_day(sl.invoice_date) >= $start
  AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], sl.category))
  AND ($supplier_id::VARCHAR[] IS NULL
       OR list_contains($supplier_id::VARCHAR[], sl.supplier_id))
GROUP BY sl.stage, sl.kind
ORDER BY list_position(['identified', 'negotiating', 'contracted'], sl.stage), sl.kind
"""

# The claimed amount (price savings and cost avoidance) by finance's verdict in the period:
# the savings acceptance rate's accepted and rejected, and the pending beside it.
CLAIMS_BY_STATUS = """
SELECT s.finance_status,
       CAST(coalesce(sum(sl.claimed_amount) FILTER (WHERE sl.invoice_date BETWEEN $start AND $end),
                     0) AS DECIMAL(18,2)) AS claimed
FROM (VALUES ('accepted'), ('rejected'), ('pending')) s(finance_status)
LEFT JOIN savings_lines sl
  ON sl.finance_status = s.finance_status AND sl.claimed_amount IS NOT NULL
 AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], sl.category))
 AND ($cost_centre::VARCHAR[] IS NULL OR list_contains($cost_centre::VARCHAR[], sl.cost_centre))
 AND ($supplier::VARCHAR[] IS NULL OR list_contains($supplier::VARCHAR[], sl.supplier))
 AND ($supplier_id::VARCHAR[] IS NULL OR list_contains($supplier_id::VARCHAR[], sl.supplier_id))
GROUP BY s.finance_status
ORDER BY list_position(['accepted', 'rejected', 'pending'], s.finance_status)
"""

# Priced initiatives that claim nothing whatever their stage, and why: no start date (no
# window), or category-wide without a percent price change.
INCOMPLETE = """
SELECT si.initiative_id, si.title, si.kind, si.stage,
       CASE WHEN si.start_date IS NULL
            THEN 'no start date: nothing counts until it has one'
            ELSE 'category-wide with no price_change_pct: give the percent price change, '
                 || 'or one initiative per item with its baseline'
       END AS problem
FROM savings_initiatives si
WHERE si.kind IN ('price_reduction', 'cost_avoidance')
  AND (si.start_date IS NULL OR (si.item_id IS NULL AND si.price_change_pct IS NULL))
ORDER BY si.initiative_id
"""

# ---- overlapping initiatives -------------------------------------------------------------
#
# Two priced initiatives (price reduction or cost avoidance: both claim on invoice lines)
# overlap when they name the same supplier and the same item (or, both without an item,
# the same category) and their windows share a day. A window runs from the start date to
# the end date, else to the start plus $window months less a day; without a start date
# an initiative has no window (it claims nothing) and overlaps nothing. An item's
# initiative and a category-wide one never overlap: the item's takes its lines.

# the stored initiatives that overlap the one given as parameters (itself excluded)
OVERLAPPING = """
WITH given AS (
    SELECT $kind::VARCHAR AS kind, $supplier_id::VARCHAR AS supplier_id,
           $item_id::VARCHAR AS item_id, $category::VARCHAR AS category,
           $start_date::DATE AS start_date,
           coalesce($end_date::DATE, CAST($start_date::DATE + to_months(CAST($window AS INTEGER))
                                         - INTERVAL 1 DAY AS DATE)) AS window_end
), stored AS (
    SELECT si.initiative_id, si.title, si.supplier_id, si.item_id,
           coalesce(si.category, it.category) AS category, si.start_date,
           coalesce(si.end_date, CAST(si.start_date + to_months(CAST($window AS INTEGER))
                                      - INTERVAL 1 DAY AS DATE)) AS window_end
    FROM savings_initiatives si
    LEFT JOIN items it ON it.item_id = si.item_id
    WHERE si.kind IN ('price_reduction', 'cost_avoidance') AND si.start_date IS NOT NULL
      AND si.initiative_id IS DISTINCT FROM $initiative_id::VARCHAR
)
SELECT s.initiative_id, s.title, s.start_date, s.window_end
FROM stored s, given g
WHERE g.kind IN ('price_reduction', 'cost_avoidance') AND g.start_date IS NOT NULL
  AND s.supplier_id = g.supplier_id
  AND (s.item_id = g.item_id
       OR (s.item_id IS NULL AND g.item_id IS NULL AND s.category = g.category))
  AND s.start_date <= g.window_end AND g.start_date <= s.window_end
ORDER BY s.initiative_id
"""

# every pair of stored initiatives that overlap, one of them among $ids (a load's rows)
OVERLAPPING_PAIRS = """
WITH w AS (
    SELECT si.initiative_id, si.supplier_id, si.item_id,
           coalesce(si.category, it.category) AS category, si.start_date,
           coalesce(si.end_date, CAST(si.start_date + to_months(CAST($window AS INTEGER))
                                      - INTERVAL 1 DAY AS DATE)) AS window_end
    FROM savings_initiatives si
    LEFT JOIN items it ON it.item_id = si.item_id
    WHERE si.kind IN ('price_reduction', 'cost_avoidance') AND si.start_date IS NOT NULL
)
SELECT a.initiative_id, b.initiative_id AS other_id
FROM w a JOIN w b
  ON a.supplier_id = b.supplier_id AND a.initiative_id <> b.initiative_id
 AND (a.item_id = b.item_id
      OR (a.item_id IS NULL AND b.item_id IS NULL AND a.category = b.category))
 AND a.start_date <= b.window_end AND b.start_date <= a.window_end
WHERE list_contains($ids::VARCHAR[], a.initiative_id)
  AND (NOT list_contains($ids::VARCHAR[], b.initiative_id) OR a.initiative_id < b.initiative_id)
ORDER BY a.initiative_id, b.initiative_id
"""

# loaded priced initiatives without an item that hold unit prices and no percent change
ONE_PRICE_FOR_A_CATEGORY = """
SELECT initiative_id FROM savings_initiatives
WHERE list_contains($ids::VARCHAR[], initiative_id) AND item_id IS NULL
  AND kind IN ('price_reduction', 'cost_avoidance') AND price_change_pct IS NULL
ORDER BY initiative_id
"""

# ---- the two lenses ---------------------------------------------------------------------------
#
# Parameters: $start/$end (the period), $prior_start/$prior_end (the same period a year
# earlier) and the filter lists. The prior spend is NULL when the store's invoices start
# after the prior period does (no full year-earlier figure to compare with).

TWO_LENSES = """
WITH prior_complete AS (
    SELECT coalesce(CAST(date_trunc('month', min(invoice_date)) AS DATE) <= $prior_start,
                    false) AS ok
    FROM invoices
), expense AS (
    SELECT coalesce(category, '(no category)') AS category,
           sum(amount) FILTER (WHERE invoice_date BETWEEN $start AND $end) AS spend_current,
           sum(amount) FILTER (WHERE invoice_date BETWEEN $prior_start AND $prior_end)
               AS spend_prior
    FROM spend
    WHERE (invoice_date BETWEEN $start AND $end
           OR invoice_date BETWEEN $prior_start AND $prior_end)
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL
           OR list_contains($cost_centre::VARCHAR[], cost_centre))
      AND ($supplier::VARCHAR[] IS NULL OR list_contains($supplier::VARCHAR[], supplier))
      AND ($supplier_id::VARCHAR[] IS NULL
           OR list_contains($supplier_id::VARCHAR[], supplier_id))
    GROUP BY 1
), saving AS (
    SELECT coalesce(category, '(no category)') AS category,
           sum(price_saving) FILTER (WHERE kind = 'price_reduction') AS reported,
           sum(price_saving) FILTER (WHERE kind = 'price_reduction' AND accepted)
               AS recognised,
           sum(avoided_cost) FILTER (WHERE kind = 'cost_avoidance') AS avoidance
    FROM savings_lines
    WHERE invoice_date BETWEEN $start AND $end
      AND initiative_id IS NOT NULL AND invoice_id IS NOT NULL  -- attributed invoice lines
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL
           OR list_contains($cost_centre::VARCHAR[], cost_centre))
      AND ($supplier::VARCHAR[] IS NULL OR list_contains($supplier::VARCHAR[], supplier))
      AND ($supplier_id::VARCHAR[] IS NULL
           OR list_contains($supplier_id::VARCHAR[], supplier_id))
    GROUP BY 1
), per_category AS (
    SELECT c.category,
           CAST(coalesce(s.reported, 0) AS DECIMAL(18,2)) AS reported,
           CAST(coalesce(s.recognised, 0) AS DECIMAL(18,2)) AS recognised,
           CAST(coalesce(s.avoidance, 0) AS DECIMAL(18,2)) AS avoidance,
           CAST(coalesce(x.spend_current, 0) AS DECIMAL(18,2)) AS spend_current,
           CASE WHEN (SELECT ok FROM prior_complete)
                THEN CAST(coalesce(x.spend_prior, 0) AS DECIMAL(18,2)) END AS spend_prior
    FROM (SELECT category FROM expense UNION SELECT category FROM saving) c
    LEFT JOIN saving s ON s.category = c.category
    LEFT JOIN expense x ON x.category = c.category
), totals AS (
    SELECT coalesce(category, 'Total') AS category, GROUPING(category) = 1 AS is_total,
           CAST(sum(reported) AS DECIMAL(18,2)) AS procurement_reported,
           CAST(sum(recognised) AS DECIMAL(18,2)) AS finance_recognised,
           CAST(sum(avoidance) AS DECIMAL(18,2)) AS cost_avoidance,
           CAST(sum(spend_prior) AS DECIMAL(18,2)) AS spend_prior,
           CAST(sum(spend_current) AS DECIMAL(18,2)) AS spend_current
    FROM per_category
    GROUP BY GROUPING SETS ((category), ())
)
SELECT category, is_total, procurement_reported, finance_recognised,
       CAST(procurement_reported - finance_recognised AS DECIMAL(18,2)) AS not_accepted,
       cost_avoidance, spend_prior, spend_current,
       CAST(spend_current - spend_prior AS DECIMAL(18,2)) AS expense_change,
       CAST(procurement_reported + spend_current - spend_prior AS DECIMAL(18,2)) AS gap,
       CAST(finance_recognised + spend_current - spend_prior AS DECIMAL(18,2)) AS volume_mix
FROM totals
ORDER BY is_total, category
"""

# Choices for the initiative form: suppliers and items by id, with their names.
SUPPLIER_CHOICES = "SELECT supplier_id, supplier_name FROM suppliers ORDER BY supplier_id"
ITEM_CHOICES = "SELECT item_id, description, category FROM items ORDER BY item_id"
# the items each supplier invoiced: the initiative form offers only these for a supplier
SUPPLIER_ITEMS = """
SELECT DISTINCT supplier_id, item_id FROM invoices
WHERE item_id IS NOT NULL
ORDER BY supplier_id, item_id
"""
# the initiatives a person created since a moment: a twin of one of them is refused
CREATED_BY_SINCE = """
SELECT DISTINCT initiative_id, changed_at FROM initiative_changes
WHERE action = 'created' AND lower(changed_by) = lower($changed_by) AND changed_at >= $since
ORDER BY changed_at DESC, initiative_id
"""
