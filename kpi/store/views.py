"""The curated views KPI formulas run over: their catalogue, filling and creating them.

Each view carries the derived columns KPI formulas need, so that a formula is one aggregate
expression over one view. Nothing in a view comes from user text: the bodies (constant SQL
in kpi.store.view_sql_spend and kpi.store.view_sql_operations) hold markers
(`__display__`, `__base__`, `__obsolete_days__`, `__po_exempt__`, `__budget_rates__`,
`__savings_window__`, ...) that stand for a setting, and kpi.store.template puts sqlglot
literals in the markers' places. Two markers stand for the period a KPI is reported at
(`__invoice_period__`, `__snapshot_period__`: a key of the row's month, fiscal quarter or
fiscal year): supplier ranks and shares and each location's number of snapshots are
computed within that period, so the KPI compiler asks for the bodies at the grain of the
request (the temporary views use the fiscal year).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import duckdb
from sqlglot import exp

from kpi.core.currencies import CURRENCIES
from kpi.core.periods import label as period_label
from kpi.core.periods import period_range
from kpi.core.settings import FiscalCalendar, Settings
from kpi.store import catalog_cache, identifiers
from kpi.store import view_sql_operations as O
from kpi.store import view_sql_spend as S
from kpi.store.schema import (
    LINEAGE_COLUMNS,
    STOCK_MARKS_DDL,
    TABLES,
    all_ddl,
    create_table_sql,
)
from kpi.store.template import fill, literal, parsed, render
from kpi.store.view_reads import (  # noqa: F401 - re-exported: what each view reads
    COMPLETE,
    GRAIN_COLUMNS,
    INCREMENTAL,
    RANGE_READS,
    SUMMARIES,
    Dated,
)

# `amount` in a view is in the reporting currency; the source's own figure stays in
# `source_amount` / `source_currency`.


_VIEWS: dict[str, str] = {
    "spend": S.SPEND,
    "payments": S.PAYMENTS,
    "po_lines": O.PO_LINES,
    "invoice_match": O.INVOICE_MATCH,
    "budget_vs_actual": O.BUDGET_VS_ACTUAL,
    "inventory_position": O.INVENTORY_POSITION,
    "savings_lines": S.SAVINGS_LINES,
    "spend_yoy": S.SPEND_YOY,
    "working_capital_days": S.WORKING_CAPITAL_DAYS,
}

# The curated views that read spend_base (directly or through spend), in dependency order.
SPEND_VIEWS = (
    "spend",
    "invoice_match",
    "payments",
    "budget_vs_actual",
    "savings_lines",
    "spend_yoy",
    "working_capital_days",
)

# Every view ends with the lineage columns (kpi.store.schema.LINEAGE_NAMES) of the table row
# each of its rows is: the invoice line (spend, payments, invoice_match, savings_lines,
# spend_yoy), the PO line (po_lines), the stock row (inventory_position); working_capital_days
# the stock row's or the invoice line's; budget_vs_actual, whose rows are groups, the budget
# line's.
VIEW_DESCRIPTIONS: dict[str, str] = {
    "spend": "Invoice lines with supplier, contract and fiscal context (amount in reporting "
    "currency).",
    "payments": "Invoice lines with days to pay, lateness against the due date (else the "
    "invoice date plus the terms in force), early-payment discounts and overdue ageing.",
    "po_lines": "Purchase-order lines with approval time, their goods receipts and whether "
    "each came on time in full (judged at its promised date, as of the last data day).",
    "invoice_match": "Invoice lines against their purchase order's price and the quantity "
    "received by the invoice date (three-way match exceptions).",
    "budget_vs_actual": "Budget, invoiced spend, accrued (received, not invoiced) and committed "
    "spend (ordered, neither received nor invoiced, in the month promised) per month, cost "
    "centre and category, all at the fiscal year's budget rates; fx_variance is what the "
    "transaction-date rates add to the invoiced spend. Its lineage is the budget line's "
    "(null where the month, cost centre and category have no budget).",
    "inventory_position": "Stock snapshots split into safety, cycle, excess and obsolete "
    "(obsolete: no issue or receipt for obsolete_after_days; a critical item keeps its safety "
    "level; stock procurement marked as safety or strategic stock is neither excess nor "
    "obsolete up to and including its review date), with each location's number of snapshots "
    "in the reported period.",
    "savings_lines": "Every invoice line with the one savings initiative it is attributed to "
    "(if any) and the saving on it, plus each initiative's expected saving per month (whose "
    "lineage is the initiative's).",
    "spend_yoy": "Spend now and a year earlier, side by side, for the expense change.",
    "working_capital_days": "Stock snapshots and paid invoice lines (credit notes left out) "
    "side by side, for the cash conversion gap (days of inventory minus days to pay).",
}

Ranges = tuple[tuple[date, date], ...]
# the grains whose whole periods a range may be widened to (Bounds: `quarter_lo_0`...)
_WHOLE = ("month", "quarter", "year")


class Bounds:
    """The days of month ranges in a statement as named parameters: `$lo_0`, `$hi_0`...
    for the ranges, and the days made from them under names saying how (`quarter_lo_1`:
    the first day of the fiscal quarter holding the second range's first day, `prior_hi_0`,
    `last`; see bound_values). Why: the statement's text then depends on how many ranges
    there are, not on their dates, so a statement that costs seconds to build (the rollups'
    restated views) is built once per shape and serves every later refresh of other
    months. `literal`: the dates written in instead (a statement run once, a live figure),
    touching ranges merged as between_any does."""

    def __init__(
        self, ranges: Ranges, fiscal: FiscalCalendar | None = None, literal: bool = False
    ) -> None:
        self.ranges = tuple(ranges)
        self.fiscal = fiscal
        self.literal = literal
        self.names: dict[str, None] = {}  # the parameters the statement reads, in order

    @property
    def params(self) -> dict[str, date]:
        """The values of the parameters asked for so far."""
        return bound_values(self.names, self.ranges, self.fiscal)

    def day(self, name: str) -> exp.Expression:
        """One day (a name bound_values knows) as a parameter, or a literal."""
        if self.literal:
            return _date_literal(bound_values([name], self.ranges, self.fiscal)[name])
        self.names[name] = None
        return exp.Placeholder(this=name)

    def between(self, column: str | exp.Expression, *kinds: str) -> exp.Expression:
        """`column` within one of the ranges of `kinds` ("": the ranges themselves, "prior":
        a year before them, a grain: the whole periods holding them), all OR-ed."""
        kinds = kinds or ("",)
        if self.literal:
            ranges = sum((_derived(k, self.ranges, self.fiscal) for k in kinds), ())
            return between_any(column, ranges)
        value = exp.column(column) if isinstance(column, str) else column
        conds = [
            exp.Between(
                this=value.copy(),
                low=self.day(_bound_name(k, "lo", i)),
                high=self.day(_bound_name(k, "hi", i)),
            )
            for k in kinds
            for i in range(len(self.ranges))
        ]
        return exp.or_(*conds) if len(conds) > 1 else conds[0]


def _bound_name(kind: str, side: str, i: int) -> str:
    return f"{kind}_{side}_{i}" if kind else f"{side}_{i}"


def _derived(kind: str, ranges: Ranges, fiscal: FiscalCalendar | None) -> Ranges:
    """The ranges of one kind of Bounds.between (see there); whole periods need `fiscal`."""
    if kind == "":
        return ranges
    if kind == "prior":  # a day more each side, as 29 February moves to the 28th
        return tuple(
            (_year_before(lo) - timedelta(days=1), _year_before(hi) + timedelta(days=1))
            for lo, hi in ranges
        )
    if kind in _WHOLE and fiscal is not None:  # ranks are within the grain's periods
        return tuple(
            (
                period_range(period_label(lo, kind, fiscal), fiscal)[0],
                period_range(period_label(hi, kind, fiscal), fiscal)[1],
            )
            for lo, hi in ranges
        )
    raise KeyError(f"no such kind of month bounds: {kind!r}")


def bound_values(
    names: Iterable[str], ranges: Ranges, fiscal: FiscalCalendar | None
) -> dict[str, date]:
    """The value of each parameter name a Bounds gave out, for these ranges: `last` is the
    ranges' last day, `<kind>_<lo|hi>_<i>` a bound of the i-th range of that kind (see
    Bounds.between; no kind: the ranges themselves). Cheap: what a statement kept by its
    shape is run with."""
    out: dict[str, date] = {}
    derived: dict[str, Ranges] = {}
    for name in names:
        if name == "last":
            out[name] = max(hi for _, hi in ranges)
            continue
        *kind, side, index = name.split("_")
        k = "_".join(kind)
        if k not in derived:
            derived[k] = _derived(k, ranges, fiscal)
        lo, hi = derived[k][int(index)]
        out[name] = {"lo": lo, "hi": hi}[side]
    return out


def spend_base_for_range(
    settings: Settings,
    display_currency: str | None,
    grain: str,
    view: str,
    start: date,
    end: date,
) -> exp.Expression:
    """spend_base's body reading only the invoice lines `view`'s rows between `start` and
    `end` (of its RANGE_READS column) can come from (see range_bodies)."""
    return range_bodies(settings, display_currency, grain, view, ((start, end),))["spend_base"]


def range_bodies(
    settings: Settings,
    display_currency: str | None,
    grain: str,
    view: str,
    ranges: Ranges | Bounds,
) -> dict[str, exp.Expression]:
    """The bodies of the views under `view` that read less for `view`'s rows in `ranges` (of
    its RANGE_READS column) than for all of them: spend_base from the invoice lines those
    rows come from only (with the exchange rates of their days and the orders they name),
    payments' terms for those lines' days, budget_vs_actual's orders due or received in the
    ranges, working_capital_days' stock snapshots in the ranges. Why: the rows behind one
    month's figure (a rollup refresh, a quarter's KPI) need not convert, price and rank
    every line of every year (kpi.semantic.explain). The dates are literals made here from
    dates (never text a person typed), or a Bounds' parameters. The trees are the caller's
    own."""
    _, reach = RANGE_READS[view]
    if not isinstance(ranges, Bounds):
        ranges = Bounds(ranges, settings.fiscal, literal=True)
    read = _invoices_read(settings, grain, reach, ranges)
    bodies = view_bodies(settings, display_currency, grain)
    out = _lines_from(bodies, view, read)
    if view == "budget_vs_actual":
        budget = bodies["budget_vs_actual"].copy()
        open_po = {c.alias: c.this for c in budget.find_all(exp.CTE)}["open_po"]
        assert isinstance(open_po, exp.Select), "budget_vs_actual changed"
        open_po.where(_orders_due_in(ranges), copy=False)
        out["budget_vs_actual"] = budget
    if view == "working_capital_days":
        out["inventory_position"] = _stock_in(bodies["inventory_position"].copy(), ranges)
    return out


def invoice_bodies(
    settings: Settings,
    display_currency: str | None,
    grain: str,
    view: str,
    lines: str,
    instead: dict[str, str] | None = None,
) -> dict[str, exp.Expression]:
    """The bodies of the views under `view` (spend, payments, invoice_match, savings_lines,
    working_capital_days) computed from the invoice lines of the table `lines` only (a
    temporary copy of some of them): what a load that wrote them changed in a view whose
    rows are each one line's, or its order's (kpi.store.view_reads.DELTA, BY_ORDER; ranks
    are then among those lines: no measure of such a rollup reads them; working_capital_days'
    stock rows, which read no invoice, are left out; so are savings_lines' expected
    savings, which are no line's). `instead`: store tables read from
    another (temporary) table in every one of those bodies (a copy of the rows of the lines'
    orders, where each read of the table is joined to the lines by order)."""
    read = exp.select("*").from_(exp.to_table(lines))  # our own name (rollups._LINES)
    bodies = view_bodies(settings, display_currency, grain)
    out = _lines_from(bodies, view, read)
    if view == "working_capital_days":  # its stock rows read no invoice: none of the lines'
        out["inventory_position"] = _no_stock(bodies["inventory_position"].copy())
    if view == "savings_lines":  # its plan rows are no line's: the same before and after
        out["savings_lines"] = _no_plan(bodies["savings_lines"].copy())
    for name in views_read(settings, display_currency, view) if instead else ():
        body = out[name] if name in out else bodies[name].copy()
        found = [t for t in body.find_all(exp.Table) if t.name in instead]  # type: ignore[operator]
        for t in found:
            t.replace(exp.to_table(instead[t.name], alias=t.alias or t.name))  # type: ignore[index]
        if found:
            out[name] = body
    return out


def _lines_from(
    bodies: dict[str, exp.Expression], view: str, read: exp.Select
) -> dict[str, exp.Expression]:
    """spend_base (and, under payments, payments) computed from the invoice lines `read`
    selects instead of every line: the exchange rates of the days read, the orders and
    payment terms those lines name. The trees are copies."""
    base = bodies["spend_base"].copy()
    ctes = {c.alias: c.this for c in base.find_all(exp.CTE)}
    scanned = ctes["lines"].args["from_"].this
    assert isinstance(scanned, exp.Table) and scanned.name == "invoices", "spend_base changed"
    scanned.replace(read.subquery("i"))
    _read_instead(ctes["fx_day"], read)
    _orders_named(ctes["po_head"], read)
    out = {"spend_base": base}
    if view == "payments":
        payments = bodies["payments"].copy()
        _read_instead({c.alias: c.this for c in payments.find_all(exp.CTE)}["term_day"], read)
        out["payments"] = payments
    return out


def _no_stock(stock: exp.Expression) -> exp.Expression:
    """inventory_position with no row (its columns and types kept): the stock half of
    working_capital_days, which a load of invoices leaves as it is, is then no part of the
    load's difference, and neither its snapshots nor its receipts are read for it."""
    ctes = {c.alias: c.this for c in stock.find_all(exp.CTE)}
    base, receipts = ctes["base"], ctes["receipts"]
    assert isinstance(base, exp.Select) and isinstance(receipts, exp.Select), "stock changed"
    for select in (base, receipts):
        select.where(exp.false(), copy=False)
    return stock


def _no_plan(savings: exp.Expression) -> exp.Expression:
    """savings_lines with its line rows only: its expected savings (a row per initiative
    and month invoiced, none of them a line's) are the same in the store before and after a
    load that leaves the first and last months invoiced where they were (the difference is
    applied only then: kpi.store.view_reads.DELTA), so they are left out of the difference,
    and so are their two reads of every invoice date."""
    ctes = {c.alias: c.this for c in savings.find_all(exp.CTE)}
    plan = ctes["plan_share"]
    assert isinstance(plan, exp.Select), "savings_lines changed"
    plan.set("where", exp.Where(this=exp.false()))
    return savings


# ---- budget_vs_actual in two halves: its sums, then its rows from them ---------------------
# A group's figures are each measure's sum per currency, converted and rounded once: a
# difference of converted rows is not exact, but the sums before converting are. So the
# rollups keep them (kpi.semantic.rollups): per month, cost centre, category, currency and
# measure, the sum of the amounts, of the invoices' amounts at transaction-date rates (with
# how many have one: a sum of none is NULL) and how many moves; a load adds its lines'
# moves and its orders' moves to them and takes away the same before it. The group's rows
# are then the view's own conversion and totals over those sums.
GROUP_SUMS = "_kpi_bva_sums"  # the name the rows-from-sums body reads them by
_AFTER_MOVES = ("grouped", "converted", "totals")
_BEFORE_GROUPED = ("open_po", "po_currency", "invoiced_po", "billed", "received", "po_state")
_SUMS_SELECT = (
    "SELECT month_start, cost_centre, category, currency, measure, sum(amount) AS amount, "
    "sum(at_transaction) AS at_transaction, count(at_transaction) AS at_n, count(*) AS n "
    "FROM moves WHERE month_start IS NOT NULL GROUP BY ALL"
)
_NO_BUDGET = "measure <> 'budget'"


def _bva_ctes(body: exp.Expression) -> list[exp.CTE]:
    """The body's CTEs, checked to be budget_vs_actual's (moves, then the groups' sums,
    their conversion and totals, which the final SELECT reads)."""
    with_ = body.args.get("with_")
    ctes = list(with_.expressions) if with_ is not None else []
    names = [c.alias for c in ctes]
    assert names[-4:] == ["moves", *_AFTER_MOVES], "budget_vs_actual changed"
    return ctes


def group_sums_body(body: exp.Expression, changes_only: bool = False) -> exp.Expression:
    """budget_vs_actual's body cut at its moves: their sums per month, cost centre,
    category, currency and measure (see GROUP_SUMS). `changes_only`: without the budgets'
    moves, which a load of invoices leaves as they are. The tree is the caller's."""
    ctes = [c for c in _bva_ctes(body) if c.alias not in _AFTER_MOVES]
    select = parsed(_SUMS_SELECT).copy()
    if changes_only:
        select.where(parsed(_NO_BUDGET).copy(), copy=False)
    select.set("with_", exp.With(expressions=ctes))
    return select


def rows_from_sums(body: exp.Expression) -> exp.Expression:
    """budget_vs_actual's body reading its groups' sums from GROUP_SUMS (rows as
    group_sums_body gives them) instead of summing the moves: the view's rows of the groups
    those sums are of, to the cent (the same conversion, rounding and totals). The tree is
    the caller's."""
    ctes = _bva_ctes(body)
    grouped = next(c.this for c in ctes if c.alias == "grouped")
    assert isinstance(grouped, exp.Select) and grouped.args["from_"].this.name == "moves"
    # each sum of the moves is now the sums' column of its name (the rest kept as it is)
    sums = {
        p.alias
        for p in grouped.expressions
        if isinstance(p, exp.Alias) and isinstance(p.this, exp.Sum)
    }
    assert sums == {"amount", "at_transaction"}, "budget_vs_actual changed"
    grouped.set(
        "expressions",
        [exp.column(p.alias) if p.alias in sums else p for p in grouped.expressions],
    )
    grouped.set("group", None)
    grouped.set("from_", exp.From(this=exp.to_table(GROUP_SUMS)))
    kept = [c for c in ctes if c.alias not in (*_BEFORE_GROUPED, "moves")]
    body.set("with_", exp.With(expressions=kept))
    return body


def _stock_in(stock: exp.Expression, ranges: Bounds) -> exp.Expression:
    """inventory_position's rows of the snapshots in the ranges: their receipts up to the
    last day of the ranges only (each snapshot finds its item's last receipt on or before
    it); the first snapshot of each item and location is still looked for in all of them."""
    ctes = {c.alias: c.this for c in stock.find_all(exp.CTE)}
    base, receipts = ctes["base"], ctes["receipts"]
    assert isinstance(base, exp.Select) and isinstance(receipts, exp.Select), "stock changed"
    base.where(ranges.between(exp.column("snapshot_date", table="inv")), copy=False)
    upto = exp.LTE(this=exp.column("receipt_date", table="gr"), expression=ranges.day("last"))
    receipts.where(upto, copy=False)
    return stock


def between_any(column: str | exp.Expression, ranges: Ranges) -> exp.Expression:
    """`column` (a name or an expression) within one of the ranges (merged where they
    touch)."""
    value = exp.column(column) if isinstance(column, str) else column
    merged: list[list[date]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + timedelta(days=1):
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    conds = [
        exp.Between(this=value.copy(), low=_date_literal(lo), high=_date_literal(hi))
        for lo, hi in merged
    ]
    return exp.or_(*conds) if len(conds) > 1 else conds[0]


def _invoices_read(settings: Settings, grain: str, reach: str, ranges: Bounds) -> exp.Select:
    """The invoice lines whose spend_base rows `reach` (RANGE_READS) says the ranges need."""
    table = identifiers.table("invoices")
    if reach == "po_history":
        # invoice_match reads no rank: the ranges, and every earlier line of an order
        # invoiced in them (the quantity invoiced to date); two scans of the invoices, each
        # filtered where it is read (one condition with an OR is applied only after joins)
        in_ranges = ranges.between("invoice_date")
        orders = exp.select("po_id").from_(table.copy()).where(in_ranges.copy())
        read = exp.select("*").from_(table.copy()).where(in_ranges.copy())
        earlier = exp.select("*").from_(table.copy())
        earlier = earlier.where(
            exp.and_(
                exp.LT(this=exp.column("invoice_date"), expression=ranges.day("last")),
                exp.Not(this=exp.Paren(this=in_ranges.copy())),
                exp.In(this=exp.column("po_id"), query=orders.subquery()),
            )
        )
        return exp.select("*").from_(exp.union(read, earlier, distinct=False).subquery("r"))
    if reach == "prior_year":
        # spend_yoy reads no rank: the ranges, and the lines a year before them (moved on a
        # year into them)
        keep = ranges.between("invoice_date", "", "prior")
    elif reach == "paid":
        keep = ranges.between("paid_date")
    else:
        # ranks are within the period of the grain read: whole periods
        keep = ranges.between("invoice_date", grain)
    return exp.select("*").from_(table).where(keep)


def _read_instead(body: exp.Expression, read: exp.Select) -> None:
    """In a CTE's body, the invoices read instead of the whole table."""
    for t in list(body.find_all(exp.Table)):
        if t.name == "invoices":
            t.replace(read.subquery(t.alias or "invoices"))


def _orders_named(po_head: exp.Expression, read: exp.Select) -> None:
    """spend_base's orders: those the lines read name only."""
    assert isinstance(po_head, exp.Select), "spend_base changed"
    named = exp.select("po_id").from_(read.subquery("n"))
    po_head.where(exp.In(this=exp.column("po_id"), query=named.subquery()), copy=False)


def _orders_due_in(ranges: Bounds) -> exp.Expression:
    """budget_vs_actual's orders whose committed or accrued spend may fall in the ranges'
    months: a line due in them (promised, else ordered) or a receipt in them (the last one
    of a line is). An order's lines are kept together: its invoices fill them in order."""
    due_day = exp.func("coalesce", exp.column("promised_date"), exp.column("po_date"))
    due = exp.select("po_id").from_(identifiers.table("purchase_orders"))
    due = due.where(ranges.between(_month_of(due_day)))
    received = exp.select("po_id").from_(identifiers.table("goods_receipts"))
    received = received.where(ranges.between(_month_of(exp.column("receipt_date"))))
    return exp.or_(
        exp.In(this=exp.column("po_id"), query=due.subquery()),
        exp.In(this=exp.column("po_id"), query=received.subquery()),
    )


def _month_of(day: exp.Expression) -> exp.Expression:
    """The first day of the month of a date, as the views' month_start is."""
    return exp.Cast(
        this=exp.func("date_trunc", exp.Literal.string("month"), day),
        to=exp.DataType.build("DATE"),
    )


def _year_before(day: date) -> date:
    """The same day a year earlier; 29 February's is the 28th."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return date(day.year - 1, 2, 28)


def _date_literal(day: date) -> exp.Expression:
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"))


# Views and the helper relations under them are names of the store's own making.
identifiers.register(["fx_factor", "spend_base", *_VIEWS])

_FISCAL_YEAR = "(year(__d__ - INTERVAL (__shift__) MONTH) + __offset__)"

# A key of the period holding a date at each grain (the fiscal year; the fiscal year and
# quarter; the calendar month), the twin of kpi.core.periods' labels: rows of one period
# share one key. The temporary views rank within the fiscal year.
_PERIOD_KEY = {
    "year": _FISCAL_YEAR,
    "quarter": "((year(__d__ - INTERVAL (__shift__) MONTH) + __offset__) * 10"
    " + quarter(__d__ - INTERVAL (__shift__) MONTH))",
    "month": "(year(__d__) * 100 + month(__d__))",
}
DEFAULT_GRAIN = "year"
# The views whose rows depend on the reported period (see the module's docstring).
GRAIN_VIEWS = ("spend_base", "inventory_position")

_CREATE_VIEW = "CREATE OR REPLACE TEMPORARY VIEW __view__ AS SELECT 1"


def fiscal_year(column: exp.Expression, cal: FiscalCalendar) -> exp.Expression:
    """The fiscal-year number of a date column (the twin of kpi.core.periods' rule)."""
    return period_key(column, "year", cal)


def period_key(column: exp.Expression, grain: str, cal: FiscalCalendar) -> exp.Expression:
    """A number naming the period (month, fiscal quarter or fiscal year) holding a date."""
    if grain not in _PERIOD_KEY:
        raise ValueError(f"unknown grain '{grain}'")
    return fill(
        _PERIOD_KEY[grain],
        d=column,
        shift=literal(cal.year_start_month - 1),
        offset=literal(cal.year_offset),
    )


def _budget_rates(settings: Settings) -> exp.Expression:
    """The `budget_rates` setting as a VALUES table (fiscal_year, currency, rate); with none
    set, one row of NULLs that the view leaves out (VALUES cannot be empty)."""
    rows = [
        (literal(year), literal(currency), exp.Literal.number(str(rate)))
        for year, currency, rate in settings.budget_rates
    ] or [(exp.null(), exp.null(), exp.null())]
    return exp.values(rows, alias="budget_rates", columns=["fiscal_year", "currency", "rate"])


def exempt_categories(names: tuple[str, ...]) -> exp.Expression:
    """The PO-exempt categories as a typed list literal (an empty list stays VARCHAR[])."""
    values = exp.Array(expressions=[literal(name) for name in names])
    return exp.Cast(this=values, to=exp.DataType.build("VARCHAR[]", dialect="duckdb"))


def _display(settings: Settings, display_currency: str | None) -> str | None:
    """The display currency as the caches below key it: None for the reporting currency
    (asked for by name or as None, it is the same views) so that both hit one entry."""
    if display_currency is None or display_currency.upper() == settings.reporting_currency:
        return None
    return display_currency.upper()


def view_bodies(
    settings: Settings, display_currency: str | None = None, grain: str = DEFAULT_GRAIN
) -> dict[str, exp.Expression]:
    """The SELECT of every view as a sqlglot tree (fx_factor and spend_base first), settings
    filled in, supplier ranks and location snapshot counts within the periods of `grain`.
    The trees are shared: copy one before changing it. Built once per settings, currency
    and grain (filling the templates costs about half a second)."""
    return _view_bodies(settings, _display(settings, display_currency), grain)


@lru_cache(maxsize=16)
def _view_bodies(
    settings: Settings, display_currency: str | None, grain: str
) -> dict[str, exp.Expression]:
    base = settings.reporting_currency
    display = (display_currency or base).upper()
    if display not in CURRENCIES or base not in CURRENCIES:
        raise ValueError(f"unknown currency '{display}'")
    values = {
        "display": literal(display),
        "base": literal(base),
        "obsolete_days": literal(settings.obsolete_after_days),
        "fy_shift": literal(settings.fiscal.year_start_month - 1),
        "fy_offset": literal(settings.fiscal.year_offset),
        "budget_rates": _budget_rates(settings),
        "po_exempt": exempt_categories(settings.po_exempt_categories),
        "savings_window": literal(settings.savings_window_months),
        "invoice_period": period_key(exp.column("invoice_date", table="i"), grain, settings.fiscal),
        "snapshot_period": period_key(exp.column("snapshot_date"), grain, settings.fiscal),
    }
    bodies = {"fx_factor": S.FX, "spend_base": S.SPEND_BASE, **_VIEWS}
    return {name: fill(body, **values) for name, body in bodies.items()}


def _create_statements(settings: Settings, display_currency: str | None) -> tuple[str, ...]:
    """The CREATE VIEW statements, rendered once per settings and currency (every read
    connection runs them, and rendering a tree costs more than DuckDB needs to run them)."""
    return _created(settings, _display(settings, display_currency))


@lru_cache(maxsize=16)
def _created(settings: Settings, display_currency: str | None) -> tuple[str, ...]:
    return tuple(create for _name, create in _planned(settings, display_currency)[0])


def _statements_made(settings: Settings, display_currency: str | None) -> list[list[str]]:
    """[name, CREATE VIEW statement] of every view, in creation order, from the filled trees."""
    statements = []
    for name, body in view_bodies(settings, display_currency).items():
        create = parsed(_CREATE_VIEW).copy()
        create.set("this", identifiers.table(name))
        create.set("expression", body.copy())
        statements.append([name, render(create)])
    return statements


# Canonical tables added after stores were first built: a store file written before them
# (the next load adds them) reads them as empty, so its views keep working meanwhile.
ADDED_TABLES = ("supplier_terms", "cost_centres")

# the store's tables; on a lake (kpi.store.lake) a table with files is a view over them
_PRESENT_TABLES = (
    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
    "UNION ALL SELECT view_name FROM duckdb_views() "
    "WHERE database_name = current_database() AND NOT internal AND NOT temporary"
)


@lru_cache(maxsize=len(ADDED_TABLES))
def _empty_temp_table(name: str) -> str:
    """CREATE TEMPORARY TABLE for an added canonical table, with its columns and types."""
    create = parsed(create_table_sql(TABLES[name])).copy()
    properties = create.args.get("properties") or exp.Properties(expressions=[])
    properties.append("expressions", exp.TemporaryProperty())
    create.set("properties", properties)
    return render(create)


def create_views(
    con: duckdb.DuckDBPyConnection, settings: Settings, display_currency: str | None = None
) -> None:
    """Create the curated views on this connection, in `display_currency` (default: reporting)."""
    _add_missing_tables(con)
    for statement in _create_statements(settings, display_currency):
        con.execute(statement)


@lru_cache(maxsize=1)
def _empty_stock_marks() -> str:
    """CREATE TEMPORARY TABLE stock_mark_changes: a store written before procurement's stock
    marks (its next write adds the table) reads as holding none."""
    create = parsed(STOCK_MARKS_DDL).copy()
    create.set("properties", exp.Properties(expressions=[exp.TemporaryProperty()]))
    return render(create)


def _add_missing_tables(con: duckdb.DuckDBPyConnection) -> None:
    present = {r[0] for r in con.execute(_PRESENT_TABLES).fetchall()}
    for name in ADDED_TABLES:
        if name not in present:
            con.execute(_empty_temp_table(name))
    if "stock_mark_changes" not in present:
        con.execute(_empty_stock_marks())
    database = con.execute(_CURRENT_DATABASE).fetchall()[0][0]
    with_lineage = {r[0] for r in con.execute(_TABLES_WITH_LINEAGE).fetchall()}
    for name in TABLES:
        if name in present and name not in with_lineage:
            con.execute(_lineage_stand_in(name, database))


# A store written before the lineage columns (its next write adds them) is read through a
# temporary view of each table with null lineage, so that the views keep working meanwhile.
_CURRENT_DATABASE = "SELECT current_database()"
_TABLES_WITH_LINEAGE = (
    "SELECT table_name FROM duckdb_columns() "
    "WHERE database_name = current_database() AND column_name = 'source_row'"
)


def _lineage_stand_in(name: str, database: str) -> str:
    """CREATE TEMPORARY VIEW <table> AS SELECT *, NULL lineage FROM <database>.main.<table>:
    a temporary view is found before the store's table of the same name."""
    nulls = [
        exp.alias_(exp.cast(exp.null(), exp.DataType.build(c.sql_type, dialect="duckdb")), c.name)
        for c in LINEAGE_COLUMNS
    ]
    stored = exp.Table(
        this=identifiers.ident(name),
        db=exp.to_identifier("main"),
        catalog=exp.to_identifier(database, quoted=True),
    )
    create = parsed(_CREATE_VIEW).copy()
    create.set("this", identifiers.table(name))
    create.set("expression", exp.select(exp.Star(), *nulls).from_(stored))
    return render(create)


# A curated view's name as a whole word of a statement (a quoted name matches too).
_VIEW_NAME = re.compile(
    r"\b(" + "|".join(["fx_factor", "spend_base", *_VIEWS]) + r")\b", re.IGNORECASE
)


def _view_plan(
    settings: Settings, display_currency: str | None
) -> tuple[tuple[tuple[str, str], ...], dict[str, frozenset[str]]]:
    """The CREATE statements in creation order, and per view every view it reads (itself
    included, directly or through another view): what creating it takes first. Built once
    per settings and currency: every read connection asks for it."""
    return _planned(settings, _display(settings, display_currency))


@lru_cache(maxsize=16)
def _planned(
    settings: Settings, display_currency: str | None
) -> tuple[tuple[tuple[str, str], ...], dict[str, frozenset[str]]]:
    # the plan depends on the code and the settings only: kept on disk, so that a fresh
    # process's first read skips filling the templates (half a second) and rendering them
    plan = catalog_cache.remembered(
        "view-plan",
        [repr(settings), str(display_currency)],
        lambda: _plan_made(settings, display_currency),
        _is_plan,
    )
    statements = tuple((name, create) for name, create in plan["statements"])
    closure = {name: frozenset(reads) for name, reads in plan["closure"].items()}
    return statements, closure


def _plan_made(settings: Settings, display_currency: str | None) -> dict[str, Any]:
    """The plan as JSON: [name, statement] pairs and each view's closure of views read."""
    bodies = view_bodies(settings, display_currency)
    reads = {
        name: {t.name for t in body.find_all(exp.Table)} & set(bodies)
        for name, body in bodies.items()
    }
    closure: dict[str, frozenset[str]] = {}
    for name in bodies:  # bodies are in dependency order: a view reads only earlier ones
        closure[name] = frozenset({name}).union(*(closure[r] for r in reads[name] if r != name))
    return {
        "statements": _statements_made(settings, display_currency),
        "closure": {name: sorted(names) for name, names in closure.items()},
    }


def _is_plan(value: object) -> bool:
    """A plan read back from disk names every view once, each with its statement, and a
    closure of known views for each."""
    if not isinstance(value, dict):
        return False
    statements, closure = value.get("statements"), value.get("closure")
    names = ["fx_factor", "spend_base", *_VIEWS]
    return (
        isinstance(statements, list)
        and [s[0] if isinstance(s, list) and len(s) == 2 else None for s in statements] == names
        and all(isinstance(s[1], str) and s[1].startswith("CREATE") for s in statements)
        and isinstance(closure, dict)
        and set(closure) == set(names)
        and all(isinstance(c, list) and set(c) <= set(names) for c in closure.values())
    )


def views_read(settings: Settings, display_currency: str | None, view: str) -> list[str]:
    """Every view `view` reads, directly or through another, itself included, in creation
    order (fx_factor and spend_base first): the CTEs that restate it."""
    statements, closures = _view_plan(settings, display_currency)
    # the plan's order is the bodies' (without filling them: the plan is kept on disk)
    return [name for name, _create in statements if name in closures[view]]


def view_names() -> tuple[str, ...]:
    """Every view a body is made for, in creation order (fx_factor and spend_base first)."""
    return ("fx_factor", "spend_base", *_VIEWS)


@lru_cache(maxsize=512)
def _named_views(statement: str) -> frozenset[str]:
    return frozenset(m.lower() for m in _VIEW_NAME.findall(statement))


class CuratedConnection:
    """A read connection whose curated views are created the first time a statement names
    them (with the views they read), then kept for the connection's life.

    Why: binding all eleven view bodies costs about 75 ms a connection, and most reads (a
    KPI, a ledger, a load log) need one view or none. Statements pass through unchanged;
    anything but `execute` and `sql` goes to the DuckDB connection as it is.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, settings: Settings, display_currency: str | None
    ):
        self._con = con
        self._statements, self._closure = _view_plan(settings, display_currency)
        self._made: set[str] = set()
        _add_missing_tables(con)

    def _prepare(self, statement: object) -> None:
        wanted = _named_views(statement) if isinstance(statement, str) else frozenset(self._closure)
        if wanted <= self._made:
            return
        needed = frozenset().union(*(self._closure[name] for name in wanted))
        for name, create in self._statements:
            if name in needed and name not in self._made:
                self._con.execute(create)
                self._made.add(name)

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        self._prepare(statement)
        return self._con.execute(statement, *args, **kwargs)

    def sql(self, statement: Any, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyRelation:
        self._prepare(statement)
        return self._con.sql(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@lru_cache(maxsize=4)
def view_catalog(settings: Settings) -> dict[str, dict[str, str]]:
    """Every curated view with its columns and their SQL types, read off an empty store.

    The answer depends on the code and the settings only, never on data: it is kept on
    disk (kpi.store.catalog_cache), so only the first process after a change of either
    pays the second it takes to create the views in an empty store."""
    out = catalog_cache.remembered(
        "view-catalog", [repr(settings)], lambda: _catalog_read(settings), _is_catalog
    )
    identifiers.register(column for columns in out.values() for column in columns)
    return out


def _is_catalog(value: object) -> bool:
    """A catalogue read back from disk has every view, each a mapping of names to types."""
    return (
        isinstance(value, dict)
        and set(value) == set(_VIEWS)
        and all(
            isinstance(columns, dict)
            and columns
            and all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items())
            for columns in value.values()
        )
    )


def _catalog_read(settings: Settings) -> dict[str, dict[str, str]]:
    """The catalogue as DuckDB describes the views created in an empty in-memory store."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings)
        out: dict[str, dict[str, str]] = {}
        for view in _VIEWS:
            rows = con.execute(render(exp.Describe(this=identifiers.table(view)))).fetchall()
            out[view] = {r[0]: r[1] for r in rows}
        return out
    finally:
        con.close()
