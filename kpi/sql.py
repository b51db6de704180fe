"""The SQL layer: the curated views KPI formulas run over, and the queries built on them.

All SQL of the product lives here. Nothing in it is assembled from user text: view bodies
are constants, settings (currency codes from an allow-list, integers) become literals via
sqlglot, KPI formulas arrive as sqlglot trees that the formula guard has already accepted,
and filter values are bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import duckdb
import sqlglot
from sqlglot import exp

from kpi.schema import CURRENCIES, all_ddl
from kpi.settings import FiscalCalendar, Settings

DIALECT = "duckdb"

# ---------------------------------------------------------------------------------------
# Curated views. Each carries the derived columns KPI formulas need, so that a formula is
# one aggregate expression over one view. `amount` in a view is in the reporting currency;
# the source's own figure stays in `source_amount` / `source_currency`.
# ---------------------------------------------------------------------------------------

_FX = """
CREATE OR REPLACE TEMP VIEW fx_factor AS
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

_VIEWS: dict[str, str] = {
    "spend": """
CREATE OR REPLACE TEMP VIEW spend AS
WITH lines AS (
    SELECT i.*, coalesce(i.category, it.category) AS category_resolved,
           {fiscal_year} AS fiscal_year,
           CASE WHEN i.currency = {display} THEN CAST(1 AS DECIMAL(18,8)) ELSE fx.factor END
               AS fx_factor
    FROM invoices i
    LEFT JOIN items it ON it.item_id = i.item_id
    ASOF LEFT JOIN fx_factor fx ON fx.currency = i.currency AND i.invoice_date >= fx.date
), ranks AS (
    -- rank of each supplier inside its category by spend in the fiscal year (1 = largest)
    SELECT category_resolved, fiscal_year, supplier_id,
           dense_rank() OVER (PARTITION BY category_resolved, fiscal_year
                              ORDER BY sum(amount * fx_factor) DESC) AS supplier_rank
    FROM lines GROUP BY category_resolved, fiscal_year, supplier_id
), contract_price AS (
    SELECT l2.invoice_id, l2.invoice_line, min(c.unit_price) AS contract_unit_price
    FROM invoices l2 JOIN contracts c
      ON c.supplier_id = l2.supplier_id AND c.item_id = l2.item_id
     AND l2.invoice_date >= c.start_date
     AND l2.invoice_date <= coalesce(c.end_date, DATE '9999-12-31')
    WHERE c.currency = l2.currency
    GROUP BY ALL
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
    cp.contract_unit_price IS NOT NULL
        OR EXISTS (
            SELECT 1 FROM contracts c
            WHERE c.supplier_id = l.supplier_id AND c.item_id IS NULL
              AND c.category = l.category_resolved
              AND l.invoice_date >= c.start_date
              AND l.invoice_date <= coalesce(c.end_date, DATE '9999-12-31')
        ) AS on_contract,
    CAST(round((l.unit_price - cp.contract_unit_price) * l.quantity * l.fx_factor, 2)
         AS DECIMAL(18,2)) AS price_variance,
    r.supplier_rank AS supplier_rank_in_category
FROM lines l
LEFT JOIN suppliers s ON s.supplier_id = l.supplier_id
LEFT JOIN contract_price cp ON cp.invoice_id = l.invoice_id AND cp.invoice_line = l.invoice_line
LEFT JOIN ranks r ON r.category_resolved IS NOT DISTINCT FROM l.category_resolved
 AND r.fiscal_year = l.fiscal_year AND r.supplier_id = l.supplier_id
""",
    "payments": """
CREATE OR REPLACE TEMP VIEW payments AS
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
    CAST(round(coalesce(i.discount_taken, 0) * sp.fx_factor, 2) AS DECIMAL(18,2))
        AS discount_captured,
    coalesce(s.discount_pct, 0) > 0 AND sp.paid_date IS NOT NULL
        AND coalesce(i.discount_taken, 0) = 0 AS discount_missed
FROM spend sp
JOIN invoices i ON i.invoice_id = sp.invoice_id AND i.invoice_line = sp.invoice_line
LEFT JOIN suppliers s ON s.supplier_id = sp.supplier_id
""",
    "po_lines": """
CREATE OR REPLACE TEMP VIEW po_lines AS
WITH r AS (
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
ASOF LEFT JOIN fx_factor fx ON fx.currency = po.currency AND po.po_date >= fx.date
LEFT JOIN r ON r.po_id = po.po_id AND r.po_line = po.po_line
LEFT JOIN suppliers s ON s.supplier_id = po.supplier_id
LEFT JOIN items it ON it.item_id = po.item_id
""",
    "budget_vs_actual": """
CREATE OR REPLACE TEMP VIEW budget_vs_actual AS
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
)
SELECT coalesce(b.month_start, a.month_start) AS month_start,
       coalesce(b.cost_centre, a.cost_centre) AS cost_centre,
       coalesce(b.category, a.category) AS category,
       coalesce(b.budget_amount, 0) AS budget_amount,
       coalesce(a.actual_amount, 0) AS actual_amount,
       coalesce(a.maverick_amount, 0) AS maverick_amount
FROM b FULL OUTER JOIN a
  ON a.month_start = b.month_start AND a.cost_centre = b.cost_centre
 AND a.category = b.category
""",
    "inventory_position": """
CREATE OR REPLACE TEMP VIEW inventory_position AS
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
       CAST(round((on_hand_qty - safety_qty - obsolete_qty - excess_qty) * unit_cost_rc, 2)
            AS DECIMAL(18,2)) AS cycle_value,
       CAST(round(excess_qty * unit_cost_rc, 2) AS DECIMAL(18,2)) AS excess_value,
       CAST(round(obsolete_qty * unit_cost_rc, 2) AS DECIMAL(18,2)) AS obsolete_value,
       coalesce(issued_qty_90d, 0) * unit_cost_rc / 90 AS usage_value_per_day
FROM q
""",
    "savings_lines": """
CREATE OR REPLACE TEMP VIEW savings_lines AS
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
CREATE OR REPLACE TEMP VIEW spend_yoy AS
-- this year's lines at their date, last year's lines moved one year on: summing both
-- columns over any period gives the expense now and a year earlier, side by side
WITH bounds AS (SELECT CAST(date_trunc('month', min(invoice_date)) AS DATE) AS first_day,
                       max(invoice_date) AS last_day
                FROM invoices)
SELECT sp.invoice_date AS period_date, sp.category, sp.cost_centre, sp.supplier,
       sp.amount AS current_amount, CAST(0 AS DECIMAL(18,2)) AS prior_amount
FROM spend sp, bounds
WHERE sp.invoice_date >= bounds.first_day + INTERVAL 1 YEAR
UNION ALL
SELECT CAST(sp.invoice_date + INTERVAL 1 YEAR AS DATE), sp.category, sp.cost_centre,
       sp.supplier, CAST(0 AS DECIMAL(18,2)), sp.amount
FROM spend sp, bounds
WHERE sp.invoice_date + INTERVAL 1 YEAR <= bounds.last_day
""",
}

