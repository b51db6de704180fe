"""Spend & budgets: where the money went (category → supplier → item), against the budget.

Finance sets the limits, procurement spends within them: this module puts both halves in
frames for one page. Spend is drilled down category → supplier → item and split by cost
centre, with a monthly trend and a Pareto of suppliers; budgets are set against committed
spend (open purchase orders not yet invoiced) and actual spend (invoiced) with a burn
rate and a run-rate forecast to the fiscal year end; approvals and compliance show how the
money was spent: approval time, orders waiting, invoices with no PO (maverick spend), POs
raised after the invoice (after the fact), spend with preferred and contracted suppliers
and what buying off contract cost. The SQL is in kpi/sql_spend.py; amounts are exact
DECIMALs in the display currency (the reporting currency unless `currency` is given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import plotly.graph_objects as go
import polars as pl

from kpi import charts, periods
from kpi import sql_spend as q
from kpi.sql import fetch_frame
from kpi.store import Store

Filters = Mapping[str, Sequence[str] | str]

# what a spend query can be narrowed by: the sidebar's filters and the drill-down's picks
SPEND_FILTERS = ("category", "cost_centre", "supplier", "item_id")
BUDGET_FILTERS = ("category", "cost_centre")


def filter_params(filters: Filters | None, allowed: Sequence[str] = SPEND_FILTERS) -> dict:
    """One list parameter per allowed filter (None: not filtered); unknown keys are refused."""
    filters = filters or {}
    unknown = sorted(set(filters) - set(allowed))
    if unknown:
        raise ValueError(
            f"cannot filter on {', '.join(unknown)}; filters here: {', '.join(allowed)}"
        )
    out: dict[str, object] = {}
    for key in allowed:
        value = filters.get(key)
        values = [value] if isinstance(value, str) else list(value or [])
        out[key] = [str(v) for v in values] or None
    return out


def _run(store: Store, query: str, params: dict, currency: str | None = None) -> pl.DataFrame:
    # a statement binds only the parameters it names (its text is one of our constants)
    used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", query)}
    with store.read(display_currency=currency) as con:
        return fetch_frame(con, query, used)


def _spend(
    store: Store, query: str, start: date, end: date, filters: Filters | None, currency: str | None
) -> pl.DataFrame:
    if end < start:
        raise periods.PeriodError(f"the period ends ({end}) before it starts ({start})")
    params = filter_params(filters) | {"start": start, "end": end}
    return _run(store, query, params, currency)


# ---- spend --------------------------------------------------------------------------------


def spend_tree(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Spend per category, supplier and item (largest first): the drill-down's leaves.

    Columns: category, supplier, item_id, item (description), amount, quantity, lines.
    Summing `amount` gives total_spend for the same period and filters, to the cent.
    """
    return _spend(store, q.SPEND_TREE, start, end, filters, currency)


def drill_level(tree: pl.DataFrame, category: str | None, supplier: str | None) -> pl.DataFrame:
    """The rows one drill-down step shows: categories, a category's suppliers, or a
    supplier's items in that category. Columns: the level's name column, amount, share."""
    if category is None:
        level, rows = "category", tree
    elif supplier is None:
        level, rows = "supplier", tree.filter(pl.col("category") == category)
    else:
        level = "item"
        rows = tree.filter((pl.col("category") == category) & (pl.col("supplier") == supplier))
    keys = ["item_id", "item"] if level == "item" else [level]
    out = rows.group_by(keys).agg(pl.col("amount").sum(), pl.col("lines").sum())
    total = out["amount"].sum() if out.height else None
    share = pl.col("amount").cast(pl.Float64) / (float(total) if total else None)
    return out.with_columns(share.alias("share")).sort(
        ["amount", *keys], descending=[True] + [False] * len(keys)
    )


