"""The SQL layer: the curated views KPI formulas run over, and the queries built on them.

All SQL of the product lives here. Nothing in it is assembled from user text: view bodies
are constants, settings (currency codes from an allow-list, integers) become literals via
sqlglot, KPI formulas arrive as sqlglot trees that the formula guard has already accepted,
and filter values are bound parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import duckdb
import sqlglot
from sqlglot import exp

from kpi.core.settings import FiscalCalendar, Settings
from kpi.store.queries.working_capital import VIEW_DESCRIPTIONS as WORKING_CAPITAL_DESCRIPTIONS
from kpi.store.queries.working_capital import VIEWS as WORKING_CAPITAL_VIEWS
from kpi.store.schema import CURRENCIES, all_ddl

if TYPE_CHECKING:
    pass

DIALECT = "duckdb"

# ---------------------------------------------------------------------------------------
# Curated views. Each carries the derived columns KPI formulas need, so that a formula is
# one aggregate expression over one view. `amount` in a view is in the reporting currency;
# the source's own figure stays in `source_amount` / `source_currency`.
# ---------------------------------------------------------------------------------------

_FX = """
-- units of the display currency per unit of `currency`, from each rate date on
SELECT r.date, r.currency, CAST(r.rate / d.rate AS DECIMAL(18,8)) AS factor
FROM fx_rates r JOIN fx_rates d ON d.date = r.date AND d.currency = {display}
WHERE {display} <> {base} AND r.currency <> {base}
UNION ALL
SELECT d.date, {base} AS currency, CAST(1 / d.rate AS DECIMAL(18,8)) AS factor
FROM fx_rates d WHERE d.currency = {display} AND {display} <> {base}
UNION ALL
SELECT r.date, r.currency, CAST(r.rate AS DECIMAL(18,8)) FROM fx_rates r WHERE {display} = {base}
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
           {fiscal_year} AS fiscal_year,
           CASE WHEN i.currency = {display} THEN CAST(1 AS DECIMAL(18,8)) ELSE fx.factor END
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
    CAST(round(po.amount * CASE WHEN po.currency = {display} THEN 1 ELSE fx.factor END, 2)
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
           sum(CAST(round(b.amount * CASE WHEN b.currency = {display} THEN 1 ELSE fx.factor END, 2)
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
           sum(CAST(round(o.open_amount * CASE WHEN o.currency = {display} THEN 1
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
           CAST(inv.unit_cost * CASE WHEN inv.currency = {display} THEN 1 ELSE fx.factor END
                AS DECIMAL(18,4)) AS unit_cost_rc,
           least(inv.on_hand_qty, coalesce(inv.safety_stock_qty, 0)) AS safety_qty,
           inv.snapshot_date - inv.last_issue_date AS days_since_issue,
           coalesce(inv.snapshot_date - inv.last_issue_date > {obsolete_days}, true)
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
    "savings_lines": """
SELECT
    si.initiative_id, si.title, si.kind, si.stage, si.owner,
    coalesce(si.finance_status, 'pending') AS finance_status,
    coalesce(si.finance_status, 'pending') = 'accepted' AS accepted,
    sp.invoice_id, sp.invoice_line, sp.invoice_date, sp.supplier_id, sp.supplier,
    sp.category, sp.cost_centre, sp.item_id, sp.quantity, sp.unit_price,
    si.baseline_unit_price, si.quoted_unit_price, si.negotiated_unit_price,
    sp.amount,
    CAST(round((si.baseline_unit_price - sp.unit_price) * sp.quantity * sp.fx_factor, 2)
         AS DECIMAL(18,2)) AS price_saving,
    CAST(round((si.quoted_unit_price - sp.unit_price) * sp.quantity * sp.fx_factor, 2)
         AS DECIMAL(18,2)) AS avoided_cost,
    -- what procurement claims: price savings or avoided cost; other kinds are not priced here
    CAST(round(CASE si.kind
        WHEN 'cost_avoidance' THEN (si.quoted_unit_price - sp.unit_price)
        WHEN 'price_reduction' THEN (si.baseline_unit_price - sp.unit_price)
        END * sp.quantity * sp.fx_factor, 2) AS DECIMAL(18,2)) AS claimed_amount,
    CAST(round(greatest(sp.unit_price - si.negotiated_unit_price, 0) * sp.quantity
               * sp.fx_factor, 2) AS DECIMAL(18,2)) AS leakage
FROM savings_initiatives si
JOIN spend sp
  ON sp.supplier_id = si.supplier_id
 AND (sp.item_id = si.item_id OR (si.item_id IS NULL AND sp.category = si.category))
 AND sp.invoice_date >= coalesce(si.start_date, DATE '0001-01-01')
 AND sp.invoice_date <= coalesce(si.end_date, DATE '9999-12-31')
WHERE sp.source_currency = si.currency
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
}

# The curated views that read spend_base (directly or through spend), in dependency order.
_VIEWS.update(WORKING_CAPITAL_VIEWS)  # the cash conversion gap (kpi/sql_working_capital.py)

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
    "savings_lines": "Invoice lines covered by a savings initiative, with the saving on each.",
    "spend_yoy": "Spend now and a year earlier, side by side, for the expense change.",
}
VIEW_DESCRIPTIONS.update(WORKING_CAPITAL_DESCRIPTIONS)


def _lit(value: str | int) -> str:
    """A literal rendered by sqlglot (quoted and escaped), for settings baked into views."""
    if isinstance(value, int):
        return exp.Literal.number(value).sql(DIALECT)
    return exp.Literal.string(value).sql(DIALECT)


def fiscal_year_sql(column: str, cal: FiscalCalendar) -> str:
    """SQL for the fiscal-year number of a date column (column names come from this module)."""
    shift = _lit(cal.year_start_month - 1)
    return f"(year({column} - INTERVAL ({shift}) MONTH) + {_lit(cal.year_offset)})"


def create_views(
    con: duckdb.DuckDBPyConnection, settings: Settings, display_currency: str | None = None
) -> None:
    """Create the curated views on this connection, in `display_currency` (default: reporting)."""
    for name, body in view_bodies(settings, display_currency).items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")


@lru_cache(maxsize=16)
def view_bodies(settings: Settings, display_currency: str | None = None) -> dict[str, str]:
    """The SELECT of every view (fx_factor and spend_base first), settings filled in."""
    base = settings.reporting_currency
    display = (display_currency or base).upper()
    if display not in CURRENCIES or base not in CURRENCIES:
        raise ValueError(f"unknown currency '{display}'")
    params = {
        "display": _lit(display),
        "base": _lit(base),
        "obsolete_days": _lit(settings.obsolete_after_days),
        "fiscal_year": fiscal_year_sql("i.invoice_date", settings.fiscal),
    }
    bodies = {"fx_factor": _FX, "spend_base": _SPEND_BASE, **_VIEWS}
    return {name: body.format(**params) for name, body in bodies.items()}


@lru_cache(maxsize=4)
def view_catalog(settings: Settings) -> dict[str, dict[str, str]]:
    """Every curated view with its columns and their SQL types, read off an empty store."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings)
        out: dict[str, dict[str, str]] = {}
        for view in _VIEWS:
            rows = con.execute(f"DESCRIBE {view}").fetchall()
            out[view] = {r[0]: r[1] for r in rows}
        return out
    finally:
        con.close()


# ---------------------------------------------------------------------------------------
# Period labels in SQL (twins of kpi.core.periods.label)
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _template(sql_text: str) -> exp.Expression:
    """A parsed SQL template; transform() copies it, so the cached tree stays as parsed."""
    return sqlglot.parse_one(sql_text, read=DIALECT)


def period_label(column: exp.Expression, grain: str, cal: FiscalCalendar) -> exp.Expression:
    """A sqlglot expression giving the period label of a date column at `grain`."""
    if grain == "month":
        tpl = "strftime(__d__, '%Y-%m')"
    elif grain == "quarter":
        tpl = (
            "'FY' || CAST(year(__d__ - INTERVAL (__s__) MONTH) + __o__ AS VARCHAR)"
            " || '-Q' || CAST(quarter(__d__ - INTERVAL (__s__) MONTH) AS VARCHAR)"
        )
    elif grain == "year":
        tpl = "'FY' || CAST(year(__d__ - INTERVAL (__s__) MONTH) + __o__ AS VARCHAR)"
    else:
        raise ValueError(f"unknown grain '{grain}'")
    tree = _template(tpl)
    subst = {
        "__d__": column,
        "__s__": exp.Literal.number(cal.year_start_month - 1),
        "__o__": exp.Literal.number(cal.year_offset),
    }

    def _swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name in subst:
            return subst[node.name].copy()
        return node

    return tree.transform(_swap)


def period_start(column: exp.Expression, grain: str, cal: FiscalCalendar) -> exp.Expression:
    """A sqlglot expression giving the first day of the fiscal period holding a date column.

    Every day of a period has the period's label, so a query groups on this date (cheap) and
    labels the groups afterwards, instead of building a label string for every row.
    """
    if grain not in ("month", "quarter", "year"):
        raise ValueError(f"unknown grain '{grain}'")
    shift = 0 if grain == "month" else cal.year_start_month - 1
    if shift:
        tpl = f"CAST(date_trunc('{grain}', __d__ - INTERVAL ({shift}) MONTH)"
        tpl += f" + INTERVAL ({shift}) MONTH AS DATE)"
    else:
        tpl = f"CAST(date_trunc('{grain}', __d__) AS DATE)"
    return _template(tpl).transform(
        lambda n: column.copy() if isinstance(n, exp.Column) and n.name == "__d__" else n
    )


# ---------------------------------------------------------------------------------------
# KPI queries
# ---------------------------------------------------------------------------------------


_PERIOD_START = "_period_start"


@dataclass(frozen=True)
class Measure:
    """One KPI to compute: its id and its guarded formula tree."""

    kpi_id: str
    formula: exp.Expression


# Rendering a query with sqlglot costs tens of milliseconds, as much as DuckDB needs for all
# the KPIs of a small store, and the app asks the same ones again and again. A request with
# the very same formula trees (the definitions' own objects, checked by identity and held
# here, so an id is never reused while cached) gets the text it got before.
_QUERIES: dict[tuple, tuple[tuple[exp.Expression, ...], str, tuple[object, ...]]] = {}
_QUERIES_KEPT = 512


def kpi_query(
    view: str,
    period_column: str,
    measures: list[Measure],
    grain: str,
    cal: FiscalCalendar,
    by: list[str],
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
) -> tuple[str, list[object]]:
    """One SELECT computing several KPIs over one view, grouped by period and dimensions.

    `view`, `period_column`, `by` and filter keys must already be checked against the view
    catalogue by the caller; values are returned as parameters, never inlined.
    """
    trees = tuple(m.formula for m in measures)
    key = (
        view,
        period_column,
        tuple((m.kpi_id, id(m.formula)) for m in measures),
        grain,
        cal,
        tuple(by),
        start,
        end,
        tuple((k, tuple(v)) for k, v in filters.items()),
    )
    hit = _QUERIES.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], trees, strict=True)):
        return hit[1], list(hit[2])
    query, params = _kpi_query(view, period_column, measures, grain, cal, by, start, end, filters)
    if len(_QUERIES) >= _QUERIES_KEPT:
        _QUERIES.clear()
    _QUERIES[key] = (trees, query, tuple(params))
    return query, params


def _kpi_query(
    view: str,
    period_column: str,
    measures: list[Measure],
    grain: str,
    cal: FiscalCalendar,
    by: list[str],
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
) -> tuple[str, list[object]]:
    col = exp.column(period_column)
    select: list[exp.Expression] = [period_start(col, grain, cal).as_(_PERIOD_START)]
    select += [exp.column(d) for d in by]
    select += [
        exp.Cast(this=m.formula.copy(), to=exp.DataType.build("DOUBLE")).as_(f"m{i}")
        for i, m in enumerate(measures)
    ]
    conds: list[exp.Expression] = [exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null()))]
    params: list[object] = []
    if start is not None:
        conds.append(exp.GTE(this=col.copy(), expression=exp.Placeholder()))
        params.append(start)
    if end is not None:
        conds.append(exp.LTE(this=col.copy(), expression=exp.Placeholder()))
        params.append(end)
    for dim, values in filters.items():
        if values:
            conds.append(
                exp.In(this=exp.column(dim), expressions=[exp.Placeholder() for _ in values])
            )
            params.extend(values)
    # the tree is built here and used once: no builder step needs to copy it (copy=False)
    query = exp.select(*select).from_(exp.to_table(view), copy=False)
    query = query.where(exp.and_(*conds), copy=False)
    group = [exp.Literal.number(i + 1) for i in range(1 + len(by))]
    query = query.group_by(*group, copy=False)
    # label the groups (a few rows), not the rows: see period_start
    labelled = exp.select(
        period_label(exp.column(_PERIOD_START), grain, cal).as_("period"),
        *[exp.column(d) for d in by],
        *[exp.column(f"m{i}") for i in range(len(measures))],
    ).from_(query.subquery("g", copy=False), copy=False)
    labelled = labelled.order_by(*[g.copy() for g in group], copy=False)
    return labelled.sql(DIALECT), params


def kpi_statement(
    parts: list[tuple[str, str, list[object], int]],
    by: list[str],
    settings: Settings,
    display_currency: str | None = None,
    narrow: bool = True,
) -> tuple[str, list[object]]:
    """One statement running several kpi_query SELECTs, so that work they share is done once.

    `parts` are (view, query, params, number of measures), the query and params as kpi_query
    made them. When two or more parts read views built on spend_base, spend_base (fx
    conversion, contract prices, supplier ranks) is computed once for all of them: it becomes
    a MATERIALIZED CTE and those views are restated as CTEs over it. With `narrow`, that CTE
    holds only the columns the statement reads (see spend_base_columns); reading another one
    raises an error that says NOT_COMPUTED (run again with narrow=False). The result has the
    columns _part (index into `parts`), period, the `by` dimensions as text and _values (the
    part's measures in order, a list of doubles).
    """
    ctes: list[str] = []
    selects: list[str] = []
    params: list[object] = []
    text = exp.DataType.build("VARCHAR")
    for i, (_view, query, part_params, n_measures) in enumerate(parts):
        name = f"_kpi_part{i}"
        ctes.append(f"{name} AS ({query})")
        params += part_params
        select = exp.select(
            exp.Literal.number(i).as_("_part"),
            exp.column("period"),
            *[exp.Cast(this=exp.column(d), to=text.copy()).as_(d) for d in by],
            exp.Array(expressions=[exp.column(f"m{j}") for j in range(n_measures)]).as_("_values"),
        ).from_(name)
        selects.append(select.sql(DIALECT))
    bodies = view_bodies(settings, display_currency)
    # Another view several parts read (po_lines: by po_date and by promised_date) is
    # computed once too, as a MATERIALIZED CTE under the view's name, not once per part.
    # None of them reads spend_base, so the probe below does not need them.
    # inventory_position counts once more when working_capital_days reads it too. These
    # come first: the restated spend views below (working_capital_days) read them.
    readers = [view for view, *_ in parts if view not in SPEND_VIEWS]
    readers += [dep for view, *_ in parts for dep in _ALSO_READS.get(view, ())]
    once = [f"{v} AS MATERIALIZED ({bodies[v]})" for v in dict.fromkeys(readers)
            if readers.count(v) > 1]  # fmt: skip
    if sum(view in SPEND_VIEWS for view, *_ in parts) < 2:
        return _statement(once + ctes, selects), params
    restated = [f"{v} AS NOT MATERIALIZED ({bodies[v]})" for v in SPEND_VIEWS]
    shared = [f"spend_base AS MATERIALIZED ({bodies['spend_base']})"]
    if narrow:
        probe = [f"spend_base AS NOT MATERIALIZED (SELECT * FROM {_PROBE_TABLE})", *restated]
        columns = spend_base_columns(
            _statement(probe + ctes, selects), params, settings, display_currency
        )
        if columns:
            shared = _narrow_spend_base(bodies["spend_base"], columns)
    return _statement(once + shared + restated + ctes, selects), params


# Views outside spend_base's family that a spend view reads (see kpi_statement).
_ALSO_READS = {"working_capital_days": ("inventory_position",)}

NOT_COMPUTED = "kpi: spend_base column left out of the shared computation"


def _narrow_spend_base(body: str, columns: list[tuple[str, str, bool]]) -> list[str]:
    """spend_base computed once with only the columns read; the others keep their names
    (so every view still binds) but raise an error if a query ever evaluated one."""
    kept = ", ".join(name for name, _, read in columns if read)
    outer = ", ".join(
        name if read else f"CAST(error({_lit(f'{NOT_COMPUTED}: {name}')}) AS {sql_type}) AS {name}"
        for name, sql_type, read in columns
    )
    return [
        f"spend_base_rows AS MATERIALIZED (SELECT {kept} FROM ({body}) AS spend_base)",
        f"spend_base AS NOT MATERIALIZED (SELECT {outer} FROM spend_base_rows)",
    ]


def _statement(ctes: list[str], selects: list[str]) -> str:
    return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(selects)


# Reading which spend_base columns a statement uses, on an empty copy of the store: with
# these optimisers on, an empty probe table's statistics (every column NULL) would fold
# expressions away, and filters pushed into a scan would hide the columns they read.
_PROBE_TABLE = "_kpi_spend_base_probe"
_PROBE_OFF = (
    "statistics_propagation,filter_pushdown,empty_result_pullup,join_filter_pushdown,"
    "late_materialization,row_group_pruner"
)
_UNKNOWN: list = []
_probed: dict[tuple[str, Settings, str | None], list[tuple[str, str, bool]] | None] = {}


def spend_base_columns(
    statement: str, params: list[object], settings: Settings, display_currency: str | None
) -> list[tuple[str, str, bool]] | None:
    """spend_base's columns (name, type, whether the statement reads it); None when unsure.

    `statement` reads spend_base from the probe table; DuckDB plans it (EXPLAIN, nothing
    runs) on an empty in-memory store and the probe table's scans list the columns they
    project. Asked again for the same statement, the answer comes from a cache.
    """
    key = (statement, settings, display_currency)
    cached = _probed.get(key, _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings, display_currency)
        con.execute(f"CREATE TEMP TABLE {_PROBE_TABLE} AS SELECT * FROM spend_base LIMIT 0")
        known = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {_PROBE_TABLE}").fetchall()]
        con.execute(f"SET disabled_optimizers = '{_PROBE_OFF}'")
        plan = con.execute("EXPLAIN (FORMAT json) " + statement, params or None).fetchall()
        found = _scanned(json.loads(plan[0][1]), set())
    except (duckdb.Error, ValueError, KeyError, IndexError):
        found = None
    finally:
        con.close()
    names = {name for name, _ in known}
    columns = None
    if found and found <= names:
        columns = [(name, sql_type, name in found) for name, sql_type in known]
    if len(_probed) > 256:
        _probed.clear()
    _probed[key] = columns
    return columns


def _scanned(plan: object, found: set[str] | None) -> set[str] | None:
    """Columns projected by the probe table's scans in a JSON plan; None if one is unclear."""
    if found is None:
        return None
    nodes = plan if isinstance(plan, list) else [plan]
    for node in nodes:
        info = node.get("extra_info", {})
        if _PROBE_TABLE in str(info.get("Table", "")):
            columns = info.get("Projections")
            if not columns or "Filters" in info:
                return None
            found |= {columns} if isinstance(columns, str) else set(columns)
        if _scanned(node.get("children", []), found) is None:
            return None
    return found


def distinct_values(view: str, column: str) -> str:
    """SELECT of a view column's distinct non-null values (names checked by the caller)."""
    q = (
        exp.select(exp.column(column))
        .distinct()
        .from_(exp.to_table(view))
        .where(exp.Not(this=exp.Is(this=exp.column(column), expression=exp.Null())))
        .order_by(exp.Literal.number(1))
    )
    return q.sql(DIALECT)


def date_bounds(view: str, column: str) -> str:
    """SELECT of the first and last date of a view's date column."""
    c = exp.column(column)
    return (
        exp.select(exp.Min(this=c), exp.Max(this=c.copy())).from_(exp.to_table(view)).sql(DIALECT)
    )


# ---------------------------------------------------------------------------------------
# Bookkeeping: loads, rejects, freshness (table names come from kpi.store.schema, not from users)
# ---------------------------------------------------------------------------------------

LOAD_HISTORY = """
SELECT load_id, table_name, source, mapping, status, rows_in, rows_loaded, rows_rejected,
       amount_loaded, started, finished, message
FROM loads ORDER BY load_id DESC
"""

REJECTS = """
SELECT r.load_id, l.table_name, l.source, r.row_number, r.reason, r.raw_row
FROM rejects r JOIN loads l USING (load_id)
WHERE ($load_id IS NULL OR r.load_id = $load_id)
ORDER BY r.load_id DESC, r.row_number
LIMIT $limit
"""

# The business date that tells how recent each table's content is.
FRESHNESS_COLUMN = {
    "contracts": "start_date",
    "purchase_orders": "po_date",
    "goods_receipts": "receipt_date",
    "invoices": "invoice_date",
    "budgets": "period",
    "inventory": "snapshot_date",
    "savings_initiatives": "start_date",
    "price_outlook": "quarter",
    "fx_rates": "date",
}


def table_freshness(table: str) -> str:
    """Rows, latest business date and last successful load of one canonical table."""
    from kpi.store.schema import TABLES

    if table not in TABLES:
        raise ValueError(f"unknown table '{table}'")
    latest = FRESHNESS_COLUMN.get(table)
    latest_sql = f"CAST(max({latest}) AS VARCHAR)" if latest else "CAST(NULL AS VARCHAR)"
    return (
        f"SELECT {_lit(table)} AS table_name, count(*) AS rows, {latest_sql} AS latest_data, "
        f"(SELECT max(finished) FROM loads WHERE table_name = {_lit(table)} "
        f"AND status = 'loaded') AS last_loaded FROM {table}"
    )
