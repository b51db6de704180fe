"""The rollups' SQL kept in memory and on disk (compiler.view_ctes_sql, rollups.tables_read):
read back, it is the text the trees render to; other settings or other code are other
files; nothing typed is part of the key."""

from __future__ import annotations

from datetime import date

import pytest
from sqlglot import exp

from kpi.core.settings import FiscalCalendar, Settings
from kpi.semantic import compiler, rollups
from kpi.semantic.definitions import load_definitions
from kpi.store import catalog_cache, views
from kpi.store.template import render

MONTHS = ((date(2023, 1, 1), date(2023, 1, 31)), (date(2024, 3, 1), date(2024, 5, 31)))


def _clear() -> None:
    compiler._view_ctes_sql.cache_clear()
    rollups._tables_read.cache_clear()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KPI_CACHE_DIR", str(folder))
    _clear()
    yield folder
    _clear()


def _one_tree(spec: rollups.RollupSpec, settings: Settings, months, lines) -> str:
    """build_query as one sqlglot tree (the WITH clause set on the SELECT), rendered."""
    select, grain, reads, _ = rollups._build_select(spec, months)
    bounds = None if reads is None else views.Bounds(reads, settings.fiscal)
    ctes = compiler.view_ctes(spec.view, settings, None, grain, bounds, lines)
    if ctes:
        select.set("with_", exp.With(expressions=ctes))
    return render(select)


def test_the_rollups_queries_are_the_one_tree_rendered_and_read_back_the_same(cache):
    settings = Settings()
    specs = rollups.plan(load_definitions(None, settings), settings)
    asked = [(s, m, None) for s in specs for m in (None, MONTHS)]
    asked += [
        (s, None, rollups._LINES) for s in specs if (s.view, s.period_column) in rollups.DELTA
    ]
    first = [rollups.build_query(s, settings, m, lines) for s, m, lines in asked]
    assert first == [_one_tree(s, settings, m, lines) for s, m, lines in asked]
    assert any(p.name.startswith("view-ctes-") for p in cache.iterdir())
    _clear()  # a new process: read back from the files
    assert [rollups.build_query(s, settings, m, lines) for s, m, lines in asked] == first


def test_tables_read_read_back_equals_the_bodies_walked(cache):
    settings = Settings()
    for _ in range(2):
        _clear()
        for view in views.view_names():
            assert rollups.tables_read(settings, view) == rollups._tables_found(settings, view)
    assert "invoices" in rollups.tables_read(settings, "spend")


def test_other_settings_or_code_are_other_files(cache, monkeypatch):
    a = Settings()
    b = Settings(fiscal=FiscalCalendar(year_start_month=4))
    text_a, params_a = compiler.view_ctes_sql("spend", a, "quarter", MONTHS)
    text_b, params_b = compiler.view_ctes_sql("spend", b, "quarter", MONTHS)
    assert text_a != text_b  # fiscal quarters of another calendar
    # the whole quarters read: January 2023's, March to May 2024's (two of them)
    assert params_a["quarter_lo_0"] == date(2023, 1, 1)
    assert params_a["quarter_hi_1"] == date(2024, 6, 30)
    assert params_b["quarter_lo_0"] == date(2023, 1, 1)  # April's year: Jan-Mar is Q4
    assert params_b["quarter_hi_1"] == date(2024, 6, 30)
    assert params_b["quarter_lo_1"] == date(2024, 1, 1)
    assert params_a["quarter_lo_1"] == date(2024, 1, 1)
    names = {p.name for p in cache.iterdir() if p.name.startswith("view-ctes-")}
    assert len(names) == 2
    fewer_ranges, _ = compiler.view_ctes_sql("spend", a, "quarter", MONTHS[:1])
    assert fewer_ranges != text_a
    # a code change: every key differs, so nothing written before is read back
    key = catalog_cache.key("view-ctes", [repr(a), "spend", "quarter", "2", "None", "None"])
    monkeypatch.setattr(catalog_cache, "code_hash", lambda: "another version of the code")
    assert catalog_cache.key("view-ctes", [repr(a), "spend", "quarter", "2", "None", "None"]) != key
    _clear()
    assert compiler.view_ctes_sql("spend", a, "quarter", MONTHS) == (text_a, params_a)
    assert len({p.name for p in cache.iterdir() if p.name.startswith("view-ctes-")}) == 4


def test_a_corrupt_file_is_recomputed(cache):
    settings = Settings()
    text = compiler.view_ctes_sql("spend", settings, "month", MONTHS)
    for path in cache.iterdir():
        path.write_text('["DROP TABLE invoices", []]', encoding="utf-8")  # not a WITH clause
    _clear()
    assert compiler.view_ctes_sql("spend", settings, "month", MONTHS) == text
    for path in cache.iterdir():
        path.write_text('"WITH x AS (SELECT 1)"', encoding="utf-8")  # the older shape
    _clear()
    assert compiler.view_ctes_sql("spend", settings, "month", MONTHS) == text


def test_the_canonical_ddl_read_back_is_the_one_sqlglot_builds():
    from kpi.store import schema

    assert schema._canonical_ddl() == schema.CANONICAL_DDL
