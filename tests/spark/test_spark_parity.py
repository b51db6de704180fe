"""Spark's KPI figures equal DuckDB's on the same small demo lake (`-m spark`).

The lake is the demo store moved by `kpi migrate --to lake` (kpi.store.lake_migrate, which
checks every table's rows and money on both sides), and both engines read it: DuckDB
through the lake's reader (kpi.store.lake), Spark from the Parquet files of the Delta
versions the lake's manifest names. Every KPI of config/kpis.yaml, by quarter and by
category: the same rows (KPI, period, category), money to the cent, every other figure to
1e-9; the savings bridge (kpi.analyses.bridge, through the same engine layer) to the cent,
whole and by category; the terms simulator (kpi.analyses.terms) and the inventory classes
(kpi.analyses.inventory), whose reads go through the same layer, row for row; and the
rollups, built by Spark from the lake, equal DuckDB's build row for row, as do the figures
answered from them, after a load on Spark too (its months recomputed by Spark).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kpi.analyses.bridge import savings_bridge
from kpi.analyses.inventory import items_to_question, stock_by_snapshot
from kpi.analyses.terms import simulate_terms
from kpi.core.scope import Scope
from kpi.core.settings import Settings
from kpi.semantic import engine, rollups, spark_engine
from kpi.semantic.definitions import load_definitions
from kpi.semantic.spark_sql import spark_sql
from kpi.store.database import Store
from kpi.store.lake import LakeStore
from kpi.store.lake_migrate import migrate_to_lake

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
CENT = 0.005  # money: equal to the cent
TINY = 1e-9  # ratios, days, shares


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module (two cores, no UI, two shuffle partitions, no
    whole-stage code generation)."""
    if not spark_engine.java_present():
        pytest.skip("Java is not installed: the spark tests need a Java 17 runtime (java on PATH)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("kpi-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # a few thousand rows: compiling each stage's Java costs more than it saves
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    spark_engine.forget()
    yield session
    spark_engine.forget()
    session.stop()


@pytest.fixture(scope="module")
def stores(spark, demo_copy, tmp_path_factory) -> tuple[Store, Store]:
    """(the demo lake on DuckDB, the same lake on Spark)."""
    folder = tmp_path_factory.mktemp("spark_parity")
    db = demo_copy(0.05, folder / "kpi.duckdb")
    lake = folder / "lake"
    on_duckdb = dataclasses.replace(Settings(), store="lake", lake=str(lake))
    report = migrate_to_lake(db, LakeStore(lake, on_duckdb))
    assert report.ok, report.as_table()
    on_spark = dataclasses.replace(on_duckdb, engine="spark", spark="local[2]")
    return LakeStore(lake, on_duckdb), LakeStore(lake, on_spark)


@pytest.fixture(scope="module")
def definitions():
    return load_definitions(ROOT / "config" / "kpis.yaml", Settings())


# Products of the lake's decimals as the views write them (a price widened to DECIMAL(38,4),
# a quantity DECIMAL(18,3), an FX factor DECIMAL(18,8), money DECIMAL(18,2)), each with the
# exact answer: DuckDB keeps every digit of a product (its scale is the factors' scales
# summed), and so must Spark, whose default rounds a product over 38 digits to 6 decimals
# (0.0049995 to 0.005000, then a cent more when rounded to cents).
DECIMAL_CASES = [
    (
        "round(CAST(CAST(0.0033 AS DECIMAL(18,4)) AS DECIMAL(38,4))"
        " * CAST(1.515 AS DECIMAL(18,3)) * CAST(1 AS DECIMAL(18,8)), 2)",
        Decimal("0.00"),
    ),
    (
        "round(CAST(CAST(0.0033 AS DECIMAL(18,4)) AS DECIMAL(38,4))"
        " * CAST(-1.515 AS DECIMAL(18,3)) * CAST(1 AS DECIMAL(18,8)), 2)",
        Decimal("0.00"),
    ),
    (
        "CAST(CAST(2.0001 AS DECIMAL(18,4)) AS DECIMAL(38,4)) * CAST(0.333 AS DECIMAL(18,3))"
        " * CAST(0.12345678 AS DECIMAL(18,8))",
        Decimal("0.082226326590774"),
    ),
    (
        "CAST(1.01 AS DECIMAL(38,2)) + CAST(0.00000001 AS DECIMAL(18,8))",
        Decimal("1.01000001"),
    ),
]


@pytest.mark.parametrize(("expression", "exact"), DECIMAL_CASES, ids=range(len(DECIMAL_CASES)))
def test_decimal_products_keep_every_digit(spark, expression, exact):
    on_spark = dataclasses.replace(Settings(), engine="spark", spark="local[2]")
    statement = f"SELECT {expression} AS v"
    with duckdb.connect() as con:
        duck = con.execute(statement).fetchone()[0]
    (row,) = spark_engine.session(on_spark).sql(spark_sql(statement)).collect()
    assert duck == exact
    assert row["v"] == exact


def _compare(duck: engine.ComputeResult, spark: engine.ComputeResult, definitions, by) -> None:
    keys = ["kpi", "period", *by]
    assert not spark.skipped or spark.skipped == duck.skipped
    left = duck.frame.sort(keys)
    right = spark.frame.sort(keys)
    assert left.select(keys).rows() == right.select(keys).rows(), "not the same rows"
    units = {k.id: str(k.unit) for k in definitions}
    joined = left.join(right, on=keys, how="inner", suffix="_spark", nulls_equal=True)
    problems = []
    for row in joined.iter_rows(named=True):
        a, b = row["value"], row["value_spark"]
        if a is None or b is None:
            if (a is None) != (b is None):
                problems.append(row)
            continue
        tolerance = CENT if units[row["kpi"]] == "currency" else TINY
        if abs(a - b) > tolerance:
            problems.append(row)
    assert not problems, f"{len(problems)} figures differ, e.g. {problems[:3]}"


def test_every_kpi_by_quarter(stores, definitions):
    duck_store, spark_store = stores
    duck = engine.compute(duck_store, definitions, "quarter", live=True)
    spark = engine.compute(spark_store, definitions, "quarter", live=True)
    assert not spark.skipped
    assert set(spark.frame["kpi"]) == {k.id for k in definitions}, "a KPI has no figure"
    assert spark.frame.height > len(definitions)
    _compare(duck, spark, definitions, [])


def test_every_kpi_by_quarter_and_category(stores, definitions):
    duck_store, spark_store = stores
    split = [k for k in definitions if "category" in k.dimensions]
    duck = engine.compute(duck_store, split, "quarter", ["category"], live=True)
    spark = engine.compute(spark_store, split, "quarter", ["category"], live=True)
    assert not spark.skipped
    assert set(spark.frame["kpi"]) == {k.id for k in split}
    assert spark.frame["category"].n_unique() > 1
    _compare(duck, spark, split, ["category"])
    # the split adds up where a KPI is a sum: total spend's categories make its total
    totals = (
        spark.frame.filter(pl.col("kpi") == "total_spend")
        .group_by("period")
        .agg(pl.col("value").sum())
        .sort("period")
    )
    whole = (
        engine.compute(
            duck_store, [k for k in split if k.id == "total_spend"], "quarter", live=True
        )
        .frame.select("period", "value")
        .sort("period")
    )
    assert totals["period"].to_list() == whole["period"].to_list()
    for a, b in zip(totals["value"], whole["value"], strict=True):
        assert abs(a - b) < CENT


def _quarters(store: Store) -> list[str]:
    """The demo's quarters with spend, in order (DuckDB's answer)."""
    total = [k for k in load_definitions(ROOT / "config" / "kpis.yaml") if k.id == "total_spend"]
    frame = engine.compute(store, total, "quarter", live=True).frame
    return sorted(frame.filter(pl.col("value") > 0)["period"].to_list())


@pytest.mark.parametrize("by", [None, "category"])
def test_savings_bridge(stores, by):
    duck_store, spark_store = stores
    quarters = _quarters(duck_store)
    base, current = quarters[-3], quarters[-2]
    scope = Scope.of()
    duck = savings_bridge(duck_store, scope, base, current, by)
    spark = savings_bridge(spark_store, scope, base, current, by)
    keys = [by] if by else []
    assert duck.height > (1 if by else 0)
    assert duck.schema == spark.schema
    # money is Decimal(38, 2) on both sides: equal to the cent, row for row
    if keys:
        duck, spark = duck.sort(keys), spark.sort(keys)
    assert duck.rows() == spark.rows()


# (new terms, the simulator's filter, whether a terms proposal moves three of its suppliers
# each to their own days)
SCENARIOS = [
    (60, None, False),
    (90, "supplier_size = 'sme' OR strategic", True),
]


@pytest.mark.parametrize(("days", "where", "proposal"), SCENARIOS, ids=["all", "proposal"])
def test_terms_simulator(stores, days, where, proposal):
    duck_store, spark_store = stores
    by_supplier = None
    if proposal:
        ids = simulate_terms(duck_store, days, where).suppliers["supplier_id"].to_list()[:3]
        by_supplier = {s: days + 15 * i for i, s in enumerate(ids)}
    duck = simulate_terms(duck_store, days, where, days_by_supplier=by_supplier)
    spark = simulate_terms(spark_store, days, where, days_by_supplier=by_supplier)
    assert duck.suppliers.height == (len(by_supplier) if by_supplier else duck.suppliers.height)
    assert duck.suppliers.height > 0
    assert duck.summary["cash_released"] != 0
    assert (duck.window_start, duck.window_end) == (spark.window_start, spark.window_end)
    # money is Decimal rounded to the cent per supplier: equal, row for row and in total
    assert duck.summary == spark.summary
    assert duck.suppliers.rows() == spark.suppliers.rows()


@pytest.mark.parametrize("category", [None, "first"])
def test_inventory_classes(stores, category):
    duck_store, spark_store = stores
    scope = Scope.of(date(2000, 1, 1), date(2100, 12, 31))
    if category:
        picked = items_to_question(duck_store, scope)["category"].drop_nulls()[0]
        scope = scope.narrowed(category=picked)
    for analysis in (stock_by_snapshot, items_to_question):
        duck = analysis(duck_store, scope)
        spark = analysis(spark_store, scope)
        assert duck.height > 0, analysis.__name__
        assert duck.columns == spark.columns
        # money to the cent, days and turns from them: the same values (decimal widths aside)
        assert duck.rows() == spark.rows(), analysis.__name__


def _rows(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.rows(), key=lambda r: [(v is None, str(v)) for v in r])


@pytest.mark.parametrize("category", [None, "first"])
def test_payment_terms_tables(stores, category):
    """The payment-terms page's tables (terms by segment, payments by month, overdue lines,
    policy breaches) read the views through the engine layer: row for row on both."""
    from kpi.analyses import terms

    duck_store, spark_store = stores
    scope = Scope.of(date(2000, 1, 1), date(2100, 12, 31))
    if category:
        picked = terms.overdue_lines(duck_store, scope)["category"].drop_nulls()[0]
        scope = scope.narrowed(category=picked)
    policy = terms.load_policy()
    tables = {
        **{
            f"by {s}": lambda st, s=s: terms.terms_by_segment(st, scope, s)
            for s in terms.q.SEGMENTS
        },
        "by month": lambda st: terms.payments_by_month(st, scope),
        "overdue": lambda st: terms.overdue_lines(st, scope),
        "breaches": lambda st: terms.policy_breaches(st, scope, policy),
    }
    for name, table in tables.items():
        duck, spark = table(duck_store), table(spark_store)
        assert duck.height > 0, name
        assert duck.columns == spark.columns, name
        # money to the cent, rounded days and counts from them: the same values
        assert _rows(duck) == _rows(spark), name


# ---- the rollups, built by Spark ------------------------------------------------------------
def _rollup_rows(store: Store) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every rollup table of the store's rollups file: its columns and its rows, sorted."""
    with duckdb.connect(str(store.rollups_path), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT spec_name FROM rollup_index").fetchall()]
        out = {}
        for name in names:
            cursor = con.execute(f'SELECT * FROM "{name}"')  # a name the index holds
            columns = [d[0] for d in cursor.description]
            rows = sorted(cursor.fetchall(), key=lambda r: [(v is None, str(v)) for v in r])
            out[name] = (columns, rows)
    return out


def _same_tables(duck: dict, spark: dict) -> None:
    """The same tables, columns and rows: money and counts exact, floating sums to 1e-9."""
    assert sorted(spark) == sorted(duck)
    for name, (columns, rows) in duck.items():
        assert spark[name][0] == columns, name
        other = spark[name][1]
        assert len(other) == len(rows), name
        for a, b in zip(rows, other, strict=True):
            for x, y in zip(a, b, strict=True):
                if isinstance(x, float) and isinstance(y, float):
                    assert abs(x - y) <= TINY * max(1.0, abs(x)), (name, a, b)
                else:
                    assert x == y, (name, a, b)


def test_rollups_built_by_spark_equal_duckdbs(stores, definitions, monkeypatch):
    monkeypatch.setenv(rollups.ENV, "on")  # the suite computes live elsewhere
    duck_store, spark_store = stores
    rollups.refresh(duck_store, definitions, rebuild=True)
    duck = _rollup_rows(duck_store)
    assert sum(len(rows) for _, rows in duck.values()) > 1000
    report = rollups.refresh(spark_store, definitions, rebuild=True)
    assert sorted(report.built) == sorted(duck)  # every table computed (by Spark)
    _same_tables(duck, _rollup_rows(spark_store))
    # on Spark the figures are then answered from them, equal to DuckDB's live ones
    live = engine.compute(duck_store, definitions, "quarter", live=True)
    got = engine.compute(spark_store, definitions, "quarter")
    assert got.from_rollups == {k.id for k in definitions}
    _compare(live, got, definitions, [])


def test_a_load_on_spark_recomputes_its_months_on_spark(stores, definitions, tmp_path, monkeypatch):
    """Lines of one month loaded again with other amounts through the Spark store: the
    refresh after the write recomputes that month's rows on Spark (no difference applied in
    DuckDB), and every table then equals DuckDB's build from scratch."""
    from kpi.ingest.pipelines import load_files
    from kpi.store.schema import TABLES

    monkeypatch.setenv(rollups.ENV, "on")
    duck_store, spark_store = stores
    reports: list[rollups.RefreshReport] = []
    real = rollups.refresh

    def kept(store, *args, **kwargs):
        reports.append(real(store, *args, **kwargs))
        return reports[-1]

    rollups.refresh(spark_store, definitions)  # built (by the test before, or here) and fresh
    monkeypatch.setattr(rollups, "refresh", kept)
    columns = ", ".join(TABLES["invoices"].column_names)
    with duck_store.read_tables() as con:
        (month,) = con.execute(
            "SELECT max(invoice_date) - INTERVAL 200 DAY FROM invoices"
        ).fetchall()
        lines = con.sql(
            f"SELECT {columns} FROM invoices WHERE date_trunc('month', invoice_date) = "
            "date_trunc('month', ?::DATE) ORDER BY invoice_id, invoice_line LIMIT 40",
            params=[month[0]],
        ).pl()
    assert lines.height == 40
    changed = lines.with_columns(
        (pl.col("amount") * 2).alias("amount"), (pl.col("unit_price") * 2).alias("unit_price")
    )
    csv = tmp_path / "again.csv"
    changed.write_csv(csv, date_format="%Y-%m-%d")
    (done,) = load_files(spark_store, "invoices", [csv]).files
    assert (done.rows_loaded, done.replaced) == (40, 40)
    (report,) = reports
    assert report.months and not report.applied and not report.ranked
    on_spark = _rollup_rows(spark_store)
    rollups.refresh(duck_store, definitions, rebuild=True)
    _same_tables(_rollup_rows(duck_store), on_spark)
