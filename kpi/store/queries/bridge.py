"""The SQL of the savings analyses: the price–volume–mix bridge between two periods.

Part of the SQL layer: it runs over the curated `spend` view (kpi/store/views.py) and the
`items` table (for each item's unit of measure) on a connection from `Store.read()`.
Nothing in it comes from user text: the statement is a constant template; the dimension a
bridge is split by is checked against an allow-list and reaches it as a sqlglot node;
dates and filter values are bound parameters (a filter not used is a NULL list).

Additivity: every effect is worked out per *cell* — category × cost centre × supplier ×
item, the finest grain any split can cut — and a row of the bridge is the sum of its
cells. Whether an item is new, lost or continuing, and each (category, unit) group's base
average price, are decided over the whole scope, never per row; so the rows of any split
add up to the whole scope's bridge in every column, to the cent.

Exactness: DuckDB divides DECIMALs in floating point, so every division (a cell's base
price, its base exchange rate, a group's base average price) is done on whole numbers
instead: money in cents and quantities in thousandths (DECIMAL(18,2) and DECIMAL(18,3) in
the store), as HUGEINT, with a division rounded half away from zero to the cent. Each
cell's mix or unquantified change is its residual, so each cell, hence each row, adds up to
the cent; the columns are returned as DECIMAL(38,2).
"""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlglot import exp

from kpi.store import identifiers
from kpi.store.template import fill, parsed, render

# Dimensions a bridge can be split by (one row per value): columns of the `spend` view.
BRIDGE_DIMENSIONS = ("category", "cost_centre", "supplier", "supplier_size", "country")

# Columns a bridge can be filtered on (values are bound parameters).
BRIDGE_FILTERS = (*BRIDGE_DIMENSIONS, "supplier_id", "item_id")

identifiers.register(BRIDGE_FILTERS)  # columns of `spend`

# base + price + fx + volume + mix + unquantified + new + lost = current
MONEY_COLUMNS = (
    "base",
    "price",
    "fx",
    "volume",
    "mix",
    "unquantified",
    "new",
    "lost",
    "current",
)


# n / d for HUGEINT expressions, rounded half away from zero (0 when d is 0)
_DIV_ROUND = """
CASE WHEN __d__ = 0 THEN 0
     WHEN (__n__ < 0) <> (__d__ < 0)
     THEN -((abs(__n__) * 2 + abs(__d__)) // (2 * abs(__d__)))
     ELSE (abs(__n__) * 2 + abs(__d__)) // (2 * abs(__d__)) END
"""

# a whole number of cents as DECIMAL(38,2), exactly
_MONEY = "CAST(CAST(__cents__ AS DECIMAL(38,0)) * 0.01 AS DECIMAL(38,2))"


def _div_round(n: str, d: str) -> exp.Expression:
    """n / d (constant SQL expressions of this module), rounded half away from zero."""
    return exp.paren(fill(_DIV_ROUND, n=exp.paren(parsed(n)), d=exp.paren(parsed(d))))


def _money(cents: str) -> exp.Expression:
    """A constant SQL expression of whole cents as DECIMAL(38,2)."""
    return fill(_MONEY, cents=exp.paren(parsed(cents)))


