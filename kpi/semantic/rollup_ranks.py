"""Rollup tables of ranked measures recomputed from the any-grain rollup's sums, not lines.

A view that ranks (kpi.store.view_reads.RANKED_BY: spend's suppliers within their category
and reported period) stores its ranked measures once per grain (month, fiscal quarter,
fiscal year). Recomputing some periods of such a table from the invoice lines reads every
line of those periods (of the load's categories): about a second at scale 50. The view's
any-grain rollup holds, per month, category, supplier (`by`, a stored dimension for this)
and other dimensions, the sums of the converted, rounded amounts: a supplier's spend in a
period is the sum of its months' sums there (DECIMAL: exact), and from those the ranks and
shares are the view's own expressions over the same values (kpi.store.view_sql_spend,
`ranks`). Each of the table's rows (month and its dimensions) is then the any table's rows
of that month and those dimension values, each weighed by its supplier's rank or share:
`sum(amount) filter (where rank <= 5)` is the sum of the any rows' `sum(amount)` whose
supplier ranks in the top five. The any table is brought up to date first in the refresh
(it sorts before the grain tables), so this reads it as it is now, in the rollups file.

Exactness: a measure over DECIMAL values is the build's to the cent. A measure multiplied
by a share (`sum(amount * share)`, DOUBLE) is the any rows' sums times the share, added up:
the same value as the build's sum of line products up to the last bits of a float sum (the
order it adds in: two builds from scratch differ likewise; at scale 50, in three rows in
four by up to 1e-14 of the value, and these sums from a build's by up to 4e-14). A DOUBLE
cannot be made bit for bit a build's without adding the lines' products in its order.
A measure that is not a sum of an any-table measure, filtered by or multiplied by rank,
share and the any table's dimensions only, is not derived: the table is then recomputed
from the lines (today's path).
"""

from __future__ import annotations

import duckdb
from sqlglot import exp

from kpi.core.settings import Settings
from kpi.semantic.measures import measure_column
from kpi.semantic.rollup_tables import (
    _ROWS,
    ANY_GRAIN,
    MONTH,
    RollupSpec,
    _delete_months,
    _hidden,
    put_rows,
)
from kpi.store.template import fill, render
from kpi.store.view_reads import RANKED_BY, Ranked
from kpi.store.views import Ranges, between_any, period_key

# The any table's rows of the periods (and categories) recomputed, each with its period's
# key; the suppliers' sums per (category, period); their ranks and shares as the view makes
# them (same expressions over the same DECIMAL sums: the same ranks, ties and shares).
_RANKED = """
WITH p AS (
    SELECT *, __period__ AS _period, __within__ AS _w, __by__ AS _b
    FROM __source__ WHERE __rows__
), totals AS (
    SELECT _w AS _within, _period, _b AS _by, sum(__amount__) AS _spend
    FROM p GROUP BY 1, 2, 3
), ranks AS (
    SELECT _within, _period, _by,
           row_number() OVER (PARTITION BY _within, _period
                              ORDER BY _spend DESC, _by) AS _rank,
           CAST(_spend AS DOUBLE) / nullif(sum(_spend) OVER (
               PARTITION BY _within, _period), 0) AS _share
    FROM totals
)
SELECT 1 FROM p LEFT JOIN ranks r ON r._within IS NOT DISTINCT FROM p._w
 AND r._period = p._period AND r._by = p._b
"""
# (the SELECT list and GROUP BY are the table's: set on the filled tree)


def source_spec(spec: RollupSpec, specs: list[RollupSpec]) -> RollupSpec | None:
    """The any-grain table a ranked table's rows may come from: the same view and period
    column, holding the rank's `by` and every dimension of the table, and written before it
    in the refresh (`specs` in the order _write_file takes them)."""
    ranked = RANKED_BY.get((spec.view, spec.period_column))
    if ranked is None or spec.body_grain == ANY_GRAIN:
        return None
    for s in specs[: specs.index(spec)]:  # brought up to date before it (plan sorts "any" first)
        if (s.view, s.period_column, s.body_grain) == (spec.view, spec.period_column, ANY_GRAIN):
            dims = {*s.dims}
            if {ranked.by, ranked.within, *spec.dims} <= dims:
                return s
    return None


def _conjuncts(cond: exp.Expression | None) -> list[exp.Expression]:
    if cond is None:
        return []
    return list(cond.flatten()) if isinstance(cond, exp.And) else [cond]


def _names(node: exp.Expression) -> set[str]:
    return {c.name for c in node.find_all(exp.Column)}


def _outer(node: exp.Expression, ranked: Ranked) -> exp.Expression:
    """`node` over the joined rows: the rank and share the suppliers', the rest the any
    table's row (its dimensions)."""
    swap = {ranked.rank: ("_rank", "r"), ranked.share: ("_share", "r")}

    def one(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column):
            name, table = swap.get(n.name, (n.name, "p"))
            return exp.column(name, table=table)
        return n

    return node.copy().transform(one)


