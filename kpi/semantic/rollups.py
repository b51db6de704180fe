"""Rollups: every KPI's measures pre-aggregated by month and dimension, kept beside the store.

What is stored. For each view and period column the KPIs read, one table holding, per month
of that period column and per combination of the dimensions the KPIs may be split or
filtered by (their `dimensions` and the sidebar's cost centre and category), every stored
measure of their formulas (kpi.semantic.measures): e.g. `sum(amount) filter (where not
po_exempt)` of the spend view by invoice month, category, cost centre, supplier... A KPI
over a quarter, a year or the sidebar's range is then its formula over the sums of those
rows, identical to the live computation (the parity tests compare them). Supplier ranks
and shares, and each location's number of stock snapshots, are counted within the reported
period: measures that read them are stored once per grain (month, quarter, year).

When they are used. Only in the reporting currency (amounts are converted and rounded line
by line, so another currency is computed live), for ranges made of whole months, with the
filters and splits stored, and without a row filter: anything else is computed live.

Never stale. The file records the store's version it matches (it changes with every write)
and, per table, a fingerprint of each table the view reads and the settings it was built
with. After every write the refresh (registered as the store's after-write hook) checks the
fingerprints: tables whose inputs did not change are kept and stamped with the new version;
where only some months of a big table changed, a table recomputes the months the change
reaches (kpi.store.view_reads.INCREMENTAL: those months, a year on, the months of the same
orders...) from what those months read, and keeps the others; the others are rebuilt.
A table whose stamp is not the store's current version is never read.
`kpi compute --live` (and KPI_ROLLUPS=off) skips them, for checking a figure.

On Spark. With `engine: spark` over the lake (spark_builds), every row stored here is
computed by Spark (_spark_rows), and the shortcuts that derive rows in DuckDB (a load's
difference, ranks from stored sums) are not taken; the figures are then read from here on
either engine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Generic, TypeVar

import duckdb
from sqlglot import exp

from kpi.core import atomic, periods
from kpi.core.atomic import PRIVATE, private_files
from kpi.core.settings import Settings, lake_path
from kpi.semantic import compiler
from kpi.semantic.chart_measures import CHART_MEASURES
from kpi.semantic.formula_guard import guard_formula
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.semantic.measures import StoredMeasure, split
from kpi.semantic.period_sql import WHOLE_RANGE
from kpi.semantic.rollup_tables import (
    _ROWS,
    ANY_GRAIN,
    MONTH,
    RollupSpec,
    _additive,
    _delete_months,
    _hidden,
    put_rows,
    registered,
)
from kpi.store import catalog_cache, database
from kpi.store.database import ROLLUPS_DATABASE, Store, StoreError
from kpi.store.schema import LINEAGE_NAMES
from kpi.store.stores import store_as_replaced
from kpi.store.template import fill, parsed, render
from kpi.store.view_reads import (
    BY_CATEGORY,
    BY_GROUP,
    BY_ORDER,
    COMPLETE,
    DELTA,
    GRAIN_COLUMNS,
    INCREMENTAL,
    RANGE_READS,
    RANKED_BY,
    SUMMARIES,
)
from kpi.store.views import (
    DEFAULT_GRAIN,
    GROUP_SUMS,
    Bounds,
    Ranges,
    between_any,
    rows_from_sums,
    view_bodies,
    view_catalog,
    view_names,
    views_read,
)

_T = TypeVar("_T")
_U = TypeVar("_U")

# How long a refresh waits for another one to finish before giving up (its figures are then
# computed live until the next write or save refreshes them).
_LOCK_WAIT_S = 600.0
# Set to "off" (or 0/false/no) to neither build nor read rollups: every figure live.
ENV = "KPI_ROLLUPS"
# Set (to anything) to have the refresh after a write say where its seconds went (stderr).
TRACE_ENV = "KPI_ROLLUPS_TRACE"
# The sidebar's filters, stored as dimensions wherever the view has them.
SIDEBAR_FILTERS = ("cost_centre", "category")
GRAINS = ("month", "quarter", "year")
_INDEX = "rollup_index"
_READ_INDEX = "SELECT * FROM rollups.rollup_index"  # ROLLUPS_DATABASE . _INDEX
_OPEN_END = date(2999, 12, 31)  # "and every month after": a refresh reads to the data's end
# A table this big is fingerprinted by its rows' lineage (the load and source row that
# wrote each row: loads are the only writers of such tables); a smaller one by every value.
_LINEAGE_FINGERPRINT_ROWS = 200_000


def enabled() -> bool:
    return os.environ.get(ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def answers_on(store: Store) -> bool:
    """Whether the engine may answer this store's figures from its rollups: on DuckDB, and
    on Spark when Spark builds them (spark_builds)."""
    return store.settings.engine != "spark" or spark_builds(store)


def spark_builds(store: Store) -> bool:
    """Whether Spark computes this store's rollups (and the engine may answer from them):
    the engine is spark and the store is the lake Spark reads. With the engine spark over a
    file store, Spark's figures come from the lake and the rollups from the file: they are
    then built by DuckDB and never read, every figure live."""
    from kpi.store.lake import LakeStore

    if store.settings.engine != "spark" or not isinstance(store, LakeStore):
        return False
    spark_reads = lake_path(store.settings)
    if store.remote is not None or isinstance(spark_reads, str):
        return False  # Spark reads lakes in folders only (kpi.semantic.spark_engine)
    return store.path.resolve() == spark_reads.resolve()


def _grain_of(view: str, measure: StoredMeasure) -> bool:
    """Whether the measure reads a column counted within the reported period."""
    names = {c.name for c in measure.build.find_all(exp.Column)}
    return bool(names & GRAIN_COLUMNS.get(view, frozenset()))


@dataclass(frozen=True)
class Formula:
    """A named formula over a view that is not a KPI (a chart's measure): what plan() and
    answer() need of a KPI definition."""

    id: str
    source: str
    period_by: str
    dimensions: tuple[str, ...]
    formula_tree: exp.Expression


@lru_cache(maxsize=4)
def chart_formulas(settings: Settings) -> tuple[Formula, ...]:
    """kpi.semantic.chart_measures, guarded like a KPI's formula, filterable by the sidebar."""
    catalog = view_catalog(settings)
    out = []
    for chart, (view, period, formulas) in CHART_MEASURES.items():
        for name, text in formulas.items():
            tree = guard_formula(text, catalog[view], view=view)
            out.append(Formula(f"{chart}.{name}", view, period, (), tree))
    return tuple(out)


def plan(definitions: Sequence[KpiDefinition], settings: Settings) -> list[RollupSpec]:
    """The rollup tables these definitions and the charts' formulas need (KPIs computed
    live need none)."""
    catalog = view_catalog(settings)
    dims: dict[tuple[str, str, str], dict[str, None]] = defaultdict(dict)
    measures: dict[tuple[str, str, str], dict[str, StoredMeasure]] = defaultdict(dict)
    for kpi in (*definitions, *chart_formulas(settings)):
        parts = split(kpi.formula_tree)
        if not parts.rollable or kpi.source not in catalog:
            continue
        # a KPI with a measure counted within the period is answered from one table per
        # grain, which holds all its measures (and only its splits: fewer rows)
        grained = any(_grain_of(kpi.source, m) for m in parts.measures)
        for g in GRAINS if grained else (ANY_GRAIN,):
            key = (kpi.source, kpi.period_by, g)
            for d in (*kpi.dimensions, *SIDEBAR_FILTERS):
                if d in catalog[kpi.source]:
                    dims[key][d] = None
            for m in parts.measures:
                measures[key][m.column] = m
    for view, period, grain in list(measures):
        # a ranked table's periods are recomputed from the any table's sums per supplier
        # (kpi.semantic.rollup_ranks): the any table holds the rank's `by` as a dimension
        ranked = RANKED_BY.get((view, period))
        any_key = (view, period, ANY_GRAIN)
        if grain != ANY_GRAIN and ranked and any_key in measures and ranked.by in catalog[view]:
            dims[any_key][ranked.by] = None
    return [
        RollupSpec(*key, tuple(dims[key]), tuple(ms.values()))
        for key, ms in sorted(measures.items())
    ]


class Query(str):
    """A statement's text (what callers running it as text read) and the values of its named
    parameters (`params`: the month ranges' days, views.Bounds), to bind on every run."""

    params: dict[str, object]

    def __new__(cls, text: str, params: dict[str, object] | None = None) -> Query:
        query = super().__new__(cls, text)
        query.params = dict(params or {})
        return query


def build_query(
    spec: RollupSpec,
    settings: Settings,
    months: Ranges | None = None,
    lines: str | None = None,
    instead: dict[str, str] | None = None,
    sums: bool = False,
) -> Query:
    """SELECT month, dimensions, measures FROM the view (restated at the spec's grain)
    GROUP BY month and dimensions: the rollup's rows; with `months` (ranges of whole
    months), the rows of those months only, computed from what they read (RANGE_READS,
    range_bodies); with `lines` (a DELTA table), the sums of the invoice lines of that
    table only, computed from those lines alone. Each row also counts the view's rows behind it
    (`_n`) and, in a DELTA table, each sum's values (`<column>_c`): a load's difference
    that leaves a group no row removes it, one that leaves a sum no value makes it NULL.
    The months' days are bound parameters (`.params`): the text is the same for any months
    as many ranges long. `sums`: a BY_GROUP table's sums instead of its rows (see
    _build_sums): all of them, those of `months`, or what the invoice lines of `lines` and
    their orders' rows add (without the budgets: what a load of invoices changes)."""
    select, grain, reads, params = _build_select(spec, months)
    restate = None
    if sums:  # the view's sums (kpi.store.views.group_sums_body), of the same months
        restate = "sums" if lines is None else "changes"
        where = select.args.get("where")
        select = exp.select("*").from_(exp.to_table(spec.view))
        select.set("where", where)
    # the views restated under it depend on the code, the settings and these arguments
    # only: their WITH clause is rendered once (compiler.view_ctes_sql, kept on disk), then
    # put before this SELECT as sqlglot renders the two as one tree (a test compares them)
    ctes, read = compiler.view_ctes_sql(spec.view, settings, grain, reads, lines, instead, restate)
    text = f"{ctes} {render(select)}" if ctes else render(select)
    return Query(text, {**read, **params})


def _spec_key(spec: RollupSpec) -> str:
    """What a statement made for the spec depends on: its table, view, period, grain,
    dimensions and measures (a measure's column name is its aggregate's own text)."""
    measures = [(m.column, m.again.__name__) for m in spec.measures]
    shape = [spec.name, spec.view, spec.period_column, spec.body_grain, spec.dims]
    return json.dumps([*shape, measures])


def _kept_sql(kind: str, parts: Sequence[str], make: Callable[[], str]) -> str:
    """A statement's text made once for the code and `parts` and kept on disk
    (kpi.store.catalog_cache): building one in sqlglot costs a fresh process 5 to 15 ms,
    and a small load's refresh makes some forty."""
    return catalog_cache.remembered(  # type: ignore[no-any-return]
        kind, parts, make, lambda v: isinstance(v, str) and bool(v), keep=_KEEP_SQL
    )


_KEEP_SQL = 256  # statement files kept per kind (a few per rollup table and settings)


def lines_query(
    spec: RollupSpec, settings: Settings, lines: str, instead: dict[str, str] | None
) -> Query:
    """build_query's of the rows in `lines`, kept on disk: without months it binds no
    value (its views read every row of `lines`), so its text is the whole statement."""
    parts = [repr(settings), _spec_key(spec), lines, json.dumps(instead, sort_keys=True)]

    def made() -> str:
        query = build_query(spec, settings, lines=lines, instead=instead)
        assert not query.params, "a query without months binds no value"
        return str(query)

    return Query(_kept_sql("rollup-lines", parts, made))


def _build_select(
    spec: RollupSpec, months: Ranges | None
) -> tuple[exp.Select, str, Ranges | None, dict[str, object]]:
    """build_query's SELECT without its WITH clause, the grain the views are restated at,
    the month ranges they read (None: every row) and the values of the SELECT's
    parameters (its months' days)."""
    grain = DEFAULT_GRAIN if spec.body_grain == ANY_GRAIN else spec.body_grain
    period = exp.column(spec.period_column)
    month = exp.Cast(
        this=exp.func("date_trunc", exp.Literal.string("month"), period),
        to=exp.DataType.build("DATE"),
    )
    counted = [h.build.copy().as_(h.column) for h in _hidden(spec)]
    select = exp.select(
        month.as_(MONTH),
        *[exp.column(d) for d in spec.dims],
        *[m.build.copy().as_(m.column) for m in spec.measures],
        *counted,
    ).from_(exp.to_table(spec.view))
    select = select.where(exp.Not(this=exp.Is(this=period.copy(), expression=exp.Null())))
    reads = None
    params: dict[str, object] = {}
    if months is not None:
        bounds = Bounds(months)  # the ranges themselves ($lo_i, $hi_i): no calendar read
        select = select.where(bounds.between(period.copy()))
        params = dict(bounds.params)
    if months is not None and RANGE_READS.get(spec.view, ("", ""))[0] == spec.period_column:
        reads = months
        if spec.body_grain == ANY_GRAIN:
            # its measures read no rank: the cheapest grain to restate, months (ranks and
            # snapshot counts within the month read only that month's rows)
            grain = "month"
    select = select.group_by(*[exp.Literal.number(i + 1) for i in range(1 + len(spec.dims))])
    return select, grain, reads, params


# ---- fingerprints: has anything a view reads changed since the rollup was built? ---------
def tables_read(settings: Settings, view: str) -> list[str]:
    """The store tables the view reads (through the views it reads), sorted."""
    return list(_tables_read(settings)[view])


@lru_cache(maxsize=4)
def _tables_read(settings: Settings) -> dict[str, list[str]]:
    # a function of the code and the settings only, asked on every refresh: walking the
    # filled view bodies costs a fresh process most of a second, so it is kept on disk
    return catalog_cache.remembered(  # type: ignore[no-any-return]
        "tables-read",
        [repr(settings)],
        lambda: {view: _tables_found(settings, view) for view in view_bodies(settings)},
        lambda v: (
            isinstance(v, dict)
            and set(v) == set(view_names())
            and all(
                isinstance(ts, list) and all(isinstance(t, str) for t in ts) for ts in v.values()
            )
        ),
    )


def _tables_found(settings: Settings, view: str) -> list[str]:
    bodies = view_bodies(settings)
    names = views_read(settings, None, view)
    found: set[str] = set()
    for name in names:
        body = bodies[name]
        ctes = {c.alias_or_name for c in body.find_all(exp.CTE)}
        for t in body.find_all(exp.Table):
            if t.name and t.name not in bodies and t.name not in ctes:
                found.add(t.name)
    return sorted(found)


def fingerprints(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> dict[str, str]:
    """Per table: its row count and a hash of its rows (of their lineage when big)."""
    return prints(con, tables, ())[0]


def month_prints(
    con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str, str]]
) -> dict[str, dict[str, str]]:
    """Per `table:date_column`, per month of that column: the count and hash of its rows
    (their lineage, as fingerprints() does for a big table), to tell which months changed."""
    pairs = sorted(set(pairs))
    return prints(con, sorted({t for t, _ in pairs}), pairs)[1]


