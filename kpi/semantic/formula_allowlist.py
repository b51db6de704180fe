"""What a formula may contain: the allow-lists (node types, function names, cast types, date
parts) and the walk that holds every node of a parsed formula or filter to them, with the
locations and snippets its messages quote."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping

from sqlglot import exp

DIALECT = "duckdb"


# ---------------------------------------------------------------------------------------
# Allow-lists
# ---------------------------------------------------------------------------------------

# Aggregate functions: node type -> names a person may type for it.
AGGREGATES: dict[type[exp.Expression], tuple[str, ...]] = {
    exp.Sum: ("sum",),
    exp.Count: ("count",),
    exp.Avg: ("avg",),
    exp.Min: ("min",),
    exp.Max: ("max",),
    exp.Median: ("median",),
    exp.PercentileCont: ("quantile_cont",),
    exp.PercentileDisc: ("quantile_disc",),
    exp.Stddev: ("stddev",),
    exp.StddevSamp: ("stddev_samp",),
    exp.StddevPop: ("stddev_pop",),
    exp.Variance: ("variance", "var_samp"),
    exp.VariancePop: ("var_pop",),
    exp.LogicalAnd: ("bool_and",),
    exp.LogicalOr: ("bool_or",),
    exp.CountIf: ("count_if",),
}

# Scalar functions. Case, Cast and Extract are written with keywords, not a function name.
SCALARS: dict[type[exp.Expression], tuple[str, ...]] = {
    exp.Abs: ("abs",),
    exp.Round: ("round",),
    exp.Floor: ("floor",),
    exp.Ceil: ("ceil", "ceiling"),
    exp.Sign: ("sign",),
    exp.Coalesce: ("coalesce", "ifnull"),
    exp.Nullif: ("nullif",),
    exp.Greatest: ("greatest",),
    exp.Least: ("least",),
    exp.DateDiff: ("date_diff", "datediff"),
    exp.Year: ("year",),
    exp.Quarter: ("quarter",),
    exp.Month: ("month",),
    exp.Day: ("day",),
    exp.Extract: ("extract",),
    exp.Case: ("case",),
    exp.If: ("if", "iif"),
    exp.Cast: ("cast",),
    exp.TryCast: ("try_cast",),
}

ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(
    sorted({n for names in (*AGGREGATES.values(), *SCALARS.values()) for n in names})
)

_OPERATORS: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Paren,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
        exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    }
)  # fmt: skip

_LITERALS: frozenset[type[exp.Expression]] = frozenset({exp.Literal, exp.Boolean, exp.Null})

# Types a CAST may name; anything nested (STRUCT, LIST, MAP ...) or user-defined is refused.
_CAST_TYPES = frozenset(
    {
        exp.DataType.Type.BOOLEAN, exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT,
        exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.FLOAT,
        exp.DataType.Type.DOUBLE, exp.DataType.Type.DECIMAL, exp.DataType.Type.VARCHAR,
        exp.DataType.Type.TEXT, exp.DataType.Type.DATE,
    }
)  # fmt: skip

# Date parts allowed in extract(...), date_diff('...', ...) and INTERVAL.
_DATE_PARTS = frozenset(
    {"YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "DOW", "ISODOW", "DOY"}
    | {"YEARS", "QUARTERS", "MONTHS", "WEEKS", "DAYS"}
)

# Root nodes that are statements rather than expressions (named for the message).
STATEMENTS: tuple[type[exp.Expression], ...] = tuple(
    cls
    for name in (
        "Query", "DDL", "DML", "Command", "Set", "Pragma", "Use", "Install", "Attach",
        "Detach", "Copy", "Describe", "Summarize", "Transaction", "Commit", "Rollback",
        "Values", "Create", "Drop", "Alter", "Insert", "Update", "Delete", "Merge", "Show",
        "Analyze", "Grant", "Revoke", "Kill", "Export", "Load", "Cache", "Uncache",
    )
    if isinstance(cls := getattr(exp, name, None), type)
)  # fmt: skip

_SUBQUERY = (exp.Query, exp.Subquery, exp.Exists, exp.Values, exp.From, exp.Table, exp.With)


def statement_problem(node: exp.Expression) -> str:
    """Why a SQL statement cannot stand where a formula's expression belongs."""
    if isinstance(node, exp.Command):
        name = str(node.this).upper()
    elif isinstance(node, exp.Query):
        name = "WITH ... SELECT" if node.args.get("with_") or node.args.get("with") else "SELECT"
    else:
        name = type(node).__name__.upper()
    return (
        f"{name} is a SQL statement; a formula is a single expression over the view's "
        "columns, such as sum(amount)"
    )


