"""The rows behind a KPI value: which rows of its view make it, each row's share of every
aggregate of the formula, its lineage, and a reconciliation derived from the formula.

Nothing here is written per KPI. The formula (the tree the formula guard accepted) is
walked with sqlglot: each aggregate becomes one "part" column per row (`sum(x) FILTER
(WHERE c)` -> CASE WHEN c THEN x END, `count(*)` -> 1, `avg(x)` -> a sum part and a count
part), the parts are totalled in SQL over the same rows the engine reads (the compiler's
own row conditions, the views restated at the period's grain as the engine does), and the
formula is evaluated again with every aggregate replaced by its total as a literal: that
must give the engine's value. The value itself always comes from the engine: computed here,
or handed over by a caller that already shows it (the app's tiles and scorecard), so the
rows are checked against the very figure on the screen and the engine is not asked twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import duckdb
import polars as pl
from sqlglot import exp

from kpi.core import periods
from kpi.core.currencies import CURRENCIES
from kpi.semantic import compiler, engine
from kpi.semantic.formula_guard import FormulaError, guard_filter
from kpi.semantic.formula_parts import (
    Aggregate,
    Part,
    aggregates,
    formula_columns,
    unwrap,
    with_totals,
)
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store import identifiers
from kpi.store.database import Store
from kpi.store.query import fetch_frame
from kpi.store.schema import LINEAGE_NAMES
from kpi.store.template import render
from kpi.store.views import RANGE_READS, view_catalog

# How close the formula re-evaluated from the rows' totals must come to the engine's value.
CENT = 0.005  # money: to the cent
RATIO_TOLERANCE = 1e-9  # anything else, relative to the value (at least 1e-9 absolute)


class _EngineValue:
    """The default of `explain(value=...)`: ask the engine for the value."""

    def __repr__(self) -> str:
        return "ENGINE"


ENGINE = _EngineValue()
# what a caller may hand explain as the value: the engine's own, or ENGINE to compute it
ValueOrEngine = Decimal | float | int | None | _EngineValue


class ExplainError(ValueError):
    """A request explain cannot answer: unknown period, refused filter, unknown currency."""


@dataclass
class Explanation:
    """A KPI value with the split and the reconciliation of the rows behind it."""

    kpi: str
    name: str
    period: str
    where: list[str]
    value: Decimal | float | None
    numerator: Decimal | float | None
    denominator: Decimal | float | None
    reconciles: bool
    note: str | None
    row_count: int
    columns: list[str]
    unit: str
    # added beside the agreed fields: the parts and what explain_rows needs to page
    parts: list[Part] = field(default_factory=list)
    recomputed: Decimal | float | None = None  # the formula evaluated on the parts' totals
    currency: str | None = None
    source: str = ""
    period_by: str = ""
    start: date | None = None
    end: date | None = None
    grain: str = "quarter"
    definition: KpiDefinition | None = field(default=None, repr=False, compare=False)
    where_trees: list[exp.Expression] = field(default_factory=list, repr=False, compare=False)
    # the first page of rows, fetched in the scan that counts and totals them
    first_page: pl.DataFrame | None = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------------------------------
# Explaining a value
# ---------------------------------------------------------------------------------------


def _period(period: str, store: Store) -> tuple[str, date, date, str]:
    """The label, first and last day and grain of a period label (as `compute --from/--to`
    read it), or the engine's range label `2026-01-01..2026-06-30` (grain `range`: the
    figure a page shows for the sidebar's range); anything else is refused in one sentence."""
    text = period.strip()
    if ".." in text:
        first, _, last = text.partition("..")
        try:
            lo, hi = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
        except ValueError:
            lo = hi = None
        if lo is None or hi is None or hi < lo:
            raise ExplainError(
                f"'{period}' is not a range of dates: use 2026-01-01..2026-06-30"
            ) from None
        return text, lo, hi, engine.WHOLE_RANGE
    try:
        grain = periods.grain_of(text)
        lo, hi = engine.parse_bounds(text, text, store)
    except (periods.PeriodError, engine.ComputeError):
        raise ExplainError(
            f"'{period}' is not a period: use a month (2026-03), a fiscal quarter (FY2026-Q1) "
            "or a fiscal year (FY2026)"
        ) from None
    assert lo is not None and hi is not None
    return text, lo, hi, grain


def _guarded(where: Sequence[str], columns: dict[str, str], view: str) -> list[exp.Expression]:
    trees = []
    for text in where:
        try:
            trees.append(guard_filter(text, columns, view=view))
        except FormulaError as exc:
            raise ExplainError(f"--where {text!r} refused: {exc}") from None
    return trees


