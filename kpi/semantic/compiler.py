"""The KPI compiler: guarded KPI formulas into one SELECT per view, and one statement per request.

Every statement is a sqlglot tree: KPI formulas arrive as trees the formula guard accepted,
view bodies come from kpi.store.views as trees, names come from the view catalogue, and
filter values and dates are bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from sqlglot import exp

from kpi.core.settings import FiscalCalendar, Settings
from kpi.semantic.optimiser import PROBE_TABLE, spend_base_columns
from kpi.semantic.period_sql import WHOLE_RANGE, period_label, period_start
from kpi.store import catalog_cache, identifiers
from kpi.store.template import parsed, render
from kpi.store.views import (
    DEFAULT_GRAIN,
    GRAIN_VIEWS,
    RANGE_READS,
    SPEND_VIEWS,
    Bounds,
    Ranges,
    bound_values,
    group_sums_body,
    invoice_bodies,
    range_bodies,
    view_bodies,
    views_read,
)

_PERIOD_START = "_period_start"


@dataclass(frozen=True)
class Measure:
    """One KPI to compute: its id and its guarded formula tree."""

    kpi_id: str
    formula: exp.Expression


# Rendering a query with sqlglot costs tens of milliseconds, as much as DuckDB needs for all
# the KPIs of a small store, and the app asks the same ones again and again. A request with
# the very same formula trees (the definitions' own objects, checked by identity and held
# here, so an id is never reused while cached) gets the text it got before.
_QUERIES: dict[tuple, tuple[tuple[exp.Expression, ...], str, tuple[object, ...]]] = {}
_QUERIES_KEPT = 512
# The tree of each query text kpi_query made, so that kpi_statement need not parse it again.
_TREES: dict[str, exp.Expression] = {}


def kpi_query(
    view: str,
    period_column: str,
    measures: list[Measure],
    grain: str,
    cal: FiscalCalendar,
    by: list[str],
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
    where: Sequence[exp.Expression] = (),
) -> tuple[str, list[object]]:
    """One SELECT computing several KPIs over one view, grouped by period and dimensions.

    `view`, `period_column`, `by` and filter keys must already be checked against the view
    catalogue by the caller; values are returned as parameters, never inlined. `where` are
    row filters the formula guard accepted (guard_filter) against the view's columns.
    """
    trees = tuple(m.formula for m in measures)
    key = (
        view,
        period_column,
        tuple((m.kpi_id, id(m.formula)) for m in measures),
        grain,
        cal,
        tuple(by),
        start,
        end,
        tuple((k, tuple(v)) for k, v in filters.items()),
        tuple(w.sql() for w in where),
    )
    hit = _QUERIES.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], trees, strict=True)):
        return hit[1], list(hit[2])
    tree, params = _kpi_query(
        view, period_column, measures, grain, cal, by, start, end, filters, where
    )
    query = render(tree)
    if len(_QUERIES) >= _QUERIES_KEPT:
        _QUERIES.clear()
        _TREES.clear()
    _QUERIES[key] = (trees, query, tuple(params))
    _TREES[query] = tree
    return query, params


def _kpi_query(
    view: str,
    period_column: str,
    measures: list[Measure],
    grain: str,
    cal: FiscalCalendar,
    by: list[str],
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
    where: Sequence[exp.Expression] = (),
) -> tuple[exp.Select, list[object]]:
    col = exp.column(period_column)
    select: list[exp.Expression] = [period_start(col, grain, cal).as_(_PERIOD_START)]
    select += [exp.column(d) for d in by]
    select += [
        exp.Cast(this=m.formula.copy(), to=exp.DataType.build("DOUBLE")).as_(f"m{i}")
        for i, m in enumerate(measures)
    ]
    conds, params = row_conditions(period_column, start, end, filters, where)
    # the tree is built here and used once: no builder step needs to copy it (copy=False)
    query = exp.select(*select).from_(exp.to_table(view), copy=False)
    query = query.where(exp.and_(*conds), copy=False)
    group = [exp.Literal.number(i + 1) for i in range(1 + len(by))]
    query = query.group_by(*group, copy=False)
    # label the groups (a few rows), not the rows: see period_start
    labelled = exp.select(
        period_label(exp.column(_PERIOD_START), grain, cal).as_("period"),
        *[exp.column(d) for d in by],
        *[exp.column(f"m{i}") for i in range(len(measures))],
    ).from_(query.subquery("g", copy=False), copy=False)
    labelled = labelled.order_by(*[g.copy() for g in group], copy=False)
    return labelled, params


def row_conditions(
    period_column: str,
    start: date | None,
    end: date | None,
    filters: dict[str, list[str]],
    where: Sequence[exp.Expression] = (),
) -> tuple[list[exp.Expression], list[object]]:
    """The rows a KPI reads: its period column set and within [start, end], each filter's
    values, each guarded `where` filter true; the dates and values as bound parameters.
    kpi.semantic.explain lists the rows behind a figure with these very conditions."""
    col = exp.column(period_column)
    conds: list[exp.Expression] = [exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null()))]
    params: list[object] = []
    if start is not None:
        conds.append(exp.GTE(this=col.copy(), expression=exp.Placeholder()))
        params.append(start)
    if end is not None:
        conds.append(exp.LTE(this=col.copy(), expression=exp.Placeholder()))
        params.append(end)
    for dim, values in filters.items():
        if values:
            conds.append(
                exp.In(this=exp.column(dim), expressions=[exp.Placeholder() for _ in values])
            )
            params.extend(values)
    conds += [exp.Paren(this=w.copy()) for w in where]
    return conds, params


def view_ctes(
    view: str,
    settings: Settings,
    display_currency: str | None,
    grain: str,
    reads: tuple[date, date] | Ranges | Bounds | None = None,
    lines: str | None = None,
    instead: dict[str, str] | None = None,
) -> list[exp.CTE]:
    """The CTEs under which `view` holds the rows kpi_statement gives one KPI on it at
    `grain`: at another grain than the temporary views' (the fiscal year), the views whose
    rows depend on the period (ranks, snapshot counts) restated at that grain.

    `reads`: the range (or ranges) of the view's period column (RANGE_READS) the statement
    reads; when given for such a view, spend_base under it is computed from the invoice
    lines those rows come from only, and the views under it read what those rows need
    only (range_bodies), not every line. `lines`: a table of some invoice lines, the
    view's rows of those lines only (invoice_bodies, with `instead`: tables, or a view
    under it such as spend_base, read from another table). The dates are literals, or a
    Bounds' parameters when `reads` is one."""
    view_grain = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
    if (reads is not None and view in RANGE_READS) or lines is not None:
        bodies = view_bodies(settings, display_currency, view_grain)
        if lines is not None:  # the rows of the invoice lines of that table only
            restated = invoice_bodies(settings, display_currency, view_grain, view, lines, instead)
        else:
            ranges: Ranges | Bounds = (
                reads if isinstance(reads, Bounds)
                else (reads,) if isinstance(reads[0], date)  # type: ignore[index]
                else reads  # type: ignore[assignment]
            )  # fmt: skip
            restated = range_bodies(settings, display_currency, view_grain, view, ranges)
        # a view `instead` names is read from the table it names (no CTE of its own)
        return [
            _cte(name, restated[name], copy=False) if name in restated
            else _cte(name, bodies[name])
            for name in views_read(settings, display_currency, view)
            if name != "fx_factor" and name not in (instead or {})
        ]  # fmt: skip
    if view_grain == DEFAULT_GRAIN:
        return []
    bodies = view_bodies(settings, display_currency, view_grain)
    readers = [] if view in SPEND_VIEWS else [view]
    readers += list(_ALSO_READS.get(view, ()))
    ctes = [_cte(v, bodies[v]) for v in dict.fromkeys(readers) if v in GRAIN_VIEWS]
    if view in SPEND_VIEWS:
        ctes += [_cte(v, bodies[v]) for v in ("spend_base", *SPEND_VIEWS)]
    return ctes


