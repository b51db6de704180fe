"""SQL templates: constant SQL parsed once by sqlglot, its marker names swapped for expressions.

A statement that cannot be constant (a view baking in settings, a column picked from an
allow-list) is written as constant SQL in which a marker such as `__display__` stands where
the varying part goes. `fill` parses the template once and puts sqlglot expressions in the
markers' places, so no statement is ever assembled from strings.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"


@lru_cache(maxsize=128)
def parsed(sql_text: str) -> exp.Expression:
    """A constant statement or expression, parsed once; never modify the cached tree."""
    return sqlglot.parse_one(sql_text, read=DIALECT)


def _marker_name(name: str) -> str | None:
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        return name[2:-2]
    return None


def marker(node: exp.Expression) -> str | None:
    """The marker a node stands for (`__name__` written as a column, a table or a string
    literal, for a place a statement takes no bound parameter), or None."""
    if isinstance(node, exp.Column | exp.Table) and not node.args.get("table"):
        return _marker_name(node.name)
    if isinstance(node, exp.Literal) and node.is_string:
        return _marker_name(node.this)
    return None


def fill(sql_text: str, **values: exp.Expression) -> exp.Expression:
    """The template with each marker `__name__` replaced by a copy of `values[name]`.

    A marker also names an output column (`... AS __name__`): its value must then be a
    column, whose name the output column takes. A marker without a value is an error, so a
    template cannot reach DuckDB half filled.
    """

    def value(name: str) -> exp.Expression:
        if name not in values:
            raise KeyError(f"no value for the SQL template marker __{name}__")
        return values[name]

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Alias):
            name = _marker_name(node.alias)
            if name is not None:
                column = value(name)
                if not isinstance(column, exp.Column):
                    raise TypeError(f"the output column __{name}__ needs a column name")
                node.set("alias", column.this.copy())
            return node
        name = marker(node)
        return node if name is None else value(name).copy()

    return parsed(sql_text).transform(swap)


def literal(value: str | int) -> exp.Literal:
    """A setting (a currency code, a number of days) as a quoted, escaped SQL literal."""
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def render(expression: exp.Expression) -> str:
    """The text DuckDB runs. The tree must be the caller's own (built or copied for this
    statement): it is rendered in place, without the copy sqlglot would otherwise make of
    it, which costs more than the rendering on a statement holding the curated views."""
    return expression.sql(DIALECT, copy=False)
