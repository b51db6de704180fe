"""The DuckDB-to-Spark transpile layer (kpi.semantic.spark_sql), without Spark: bound
parameters land in the text's order as typed literals, what DuckDB means differently is
rewritten, every curated view and every KPI of config/kpis.yaml transpiles, and
`kpi check --engine spark` says so. The figures themselves: tests/spark (`-m spark`)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from kpi.core.settings import FiscalCalendar, Settings
from kpi.semantic import rollups, spark_engine
from kpi.semantic.definitions import load_definitions
from kpi.semantic.spark_sql import TranspileError, bind_named, spark_sql

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = {
    "a": {"k": "VARCHAR", "d": "DATE", "e": "DATE", "x": "DECIMAL(18,2)"},
    "f": {"k": "VARCHAR", "d": "DATE", "rate": "DECIMAL(18,8)"},
}


def _spark(text: str) -> exp.Expression:
    return sqlglot.parse_one(text, read="spark")


def test_parameters_follow_the_text_not_the_tree():
    # the WITH clause is written first but stored last in the tree: its ? is the first value
    text = "WITH w AS (SELECT * FROM a WHERE d >= ?) SELECT k FROM w WHERE k IN (?, ?)"
    out = spark_sql(text, [date(2026, 1, 1), "x'y", "b"], SCHEMA)
    assert out.index("CAST('2026-01-01' AS DATE)") < out.index("'x\\'y'") < out.index("'b'")
    assert "?" not in out


def test_a_wrong_number_of_parameters_is_refused():
    with pytest.raises(TranspileError, match="2 parameters, 1 values"):
        spark_sql("SELECT k FROM a WHERE k = ? OR k = ?", ["x"], SCHEMA)


def test_days_between_dates_is_datediff_and_division_is_floating():
    out = spark_sql("SELECT e - d AS days, x / 3 AS third, avg(x) AS mean FROM a", [], SCHEMA)
    tree = _spark(out)
    assert tree.find(exp.DateDiff) is not None
    div = tree.find(exp.Div)
    assert isinstance(div.this, exp.Cast) and div.this.to.this == exp.DataType.Type.DOUBLE
    avg = tree.find(exp.Avg)
    assert isinstance(avg.this, exp.Cast) and avg.this.to.this == exp.DataType.Type.DOUBLE


def test_an_asof_join_becomes_a_range_join_on_the_next_key():
    text = "SELECT a.k, f.rate FROM a ASOF LEFT JOIN f ON f.k = a.k AND a.d >= f.d"
    out = spark_sql(text, [], SCHEMA)
    assert not re.search(r"\bASOF\b", out, re.IGNORECASE)
    tree = _spark(out)
    assert "LEAD" in out.upper() and tree.find(exp.Join).side.upper() == "LEFT"


def test_months_and_wide_integers_have_spark_types():
    out = spark_sql(
        "SELECT d - INTERVAL (2) MONTH AS m, d + to_months(3) AS n, "
        "CAST(x * 100 AS HUGEINT) AS c FROM a",
        [],
        SCHEMA,
    )
    assert out.upper().count("MAKE_YM_INTERVAL") == 2
    assert "DECIMAL(38, 0)" in out and "INT128" not in out.upper()


def test_materialized_ctes_lose_the_hint_and_nested_ctes_stay_nested():
    text = (
        "WITH w AS MATERIALIZED (SELECT * FROM (WITH lines AS (SELECT k FROM a) "
        "SELECT * FROM lines) s) SELECT * FROM w, (WITH lines AS (SELECT k FROM f) "
        "SELECT * FROM lines) t"
    )
    out = spark_sql(text, [], SCHEMA)
    assert "MATERIALIZED" not in out.upper()
    assert out.count("WITH lines AS") == 2  # each where it was: Spark refuses two at the top


def test_list_and_float_parameters_and_side_by_side_unnests():
    text = (
        "SELECT unnest($ids::VARCHAR[]) AS k, unnest($days::DOUBLE[]) AS v "
        "WHERE $none::VARCHAR[] IS NULL"
    )
    tree = bind_named(sqlglot.parse_one(text, read="duckdb"), {
        "ids": ["A1", "B2"], "days": [40.5, 0.1], "none": None,
    })  # fmt: skip
    out = spark_sql(tree, [], SCHEMA)
    assert "INLINE(ARRAYS_ZIP(CAST(ARRAY('A1', 'B2') AS ARRAY<STRING>)" in out
    assert "ARRAY(CAST('40.5' AS DOUBLE), CAST('0.1' AS DOUBLE))" in out
    assert ") AS (k, v)" in out and "EXPLODE" not in out.upper()


def test_statements_read_views_by_their_names_and_without_a_with_clause():
    text = (
        "WITH w AS (SELECT k, x FROM a), v AS (SELECT k FROM w WHERE x > 0) "
        "SELECT v.k, count(*) AS n FROM v JOIN w ON w.k = v.k GROUP BY v.k"
    )
    out = spark_sql(text, [], SCHEMA, {"a": "a__0123456789ab"}, inline=True)
    tree = _spark(out)
    assert tree.find(exp.With) is None and tree.find(exp.CTE) is None
    assert {t.name for t in tree.find_all(exp.Table)} == {"a__0123456789ab"}
    # the same statement with its WITH clause kept: the names are the only change
    kept = _spark(spark_sql(text, [], SCHEMA, {"a": "a__0123456789ab"}))
    assert [c.alias for c in kept.find_all(exp.CTE)] == ["w", "v"]


def test_a_view_under_other_settings_is_another_temporary_view_only_if_it_reads_differently():
    settings = Settings()
    other_year = dataclasses.replace(settings, fiscal=FiscalCalendar(year_start_month=2))
    unrelated = dataclasses.replace(settings, amber_tolerance=0.1, spark="local[1]")
    names = spark_engine._names(settings, None, "quarter")
    year_names = spark_engine._names(other_year, None, "quarter")
    assert names["fx_factor"] == year_names["fx_factor"]  # reads no fiscal calendar
    assert names["spend_base"] != year_names["spend_base"]  # its reported periods do
    assert names["spend__quarter"].startswith("spend__quarter__")
    assert names == spark_engine._names(unrelated, None, "quarter")


def test_every_view_and_every_kpi_transpiles():
    settings = Settings()
    assert spark_engine.view_problems(settings, None) == {}
    definitions = load_definitions(ROOT / "config" / "kpis.yaml", settings)
    assert spark_engine.transpile_problems(settings, definitions) == {}
    # and every rollup table's statement, which Spark runs to build it on the lake
    assert rollups.spark_problems(settings, definitions) == {}


def test_rollup_problems_name_the_table_and_why(monkeypatch):
    settings = Settings()
    definitions = load_definitions(ROOT / "config" / "kpis.yaml", settings)
    specs = rollups.plan(definitions, settings)
    refused = next(s for s in specs if s.view == "payments")
    real = spark_engine.spark_sql

    def refuse(statement, params=(), schema=None, names=None, inline=False):
        text = statement if isinstance(statement, str) else statement.sql("duckdb")
        if "FROM payments" in text:
            raise TranspileError("no Spark for this")
        return real(statement, params, schema, names, inline)

    spark_engine._transpiled_named.cache_clear()
    monkeypatch.setattr(spark_engine, "spark_sql", refuse)
    try:
        problems = rollups.spark_problems(settings, definitions)
    finally:
        spark_engine._transpiled_named.cache_clear()
    assert refused.name in problems
    assert set(problems) == {s.name for s in specs if s.view == "payments"}
    assert all("no Spark for this" in why for why in problems.values())


def test_check_engine_spark_reports_each_kpi_that_cannot(tmp_path, monkeypatch):
    ok = subprocess.run(
        [sys.executable, "-m", "kpi", "check", "--engine", "spark"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert "KPIs and their rollup tables transpile to Spark SQL" in ok.stdout


def test_transpile_problems_names_the_kpi_and_why(monkeypatch):
    settings = Settings()
    definitions = load_definitions(ROOT / "config" / "kpis.yaml", settings)
    chosen = [k for k in definitions if k.id in ("total_spend", "days_to_pay")]

    def refuse(statement, params=(), schema=None):
        text = statement if isinstance(statement, str) else statement.sql("duckdb")
        if "payments" in text:
            raise TranspileError("no Spark for this")
        return "SELECT 1"

    monkeypatch.setattr(spark_engine, "spark_sql", refuse)
    problems = spark_engine.transpile_problems(settings, chosen)
    assert set(problems) == {"days_to_pay"}
    assert "no Spark for this" in problems["days_to_pay"]


def test_a_lateral_aggregate_becomes_a_grouped_join_on_the_outer_values():
    schema = {
        "o": {"id": "VARCHAR", "due": "DATE"},
        "g": {"id": "VARCHAR", "day": "DATE", "qty": "DECIMAL(18,3)"},
    }
    text = (
        "SELECT o.id, r.n, r.q FROM o LEFT JOIN LATERAL (SELECT count(*) FILTER "
        "(WHERE g.day <= o.due) AS n, sum(g.qty) AS q FROM g WHERE g.id = o.id) r ON true"
    )
    out = spark_sql(text, [], schema)
    assert "LATERAL" not in out.upper()
    tree = _spark(out)
    grouped = [s for s in tree.find_all(exp.Select) if s.args.get("group")]
    assert len(grouped) == 1  # the aggregates, grouped by the orders' distinct values
    assert grouped[0].args["from_"].this.this.args.get("distinct") is not None
    assert "IS NOT DISTINCT FROM" in out.upper() or "<=>" in out
    # a plain COUNT(*) would count an order without receipts as 1: left to Spark as it is
    plain = text.replace("count(*) FILTER (WHERE g.day <= o.due)", "count(*)")
    assert "LATERAL" in spark_sql(plain, [], schema).upper()


def test_engine_settings_and_their_environment_overrides(tmp_path, monkeypatch):
    from kpi.core.settings import SettingsError, load_settings

    for name in ("KPI_ENGINE", "KPI_SPARK_REMOTE", "KPI_LAKE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "settings.yaml"
    path.write_text("engine: spark\nlake: /data/lake\n", encoding="utf-8")
    settings = load_settings(path)
    assert (settings.engine, settings.spark, settings.lake) == ("spark", "local[2]", "/data/lake")
    monkeypatch.setenv("KPI_ENGINE", "duckdb")
    monkeypatch.setenv("KPI_SPARK_REMOTE", "sc://spark.example.org:15002")
    settings = load_settings(path)
    assert (settings.engine, settings.spark) == ("duckdb", "sc://spark.example.org:15002")
    assert load_settings(tmp_path / "absent.yaml").spark == "sc://spark.example.org:15002"
    monkeypatch.setenv("KPI_ENGINE", "postgres")
    with pytest.raises(SettingsError, match="engine must be one of duckdb, spark"):
        load_settings(path)
    monkeypatch.delenv("KPI_ENGINE")
    monkeypatch.setenv("KPI_SPARK_REMOTE", "http://nowhere")
    with pytest.raises(SettingsError, match="spark must be a Spark master"):
        load_settings(path)


def test_a_local_master_advertises_the_address_it_binds():
    """Bound to the loopback but advertising another address, a local Spark lost every task
    result over 1 MB (fetched from the advertised address): scale 10 failed, 0.05 did not."""
    from kpi.semantic.spark_engine import build_conf

    local = build_conf("local[2]")
    assert local["spark.driver.host"] == local["spark.driver.bindAddress"] == "127.0.0.1"
    cluster = build_conf("spark://spark.example.org:7077")
    assert "spark.driver.host" not in cluster and "spark.driver.bindAddress" not in cluster