def _conditions(
    explanation: Explanation, aggs: list[Aggregate]
) -> tuple[list[exp.Expression], list[object]]:
    """The engine's row conditions, plus: the row takes part in at least one aggregate."""
    conds, params = compiler.row_conditions(
        explanation.period_by, explanation.start, explanation.end, {}, explanation.where_trees
    )
    taking_part = [a.condition for a in aggs]
    if taking_part and all(c is not None for c in taking_part):
        conds.append(exp.Paren(this=exp.or_(*[exp.Paren(this=c.copy()) for c in taking_part])))
    return conds, params


def _statement(
    explanation: Explanation, select: exp.Select, store: Store, currency: str | None
) -> str:
    """The select over the KPI's view, under the CTEs that give the engine's rows (from the
    invoice lines the period's rows can come from only, where the view allows it)."""
    ctes = compiler.view_ctes(
        explanation.source,
        store.settings,
        currency,
        explanation.grain,
        reads=_range_read(explanation),
    )
    if ctes:
        select.set("with_", exp.With(expressions=ctes))
    return render(select)


def _range_read(explanation: Explanation) -> tuple[date, date] | None:
    """The period's first and last day when the KPI's view can be computed for that range
    alone (RANGE_READS: its period column is the KPI's), else None (every row is read)."""
    column = RANGE_READS.get(explanation.source, ("", ""))[0]
    if column != explanation.period_by or explanation.start is None or explanation.end is None:
        return None
    return explanation.start, explanation.end


# The columns naming the document a row is (an invoice line, an order line, an initiative, a
# stock position): a controller finds the row in the ERP by them, and the app opens the
# row's documents (PO line, receipts, payment) from them. Taken from the view when it has
# them, whatever the KPI.
DOCUMENT_KEYS = (
    "invoice_id",
    "invoice_line",
    "po_id",
    "po_line",
    "initiative_id",
    "item_id",
    "location",
)


def _row_columns(
    definition: KpiDefinition, view_columns: dict[str, str], aggs: list[Aggregate]
) -> tuple[list[str], list[tuple[str, exp.Expression]]]:
    """The columns of a page of rows: period, dimensions, the formula's columns, the parts,
    lineage (when the view carries it); with the expression of each."""
    names = [definition.period_by]
    names += [k for k in DOCUMENT_KEYS if k in view_columns]
    names += [d for d in definition.dimensions if d in view_columns]
    names += [c for c in formula_columns(definition.formula_tree) if c in view_columns]
    names = list(dict.fromkeys(names))
    lineage = [c for c in LINEAGE_NAMES if c in view_columns]
    selected: list[tuple[str, exp.Expression]] = [
        (n, identifiers.column(n)) for n in names if n not in lineage
    ]
    selected += [(p.column, expr) for a in aggs for p, expr in a.parts]
    selected += [(n, identifiers.column(n)) for n in lineage]
    return [n for n, _ in selected], selected


def _close(a: object, b: object, unit: str) -> bool:
    if a is None or b is None:
        return a is None and b is None
    x, y = float(a), float(b)  # type: ignore[arg-type]
    if math.isnan(x) or math.isnan(y):
        return False
    if unit == "currency":
        return abs(x - y) <= CENT
    return abs(x - y) <= RATIO_TOLERANCE * max(1.0, abs(y))


