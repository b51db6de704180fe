"""A KPI formula split into measures that can be stored pre-aggregated, and the expression
that combines them again: what lets the rollups answer a KPI at any period and filter.

A measure is an aggregate whose value over a group of rows can be computed from its values
over parts of that group: a sum (filtered or not) is the sum of the parts' sums, a count
the sum of their counts, a minimum the minimum of their minimums; an average is a sum over
a count. So a rollup stores each measure per month and dimension values, and the KPI over
a quarter, a year or a filtered slice is its formula with each aggregate replaced by the
re-aggregation of the stored column: `sum(amount) filter (where preferred) / nullif(
sum(amount), 0)` becomes `sum(m_1) / nullif(sum(m_2), 0)` over the rollup's rows. A formula
holding an aggregate that cannot be re-aggregated (count distinct, median, a quantile, a
deviation, a window) is computed live, and `why` says so in one sentence.

Read with sqlglot from the formula tree the guard accepted: nothing is written per KPI.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlglot import exp

from kpi.semantic.formula_parts import aggregates, position
from kpi.store.template import render

# How a stored measure is aggregated again over rollup rows: a sum's and a count's parts add
# up, a minimum's and a maximum's parts are compared, bool_and/bool_or likewise.
_REAGGREGATE: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.Sum: exp.Sum,
    exp.Count: exp.Sum,
    exp.CountIf: exp.Sum,
    exp.Min: exp.Min,
    exp.Max: exp.Max,
    exp.LogicalAnd: exp.LogicalAnd,
    exp.LogicalOr: exp.LogicalOr,
}


@dataclass(frozen=True)
class StoredMeasure:
    """One column of a rollup: the aggregate computed on the view's rows (`build`), the
    column's name (from the aggregate's own text, so two KPIs with the same aggregate share
    it) and how it is aggregated again (`again`: sum, min, max, bool_and or bool_or)."""

    column: str
    build: exp.Expression
    again: type[exp.Expression]

    @property
    def sql(self) -> str:
        return render(self.build)


@dataclass(frozen=True)
class Split:
    """A formula split for the rollups: its stored measures and the formula over them
    (`combine`, aggregates of rollup columns), or `why` it is computed live."""

    measures: tuple[StoredMeasure, ...]
    combine: exp.Expression | None
    why: str | None = None

    @property
    def rollable(self) -> bool:
        return self.why is None


def measure_column(build: exp.Expression) -> str:
    """The rollup column of an aggregate: `m_` and a digest of its SQL text (stable across
    runs and processes, the same for the same aggregate in any KPI)."""
    return "m_" + hashlib.sha256(render(build).encode()).hexdigest()[:16]


def _stored(node: exp.Expression, again: type[exp.Expression]) -> StoredMeasure:
    build = node.copy()
    return StoredMeasure(measure_column(build), build, again)


def _again(measure: StoredMeasure) -> exp.Expression:
    return measure.again(this=exp.column(measure.column))


# Splitting is pure and asked for again and again (each request, each KPI): kept per tree,
# the tree held beside its split so that an id is never reused while cached; and per SQL
# text, as the app's cached definitions are new copies on every run, so that the formulas
# over the rollups stay the same trees (and the compiler's cache of their SQL keeps hitting).
_SPLITS: dict[int, tuple[exp.Expression, Split]] = {}
_BY_TEXT: dict[str, Split] = {}


def split(formula: exp.Expression) -> Split:
    """The formula's stored measures and the formula over them (see the module docstring)."""
    hit = _SPLITS.get(id(formula))
    if hit is not None and hit[0] is formula:
        return hit[1]
    text = formula.sql(dialect="duckdb")
    result = _BY_TEXT.get(text)
    if result is None:
        result = _split(formula)
        if len(_BY_TEXT) > 4096:
            _BY_TEXT.clear()
        _BY_TEXT[text] = result
    if len(_SPLITS) > 4096:
        _SPLITS.clear()
    _SPLITS[id(formula)] = (formula, result)
    return result


def _split(formula: exp.Expression) -> Split:
    found = aggregates(formula)
    if not found:
        return Split((), None, "it has no aggregate to store")
    stored: list[StoredMeasure] = []
    swaps: dict[int, exp.Expression] = {}
    for agg in found:
        if agg.why is not None and type(agg.func) not in _REAGGREGATE:
            return Split((), None, agg.why.replace("re-added from rows", "pre-aggregated"))
        if isinstance(agg.node, exp.Window):
            return Split((), None, "a window function cannot be pre-aggregated")
        func = agg.func
        if isinstance(func.this, exp.Distinct):
            name = func.sql_name().lower()
            return Split(
                (),
                None,
                f"{name}(distinct ...) cannot be pre-aggregated: a value found in several "
                "months or slices counts once",
            )
        if isinstance(func, exp.Avg):
            total = exp.Sum(this=func.this.copy())
            count = exp.Count(this=func.this.copy())
            if agg.condition is not None:
                where = exp.Where(this=agg.condition.copy())
                total = exp.Filter(this=total, expression=where)
                count = exp.Filter(this=count, expression=where.copy())
            s, c = _stored(total, exp.Sum), _stored(count, exp.Sum)
            stored += [s, c]
            swaps[position(agg.node, formula)] = exp.Div(
                this=_again(s),
                expression=exp.Nullif(this=_again(c), expression=exp.Literal.number(0)),
            )
            continue
        again = _REAGGREGATE.get(type(func))
        if again is None:
            return Split((), None, agg.why or f"{func.sql_name().lower()}(...) is not additive")
        measure = _stored(agg.node, again)
        stored.append(measure)
        swaps[position(agg.node, formula)] = _again(measure)
    combine = formula.copy()
    targets = [(n, swaps[i]) for i, n in enumerate(combine.walk()) if i in swaps]
    for node, swap in targets:
        if node is combine:
            combine = exp.Paren(this=swap)
            break
        node.replace(exp.Paren(this=swap))
    names = {m.column for m in stored}
    loose = [c.name for c in combine.find_all(exp.Column) if c.name not in names]
    if loose:
        return Split((), None, f"it reads {loose[0]} outside an aggregate")
    unique = tuple({m.column: m for m in stored}.values())
    return Split(unique, combine)
