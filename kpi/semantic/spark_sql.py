"""DuckDB statements as Spark SQL: the compiler's trees transpiled by sqlglot, nothing rewritten
by hand per KPI.

The compiler writes DuckDB's dialect (kpi.semantic.compiler, the views of kpi.store.views);
sqlglot translates most of it to Spark's. What DuckDB means differently from Spark is mended
here once, generically, on the tree before it is written as Spark SQL:

- bound parameters become typed literals (a date a DATE, a text a quoted string), placed by
  sqlglot, so the Spark text never holds a value formatted into it;
- `a - b` of two dates is a number of days in DuckDB, an interval in Spark: DATEDIFF;
- `/` is floating division in DuckDB and `avg` of a DECIMAL a DOUBLE; Spark keeps DECIMAL
  (fewer digits after the point): the dividend and avg's argument are cast to DOUBLE;
- an as-of join (ASOF LEFT JOIN, DuckDB's) becomes a LEFT JOIN on the range from each
  right-hand row's key to the next one's (LEAD), which picks the same single row;
- `INTERVAL (n) MONTH` and `to_months(n)` become Spark's year-month intervals;
- several `unnest(list)` side by side in one SELECT (DuckDB zips them) become one
  `inline(arrays_zip(...))`, Spark allowing one generator per SELECT;
- a list parameter is an ARRAY literal;
- `AS [NOT] MATERIALIZED` on a CTE (a DuckDB planner hint) is dropped.

Anything sqlglot cannot write for Spark raises TranspileError, which says what and where:
the caller reports it, never computes it elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.generators.spark import SparkGenerator
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

READ = "duckdb"


class _NestedCteGenerator(SparkGenerator):
    """Spark's generator keeping a WITH inside a view's subquery where it is: sqlglot moves
    them all to the top for Spark 2, where two views' CTEs of one name (`lines`) then
    clash; Spark 3 and later read nested CTEs."""

    EXPRESSIONS_WITHOUT_NESTED_CTES: set = set()


class SparkNested(Spark):
    """Spark SQL as this engine writes it (see _NestedCteGenerator)."""

    Generator = _NestedCteGenerator


WRITE = SparkNested

Schema = Mapping[str, Mapping[str, str]]  # relation -> column -> DuckDB type


class TranspileError(ValueError):
    """A statement (or a part of it) sqlglot cannot write as Spark SQL."""


_BIND = "kpi_bind_"
_BOUND = re.compile(r"\$" + _BIND + r"(\d+)\b")


def literal_of(value: object) -> exp.Expression:
    """A bound parameter's value as a typed SQL literal."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, datetime):
        return exp.cast(
            exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("TIMESTAMP")
        )
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))
    if isinstance(value, float):  # bound as a DOUBLE by DuckDB (`1.5` is a DECIMAL in Spark)
        return exp.cast(exp.Literal.string(repr(value)), exp.DataType.build("DOUBLE"))
    if isinstance(value, int | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):  # a list parameter (`$category::VARCHAR[]`)
        return exp.Array(expressions=[literal_of(v) for v in value])
    raise TranspileError(f"a parameter of type {type(value).__name__} has no SQL literal")


def bind(tree: exp.Expression, params: Sequence[object]) -> exp.Expression:
    """`tree` (the caller's own) with its `?` placeholders, in the order of the statement's
    text, replaced by the parameters' literals. The order is read off the rendered text, as
    a tree's walk need not follow it (a WITH clause is rendered first, stored last)."""
    holders = [p for p in tree.find_all(exp.Placeholder) if not p.args.get("this")]
    if len(holders) != len(params):
        raise TranspileError(
            f"the statement has {len(holders)} parameters, {len(params)} values were given"
        )
    for i, holder in enumerate(holders):
        holder.set("this", _BIND + str(i))
    order = [int(n) for n in _BOUND.findall(tree.sql(READ))]
    for position, i in enumerate(order):
        holders[i].replace(literal_of(params[position]))
    return tree


def bind_named(tree: exp.Expression, params: Mapping[str, object]) -> exp.Expression:
    """`tree` (the caller's own) with each `$name` parameter replaced by its value's literal;
    a name without a value is refused."""
    for holder in list(tree.find_all(exp.Placeholder)):
        name = holder.args.get("this")
        if not name:
            continue
        if name not in params:
            raise TranspileError(f"no value for the parameter ${name}")
        holder.replace(literal_of(params[name]))
    return tree