def explain(
    store: Store,
    definition: KpiDefinition,
    period: str,
    where: Sequence[str] = (),
    currency: str | None = None,
    *,
    value: ValueOrEngine = ENGINE,
) -> Explanation:
    """The value of `definition` for `period` (filtered by `where`), the split of its
    formula, the count of the rows behind it and whether their totals give the value.

    `value`: the engine's value for exactly this KPI, period, filters and currency when the
    caller already has it (the figure it shows); else the engine computes it here."""
    if currency and currency.upper() not in CURRENCIES:
        raise ExplainError(f"unknown currency '{currency}': use a code such as EUR, USD or GBP")
    currency = currency.upper() if currency else None
    label, start, end, grain = _period(period, store)
    view_columns = view_catalog(store.settings)[definition.source]
    trees = _guarded(list(where), view_columns, definition.source)
    formula = definition.formula_tree
    assert formula is not None, "definitions are read through the formula guard"
    aggs = aggregates(formula)
    columns, _ = _row_columns(definition, view_columns, aggs)
    explanation = Explanation(
        kpi=definition.id,
        name=definition.name,
        period=label,
        where=list(where),
        value=None,
        numerator=None,
        denominator=None,
        reconciles=False,
        note=None,
        row_count=0,
        columns=columns,
        unit=definition.unit,
        parts=[p for a in aggs for p, _ in a.parts],
        currency=currency,
        source=definition.source,
        period_by=definition.period_by,
        start=start,
        end=end,
        grain=grain,
        definition=definition,
        where_trees=trees,
    )
    if not isinstance(value, _EngineValue):  # the figure the caller shows, from the engine
        with store.read(display_currency=currency) as con:
            _totals(con, explanation, aggs, store, currency)
            explanation.value = _number(value)
            _reconcile(con, explanation, formula, aggs)
        return explanation
    # The engine's value and the scan of the rows are two statements on two connections:
    # they run side by side (DuckDB works outside the GIL), the page is not kept waiting.
    with ThreadPoolExecutor(max_workers=1) as pool:
        computing = pool.submit(
            engine.compute, store, [definition], grain, (), start, end, currency=currency,
            where=trees,
        )  # fmt: skip
        with store.read(display_currency=currency) as con:
            _totals(con, explanation, aggs, store, currency)
            frame = computing.result().frame
            values = frame.filter(pl.col("period") == label)["value"].to_list()
            explanation.value = _number(values[0] if values else None)
            _reconcile(con, explanation, formula, aggs)
    return explanation


def _number(value: Decimal | float | int | None) -> Decimal | float | int | None:
    """The engine's value as explain reports it: NaN (no rows to divide) is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _totals(
    con: duckdb.DuckDBPyConnection,
    explanation: Explanation,
    aggs: list[Aggregate],
    store: Store,
    currency: str | None,
) -> None:
    """One scan: the first page of rows, and over all the rows (windows over the whole
    result, computed before the page is cut) their number and each part's total."""
    frame = _page(con, explanation, aggs, store, currency, 0, FIRST_PAGE, None, False, True)
    explanation.row_count = int(frame[_ROW_COUNT][0]) if frame.height else 0
    for part in explanation.parts:
        name = _TOTAL + part.column
        if name in frame.columns:
            total = frame[name][0] if frame.height else None
            counted = part.role.startswith("count")
            part.total = int(total or 0) if counted else total
    explanation.first_page = frame.select(explanation.columns)


def _reconcile(
    con: duckdb.DuckDBPyConnection,
    explanation: Explanation,
    formula: exp.Expression,
    aggs: list[Aggregate],
) -> None:
    """Numerator, denominator and the formula on the totals; whether it gives the value."""
    blocked = [a.why for a in aggs if a.why]
    if explanation.row_count == 0 and explanation.value is None:
        explanation.reconciles = True
        explanation.note = "no rows behind this figure: the period has no data for this KPI"
        return
    if blocked:
        explanation.note = blocked[0]
        return
    recomputed = with_totals(formula, aggs)
    top = unwrap(recomputed)
    sides: list[exp.Expression] = [recomputed]
    if isinstance(top, exp.Div):
        sides += [top.this, unwrap(top.expression)]
    select = exp.select(*[s.copy() for s in sides])
    row = con.execute(render(select)).fetchone()
    assert row is not None
    explanation.recomputed = row[0]
    if len(sides) == 3:
        explanation.numerator, explanation.denominator = row[1], row[2]
    else:
        explanation.numerator = row[0]
    explanation.reconciles = _close(row[0], explanation.value, explanation.unit)
    if explanation.reconciles:
        explanation.note = (
            "numerator / denominator of the rows' totals = the value (to 1e-9)"
            if len(sides) == 3
            else "the formula on the rows' totals = the value"
            + (" (to the cent)" if explanation.unit == "currency" else " (to 1e-9)")
        )
    else:
        explanation.note = (
            f"the formula on the rows' totals gives {row[0]}, the engine {explanation.value}: "
            "the rows do not reconcile; report this with the KPI and period"
        )


# ---------------------------------------------------------------------------------------
# A page of rows
# ---------------------------------------------------------------------------------------


