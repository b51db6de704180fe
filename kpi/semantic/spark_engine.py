"""The KPI engine on Apache Spark: the compiler's statements, transpiled, run on the lake.

With `engine: spark` (settings.yaml, or KPI_ENGINE=spark) kpi.semantic.engine hands its
statements here instead of to DuckDB: the same definitions, the same compiler, the same
grouping of KPIs, the same polars frame back. Each statement is transpiled once
(kpi.semantic.spark_sql: DuckDB's dialect to Spark's, bound parameters as typed literals)
and kept; what cannot be transpiled or run raises SparkEngineError naming it, never
computed elsewhere. The rollups are DuckDB's own tables: on Spark every KPI is live.

The lake is a folder of Delta tables, one per canonical table (`<lake>/<table>/`). Spark
reads each table's current Parquet files (the files of its latest Delta version, listed by
`deltalake`: no Delta jar, nothing downloaded) as a temporary view named like the table; the
curated views (kpi.store.views) are temporary views over them, transpiled the same way.
pyspark is imported here only, and only when the engine is spark.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
from sqlglot import exp

from kpi.core.settings import ROOT, Settings
from kpi.semantic import compiler
from kpi.semantic.spark_sql import TranspileError, spark_sql
from kpi.store.schema import all_ddl
from kpi.store.template import render
from kpi.store.views import create_views, view_bodies, view_names, views_read

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkEngineError(RuntimeError):
    """Spark could not start, read the lake, or run a statement: said with what and why."""


# Spark's session settings that make it answer as DuckDB does: a division by zero or an
# overflow is NULL, not an error (ANSI mode off); few shuffle partitions for the few rows a
# KPI statement groups; no web UI (nobody looks at it; it takes a port).
SESSION_CONF = {
    "spark.sql.ansi.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
}
_BUILD_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
}

_lock = threading.RLock()
_registered: dict[str, Any] = {}  # what this session holds: lake versions, views' key


def lake_path(settings: Settings) -> Path:
    """The lake folder of the settings (relative to the repository when not absolute)."""
    path = Path(settings.lake)
    return path if path.is_absolute() else ROOT / path


def session(settings: Settings) -> SparkSession:
    """The Spark session of `settings.spark`: `sc://...` a Spark Connect server, anything
    else a master (local[2] by default). An existing session is reused (getOrCreate)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - requirements.txt installs it
        raise SparkEngineError(
            "engine is spark but pyspark is not installed (pip install -r requirements.txt)"
        ) from exc
    builder = SparkSession.builder.appName("kpi")
    if settings.spark.startswith("sc://"):
        builder = builder.remote(settings.spark)
    else:
        builder = builder.master(settings.spark)
        for key, value in _BUILD_CONF.items():
            builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        raise SparkEngineError(f"Spark did not start at {settings.spark}: {_short(exc)}") from exc
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    if not settings.spark.startswith("sc://"):
        spark.sparkContext.setLogLevel("OFF")  # errors come back as exceptions, said once
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)
    return spark


