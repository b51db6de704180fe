"""The formula guard: KPI formulas and row filters are untrusted SQL text, allowed only as one
allow-listed expression over the columns of one view.

The text is tokenized and parsed with sqlglot, never inspected with regexes; the tree is then
walked and every node must be on an allow-list (node types, function names, cast types, date
parts), every column must be a plain name of the view. All problems are collected and raised
together in one `FormulaError`, each saying what is not allowed and where. The tree that
comes back is the one the engine renders (kpi.semantic.compiler.kpi_query), so what was
checked is exactly what runs.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Callable, Iterator, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

DIALECT = "duckdb"

MAX_LENGTH = 2_000  # characters of formula text
MAX_NESTING = 20  # parentheses inside each other
MAX_DEPTH = 60  # levels of the parsed tree
MAX_NODES = 600  # nodes of the parsed tree


class FormulaError(ValueError):
    """A formula or filter the guard refuses; `problems` lists every reason, each a sentence."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


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
_STATEMENTS: tuple[type[exp.Expression], ...] = tuple(
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


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------


def guard_formula(
    text: str,
    columns: Mapping[str, str] | None,
    *,
    require_aggregate: bool = True,
    view: str | None = None,
) -> exp.Expression:
    """The parsed tree of a KPI formula over `columns` ({name: sql_type}), or FormulaError.

    With `require_aggregate` (the default) the formula must aggregate its rows: at least one
    aggregate, and no column outside one. `view` only names the view in messages. `columns`
    None means the view is not known: everything but the column names is checked.
    """
    tree, problems, sound = _parse_and_check(text, columns, view)
    if tree is not None and sound:
        problems += _aggregate_problems(tree, text, require_aggregate)
    return _result(tree, problems)


def guard_filter(
    text: str, columns: Mapping[str, str] | None, *, view: str | None = None
) -> exp.Expression:
    """The parsed tree of a boolean row filter (no aggregates), e.g. `country = 'DE'`."""
    tree, problems, sound = _parse_and_check(text, columns, view)
    if tree is not None and sound:
        problems += _filter_problems(tree, text, columns)
    return _result(tree, problems)


def _result(tree: exp.Expression | None, problems: list[str]) -> exp.Expression:
    problems = list(dict.fromkeys(problems))  # each problem once, in the order found
    if problems or tree is None:
        problems = problems or ["the formula could not be read"]
        raise FormulaError("; ".join(problems), problems)
    return tree


# ---------------------------------------------------------------------------------------
# Reading: length, characters, comments, statements, parse
# ---------------------------------------------------------------------------------------


def _parse_and_check(
    text: object, columns: Mapping[str, str] | None, view: str | None
) -> tuple[exp.Expression | None, list[str], bool]:
    """The parsed tree (None if there is no single expression), the problems found, and
    whether the tree's shape is sound (only column names are wrong, if anything)."""
    if not isinstance(text, str):
        return None, [f"a formula is text, got {type(text).__name__} {text!r}"], False
    if not text.strip():
        return None, ["the formula is empty: write an expression such as sum(amount)"], False
    if len(text) > MAX_LENGTH:
        size = f"the formula is {len(text):,} characters long; the limit is {MAX_LENGTH:,}"
        return None, [size], False
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    except (TokenError, ValueError) as exc:
        unreadable = (
            f"cannot read the formula ({_first_line(exc)}): is a quote or comment left open?"
        )
        return None, [unreadable], False
    problems = _lexical_problems(text, tokens)
    too_deep = _nesting_problem(text, tokens)
    if too_deep:
        return None, [*problems, too_deep], False  # not handed to the recursive parser
    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except ParseError as exc:
        return None, [*problems, _parse_error(exc)], False
    except RecursionError:
        return None, [*problems, "the formula is nested too deeply"], False
    except Exception as exc:  # sqlglot met text it has no rule for: refuse, never crash
        return None, [*problems, f"not a valid expression ({_first_line(exc)})"], False
    if len(statements) != 1 and not any(t.token_type == TokenType.SEMICOLON for t in tokens):
        problems.append(f"found {len(statements)} statements; a formula is one expression")
    problems += [_statement_problem(s) for s in statements if isinstance(s, _STATEMENTS)]
    if len(statements) != 1 or problems:
        return None, problems, False
    tree = statements[0]
    size = _size_problem(tree)
    if size:
        return None, [size], False
    shape, names = _node_problems(tree, text, columns, view)
    return tree, shape + names, not shape


def _lexical_problems(text: str, tokens: list[Token]) -> list[str]:
    """Characters outside quoted text must be plain ASCII; no comments; no ';'."""
    problems: list[str] = []
    in_string = [False] * len(text)
    covered = [False] * len(text)
    for tok in tokens:
        for i in range(tok.start, min(tok.end + 1, len(text))):
            covered[i] = True
            in_string[i] = tok.token_type == TokenType.STRING
    for i, ch in enumerate(text):
        if (ord(ch) > 127 or (ord(ch) < 32 and ch not in "\t\r\n")) and not in_string[i]:
            problems.append(
                f"character '{ch}' (U+{ord(ch):04X}) {_where(text, i)} is not allowed: outside "
                "'quoted text' a formula is plain ASCII (look-alike letters are refused)"
            )
            break
    gap = next(
        (i for i, ch in enumerate(text) if not covered[i] and ch.strip() and ord(ch) < 128), None
    )
    if gap is not None or any(tok.comments for tok in tokens):
        where = _where(text, gap) if gap is not None else ""
        problems.append(
            f"comments ('--', '/* */') are not allowed in a formula{' ' + where if where else ''}: "
            "write notes in the KPI's description or notes"
        )
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            problems.append(
                f"';' {_where(text, tok.start)} is not allowed: a formula is one expression, "
                "not a list of statements"
            )
            break
    return problems


def _nesting_problem(text: str, tokens: list[Token]) -> str | None:
    depth = 0
    for tok in tokens:
        if tok.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE):
            depth += 1
            if depth > MAX_NESTING:
                return (
                    f"parentheses nest more than {MAX_NESTING} deep {_where(text, tok.start)}: "
                    "simplify the formula"
                )
        elif tok.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE):
            depth -= 1
    return None


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to a raw Command; the guard reports instead."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse_error(exc: ParseError) -> str:
    err = exc.errors[0] if exc.errors else {}
    near = str(err.get("highlight") or "").strip()
    desc = str(err.get("description") or "unexpected text").split(" / ")[-1].lower()
    return f"not a valid expression: {desc}" + (f" near '{near}'" if near else "")