def _derived(
    measure_build: exp.Expression, ranked: Ranked, source: RollupSpec
) -> exp.Expression | None:
    """The measure over the any table's rows joined to the ranks, or None when it is not
    a sum of one of the any table's sums, filtered by and multiplied by rank, share and
    dimensions only (then only the lines give it)."""
    grain = {ranked.rank, ranked.share}
    rowwise = grain | set(source.dims)  # constant over one any row's lines
    build = measure_build
    cond = build.expression.this if isinstance(build, exp.Filter) else None
    func = build.this if isinstance(build, exp.Filter) else build
    if not isinstance(func, exp.Sum) or isinstance(func.this, exp.Distinct):
        return None
    inner, outer = [], []
    for c in _conjuncts(cond):
        names = _names(c)
        if names and names <= rowwise:
            outer.append(c)
        elif names & grain:
            return None  # a rank beside a line's own column: not per any row
        else:
            inner.append(c)
    arg, factor = func.this, None
    if _names(arg) & grain:
        if not isinstance(arg, exp.Mul):
            return None
        for side, other in ((arg.this, arg.expression), (arg.expression, arg.this)):
            if _names(side) and _names(side) <= rowwise and not _names(other) & grain:
                arg, factor = other, side
                break
        else:
            return None
    summed: exp.Expression = exp.Sum(this=arg.copy())
    if inner:
        summed = exp.Filter(
            this=summed, expression=exp.Where(this=exp.and_(*[c.copy() for c in inner]))
        )
    column = measure_column(summed)
    held = {m.column: m for m in source.measures}
    if column not in held or held[column].again is not exp.Sum:
        return None
    value: exp.Expression = exp.column(column, table="p")
    if factor is not None:
        value = exp.Mul(this=value, expression=_outer(factor, ranked))
    out: exp.Expression = exp.Sum(this=value)
    if outer:
        where = exp.and_(*[_outer(c, ranked) for c in outer])
        out = exp.Filter(this=out, expression=exp.Where(this=where))
    return out


def rank_query(
    spec: RollupSpec,
    source: RollupSpec,
    ranges: Ranges,
    categories: tuple[str, ...] | None,
    settings: Settings,
) -> exp.Select | None:
    """The table's rows of `ranges` (whole periods of its grain) and `categories` (None:
    all), from the any table `source`; None when a measure cannot be derived (_derived)."""
    ranked = RANKED_BY[(spec.view, spec.period_column)]
    amount = measure_column(exp.Sum(this=exp.column(ranked.amount)))
    if amount not in {m.column for m in source.measures}:
        return None
    if [h.column for h in _hidden(spec)] != [_ROWS]:
        return None
    measures = []
    for m in spec.measures:
        derived = _derived(m.build, ranked, source)
        if derived is None:
            return None
        measures.append(derived.as_(m.column))
    rows = between_any(exp.column(MONTH), ranges)
    if categories is not None:
        cats = exp.Array(expressions=[exp.Literal.string(c) for c in categories])
        rows = exp.and_(rows, exp.func("list_contains", cats, exp.column(ranked.within)))
    query = fill(
        _RANKED,
        period=period_key(exp.column(MONTH), spec.body_grain, settings.fiscal),
        source=exp.to_table(source.name),
        rows=rows,
        within=exp.column(ranked.within),
        by=exp.column(ranked.by),
        amount=exp.column(amount),
    )
    assert isinstance(query, exp.Select)
    keys = [exp.column(k, table="p").as_(k) for k in (MONTH, *spec.dims)]
    n = exp.Sum(this=exp.column(_ROWS, table="p")).as_(_ROWS)
    query.set("expressions", [*keys, *measures, n])
    return query.group_by(*[exp.Literal.number(i + 1) for i in range(len(keys))])


def _columns(out: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    found = out.execute(
        "SELECT column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND table_name = ?",
        [table],
    ).fetchall()
    return {c for (c,) in found}


def rank_rows(
    out: duckdb.DuckDBPyConnection,
    spec: RollupSpec,
    specs: list[RollupSpec],
    ranges: Ranges,
    categories: tuple[str, ...] | None,
    settings: Settings,
) -> bool:
    """Replace the table's rows of `ranges` (and `categories`) in the rollups file `out` by
    those computed from its any table there (brought up to date before it); False (nothing
    changed: recompute from the lines) when the table is not ranked, the any table lacks
    what it needs (built before it held `by`) or a measure cannot be derived."""
    source = source_spec(spec, specs)
    if source is None:
        return False
    query = rank_query(spec, source, ranges, categories, settings)
    if query is None:
        return False
    held = _columns(out, source.name)
    if not {MONTH, *source.dims, _ROWS, *(m.column for m in source.measures)} <= held:
        return False
    try:
        rows = out.sql(render(query)).to_arrow_table()
    except duckdb.Error:
        return False
    out.execute(_delete_months(spec.name, ranges, categories))
    put_rows(out, spec.name, rows, create=False)
    return True