def view_ctes_sql(
    view: str,
    settings: Settings,
    grain: str,
    reads: Ranges | None = None,
    lines: str | None = None,
    instead: dict[str, str] | None = None,
    restate: str | None = None,
) -> tuple[str, dict[str, date]]:
    """view_ctes() in the reporting currency as the text of a WITH clause ("" when there is
    none), for a statement that puts it before its own rendered SELECT, and the values of
    its parameters: the days of the month ranges `reads` (views.Bounds). `restate`: the
    view itself restated as RESTATED says ("sums", "changes": budget_vs_actual's sums).

    Why: restating the views (filling their templates, copying and rendering the trees)
    costs a fresh process a tenth of a second per rollup table (seconds for all of them at
    scale), on every refresh, for text that depends on the code, the settings and these
    arguments only (the view, the grain, how many month ranges, the names of tables of
    ours): so it is kept in memory and on disk (kpi.store.catalog_cache, keyed by the
    code's hash too). The months themselves are parameters: a refresh of months never seen
    before reads the text kept for as many ranges. Nothing a person types is in it or in
    its key."""
    swapped = tuple(sorted(instead.items())) if instead else None
    shape = None if reads is None else len(reads)
    text, names = _view_ctes_sql(view, settings, grain, shape, lines, swapped, restate)
    params = {} if reads is None else bound_values(names, reads, settings.fiscal)
    return text, params


