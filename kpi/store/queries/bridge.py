"""The SQL of the savings analyses: the price–volume–mix bridge between two periods.

Part of the SQL layer (see kpi/sql.py): it runs over the curated `spend` view on a
connection from `Store.read()`. Nothing in it comes from user text: the dimension a bridge
is split by and the filter columns are checked against allow-lists and spelled from this
module's constants; dates and filter values are bound parameters.

Exactness: DuckDB divides DECIMALs in floating point, so the two divisions of the bridge
(p0 = S0 / Q0 and the base average price) are done on whole numbers instead: spend in
cents and quantities in thousandths (DECIMAL(18,2) and DECIMAL(18,3) in the store), as
HUGEINT, with a division rounded half away from zero to the cent. Sums are exact, so the
bridge adds up to the cent and returns DECIMAL(38,2).
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

DIALECT = "duckdb"

# Dimensions a bridge can be split by (one row per value): columns of the `spend` view.
BRIDGE_DIMENSIONS = ("category", "cost_centre", "supplier", "supplier_size", "country")

# Columns a bridge can be filtered on (values are bound parameters).
BRIDGE_FILTERS = (*BRIDGE_DIMENSIONS, "supplier_id", "item_id")

MONEY_COLUMNS = ("base", "price", "volume", "mix", "new", "lost", "current")


def _div_round(n: str, d: str) -> str:
    """SQL: n / d for HUGEINT expressions, rounded half away from zero (0 when d is 0)."""
    q = f"((abs({n}) * 2 + abs({d})) // (2 * abs({d})))"
    return f"(CASE WHEN {d} = 0 THEN 0 WHEN ({n} < 0) <> ({d} < 0) THEN -{q} ELSE {q} END)"


def _money(cents: str) -> str:
    """SQL: a whole number of cents as DECIMAL(38,2), exactly."""
    return f"CAST(CAST({cents} AS DECIMAL(38,0)) * 0.01 AS DECIMAL(38,2))"


_BRIDGE = """
WITH lines AS (
    -- the invoice lines of either period, in the scope; a line whose amount cannot be
    -- converted (no fx rate) is left out, as total_spend leaves it out
    SELECT {scope_select}
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
      {filters}
), keys AS (
    -- one row per key (scope value, item; lines without item: one key per category):
    -- spend in cents and quantity in thousandths, as exact whole numbers
    SELECT {scope_col}
        CAST(coalesce(sum(amount) FILTER (WHERE in_base), 0) * 100 AS HUGEINT) AS s0,
        CAST(coalesce(sum(quantity) FILTER (WHERE in_base), 0) * 1000 AS HUGEINT) AS q0,
        CAST(coalesce(sum(amount) FILTER (WHERE in_current), 0) * 100 AS HUGEINT) AS s1,
        CAST(coalesce(sum(quantity) FILTER (WHERE in_current), 0) * 1000 AS HUGEINT) AS q1
    FROM lines
    GROUP BY {scope_col} item_id, no_item_category
), scoped AS (
    SELECT {scope_col}
        coalesce(sum(s0), 0) AS base,
        coalesce(sum(s1), 0) AS current,
        -- (p1 - p0) x Q1 = S1 - S0 x Q1 / Q0, rounded to the cent per key
        coalesce(sum(s1 - {price_key}) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS price,
        coalesce(sum(s0) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cs0,
        coalesce(sum(s1) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cs1,
        coalesce(sum(q0) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cq0,
        coalesce(sum(q1) FILTER (WHERE q0 <> 0 AND q1 <> 0), 0) AS cq1,
        coalesce(sum(s1) FILTER (WHERE q0 = 0 OR q1 = 0), 0) AS new,
        -coalesce(sum(s0) FILTER (WHERE q0 = 0 OR q1 = 0), 0) AS lost
    FROM keys
    {group_by}
), effects AS (
    -- (sum Q1 - sum Q0) x sum S0 / sum Q0 over the continuing keys, to the cent
    SELECT *, {volume} AS volume FROM scoped
)
SELECT {scope_out}
    {base} AS base, {price} AS price, {volume_out} AS volume, {mix} AS mix,
    {new} AS new, {lost} AS lost, {current} AS current
FROM effects
{order_by}
"""


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
    conds = []
    for i, (column, values) in enumerate(sorted(filters.items())):
        if not values:
            continue
        names = [f"f{i}_{j}" for j in range(len(values))]
        params.update(zip(names, values, strict=True))
        marks = ", ".join(f"${n}" for n in names)
        conds.append(f"AND {exp.column(column).sql(DIALECT)} IN ({marks})")
    scope = exp.column(by).sql(DIALECT) if by else ""
    query = _BRIDGE.format(
        scope_select=f"{scope} AS scope," if by else "",
        scope_col="scope," if by else "",
        scope_out=f"scope AS {scope}," if by else "",
        filters="\n      ".join(conds),
        group_by="GROUP BY scope" if by else "",
        price_key=_div_round("s0 * q1", "q0"),
        volume=_div_round("cs0 * (cq1 - cq0)", "cq0"),
        base=_money("base"),
        price=_money("price"),
        volume_out=_money("volume"),
        mix=_money("cs1 - cs0 - price - volume"),
        new=_money("new"),
        lost=_money("lost"),
        current=_money("current"),
        order_by="ORDER BY scope NULLS LAST" if by else "",
    )
    return query, params
