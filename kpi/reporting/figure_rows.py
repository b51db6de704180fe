"""Which KPI, period and filters stand behind a page's main figure: a spend box or table
row, a budget line, a supplier's scorecard row, an initiative's realised savings, a terms
segment, an inventory class.

The pages hand what a person picked (a row, a box) to these functions and pass the answer
to the "rows behind this figure" dialog, which explains the KPI for that period and those
filter texts (kpi.semantic.explain). Each function mirrors how the page computes the
figure, so the rows the dialog lists add up to the number on the page: the same period
(the sidebar's range, a fiscal year, a snapshot's month) and the same slice (the sidebar's
filters the figure honours, plus the row's own value). Filter texts are built by
kpi.semantic.where_text (sqlglot literals), never by pasting a value into text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlglot import exp

from kpi.analyses.spend import BudgetYear
from kpi.core import periods
from kpi.core.scope import Scope
from kpi.core.settings import FiscalCalendar
from kpi.semantic.engine import range_label
from kpi.semantic.where_text import filter_text

# the placeholders the pages show for a missing value: the row stands for the view's NULLs
MISSING = {
    "category": "(no category)",
    "cost_centre": "(no cost centre)",
    "item_id": "(no item)",
}

# the inventory classes a KPI defines (cycle stock has none: it is the rest of the stock)
INVENTORY_CLASS_KPIS = {
    "safety": "safety_stock_value",
    "excess": "excess_inventory_value",
    "obsolete": "obsolete_stock_value",
}

# the scorecard's figures a KPI defines: {scorecard column: KPI id}; spend is total_spend
SUPPLIER_ROW_KPIS = {
    "spend": "total_spend",
    "on_time_delivery": "supplier_otd",
    "price_variance": "purchase_price_variance",
    "we_paid_on_time": "on_time_payment_rate",
    "avg_days_to_pay": "days_to_pay",
}

BUDGET_TO_DATE_KPI = "budget_utilisation"
BUDGET_YEAR_KPI = "committed_budget_utilisation"
REALISED_KPI = "savings_realised"
SPEND_KPI = "total_spend"
TERMS_SEGMENT_KPI = "days_to_pay"


@dataclass(frozen=True)
class FigureRows:
    """What the dialog needs to list the rows behind one figure."""

    kpi: str
    period: str  # a period label (FY2026-Q1, 2026-03) or a range (2025-01-01..2026-06-30)
    where: tuple[str, ...]


def scope_period(scope: Scope, cal: FiscalCalendar) -> str:
    """The period a page's range figure covers: the fiscal period's label when the range is
    exactly one (as kpi_columns computes it), else the engine's range label."""
    if scope.start is None or scope.end is None:
        raise ValueError("the figure has no period: choose a period range in the sidebar")
    for grain in ("year", "quarter", "month"):
        labels = periods.periods_between(scope.start, scope.end, grain, cal)
        if len(labels) == 1 and periods.period_range(labels[0], cal) == (scope.start, scope.end):
            return labels[0]
    return range_label(scope.start, scope.end)


def value_text(column: str, value: object) -> str:
    """One row's own value as a filter text; a page's placeholder for a missing value (and
    None) is the view's NULL, so `category IS NULL`."""
    if value is None or MISSING.get(column) == value:
        return exp.Is(this=exp.column(column), expression=exp.Null()).sql(dialect="duckdb")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return filter_text(column, [str(value)])


def slice_where(
    filters: Mapping[str, Sequence[str]], honoured: Sequence[str], **own: object
) -> tuple[str, ...]:
    """The sidebar's filters that the figure honours (others are not applied to it either),
    then the row's own values (`own`, column → value) as filter texts."""
    texts = [
        filter_text(column, list(values))
        for column, values in sorted(filters.items())
        if values and column in honoured and column not in own
    ]
    return tuple(texts) + tuple(value_text(c, v) for c, v in own.items())


# ---- Spend & budgets -------------------------------------------------------------------------

SPEND_SLICE = ("category", "cost_centre", "supplier", "item_id")


def spend_figure(scope: Scope, cal: FiscalCalendar, **picked: object) -> FigureRows:
    """A spend box or table row (drill-down level, cost centre, supplier): total_spend over
    the sidebar's range, its filters, the drill-down's picks and the row's own value
    (`picked`: category, supplier, supplier_id, item_id or cost_centre → value)."""
    where = slice_where(scope.as_dict(), SPEND_SLICE, **picked)
    return FigureRows(SPEND_KPI, scope_period(scope, cal), where)