def prints(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[str],
    pairs: Iterable[tuple[str, str]],
    maxima: Iterable[tuple[str, str]] = (),
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, object]]:
    """fingerprints() of `tables`, month_prints() of `pairs` and the maximum of each
    (table, column) of `maxima`, in one scan per table (GROUPING SETS: the whole table, and
    each date column's months): a big table is read once, not once per question."""
    present = _present(con)
    by_table: dict[str, list[str]] = defaultdict(list)
    for t, c in pairs:
        by_table[t].append(c)
    highs: dict[str, list[str]] = defaultdict(list)
    for t, c in maxima:
        highs[t].append(c)
    whole: dict[str, str] = {}
    months: dict[str, dict[str, str]] = {}
    tops: dict[str, object] = {}
    for name in sorted({*tables, *by_table, *highs}):
        if name not in present:
            whole[name] = "absent"
            continue
        dated = sorted(set(by_table.get(name, ())))
        tops_of = sorted(set(highs.get(name, ())))
        got = _scan(con, name, name, _row_hash(name, *present[name]), dated, tops_of)
        for c in dated:
            months[f"{name}:{c}"] = got[1][c]
        whole[name] = got[0] or "0:None"  # an empty table: no row even for the whole set
        for c in tops_of:
            tops[f"{name}:{c}"] = got[2].get(c)
    return whole, months, tops


# a lake's table with files is a view over them (kpi.store.lake): no size known, so its
# fingerprint hashes whole rows (0), never only their lineage
_PRESENT = (
    "SELECT t.table_name, t.estimated_size, list(c.column_name) "
    "FROM duckdb_tables() t JOIN duckdb_columns() c "
    "ON c.table_oid = t.table_oid "
    "WHERE t.database_name = current_database() GROUP BY ALL "
    "UNION ALL SELECT v.view_name, 0::BIGINT, list(c.column_name) "
    "FROM duckdb_views() v JOIN duckdb_columns() c ON c.table_oid = v.view_oid "
    "WHERE v.database_name = current_database() AND NOT v.internal AND NOT v.temporary "
    "GROUP BY ALL"
)


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, list[str]]]:
    """The store's tables, each with its estimated number of rows and its columns."""
    return {name: (size, cols) for name, size, cols in con.execute(_PRESENT).fetchall()}


def _row_hash(name: str, size: int, cols: list[str]) -> exp.Expression:
    """What a table's fingerprint hashes of each row: its lineage when the table is big (and
    has one), else the whole row (the table's name as a column: the row)."""
    lineage = [c for c in LINEAGE_NAMES if c in cols]
    if size > _LINEAGE_FINGERPRINT_ROWS and lineage:
        return exp.func("hash", *[exp.column(c) for c in lineage])
    return exp.func("hash", exp.column(name))


def _scan(
    con: duckdb.DuckDBPyConnection,
    source: str,
    name: str,
    hashed: exp.Expression,
    dated: list[str],
    tops_of: list[str],
) -> tuple[str | None, dict[str, dict[str, str]], dict[str, object]]:
    """One table's rows (`source`, read under the name `name`) in one scan: "count:hash" of
    all of them (None when there is none), of those of each month of each `dated` column,
    and the maximum of each `tops_of` column."""
    keys = [_month_of(exp.column(c)).as_(f"_m{i}") for i, c in enumerate(dated)]
    select = exp.select(
        *keys,
        exp.func("count", exp.Star()).as_("_n"),
        _row_sum(hashed).as_("_h"),
        *[exp.Max(this=exp.column(c)).as_(f"_x{i}") for i, c in enumerate(tops_of)],
        *[exp.func("grouping", exp.column(f"_m{i}")).as_(f"_g{i}") for i in range(len(dated))],
    ).from_(exp.to_table(source).as_(name) if source != name else exp.to_table(name))
    if dated:
        sets = [exp.Tuple(expressions=[])] + [
            exp.Tuple(expressions=[exp.column(f"_m{i}")]) for i in range(len(dated))
        ]
        select.set("group", exp.Group(grouping_sets=[exp.GroupingSets(expressions=sets)]))
    whole: str | None = None
    months: dict[str, dict[str, str]] = {c: {} for c in dated}
    tops: dict[str, object] = {}
    for row in con.execute(render(select)).fetchall():
        ms, (n, h), xs, gs = (
            row[: len(dated)],
            row[len(dated) : len(dated) + 2],
            row[len(dated) + 2 : len(dated) + 2 + len(tops_of)],
            row[len(dated) + 2 + len(tops_of) :],
        )
        grouped = [i for i, g in enumerate(gs) if g == 0]
        if not grouped:  # the whole table
            whole = f"{n}:{h}"
            tops = dict(zip(tops_of, xs, strict=True))
        else:
            (i,) = grouped
            months[dated[i]][str(ms[i])] = f"{n}:{h}"
    return whole, months, tops


def _declared_prints(
    con: duckdb.DuckDBPyConnection,
    before: _Before,
    index: dict[str, IndexEntry],
    tables: Iterable[str],
    pairs: Iterable[tuple[str, str]],
    maxima: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, object]] | None:
    """prints() after a declared load of invoices (before.change), without reading every
    line: the load changed the lines of its invoices only (in _LINES of the store now and
    of the store before it), so every other table's print is the index's (written for the
    store before), and the invoices' prints are the index's less what those lines gave
    before plus what they give now (each print is a count and a sum of row hashes). The
    maxima of the invoices' dates are asked (one column each: cheap). None when the index
    does not hold every print (a new table, another shape): prints() reads them all."""
    names = sorted({*tables, *(t for t, _ in pairs), *(t for t, _ in maxima)})
    held: dict[str, str] = {}
    held_months: dict[str, dict[str, str]] = {}
    for e in index.values():
        for t, v in e.inputs.items():
            if (e.view, t) not in SUMMARIES and held.setdefault(t, v) != v:
                return None  # entries disagree: not one store's prints
        for k, ms in e.months.items():
            if k != _ORDERS_KEY and held_months.setdefault(k, ms) != ms:
                return None
    keys = sorted({f"{t}:{c}" for t, c in pairs})
    if not set(names) <= set(held) or not set(keys) <= set(held_months):
        return None
    if {t for t, _ in maxima} - {"invoices"}:
        return None
    whole = {t: held[t] for t in names}
    months = {k: dict(held_months[k]) for k in keys}
    tops: dict[str, object] = {}
    if "invoices" in names:
        now_tables, old_tables = before.both(lambda: _present(con), _present)
        if "invoices" not in now_tables or "invoices" not in old_tables:
            return None
        hashed = _row_hash("invoices", *now_tables["invoices"])
        if render(hashed.copy()) != render(_row_hash("invoices", *old_tables["invoices"])):
            return None  # the table crossed the size where its rows' lineage is hashed
        dated = sorted({c for t, c in pairs if t == "invoices"})
        now, was = before.both(
            lambda: _scan(con, _LINES, "invoices", hashed.copy(), dated, []),
            lambda old: _scan(old, _LINES, "invoices", hashed.copy(), dated, []),
        )
        moved = _moved(whole["invoices"], was[0], now[0])
        if moved is None:
            return None
        whole["invoices"] = moved
        for c in dated:
            held_c = months[f"invoices:{c}"]
            for m in {*was[1][c], *now[1][c]}:
                value = _moved(held_c.get(m), was[1][c].get(m), now[1][c].get(m), empty=True)
                if value is None:
                    return None
                if value == "":
                    held_c.pop(m, None)  # no line left in the month
                else:
                    held_c[m] = value
        columns = sorted({c for t, c in maxima if t == "invoices"})
        if columns:
            query = exp.select(*[exp.Max(this=exp.column(c)) for c in columns]).from_(
                exp.to_table("invoices")
            )
            row = con.execute(render(query)).fetchone() or (None,) * len(columns)
            tops = {f"invoices:{c}": x for c, x in zip(columns, row, strict=True)}
    return whole, months, tops


def _moved(held: str | None, out: str | None, into: str | None, empty: bool = False) -> str | None:
    """A "count:hash" print less the rows `out` printed plus the rows `into` printed (either
    None: no row). None when `held` cannot be the print those rows are part of; with
    `empty`, "" when no row is left (a month that no longer has any)."""

    def parts(text: str | None) -> tuple[int, int] | None:
        if text is None:
            return 0, 0
        n, _, h = text.partition(":")
        try:
            return (int(n), 0) if h == "None" else (int(n), int(h))
        except ValueError:
            return None

    a, b, c = parts(held), parts(out), parts(into)
    if a is None or b is None or c is None:
        return None
    n, h = a[0] - b[0] + c[0], a[1] - b[1] + c[1]
    if n < 0 or (n == 0 and h != 0):
        return None  # the held print did not hold those rows
    if n == 0:
        return "" if empty else None
    return f"{n}:{h}"


