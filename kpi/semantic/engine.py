"""The KPI engine: any KPI, by month, quarter or fiscal year, split by allowed dimensions.

One semantic layer for every consumer (command line, app, tests): KPIs that share a view
and a period column are computed together in one query, so asking for all of them costs
about one scan of each view rather than one per KPI; and the queries of one request run as
one statement, in which the invoice lines the spend views share are computed once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from sqlglot import exp

from kpi.core import periods
from kpi.core.currencies import CURRENCIES
from kpi.core.settings import Settings, load_settings
from kpi.semantic import compiler, rollups
from kpi.semantic.definitions import load_definitions
from kpi.semantic.formula_guard import guard_formula
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.semantic.period_sql import WHOLE_RANGE
from kpi.store.database import Store
from kpi.store.query import fetch_frame, run, used_params
from kpi.store.stores import open_store
from kpi.store.views import RANGE_READS, view_catalog

RESULT_COLUMNS = ("kpi", "period", "value")


class ComputeError(ValueError):
    """A request the engine cannot answer (unknown KPI, dimension, period...)."""


@dataclass
class ComputeResult:
    """KPI values in long form, plus what could not be honoured, said out loud."""

    frame: pl.DataFrame  # kpi, period, <by...>, value
    by: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # kpi id -> why it was left out
    unfiltered: dict[str, list[str]] = field(default_factory=dict)  # kpi id -> filters ignored
    from_rollups: set[str] = field(default_factory=set)  # kpi ids read from the rollups


def compute(
    store: Store,
    definitions: Sequence[KpiDefinition],
    grain: str = "quarter",
    by: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    filters: dict[str, list[str]] | None = None,
    currency: str | None = None,
    where: Sequence[exp.Expression] = (),
    live: bool = False,
) -> ComputeResult:
    """Compute `definitions` over [start, end] at `grain`, grouped by the `by` dimensions.

    KPIs the rollups can answer (kpi.semantic.rollups: fresh, reporting currency, whole
    months, stored splits and filters, no `where`) are read from them, the others computed
    live from the views; `live` computes every one from the views (to check a figure).

    Grain `range` (WHOLE_RANGE) is the whole of [start, end] as one period, labelled
    `start..end`: the figure a page shows for the sidebar's range, by the KPI's formula.
    `where` are row filters the formula guard accepted (guard_filter) against the view of
    every KPI asked for; they apply to every KPI (kpi.semantic.explain passes one KPI).
    """
    if grain not in periods.GRAINS and grain != WHOLE_RANGE:
        raise ComputeError(f"unknown grain '{grain}': use month, quarter, year or range")
    by = list(by)
    filters = {k: list(v) for k, v in (filters or {}).items() if v}
    catalog = view_catalog(store.settings)
    reporting = store.settings.reporting_currency.upper()
    skipped: dict[str, str] = {}
    unfiltered: dict[str, list[str]] = {}
    groups: dict[tuple[str, str, tuple[str, ...]], list[KpiDefinition]] = defaultdict(list)
    for kpi in definitions:
        missing = [d for d in by if d not in kpi.dimensions]
        if missing:
            allowed = ", ".join(kpi.dimensions) or "none"
            skipped[kpi.id] = f"cannot be split by {', '.join(missing)} (allowed: {allowed})"
            continue
        columns = catalog[kpi.source]
        ignored = [f for f in filters if f not in columns]
        if ignored:
            unfiltered[kpi.id] = ignored
        applied = tuple(sorted(f for f in filters if f in columns))
        groups[(kpi.source, kpi.period_by, applied)].append(kpi)

    with _reading(store, currency, live) as con:
        index = None
        if (
            not live
            and rollups.answers_on(store)
            and not where
            and (currency is None or currency.upper() == reporting)
        ):
            index = rollups.current_index(con, store)
        request = _Request(store, groups, grain, tuple(by), start, end, filters, currency, where)
        plan = _plan_now(request, index) if con is None or where else _kept_plan(request, index)
        frames = []
        if plan.live is not None:
            frames.append(_run_live(con, request, index, plan))
        if plan.rolled is not None:
            rolled = fetch_frame(con, *plan.rolled)
            frames.append(rolled.with_columns(pl.col("_part") + plan.live_parts))
        wide = pl.concat(frames, how="vertical_relaxed") if frames else None
    units = plan.units
    from_rollups = set(plan.from_rollups)
    schema = {"kpi": pl.String, "period": pl.String, **{d: pl.String for d in by}}
    schema["value"] = pl.Float64
    if wide is None:
        return ComputeResult(pl.DataFrame(schema=schema), by, skipped, unfiltered, from_rollups)
    # one row per (part, period, dimensions) with the part's measures in a list: each part's
    # KPI ids, as a list beside it, explode with the values into one row per KPI
    ids = pl.DataFrame(
        {"_part": range(len(units)), "kpi": [list(ids) for ids in units]},
        schema={"_part": wide.schema["_part"], "kpi": pl.List(pl.String)},
    )
    order = {k.id: i for i, k in enumerate(definitions)}
    frame = (
        wide.join(ids, on="_part", how="left")
        .explode(["kpi", "_values"])
        .select(
            pl.col("kpi"),
            pl.col("period").cast(pl.String),
            *[pl.col(d).cast(pl.String) for d in by],
            pl.col("_values").cast(pl.Float64).alias("value"),
        )
        .with_columns(pl.col("kpi").replace_strict(order, default=len(order)).alias("_o"))
        .sort(["_o", "period", *by], nulls_last=True)
        .drop("_o")
    )
    if grain == WHOLE_RANGE:
        frame = frame.with_columns(pl.lit(range_label(start, end)).alias("period"))
    return ComputeResult(frame, by, skipped, unfiltered, from_rollups)


@lru_cache(maxsize=256)
def _guarded(settings: Settings, view: str, text: str) -> exp.Expression:
    """A chart's formula, guarded once (the same tree each time: its SQL is cached by it)."""
    return guard_formula(text, view_catalog(settings)[view], view=view)