def spend_by_cost_centre(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Spend per cost centre and category. Columns: cost_centre, category, amount."""
    return _spend(store, q.SPEND_BY_COST_CENTRE, start, end, filters, currency)


def spend_monthly(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Spend per month (YYYY-MM): amount, no_po_amount, on_contract_amount."""
    return _spend(store, q.SPEND_MONTHLY, start, end, filters, currency)


def supplier_pareto(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Suppliers by spend, largest first, with their share and the cumulative share.

    Columns: rank, supplier_id, supplier, amount, share, cumulative_share, in_top_80 (the
    suppliers that together make up the first 80 % of spend, the one crossing it included).
    """
    frame = _spend(store, q.SUPPLIER_PARETO, start, end, filters, currency)
    before = pl.col("cumulative_share") - pl.col("share")
    return frame.with_columns((before < 0.8 - 1e-12).alias("in_top_80"))


# ---- budgets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetYear:
    """The fiscal year a budget review covers and how much of it has data."""

    label: str  # FY2026
    start: date
    end: date
    as_of: date | None  # the latest invoice date in the store
    months: int  # months in the fiscal year (12)
    elapsed: int  # months of the year up to the month of `as_of` (0..months)


def budget_year(store: Store, fiscal_year: str) -> BudgetYear:
    """A fiscal year (FY2026) and how many of its months have data, for the run rate."""
    cal = store.settings.fiscal
    if periods.grain_of(fiscal_year.strip()) != "year":
        raise periods.PeriodError(f"'{fiscal_year}' is not a fiscal year (use FY2026)")
    start, end = periods.period_range(fiscal_year, cal)
    with store.read() as con:
        as_of = con.execute(q.LAST_INVOICE_DATE).fetchone()[0]
    months = len(periods.periods_between(start, end, "month", cal))
    if as_of is None or as_of < start:
        elapsed = 0
    else:
        elapsed = len(periods.periods_between(start, min(as_of, end), "month", cal))
    return BudgetYear(fiscal_year.strip(), start, end, as_of, months, elapsed)


def _budget_params(year: BudgetYear, filters: Filters | None, tolerance: float = 0.0) -> dict:
    last = year.start if year.elapsed == 0 else year.as_of
    as_of_month = date(last.year, last.month, 1) if year.elapsed else date(1, 1, 1)
    return filter_params(filters, BUDGET_FILTERS) | {
        "fy_start": year.start,
        "fy_end": year.end,
        "as_of_month": as_of_month,
        "elapsed": year.elapsed,
        "months": year.months,
        "tolerance": tolerance,
    }


def budget_status(
    store: Store,
    year: BudgetYear,
    by: str = "cost_centre",
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Budget vs committed vs actual for one fiscal year, per cost centre or category.

    Columns: <by>, budget_year, budget_to_date (months up to the latest invoice's),
    actual (invoiced), committed (open POs not yet invoiced), no_po_actual,
    actual_and_committed, used_to_date (actual / budget to date), committed_utilisation
    ((actual + committed) / budget of the year), burn_rate (actual per elapsed month),
    forecast_year_end (actual + burn rate x months left), forecast_over_budget and
    heading_over_budget (the forecast exceeds the year's budget by more than the settings'
    amber tolerance, 5 % by default, or actual + committed exceeds it at all).
    Those heading over budget come first.
    """
    if by not in q.BUDGET_STATUS:
        raise ValueError(f"budgets can be split by {', '.join(q.BUDGET_STATUS)}, not '{by}'")
    params = _budget_params(year, filters, store.settings.amber_tolerance)
    return _run(store, q.BUDGET_STATUS[by], params, currency)


def budget_monthly(
    store: Store, year: BudgetYear, filters: Filters | None = None, currency: str | None = None
) -> pl.DataFrame:
    """Per month of the year: budget, actual, committed, no_po_actual, and running totals
    (cum_budget, cum_actual) for a burn-down chart."""
    frame = _run(store, q.BUDGET_MONTHLY, _budget_params(year, filters), currency)
    return frame.with_columns(
        pl.col("budget").cum_sum().alias("cum_budget"),
        pl.col("actual").cum_sum().alias("cum_actual"),
    )


# ---- approvals and compliance ---------------------------------------------------------------


def compliance_lines(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Every compliance measure per month, cost centre and category (see sql_spend)."""
    return _spend(store, q.COMPLIANCE_LINES, start, end, filters, currency)


_COMPLIANCE_SUMS = (
    "spend",
    "no_po_amount",
    "no_po_invoices",
    "after_the_fact_amount",
    "after_the_fact_invoices",
    "preferred_amount",
    "on_contract_amount",
    "managed_amount",
    "off_contract_amount",
    "on_contract_price_variance",
    "off_contract_premium",
)


def compliance_by(lines: pl.DataFrame, by: str) -> pl.DataFrame:
    """compliance_lines summed by month, cost_centre or category, with shares of spend:
    maverick_rate (no PO), after_the_fact_rate, preferred_share, on_contract_share,
    managed_share (preferred or on contract: spend under management)."""
    if by not in ("month", "cost_centre", "category"):
        raise ValueError(f"compliance can be split by month, cost_centre or category, not '{by}'")
    out = lines.group_by(by).agg(pl.col(c).sum() for c in _COMPLIANCE_SUMS)
    spend = pl.col("spend").cast(pl.Float64)
    shares = {
        "maverick_rate": "no_po_amount",
        "after_the_fact_rate": "after_the_fact_amount",
        "preferred_share": "preferred_amount",
        "on_contract_share": "on_contract_amount",
        "managed_share": "managed_amount",
    }
    out = out.with_columns(
        (pl.col(c).cast(pl.Float64) / pl.when(spend != 0).then(spend)).alias(name)
        for name, c in shares.items()
    )
    return out.sort(by if by == "month" else ["spend", by], descending=by != "month")


def approvals(store: Store, start: date, end: date, filters: Filters | None = None) -> pl.DataFrame:
    """Purchase orders per month created and cost centre: orders, approved_lines,
    approval_days_total (mean = total / approved_lines, as po_cycle_time_days),
    waiting_orders and waiting_amount (not approved, not closed)."""
    params = filter_params(filters, BUDGET_FILTERS) | {"start": start, "end": end}
    return _run(store, q.APPROVAL_LINES, params)


def approvals_by(lines: pl.DataFrame, by: str) -> pl.DataFrame:
    """approvals() summed by month or cost_centre, with the mean approval days."""
    if by not in ("month", "cost_centre"):
        raise ValueError(f"approvals can be split by month or cost_centre, not '{by}'")
    cols = ("orders", "approved_lines", "approval_days_total", "waiting_orders", "waiting_amount")
    out = lines.group_by(by).agg(pl.col(c).sum() for c in cols)
    days = pl.col("approval_days_total").cast(pl.Float64)
    lines_ = pl.col("approved_lines").cast(pl.Float64)
    return out.with_columns(
        (days / pl.when(lines_ > 0).then(lines_)).alias("mean_approval_days")
    ).sort(by)


def approval_flow(approvals_by_: pl.DataFrame, compliance: pl.DataFrame, by: str) -> pl.DataFrame:
    """approvals_by() and compliance_by() for the same split side by side: how orders were
    approved, and how much was bought without one (no PO, or a PO raised after the invoice)."""
    bypass = compliance.select(
        by,
        "spend",
        "no_po_invoices",
        "no_po_amount",
        "maverick_rate",
        "after_the_fact_invoices",
        "after_the_fact_amount",
        "after_the_fact_rate",
    )
    return approvals_by_.join(bypass, on=by, how="full", coalesce=True).sort(by)


def waiting_orders(
    store: Store, start: date, end: date, today: date, filters: Filters | None = None
) -> pl.DataFrame:
    """Orders not approved yet (and not closed), longest waiting first: po_id, po_date,
    supplier, cost_centre, amount, days_waiting (to `today`)."""
    params = filter_params(filters, BUDGET_FILTERS) | {"start": start, "end": end, "today": today}
    return _run(store, q.WAITING_ORDERS, params)


# ---- charts (plotly, Okabe–Ito colours from kpi.charts) --------------------------------------


def _f(values: Sequence) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


NODE_SEP = " › "


def _id_hover(currency: str) -> str:
    """A box's hover: its path (the id) and its amount in the currency."""
    return "%{id}<br>%{value:,.2f} " + charts.plot_text(currency) + "<extra></extra>"


def treemap_nodes(tree: pl.DataFrame) -> dict[str, tuple[str, str | None, str | None]]:
    """Each box id of spend_treemap → (category, supplier, item_id), None below its level:
    what a click on the box means for the drill-down. The figure's ids are escaped
    (charts.safe_figure), so the keys are escaped the same way."""
    nodes: dict[str, tuple[str, str | None, str | None]] = {}
    key = charts.plot_text
    for c, s, i in tree.select("category", "supplier", "item_id").iter_rows():
        nodes[key(f"{c}")] = (c, None, None)
        nodes[key(f"{c}{NODE_SEP}{s}")] = (c, s, None)
        nodes[key(f"{c}{NODE_SEP}{s}{NODE_SEP}{i}")] = (c, s, i)
    return nodes


def spend_treemap(tree: pl.DataFrame, currency: str, title: str) -> go.Figure:
    """Category → supplier → item as nested rectangles (ids: see treemap_nodes)."""
    sep = NODE_SEP
    cat = tree.group_by("category").agg(pl.col("amount").sum())
    sup = tree.group_by("category", "supplier").agg(pl.col("amount").sum())
    ids = cat["category"].to_list()
    labels, parents = list(ids), [""] * cat.height
    values = _f(cat["amount"])
    ids += [f"{c}{sep}{s}" for c, s in sup.select("category", "supplier").iter_rows()]
    labels += sup["supplier"].to_list()
    parents += sup["category"].to_list()
    values += _f(sup["amount"])
    ids += [
        f"{c}{sep}{s}{sep}{i}"
        for c, s, i in tree.select("category", "supplier", "item_id").iter_rows()
    ]
    labels += tree["item"].to_list()
    parents += [f"{c}{sep}{s}" for c, s in tree.select("category", "supplier").iter_rows()]
    values += _f(tree["amount"])
    colours = [
        charts.PALETTE[k]
        for k in ("blue", "orange", "sky", "green", "purple", "vermillion", "yellow", "grey")
    ]
    fig = go.Figure(
        go.Treemap(
            ids=ids,
            labels=labels,
            parents=parents,
            values=values,
            branchvalues="total",
            maxdepth=3,
            texttemplate="%{label}<br>%{value:,.0f}<br>%{percentRoot:.1%}",
            hovertemplate=_id_hover(currency),
        )
    )
    fig.update_layout(treemapcolorway=colours)
    fig = charts._layout(fig, title, height=480)
    fig.update_layout(margin={"l": 5, "r": 5, "t": 45, "b": 5})
    return fig


def spend_trend_chart(monthly: pl.DataFrame, currency: str) -> go.Figure:
    """Monthly spend split into spend with a PO and without one (maverick)."""
    x = monthly["month"].to_list()
    with_po = _f((monthly["amount"] - monthly["no_po_amount"]).to_list())
    fig = go.Figure()
    fig.add_bar(x=x, y=with_po, name="With PO", marker_color=charts.PALETTE["blue"])
    fig.add_bar(
        x=x,
        y=_f(monthly["no_po_amount"]),
        name="No PO (maverick)",
        marker_color=charts.PALETTE["orange"],
    )
    fig.update_layout(barmode="stack")
    return charts._layout(fig, "Spend per month", charts._money_axis(currency))


def pareto_chart(pareto: pl.DataFrame, currency: str, top: int = 30) -> go.Figure:
    """The largest suppliers' spend (bars) and the cumulative share of spend (line, right)."""
    rows = pareto.head(top)
    x = rows["supplier"].to_list()
    fig = go.Figure()
    fig.add_bar(x=x, y=_f(rows["amount"]), name="Spend", marker_color=charts.PALETTE["blue"])
    fig.add_scatter(
        x=x,
        y=[v * 100 for v in rows["cumulative_share"].to_list()],
        name="Cumulative share (%)",
        yaxis="y2",
        mode="lines+markers",
        line={"color": charts.PALETTE["vermillion"]},
    )
    fig.update_layout(
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 105], "title": "%"},
    )
    fig = charts._layout(
        fig,
        f"Pareto of suppliers (top {min(top, pareto.height)})",
        charts._money_axis(currency),
        380,
    )
    fig.update_xaxes(tickangle=-40)
    return fig


def burn_chart(
    monthly: pl.DataFrame, year: BudgetYear, status_total: dict, currency: str
) -> go.Figure:
    """Cumulative budget against cumulative actual, committed on top, and the run rate."""
    x = monthly["month"].to_list()
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=_f(monthly["cum_budget"]),
        name="Budget (cumulative)",
        mode="lines",
        line={"color": "#222", "dash": "dash", "width": 2},
    )
    shown = min(year.elapsed, len(x))
    actual = _f(monthly["cum_actual"])[:shown]
    fig.add_scatter(
        x=x[:shown],
        y=actual,
        name="Actual (cumulative)",
        mode="lines+markers",
        line={"color": charts.PALETTE["blue"], "width": 3},
    )
    if shown and status_total.get("committed") is not None:
        fig.add_scatter(
            x=[x[shown - 1]],
            y=[actual[-1] + float(status_total["committed"])],
            name="Actual + committed",
            mode="markers",
            marker={"symbol": "diamond", "size": 12, "color": charts.PALETTE["orange"]},
        )
    if shown and status_total.get("forecast_year_end") is not None:
        fig.add_scatter(
            x=[x[shown - 1], x[-1]],
            y=[actual[-1], float(status_total["forecast_year_end"])],
            name="Run-rate forecast",
            mode="lines+markers",
            line={"color": charts.PALETTE["vermillion"], "dash": "dot", "width": 2},
        )
    return charts._layout(fig, f"{year.label}: budget burn", charts._money_axis(currency))