def _short(exc: BaseException) -> str:
    """An exception's first line (Spark's carry a JVM stack trace after it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@lru_cache(maxsize=8)
def relation_schema(settings: Settings, display_currency: str | None) -> dict[str, dict[str, str]]:
    """The tables the curated views read and every curated view, with their columns' DuckDB
    types, as an empty DuckDB store describes them: what the transpiler needs to expand
    `* EXCLUDE` and to type the expressions whose meaning differs between the engines."""
    return {
        name: columns for name, (columns, _) in _empty_store(settings, display_currency).items()
    }


@lru_cache(maxsize=8)
def _empty_store(
    settings: Settings, display_currency: str | None
) -> dict[str, tuple[dict[str, str], Any]]:
    """Per relation: its columns and types, and its rows' Arrow schema (a table the lake lacks
    is an empty one of that schema)."""
    bodies = view_bodies(settings, display_currency)
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings, display_currency)
        stored = {r[0] for r in con.execute(_TABLE_NAMES).fetchall()}
        read = {t.name for body in bodies.values() for t in body.find_all(exp.Table)}
        out: dict[str, tuple[dict[str, str], Any]] = {}
        for name in [*sorted(read & stored), *view_names()]:
            relation = exp.Table(this=exp.to_identifier(name, quoted=True))
            rows = con.execute(render(exp.Describe(this=relation))).fetchall()
            empty = con.sql(render(exp.select("*").from_(relation).limit(0))).to_arrow_table()
            out[name] = ({r[0]: r[1] for r in rows}, empty.schema)
        return out
    finally:
        con.close()


_TABLE_NAMES = "SELECT table_name FROM duckdb_tables()"


def register_lake(spark: SparkSession, settings: Settings) -> None:
    """Each Delta table of the lake as a temporary view of its current Parquet files; a
    table the views read that the lake lacks is an empty one (as DuckDB reads a store
    written before that table). Done again only for a table whose version changed."""
    import deltalake
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    lake = lake_path(settings)
    if not lake.is_dir():
        raise SparkEngineError(
            f"engine is spark but the lake {lake} does not exist (settings `lake` or KPI_LAKE)"
        )
    stores = _empty_store(settings, None)
    tables = [t for t in stores if t not in view_names()]
    for name in tables:
        folder = lake / name
        key = "table:" + name
        if (folder / "_delta_log").is_dir():
            try:
                table = deltalake.DeltaTable(str(folder))
                version = (str(folder), table.version())
                if _registered.get(key) == version:
                    continue
                files = table.file_uris()
                columns = from_arrow_schema(pa.schema(table.schema().to_arrow()))
                if files:
                    frame = (
                        spark.read.schema(columns).option("basePath", str(folder)).parquet(*files)
                    )
                else:
                    frame = spark.createDataFrame([], columns)
            except Exception as exc:
                raise SparkEngineError(
                    f"cannot read the lake's table {name}: {_short(exc)}"
                ) from exc
        else:
            version = ("absent", 0)
            if _registered.get(key) == version:
                continue
            frame = spark.createDataFrame([], from_arrow_schema(stores[name][1]))
        frame.createOrReplaceTempView(name)
        _registered[key] = version
        _registered.pop("views", None)  # the views hold the old table's plan: made again


@lru_cache(maxsize=8)
def view_statements(settings: Settings, display_currency: str | None) -> dict[str, str]:
    """The Spark SQL body of every curated view, transpiled once; a view that cannot be is
    left out (view_problems says why)."""
    return {
        name: text
        for name, text in _view_texts(settings, display_currency).items()
        if not isinstance(text, TranspileError)
    }


def view_problems(settings: Settings, display_currency: str | None) -> dict[str, str]:
    """Each curated view sqlglot cannot write as Spark SQL, with why."""
    return {
        name: str(text)
        for name, text in _view_texts(settings, display_currency).items()
        if isinstance(text, TranspileError)
    }


@lru_cache(maxsize=8)
def _view_texts(
    settings: Settings, display_currency: str | None
) -> dict[str, str | TranspileError]:
    schema = relation_schema(settings, display_currency)
    out: dict[str, str | TranspileError] = {}
    for name, body in view_bodies(settings, display_currency).items():
        try:
            out[name] = spark_sql(body, (), schema)
        except TranspileError as exc:
            out[name] = exc
    return out


def needed_views(settings: Settings, display_currency: str | None, views: set[str]) -> list[str]:
    """The curated views these views read (themselves included), in creation order."""
    wanted = set()
    for view in views:
        wanted.update(views_read(settings, display_currency, view))
        wanted.update(
            v
            for also in compiler.ALSO_READS.get(view, ())
            for v in views_read(settings, display_currency, also)
        )
    return [name for name in view_names() if name in wanted]


def register_views(
    spark: SparkSession, settings: Settings, display_currency: str | None, views: list[str]
) -> None:
    """These curated views as temporary views (in this currency), those not there yet."""
    key = (settings, display_currency)
    if _registered.get("views") != key:
        _registered["views"] = key
        _registered["made"] = set()
    made: set[str] = _registered["made"]
    texts = _view_texts(settings, display_currency)
    for name in views:
        if name in made:
            continue
        text = texts[name]
        if isinstance(text, TranspileError):
            raise SparkEngineError(f"the view {name} cannot be transpiled to Spark SQL: {text}")
        try:
            spark.sql(text).createOrReplaceTempView(name)
        except Exception as exc:
            raise SparkEngineError(f"Spark cannot create the view {name}: {_short(exc)}") from exc
        made.add(name)


@lru_cache(maxsize=512)
def _transpiled(
    statement: str, params: tuple[object, ...], settings: Settings, display_currency: str | None
) -> str:
    return spark_sql(statement, params, relation_schema(settings, display_currency))


def run_parts(
    settings: Settings,
    parts: list[tuple[str, str, list[object], int]],
    by: list[str],
    currency: str | None,
    grain: str,
) -> pl.DataFrame:
    """kpi.semantic.engine's `_run_parts` on Spark: the parts' statement (compiler.
    kpi_statement, every column of spend_base computed: the narrowing probe is DuckDB's),
    transpiled once, run on the lake; the same columns back (_part, period, `by`, _values)."""
    statement, params = compiler.kpi_statement(
        parts, by, settings, currency, narrow=False, grain=grain
    )
    display = _display(settings, currency)
    try:
        text = _transpiled(statement, tuple(params), settings, display)
    except TranspileError as exc:
        views = ", ".join(sorted({v for v, *_ in parts}))
        raise SparkEngineError(f"the statement over {views} cannot be transpiled: {exc}") from exc
    needed = needed_views(settings, display, {v for v, *_ in parts})
    return run_sql(settings, text, display, needed)


def run_sql(
    settings: Settings, text: str, display_currency: str | None, views: list[str]
) -> pl.DataFrame:
    """Spark SQL text on the lake, its rows as a polars frame (through Arrow)."""
    with _lock:
        spark = session(settings)
        register_lake(spark, settings)
        register_views(spark, settings, display_currency, views)
        try:
            table = spark.sql(text).toArrow()
        except Exception as exc:
            raise SparkEngineError(f"Spark could not run the statement: {_short(exc)}") from exc
    return pl.from_arrow(table)  # type: ignore[return-value]


def _display(settings: Settings, currency: str | None) -> str | None:
    if currency is None or currency.upper() == settings.reporting_currency.upper():
        return None
    return currency.upper()


def forget() -> None:
    """Forget what the session holds (a test's new session, a lake moved)."""
    with _lock:
        _registered.clear()


def transpile_problems(settings: Settings, definitions: list) -> dict[str, str]:
    """Per KPI, why its query, or a view under it, cannot be written as Spark SQL; a KPI
    that transpiles is absent. The views are checked as the statements restate them at
    each grain (ranks within a quarter, a month, the fiscal year), each once; no Spark is
    started: `kpi check --engine spark`."""
    schema = relation_schema(settings, None)
    broken: dict[str, str] = {}
    for grain in ("year", "quarter", "month"):
        for name, body in view_bodies(settings, None, grain).items():
            if name in broken:
                continue
            try:
                spark_sql(body, (), schema)
            except TranspileError as exc:
                broken[name] = f"{exc} (by {grain})"
    problems: dict[str, str] = {}
    for kpi in definitions:
        bad = [v for v in needed_views(settings, None, {kpi.source}) if v in broken]
        if bad:
            problems[kpi.id] = f"the view {bad[0]} cannot be transpiled: {broken[bad[0]]}"
            continue
        measures = [compiler.Measure(kpi.id, kpi.formula_tree)]
        query, params = compiler.kpi_query(
            kpi.source, kpi.period_by, measures, "quarter", settings.fiscal, [], None, None, {}
        )
        try:
            spark_sql(query, params, schema)
        except TranspileError as exc:
            problems[kpi.id] = str(exc)
    return problems