def compute_measures(
    store: Store,
    view: str,
    period_column: str,
    measures: dict[str, str],
    grain: str,
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
    currency: str | None = None,
    live: bool = False,
) -> pl.DataFrame:
    """Named aggregate formulas over one view (a chart's lines), one row per period, one
    column per name: from the rollups when they hold them all for this request (the
    overview's charts, kpi.semantic.chart_measures), else from the view."""
    formulas = [
        rollups.Formula(name, view, period_column, (), _guarded(store.settings, view, text))
        for name, text in measures.items()
    ]
    applied = {f: list(v) for f, v in filters.items() if v}
    reporting = store.settings.reporting_currency.upper()
    cal = store.settings.fiscal
    with _reading(store, currency, live) as con:
        index = None
        if (
            not live
            and rollups.answers_on(store)
            and (currency is None or currency.upper() == reporting)
        ):
            index = rollups.current_index(con, store)
        answers, rest = rollups.answer(
            index, view, period_column, formulas, grain, [], applied, start, end
        )
        if len(answers) == 1 and not rest:
            names = [f.id for f in answers[0].kpis]
            request = _Request(store, {}, grain, (), start, end, applied, currency, ())
            wide = fetch_frame(con, *_rollups_statement(request, [(answers[0], tuple(applied))]))
        else:
            # as compute() does: views whose ranks or snapshot counts are per period restated
            # at this grain, one view over a range read from that range's lines
            names = [f.id for f in formulas]
            chosen = [compiler.Measure(f.id, f.formula_tree) for f in formulas]
            query, params = compiler.kpi_query(
                view, period_column, chosen, grain, cal, [], start, end, applied
            )
            reads = _range_read({(view, period_column, ()): []}, start, end)
            parts = [(view, query, params, len(names))]
            wide = _run_parts(con, parts, [], store, currency, grain, reads)
    values = wide.select(
        "period", *[pl.col("_values").list.get(i).alias(n) for i, n in enumerate(names)]
    ).sort("period")
    return values.select("period", *measures)