def _month_of(day: exp.Expression) -> exp.Expression:
    return exp.Cast(
        this=exp.func("date_trunc", exp.Literal.string("month"), day),
        to=exp.DataType.build("DATE"),
    )


def _summary(view: str, table: str, whole: dict[str, str], tops: dict[str, object]) -> str | None:
    """The fingerprint of what `view` reads of `table` when SUMMARIES says (the maxima)."""
    columns = SUMMARIES.get((view, table))
    if columns is None:
        return None
    if whole.get(table) == "absent":
        return "absent"
    return "max:" + ":".join(str(tops.get(f"{table}:{c}")) for c in columns)


def _row_sum(hashed: exp.Expression) -> exp.Expression:
    """sum(hash(hash(columns))): DuckDB combines the hashes of a row's values linearly, so a
    XOR (or a sum) of hash(columns) over rows cancels: 1,000 rows reloaded under another
    load id would keep the table's XOR. Hashing that hash again breaks the linearity; a sum,
    not a XOR, keeps two equal rows from cancelling each other."""
    return exp.func("sum", exp.func("hash", hashed))


def _changed(before: dict[str, str], now: dict[str, str]) -> set[date]:
    """The months whose rows differ (added, removed or changed); rows without a date are no
    month's (no rollup row has a null period)."""
    return {
        date.fromisoformat(m)
        for m in set(before) | set(now)
        if before.get(m) != now.get(m) and m != "None"
    }


def _add_months(day: date, n: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 + n, 12)
    return date(y, m + 1, 1)


def _months_between(a: date, b: date) -> set[date]:
    """Every month from a's to b's (either order), both included."""
    lo, hi = min(a, b), max(a, b)
    out, m = set(), lo.replace(day=1)
    while m <= hi:
        out.add(m)
        m = _add_months(m, 1)
    return out


def _runs(months: Iterable[date]) -> Ranges:
    """Months as ranges of days, consecutive months joined."""
    out: list[tuple[date, date]] = []
    for m in sorted(set(months)):
        end = _add_months(m, 1) - timedelta(days=1)
        if out and out[-1][1] + timedelta(days=1) == m:
            out[-1] = (out[-1][0], end)
        else:
            out.append((m, end))
    return tuple(out)


def settings_key(settings: Settings) -> str:
    """The settings a view body depends on, as a digest (the fiscal calendar, rates...).
    Not the engine: Spark's rows equal DuckDB's (tests/spark), so a table either built
    stays good when the engine is switched."""
    same = dataclasses.replace(settings, engine=_DEFAULTS.engine, spark=_DEFAULTS.spark)
    return hashlib.sha256(repr(same).encode()).hexdigest()[:16]


_DEFAULTS = Settings()


# ---- the index: which tables the file holds, built from what ----------------------------
@dataclass
class IndexEntry:
    spec_name: str
    view: str
    period_column: str
    body_grain: str
    dims: tuple[str, ...]
    columns: frozenset[str]
    inputs: dict[str, str]
    settings: str
    months: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class RollupIndex:
    """The rollups readable now (stamped with the store's current version)."""

    entries: dict[tuple[str, str, str], IndexEntry] = field(default_factory=dict)

    def table_for(self, view: str, period_column: str, body_grain: str) -> IndexEntry | None:
        return self.entries.get((view, period_column, body_grain))


def _read_index(con: duckdb.DuckDBPyConnection) -> list[IndexEntry]:
    """The index of the attached rollups file, read by column name (a file written before a
    column was added reads it as empty: its tables are rebuilt, not misread)."""
    cursor = con.execute(_READ_INDEX)
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        out.append(
            IndexEntry(
                row["spec_name"],
                row["view"],
                row["period_column"],
                row["body_grain"],
                tuple(json.loads(row["dims"])),
                frozenset(json.loads(row["columns"])),
                json.loads(row["inputs"]),
                row["settings"],
                json.loads(row.get("months") or "{}"),
            )
        )
    return out


def version_text(store: Store) -> str:
    return ":".join(str(v) for v in store.version())


def _file_version(path: Path) -> str:
    """The rollups file's version as the stamp names it ("" when there is none)."""
    version = database.file_version(path)
    return ":".join(str(v) for v in version) if any(version) else ""


def _stamp(store: Store) -> dict[str, str]:
    try:
        data = json.loads(store.rollups_stamp_path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamp(store: Store, store_version: str) -> None:
    """Say which store version the rollups file (as it is now) matches."""
    data = {"store_version": store_version, "rollups": _file_version(store.rollups_path)}
    with private_files():
        atomic.replace(store.rollups_stamp_path, json.dumps(data).encode())


# The index of a rollups file, read once per file (it changes only when the file does).
_INDEXES: dict[str, list[IndexEntry]] = {}


def current_index(con: duckdb.DuckDBPyConnection, store: Store) -> RollupIndex | None:
    """The rollups of an open read connection, when they match the store's data now (the
    stamp names the store's current version and the rollups file as it is), else None."""
    if not enabled():
        return None
    stamp = _stamp(store)
    rollups_version = _file_version(store.rollups_path)
    if (
        not rollups_version
        or stamp.get("store_version") != version_text(store)
        or stamp.get("rollups") != rollups_version
    ):
        return None
    entries = _INDEXES.get(rollups_version)
    if entries is None:
        try:
            entries = _read_index(con)
        except duckdb.Error:
            return None  # the file could not be attached (being replaced this instant)
        if len(_INDEXES) > 16:
            _INDEXES.clear()
        _INDEXES[rollups_version] = entries
    # the attached file must be the stamped one: replaced since, its index would differ
    if _file_version(store.rollups_path) != rollups_version:
        return None
    key = settings_key(store.settings)
    return RollupIndex(
        {(e.view, e.period_column, e.body_grain): e for e in entries if e.settings == key}
    )


# ---- answering a request from them --------------------------------------------------------
def whole_months(start: date | None, end: date | None) -> bool:
    """Whether [start, end] is made of whole months (the rollups' smallest period)."""
    if start is not None and start.day != 1:
        return False
    return end is None or (end + timedelta(days=1)).day == 1


@dataclass
class Answer:
    """The KPIs of a request group that a rollup table answers, with their formulas over it."""

    table: str
    kpis: list[KpiDefinition | Formula]
    measures: list[compiler.Measure]


def answer(
    index: RollupIndex | None,
    view: str,
    period_column: str,
    kpis: Sequence[KpiDefinition | Formula],
    grain: str,
    by: Sequence[str],
    filters: Iterable[str],
    start: date | None,
    end: date | None,
) -> tuple[list[Answer], list[KpiDefinition | Formula]]:
    """Which KPIs of one group (one view and period column) the rollups answer, by table,
    and which are computed live: those whose measures, splits or filters are not stored."""
    if index is None or not whole_months(start, end):
        return [], list(kpis)
    needed = {*by, *filters}
    body = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
    served: dict[str, Answer] = {}
    live: list[KpiDefinition | Formula] = []
    for kpi in kpis:
        parts = split(kpi.formula_tree)
        if not parts.rollable:
            live.append(kpi)
            continue
        grained = any(_grain_of(view, m) for m in parts.measures)
        entry = index.table_for(view, period_column, body if grained else ANY_GRAIN)
        if (
            entry is None
            or not needed <= set(entry.dims)
            or not {m.column for m in parts.measures} <= entry.columns
        ):
            live.append(kpi)
            continue
        table = f"{ROLLUPS_DATABASE}.{entry.spec_name}"
        hit = served.setdefault(table, Answer(table, [], []))
        hit.kpis.append(kpi)
        assert parts.combine is not None
        hit.measures.append(compiler.Measure(kpi.id, parts.combine))
    return list(served.values()), live


def stored_values(
    con: duckdb.DuckDBPyConnection, store: Store, view: str, column: str
) -> list[str] | None:
    """A view column's distinct non-null values (the sidebar's choices), read from a fresh
    rollup table holding every row of the view; None when there is none (ask the view)."""
    index = current_index(con, store)
    if index is None:
        return None
    for e in sorted(index.entries.values(), key=lambda e: e.spec_name):
        if (e.view, e.period_column) in COMPLETE and column in e.dims:
            table = exp.to_table(f"{ROLLUPS_DATABASE}.{e.spec_name}")
            col = exp.column(column)
            query = (
                exp.select(col).distinct().from_(table)
                .where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())))
                .order_by(exp.Literal.number(1))
            )  # fmt: skip
            return [str(r[0]) for r in con.execute(render(query)).fetchall()]
    return None


# ---- what they hold ------------------------------------------------------------------------
@dataclass
class TableStatus:
    name: str
    view: str
    period_column: str
    grain: str
    dims: tuple[str, ...]
    measures: int
    rows: int


@dataclass
class Status:
    """What `kpi rollups` shows: whether they match the store now, and what they hold.
    `reason`, when they are not read: "missing" (none built yet), "off" (KPI_ROLLUPS) or
    "stale" (the data written since); kpi.reporting.rollups_text words it."""

    fresh: bool
    reason: str
    tables: list[TableStatus]
    size_bytes: int
    store_bytes: int
    built_at: float | None


def status(store: Store) -> Status:
    """The rollups of `store` as they are now (see Status)."""
    store_bytes = store.disk_bytes() if store.exists() else 0
    path = store.rollups_path
    if not path.is_file():  # switched off, none will be built either
        return Status(False, "missing" if enabled() else "off", [], 0, store_bytes, None)
    tables: list[TableStatus] = []
    built_at = None
    with store.read() as con:
        index = current_index(con, store)
        try:
            rows = con.execute(_STATUS).fetchall()
        except duckdb.Error:
            rows = []
    for name, view, period, grain, dims, columns, count, at in rows:
        tables.append(
            TableStatus(
                name, view, period, grain, tuple(json.loads(dims)), _measures(columns), count
            )  # fmt: skip
        )
        built_at = max(built_at or at, at)
    reason = "" if index is not None else "stale" if enabled() else "off"
    size = path.stat().st_size
    return Status(index is not None, reason, tables, size, store_bytes, built_at)


def _measures(columns: str) -> int:
    """How many measures a table holds (not the counts kept beside them, see _hidden)."""
    return sum(
        1 for c in json.loads(columns) if c not in (_ROWS, _SUMS_MARK) and not c.endswith("_c")
    )


# ---- building and refreshing --------------------------------------------------------------
@dataclass
class RefreshReport:
    built: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    since: dict[str, date] = field(default_factory=dict)  # table -> first month recomputed
    months: dict[str, Ranges] = field(default_factory=dict)  # table -> the months recomputed
    applied: list[str] = field(default_factory=list)  # tables given the load's difference
    # tables whose rows of these categories only were recomputed in their months
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # ranked tables whose months were recomputed from the any table's sums (rollup_ranks)
    ranked: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows: int = 0
    size_bytes: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # where the seconds went


def refresh(
    store: Store,
    definitions: Sequence[KpiDefinition] | None = None,
    rebuild: bool = False,
    written: Written | None = None,
) -> RefreshReport | None:
    """Bring the rollups up to date with the store and the definitions: tables whose inputs,
    settings and measures did not change are kept, the others built again (into a new file
    that then replaces the old one at once); then the stamp names the store's version.
    One refresh at a time (a lock beside the rollups file). `written`: what the write just
    landed declared (the after-write hook passes it), so that a load's difference may be
    applied."""
    if not enabled() or not store.exists():
        return None
    t0 = time.perf_counter()
    if definitions is None:
        definitions = _definitions(store.settings)
        if definitions is None:
            return None
    with atomic.locked(store.rollups_path, timeout_s=_LOCK_WAIT_S):
        report = _refresh(store, definitions, rebuild, written)
    report.seconds = time.perf_counter() - t0
    report.size_bytes = store.rollups_path.stat().st_size if store.rollups_path.exists() else 0
    return report