def status_chart(status: pl.DataFrame, by: str, currency: str, top: int = 15) -> go.Figure:
    """Per cost centre (or category): budget of the year, actual, committed and forecast."""
    rows = status.sort("budget_year", descending=True).head(top)
    x = [
        f"⚠ {v}" if flag else str(v)
        for v, flag in rows.select(by, "heading_over_budget").iter_rows()
    ]
    fig = go.Figure()
    fig.add_bar(x=x, y=_f(rows["actual"]), name="Actual", marker_color=charts.PALETTE["blue"])
    fig.add_bar(
        x=x,
        y=_f(rows["committed"]),
        name="Committed (open POs)",
        marker_color=charts.PALETTE["sky"],
    )
    fig.add_scatter(
        x=x,
        y=_f(rows["budget_year"]),
        name="Budget (year)",
        mode="markers",
        marker={"symbol": "line-ew-open", "size": 26, "color": "#222", "line": {"width": 3}},
    )
    fig.add_scatter(
        x=x,
        y=_f(rows["forecast_year_end"]),
        name="Run-rate forecast",
        mode="markers",
        marker={"symbol": "diamond-open", "size": 11, "color": charts.PALETTE["vermillion"]},
    )
    fig.update_layout(barmode="stack")
    label = by.replace("_", " ")
    return charts._layout(
        fig,
        f"Budget vs committed vs actual by {label} (⚠ heading over)",
        charts._money_axis(currency),
        400,
    )