# The bridge split by `scope` (the `by` dimension); a bridge not split loses every `scope`.
# s = spend in the reporting currency (cents), d = the same lines in their own currency
# (cents), q = quantity (thousandths); 0 = base period, 1 = current period.
_BRIDGE = """
WITH lines AS (
    -- the invoice lines of either period, in the scope; a line whose amount cannot be
    -- converted (no fx rate) is left out, as total_spend leaves it out. A line without an
    -- item has no unit of measure: its quantity is not compared (it counts as spend only)
    SELECT __scope__ AS scope,
           category, cost_centre, supplier_id, item_id,
           source_currency AS currency,
           CAST(amount AS DECIMAL(18,2)) AS amount,
           CAST(source_amount AS DECIMAL(18,2)) AS source_amount,
           CAST(CASE WHEN item_id IS NULL THEN 0 ELSE coalesce(quantity, 0) END
                AS DECIMAL(18,3)) AS quantity,
           invoice_date BETWEEN $base_start AND $base_end AS in_base,
           invoice_date BETWEEN $current_start AND $current_end AS in_current
    FROM spend
    WHERE amount IS NOT NULL
      AND (invoice_date BETWEEN $base_start AND $base_end
           OR invoice_date BETWEEN $current_start AND $current_end)
      AND ($category::VARCHAR[] IS NULL OR list_contains($category::VARCHAR[], category))
      AND ($cost_centre::VARCHAR[] IS NULL
           OR list_contains($cost_centre::VARCHAR[], cost_centre))
      AND ($supplier::VARCHAR[] IS NULL OR list_contains($supplier::VARCHAR[], supplier))
      AND ($supplier_size::VARCHAR[] IS NULL
           OR list_contains($supplier_size::VARCHAR[], supplier_size))
      AND ($country::VARCHAR[] IS NULL OR list_contains($country::VARCHAR[], country))
      AND ($supplier_id::VARCHAR[] IS NULL
           OR list_contains($supplier_id::VARCHAR[], supplier_id))
      AND ($item_id::VARCHAR[] IS NULL OR list_contains($item_id::VARCHAR[], item_id))
), by_currency AS (
    -- one row per cell and document currency, as exact whole numbers
    SELECT scope, category, cost_centre, supplier_id, item_id, currency,
        CAST(coalesce(sum(amount) FILTER (WHERE in_base), 0) * 100 AS HUGEINT) AS s0,
        CAST(coalesce(sum(source_amount) FILTER (WHERE in_base), 0) * 100 AS HUGEINT) AS d0,
        CAST(coalesce(sum(quantity) FILTER (WHERE in_base), 0) * 1000 AS HUGEINT) AS q0,
        CAST(coalesce(sum(amount) FILTER (WHERE in_current), 0) * 100 AS HUGEINT) AS s1,
        CAST(coalesce(sum(source_amount) FILTER (WHERE in_current), 0) * 100 AS HUGEINT)
            AS d1,
        CAST(coalesce(sum(quantity) FILTER (WHERE in_current), 0) * 1000 AS HUGEINT) AS q1,
        count(*) FILTER (WHERE in_base) AS n0,
        count(*) FILTER (WHERE in_current) AS n1
    FROM lines
    GROUP BY scope, category, cost_centre, supplier_id, item_id, currency
), cells AS (
    -- fx: the current spend less the same document amounts at the cell's own base rate
    -- for that currency (S0 / D0), to the cent; none where the cell had no base spend in it
    SELECT scope, category, cost_centre, supplier_id, item_id,
        sum(s0) AS s0, sum(q0) AS q0, sum(s1) AS s1, sum(q1) AS q1,
        sum(n0) AS n0, sum(n1) AS n1,
        sum(CASE WHEN d0 <> 0 THEN s1 - __restated__ ELSE 0 END) AS fx
    FROM by_currency
    GROUP BY scope, category, cost_centre, supplier_id, item_id
), seen AS (
    -- an item (category, item; lines without an item: one per category) of the whole
    -- scope, and whether it has a line in each period
    SELECT category, item_id, sum(n0) > 0 AS in_base, sum(n1) > 0 AS in_current
    FROM cells
    GROUP BY category, item_id
), units AS (
    SELECT item_id, lower(trim(unit)) AS unit FROM items WHERE trim(unit) <> ''
), classed AS (
    -- new / lost: the item has no line in one period; unquantified: a cell of a continuing
    -- item without net quantity in either period; quantified: the other cells. Quantities
    -- are compared within a unit group: (category, unit), or the item alone without unit
    SELECT c.*,
        CASE WHEN NOT i.in_base THEN 'new'
             WHEN NOT i.in_current THEN 'lost'
             WHEN c.q0 = 0 AND c.q1 = 0 THEN 'unquantified'
             ELSE 'quantified' END AS class,
        coalesce('unit:' || u.unit, 'item:' || c.item_id) AS unit_group
    FROM cells c
    JOIN seen i ON i.category IS NOT DISTINCT FROM c.category
               AND i.item_id IS NOT DISTINCT FROM c.item_id
    LEFT JOIN units u ON u.item_id = c.item_id
), unit_groups AS (
    -- each group's base average price ΣS0 / ΣQ0 over its cells with a base quantity
    SELECT category, unit_group,
        coalesce(sum(s0) FILTER (WHERE q0 <> 0), 0) AS gs0,
        coalesce(sum(q0) FILTER (WHERE q0 <> 0), 0) AS gq0
    FROM classed
    WHERE class = 'quantified'
    GROUP BY category, unit_group
), effects AS (
    SELECT c.*,
        CASE WHEN c.class = 'quantified' AND c.q0 <> 0 AND c.q1 <> 0
             THEN c.s1 - c.fx - __base_price__ ELSE 0 END AS price,
        CASE WHEN c.class = 'quantified' THEN __volume__ ELSE 0 END AS volume
    FROM classed c
    LEFT JOIN unit_groups g ON g.category IS NOT DISTINCT FROM c.category
                           AND g.unit_group IS NOT DISTINCT FROM c.unit_group
), totals AS (
    SELECT scope,
        coalesce(sum(s0), 0) AS base,
        coalesce(sum(price), 0) AS price,
        coalesce(sum(fx) FILTER (WHERE class IN ('quantified', 'unquantified')), 0) AS fx,
        coalesce(sum(volume), 0) AS volume,
        coalesce(sum(s1 - s0 - fx - price - volume) FILTER (WHERE class = 'quantified'), 0)
            AS mix,
        coalesce(sum(s1 - s0 - fx) FILTER (WHERE class = 'unquantified'), 0) AS unquantified,
        coalesce(sum(s1) FILTER (WHERE class = 'new'), 0) AS new,
        -coalesce(sum(s0) FILTER (WHERE class = 'lost'), 0) AS lost,
        coalesce(sum(s1), 0) AS current
    FROM effects
    GROUP BY scope
)
SELECT scope AS scope,
    __base__ AS base, __price__ AS price, __fx__ AS fx, __volume_out__ AS volume,
    __mix__ AS mix, __unquantified__ AS unquantified, __new__ AS new, __lost__ AS lost,
    __current__ AS current
FROM totals
ORDER BY scope NULLS LAST
"""