def _refresh(
    store: Store, definitions: Sequence[KpiDefinition], rebuild: bool, written: Written | None
) -> RefreshReport:
    specs = plan(definitions, store.settings)
    skey = settings_key(store.settings)
    report = RefreshReport()
    before = _Before(None, store.settings)  # the store before a declared load, if asked
    with store.read() as con, closing(before):
        version = version_text(store)
        try:
            old = {e.spec_name: e for e in _read_index(con)}
        except duckdb.Error:
            old = {}
        on_spark = spark_builds(store)
        if not rebuild and _covered(specs, old, skey, on_spark) and _stamped(store, version):
            report.kept = sorted(s.name for s in specs)  # a save that added no measure
            return report
        tables = {s.view: tables_read(store.settings, s.view) for s in specs}
        pairs = {
            (t, d.column)
            for s in specs
            for t, d in INCREMENTAL.get((s.view, s.period_column), {}).items()
        }
        maxima = {(t, c) for (v, t), cs in SUMMARIES.items() if v in tables for c in cs}
        t0 = time.perf_counter()
        change = None if rebuild or written is None else _declared_change(store, written, con)
        before.change = change
        before.open_soon()  # on its own thread, while the store now is read
        # one scan per big table: its fingerprint, its months' and the maxima read; after a
        # declared load, the index's prints moved by what the load's lines changed
        read = sorted({t for ts in tables.values() for t in ts})
        found = None if change is None else _declared_prints(con, before, old, read, pairs, maxima)
        whole, months, tops = found or prints(con, read, pairs, maxima)
        report.phases["prints"] = time.perf_counter() - t0
        inputs = {
            view: {t: _summary(view, t, whole, tops) or whole[t] for t in ts}
            for view, ts in tables.items()
        }
        orders = (
            _Orders(con)
            if found is None
            else _Orders(con, before.named_orders(con), lambda: before.order_lines(con))
        )
        work: dict[str, Ranges | None] = {}  # spec name -> None: kept, else the months to do
        stored: dict[str, dict[str, dict[str, str]]] = {}  # what the index keeps of months
        t0 = time.perf_counter()
        deltas: set[str] = set()  # tables the load's difference may be applied to
        # on Spark every row is computed by Spark from the lake (_insert): no difference or
        # rank derived here in DuckDB, which would be a second way to the same figures
        for spec in specs:
            months_to_do, stored[spec.name] = _what_to_do(
                spec, old.get(spec.name), inputs[spec.view], months, skey, rebuild,
                store.settings, orders, _keeps_sums(spec, on_spark),
            )  # fmt: skip
            if (
                months_to_do is not None
                and not on_spark
                and _delta_applies(spec, old.get(spec.name), inputs[spec.view], skey, change)
            ):
                deltas.add(spec.name)
            if months_to_do is not _REBUILD:
                work[spec.name] = months_to_do  # type: ignore[assignment]
        report.phases["months"] = time.perf_counter() - t0
        if (
            any(w is not None for w in work.values())
            or len(work) < len(specs)
            or set(old) - set(work)
        ):
            _write_file(
                store, con, specs, work, inputs, stored, skey, report, change, deltas, before
            )  # fmt: skip
        report.kept = sorted(n for n, months_to_do in work.items() if months_to_do is None)
        report.months = {
            n: months_to_do
            for n, months_to_do in work.items()
            if months_to_do is not None and n not in report.applied and n not in report.built
        }
        report.since = {n: months_to_do[0][0] for n, months_to_do in report.months.items()}
    _write_stamp(store, version)
    return report


_REBUILD = object()  # _what_to_do's answer: build the table whole
# The month prints of the orders invoiced each month (see _Orders), kept in the index.
_ORDERS_KEY = "invoices:invoice_date:po_id"


def _covered(
    specs: list[RollupSpec], old: dict[str, IndexEntry], skey: str, spark: bool = False
) -> bool:
    """Every table built with this shape (and, written through its sums, with them)."""
    return all(
        s.name in old
        and _same_shape(s, old[s.name], skey)
        and (not _keeps_sums(s, spark) or _SUMS_MARK in old[s.name].columns)
        for s in specs
    )


def _same_shape(spec: RollupSpec, before: IndexEntry, skey: str) -> bool:
    """Built with these settings, these dimensions and at least these measures (and the
    count of rows behind each group, which a file written before it was kept lacks)."""
    return (
        before.settings == skey
        and before.dims == spec.dims
        and {m.column for m in (*spec.measures, *_hidden(spec))} <= before.columns
    )


def _stamped(store: Store, version: str) -> bool:
    stamp = _stamp(store)
    return stamp.get("store_version") == version and stamp.get("rollups") == _file_version(
        store.rollups_path
    )


class _Orders:
    """What the orders invoiced in some months reach, asked of the store (each question
    once per refresh). A view whose rows read every line of an order (invoice_match's
    quantity invoiced to date, budget_vs_actual's committed spend net of what was invoiced)
    changes wherever the orders of the changed lines are: those of the lines as they are
    now (asked here), and those of the lines as they were, which are the same when each
    changed month invoices the same set of orders as before (its print, kept in the index)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        named: list[str] | None = None,
        copies: Callable[[], object] | None = None,
    ):
        self.con = con
        # a declared load: the orders of the lines it changed (as they were and are now),
        # the only ones whose other lines and due months its change reaches
        self.named = named
        # with them, what makes the copies of those orders' rows in `con` (_Before.order_
        # lines: every difference of their orders reads them): the questions below read
        # the copies, not the 10 million lines and the orders' tables
        self.copies = copies
        self._asked: dict[tuple[str, Ranges | None], object] = {}

    def _ask(self, what: str, months: set[date] | None, make: Callable[[], object]) -> object:
        key = (what, None if months is None else _runs(months))
        if key not in self._asked:
            self._asked[key] = make()
        return self._asked[key]

    def _in(self, months: set[date]) -> exp.Expression:
        return between_any(exp.column("invoice_date"), _runs(months))

    def prints(self, months: set[date] | None) -> dict[str, str]:
        """Per month (all, or these): a print of the set of orders its lines name."""

        def make() -> dict[str, str]:
            po = exp.column("po_id")
            query = exp.select(
                _month_of(exp.column("invoice_date")),
                exp.func("count", exp.Distinct(expressions=[po.copy()])),
                exp.func("sum", exp.Distinct(expressions=[exp.func("hash", po.copy())])),
            ).from_(exp.to_table("invoices"))
            if months is not None:
                query = query.where(self._in(months))
            query = query.group_by(exp.Literal.number(1))
            return {str(m): f"{n}:{h}" for m, n, h in self.con.execute(render(query)).fetchall()}

        return self._ask("prints", months, make)  # type: ignore[return-value]

    def _named(self, months: set[date]) -> exp.Expression:
        if self.named is not None:  # a bound list (the parameter _months passes)
            return exp.func("list_contains", exp.Placeholder(this=_NAMED), exp.column("po_id"))
        lines = exp.select("po_id").from_(exp.to_table("invoices")).where(self._in(months))
        return exp.In(this=exp.column("po_id"), query=lines.subquery())

    def _months(self, query: exp.Expression) -> set[date]:
        binds = any(p.this == _NAMED for p in query.find_all(exp.Placeholder))
        params = {_NAMED: self.named} if binds else {}
        rows = self.con.execute(render(query), params).fetchall()
        return {m for (m,) in rows if m is not None}

    def later_lines(self, months: set[date]) -> set[date]:
        """The months of the lines, from the first of `months` on, of the orders invoiced in
        `months` (invoice_match: each line reads the order's earlier lines)."""

        def make() -> set[date]:
            since = exp.GTE(this=exp.column("invoice_date"), expression=_day(min(months)))
            if self.named is not None and self.copies is not None:
                self.copies()  # every line of the named orders, and the lines without one
                lines, named = _ORDER_LINES, parsed(_HAS_ORDER).copy()
            else:
                lines, named = "invoices", self._named(months)
            query = (
                exp.select(_month_of(exp.column("invoice_date"))).distinct()
                .from_(exp.to_table(lines))
                .where(exp.and_(since, named))
            )  # fmt: skip
            return self._months(query)

        return self._ask("later", months, make)  # type: ignore[return-value]

    def due(self, months: set[date]) -> set[date]:
        """The months the lines of the orders invoiced in `months` are due in (promised,
        else ordered) or were received in (budget_vs_actual's committed and accrued spend,
        net of what was invoiced on the order)."""

        def make() -> set[date]:
            due_day = exp.func("coalesce", exp.column("promised_date"), exp.column("po_date"))
            tables = {"purchase_orders": "purchase_orders", "goods_receipts": "goods_receipts"}
            named: exp.Expression = exp.true()  # the copies hold the named orders' rows only
            if self.named is not None and self.copies is not None:
                self.copies()
                tables = _ORDERS_ROWS
            else:
                named = self._named(months)
            ordered = (
                exp.select(_month_of(due_day)).distinct()
                .from_(exp.to_table(tables["purchase_orders"])).where(named.copy())
            )  # fmt: skip
            received = (
                exp.select(_month_of(exp.column("receipt_date"))).distinct()
                .from_(exp.to_table(tables["goods_receipts"])).where(named.copy())
            )  # fmt: skip
            return self._months(exp.union(ordered, received, distinct=True))

        return self._ask("due", months, make)  # type: ignore[return-value]


# the bound list of the load's orders in _Orders' questions (a named parameter: each of
# its uses in a statement reads the same list)
_NAMED = "orders"
_HAS_ORDER = "po_id IS NOT NULL"  # a line of _ORDER_LINES of one of the named orders


def _day(day: date) -> exp.Expression:
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"))


def _what_to_do(
    spec: RollupSpec,
    before: IndexEntry | None,
    inputs: dict[str, str],
    months: dict[str, dict[str, str]],
    skey: str,
    rebuild: bool,
    settings: Settings,
    orders: _Orders,
    sums: bool = False,
) -> tuple[object, dict[str, dict[str, str]]]:
    """None: keep the table; ranges: recompute those months (INCREMENTAL says which a
    change reaches); _REBUILD (also for a table written through its `sums` whose index
    entry lacks their mark: they were not kept). And the month prints the index keeps for
    the table."""
    dated = INCREMENTAL.get((spec.view, spec.period_column), {})
    keys = {t: f"{t}:{d.column}" for t, d in dated.items()}
    stored = {k: months[k] for k in keys.values() if k in months}
    by_orders = any(d.reach in ("orders", "due") for d in dated.values())

    def rebuilt() -> tuple[object, dict[str, dict[str, str]]]:
        if by_orders:
            stored[_ORDERS_KEY] = orders.prints(None)
        return _REBUILD, stored

    if rebuild or before is None or not _same_shape(spec, before, skey):
        return rebuilt()
    if sums and _SUMS_MARK not in before.columns:
        return rebuilt()
    if by_orders and _ORDERS_KEY in before.months:
        stored[_ORDERS_KEY] = before.months[_ORDERS_KEY]
    changed = [t for t, now in inputs.items() if before.inputs.get(t) != now]
    if not changed:
        return None, stored
    if any(t not in dated for t in changed):
        return rebuilt()
    months_to_do: set[date] = set()
    open_from: date | None = None
    for t in changed:
        d, key = dated[t], keys[t]
        if key not in before.months or key not in months:
            return rebuilt()
        was, now = before.months[key], months[key]
        got = _changed(was, now)
        if d.extent:
            # the first and last months read (bounds): the months between old and new too
            old_m = sorted(date.fromisoformat(m) for m in was if m != "None")
            new_m = sorted(date.fromisoformat(m) for m in now if m != "None")
            if not old_m or not new_m:
                return rebuilt()
            got |= _months_between(old_m[0], new_m[0]) if old_m[0] != new_m[0] else set()
            got |= _months_between(old_m[-1], new_m[-1]) if old_m[-1] != new_m[-1] else set()
        if not got:
            continue
        if d.reach == "year_on":
            # a year on, up to the last month dated (no row is moved past the last day)
            last = max(date.fromisoformat(m) for m in {*was, *now} if m != "None")
            months_to_do |= got | {_add_months(m, 12) for m in got if _add_months(m, 12) <= last}
        elif d.reach == "from":
            open_from = min(open_from or min(got), min(got))
        elif d.reach in ("orders", "due"):
            if _ORDERS_KEY not in before.months:
                return rebuilt()
            was_po = before.months[_ORDERS_KEY]
            now_po = orders.prints(got)
            same = all(was_po.get(str(m)) == now_po.get(str(m)) for m in got)
            stored[_ORDERS_KEY] = {
                m: p for m, p in was_po.items() if m == "None" or date.fromisoformat(m) not in got
            } | now_po
            if not same and d.reach == "due":
                return rebuilt()
            if not same:  # an order no longer invoiced there: every later month
                open_from = min(open_from or min(got), min(got))
            else:
                months_to_do |= got | (
                    orders.later_lines(got) if d.reach == "orders" else orders.due(got)
                )
        else:
            months_to_do |= got
    if not months_to_do and open_from is None:
        return None, stored  # only rows without a date changed: none of this table's rows
    if spec.body_grain in ("quarter", "year"):
        # ranks are within the period: recompute the whole periods holding those months
        cal = settings.fiscal

        def whole(m: date) -> tuple[date, date]:
            return periods.period_range(periods.label(m, spec.body_grain, cal), cal)

        months_to_do = {x for m in months_to_do for x in _months_between(*whole(m))}
        open_from = whole(open_from)[0] if open_from is not None else None
    ranges = _runs(m for m in months_to_do if open_from is None or m < open_from)
    if open_from is not None:
        ranges = (*ranges, (open_from, _OPEN_END))
    return ranges, stored


def _write_file(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    specs: list[RollupSpec],
    work: dict[str, Ranges | None],
    inputs: dict[str, dict[str, str]],
    stored: dict[str, dict[str, dict[str, str]]],
    skey: str,
    report: RefreshReport,
    change: _Change | None = None,
    deltas: set[str] | frozenset[str] = frozenset(),
    opened: _Before | None = None,
) -> None:
    """The rollups file updated on a copy that then replaces it at once (a reader never sees
    a half-updated file): kept tables stay as they are, tables recomputed for some months
    lose those months' rows and gain the new ones, others are built whole. A copy of the
    12 MB file and a few deletes and inserts cost a fraction of writing every table anew."""
    target = store.rollups_path
    temp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    spark = spark_builds(store)
    with private_files():
        _remove(temp)
        in_place = bool(work or deltas) and target.is_file()
        if in_place:
            shutil.copyfile(target, temp)
            os.chmod(temp, PRIVATE)
        out = duckdb.connect(str(temp))
        before = opened or _Before(change, store.settings)  # the refresh's, when it has one
        try:
            present = {n for (n,) in out.execute(_TABLES).fetchall()} if in_place else set()
            out.execute("BEGIN TRANSACTION")
            if _INDEX in present:
                out.execute(_drop(_INDEX))
            out.execute(_INDEX_DDL)
            planned = {s.name for s in specs}
            planned |= {_sums_table(s) for s in specs if _keeps_sums(s, spark)}
            for name in sorted(present - planned - {_INDEX}):
                out.execute(_drop(name))
            for spec in specs:
                months_to_do = work.get(spec.name, _REBUILD)
                t0 = time.perf_counter()
                sums = _keeps_sums(spec, spark)
                have = sums and _sums_table(spec) in present and spec.name in present
                if (
                    spec.name in deltas
                    and spec.name in present
                    and (
                        _apply_delta(out, con, before, spec, store.settings)
                        or _apply_groups(out, con, before, spec, store.settings, have)
                    )
                ):
                    report.applied.append(spec.name)
                elif months_to_do is None and spec.name in present:
                    pass  # kept as it is
                elif sums:  # built whole, or some months, through its sums
                    whole = months_to_do is _REBUILD or not have
                    some: Ranges | None = None if whole else months_to_do  # type: ignore[assignment]
                    _build_sums(out, con, spec, store.settings, some, have)
                    if whole:
                        report.built.append(spec.name)
                elif months_to_do is _REBUILD or spec.name not in present:
                    if spec.name in present:
                        out.execute(_drop(spec.name))
                    _insert(out, con, spec, store.settings, None, create=True, spark=spark)
                    report.built.append(spec.name)
                elif not spark and _rank_rows(
                    out, con, before, spec, specs, months_to_do, deltas, report
                ):
                    report.ranked.append(spec.name)
                else:
                    ranges: Ranges = months_to_do  # type: ignore[assignment]
                    cats = before.categories(con) if _by_category(spec, deltas) else None
                    lines = None if cats is None else _category_lines(con, ranges, cats)
                    if cats is not None:
                        report.categories[spec.name] = cats
                    out.execute(_delete_months(spec.name, ranges, cats))
                    _insert(out, con, spec, store.settings, ranges, False, lines, spark=spark)
                report.phases[spec.name] = time.perf_counter() - t0
                out.execute(
                    _INSERT_INDEX,
                    [
                        spec.name,
                        spec.view,
                        spec.period_column,
                        spec.body_grain,
                        json.dumps(list(spec.dims)),
                        json.dumps(
                            [m.column for m in (*spec.measures, *_hidden(spec))]
                            + ([_SUMS_MARK] if _keeps_sums(spec, spark) else [])
                        ),
                        json.dumps(inputs[spec.view], sort_keys=True),
                        skey,
                        json.dumps(stored[spec.name]),
                        time.time(),
                    ],
                )
            out.execute("COMMIT")
            report.rows = out.execute(_ROW_COUNT).fetchone()[0] or 0
            t0 = time.perf_counter()
            out.execute("CHECKPOINT")
            report.phases["checkpoint"] = time.perf_counter() - t0
        except BaseException:
            out.close()
            _remove(temp)
            raise
        finally:
            before.close()
        out.close()
        os.chmod(temp, PRIVATE)
        os.replace(temp, target)


def _rank_rows(
    out: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    before: _Before,
    spec: RollupSpec,
    specs: list[RollupSpec],
    months_to_do: object,
    deltas: set[str] | frozenset[str],
    report: RefreshReport,
) -> bool:
    """A ranked table's months (of the load's categories, after a declared load) recomputed
    from its any table's sums per supplier, already brought up to date in `out`
    (kpi.semantic.rollup_ranks); False: recompute them from the lines."""
    from kpi.semantic import rollup_ranks

    if rollup_ranks.source_spec(spec, specs) is None:
        return False
    ranges: Ranges = months_to_do  # type: ignore[assignment]
    cats = before.categories(con) if _by_category(spec, deltas) else None
    if not rollup_ranks.rank_rows(out, spec, specs, ranges, cats, before.settings):
        return False
    if cats is not None:
        report.categories[spec.name] = cats
    return True


# ---- a load's difference, applied (DELTA) ---------------------------------------------------
# A load that wrote more invoices than this recomputes the months instead (the difference
# is computed from the invoices named in the query: a long list costs more than it saves).
_DELTA_MAX_INVOICES = 20_000


@dataclass(frozen=True)
class _Change:
    """A load's declared change to the invoices (Store.declare): the invoices it wrote
    lines of, and the store as it was before (a second name of the replaced file)."""

    old: Path
    invoice_ids: tuple[str, ...]


@dataclass(frozen=True)
class Written:
    """What a write declared (Store.declare) and the store it replaced, taken when the write
    landed (Store.replaced is gone once the after-write hooks return)."""

    replaced: Path | None
    declared: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, store: Store) -> Written:
        return cls(store.replaced, dict(store.declared))