def explain_rows(
    store: Store,
    explanation: Explanation,
    offset: int = 0,
    limit: int = 50,
    sort_by: str | None = None,
    descending: bool = False,
    currency: str | None = None,
) -> pl.DataFrame:
    """One page of the rows behind the value, sorted in SQL by `sort_by` (one of
    `explanation.columns`), ties broken by lineage and then every other column."""
    definition = explanation.definition
    if definition is None or definition.formula_tree is None:
        raise ExplainError("this explanation holds no KPI definition: explain the value first")
    if sort_by is not None and sort_by not in explanation.columns:
        raise ExplainError(
            f"cannot sort by '{sort_by}': choose one of {', '.join(explanation.columns)}"
        )
    if offset < 0 or limit < 0:
        raise ExplainError("offset and limit are counts of rows: use 0 or more")
    currency = (currency or explanation.currency or "").upper() or None
    if currency and currency not in CURRENCIES:
        raise ExplainError(f"unknown currency '{currency}': use a code such as EUR, USD or GBP")
    first = explanation.first_page
    if (
        first is not None
        and offset == 0
        and limit <= FIRST_PAGE
        and sort_by is None
        and currency == explanation.currency
    ):
        return first.head(limit)  # the page explain fetched with the totals
    aggs = aggregates(definition.formula_tree)
    with store.read(display_currency=currency) as con:
        return _page(con, explanation, aggs, store, currency, offset, limit, sort_by, descending)


def _page(
    con: duckdb.DuckDBPyConnection,
    explanation: Explanation,
    aggs: list[Aggregate],
    store: Store,
    currency: str | None,
    offset: int,
    limit: int,
    sort_by: str | None,
    descending: bool,
    totals: bool = False,
) -> pl.DataFrame:
    """Rows [offset, offset + limit) in the order asked; with `totals`, beside each row
    the number of all the rows and each part's total over all of them."""
    definition = explanation.definition
    assert definition is not None
    key = (
        explanation.source,
        explanation.grain,
        currency,
        store.settings,
        definition.formula,
        definition.period_by,
        tuple(definition.dimensions),
        tuple(w.sql() for w in explanation.where_trees),
        sort_by,
        descending,
        totals,
        _range_read(explanation),  # the range is in the statement's text, not a parameter
    )
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _page_statement(explanation, aggs, store, currency, sort_by, descending, totals)
        if len(_STATEMENTS) >= _STATEMENTS_KEPT:
            _STATEMENTS.clear()
        _STATEMENTS[key] = statement
    _, params = _conditions(explanation, aggs)
    return fetch_frame(con, statement, [*params, limit, offset])


# Rendering a statement with the views restated at a grain costs more than DuckDB needs to
# page through a quarter: the text is kept, keyed on what makes it (dates are parameters).
_STATEMENTS: dict[tuple, str] = {}
_STATEMENTS_KEPT = 256
FIRST_PAGE = 50  # rows explain fetches with the totals, what explain_rows then serves
_ROW_COUNT = "_kpi_row_count"
_TOTAL = "_kpi_total_"


def _page_statement(
    explanation: Explanation,
    aggs: list[Aggregate],
    store: Store,
    currency: str | None,
    sort_by: str | None,
    descending: bool,
    totals: bool,
) -> str:
    definition = explanation.definition
    assert definition is not None
    view_columns = view_catalog(store.settings)[explanation.source]
    names, selected = _row_columns(definition, view_columns, aggs)
    outputs = [e.copy().as_(exp.to_identifier(n, quoted=True)) for n, e in selected]
    if totals:
        whole = exp.Window(this=exp.Count(this=exp.Star()))
        outputs.append(whole.as_(exp.to_identifier(_ROW_COUNT, quoted=True)))
        for agg in aggs:
            for part, expr in agg.parts:
                if part.role == "value":
                    continue
                func = exp.Sum if part.role in ("sum", "sum of avg") else exp.Count
                window = exp.Window(this=func(this=expr.copy()))
                outputs.append(window.as_(exp.to_identifier(_TOTAL + part.column, quoted=True)))
    select = exp.select(*outputs).from_(identifiers.table(explanation.source))
    conds, _ = _conditions(explanation, aggs)
    select = select.where(exp.and_(*conds), copy=False)
    lineage = [c for c in LINEAGE_NAMES if c in names]
    order = ([sort_by] if sort_by else []) + lineage + names
    keys = [
        exp.Ordered(
            this=exp.column(exp.to_identifier(n, quoted=True)),
            desc=descending and n == sort_by and i == 0,
            nulls_first=False,
        )
        for i, n in enumerate(dict.fromkeys(order))
    ]
    select = select.order_by(*keys, copy=False)
    select = select.limit(exp.Placeholder(), copy=False).offset(exp.Placeholder(), copy=False)
    return _statement(explanation, select, store, currency)