# ---------------------------------------------------------------------------------------
# The walk: every node must be allowed where it stands
# ---------------------------------------------------------------------------------------


def node_problems(
    tree: exp.Expression, text: str, columns: Mapping[str, str] | None, view: str | None
) -> tuple[list[str], list[str]]:
    """Problems of shape (node types, functions, placement) and of column names, in the
    order they appear; a refused node's inside is not searched further."""
    by_lower = {name.lower(): name for name in columns or {}}
    shape: list[str] = []
    names: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Column):
            names += _column_problems(node, text, columns, by_lower, view)
            continue
        check = _CHECKS.get(type(node))
        if check is None:
            shape.append(_refusal(node, text))
            continue
        shape += check(node, text)
        if isinstance(node, exp.DataType):
            continue  # its parameters were checked with it
        stack.extend(reversed(list(node.iter_expressions())))
    return shape, names


def _column_problems(
    node: exp.Column,
    text: str,
    columns: Mapping[str, str] | None,
    by_lower: Mapping[str, str],
    view: str | None,
) -> list[str]:
    where = where_node(node, text)
    if node.args.get("table") or node.args.get("db") or node.args.get("catalog"):
        return [
            f"qualified column '{node.sql(DIALECT)}' {where} is not allowed: write the column "
            f"name alone ('{node.name}'); a formula reads only the columns of its view"
        ]
    if not isinstance(node.this, exp.Identifier):
        return [f"'{snippet(node)}' {where} is not allowed: name one column"]
    if columns is None:
        return []  # the view is unknown (reported by the caller): names cannot be checked
    canonical = by_lower.get(node.name.lower())
    if canonical is None:
        in_view = f" in view '{view}'" if view else ""
        return [f"unknown column '{node.name}'{in_view} {where}{_suggest(node.name, columns)}"]
    spell_as(node, canonical)
    return []


def spell_as(node: exp.Column, canonical: str) -> None:
    """Give a column the catalogue's spelling of its name, keeping its position for messages
    (the tree the guard returns names each column as its view does)."""
    if node.name != canonical:
        identifier = exp.to_identifier(canonical)
        identifier.meta.update(node.this.meta)
        node.set("this", identifier)


def _suggest(name: str, choices: Mapping[str, str] | list[str]) -> str:
    names = list(choices)
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
    if close:
        return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
    return " (columns: " + ", ".join(sorted(names)) + ")"


def _refusal(node: exp.Expression, text: str) -> str:
    """The sentence for a node type that is not on the allow-list."""
    where = where_node(node, text)
    if isinstance(node, _SUBQUERY):
        return (
            f"a subquery {where} is not allowed (SELECT, EXISTS, IN (SELECT ...), FROM): "
            "a formula reads only the columns of its own view"
        )
    if isinstance(node, exp.Func) and not isinstance(node, exp.Window):
        return _function_refusal(node, text)
    if isinstance(node, STATEMENTS):
        return statement_problem(node) + f" ({where})"
    if isinstance(node, exp.Window):
        return (
            f"window functions (OVER ...) {where} are not allowed: the engine groups by "
            "period and dimensions itself"
        )
    if isinstance(node, exp.Lambda):
        return f"lambda functions ('x -> ...') {where} are not allowed"
    if isinstance(node, (exp.Placeholder, exp.Parameter, exp.SessionParameter)):
        return f"parameters ('?', '$name') {where} are not allowed"
    if isinstance(node, exp.Star):
        return f"'*' {where} is allowed only in count(*)"
    if isinstance(node, exp.Alias):
        return f"aliases ('AS name') {where} are not allowed: the KPI's id names the result"
    return f"'{snippet(node)}' {where} is not allowed in a formula"


