"""Plotly figures of the Spend & budgets and Suppliers pages, built from the analyses' frames
(kpi.analyses.spend, kpi.analyses.suppliers); Okabe–Ito colours and one text escaper from
kpi.reporting.charts."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

from kpi.analyses.spend import BudgetYear
from kpi.analyses.suppliers import HHI_HIGH, HHI_MODERATE
from kpi.reporting import charts


def _f(values: Sequence) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


NODE_SEP = " › "
# a right-hand axis of percentages: its own round ticks (0, 20, ... 100 %), not ticks lined up
# with the left axis's grid (98.5, 78.8, ...)
PERCENT_AXIS = {
    "overlaying": "y",
    "side": "right",
    "range": [0, 105],
    "tickvals": [0, 20, 40, 60, 80, 100],
    "title": "%",
    "showgrid": False,
}


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
    fig.update_layout(yaxis2=PERCENT_AXIS)
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
        # accrued (received, not invoiced) and committed (not received) never overlap
        on_order = float(status_total["committed"]) + float(status_total.get("accrued") or 0)
        fig.add_scatter(
            x=[x[shown - 1]],
            y=[actual[-1] + on_order],
            name="Actual + accrued + committed",
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
    if "accrued" in rows.columns:
        fig.add_bar(
            x=x,
            y=_f(rows["accrued"]),
            name="Accrued (received, not invoiced)",
            marker_color=charts.PALETTE["green"],
        )
    fig.add_bar(
        x=x,
        y=_f(rows["committed"]),
        name="Committed (ordered, not received)",
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


# ---- suppliers ----


def concentration_chart(conc: pl.DataFrame) -> go.Figure:
    """Herfindahl index per category, coloured by level, with the two thresholds marked."""
    colour = {
        "high": charts.PALETTE["vermillion"],
        "moderate": charts.PALETTE["orange"],
        "low": charts.PALETTE["green"],
    }
    fig = go.Figure()
    for level in ("high", "moderate", "low"):
        rows = conc.filter(pl.col("level") == level)
        if rows.height:
            fig.add_bar(
                x=rows["category"].to_list(),
                y=rows["herfindahl"].to_list(),
                name=f"{level.capitalize()} concentration",
                marker_color=colour[level],
                customdata=rows.select("top_supplier", "top_supplier_share").rows(),
                hovertemplate="%{x}<br>HHI %{y:,.0f}<br>top: %{customdata[0]} "
                "(%{customdata[1]:.1%})<extra></extra>",
            )
    for y, text in ((HHI_HIGH, "high"), (HHI_MODERATE, "moderate")):
        fig.add_hline(y=y, line_dash="dot", line_color="#555", annotation_text=text)
    fig.update_layout(hovermode="closest")
    return charts._layout(fig, "Supplier concentration per category (Herfindahl index)", "HHI", 380)


def history_chart(
    monthly: pl.DataFrame, deliveries: pl.DataFrame, name: str, currency: str
) -> go.Figure:
    """A supplier's monthly spend (with and without PO) and its on-time delivery (right axis)."""
    fig = go.Figure()
    x = monthly["month"].to_list()
    with_po = [float(a - b) for a, b in monthly.select("amount", "no_po_amount").iter_rows()]
    fig.add_bar(x=x, y=with_po, name="Spend with PO", marker_color=charts.PALETTE["blue"])
    fig.add_bar(
        x=x,
        y=[float(v) for v in monthly["no_po_amount"]],
        name="Spend without PO",
        marker_color=charts.PALETTE["orange"],
    )
    if deliveries.height:
        fig.add_scatter(
            x=deliveries["month"].to_list(),
            y=[None if v is None else v * 100 for v in deliveries["on_time_delivery"]],
            name="On-time delivery (%)",
            yaxis="y2",
            mode="lines+markers",
            line={"color": charts.PALETTE["green"], "width": 2},
        )
    fig.update_layout(
        barmode="stack",
        yaxis2=PERCENT_AXIS,
    )
    return charts._layout(
        fig,
        f"{name}: spend and on-time delivery",
        charts._money_axis(currency),
    )
