"""The aggregates of a KPI formula, read from its sqlglot tree: each row's part of every
aggregate, and the formula evaluated again on the parts' totals.

Nothing is written per KPI: `sum(x) FILTER (WHERE c)` gives each row the part CASE WHEN c
THEN x END, `count(*)` 1, `count(x)` 1 where x is set, `avg(x)` a sum part and a count
part; the totals replace the aggregates as literals, so the formula itself says how they
combine. Aggregates whose value is not a sum of the rows' parts (count(distinct), min,
max, median, ...) say why in one sentence. kpi.semantic.explain uses this to reconcile a
KPI value with the rows behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

from kpi.semantic.formula_allowlist import AGGREGATES


@dataclass
class Part:
    """One per-row contribution column: which aggregate of the formula it feeds, the role it
    plays (`sum`, `count`, the sum or count of an `avg`, or `value` when it cannot be
    re-added) and its total over the rows."""

    column: str
    aggregate: str  # the aggregate as the formula writes it
    role: str  # "sum", "count", "sum of avg", "count of avg" or "value"
    total: Decimal | float | int | None = None


@dataclass
class Aggregate:
    """One aggregate of the formula: the node it stands at (its FILTER or window included),
    its function, its FILTER condition, and its parts; `why` when it cannot be re-added."""

    node: exp.Expression
    func: exp.Expression
    condition: exp.Expression | None
    parts: list[tuple[Part, exp.Expression]]
    why: str | None = None


def _when(condition: exp.Expression | None, value: exp.Expression) -> exp.Expression:
    """CASE WHEN condition THEN value END (value itself without a condition)."""
    if condition is None:
        return value
    return exp.Case(ifs=[exp.If(this=exp.Paren(this=condition.copy()), true=value)])


def _and(a: exp.Expression | None, b: exp.Expression) -> exp.Expression:
    return b if a is None else exp.and_(exp.Paren(this=a.copy()), b)


def _not_null(x: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=x.copy(), expression=exp.Null()))


def _name(func: exp.Expression) -> str:
    names = AGGREGATES.get(type(func))
    return names[0] if names else func.sql_name().lower()


def _why_not(func: exp.Expression, name: str) -> str:
    """One sentence: why this aggregate's value is not a sum of the rows' contributions."""
    if isinstance(func.this, exp.Distinct):
        return (
            f"{name}(distinct ...) cannot be re-added from rows: a value found on several "
            "rows counts once, so the rows' parts do not add up to it"
        )
    if isinstance(func, exp.Min | exp.Max):
        return f"{name}(...) cannot be re-added from rows: it is one row's value, not a sum"
    if isinstance(func, exp.Median | exp.PercentileCont | exp.PercentileDisc):
        return f"{name}(...) cannot be re-added from rows: it is the middle of the rows' order"
    return f"{name}(...) cannot be re-added from rows: it is not a sum or a count of them"


def aggregates(formula: exp.Expression) -> list[Aggregate]:
    """The formula's outermost aggregates in reading order, each with its part columns."""
    found: list[Aggregate] = []
    kinds = tuple(AGGREGATES)
    for func in formula.find_all(*kinds):
        if any(isinstance(a, kinds) for a in _ancestors(func, formula)):
            continue  # inside another aggregate: that one is the part
        node, condition, why = func, None, None
        if isinstance(func.parent, exp.Filter) and func.parent.this is func:
            node = func.parent
            where = node.expression
            condition = where.this if isinstance(where, exp.Where) else where
        if isinstance(node.parent, exp.Window):
            node = node.parent
            why = "a window function cannot be re-added from rows"
        found.append(Aggregate(node, func, condition, [], why))
    found.sort(key=lambda a: position(a.node, formula))
    for i, agg in enumerate(found, start=1):
        _add_parts(agg, i)
    return found


def _ancestors(node: exp.Expression, root: exp.Expression) -> list[exp.Expression]:
    out = []
    while node is not root and node.parent is not None:
        node = node.parent
        out.append(node)
    return out


def position(node: exp.Expression, root: exp.Expression) -> int:
    for i, n in enumerate(root.walk()):
        if n is node:
            return i
    return 0