def _strip_materialized(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _is_type(node: exp.Expression, *kinds: exp.DataType.Type) -> bool:
    kind = node.type
    return kind is not None and kind.this in kinds


_DATES = (exp.DataType.Type.DATE,)
_DECIMAL = (exp.DataType.Type.DECIMAL,)


def _days_between(node: exp.Expression) -> exp.Expression:
    """date - date: DATEDIFF (days), as DuckDB answers it."""
    if (
        isinstance(node, exp.Sub)
        and _is_type(node.this, *_DATES)
        and _is_type(node.expression, *_DATES)
    ):
        return exp.DateDiff(
            this=node.this.copy(), expression=node.expression.copy(), unit=exp.var("DAY")
        )
    return node


def _double(value: exp.Expression) -> exp.Expression:
    return exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))


def _floating(node: exp.Expression) -> exp.Expression:
    """DuckDB's `/` and avg of a DECIMAL are DOUBLE: the same in Spark."""
    divides = isinstance(node, exp.Div) and not _is_type(node.this, exp.DataType.Type.DOUBLE)
    if divides or (isinstance(node, exp.Avg) and _is_type(node.this, *_DECIMAL)):
        node.set("this", _double(node.this))
    return node


def _months(node: exp.Expression) -> exp.Expression:
    """INTERVAL (n) MONTH and to_months(n): make_ym_interval(0, n), Spark's month interval."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_months":
        return exp.func("make_ym_interval", exp.Literal.number(0), node.expressions[0].copy())
    if isinstance(node, exp.Interval):
        unit = node.args.get("unit")
        amount = node.this
        if unit is not None and unit.name.upper() == "MONTH" and isinstance(amount, exp.Paren):
            return exp.func("make_ym_interval", exp.Literal.number(0), amount.this.copy())
    return node


def _asof(select: exp.Expression) -> exp.Expression:
    """Each ASOF LEFT JOIN of a SELECT as a LEFT JOIN on [key, next key): the right side gets
    the next row's key (LEAD over the equality columns), so a left row meets the one right
    row with the greatest key not after its own, as DuckDB's as-of join picks."""
    if not isinstance(select, exp.Select):
        return select
    for join in select.args.get("joins") or []:
        if (join.args.get("method") or "").upper() != "ASOF":
            continue
        right = join.this
        alias = right.alias_or_name
        conditions = (
            list(join.args["on"].flatten())
            if isinstance(join.args["on"], exp.And)
            else [join.args["on"]]
        )
        equal = [c for c in conditions if isinstance(c, exp.EQ)]
        ranges = [c for c in conditions if not isinstance(c, exp.EQ)]
        if len(ranges) != 1 or not isinstance(ranges[0], exp.GTE | exp.GT | exp.LTE | exp.LT):
            raise TranspileError(f"an as-of join on {alias} needs one inequality: {join.sql(READ)}")
        cond = ranges[0]
        # normalise to `left >= right.key` (or >)
        if isinstance(cond, exp.LTE | exp.LT):
            left_side, key = cond.expression, cond.this
            strict = isinstance(cond, exp.LT)
        else:
            left_side, key = cond.this, cond.expression
            strict = isinstance(cond, exp.GT)
        if not (isinstance(key, exp.Column) and key.table == alias):
            raise TranspileError(
                f"an as-of join's key must be a column of {alias}: {cond.sql(READ)}"
            )
        partition = []
        for c in equal:
            for side in (c.this, c.expression):
                if isinstance(side, exp.Column) and side.table == alias:
                    partition.append(exp.column(side.name))
        following = exp.Window(
            this=exp.func("lead", exp.column(key.name)),
            partition_by=partition,
            order=exp.Order(expressions=[exp.Ordered(this=exp.column(key.name))]),
        )
        source = right.copy()
        source.set("alias", None)
        body = exp.select(exp.Star(), following.as_("_kpi_asof_next")).from_(source)
        nxt = exp.column("_kpi_asof_next", table=alias)
        within = (
            exp.LTE(this=left_side.copy(), expression=nxt)
            if strict
            else exp.LT(this=left_side.copy(), expression=nxt)
        )
        upper = exp.or_(exp.Is(this=nxt.copy(), expression=exp.null()), within)
        join.set(
            "this", exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        )
        join.set("method", None)
        join.set("on", exp.and_(*[c.copy() for c in conditions], exp.Paren(this=upper)))
    return select


_WIDE_INTEGERS = (exp.DataType.Type.INT128, exp.DataType.Type.UINT128)


def _wide_integers(node: exp.Expression) -> exp.Expression:
    """HUGEINT (128 bits, DuckDB's) has no Spark type: DECIMAL(38, 0) holds its digits."""
    if isinstance(node, exp.DataType) and node.this in _WIDE_INTEGERS:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def _zipped_unnests(select: exp.Expression) -> exp.Expression:
    """Several `unnest(list) AS name` in one SELECT list: DuckDB unnests them side by side
    (the shorter padded with NULL), Spark allows one generator per SELECT: one
    `inline(arrays_zip(lists...)) AS (names...)` in the first one's place, which pairs them
    the same way."""
    if not isinstance(select, exp.Select):
        return select
    unnests = [
        p
        for p in select.expressions
        if isinstance(p, exp.Alias) and isinstance(p.this, exp.Explode)
    ]
    if len(unnests) < 2:
        return select
    zipped = exp.Aliases(
        this=exp.func("inline", exp.func("arrays_zip", *[u.this.this.copy() for u in unnests])),
        expressions=[exp.to_identifier(u.alias) for u in unnests],
    )
    projections = []
    for p in select.expressions:
        if p is unnests[0]:
            projections.append(zipped)
        elif not any(p is u for u in unnests):
            projections.append(p)
    select.set("expressions", projections)
    return select


