"""A read connection creates a curated view only when a statement names it (with the views
that view reads), and a lazily created view gives the same rows as the eager set."""

from __future__ import annotations

import duckdb

from kpi.store.views import create_views
from tests import hand_fixture

_MADE = "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal ORDER BY view_name"


def _made(con) -> list[str]:
    return [r[0] for r in con.execute(_MADE).fetchall()]


def test_a_statement_creates_the_views_it_names_and_what_they_read(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    with store.read() as con:
        assert _made(con) == []  # a read of canonical tables binds no view
        con.execute("SELECT count(*) FROM suppliers").fetchall()
        assert _made(con) == []
        con.execute("SELECT count(*) FROM budget_vs_actual").fetchall()
        # budget_vs_actual reads spend, which reads spend_base, which reads fx_factor
        assert _made(con) == ["budget_vs_actual", "fx_factor", "spend", "spend_base"]
        con.sql('SELECT count(*) FROM "po_lines"').fetchall()  # a quoted name counts too
        assert "po_lines" in _made(con)
        assert "payments" not in _made(con)


def test_lazy_views_give_the_rows_the_eager_views_give(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    views = [
        "spend",
        "payments",
        "po_lines",
        "invoice_match",
        "budget_vs_actual",
        "inventory_position",
        "savings_lines",
        "spend_yoy",
        "working_capital_days",
    ]
    eager = duckdb.connect(":memory:")
    eager.execute(f"ATTACH '{store.path}' AS store (READ_ONLY)")  # test-only, a tmp path
    eager.execute("USE store")
    create_views(eager, store.settings, "USD")
    for view in views:
        statement = f"SELECT * FROM {view} ORDER BY ALL"
        with store.read(display_currency="USD") as con:
            assert con.execute(statement).fetchall() == eager.execute(statement).fetchall(), view
    eager.close()
