"""The quoting helper quotes what the schema knows and refuses anything else."""

from __future__ import annotations

import pytest
from sqlglot import exp

from kpi.store import identifiers as ids


def test_known_names_are_quoted_nodes():
    assert ids.render(ids.table("invoices")) == '"invoices"'
    assert ids.render(ids.column("amount", "t")) == 't."amount"'
    select = exp.select(ids.column("supplier_id")).from_(ids.table("suppliers"))
    assert ids.render(select) == 'SELECT "supplier_id" FROM "suppliers"'


@pytest.mark.parametrize("name", ["invoices; DROP TABLE x", 'a"b', "nope", ""])
def test_unknown_or_hostile_names_are_refused(name):
    with pytest.raises(ids.UnknownIdentifier):
        ids.ident(name)


def test_a_template_marker_in_a_string_literal_is_filled_and_escaped():
    from kpi.store.template import fill, literal

    statement = fill("ATTACH '__path__' AS store (READ_ONLY)", path=literal("/d/it's.duckdb"))
    assert ids.render(statement) == "ATTACH '/d/it''s.duckdb' AS store (READ_ONLY)"
    with pytest.raises(KeyError, match="__path__"):
        fill("ATTACH '__path__' AS store")