def _statement_problem(node: exp.Expression) -> str:
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


def _size_problem(tree: exp.Expression) -> str | None:
    nodes, deepest = 0, 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes, deepest = nodes + 1, max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    if nodes > MAX_NODES:
        return f"the formula has {nodes} parts; the limit is {MAX_NODES}: simplify it"
    if deepest > MAX_DEPTH:
        return f"the formula is nested {deepest} levels deep; the limit is {MAX_DEPTH}"
    return None


# ---------------------------------------------------------------------------------------
# The walk: every node must be allowed where it stands
# ---------------------------------------------------------------------------------------


def _node_problems(
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
    where = _where_node(node, text)
    if node.args.get("table") or node.args.get("db") or node.args.get("catalog"):
        return [
            f"qualified column '{node.sql(DIALECT)}' {where} is not allowed: write the column "
            f"name alone ('{node.name}'); a formula reads only the columns of its view"
        ]
    if not isinstance(node.this, exp.Identifier):
        return [f"'{_snippet(node)}' {where} is not allowed: name one column"]
    if columns is None:
        return []  # the view is unknown (reported by the caller): names cannot be checked
    canonical = by_lower.get(node.name.lower())
    if canonical is None:
        in_view = f" in view '{view}'" if view else ""
        return [f"unknown column '{node.name}'{in_view} {where}{_suggest(node.name, columns)}"]
    if node.name != canonical:  # the catalogue's spelling, keeping the position for messages
        identifier = exp.to_identifier(canonical)
        identifier.meta.update(node.this.meta)
        node.set("this", identifier)
    return []


def _suggest(name: str, choices: Mapping[str, str] | list[str]) -> str:
    names = list(choices)
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
    if close:
        return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
    return " (columns: " + ", ".join(sorted(names)) + ")"


def _refusal(node: exp.Expression, text: str) -> str:
    """The sentence for a node type that is not on the allow-list."""
    where = _where_node(node, text)
    if isinstance(node, _SUBQUERY):
        return (
            f"a subquery {where} is not allowed (SELECT, EXISTS, IN (SELECT ...), FROM): "
            "a formula reads only the columns of its own view"
        )
    if isinstance(node, exp.Func) and not isinstance(node, exp.Window):
        return _function_refusal(node, text)
    if isinstance(node, _STATEMENTS):
        return _statement_problem(node) + f" ({where})"
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
    return f"'{_snippet(node)}' {where} is not allowed in a formula"


def _function_refusal(node: exp.Expression, text: str) -> str:
    name = _typed_name(node, text) or (
        node.name if isinstance(node, exp.Anonymous) else node.sql_name().lower()
    )
    return (
        f"function {name.lower()}() {_where_node(node, text)} is not allowed: a formula may "
        f"call only {', '.join(ALLOWED_FUNCTIONS)}"
    )


def _typed_name(node: exp.Expression, text: str) -> str | None:
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
    typed = _typed_name(node, text)
    if typed is not None and typed.isidentifier() and typed.lower() not in names:
        return [_function_refusal(node, text)]
    return []


def _check_cast(node: exp.Expression, text: str) -> list[str]:
    to = node.args.get("to")
    if not isinstance(to, exp.DataType) or to.this not in _CAST_TYPES:
        shown = to.sql(DIALECT) if isinstance(to, exp.Expression) else "?"
        return [
            f"cast to {shown} {_where_node(node, text)} is not allowed: cast only to boolean, "
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
        return [f"type '{_snippet(node)}' {_where_node(node, text)} is not allowed"]
    return [f"'{_snippet(node)}' {_where_node(node, text)} is not allowed"]


def _check_identifier(node: exp.Expression, text: str) -> list[str]:
    ok = isinstance(node.parent, exp.Column) and node.arg_key == "this"
    return (
        []
        if ok
        else [f"'{_snippet(node.parent or node)}' {_where_node(node, text)} is not allowed"]
    )


def _check_var(node: exp.Expression, text: str) -> list[str]:
    placed = (isinstance(node.parent, exp.Extract) and node.arg_key == "this") or (
        isinstance(node.parent, (exp.DateDiff, exp.Interval)) and node.arg_key == "unit"
    )
    where = _where_node(node.parent or node, text)
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
    return [f"INTERVAL {_where_node(node, text)} takes a whole number, e.g. INTERVAL 30 DAY"]


def _check_star(node: exp.Expression, text: str) -> list[str]:
    ok = isinstance(node.parent, exp.Count) and node.arg_key == "this"
    return [] if ok else [_refusal(node, text)]


def _check_distinct(node: exp.Expression, text: str) -> list[str]:
    where = _where_node(node, text)
    if not (type(node.parent) in AGGREGATES and node.arg_key == "this"):
        return [f"DISTINCT {where} is allowed only inside an aggregate, e.g. count(distinct x)"]
    if node.args.get("on") or len(node.expressions) != 1:
        return [f"DISTINCT {where} takes exactly one expression, e.g. count(distinct supplier)"]
    return []


def _check_filter(node: exp.Expression, text: str) -> list[str]:
    if type(node.this) in AGGREGATES and isinstance(node.expression, exp.Where):
        return []
    return [f"FILTER (WHERE ...) {_where_node(node, text)} must follow an aggregate, e.g. sum(x)"]


def _check_where(node: exp.Expression, text: str) -> list[str]:
    ok = isinstance(node.parent, exp.Filter) and node.arg_key == "expression"
    return [] if ok else [f"WHERE {_where_node(node, text)} is allowed only in FILTER (WHERE ...)"]


def _is_constant(node: exp.Expression) -> bool:
    if type(node) in _LITERALS:
        return True
    if isinstance(node, (exp.Neg, exp.Paren)):
        return _is_constant(node.this)
    return type(node) is exp.Cast and isinstance(node.this, exp.Literal)


def _check_in(node: exp.Expression, text: str) -> list[str]:
    where = _where_node(node, text)
    if any(node.args.get(k) for k in ("query", "unnest", "field")):
        return [f"IN {where} takes a list of values, e.g. country IN ('DE', 'FR')"]
    if not node.expressions or not all(_is_constant(e) for e in node.expressions):
        return [f"IN {where} takes a list of literal values, e.g. country IN ('DE', 'FR')"]
    return []


def _check_is(node: exp.Expression, text: str) -> list[str]:
    if isinstance(node.expression, (exp.Null, exp.Boolean)):
        return []
    return [f"IS {_where_node(node, text)} takes NULL, TRUE or FALSE"]


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
# Aggregation rules
# ---------------------------------------------------------------------------------------


def _in_aggregate(node: exp.Expression) -> bool:
    """Whether `node` is inside an aggregate's arguments or its FILTER (WHERE ...)."""
    child, parent = node, node.parent
    while parent is not None:
        if type(parent) in AGGREGATES:
            return True
        if isinstance(parent, exp.Filter) and child.arg_key == "expression":
            return True
        child, parent = parent, parent.parent
    return False


def _aggregate_problems(tree: exp.Expression, text: str, require: bool) -> list[str]:
    problems: list[str] = []
    aggregates = [n for n in tree.walk() if type(n) in AGGREGATES]
    for agg in aggregates:
        if _in_aggregate(agg):
            problems.append(
                f"aggregate {_typed_name(agg, text) or agg.sql_name().lower()}() "
                f"{_where_node(agg, text)} is inside another aggregate or its FILTER: "
                "aggregates cannot be nested"
            )
    if not require:
        return problems
    if not aggregates:
        problems.append(
            "a KPI formula must aggregate its rows, e.g. sum(amount), count(*) or avg(days_to_pay)"
        )
    for col in tree.find_all(exp.Column):
        if not _in_aggregate(col):
            problems.append(
                f"column '{col.name}' {_where_node(col, text)} is outside an aggregate: "
                f"wrap it, e.g. sum({col.name}) or max({col.name})"
            )
    return problems


_PREDICATES = (
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Boolean,
)  # fmt: skip


def _filter_problems(
    tree: exp.Expression, text: str, columns: Mapping[str, str] | None
) -> list[str]:
    problems = [
        f"aggregates such as {_typed_name(n, text) or n.sql_name().lower()}() "
        f"{_where_node(n, text)} are not allowed in a row filter"
        for n in tree.walk()
        if type(n) in AGGREGATES
    ]
    if not _is_predicate(tree, columns or {}):
        problems.append(
            f"a filter must be true or false for each row, e.g. country = 'DE' and "
            f"supplier_size = 'sme'; '{_snippet(tree)}' is not"
        )
    return problems


def _is_predicate(node: exp.Expression, columns: Mapping[str, str]) -> bool:
    if isinstance(node, (exp.And, exp.Or)):
        return _is_predicate(node.this, columns) and _is_predicate(node.expression, columns)
    if isinstance(node, (exp.Not, exp.Paren)):
        return _is_predicate(node.this, columns)
    if isinstance(node, exp.Column):
        return str(columns.get(node.name, "")).upper() == "BOOLEAN"
    return isinstance(node, (*_PREDICATES, exp.Case, exp.If, exp.Coalesce))


# ---------------------------------------------------------------------------------------
# Locations and snippets for messages
# ---------------------------------------------------------------------------------------


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"at character {col}" if "\n" not in text else f"at line {line}, character {col}"


def _where_node(node: exp.Expression, text: str) -> str:
    starts = [
        n.meta["start"]
        for n in node.walk()
        if isinstance(n.meta.get("start"), int) and n.meta["start"] < len(text)
    ]
    return _where(text, min(starts)) if starts else f"in '{_snippet(node)}'"


def _snippet(node: exp.Expression, limit: int = 40) -> str:
    try:
        sql = node.sql(DIALECT)
    except Exception:  # a fragment sqlglot cannot render on its own
        sql = type(node).__name__
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