def _outer_filters(select: exp.Expression) -> exp.Expression:
    """An aggregate's FILTER reading the outer row inside a LATERAL subquery (Spark refuses an
    aggregate mixing outer and local columns): the condition is computed per row in a
    subquery under it, `cond AS _kpi_outer_N`, and the FILTER reads that column."""
    if not isinstance(select, exp.Lateral):
        return select
    inner = select.this.this if isinstance(select.this, exp.Subquery) else select.this
    if not isinstance(inner, exp.Select) or inner.args.get("joins"):
        return select
    source = inner.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        return select
    alias = source.this.alias_or_name
    moved: list[exp.Expression] = []
    for flt in list(inner.find_all(exp.Filter)):
        cond = flt.expression
        if isinstance(cond, exp.Where):
            cond = cond.this
        if not any(c.table and c.table != alias for c in cond.find_all(exp.Column)):
            continue
        name = "_kpi_outer_" + str(len(moved))
        moved.append(cond.copy().as_(name))
        cond.replace(exp.column(name, table=alias))
    if not moved:
        return select
    rows = exp.select(exp.column(exp.Star(), table=alias), *moved).from_(source.this.copy())
    where = inner.args.get("where")
    if where is not None:
        rows.set("where", where.copy())
        inner.set("where", None)
    source.set("this", exp.Subquery(this=rows, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    return select


def _decorrelate(select: exp.Expression) -> exp.Expression:
    """`LEFT JOIN LATERAL (SELECT <aggregates> FROM t g WHERE g.k = o.k ...) r ON TRUE` as a
    join on the outer rows' distinct values: (SELECT those values, the aggregates FROM them
    LEFT JOIN t g ON the equalities GROUP BY them) joined back null-safely on them. Spark
    runs a correlated lateral aggregate row by row in effect (a minute for ten thousand
    orders); this is one grouped join. Left as it is (and to _outer_filters) unless every
    correlation is an equality and no plain COUNT(*) would count an unmatched row as 1."""
    if not isinstance(select, exp.Select):
        return select
    outer_from = select.args.get("from_")
    if outer_from is None:
        return select
    relations = {outer_from.this.alias_or_name: outer_from.this}
    relations.update({j.this.alias_or_name: j.this for j in select.args.get("joins") or []})
    for join in select.args.get("joins") or []:
        lateral = join.this
        on = join.args.get("on")
        if not (
            isinstance(lateral, exp.Lateral)
            and isinstance(lateral.this, exp.Subquery)
            and (join.side or "").upper() == "LEFT"
            and isinstance(on, exp.Boolean)
            and on.this is True
        ):
            continue
        inner = lateral.this.this
        source = inner.args.get("from_") if isinstance(inner, exp.Select) else None
        if source is None or inner.args.get("joins") or inner.args.get("group"):
            continue
        if not isinstance(source.this, exp.Table):
            continue
        local = source.this.alias_or_name
        if not all(e.find(exp.AggFunc) for e in inner.expressions):
            continue
        if any(
            isinstance(c.this, exp.Star) and not isinstance(c.parent, exp.Filter)
            for c in inner.find_all(exp.Count)
        ):
            continue
        outer_columns = [
            c for c in inner.find_all(exp.Column) if c.table and c.table not in (local,)
        ]
        owners = {c.table for c in outer_columns}
        if not outer_columns or len(owners) != 1 or next(iter(owners)) not in relations:
            continue
        owner = next(iter(owners))
        where = inner.args.get("where")
        if where is None:
            conjuncts = []
        elif isinstance(where.this, exp.And):
            conjuncts = list(where.this.flatten())
        else:
            conjuncts = [where.this]
        keys: dict[str, str] = {}  # outer column name -> its column in the domain
        for c in outer_columns:
            keys.setdefault(c.name, "_kpi_o" + str(len(keys)))
        correlated = [c for c in conjuncts if any(x.table == owner for x in c.find_all(exp.Column))]
        if not all(
            isinstance(c, exp.EQ)
            and {x.table for x in (c.this, c.expression) if isinstance(x, exp.Column)}
            == {owner, local}
            for c in correlated
        ):
            continue
        domain = exp.select(
            *[exp.column(name, table=owner).as_(key) for name, key in keys.items()]
        ).distinct()
        domain = domain.from_(relations[owner].copy())
        rewritten = inner.copy()
        for c in list(rewritten.find_all(exp.Column)):
            if c.table == owner:
                c.replace(exp.column(keys[c.name], table="_kpi_d"))
        new_where = rewritten.args.get("where")
        rewritten.set("where", None)
        rewritten.set(
            "from_",
            exp.From(
                this=exp.Subquery(
                    this=domain, alias=exp.TableAlias(this=exp.to_identifier("_kpi_d"))
                )
            ),
        )
        rewritten = rewritten.join(
            source.this.copy(),
            on=new_where.this if new_where is not None else exp.true(),
            join_type="LEFT",
            copy=False,
        )
        rewritten.set(
            "expressions",
            [exp.column(key, table="_kpi_d") for key in keys.values()] + rewritten.expressions,
        )
        rewritten = rewritten.group_by(
            *[exp.column(key, table="_kpi_d") for key in keys.values()], copy=False
        )
        alias = lateral.args.get("alias")
        join.set("this", exp.Subquery(this=rewritten, alias=alias.copy() if alias else None))
        r = alias.this.name if alias else "_kpi_r"
        join.set(
            "on",
            exp.and_(
                *[
                    exp.NullSafeEQ(
                        this=exp.column(key, table=r), expression=exp.column(name, table=owner)
                    )
                    for name, key in keys.items()
                ]
            ),
        )
    return select


def _renamed(tree: exp.Expression, names: Mapping[str, str]) -> exp.Expression:
    """`tree` reading each relation of `names` (not a CTE of the statement) by its new name."""
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name in names and table.name not in ctes:
            table.set("this", exp.to_identifier(names[table.name]))
    return tree


def inline_ctes(tree: exp.Expression) -> exp.Expression:
    """`tree` (the caller's own) with its top-level WITH clause's CTEs written as subqueries
    where they are read. Spark reads a cached temporary view from its cache only in a
    statement without a WITH clause (with one, it computes the view again from the lake):
    inlined, a statement reads the cached views. Spark inlines CTEs itself (a CTE is not
    kept as a result), so the rows are the same. Left as it is when a nested WITH reuses a
    CTE's name."""
    with_ = tree.args.get("with_")
    if with_ is None or with_.args.get("recursive"):
        return tree
    ctes = list(with_.expressions)
    names = {cte.alias for cte in ctes}
    nested = [w for w in tree.find_all(exp.With) if w is not with_]
    if any(cte.alias in names for w in nested for cte in w.expressions):
        return tree
    tree.set("with_", None)
    for i, cte in enumerate(ctes):
        for target in [tree, *[later.this for later in ctes[i + 1 :]]]:
            for table in list(target.find_all(exp.Table)):
                if table.args.get("db") or table.name != cte.alias:
                    continue
                alias = table.args.get("alias")
                alias = alias.copy() if alias else exp.TableAlias(this=exp.to_identifier(cte.alias))
                table.replace(exp.Subquery(this=cte.this.copy(), alias=alias))
    return tree


def spark_sql(
    statement: str | exp.Expression,
    params: Sequence[object] = (),
    schema: Schema | None = None,
    names: Mapping[str, str] | None = None,
    inline: bool = False,
) -> str:
    """A DuckDB statement (text or tree) with its bound parameters as Spark SQL text.

    `schema`: the columns and DuckDB types of the tables and views it reads (expands
    `* EXCLUDE` and types the expressions whose meaning differs between the engines).
    `names`: the relations it reads under another name in Spark (a view's temporary view).
    `inline`: its WITH clause's CTEs written where they are read (inline_ctes)."""
    try:
        tree = (
            sqlglot.parse_one(statement, read=READ)
            if isinstance(statement, str)
            else statement.copy()
        )
        tree = bind(tree, params)
        tree = tree.transform(_strip_materialized, copy=False)
        tree = qualify(
            tree,
            schema=dict(schema or {}),
            dialect=READ,
            expand_stars=True,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
        tree = annotate_types(tree, schema=dict(schema or {}), dialect=READ)
        tree = tree.transform(_days_between, copy=False)
        tree = tree.transform(_floating, copy=False)
        tree = tree.transform(_months, copy=False)
        tree = tree.transform(_wide_integers, copy=False)
        for select in list(tree.find_all(exp.Select)):
            _decorrelate(select)
        for lateral in list(tree.find_all(exp.Lateral)):
            _outer_filters(lateral)
        for select in list(tree.find_all(exp.Select)):
            _asof(select)
            _zipped_unnests(select)
        tree = _renamed(tree, names or {})
        if inline:
            tree = inline_ctes(tree)
        return tree.sql(WRITE, unsupported_level=ErrorLevel.RAISE)
    except TranspileError:
        raise
    except SqlglotError as exc:
        raise TranspileError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
