"""The KPI engine on Apache Spark: the compiler's statements, transpiled, run on the lake.

With `engine: spark` (settings.yaml, or KPI_ENGINE=spark) kpi.semantic.engine hands its
statements here instead of to DuckDB: the same definitions, the same compiler, the same
grouping of KPIs, the same polars frame back. Each statement is transpiled once
(kpi.semantic.spark_sql: DuckDB's dialect to Spark's, bound parameters as typed literals)
and kept; what cannot be transpiled or run raises SparkEngineError naming it, never
computed elsewhere. The rollups' rows are computed here too when the store is the lake
(run_grouped: kpi.semantic.rollups.spark_builds), then kept in the lake's small
DuckDB file and read from there, as on DuckDB.

The lake is a folder of Delta tables, one per canonical table (`<lake>/<table>/`). Spark
reads each table's current Parquet files (the files of its latest Delta version, listed by
`deltalake`: no Delta jar, nothing downloaded) as a temporary view named like the table; the
curated views (kpi.store.views) are cached temporary views over them, transpiled the same
way, each named by a digest of its text (_view_plan). Statements reach Spark without a WITH
clause (spark_sql.inline_ctes): with one, Spark would not read the cached views.
pyspark is imported here only, and only when the engine is spark.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from kpi.core.settings import Settings, lake_path
from kpi.semantic import compiler
from kpi.semantic.period_sql import WHOLE_RANGE
from kpi.semantic.spark_sql import TranspileError, bind_named, spark_sql
from kpi.store.database import StoreError
from kpi.store.lake import MANIFEST, SIDE_FOLDER, read_manifest, table_files
from kpi.store.schema import all_ddl
from kpi.store.template import render
from kpi.store.views import (
    DEFAULT_GRAIN,
    GRAIN_VIEWS,
    SPEND_VIEWS,
    create_views,
    view_bodies,
    view_names,
    views_read,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkEngineError(RuntimeError):
    """Spark could not start, read the lake, or run a statement: said with what and why."""


# Spark's session settings that make it answer as DuckDB does: a division by zero or an
# overflow is NULL, not an error (ANSI mode off); a product or sum of decimals keeps every
# digit after the point, its scale the operands' summed (or the larger) up to 38, as
# DuckDB's does: by default Spark rounds a result wider than 38 digits to 6 decimals
# (DECIMAL(38,4) price x DECIMAL(18,3) quantity x DECIMAL(18,8) FX factor: 15 in DuckDB, 6
# in Spark), and a line's saving then rounded to cents could come out a cent apart; few
# shuffle partitions for the few rows a KPI statement groups; no web UI (nobody looks at
# it; it takes a port).
SESSION_CONF = {
    "spark.sql.ansi.enabled": "false",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
}
_BUILD_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
# A local master runs the executors inside the driver: both the address it binds and the one
# it advertises are the loopback. Advertising the machine's other address (Spark's default
# when the host name resolves to the loopback) while bound to the loopback loses every task
# result too big to send directly (over 1 MB: "TaskResultLost (result lost from block
# manager)"), as the block manager fetches it from the advertised address. A cluster master
# keeps Spark's defaults: its executors must reach the driver.
_LOCAL_CONF = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}

_lock = threading.RLock()
_registered: dict[str, Any] = {}  # what this session holds: lake versions, views made


def java_present() -> bool:
    """A Java runtime local Spark can start (`java` on PATH, or under JAVA_HOME)."""
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and (Path(home) / "bin" / "java").exists()))


def build_conf(master: str) -> dict[str, str]:
    """The configuration a session is started with on `master` (not Spark Connect)."""
    return {**_BUILD_CONF, **(_LOCAL_CONF if master.startswith("local") else {})}


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
        for key, value in build_conf(settings.spark).items():
            builder = builder.config(key, value)
    if not settings.spark.startswith("sc://") and not java_present():
        raise SparkEngineError(
            "engine is spark but Java is not installed: Spark needs a Java 17 runtime "
            "(`java` on PATH or JAVA_HOME), or a Spark Connect URL (sc://...) in `spark`"
        )
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
    out = {name: columns for name, (columns, _) in _empty_store(settings, display_currency).items()}
    for grain in ("quarter", "month"):  # a view at another grain has the same columns
        out.update({grain_name(v, grain): out[v] for v in RESTATED if v in out})
    return out


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
    if isinstance(lake, str):
        raise SparkEngineError(
            f"engine is spark but the lake is in an object store ({lake}): Spark reads it "
            "through its S3 connector (hadoop-aws), which this installation does not ship; "
            "use `engine: duckdb`, or a lake in a folder Spark can read"
        )
    if not lake.is_dir():
        raise SparkEngineError(
            f"engine is spark but the lake {lake} does not exist (settings `lake` or KPI_LAKE)"
        )
    try:
        manifest = read_manifest(lake / SIDE_FOLDER / MANIFEST)
    except StoreError as exc:
        raise SparkEngineError(str(exc)) from exc
    if manifest is None:
        raise SparkEngineError(
            f"engine is spark but {lake} has no manifest ({SIDE_FOLDER}/{MANIFEST}): make the "
            "lake with `python -m kpi migrate --to lake`"
        )
    stores = _empty_store(settings, None)
    tables = [t for t in stores if t not in view_names()]
    for name in tables:
        folder = lake / name
        key = "table:" + name
        # the version the manifest names, never the table's newest: a write that failed
        # or is still running may have left a newer one that is not the lake's yet
        at = manifest.tables.get(name)
        version = (str(folder), at) if at is not None else ("absent", 0)
        if _registered.get(key) == version:
            continue
        if at is not None:
            try:
                table = deltalake.DeltaTable(str(folder), version=at)
                found = table_files(folder, at, manifest.lake_id)
                columns = from_arrow_schema(pa.schema(table.schema().to_arrow()))
                if found.files:
                    frame = (
                        spark.read.schema(columns)
                        .option("basePath", str(folder))
                        .parquet(*found.files)
                    )
                else:
                    frame = spark.createDataFrame([], columns)
                if found.partitions:  # the lake's folders (month=…), not the store's columns
                    frame = frame.drop(*found.partitions)
            except Exception as exc:
                raise SparkEngineError(
                    f"cannot read the lake's table {name}: {_short(exc)}"
                ) from exc
        else:
            frame = spark.createDataFrame([], from_arrow_schema(stores[name][1]))
        frame.createOrReplaceTempView(name)
        _registered[key] = version
        if _registered.pop("made", None) is not None:
            spark.catalog.clearCache()  # the views hold the old table's rows: made again


# The views whose rows depend on the grain KPIs are reported at (supplier ranks, snapshot
# counts: GRAIN_VIEWS) and those reading them (SPEND_VIEWS): at another grain than the
# default (the fiscal year) the compiler restates them as CTEs; here each grain's are
# temporary views of their own (`spend__quarter`), computed once and cached by Spark.
RESTATED = frozenset((*GRAIN_VIEWS, *SPEND_VIEWS))


def grain_name(view: str, grain: str) -> str:
    """The temporary view holding `view` at `grain` (the default grain: the view's name)."""
    view_grain = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
    if view_grain == DEFAULT_GRAIN or view not in RESTATED:
        return view
    return view + "__" + view_grain


def _at_grain(
    tree: exp.Expression, grain: str, own: frozenset[str] | set[str] = frozenset()
) -> exp.Expression:
    """`tree` (the caller's own) reading each restated view at `grain` (not a relation of its
    own WITH clause named like one: `own`)."""
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name in RESTATED and table.name not in own:
            table.set("this", exp.to_identifier(grain_name(table.name, grain)))
    return tree


def view_problems(settings: Settings, display_currency: str | None) -> dict[str, str]:
    """Each curated view sqlglot cannot write as Spark SQL (at the default grain), with why."""
    return {
        name: str(text)
        for name, (_, text) in _view_plan(settings, display_currency, DEFAULT_GRAIN).items()
        if isinstance(text, TranspileError)
    }


@lru_cache(maxsize=16)
def _view_plan(
    settings: Settings, display_currency: str | None, grain: str
) -> dict[str, tuple[str, str | TranspileError]]:
    """Per view a statement at `grain` reads (under grain_name: the restated views at that
    grain, the others at the default one): the temporary view Spark holds it as, and its
    Spark SQL, transpiled once, in creation order.

    A temporary view's name is the view's and a digest of its Spark SQL, which reads the
    views under it by their own such names: the same view under other settings (another
    fiscal calendar for the simulator's year, another currency) is the same temporary view,
    made and cached once, as long as it reads the same; one that differs is another view
    beside it, and neither evicts the other."""
    view_grain = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
    plan: dict[str, tuple[str, str | TranspileError]] = {}
    if view_grain != DEFAULT_GRAIN:
        plan.update(_view_plan(settings, display_currency, DEFAULT_GRAIN))
    schema = relation_schema(settings, display_currency)
    for name, body in view_bodies(settings, display_currency, view_grain).items():
        if view_grain != DEFAULT_GRAIN and name not in RESTATED:
            continue
        logical = grain_name(name, view_grain)
        names = {k: v for k, (v, _) in plan.items()}
        try:
            text = spark_sql(_at_grain(body.copy(), view_grain), (), schema, names, inline=True)
        except TranspileError as exc:
            plan[logical] = (logical, exc)
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        plan[logical] = (f"{logical}__{digest}", text)
    return plan


def _names(settings: Settings, display_currency: str | None, grain: str) -> dict[str, str]:
    """Each view's temporary view at `grain` (see _view_plan), by the name statements use."""
    return {k: v for k, (v, _) in _view_plan(settings, display_currency, grain).items()}


def needed_views(
    settings: Settings, display_currency: str | None, views: set[str], grain: str = DEFAULT_GRAIN
) -> list[tuple[str, str]]:
    """(registered name, grain) of each curated view these views read at `grain` (themselves
    included), in creation order."""
    wanted = set()
    for view in views:
        wanted.update(views_read(settings, display_currency, view))
        wanted.update(
            v
            for also in compiler.ALSO_READS.get(view, ())
            for v in views_read(settings, display_currency, also)
        )
    view_grain = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
    return [
        (grain_name(name, view_grain), view_grain if name in RESTATED else DEFAULT_GRAIN)
        for name in view_names()
        if name in wanted
    ]


def register_views(
    spark: SparkSession,
    settings: Settings,
    display_currency: str | None,
    views: list[tuple[str, str]],
) -> None:
    """These curated views (as needed_views names them) as temporary views (in this
    currency), cached, those not there yet (_view_plan: one per distinct text)."""
    made: set[str] = _registered.setdefault("made", set())
    if len(made) > _MAX_VIEWS:  # many settings and currencies seen: start afresh
        spark.catalog.clearCache()
        made.clear()
    for logical, grain in views:
        name, text = _view_plan(settings, display_currency, grain)[logical]
        if name in made:
            continue
        if isinstance(text, TranspileError):
            raise SparkEngineError(f"the view {logical} cannot be transpiled to Spark SQL: {text}")
        try:
            spark.sql(text).createOrReplaceTempView(name)
            spark.catalog.cacheTable(name)
        except Exception as exc:
            raise SparkEngineError(
                f"Spark cannot create the view {logical}: {_short(exc)}"
            ) from exc
        made.add(name)


# The cached temporary views kept before the cache is emptied and they are made again as
# needed: each fiscal calendar and currency asked for adds its own.
_MAX_VIEWS = 200


@lru_cache(maxsize=512)
def _transpiled(
    statement: str,
    params: tuple[object, ...],
    settings: Settings,
    display_currency: str | None,
    grain: str,
) -> str:
    tree = _at_grain(sqlglot.parse_one(statement, read="duckdb"), grain)
    schema = relation_schema(settings, display_currency)
    names = _names(settings, display_currency, grain)
    return spark_sql(tree, params, schema, names, inline=True)


def run_parts(
    settings: Settings,
    parts: list[tuple[str, str, list[object], int]],
    by: list[str],
    currency: str | None,
    grain: str,
) -> pl.DataFrame:
    """kpi.semantic.engine's `_run_parts` on Spark: the parts (compiler.kpi_query SELECTs) in
    one statement over the views (compiler.union_statement), the views at this grain
    registered and cached once, transpiled once, run on the lake; the same columns back
    (_part, period, `by`, _values)."""
    statement, params = compiler.union_statement(parts, by)
    display = _display(settings, currency)
    try:
        text = _transpiled(statement, tuple(params), settings, display, grain)
    except TranspileError as exc:
        views = ", ".join(sorted({v for v, *_ in parts}))
        raise SparkEngineError(f"the statement over {views} cannot be transpiled: {exc}") from exc
    needed = needed_views(settings, display, {v for v, *_ in parts}, grain)
    return run_sql(settings, text, display, needed)


def run_named(
    settings: Settings, query: str, params: Mapping[str, object], currency: str | None
) -> pl.DataFrame:
    """A read of the curated views with `$name` parameters (an analysis's statement, as
    kpi.store.query.run takes it) on Spark: transpiled once, the views it reads registered."""
    return pl.from_arrow(run_grouped(settings, query, params, DEFAULT_GRAIN, currency))  # type: ignore[return-value]


def run_grouped(
    settings: Settings,
    query: str,
    params: Mapping[str, object],
    grain: str,
    currency: str | None = None,
) -> Any:
    """A SELECT over the curated views restated at `grain` (the supplier ranks and snapshot
    counts within each period: a rollup's rows at that grain) with `$name` parameters, as
    an Arrow table: the views at that grain registered and cached once, the statement
    transpiled once."""
    display = _display(settings, currency)
    try:
        bound = tuple(sorted((k, _hashable(v)) for k, v in params.items()))
        text, read = _transpiled_named(query, bound, settings, display, grain)
    except TranspileError as exc:
        raise SparkEngineError(f"the statement cannot be transpiled: {exc}") from exc
    return run_arrow(settings, text, display, needed_views(settings, display, set(read), grain))


def grouped_problem(
    settings: Settings, query: str, params: Mapping[str, object], grain: str
) -> str | None:
    """Why run_grouped could not write this statement as Spark SQL at `grain` (None: it
    can). No Spark is started (`kpi check --engine spark`, for the rollup tables)."""
    bound = tuple(sorted((k, _hashable(v)) for k, v in params.items()))
    try:
        _transpiled_named(query, bound, settings, None, grain)
    except TranspileError as exc:
        return str(exc)
    return None


def _hashable(value: object) -> object:
    """A list parameter as a tuple (the transpiled statements are kept by their values)."""
    return tuple(value) if isinstance(value, list) else value


@lru_cache(maxsize=256)
def _transpiled_named(
    query: str,
    params: tuple[tuple[str, object], ...],
    settings: Settings,
    display_currency: str | None,
    grain: str = DEFAULT_GRAIN,
) -> tuple[str, tuple[str, ...]]:
    """The Spark SQL of a read of the views at `grain`, and the curated views it reads from
    Spark's cached ones. A view its own WITH clause restates is read from there, not from
    the cache: a rollup's months restate the big views over what those months read
    (kpi.semantic.rollups.build_query), as the refresh after a write needs (the write
    emptied the cache); the small views they read besides (the rates) come from the cache."""
    tree = bind_named(sqlglot.parse_one(query, read="duckdb"), dict(params))
    own = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    read = {t.name for t in tree.find_all(exp.Table)} & set(view_names()) - own
    tree = _at_grain(tree, grain, own)
    schema = relation_schema(settings, display_currency)
    names = {k: v for k, v in _names(settings, display_currency, grain).items() if k not in own}
    return spark_sql(tree, (), schema, names, inline=True), tuple(sorted(read))


def run_sql(
    settings: Settings, text: str, display_currency: str | None, views: list[tuple[str, str]]
) -> pl.DataFrame:
    """Spark SQL text on the lake, its rows as a polars frame (through Arrow)."""
    return pl.from_arrow(run_arrow(settings, text, display_currency, views))  # type: ignore[return-value]


def run_arrow(
    settings: Settings, text: str, display_currency: str | None, views: list[tuple[str, str]]
) -> Any:
    """Spark SQL text on the lake (these views registered first), its rows as Arrow."""
    with _lock:
        spark = session(settings)
        register_lake(spark, settings)
        register_views(spark, settings, display_currency, views)
        try:
            return spark.sql(text).toArrow()
        except Exception as exc:
            raise SparkEngineError(f"Spark could not run the statement: {_short(exc)}") from exc


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
    for grain in (DEFAULT_GRAIN, "quarter", "month"):
        for name, (_, text) in _view_plan(settings, None, grain).items():
            view = name.split("__")[0]
            if isinstance(text, TranspileError) and view not in broken:
                broken[view] = f"{text} (by {grain})"
    problems: dict[str, str] = {}
    for kpi in definitions:
        bad = [v for v, _ in needed_views(settings, None, {kpi.source}) if v in broken]
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