def _declared_change(
    store: Store, written: Written, con: duckdb.DuckDBPyConnection
) -> _Change | None:
    """The change the write that just landed declared, when it is a load of invoices whose
    replaced store is still there; else None (the months are recomputed)."""
    load_ids = written.declared.get("invoices")
    old = written.replaced
    if not load_ids or old is None or not old.is_file() or set(written.declared) != {"invoices"}:
        return None
    # the rollups must match the store the write replaced (the stamp names its version: a
    # second name of the same file), else they missed an earlier write: recompute
    stamp = _stamp(store)
    if stamp.get("store_version") != ":".join(str(v) for v in database.file_version(old)):
        return None
    if stamp.get("rollups") != _file_version(store.rollups_path):
        return None
    ids = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT invoice_id FROM invoices WHERE list_contains(?, load_id)",
            [list(load_ids)],
        ).fetchall()
    ]
    if not ids or len(ids) > _DELTA_MAX_INVOICES:
        return None
    change = _Change(old, tuple(sorted(ids)))
    _copy_lines(con, change)
    return change


# The lines of the invoices a load wrote, copied once into each store's connection (a
# temporary table): every difference reads them, not the 10 million lines.
_LINES = "_kpi_delta_lines"
_COPY_LINES = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_lines AS "  # the name is _LINES
    "SELECT * FROM invoices WHERE list_contains(?, invoice_id)"
)


def _copy_lines(con: duckdb.DuckDBPyConnection, change: _Change) -> None:
    con.execute(_COPY_LINES, [list(change.invoice_ids)])


def _delta_applies(
    spec: RollupSpec,
    before: IndexEntry | None,
    inputs: dict[str, str],
    skey: str,
    change: _Change | None,
) -> bool:
    """Whether the load's change may replace recomputing the table's months: a table built
    before with these settings, whose inputs changed in the invoices only, and either a
    DELTA view at no grain whose measures all add up (sums and counts; not a minimum or a
    maximum: its difference is applied) or a BY_CATEGORY view split by category (the rows
    of the load's categories only are recomputed)."""
    if change is None or before is None or not _same_shape(spec, before, skey):
        return False
    if [t for t, now in inputs.items() if before.inputs.get(t) != now] != ["invoices"]:
        return False
    return (
        _differs(spec)
        or (_by_group(spec) and _SUMS_MARK in before.columns)
        or ((spec.view, spec.period_column) in BY_CATEGORY and "category" in spec.dims)
    )


def _differs(spec: RollupSpec) -> bool:
    """A table a load's difference may be applied to (DELTA, no grain, measures that add)."""
    if (spec.view, spec.period_column) not in DELTA or spec.body_grain != ANY_GRAIN:
        return False
    return all(_additive(m) is not None for m in spec.measures)


def _by_category(spec: RollupSpec, narrowed: set[str] | frozenset[str]) -> bool:
    """Whether the load's categories' rows only are recomputed in the months it changed."""
    key = (spec.view, spec.period_column)
    return spec.name in narrowed and key in BY_CATEGORY and "category" in spec.dims