# How a view may be restated as the last of its CTEs (view_ctes_sql's `restate`):
# budget_vs_actual's sums before they are converted, all of them or only those a load of
# invoices changes (kpi.store.views.group_sums_body).
RESTATED = {
    "sums": group_sums_body,
    "changes": lambda body: group_sums_body(body, changes_only=True),
}


def _restated(
    ctes: list[exp.CTE], view: str, settings: Settings, grain: str, how: str
) -> list[exp.CTE]:
    """The CTEs with `view`'s own restated (its body added as the last CTE when the
    statement would have read the store's view itself)."""
    mine = next((c for c in ctes if c.alias == view), None)
    if mine is None:
        mine = _cte(view, view_bodies(settings, None, grain)[view])
        ctes = [*ctes, mine]
    mine.set("this", RESTATED[how](mine.this))
    return ctes


@lru_cache(maxsize=256)
def _view_ctes_sql(
    view: str,
    settings: Settings,
    grain: str,
    shape: int | None,
    lines: str | None,
    swapped: tuple[tuple[str, str], ...] | None,
    restate: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The WITH clause for `shape` month ranges and the names of its parameters."""

    def made() -> list[object]:
        # built over stand-in months: the text must not depend on them (checked)
        bounds = None if shape is None else Bounds(_stand_ins(shape), settings.fiscal)
        ctes = view_ctes(view, settings, None, grain, bounds, lines, dict(swapped or ()))
        if restate is not None:
            view_grain = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
            ctes = _restated(ctes, view, settings, view_grain, restate)
        text = render(exp.With(expressions=ctes)) if ctes else ""
        if _STAND_IN.search(text):
            raise AssertionError(f"a month range's day is written in {view}'s restated views")
        return [text, list(bounds.names) if bounds is not None else []]

    value = catalog_cache.remembered(
        "view-ctes",
        [repr(settings), view, grain, repr(shape), repr(lines), repr(swapped), repr(restate)],
        made,
        lambda v: (
            isinstance(v, list)
            and len(v) == 2
            and isinstance(v[0], str)
            and (v[0] == "" or v[0].startswith("WITH "))
            and isinstance(v[1], list)
            and all(isinstance(n, str) for n in v[1])
        ),
        keep=_KEEP_CTES,
    )
    return value[0], tuple(value[1])


def _stand_ins(shape: int) -> Ranges:
    """`shape` month ranges, apart, in years no data has (their days would show in a text
    that wrote a range's day in: _STAND_IN)."""
    return tuple((date(1100 + 2 * i, 1, 1), date(1100 + 2 * i, 1, 31)) for i in range(shape))


# a day of the stand-in ranges' years (or a year either side: a whole fiscal year, the
# year before) as a literal
_STAND_IN = re.compile(r"'1[01][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'")
# view-ctes files kept: a refresh asks for about a dozen, per number of month ranges
_KEEP_CTES = 512


def kpi_statement(
    parts: list[tuple[str, str, list[object], int]],
    by: list[str],
    settings: Settings,
    display_currency: str | None = None,
    narrow: bool = True,
    grain: str = DEFAULT_GRAIN,
    reads: tuple[date, date] | None = None,
) -> tuple[str, list[object]]:
    """One statement running several kpi_query SELECTs, so that work they share is done once.

    `parts` are (view, query, params, number of measures), the query and params as kpi_query
    made them. When two or more parts read views built on spend_base, spend_base (fx
    conversion, contract prices, supplier ranks) is computed once for all of them: it becomes
    a MATERIALIZED CTE and those views are restated as CTEs over it. With `narrow`, that CTE
    holds only the columns the statement reads (see spend_base_columns); reading another one
    raises an error that says NOT_COMPUTED (run again with narrow=False). The result has the
    columns _part (index into `parts`), period, the `by` dimensions as text and _values (the
    part's measures in order, a list of doubles).

    Supplier ranks and shares (spend_base) and each location's snapshot count
    (inventory_position) are computed within the periods of `grain`, the grain the KPIs are
    reported at: at another grain than the temporary views' (the fiscal year) the views
    that read them are restated as CTEs from the bodies at `grain`, so a formula stays one
    aggregate over one view and the rank is the one of the period it reports.

    `reads`: the one part's range of its view's period column, when the caller knows the
    view may be computed from that range's invoice lines alone (view_ctes).
    """
    ctes, selects, params = _part_selects(parts, by)
    # a whole date range (grain `range`) of several periods ranks within the fiscal year,
    # like the temporary views; a range that is one fiscal period is asked for as that period
    # (kpi.analyses.kpi_figures), where the ranks are exact
    view_grain = DEFAULT_GRAIN if grain == WHOLE_RANGE else grain
    bodies = view_bodies(settings, display_currency, view_grain)
    regrained = view_grain != DEFAULT_GRAIN
    # Another view several parts read (po_lines: by po_date and by promised_date) is
    # computed once too, as a MATERIALIZED CTE under the view's name, not once per part.
    # None of them reads spend_base, so the probe below does not need them.
    # inventory_position counts once more when working_capital_days reads it too. These
    # come first: the restated spend views below (working_capital_days) read them.
    readers = [view for view, *_ in parts if view not in SPEND_VIEWS]
    readers += [dep for view, *_ in parts for dep in _ALSO_READS.get(view, ())]
    once = [_cte(v, bodies[v], materialized=readers.count(v) > 1 or None)
            for v in dict.fromkeys(readers)
            if readers.count(v) > 1 or (regrained and v in GRAIN_VIEWS)]  # fmt: skip
    spend_parts = sum(view in SPEND_VIEWS for view, *_ in parts)
    if len(parts) == 1 and reads is not None and parts[0][0] in RANGE_READS:
        restated = view_ctes(parts[0][0], settings, display_currency, grain, reads=reads)
        return _statement(restated + ctes, selects), params
    if spend_parts == 1 and regrained:
        # one part: the views over spend_base restated at this grain, nothing materialised
        restated = [_cte(v, bodies[v]) for v in ("spend_base", *SPEND_VIEWS)]
        return _statement(once + restated + ctes, selects), params
    if spend_parts < 2:
        return _statement(once + ctes, selects), params
    restated = [_cte(v, bodies[v], materialized=False) for v in SPEND_VIEWS]
    shared = [_cte("spend_base", bodies["spend_base"], materialized=True)]
    if narrow:
        probe_rows = exp.select("*").from_(identifiers.table(PROBE_TABLE))
        probe = [_cte("spend_base", probe_rows, materialized=False), *restated]
        columns = spend_base_columns(
            _statement(probe + ctes, selects), params, settings, display_currency
        )
        if columns:
            shared = _narrow_spend_base(bodies["spend_base"], columns)
    return _statement(once + shared + restated + ctes, selects), params


def union_statement(
    parts: list[tuple[str, str, list[object], int]], by: list[str]
) -> tuple[str, list[object]]:
    """kpi_statement's result shape (_part, period, `by` as text, _values) for parts that
    read stored tables only (the rollups): each part's query a CTE, nothing restated."""
    ctes, selects, params = _part_selects(parts, by)
    return _statement(ctes, selects), params


def _part_selects(
    parts: list[tuple[str, str, list[object], int]], by: list[str]
) -> tuple[list[exp.CTE], list[exp.Select], list[object]]:
    """Each part's query as a CTE, and a SELECT of it in the result's shape (_part, period,
    the `by` dimensions as text, _values: its measures as a list)."""
    ctes: list[exp.CTE] = []
    selects: list[exp.Select] = []
    params: list[object] = []
    text = exp.DataType.build("VARCHAR")
    for i, (_view, query, part_params, n_measures) in enumerate(parts):
        name = "_kpi_part" + str(i)
        ctes.append(_cte(name, _TREES.get(query) or parsed(query)))
        params += part_params
        values = exp.Array(expressions=[exp.column(f"m{j}") for j in range(n_measures)])
        selects.append(
            exp.select(
                exp.Literal.number(i).as_("_part"),
                exp.column("period"),
                *[exp.Cast(this=exp.column(d), to=text.copy()).as_(d) for d in by],
                values.as_("_values"),
            ).from_(name)
        )
    return ctes, selects, params


# Views outside spend_base's family that a spend view reads (see kpi_statement).
ALSO_READS = {"working_capital_days": ("inventory_position",)}
_ALSO_READS = ALSO_READS

NOT_COMPUTED = "kpi: spend_base column left out of the shared computation"


def _cte(
    name: str, body: exp.Expression, materialized: bool | None = None, copy: bool = True
) -> exp.CTE:
    """`name AS [NOT] MATERIALIZED (body)`; the body is copied unless it is this call's own
    (view bodies and query trees are shared between requests)."""
    alias = exp.TableAlias(this=exp.to_identifier(name))
    return exp.CTE(this=body.copy() if copy else body, alias=alias, materialized=materialized)


def _narrow_spend_base(body: exp.Expression, columns: list[tuple[str, str, bool]]) -> list[exp.CTE]:
    """spend_base computed once with only the columns read; the others keep their names
    (so every view still binds) but raise an error if a query ever evaluated one."""
    kept = [identifiers.column(name) for name, _, read in columns if read]
    alias = exp.TableAlias(this=exp.to_identifier("spend_base"))
    source = exp.Subquery(this=body.copy(), alias=alias)
    outer = [
        identifiers.column(name)
        if read
        else exp.Cast(
            this=exp.func("error", exp.Literal.string(NOT_COMPUTED + ": " + name)),
            to=exp.DataType.build(sql_type, dialect="duckdb"),
        ).as_(identifiers.ident(name))
        for name, sql_type, read in columns
    ]
    rows = exp.select(*kept).from_(source, copy=False)
    narrowed = exp.select(*outer).from_("spend_base_rows")
    return [
        _cte("spend_base_rows", rows, materialized=True, copy=False),
        _cte("spend_base", narrowed, materialized=False, copy=False),
    ]


def _statement(ctes: list[exp.CTE], selects: list[exp.Select]) -> str:
    """WITH <ctes> <select> UNION ALL <select> ..., rendered."""
    statement: exp.Query = selects[0].copy()
    for select in selects[1:]:
        statement = exp.union(statement, select, distinct=False)
    statement.set("with_", exp.With(expressions=ctes))
    return render(statement)