def _without_scope(bridge: exp.Select) -> exp.Select:
    """The bridge as one row: every `scope` column, grouping and ordering taken out."""
    doomed = [
        node
        for node in bridge.find_all(exp.Alias, exp.Column, exp.Ordered)
        if (isinstance(node, exp.Alias) and node.alias == "scope")
        or (isinstance(node, exp.Ordered) and node.this.name == "scope")
        or (
            isinstance(node, exp.Column)
            and node.name == "scope"
            and isinstance(node.parent, exp.Select | exp.Group)
        )
    ]
    for node in doomed:
        node.pop()
    for clause in list(bridge.find_all(exp.Group, exp.Order)):
        if not clause.expressions:
            clause.pop()
    return bridge


def bridge_query(
    base: tuple[date, date],
    current: tuple[date, date],
    by: str | None,
    filters: dict[str, list[str]],
) -> tuple[str, dict[str, object]]:
    """The bridge SELECT over `spend` and its parameters: one row, or one per value of `by`.

    Columns: [<by>,] base, price, fx, volume, mix, unquantified, new, lost, current, all
    DECIMAL(38,2). The periods are taken as given (kpi.analyses.bridge checks them).
    """
    if by is not None and by not in BRIDGE_DIMENSIONS:
        raise ValueError(f"cannot split the bridge by '{by}'")
    bad = [f for f in filters if f not in BRIDGE_FILTERS]
    if bad:
        raise ValueError(f"cannot filter the bridge on {', '.join(map(repr, bad))}")
    params: dict[str, object] = {
        "base_start": base[0],
        "base_end": base[1],
        "current_start": current[0],
        "current_end": current[1],
    }
    params.update({f: list(filters.get(f) or []) or None for f in BRIDGE_FILTERS})
    bridge = fill(
        _BRIDGE,
        scope=identifiers.column(by) if by else exp.Null(),
        restated=_div_round("d1 * s0", "d0"),
        base_price=_div_round("c.s0 * c.q1", "c.q0"),
        volume=_div_round("(c.q1 - c.q0) * coalesce(g.gs0, 0)", "coalesce(g.gq0, 0)"),
        base=_money("base"),
        price=_money("price"),
        fx=_money("fx"),
        volume_out=_money("volume"),
        mix=_money("mix"),
        unquantified=_money("unquantified"),
        new=_money("new"),
        lost=_money("lost"),
        current=_money("current"),
    )
    bridge = cast(exp.Select, bridge)
    if by:
        bridge.selects[0].set("alias", identifiers.ident(by))
    else:
        bridge = _without_scope(bridge)
    return render(bridge), params