def _function_refusal(node: exp.Expression, text: str) -> str:
    name = typed_name(node, text) or (
        node.name if isinstance(node, exp.Anonymous) else node.sql_name().lower()
    )
    return (
        f"function {name.lower()}() {where_node(node, text)} is not allowed: a formula may "
        f"call only {', '.join(ALLOWED_FUNCTIONS)}"
    )


def typed_name(node: exp.Expression, text: str) -> str | None:
    """The function name as the person typed it (sqlglot keeps its token span in meta)."""
    meta = node.meta
    start, end = meta.get("start"), meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end < len(text):
        return text[start : end + 1]
    return None


def _ok(node: exp.Expression, text: str) -> list[str]:
    return []


def _check_function(node: exp.Expression, text: str) -> list[str]:
    names = AGGREGATES.get(type(node)) or SCALARS.get(type(node)) or ()
    typed = typed_name(node, text)
    if typed is not None and typed.isidentifier() and typed.lower() not in names:
        return [_function_refusal(node, text)]
    return []


def _check_cast(node: exp.Expression, text: str) -> list[str]:
    to = node.args.get("to")
    if not isinstance(to, exp.DataType) or to.this not in _CAST_TYPES:
        shown = to.sql(DIALECT) if isinstance(to, exp.Expression) else "?"
        return [
            f"cast to {shown} {where_node(node, text)} is not allowed: cast only to boolean, "
            "integer, bigint, double, decimal(p, s), varchar or date"
        ]
    return _check_function(node, text)


def _check_data_type(node: exp.Expression, text: str) -> list[str]:
    placed = isinstance(node.parent, (exp.Cast, exp.TryCast)) and node.arg_key == "to"
    params = all(
        isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal)
        for p in node.expressions
    )
    if placed and (params or node.this not in _CAST_TYPES):
        return []  # a cast to a refused type is reported by the cast
    if placed:
        return [f"type '{snippet(node)}' {where_node(node, text)} is not allowed"]
    return [f"'{snippet(node)}' {where_node(node, text)} is not allowed"]


def _check_identifier(node: exp.Expression, text: str) -> list[str]:
    ok = isinstance(node.parent, exp.Column) and node.arg_key == "this"
    return (
        [] if ok else [f"'{snippet(node.parent or node)}' {where_node(node, text)} is not allowed"]
    )


def _check_var(node: exp.Expression, text: str) -> list[str]:
    placed = (isinstance(node.parent, exp.Extract) and node.arg_key == "this") or (
        isinstance(node.parent, (exp.DateDiff, exp.Interval)) and node.arg_key == "unit"
    )
    where = where_node(node.parent or node, text)
    if placed and node.name.upper() in _DATE_PARTS:
        return []
    if placed:
        parts = sorted(p.lower() for p in _DATE_PARTS if not p.endswith("S"))
        return [
            f"date part '{node.name.lower()}' {where} is not allowed: use one of {', '.join(parts)}"
        ]
    return [f"'{node.name}' {where} is not allowed here"]


def _check_interval(node: exp.Expression, text: str) -> list[str]:
    value = node.this
    if isinstance(value, exp.Literal) and value.name.strip().isdigit():
        return []
    return [f"INTERVAL {where_node(node, text)} takes a whole number, e.g. INTERVAL 30 DAY"]


def _check_star(node: exp.Expression, text: str) -> list[str]:
    ok = isinstance(node.parent, exp.Count) and node.arg_key == "this"
    return [] if ok else [_refusal(node, text)]