class _Side(Generic[_T]):
    """`make()` run on a thread of its own; `result()` waits for it and returns its value
    or raises its exception. A plain thread, not an executor's: a refresh that runs while
    the interpreter exits (an app's background refresh, joined at exit) may still start
    one, where concurrent.futures refuses new work."""

    def __init__(self, make: Callable[[], _T]) -> None:
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(make,), name="rollups-before")
        self._thread.start()

    def _run(self, make: Callable[[], _T]) -> None:
        try:
            self._value = make()
        except BaseException as exc:  # noqa: BLE001 - raised again by result()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> _T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class _Before:
    """A read connection to the store as it was before the write, opened when first asked
    (a difference needs the replaced lines' sums), or ahead (`open_soon`) on a thread of its
    own; each pair of questions (`both`) asks it the before half on a thread while the
    refresh asks the store now the other half: two files, two connections, two cores."""

    def __init__(self, change: _Change | None, settings: Settings) -> None:
        self.change, self.settings = change, settings
        self._stack: ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opening: _Side[duckdb.DuckDBPyConnection] | None = None
        self._orders: bool = False
        self._base: bool = False
        self._named: list[str] | None = None
        self._unmoved: dict[str, bool] = {}
        self._categories: tuple[str, ...] | None | bool = False  # False: not asked yet

    def _open(self) -> duckdb.DuckDBPyConnection:
        assert self.change is not None
        stack = ExitStack()
        try:
            before = store_as_replaced(self.change.old, self.settings)  # a file, or a lake's
            con = stack.enter_context(before.read())
            _copy_lines(con, self.change)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return con

    def open_soon(self) -> None:
        """Start opening the store before (and copying its lines of the load) on a thread,
        while the refresh reads the store now."""
        if self.change is not None and self._con is None and self._opening is None:
            self._opening = _Side(self._open)

    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = self._open() if self._opening is None else self._opening.result()
        return self._con

    def both(
        self, now: Callable[[], _T], then: Callable[[duckdb.DuckDBPyConnection], _U]
    ) -> tuple[_T, _U]:
        """`now()` on this thread and `then(store before)` on another, at the same time.
        An open begun ahead is waited for by `then`'s thread; the connection before is used
        by one thread at a time (`both` returns or raises only once `then` is done)."""
        later = _Side(lambda: then(self.con()))
        try:
            first = now()
        except BaseException:
            later.wait()  # the connection before is free again before anything else
            raise
        return first, later.result()

    def close(self) -> None:
        if self._opening is not None:
            self._opening.wait()
        if self._stack is not None:
            self._stack.close()
        self._stack = self._con = self._opening = None

    def unmoved(self, con: duckdb.DuckDBPyConnection, what: str) -> bool:
        """Whether `what` (a key of _READ_TOO; "" nothing) is the same before and now
        (asked once per refresh)."""
        if what and what not in self._unmoved:
            query = _READ_TOO[what]
            now, was = self.both(
                lambda: con.execute(query).fetchall(), lambda old: old.execute(query).fetchall()
            )
            self._unmoved[what] = now == was
        return not what or self._unmoved[what]

    def named_orders(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """The orders of the load's lines, as they are now (in `con`) and as they were
        (asked once per refresh)."""
        if self._named is None:
            now, was = self.both(
                lambda: con.execute(_ORDERS_NAMED).fetchall(),
                lambda old: old.execute(_ORDERS_NAMED).fetchall(),
            )
            self._named = sorted({r[0] for r in (*now, *was)})
        return self._named

    def order_lines(self, con: duckdb.DuckDBPyConnection) -> str:
        """The name of a temporary table holding, in the store before and in `con` (the
        store now), every line of the orders the load's lines named before or name now,
        and its lines without an order (BY_ORDER: each reads its order's other lines)."""
        if not self._orders:
            named = self.named_orders(con)
            # the numbers' range too (sorted as DuckDB compares text: by code point): the
            # tables are stored about in order-number order, and the range lets their zone
            # maps skip most row groups, which a list alone does not (a tenth of the time)
            lo, hi = (named[0], named[-1]) if named else (None, None)
            if _stored_table(con, "invoices"):
                # their row numbers first (a scan of the order column alone), then those
                # rows whole: half the time of one filtered SELECT * over the range
                found = con.execute(_ORDER_ROWIDS, [lo, hi, named]).fetchall()
                con.execute(_COPY_ORDER_ROWS, [[r for (r,) in found]])
            else:  # a lake's view: no row numbers
                con.execute(_COPY_ORDERS[0], [lo, hi, named])
            for statement in _COPY_ORDERS[1:]:
                con.execute(statement, [lo, hi, named])
            self._orders_before(con, self.con())
            self._orders = True
        return _ORDER_LINES

    def base(self, con: duckdb.DuckDBPyConnection) -> str:
        """The name of a temporary table holding, in the store before and in `con`, the
        spend_base rows of the load's lines (their orders read from the copies): the rows
        every DELTA view of those lines reads first. Made once per store, then read by each
        difference instead of spend_base restated in it (DuckDB spends a fiftieth of a
        second binding and planning spend_base's joins in each question, on each side)."""
        if not self._base:
            self.order_lines(con)  # the orders' copies spend_base reads
            ctes, _ = compiler.view_ctes_sql(
                "spend", self.settings, DEFAULT_GRAIN, None, _LINES, _ORDERS_ROWS
            )
            query = Query(f"{ctes} {render(exp.select('*').from_('spend_base'))}")

            def made(side: duckdb.DuckDBPyConnection) -> None:
                with registered(side, _kpi_base_rows=side.sql(query).to_arrow_table()):
                    side.execute(_BASE_MADE)

            self.both(lambda: made(con), made)
            self._base = True
        return _BASE

    def _orders_before(
        self, con: duckdb.DuckDBPyConnection, old: duckdb.DuckDBPyConnection
    ) -> None:
        """The same copies in the store before, made from those of the store now instead of
        scanning it again: a declared load of invoices changed the lines of its invoices
        only (the store before has their old lines in _LINES) and no order or receipt."""
        assert self.change is not None
        ids = list(self.change.invoice_ids)
        for copy in (_ORDER_LINES, *_ORDERS_ROWS.values()):
            with registered(old, _kpi_now=con.table(copy).to_arrow_table()):
                if copy == _ORDER_LINES:
                    old.execute(_ORDER_LINES_BEFORE, [ids, self.named_orders(con)])
                else:
                    old.execute(_COPY_NOW[copy])

    def categories(self, con: duckdb.DuckDBPyConnection) -> tuple[str, ...] | None:
        """The categories (resolved, as the views' `category`) of the load's lines before
        and now; None when one of them has none (its rows are recomputed whole)."""
        if self._categories is False:
            try:
                now, was = self.both(
                    lambda: con.execute(_CATEGORIES).fetchall(),
                    lambda old: old.execute(_CATEGORIES).fetchall(),
                )
                found = {r[0] for r in (*now, *was)}
            except (duckdb.Error, StoreError):
                found = {None}
            self._categories = None if None in found else tuple(sorted(found))
        return self._categories  # type: ignore[return-value]


# The orders the load's lines name, and every line of them (BY_ORDER). The order numbers
# are bound, never typed into the text.
_ORDER_LINES = "_kpi_delta_order_lines"
_ORDERS_NAMED = "SELECT DISTINCT po_id FROM _kpi_delta_lines WHERE po_id IS NOT NULL"
_COPY_ORDERS = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_order_lines AS "  # the name is _ORDER_LINES
    "SELECT * FROM invoices WHERE po_id BETWEEN ? AND ? "
    "AND list_contains(CAST(? AS VARCHAR[]), po_id) "  # a filter
    "UNION ALL SELECT * FROM _kpi_delta_lines WHERE po_id IS NULL",
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_po AS SELECT * FROM purchase_orders "
    "WHERE po_id BETWEEN ? AND ? AND list_contains(CAST(? AS VARCHAR[]), po_id)",
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_gr AS SELECT * FROM goods_receipts "
    "WHERE po_id BETWEEN ? AND ? AND list_contains(CAST(? AS VARCHAR[]), po_id)",
)
_ORDER_ROWIDS = (
    "SELECT rowid FROM invoices WHERE po_id BETWEEN ? AND ? "
    "AND list_contains(CAST(? AS VARCHAR[]), po_id)"
)
_COPY_ORDER_ROWS = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_order_lines AS "  # the name is _ORDER_LINES
    "SELECT * FROM invoices WHERE list_contains(CAST(? AS BIGINT[]), rowid) "
    "UNION ALL SELECT * FROM _kpi_delta_lines WHERE po_id IS NULL"
)
# The store before's copies, from the store now's (registered as _kpi_now): its lines but
# those of the load's invoices, which are the store before's own (its _LINES) when they
# name one of the orders or none.
_ORDER_LINES_BEFORE = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_order_lines AS "  # the name is _ORDER_LINES
    "SELECT * FROM _kpi_now WHERE NOT list_contains(CAST($1 AS VARCHAR[]), invoice_id) "
    "UNION ALL BY NAME SELECT * FROM _kpi_delta_lines "
    "WHERE po_id IS NULL OR list_contains(CAST($2 AS VARCHAR[]), po_id)"
)
_BASE = "_kpi_delta_base"  # spend_base's rows of the load's lines (see _Before.base)
_BASE_MADE = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_base AS "  # the name is _BASE
    "SELECT * FROM _kpi_base_rows"
)
_COPY_NOW = {
    "_kpi_delta_po": "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_po AS SELECT * FROM _kpi_now",
    "_kpi_delta_gr": "CREATE OR REPLACE TEMPORARY TABLE _kpi_delta_gr AS SELECT * FROM _kpi_now",
}  # the copies of _ORDERS_ROWS


def _stored_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether `name` is a table of the store's own (with row numbers), not a view."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(found and found[0])


# A DELTA view reads these orders' lines and receipts only: each of its reads of them
# (spend_base's order heads, invoice_match's prices and receipts) joins them to the lines
# by order, and the orders are those of every line read (a BY_ORDER view's lines are
# these orders' lines). A copy of their rows is read instead of the 9 million.
_ORDERS_ROWS = {"purchase_orders": "_kpi_delta_po", "goods_receipts": "_kpi_delta_gr"}
# The load's lines' categories as spend_base resolves them (the line's, else its item's).
_CATEGORIES = (
    "SELECT DISTINCT coalesce(l.category, it.category) FROM _kpi_delta_lines l "
    "LEFT JOIN items it ON it.item_id = l.item_id"
)
_CATEGORY_LINES = "_kpi_category_lines"


def _category_lines(
    con: duckdb.DuckDBPyConnection, months: Ranges, categories: tuple[str, ...]
) -> str:
    """The name of a temporary table of the store's invoice lines in `months` whose
    category (the line's, else its item's) is one of `categories`: a BY_CATEGORY table's
    rows of those categories in those months come from these lines alone (the months are
    whole periods of the table's grain, so ranks are over every line of the period)."""
    cats = exp.Array(expressions=[exp.Literal.string(c) for c in categories])
    own = exp.func("list_contains", cats.copy(), exp.column("category"))
    by_item = exp.In(
        this=exp.column("item_id"),
        query=exp.select("item_id")
        .from_(exp.to_table("items"))
        .where(exp.func("list_contains", cats.copy(), exp.column("category")))
        .subquery(),
    )
    of_item = exp.and_(exp.Is(this=exp.column("category"), expression=exp.Null()), by_item)
    read = (
        exp.select("*")
        .from_(exp.to_table("invoices"))
        .where(exp.and_(between_any("invoice_date", months), exp.or_(own, of_item)))
    )
    con.execute(
        render(
            exp.Create(
                this=exp.to_table(_CATEGORY_LINES),
                kind="TABLE",
                expression=read,
                replace=True,
                properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
            )
        )
    )
    return _CATEGORY_LINES


# ---- budget_vs_actual from its sums (BY_GROUP) ---------------------------------------------
# Beside the table, in a table of its own in the rollups file, the sums its groups' figures
# are made of (kpi.store.views.GROUP_SUMS: per month, cost centre, category, currency and
# measure, exact and not yet converted). Every way the table is written goes through them:
# built whole (all the sums, then every group's rows from them), recomputed for some months
# (those months' sums, then their rows), or, after a declared load of invoices, given the
# load's difference (the moves of its lines and of every line of the orders they name, now
# less before) and then the rows of the groups it changed: a few hundred sums, where the
# groups themselves hold hundreds of thousands of invoice lines. The index marks a table
# written so (_SUMS_MARK); a table without the mark (written before the sums were kept) is
# built again. Not on Spark, which computes every row itself.
_SUMS_MARK = "_sums"
_CHANGE = "_kpi_bva_change"  # the load's difference of the sums (temporary, in `out`)
_MERGED = "_kpi_bva_merged"  # the changed sums as they become
_TOUCHED = "_kpi_bva_touched"  # the groups (month, cost centre, category) of the change
# the difference: the sums now less those before, a sum that did not change left out
_CHANGE_MADE = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_bva_change AS "  # the name is _CHANGE
    "SELECT month_start, cost_centre, category, currency, measure, sum(amount) AS amount, "
    "sum(at_transaction) AS at_transaction, sum(at_n) AS at_n, sum(n) AS n FROM ("
    "SELECT * FROM _now UNION ALL BY NAME "
    "SELECT month_start, cost_centre, category, currency, measure, -amount AS amount, "
    "-at_transaction AS at_transaction, -at_n AS at_n, -n AS n FROM _was) GROUP BY ALL "
    "HAVING sum(amount) <> 0 OR sum(at_n) <> 0 OR sum(n) <> 0 "
    "OR coalesce(sum(at_transaction), 0) <> 0"
)
# one of the change's keys is the sum's (s): NULL matching NULL
_SAME_SUM = (
    "s.month_start = c.month_start AND s.cost_centre IS NOT DISTINCT FROM c.cost_centre "
    "AND s.category IS NOT DISTINCT FROM c.category AND s.currency IS NOT DISTINCT FROM "
    "c.currency AND s.measure = c.measure"
)
_MERGED_MADE = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_bva_merged AS "  # the name is _MERGED
    "SELECT c.month_start, c.cost_centre, c.category, c.currency, c.measure, "
    "coalesce(s.amount, 0) + c.amount AS amount, "
    "CASE WHEN coalesce(s.at_n, 0) + c.at_n = 0 THEN NULL "
    "ELSE coalesce(s.at_transaction, 0) + coalesce(c.at_transaction, 0) END AS at_transaction, "
    "coalesce(s.at_n, 0) + c.at_n AS at_n, coalesce(s.n, 0) + c.n AS n "
    "FROM _kpi_bva_change c LEFT JOIN __sums__ ON __same_sum__"  # __sums__ AS s
)
# a sum the difference would leave with fewer than no moves, or with an amount and none:
# the sums were not the store's before (never, unless written by hand): not applied
_OUT_OF_STEP = (
    "SELECT count(*) FROM _kpi_bva_merged "  # the name is _MERGED
    "WHERE n < 0 OR at_n < 0 OR at_n > n OR (n = 0 AND (amount <> 0 OR at_n <> 0))"
)
_SUMS_CHANGED = (
    "DELETE FROM __sums__ WHERE EXISTS (SELECT 1 FROM _kpi_bva_change c WHERE __same_sum__)"
)
_SUMS_MERGED = "INSERT INTO __sums__ BY NAME SELECT * FROM _kpi_bva_merged WHERE n <> 0"
_TOUCHED_MADE = (
    "CREATE OR REPLACE TEMPORARY TABLE _kpi_bva_touched AS "  # the name is _TOUCHED
    "SELECT DISTINCT month_start AS month, cost_centre, category FROM _kpi_bva_change"
)
_TOUCHED_SUMS = (
    "SELECT s.* FROM __sums__ WHERE EXISTS (SELECT 1 FROM _kpi_bva_touched g "  # AS s
    "WHERE g.month = s.month_start AND g.cost_centre IS NOT DISTINCT FROM s.cost_centre "
    "AND g.category IS NOT DISTINCT FROM s.category)"
)