def _add_parts(agg: Aggregate, i: int) -> None:
    func, cond = agg.func, agg.condition
    text = agg.node.sql("duckdb")
    name = _name(func)
    arg = func.this
    column = "part_" + str(i)
    if agg.why is None:
        if isinstance(func, exp.Sum) and not isinstance(arg, exp.Distinct):
            agg.parts.append((Part(column, text, "sum"), _when(cond, arg.copy())))
            return
        if isinstance(func, exp.Count) and (arg is None or isinstance(arg, exp.Star)):
            agg.parts.append((Part(column, text, "count"), _when(cond, exp.Literal.number(1))))
            return
        if isinstance(func, exp.Count) and not isinstance(arg, exp.Distinct):
            counted = _when(_and(cond, _not_null(arg)), exp.Literal.number(1))
            agg.parts.append((Part(column, text, "count"), counted))
            return
        if isinstance(func, exp.CountIf):
            counted = _when(_and(cond, exp.Paren(this=arg.copy())), exp.Literal.number(1))
            agg.parts.append((Part(column, text, "count"), counted))
            return
        if isinstance(func, exp.Avg) and not isinstance(arg, exp.Distinct):
            counted = _when(_and(cond, _not_null(arg)), exp.Literal.number(1))
            agg.parts.append((Part(column + "_sum", text, "sum of avg"), _when(cond, arg.copy())))
            agg.parts.append((Part(column + "_count", text, "count of avg"), counted))
            return
        agg.why = _why_not(func, name)
    shown = arg
    if isinstance(arg, exp.Distinct):  # count(distinct x): the row's x
        shown = arg.expressions[0] if len(arg.expressions) == 1 else None
    if isinstance(shown, exp.Expression) and not isinstance(shown, exp.Star):
        agg.parts.append((Part(column, text, "value"), _when(cond, shown.copy())))
    elif cond is not None:
        agg.parts.append((Part(column, text, "value"), _when(cond, exp.Literal.number(1))))


def formula_columns(formula: exp.Expression) -> list[str]:
    """The view columns the formula reads, in the order written."""
    return list(dict.fromkeys(c.name for c in formula.find_all(exp.Column)))


def literal(value: object) -> exp.Expression:
    """A total as a typed SQL literal: DECIMAL stays exact, a double stays a double."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, Decimal):
        scale = max(0, -value.as_tuple().exponent)  # type: ignore[operator]
        if scale <= 18 and len(value.as_tuple().digits) <= 38:
            dtype = exp.DataType(
                this=exp.DataType.Type.DECIMAL,
                expressions=[
                    exp.DataTypeParam(this=exp.Literal.number(38)),
                    exp.DataTypeParam(this=exp.Literal.number(scale)),
                ],
            )
            return exp.Cast(this=exp.Literal.string(format(value, "f")), to=dtype)
        value = float(value)
    return exp.Cast(this=exp.Literal.string(repr(float(value))), to=exp.DataType.build("DOUBLE"))


def with_totals(formula: exp.Expression, aggs: list[Aggregate]) -> exp.Expression:
    """A copy of the formula with every aggregate replaced by its total as a literal."""
    tree = formula.copy()
    # the copy walks in the same order as the original: map positions to replacements
    positions = {position(a.node, formula): a for a in aggs}
    targets = [(n, positions[i]) for i, n in enumerate(tree.walk()) if i in positions]
    for node, agg in targets:
        totals = [p.total for p, _ in agg.parts]
        if isinstance(agg.func, exp.Avg):
            total_sum, count = totals
            swap = (
                exp.Null()
                if not count
                else exp.Div(this=literal(total_sum), expression=literal(count))
            )
        else:
            swap = literal(totals[0])
        if node is tree:
            return exp.Paren(this=swap)  # the formula is this one aggregate
        node.replace(exp.Paren(this=swap))
    return tree


def unwrap(node: exp.Expression) -> exp.Expression:
    """Through parentheses, coalesce(x, 0) and nullif(x, 0) to what they hold."""
    while isinstance(node, exp.Paren) or (
        isinstance(node, exp.Coalesce | exp.Nullif) and _is_zero(node)
    ):
        node = node.this
    return node


def _is_zero(node: exp.Expression) -> bool:
    other = node.expressions if isinstance(node, exp.Coalesce) else [node.expression]
    return len(other) == 1 and isinstance(other[0], exp.Literal) and other[0].this in ("0", "0.0")
