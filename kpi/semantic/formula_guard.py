"""The formula guard: KPI formulas and row filters are untrusted SQL text, allowed only as one
allow-listed expression over the columns of one view.

The text is tokenized and parsed with sqlglot, never inspected with regexes; the tree is then
walked and every node must be on an allow-list (node types, function names, cast types, date
parts), every column must be a plain name of the view. All problems are collected and raised
together in one `FormulaError`, each saying what is not allowed and where. The tree that
comes back is the one the engine renders (kpi.semantic.compiler.kpi_query), so what was
checked is exactly what runs. The allow-lists and the walk over the tree are in
kpi.semantic.formula_allowlist; this module reads the text and applies the rules of
formulas and of filters.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from kpi.semantic.formula_allowlist import (
    AGGREGATES,
    DIALECT,
    STATEMENTS,
    first_line,
    node_problems,
    snippet,
    spell_as,
    statement_problem,
    typed_name,
    where_at,
    where_node,
)

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


def accepted_tree(text: str, columns: Iterable[str]) -> exp.Expression:
    """The tree `guard_formula(text, columns)` returned for a formula it accepted over these
    columns, without checking it again: parsed the same way, each column spelt as the view
    spells it. Only for text the guard accepted over the same columns (the definitions'
    cache, kpi.semantic.definitions, keyed by the file, the settings and this code); a
    column the view lacks raises KeyError."""
    with _quiet_sqlglot():
        tree = sqlglot.parse(text, read=DIALECT)[0]
    by_lower = {name.lower(): name for name in columns}
    for column in tree.find_all(exp.Column):
        spell_as(column, by_lower[column.name.lower()])
    return tree


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
            f"cannot read the formula ({first_line(exc)}): is a quote or comment left open?"
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
        return None, [*problems, f"not a valid expression ({first_line(exc)})"], False
    if len(statements) != 1 and not any(t.token_type == TokenType.SEMICOLON for t in tokens):
        problems.append(f"found {len(statements)} statements; a formula is one expression")
    problems += [statement_problem(s) for s in statements if isinstance(s, STATEMENTS)]
    if len(statements) != 1 or problems:
        return None, problems, False
    tree = statements[0]
    size = _size_problem(tree)
    if size:
        return None, [size], False
    shape, names = node_problems(tree, text, columns, view)
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
                f"character '{ch}' (U+{ord(ch):04X}) {where_at(text, i)} is not allowed: outside "
                "'quoted text' a formula is plain ASCII (look-alike letters are refused)"
            )
            break
    gap = next(
        (i for i, ch in enumerate(text) if not covered[i] and ch.strip() and ord(ch) < 128), None
    )
    if gap is not None or any(tok.comments for tok in tokens):
        where = where_at(text, gap) if gap is not None else ""
        problems.append(
            f"comments ('--', '/* */') are not allowed in a formula{' ' + where if where else ''}: "
            "write notes in the KPI's description or notes"
        )
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            problems.append(
                f"';' {where_at(text, tok.start)} is not allowed: a formula is one expression, "
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
                    f"parentheses nest more than {MAX_NESTING} deep {where_at(text, tok.start)}: "
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
                f"aggregate {typed_name(agg, text) or agg.sql_name().lower()}() "
                f"{where_node(agg, text)} is inside another aggregate or its FILTER: "
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
                f"column '{col.name}' {where_node(col, text)} is outside an aggregate: "
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
        f"aggregates such as {typed_name(n, text) or n.sql_name().lower()}() "
        f"{where_node(n, text)} are not allowed in a row filter"
        for n in tree.walk()
        if type(n) in AGGREGATES
    ]
    if not _is_predicate(tree, columns or {}):
        problems.append(
            f"a filter must be true or false for each row, e.g. country = 'DE' and "
            f"supplier_size = 'sme'; '{snippet(tree)}' is not"
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