@dataclass(frozen=True)
class _Request:
    """What compute() was asked, with its KPIs grouped by (view, period column, filters
    applied): everything a plan depends on but the rollups' index."""

    store: Store
    groups: Mapping[tuple[str, str, tuple[str, ...]], list[KpiDefinition]]
    grain: str
    by: tuple[str, ...]
    start: date | None
    end: date | None
    filters: Mapping[str, list[str]]
    currency: str | None
    where: Sequence[exp.Expression]


@dataclass
class _Plan:
    """The statements a request runs: the live parts' (numbered first), then the rollups';
    each part's KPI ids in the parts' order; the KPIs read from the rollups. `parts` and
    `reads` are what `_run_live` needs to compute spend_base whole (None when the plan was
    read back from disk: planned again then)."""

    live: tuple[str, list[object]] | None
    rolled: tuple[str, list[object]] | None
    live_parts: int
    units: list[tuple[str, ...]]
    from_rollups: list[str]
    parts: list[tuple[str, str, list[object], int]] | None = None
    reads: tuple[date, date] | None = None


def _plan_now(request: _Request, index: rollups.RollupIndex | None) -> _Plan:
    """Which KPIs the rollups answer and the statements of the rest (sqlglot: the formulas
    split into their measures, the queries built and rendered)."""
    store, grain, by = request.store, request.grain, list(request.by)
    start, end = request.start, request.end
    units: list[tuple[str, ...]] = []
    parts = []
    live_groups: dict[tuple[str, str, tuple[str, ...]], list[KpiDefinition]] = {}
    rolled: list[tuple[rollups.Answer, tuple[str, ...]]] = []
    for (view, period_column, applied), kpis in request.groups.items():
        answers, rest = rollups.answer(
            index, view, period_column, kpis, grain, by, applied, start, end
        )
        rolled += [(a, applied) for a in answers]
        if not rest:
            continue
        live_groups[(view, period_column, applied)] = rest
        measures = [compiler.Measure(k.id, k.formula_tree) for k in rest]
        query, params = _part_query(request, view, period_column, measures, applied)
        parts.append((view, query, params, len(rest)))
        units.append(tuple(k.id for k in rest))
    reads = _range_read(live_groups, start, end)
    live = _statement(parts, by, store, request.currency, grain, reads) if parts else None
    rolled_statement = None
    if rolled:
        rolled_statement = _rollups_statement(request, rolled)
        units += [tuple(k.id for k in a.kpis) for a, _ in rolled]
    from_rollups = [k.id for a, _ in rolled for k in a.kpis]
    return _Plan(live, rolled_statement, len(parts), units, from_rollups, parts, reads)


def _kept_plan(request: _Request, index: rollups.RollupIndex | None) -> _Plan:
    """`_plan_now`'s plan, kept on disk (kpi.store.catalog_cache) under everything it depends
    on: the KPIs asked for (id, view, period column, splits, formula text), the settings,
    the request, the rollups' tables (their names, splits and measures) and the code. A new
    process (each `kpi compute`) reads the statements back instead of planning them again:
    a fifth of the command's time. After a load the rollups hold the same tables, so the
    plan still applies; a saved definition or a rebuilt table changes the key."""
    from kpi.store import catalog_cache

    key = _plan_key(request, index)
    memo = tuple(key)
    hit = _PLANS.get(memo)
    if hit is not None:  # asked before in this process (the app's reruns)
        return hit
    planned: _Plan | None = None  # planned now, or read back

    def plan() -> dict[str, object] | None:
        nonlocal planned
        planned = _plan_now(request, index)
        return _plan_json(planned)  # None (not kept) for a parameter JSON cannot say

    def valid(value: object) -> bool:
        nonlocal planned
        try:
            planned = _plan_from_json(value)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False  # not a plan of this code (or tampered with): planned again
        return True

    catalog_cache.remembered("compute-plan", key, plan, valid, 256)
    assert planned is not None
    if len(_PLANS) >= _CACHE_SIZE:
        _PLANS.clear()
    _PLANS[memo] = planned
    return planned