def _by_group(spec: RollupSpec) -> bool:
    """A table whose groups a load reaches may be recomputed alone (BY_GROUP): its rows
    are within one group each (split by at least the group's columns)."""
    key = BY_GROUP.get((spec.view, spec.period_column))
    return key is not None and spec.body_grain == ANY_GRAIN and set(key) <= set(spec.dims)


def _keeps_sums(spec: RollupSpec, spark: bool) -> bool:
    """Whether the table is written through its sums (see above)."""
    return _by_group(spec) and not spark


def _sums_table(spec: RollupSpec) -> str:
    """The name of the table's sums in the rollups file (not an r_ table: no rollup)."""
    assert spec.name.startswith("r_")
    return "s_" + spec.name[2:]


def _group_match(table: str) -> exp.Expression:
    """`table`'s row (month, cost centre, category) is one of the groups' (g)."""
    return exp.and_(
        *[
            (exp.EQ if k == MONTH else exp.NullSafeEQ)(
                this=exp.column(k, table="g"), expression=exp.column(k, table=table)
            )
            for k in (MONTH, "cost_centre", "category")
        ]
    )


def _rows_query(spec: RollupSpec, settings: Settings) -> Query:
    """The table's rows (build_query's columns) of the groups whose sums are registered as
    GROUP_SUMS, from those sums (kept on disk: it binds no value)."""

    def made() -> str:
        body = rows_from_sums(view_bodies(settings)[spec.view].copy())
        select = _build_select(spec, None)[0]
        alias = exp.TableAlias(this=exp.to_identifier(spec.view))
        select.set("with_", exp.With(expressions=[exp.CTE(this=body, alias=alias)]))
        return render(select)

    return Query(_kept_sql("rollup-from-sums", [repr(settings), _spec_key(spec)], made))


def _rows_from(
    con: duckdb.DuckDBPyConnection, spec: RollupSpec, settings: Settings, sums: object
) -> object:
    """The table's rows of the groups whose sums are `sums` (all of each group's)."""
    with registered(con, **{GROUP_SUMS: sums}):
        return con.sql(_rows_query(spec, settings)).to_arrow_table()


def _build_sums(
    out: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    spec: RollupSpec,
    settings: Settings,
    months: Ranges | None,
    have: bool,
) -> None:
    """The table and its sums written whole (`months` None, or no sums `have`), or those
    months' sums computed again and then those months' rows from them."""
    if months is None or not have:
        query = build_query(spec, settings, sums=True)
        sums = con.sql(query, params=query.params).to_arrow_table()
        put_rows(out, _sums_table(spec), sums, create=True)
        put_rows(out, spec.name, _rows_from(con, spec, settings, sums), create=True)
        return
    query = build_query(spec, settings, months, sums=True)
    sums = con.sql(query, params=query.params).to_arrow_table()
    where = exp.Where(this=between_any(exp.column(spec.period_column), months))
    out.execute(render(exp.Delete(this=exp.to_table(_sums_table(spec)), where=where)))
    put_rows(out, _sums_table(spec), sums, create=False)
    out.execute(_delete_months(spec.name, months))
    put_rows(out, spec.name, _rows_from(con, spec, settings, sums), create=False)


def _apply_groups(
    out: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    before: _Before,
    spec: RollupSpec,
    settings: Settings,
    have: bool,
) -> bool:
    """After a declared load of invoices, a BY_GROUP table's sums (which it `have`s) given
    the load's difference, and the rows of the groups it changed recomputed from their sums
    (the others kept). The difference is the sums of the moves of the load's lines (their
    invoiced spend) and of every line of the orders they name (committed and accrued spend:
    what was invoiced on an order fills its lines in line order, so an invoice moves the
    spend of its order's other lines), in the store now less the same in the store before;
    a sum that did not change is left out, so a load of the same lines again changes
    nothing. False (nothing changed: the months are recomputed) when it is not such a
    table, a read fails or the sums were not the store's."""
    if before.change is None or not _by_group(spec) or not have:
        return False
    try:
        instead = {
            "invoices": before.order_lines(con),  # what was invoiced on the named orders
            **_ORDERS_ROWS,
            "spend_base": before.base(con),
        }
        query = build_query(spec, settings, None, _LINES, instead, sums=True)
        now, was = before.both(
            lambda: con.sql(query, params=query.params).to_arrow_table(),
            lambda old: old.sql(query, params=query.params).to_arrow_table(),
        )
    except (duckdb.Error, StoreError):
        return False
    sums, as_s = exp.to_table(_sums_table(spec)), exp.to_table(_sums_table(spec), alias="s")
    same = parsed(_SAME_SUM)
    with registered(out, _now=now, _was=was):
        out.execute(_CHANGE_MADE)
        out.execute(render(fill(_MERGED_MADE, sums=as_s, same_sum=same)))
        if out.execute(_OUT_OF_STEP).fetchall()[0][0]:
            return False
    out.execute(render(fill(_SUMS_CHANGED, sums=as_s, same_sum=same)))
    out.execute(render(fill(_SUMS_MERGED, sums=sums)))
    out.execute(_TOUCHED_MADE)
    held = out.sql(render(fill(_TOUCHED_SUMS, sums=as_s))).to_arrow_table()
    rows = _rows_from(con, spec, settings, held)
    gone = exp.Exists(
        this=exp.select(exp.Literal.number(1))
        .from_(exp.to_table(_TOUCHED, alias="g"))
        .where(_group_match("t"))
    )
    table = exp.to_table(spec.name, alias="t")
    out.execute(render(exp.Delete(this=table, where=exp.Where(this=gone))))
    if rows.num_rows:  # type: ignore[attr-defined]
        put_rows(out, spec.name, rows, create=False)
    return True


# What else of the invoices a DELTA view reads (see DELTA), asked of both stores.
_READ_TOO = {
    "last_day": "SELECT greatest(max(invoice_date), max(paid_date)) FROM invoices",
    "invoice_days": "SELECT min(invoice_date), max(invoice_date) FROM invoices",
    "invoice_months": (
        "SELECT date_trunc('month', min(invoice_date)), date_trunc('month', max(invoice_date)) "
        "FROM invoices"
    ),
}


def _apply_delta(
    out: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    before: _Before,
    spec: RollupSpec,
    settings: Settings,
) -> bool:
    """Add to the table's rows the sums of the lines of the invoices the load wrote (for a
    BY_ORDER view, of every line of their orders), less the same sums before it; False
    (nothing changed) when that cannot give the figures a recomputation would: not a DELTA
    table, what else the view reads of the invoices moved (the last data day, the first and
    last invoice days), the table is out of step with the store, a measure is not exact (a
    DOUBLE sum) and the difference has values for it. A DOUBLE sum the difference has no
    value for (working_capital_days' stock half: only the stock rows feed it) is left as it
    is, bit for bit: adding nothing changes no float. A group left with no row is removed
    (its `_n` counts every view row behind it, stock rows too), a sum left with no value is
    NULL (the counts kept beside them say so)."""
    change = before.change
    if change is None or not _differs(spec):
        return False
    try:
        if not before.unmoved(con, DELTA[(spec.view, spec.period_column)]):
            return False
        floats = _float_columns(out, spec)
        if floats is None:
            return False
        # the orders' rows copied (see _ORDERS_ROWS) and, for BY_ORDER, all their lines
        order_lines = before.order_lines(con)
        if (spec.view, spec.period_column) in BY_ORDER:
            lines, instead = order_lines, _ORDERS_ROWS
        else:  # spend_base's rows of the load's lines, made once for every difference
            lines, instead = _LINES, {**_ORDERS_ROWS, "spend_base": before.base(con)}
        query = lines_query(spec, settings, lines, instead)
        added, removed = before.both(
            lambda: con.sql(query, params=query.params).to_arrow_table(),
            lambda old: old.sql(query, params=query.params).to_arrow_table(),
        )
    except (duckdb.Error, StoreError):
        return False
    with registered(out, _added=added, _removed=removed):
        key, fl = _spec_key(spec), json.dumps(sorted(floats))
        out.execute(_kept_sql("rollup-delta", [key], lambda: _delta_table(spec)))
        refused = _kept_sql("rollup-refused", [key, fl], lambda: _delta_refused(spec, floats))
        if out.execute(refused).fetchall()[0][0]:
            out.execute("DROP TABLE _delta")
            return False
        out.execute(_kept_sql("rollup-update", [key, fl], lambda: _delta_update(spec, floats)))
        out.execute(_kept_sql("rollup-insert", [key], lambda: _delta_insert(spec)))
        emptied = exp.EQ(this=exp.column(_ROWS), expression=exp.Literal.number(0))
        out.execute(render(exp.Delete(this=exp.to_table(spec.name), where=exp.Where(this=emptied))))
        out.execute("DROP TABLE _delta")
    return True


def _float_columns(out: duckdb.DuckDBPyConnection, spec: RollupSpec) -> frozenset[str] | None:
    """The table's measures that are floating-point sums (a difference with values for one
    would not be exact: it is applied only when it has none, _delta_refused, and the
    column is then left as it is); None when a measure is missing from the table."""
    types = dict(
        out.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND table_name = ?",
            [spec.name],
        ).fetchall()
    )
    if any(m.column not in types for m in spec.measures):
        return None
    return frozenset(
        m.column for m in spec.measures if types[m.column].startswith(("DOUBLE", "FLOAT", "REAL"))
    )


def _group_keys(spec: RollupSpec) -> list[str]:
    return [MONTH, *spec.dims]