def budget_figures(
    year: BudgetYear, by: str, value: object, scope: Scope, cal: FiscalCalendar
) -> list[FigureRows]:
    """A budget line (one cost centre or category): budget utilisation over the fiscal
    year's months up to the latest invoice's (the line's `used_to_date`), and committed
    utilisation over the whole fiscal year (its `committed_utilisation`)."""
    where = slice_where(scope.as_dict(), ("category", "cost_centre"), **{by: value})
    out = []
    if year.elapsed and year.as_of is not None:
        last = min(year.as_of, year.end)
        month_end = periods.period_range(f"{last.year:04d}-{last.month:02d}", cal)[1]
        out.append(FigureRows(BUDGET_TO_DATE_KPI, range_label(year.start, month_end), where))
    out.append(FigureRows(BUDGET_YEAR_KPI, year.label, where))
    return out


# ---- Suppliers --------------------------------------------------------------------------------


def supplier_figure(
    column: str, supplier_id: str, supplier: str, scope: Scope, cal: FiscalCalendar
) -> FigureRows:
    """One figure of a supplier's scorecard row. Spend is summed per supplier id; the KPI
    columns are the engine's split by supplier name, so their rows are that name's."""
    kpi = SUPPLIER_ROW_KPIS[column]
    own = {"supplier_id": supplier_id} if column == "spend" else {"supplier": supplier}
    where = slice_where(scope.as_dict(), ("category", "cost_centre"), **own)
    return FigureRows(kpi, scope_period(scope, cal), where)


# ---- Savings ---------------------------------------------------------------------------------

# savings_lines holds invoice lines and, without an invoice, each month's expected saving
INVOICED = exp.Not(this=exp.Is(this=exp.column("invoice_id"), expression=exp.Null())).sql(
    dialect="duckdb"
)


def initiative_figure(initiative_id: str, scope: Scope, cal: FiscalCalendar) -> FigureRows:
    """An initiative's realised savings over the sidebar's range: its invoice lines (as the
    page sums them; the view's rows of expected savings per month, with no invoice, add
    nothing and are left out), the sidebar's cost centres narrowing them (the category
    filter picks initiatives, not lines, on the page: the initiative's lines all count)."""
    where = slice_where(scope.as_dict(), ("cost_centre",), initiative_id=initiative_id)
    return FigureRows(REALISED_KPI, scope_period(scope, cal), (*where, INVOICED))


# ---- Payment terms ----------------------------------------------------------------------------


def terms_segment_figure(
    segment: str, value: object, scope: Scope, cal: FiscalCalendar
) -> FigureRows:
    """A supplier segment's days to pay (the table's KPI column) over the sidebar's range."""
    where = slice_where(scope.as_dict(), ("category", "cost_centre"), **{segment: value})
    return FigureRows(TERMS_SEGMENT_KPI, scope_period(scope, cal), where)


def terms_figure(kpi_id: str, scope: Scope, cal: FiscalCalendar) -> FigureRows:
    """A payment-terms box a KPI defines (share of SME amount paid late, paid early without
    discount) over the sidebar's range and its filters."""
    where = slice_where(scope.as_dict(), ("category", "cost_centre"))
    return FigureRows(kpi_id, scope_period(scope, cal), where)


# ---- Inventory --------------------------------------------------------------------------------


def inventory_class_figure(
    stock_class: str, snapshot: date, scope: Scope, cal: FiscalCalendar
) -> FigureRows:
    """An inventory class on the page's last snapshot: the class's KPI over the snapshot's
    month (the KPIs average each location over its snapshots in the period; with one
    snapshot per location and month, as the loads hold, the month is that snapshot)."""
    if stock_class not in INVENTORY_CLASS_KPIS:
        known = ", ".join(INVENTORY_CLASS_KPIS)
        raise ValueError(f"no KPI defines the {stock_class} stock; these do: {known}")
    month = periods.label(snapshot, "month", cal)
    where = slice_where(scope.as_dict(), ("category",))
    return FigureRows(INVENTORY_CLASS_KPIS[stock_class], month, where)