# The plans of this process by their key's text: the app asks the same requests on every
# rerun, and reading the kept file each time would cost more than the plan saves.
_PLANS: dict[tuple[str, ...], _Plan] = {}


def _plan_key(request: _Request, index: rollups.RollupIndex | None) -> list[str]:
    """The text of everything a plan depends on (see _kept_plan)."""
    kpis = [
        [view, period, list(applied), k.id, k.source, k.period_by, list(k.dimensions), k.formula]
        for (view, period, applied), group in request.groups.items()
        for k in group
    ]
    tables = None
    if index is not None:
        tables = sorted(
            [*key, e.spec_name, list(e.dims), sorted(e.columns)] for key, e in index.entries.items()
        )
    asked = {
        "grain": request.grain,
        "by": list(request.by),
        "start": request.start.isoformat() if request.start else None,
        "end": request.end.isoformat() if request.end else None,
        "filters": sorted((k, list(v)) for k, v in request.filters.items()),
        "currency": request.currency,
    }
    return [repr(request.store.settings), json.dumps([kpis, tables, asked], sort_keys=True)]


def _plan_json(plan: _Plan) -> dict[str, object] | None:
    """A plan as JSON (None when a parameter is of a type JSON cannot say back exactly)."""
    statements = {}
    for name, statement in (("live", plan.live), ("rolled", plan.rolled)):
        if statement is None:
            statements[name] = None
            continue
        params = [_param_json(p) for p in statement[1]]
        if any(p is _UNKEPT for p in params):
            return None
        statements[name] = [statement[0], params]
    return {
        **statements,
        "live_parts": plan.live_parts,
        "units": [list(u) for u in plan.units],
        "from_rollups": plan.from_rollups,
    }


def _plan_from_json(value: Any) -> _Plan:
    """A plan read back; KeyError, TypeError or ValueError for anything else (a statement
    must be the text of a WITH statement: nothing else is ever run)."""

    def statement(kept: list | None) -> tuple[str, list[object]] | None:
        if kept is None:
            return None
        text, params = kept
        if not isinstance(text, str) or not text.startswith("WITH "):
            raise ValueError("a kept statement is the text of a WITH statement")
        return text, [_param_value(p) for p in params]

    units = [tuple(str(i) for i in u) for u in value["units"]]
    return _Plan(
        statement(value["live"]),
        statement(value["rolled"]),
        int(value["live_parts"]),
        units,
        [str(i) for i in value["from_rollups"]],
    )


_UNKEPT = object()


