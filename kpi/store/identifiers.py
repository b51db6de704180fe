"""The one quoting helper: identifiers in dynamic SQL come from the schema, never from user
text, and reach a statement as sqlglot nodes (quoted), not spliced into a string.

Dynamic SQL is built as sqlglot expressions from these nodes and rendered with `render`;
everything else is constant SQL with bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from kpi.store.schema import LINEAGE_NAMES, TABLES

DIALECT = "duckdb"

# Names of our own making that statements may use besides the canonical tables and their
# columns: staging tables, probes and attached databases. Add a name here, never inline.
INTERNAL_NAMES: frozenset[str] = frozenset(
    {"_kpi_batch", "_kpi_row", "demo_frame", "_kpi_spend_base_probe", "store"}
)


def _known() -> frozenset[str]:
    names = set(INTERNAL_NAMES) | set(TABLES) | set(LINEAGE_NAMES)
    for table in TABLES.values():
        names.update(c.name for c in table.columns)
    return frozenset(names)


_KNOWN = _known()


class UnknownIdentifier(ValueError):
    """A statement asked for a name the schema does not have (a bug, not user input)."""


def register(names: Iterable[str]) -> None:
    """Let further schema-defined names (curated views and their columns) be quoted."""
    global _KNOWN
    _KNOWN = _KNOWN | frozenset(names)


def ident(name: str) -> exp.Identifier:
    """A quoted identifier for a name the schema knows; anything else is refused."""
    if name not in _KNOWN:
        raise UnknownIdentifier(f"'{name}' is not a table, view or column of the store")
    return exp.to_identifier(name, quoted=True)


def table(name: str, alias: str | None = None) -> exp.Table:
    node = exp.Table(this=ident(name))
    return node.as_(alias) if alias else node  # type: ignore[return-value]


def column(name: str, of: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=exp.to_identifier(of) if of else None)


def render(expression: exp.Expression) -> str:
    """The statement's text in DuckDB's dialect."""
    return expression.sql(DIALECT)
