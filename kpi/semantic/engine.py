"""The KPI engine: any KPI, by month, quarter or fiscal year, split by allowed dimensions.

One semantic layer for every consumer (command line, app, tests): KPIs that share a view
and a period column are computed together in one query, so asking for all of them costs
about one scan of each view rather than one per KPI; and the queries of one request run as
one statement, in which the invoice lines the spend views share are computed once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

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
        units: list[list[KpiDefinition]] = []  # the KPIs of each part, in the parts' order
        from_rollups: set[str] = set()
        parts = []
        live_groups: dict[tuple[str, str, tuple[str, ...]], list[KpiDefinition]] = {}
        rolled: list[tuple[rollups.Answer, tuple[str, ...]]] = []
        for (view, period_column, applied), kpis in groups.items():
            answers, rest = rollups.answer(
                index, view, period_column, kpis, grain, by, applied, start, end
            )
            rolled += [(a, applied) for a in answers]
            if not rest:
                continue
            live_groups[(view, period_column, applied)] = rest
            measures = [compiler.Measure(k.id, k.formula_tree) for k in rest]
            query, params = compiler.kpi_query(
                view,
                period_column,
                measures,
                grain,
                store.settings.fiscal,
                by,
                start,
                end,
                {f: filters[f] for f in applied},
                where,
            )
            parts.append((view, query, params, len(rest)))
            units.append(rest)
        reads = _range_read(live_groups, start, end)
        frames = []
        if parts:
            frames.append(_run_parts(con, parts, by, store, currency, grain, reads))
        if rolled:
            frames.append(
                _run_rollups(con, rolled, by, store, grain, start, end, filters, len(parts))
            )
            units += [a.kpis for a, _ in rolled]
            from_rollups = {k.id for a, _ in rolled for k in a.kpis}
        wide = pl.concat(frames, how="vertical_relaxed") if frames else None
    schema = {"kpi": pl.String, "period": pl.String, **{d: pl.String for d in by}}
    schema["value"] = pl.Float64
    if wide is None:
        return ComputeResult(pl.DataFrame(schema=schema), by, skipped, unfiltered, from_rollups)
    # one row per (part, period, dimensions) with the part's measures in a list: each part's
    # KPI ids, as a list beside it, explode with the values into one row per KPI
    ids = pl.DataFrame(
        {"_part": range(len(units)), "kpi": [[k.id for k in kpis] for kpis in units]},
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
            wide = _run_rollups(
                con, [(answers[0], tuple(applied))], [], store, grain, start, end, applied, 0
            )
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


def _run_rollups(
    con: duckdb.DuckDBPyConnection,
    rolled: list[tuple[rollups.Answer, tuple[str, ...]]],
    by: list[str],
    store: Store,
    grain: str,
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
    first_part: int,
) -> pl.DataFrame:
    """The parts the rollups answer, in one statement; numbered after the live parts. The
    rollups' period column is the month's first day, so the whole-month range [start, end]
    selects exactly the months of the rows the live query would read."""
    parts = []
    for answer, applied in rolled:
        query, params = compiler.kpi_query(
            answer.table,
            rollups.MONTH,
            answer.measures,
            grain,
            store.settings.fiscal,
            by,
            start,
            end,
            {f: filters[f] for f in applied},
        )
        parts.append((answer.table, query, params, len(answer.measures)))
    statement, params = compiler.union_statement(parts, by)
    frame = fetch_frame(con, statement, params)
    return frame.with_columns(pl.col("_part") + first_part)


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