def _check_distinct(node: exp.Expression, text: str) -> list[str]:
    where = where_node(node, text)
    if not (type(node.parent) in AGGREGATES and node.arg_key == "this"):
        return [f"DISTINCT {where} is allowed only inside an aggregate, e.g. count(distinct x)"]
    if node.args.get("on") or len(node.expressions) != 1:
        return [f"DISTINCT {where} takes exactly one expression, e.g. count(distinct supplier)"]
    return []


def _check_filter(node: exp.Expression, text: str) -> list[str]:
    if type(node.this) in AGGREGATES and isinstance(node.expression, exp.Where):
        return []
    return [f"FILTER (WHERE ...) {where_node(node, text)} must follow an aggregate, e.g. sum(x)"]


def _check_where(node: exp.Expression, text: str) -> list[str]:
    ok = isinstance(node.parent, exp.Filter) and node.arg_key == "expression"
    return [] if ok else [f"WHERE {where_node(node, text)} is allowed only in FILTER (WHERE ...)"]


def _is_constant(node: exp.Expression) -> bool:
    if type(node) in _LITERALS:
        return True
    if isinstance(node, (exp.Neg, exp.Paren)):
        return _is_constant(node.this)
    return type(node) is exp.Cast and isinstance(node.this, exp.Literal)


def _check_in(node: exp.Expression, text: str) -> list[str]:
    where = where_node(node, text)
    if any(node.args.get(k) for k in ("query", "unnest", "field")):
        return [f"IN {where} takes a list of values, e.g. country IN ('DE', 'FR')"]
    if not node.expressions or not all(_is_constant(e) for e in node.expressions):
        return [f"IN {where} takes a list of literal values, e.g. country IN ('DE', 'FR')"]
    return []


def _check_is(node: exp.Expression, text: str) -> list[str]:
    if isinstance(node.expression, (exp.Null, exp.Boolean)):
        return []
    return [f"IS {where_node(node, text)} takes NULL, TRUE or FALSE"]


def _check_like(node: exp.Expression, text: str) -> list[str]:
    return [] if not node.args.get("escape") else ["LIKE ... ESCAPE is not allowed"]


_CHECKS: dict[type[exp.Expression], Callable[[exp.Expression, str], list[str]]] = {
    **{t: _ok for t in _OPERATORS | _LITERALS},
    **{t: _check_function for t in (*AGGREGATES, *SCALARS)},
    exp.Cast: _check_cast,
    exp.TryCast: _check_cast,
    exp.DataType: _check_data_type,
    exp.Identifier: _check_identifier,
    exp.Var: _check_var,
    exp.Interval: _check_interval,
    exp.Star: _check_star,
    exp.Distinct: _check_distinct,
    exp.Filter: _check_filter,
    exp.Where: _check_where,
    exp.In: _check_in,
    exp.Is: _check_is,
    exp.Like: _check_like,
    exp.ILike: _check_like,
}


# ---------------------------------------------------------------------------------------
# Locations and snippets for messages
# ---------------------------------------------------------------------------------------


def where_at(text: str, offset: int) -> str:
    """'at character C' (or 'at line L, character C') for an offset in the text."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"at character {col}" if "\n" not in text else f"at line {line}, character {col}"


def where_node(node: exp.Expression, text: str) -> str:
    """Where a node starts in the text, or its snippet when it has no position."""
    starts = [
        n.meta["start"]
        for n in node.walk()
        if isinstance(n.meta.get("start"), int) and n.meta["start"] < len(text)
    ]
    return where_at(text, min(starts)) if starts else f"in '{snippet(node)}'"


def snippet(node: exp.Expression, limit: int = 40) -> str:
    """A node's SQL, cut to `limit` characters."""
    try:
        sql = node.sql(DIALECT)
    except Exception:  # a fragment sqlglot cannot render on its own
        sql = type(node).__name__
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, for a short reason."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