def _param_json(value: object) -> object:
    """A statement parameter as JSON: text, whole numbers, none, dates (tagged), lists."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if type(value) is date:
        return {"date": value.isoformat()}
    if isinstance(value, (list, tuple)):
        items = [_param_json(v) for v in value]
        return _UNKEPT if any(i is _UNKEPT for i in items) else items
    return _UNKEPT


def _param_value(kept: object) -> object:
    if isinstance(kept, dict):
        return date.fromisoformat(kept["date"])
    if isinstance(kept, list):
        return [_param_value(v) for v in kept]
    return kept


def _run_live(
    con: duckdb.DuckDBPyConnection | None,
    request: _Request,
    index: rollups.RollupIndex | None,
    plan: _Plan,
) -> pl.DataFrame:
    """The live parts' statement; on Spark, or when DuckDB says a spend_base column was left
    out (kpi_statement's narrow guess), through `_run_parts` with the parts themselves."""
    if con is not None:
        assert plan.live is not None
        try:
            return fetch_frame(con, *plan.live)
        except duckdb.Error as exc:
            if compiler.NOT_COMPUTED not in str(exc):
                raise
    if plan.parts is None:
        plan = _plan_now(request, index)
    assert plan.parts is not None
    store, by = request.store, list(request.by)
    if con is None:
        return _run_parts(con, plan.parts, by, store, request.currency, request.grain, plan.reads)
    # a column the planner did not see coming: compute spend_base with all its columns
    statement, params = compiler.kpi_statement(
        plan.parts,
        by,
        store.settings,
        request.currency,
        narrow=False,
        grain=request.grain,
        reads=plan.reads,
    )
    return fetch_frame(con, statement, params)


def _part_query(
    request: _Request,
    source: str,
    period_column: str,
    measures: list[compiler.Measure],
    applied: tuple[str, ...],
) -> tuple[str, list[object]]:
    """compiler.kpi_query of one part of a request: over a view (its row filters too) or a
    rollup table, at the request's grain, period and splits, with the filters it honours."""
    return compiler.kpi_query(
        source,
        period_column,
        measures,
        request.grain,
        request.store.settings.fiscal,
        list(request.by),
        request.start,
        request.end,
        {f: list(request.filters[f]) for f in applied},
        request.where,
    )


def _rollups_statement(
    request: _Request, rolled: list[tuple[rollups.Answer, tuple[str, ...]]]
) -> tuple[str, list[object]]:
    """The statement of the parts the rollups answer. The rollups' period column is the
    month's first day, so the whole-month range [start, end] selects exactly the months of
    the rows the live query would read."""
    parts = []
    for answer, applied in rolled:
        query, params = _part_query(request, answer.table, rollups.MONTH, answer.measures, applied)
        parts.append((answer.table, query, params, len(answer.measures)))
    return compiler.union_statement(parts, list(request.by))


def _range_read(
    groups: dict[tuple[str, str, tuple[str, ...]], list[KpiDefinition]],
    start: date | None,
    end: date | None,
) -> tuple[date, date] | None:
    """[start, end] when the request is one view that may be computed from the invoice
    lines of that range alone (RANGE_READS, by its own period column), else None."""
    if len(groups) != 1 or start is None or end is None:
        return None
    view, period_column, _ = next(iter(groups))
    return (start, end) if RANGE_READS.get(view, ("", ""))[0] == period_column else None


def range_label(start: date | None, end: date | None) -> str:
    """The period label of grain `range`: '2026-01-01..2026-06-30' ('..' for an open end)."""
    return f"{start.isoformat() if start else ''}..{end.isoformat() if end else ''}"


# Assembling the statement (and finding the spend_base columns it reads) is repeated work
# when a request comes again: the text is kept, keyed on the parts' own text.
_STATEMENTS: dict[tuple, tuple[str, list[object]]] = {}
_CACHE_SIZE = 512


def _statement(
    parts: list[tuple[str, str, list[object], int]],
    by: list[str],
    store: Store,
    currency: str | None,
    grain: str,
    reads: tuple[date, date] | None = None,
) -> tuple[str, list[object]]:
    """compiler.kpi_statement for these parts, from the cache when asked before."""
    key = (
        tuple((v, q, tuple(p), n) for v, q, p, n in parts),
        tuple(by),
        store.settings,
        currency,
        grain,
        reads,
    )
    hit = _STATEMENTS.get(key)
    if hit is None:
        hit = compiler.kpi_statement(parts, by, store.settings, currency, grain=grain, reads=reads)
        if len(_STATEMENTS) >= _CACHE_SIZE:
            _STATEMENTS.clear()
        _STATEMENTS[key] = hit
    return hit[0], list(hit[1])


def _reading(store: Store, currency: str | None, live: bool) -> AbstractContextManager:
    """The store's read connection; on Spark (which reads the lake itself) only for the
    rollups, when they may answer (rollups.answers_on), else none."""
    if store.settings.engine == "spark" and (live or not rollups.answers_on(store)):
        return nullcontext(None)
    return store.read(display_currency=currency)


def _run_parts(
    con: duckdb.DuckDBPyConnection | None,
    parts: list[tuple[str, str, list[object], int]],
    by: list[str],
    store: Store,
    currency: str | None,
    grain: str,
    reads: tuple[date, date] | None = None,
) -> pl.DataFrame:
    """Every group's query in one statement: what they share (spend_base) is computed once;
    one view over a range of its invoice lines reads those lines only (RANGE_READS).
    With `engine: spark` the statement runs on Spark (kpi.semantic.spark_engine) instead."""
    if con is None:
        from kpi.semantic import spark_engine

        try:
            return spark_engine.run_parts(store.settings, parts, by, currency, grain)
        except spark_engine.SparkEngineError as exc:
            raise ComputeError(f"on Spark: {exc}") from exc
    statement, params = _statement(parts, by, store, currency, grain, reads)
    try:
        return fetch_frame(con, statement, params)
    except duckdb.Error as exc:
        if compiler.NOT_COMPUTED not in str(exc):
            raise
    # a column the planner did not see coming: compute spend_base with all its columns
    statement, params = compiler.kpi_statement(
        parts, by, store.settings, currency, narrow=False, grain=grain, reads=reads
    )
    return fetch_frame(con, statement, params)


def run_view_query(
    store: Store,
    query: str,
    params: Mapping[str, object] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """An analysis's read of the curated views (constant SQL, `$name` parameters) on the
    engine of the settings: DuckDB's store (kpi.store.query.run) or Spark's lake."""
    if store.settings.engine != "spark":
        return run(store, query, params, currency)
    from kpi.semantic import spark_engine

    try:
        return spark_engine.run_named(store.settings, query, used_params(query, params), currency)
    except spark_engine.SparkEngineError as exc:
        raise ComputeError(f"on Spark: {exc}") from exc


def select_definitions(
    definitions: Sequence[KpiDefinition], kpi_ids: Iterable[str]
) -> list[KpiDefinition]:
    """The definitions asked for, in the order asked; an unknown id is refused by name."""
    by_id = {k.id: k for k in definitions}
    wanted = list(kpi_ids)
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise ComputeError(
            f"unknown KPI {', '.join(repr(u) for u in unknown)}; known KPIs: "
            + ", ".join(sorted(by_id))
        )
    return [by_id[i] for i in wanted] if wanted else list(definitions)


def parse_bounds(
    start: str | None, end: str | None, store: Store
) -> tuple[date | None, date | None]:
    """--from / --to: a date or a period label; the start of the first, the end of the last."""
    cal = store.settings.fiscal
    try:
        lo = periods.period_range(start, cal)[0] if start else None
        hi = periods.period_range(end, cal)[1] if end else None
    except periods.PeriodError as exc:
        raise ComputeError(str(exc)) from exc
    if lo and hi and lo > hi:
        raise ComputeError(f"--from {start} is after --to {end}")
    return lo, hi


def compute_cli(
    kpi_ids: list[str],
    grain: str,
    by: list[str],
    start: str | None,
    end: str | None,
    currency: str | None = None,
    db: str | Path | None = None,
    definitions_path: Path | None = None,
    warn: Callable[[str], None] | None = None,
    live: bool = False,
) -> ComputeResult:
    """What `python -m kpi compute` does, argument checking included."""
    settings = load_settings()
    store = open_store(db, settings)
    definitions = select_definitions(load_definitions(definitions_path, settings), kpi_ids)
    if currency and currency.upper() not in CURRENCIES:
        raise ComputeError(f"unknown currency '{currency}'")
    lo, hi = parse_bounds(start, end, store)
    if kpi_ids:
        for k in definitions:
            bad = [d for d in by if d not in k.dimensions]
            if bad:
                raise ComputeError(
                    f"KPI '{k.id}' cannot be split by {', '.join(bad)}; "
                    f"allowed: {', '.join(k.dimensions) or 'none'}"
                )
    elif by and not any(all(d in k.dimensions for d in by) for k in definitions):
        raise ComputeError(f"no KPI can be split by {', '.join(by)}")
    result = compute(store, definitions, grain, by, lo, hi, currency=currency, live=live)
    if warn:
        for kpi_id, why in result.skipped.items():
            warn(f"note: {kpi_id} left out: {why}")
    return result
