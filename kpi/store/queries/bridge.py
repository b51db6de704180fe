"""The SQL of the savings analyses: the price–volume–mix bridge between two periods.

Part of the SQL layer: it runs over the curated `spend` view (kpi/store/views.py) on a
connection from `Store.read()`. Nothing in it comes from user text: the statement is a
constant template; the dimension a bridge is split by is checked against an allow-list
and reaches it as a sqlglot node; dates and filter values are bound parameters (a filter
not used is a NULL list).

Exactness: DuckDB divides DECIMALs in floating point, so the two divisions of the bridge
(p0 = S0 / Q0 and the base average price) are done on whole numbers instead: spend in
cents and quantities in thousandths (DECIMAL(18,2) and DECIMAL(18,3) in the store), as
HUGEINT, with a division rounded half away from zero to the cent. Sums are exact, so the
bridge adds up to the cent and returns DECIMAL(38,2).
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

MONEY_COLUMNS = ("base", "price", "volume", "mix", "new", "lost", "current")


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
_BRIDGE = """
WITH lines AS (
    -- the invoice lines of either period, in the scope; a line whose amount cannot be
    -- converted (no fx rate) is left out, as total_spend leaves it out
    SELECT __scope__ AS scope,
           item_id,
           CASE WHEN item_id IS NULL THEN category END AS no_item_category,
           CAST(amount AS DECIMAL(18,2)) AS amount,
           CAST(coalesce(quantity, 0) AS DECIMAL(18,3)) AS quantity,
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
), keys AS (
    -- one row per key (scope value, item; lines without item: one key per category):
    -- spend in cents and quantity in thousandths, as exact whole numbers
    SELECT scope,
        CAST(coalesce(sum(amount) FILTER (WHERE in_base), 0) * 100 AS HUGEINT) AS s0,
        CAST(coalesce(sum(quantity) FILTER (WHERE in_base), 0) * 1000 AS HUGEINT) AS q0,
        CAST(coalesce(sum(amount) FILTER (WHERE in_current), 0) * 100 AS HUGEINT) AS s1,
        CAST(coalesce(sum(quantity) FILTER (WHERE in_current), 0) * 1000 AS HUGEINT) AS q1
    FROM lines
    GROUP BY scope, item_id, no_item_category
), scoped AS (
    SELECT scope,
        coalesce(sum(s0), 0) AS base,
        coalesce(sum(s1), 0) AS current,
        -- (p1 - p0) x Q1 = S1 - S0 x Q1 / Q0, rounded to the cent per key
        coalesce(sum(s1 - __price_key__) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS price,
        coalesce(sum(s0) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cs0,
        coalesce(sum(s1) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cs1,
        coalesce(sum(q0) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cq0,
        coalesce(sum(q1) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cq1,
        coalesce(sum(s1) FILTER (WHERE q0 = 0 OR q1 = 0), 0) AS new,
        -coalesce(sum(s0) FILTER (WHERE q0 = 0 OR q1 = 0), 0) AS lost
    FROM keys
    GROUP BY scope
), effects AS (
    -- (sum Q1 - sum Q0) x sum S0 / sum Q0 over the continuing keys, to the cent
    SELECT *, __volume__ AS volume FROM scoped
)
SELECT scope AS scope,
    __base__ AS base, __price__ AS price, __volume_out__ AS volume, __mix__ AS mix,
    __new__ AS new, __lost__ AS lost, __current__ AS current
FROM effects
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

    Columns: [<by>,] base, price, volume, mix, new, lost, current, all DECIMAL(38,2).
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
        price_key=_div_round("s0 * q1", "q0"),
        volume=_div_round("cs0 * (cq1 - cq0)", "cq0"),
        base=_money("base"),
        price=_money("price"),
        volume_out=_money("volume"),
        mix=_money("cs1 - cs0 - price - volume"),
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