VIEW_DESCRIPTIONS: dict[str, str] = {
    "spend": "Invoice lines with supplier, contract and fiscal context (amount in reporting "
    "currency).",
    "payments": "Invoice lines with days to pay, lateness and early-payment discounts.",
    "po_lines": "Purchase-order lines with approval time and their goods receipts.",
    "budget_vs_actual": "Budget and invoiced spend per month, cost centre and category.",
    "inventory_position": "Stock snapshots split into safety, cycle, excess and obsolete.",
    "savings_lines": "Invoice lines covered by a savings initiative, with the saving on each.",
    "spend_yoy": "Spend now and a year earlier, side by side, for the expense change.",
}


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
    con.execute(_FX.format(**params))
    for body in _VIEWS.values():
        con.execute(body.format(**params))


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
# Period labels in SQL (twins of kpi.periods.label)
# ---------------------------------------------------------------------------------------


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
    tree = sqlglot.parse_one(tpl, read=DIALECT)
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


# ---------------------------------------------------------------------------------------
# KPI queries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One KPI to compute: its id and its guarded formula tree."""

    kpi_id: str
    formula: exp.Expression


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
    col = exp.column(period_column)
    select: list[exp.Expression] = [period_label(col, grain, cal).as_("period")]
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
    query = exp.select(*select).from_(exp.to_table(view)).where(exp.and_(*conds))
    group = [exp.Literal.number(i + 1) for i in range(1 + len(by))]
    query = query.group_by(*group).order_by(*[g.copy() for g in group])
    return query.sql(DIALECT), params


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
    return exp.select(exp.Min(this=c), exp.Max(this=c.copy())).from_(exp.to_table(view)).sql(
        DIALECT
    )


# ---------------------------------------------------------------------------------------
# Bookkeeping: loads, rejects, freshness (table names come from kpi.schema, not from users)
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
    from kpi.schema import TABLES

    if table not in TABLES:
        raise ValueError(f"unknown table '{table}'")
    latest = FRESHNESS_COLUMN.get(table)
    latest_sql = f"CAST(max({latest}) AS VARCHAR)" if latest else "CAST(NULL AS VARCHAR)"
    return (
        f"SELECT {_lit(table)} AS table_name, count(*) AS rows, {latest_sql} AS latest_data, "
        f"(SELECT max(finished) FROM loads WHERE table_name = {_lit(table)} "
        f"AND status = 'loaded') AS last_loaded FROM {table}"
    )


def fetch_frame(
    con: duckdb.DuckDBPyConnection, query: str, params: object = None
) -> "pl.DataFrame":
    """Run a query and hand the result to polars through Arrow (no pandas round trip)."""
    import polars as pl

    relation = con.sql(query, params=params) if params else con.sql(query)
    return relation.pl() if relation is not None else pl.DataFrame()
