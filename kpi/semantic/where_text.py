"""The sidebar's filters as the filter texts a KPI's rows are explained with
(`category = 'IT'`, `cost_centre IN ('CC1', 'CC2')`), built as sqlglot expressions so a
value is always one quoted literal, whatever it holds.

The app hands these texts to kpi.semantic.explain, which checks them with the formula
guard like any typed filter. Only the filters the KPI's view can honour are turned into
text, the rule the engine applies when it computes the figure shown beside them: a filter
on a column the view lacks is named as ignored, never dropped in silence, so the rows add
up to the value the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from kpi.core.settings import Settings
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.views import view_catalog

DIALECT = "duckdb"
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def filter_text(column: str, values: Sequence[str]) -> str:
    """One filter as text: `column = 'v'` for one value, `column IN ('a', 'b')` for several
    (values sorted and each once, so the same choice reads the same). A column must be a
    plain lower-case name (the views' own); a value may hold anything, quotes included."""
    if not _PLAIN_NAME.fullmatch(column):
        raise ValueError(f"'{column}' is not a column name a filter can use")
    chosen = sorted({str(v) for v in values})
    if not chosen:
        raise ValueError(f"the filter on {column} has no value")
    name = exp.column(column)
    literals = [exp.Literal.string(v) for v in chosen]
    if len(literals) == 1:
        node: exp.Expression = exp.EQ(this=name, expression=literals[0])
    else:
        node = exp.In(this=name, expressions=literals)
    return node.sql(dialect=DIALECT)


@dataclass(frozen=True)
class KpiWhere:
    """The filter texts that narrow one KPI's rows, and the filters its view cannot honour."""

    texts: tuple[str, ...]
    ignored: tuple[str, ...]


def where_texts(
    filters: Mapping[str, Sequence[str]], columns: Collection[str] | None = None
) -> KpiWhere:
    """`filters` (column → chosen values; empty ones skipped) as filter texts, keeping only
    the columns in `columns` (None: all) and naming the others as ignored."""
    texts, ignored = [], []
    for column in sorted(filters):
        values = list(filters[column] or [])
        if not values:
            continue
        if columns is not None and column not in columns:
            ignored.append(column)
            continue
        texts.append(filter_text(column, values))
    return KpiWhere(tuple(texts), tuple(ignored))


def kpi_where(
    kpi: KpiDefinition, filters: Mapping[str, Sequence[str]], settings: Settings
) -> KpiWhere:
    """The filter texts for `kpi`'s rows under the sidebar's `filters`: those its view's
    columns honour, as the engine does when it computes the value (kpi.semantic.engine)."""
    return where_texts(filters, view_catalog(settings)[kpi.source])


def where_filters(texts: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Filter texts read back as choices (column → values) where each is one column equal to,
    or in, string literals (what `filter_text` writes), so a person reads them in words;
    any other text is returned as it is, to be shown as written."""
    chosen: dict[str, list[str]] = {}
    rest: list[str] = []
    for text in texts:
        try:
            node = sqlglot.parse_one(text, dialect=DIALECT)
        except SqlglotError:
            rest.append(text)
            continue
        values = _literal_values(node)
        if values is None:
            rest.append(text)
            continue
        column, found = values
        chosen[column] = sorted({*chosen.get(column, []), *found})
    return chosen, rest


def _literal_values(node: exp.Expression) -> tuple[str, list[str]] | None:
    """(column, values) of `column = 'v'` or `column IN ('a', 'b')`; None for anything else."""
    if isinstance(node, exp.EQ):
        column, literals = node.this, [node.expression]
    elif isinstance(node, exp.In) and node.expressions and not node.args.get("query"):
        column, literals = node.this, list(node.expressions)
    else:
        return None
    if not isinstance(column, exp.Column) or column.table:
        return None
    if not all(isinstance(v, exp.Literal) and v.is_string for v in literals):
        return None
    return column.name, [v.this for v in literals]