def _delta_table(spec: RollupSpec) -> str:
    """Per group: the rows and sums added (`a_`) and removed (`r_`)."""
    side = exp.column("_side")
    cols: list[exp.Expression] = [exp.column(k) for k in _group_keys(spec)]
    for prefix, sign in (("a", 1), ("r", -1)):
        cond = exp.Where(this=exp.EQ(this=side.copy(), expression=exp.Literal.number(sign)))
        for name in [m.column for m in (*spec.measures, *_hidden(spec))]:
            agg = exp.Filter(this=exp.Sum(this=exp.column(name)), expression=cond.copy())
            cols.append(agg.as_(f"{prefix}_{name}"))
    both = exp.union(
        exp.select("*", exp.Literal.number(1).as_("_side")).from_("_added"),
        exp.select("*", exp.alias_(exp.Neg(this=exp.Literal.number(1)), "_side")).from_("_removed"),
        distinct=False,
    )
    select = exp.select(*cols).from_(both.subquery("d"))
    select = select.group_by(*[exp.Literal.number(i + 1) for i in range(len(_group_keys(spec)))])
    return render(exp.Create(this=exp.to_table("_delta"), kind="TABLE", expression=select))


def _matches(spec: RollupSpec) -> exp.Expression:
    return exp.and_(
        *[
            exp.NullSafeEQ(this=exp.column(k, table="t"), expression=exp.column(k, table="d"))
            for k in _group_keys(spec)
        ]
    )


def _delta_refused(spec: RollupSpec, floats: frozenset[str] = frozenset()) -> str:
    """How many groups the difference cannot be applied to: rows removed from a group the
    table does not hold (the table is out of step with the store), or values added to or
    removed from a floating-point sum (`floats`: its difference would not be exact)."""
    zero = exp.Literal.number(0)
    removed = exp.func("coalesce", exp.column(f"r_{_ROWS}", table="d"), zero.copy())
    unknown: exp.Expression = exp.and_(
        exp.GT(this=removed, expression=zero.copy()),
        exp.Is(this=exp.column(_ROWS, table="t"), expression=exp.Null()),
    )
    for column in sorted(floats):
        for side in ("a", "r"):
            values = exp.func("coalesce", exp.column(f"{side}_{column}_c", table="d"), zero.copy())
            unknown = exp.or_(unknown, exp.NEQ(this=values, expression=zero.copy()))
    query = (
        exp.select(exp.func("count", exp.Star()))
        .from_(exp.to_table("_delta", alias="d"))
        .join(exp.to_table(spec.name, alias="t"), on=_matches(spec), join_type="left")
    )
    return render(query.where(unknown))


def _applied(column: str) -> exp.Expression:
    """The stored value plus the added part less the removed one (absent parts: zero)."""
    zero = exp.Literal.number(0)
    return exp.Add(
        this=exp.Sub(
            this=exp.func("coalesce", exp.column(column, table="t"), zero.copy()),
            expression=exp.func("coalesce", exp.column(f"r_{column}", table="d"), zero.copy()),
        ),
        expression=exp.func("coalesce", exp.column(f"a_{column}", table="d"), zero.copy()),
    )


def _combined(m: StoredMeasure) -> exp.Expression:
    """A count: the stored count plus the added less the removed; a sum likewise, and NULL
    when no value is left to add (as SQL's sum of no value)."""
    if _additive(m) != "sum":
        return _applied(m.column)
    none_left = exp.EQ(this=_applied(f"{m.column}_c"), expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=none_left, true=exp.Null())], default=_applied(m.column))


def _delta_update(spec: RollupSpec, floats: frozenset[str] = frozenset()) -> str:
    """The held groups plus the difference; `floats` (sums the difference has no value for,
    see _delta_refused) are left as they are."""
    sets = [
        exp.EQ(this=exp.column(m.column), expression=_combined(m))
        for m in (*spec.measures, *_hidden(spec))
        if m.column not in floats
    ]
    update = exp.Update(
        this=exp.to_table(spec.name, alias="t"),
        expressions=sets,
        from_=exp.From(this=exp.to_table("_delta", alias="d")),
        where=exp.Where(this=_matches(spec)),
    )
    return render(update)


def _delta_insert(spec: RollupSpec) -> str:
    """The groups the table did not hold: the added sums (nothing was removed from them)."""
    keys = [exp.column(k, table="d").as_(k) for k in _group_keys(spec)]
    values = [
        (
            exp.func("coalesce", exp.column(f"a_{m.column}", table="d"), exp.Literal.number(0))
            if _additive(m) == "count"
            else exp.column(f"a_{m.column}", table="d")
        ).as_(m.column)
        for m in (*spec.measures, *_hidden(spec))
    ]
    absent = exp.Not(
        this=exp.Exists(
            this=exp.select(exp.Literal.number(1))
            .from_(exp.to_table(spec.name, alias="t"))
            .where(_matches(spec))
        )
    )
    rows = exp.select(*keys, *values).from_(exp.to_table("_delta", alias="d")).where(absent)
    return render(exp.Insert(this=exp.to_table(spec.name), expression=rows, by_name=True))


def _insert(
    out: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    spec: RollupSpec,
    settings: Settings,
    months: Ranges | None,
    create: bool,
    lines: str | None = None,
    spark: bool = False,
) -> None:
    """The spec's rows (of `months`, or all) into the rollups file `out`: computed by DuckDB
    on the store's connection `con`, or by Spark on the lake (`spark`, see spark_builds)."""
    if spark:
        rows = _spark_rows(spec, settings, months)
    else:
        query = build_query(spec, settings, months, lines)
        rows = con.sql(query, params=query.params).to_arrow_table()
    put_rows(out, spec.name, rows, create)


def spark_statement(
    spec: RollupSpec, months: Ranges | None = None
) -> tuple[str, dict[str, object], str]:
    """What Spark runs for the spec's rows: build_query's SELECT over the views by name (no
    WITH clause: Spark holds them), its parameters, and the grain the views are read at."""
    select, _, _, params = _build_select(spec, months)
    grain = DEFAULT_GRAIN if spec.body_grain == ANY_GRAIN else spec.body_grain
    return render(select), params, grain


def spark_problems(settings: Settings, definitions: Sequence[KpiDefinition]) -> dict[str, str]:
    """Per rollup table of these definitions, why Spark could not compute its rows (its
    statement cannot be written as Spark SQL at its grain); a table absent is one that can.
    No Spark is started (`kpi check --engine spark`)."""
    from kpi.semantic import spark_engine

    problems: dict[str, str] = {}
    for spec in plan(definitions, settings):
        query, params, grain = spark_statement(spec)
        why = spark_engine.grouped_problem(settings, query, params, grain)
        if why is not None:
            problems[spec.name] = why
    return problems


def _spark_rows(spec: RollupSpec, settings: Settings, months: Ranges | None) -> object:
    """The rollup's rows (those of `months`, or all) computed by Spark on the lake. All of
    them: the same SELECT as build_query's over Spark's cached views at the spec's grain (a
    table whose measures read no rank at the default grain, whose views Spark holds
    already). Some months of a view that reads by month: build_query itself, the views
    restated over what those months read, as DuckDB runs it. Otherwise the cached views
    whole, the months picked by the WHERE: the same rows."""
    from kpi.semantic import spark_engine

    query, params, grain = spark_statement(spec, months)
    try:
        if months is not None and _build_select(spec, months)[2] is not None:
            # the months' rows from what those months read (a refresh after a load, which
            # emptied Spark's cache): the views restated over those months, not cached
            whole = build_query(spec, settings, months)
            return spark_engine.run_grouped(settings, whole, whole.params, DEFAULT_GRAIN)
        return spark_engine.run_grouped(settings, query, params, grain)
    except spark_engine.SparkEngineError as exc:
        raise StoreError(f"the rollup {spec.name} was not computed on Spark: {exc}") from exc


_INDEX_DDL = (
    "CREATE TABLE rollup_index (spec_name VARCHAR, view VARCHAR, period_column VARCHAR, "
    "body_grain VARCHAR, dims VARCHAR, columns VARCHAR, inputs VARCHAR, settings VARCHAR, "
    "months VARCHAR, built_at DOUBLE)"
)
_INSERT_INDEX = "INSERT INTO rollup_index VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# what `kpi rollups` lists: each table of the attached file with its row count
_STATUS = (
    "SELECT i.spec_name, i.view, i.period_column, i.body_grain, i.dims, i.columns, "
    "t.estimated_size, i.built_at FROM rollups.rollup_index i "
    "JOIN duckdb_tables() t ON t.database_name = 'rollups' AND t.table_name = i.spec_name "
    "ORDER BY 1"
)
_TABLES = "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
_ROW_COUNT = (
    "SELECT sum(estimated_size) FROM duckdb_tables() WHERE table_name LIKE 'r\\_%' ESCAPE '\\'"
)


def _drop(name: str) -> str:
    return render(exp.Drop(tables=[exp.to_table(name)], kind="TABLE"))


def _remove(p: Path) -> None:
    for q in (p, p.with_name(p.name + ".wal")):
        q.unlink(missing_ok=True)


def _definitions(settings: Settings) -> list[KpiDefinition] | None:
    """The definitions in force, or None when the file is broken (then nothing is built:
    the app is read-only and computes live)."""
    from kpi.semantic.definitions import load_definitions

    try:
        return load_definitions(None, settings)
    except Exception:  # noqa: BLE001 - a broken definitions file: no rollups, say why
        return None


def prepare(settings: Settings) -> None:
    """What a refresh asks first, asked ahead (a load calls it on a thread while it reads
    and writes its file): the definitions in force and the rollup tables they need, whose
    first asking in a process (views' catalogue, formulas split) costs a twentieth of a
    second; later askings are answered from what this one kept."""
    definitions = _definitions(settings)
    if definitions is not None:
        plan(definitions, settings)


_PAUSED: list[bool] = []


@contextmanager
def paused() -> Iterator[None]:
    """No refresh after each write inside (a demo build writes many times): the caller
    refreshes once at the end."""
    _PAUSED.append(True)
    try:
        yield
    finally:
        _PAUSED.pop()


def refresh_in_background(store: Store, written: Written | None = None) -> threading.Thread | None:
    """Refresh in a thread of its own (after a definitions save or an upload in the app: the
    person need not wait; until it lands, a changed figure is computed live). `written`: what
    the write declared, its replaced store under a name of the thread's own (see
    refresh_after_write), removed when the thread ends. Not a daemon: a command-line
    process waits for it before exiting."""
    if not enabled() or not store.exists():
        if written is not None and written.replaced is not None:
            _remove(written.replaced)
        return None
    thread = threading.Thread(
        target=_refresh_quietly, args=(store, written), name="rollups-refresh"
    )
    thread.start()
    return thread


def _refresh_quietly(store: Store, written: Written | None = None) -> None:
    try:
        refresh(store, written=written)
    except Exception as exc:  # noqa: BLE001 - stale rollups are never read: say, go on
        print(f"note: the rollups were not refreshed: {exc}", file=sys.stderr)
    finally:
        if written is not None and written.replaced is not None:
            _remove(written.replaced)


@dataclass
class AfterWrite:
    """How this process refreshes after a write: the command line waits and says so
    (`say`), the app refreshes in the background (`background`) so that a person who saved
    a comment or uploaded a file is not kept waiting; its figures are computed live until
    the refresh lands."""

    background: bool = False
    say: Callable[[str], None] | None = None


AFTER_WRITE = AfterWrite()


def refresh_after_write(store: Store) -> None:
    """The store's after-write hook: keep the rollups matching the data just written."""
    if _PAUSED or not enabled():
        return
    if AFTER_WRITE.background:
        # the replaced store is freed once this hook returns: the thread reads the load's
        # difference from a name of its own (without one, it recomputes the months)
        kept = store.keep_replaced()
        written = Written(kept, dict(store.declared)) if kept is not None else None
        refresh_in_background(store, written)
        return
    say = AFTER_WRITE.say
    if say:
        say("Refreshing the KPI rollups (the pre-computed sums) ...")
    report = refresh(store, written=Written.of(store))
    if report is not None and os.environ.get(TRACE_ENV):
        for name, seconds in report.phases.items():
            print(f"rollups: {name} {seconds:.2f} s", file=sys.stderr)
    if say and report is not None:
        say(
            f"Rollups: {len(report.built)} table(s) built, {len(report.months)} recomputed "
            f"for the months changed, {len(report.applied)} given the lines loaded, "
            f"{len(report.kept)} kept, in {report.seconds:.1f} s"
        )


if refresh_after_write not in database.AFTER_WRITE:
    database.AFTER_WRITE.append(refresh_after_write)