def trend_lines(
    frame: pl.DataFrame, columns: dict[str, str], title: str, y_title: str, percent: bool = False
) -> go.Figure:
    """A few monthly series as lines (percent series are shown × 100)."""
    colours = [charts.PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "purple")]
    fig = go.Figure()
    for colour, (col, name) in zip(colours, columns.items(), strict=False):
        ys = _f(frame[col])
        if percent:
            ys = [None if v is None else v * 100 for v in ys]
        fig.add_scatter(
            x=frame["month"].to_list(),
            y=ys,
            name=name,
            mode="lines+markers",
            line={"color": colour, "width": 2},
        )
    return charts._layout(fig, title, y_title)


# ---- KPI tiles --------------------------------------------------------------------------------

SPEND_KPIS = (
    "total_spend",
    "committed_budget_utilisation",
    "maverick_spend_rate",
    "spend_under_management",
    "po_cycle_time_days",
)


def cost_centre_sunburst(by_cc: pl.DataFrame, currency: str) -> go.Figure:
    """Spend by cost centre (inner ring) and its categories (outer ring)."""
    centres = by_cc.group_by("cost_centre").agg(pl.col("amount").sum())
    ids = centres["cost_centre"].to_list()
    labels, parents, values = list(ids), [""] * centres.height, _f(centres["amount"])
    pairs = by_cc.select("cost_centre", "category").iter_rows()
    ids += [NODE_SEP.join(p) for p in pairs]
    labels += by_cc["category"].to_list()
    parents += by_cc["cost_centre"].to_list()
    values += _f(by_cc["amount"])
    fig = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=labels,
            parents=parents,
            values=values,
            branchvalues="total",
            hovertemplate=_id_hover(currency),
        )
    )
    colours = [
        charts.PALETTE[k] for k in ("blue", "orange", "sky", "green", "purple", "vermillion")
    ]
    fig.update_layout(sunburstcolorway=colours)
    return charts._layout(fig, "Spend by cost centre and category", height=420)
