"""Plotly figures for the app, built from data frames; no data access here.

Colours come from the Okabe–Ito palette, which people with the common colour-vision
deficiencies can tell apart; statuses also carry a word and a symbol, never colour alone.

Text from data (supplier, category and item names, notes, titles) is shown as typed: plotly
reads a few HTML tags in any text it draws, so every figure passes through `safe_figure`
(via `_layout`), the one place where data text becomes entities. Builders take raw text.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from kpi.core.formatting import CURRENCY_SYMBOLS

PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}
STATUS_COLOURS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00", "none": "#7F7F7F"}


# what a trace draws or hands to a hover/text template from its data (never the templates
# themselves: those are ours and carry deliberate <br> and <extra> markup)
_TRACE_TEXT = ("x", "y", "z", "ids", "labels", "parents", "text", "hovertext", "customdata", "name")


def plot_text(text: object) -> str:
    """Data text for a plotly title, label or hover: plotly reads a few HTML tags
    (<b>, <a href>, <br>), so '<' and '&' are written as entities; plotly turns them back
    when it draws, so the reader sees exactly what was typed."""
    return html.escape("" if text is None else str(text), quote=False)


def _escaped(value: Any) -> Any:
    """`value` with every string in it (at any depth of lists, tuples, arrays) escaped."""
    if isinstance(value, str):
        return plot_text(value)
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind not in "OUS" else [_escaped(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def _escape_props(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = obj[name]
        if value is not None:
            new = _escaped(value)
            if new is not value:
                obj[name] = new


def _escape_axis_title(axis: Any) -> None:
    _escape_props(axis.title, ("text",))


def safe_figure(fig: go.Figure) -> go.Figure:
    """Escape, once, every data string a figure draws: the traces' categories, labels, ids,
    parents, texts, hover texts, custom data and names, and the layout's title, axis
    titles and annotations. Ids change with their labels: a click handler maps a clicked
    id back through `plot_text` (see kpi.reporting.charts_spend.treemap_nodes)."""
    for trace in fig.data:
        _escape_props(trace, tuple(n for n in _TRACE_TEXT if n in trace))
    _escape_props(fig.layout.title, ("text",))
    fig.for_each_xaxis(_escape_axis_title)
    fig.for_each_yaxis(_escape_axis_title)
    for note in fig.layout.annotations:
        _escape_props(note, ("text",))
    return fig


def _layout(fig: go.Figure, title: str, y_title: str = "", height: int = 340) -> go.Figure:
    """The house layout, applied last by every builder: it also escapes the figure's data
    text (safe_figure), so a builder adds no trace after it and calls it once."""
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 45, "b": 10},
        # under the whole figure, not at a fixed depth under the plot: plotly then makes
        # room for the tick labels and the legend both, so long or turned labels ("FY202…",
        # supplier names) are neither cut nor covered by the legend
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        yaxis_title=y_title,
        plot_bgcolor="white",
        hovermode="x unified",
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#e5e5e5", zerolinecolor="#999")
    return safe_figure(fig)


# The margins of the overview's four half-width charts, close to what plotly works out for
# them at the app's usual width (1,400 px): given up front, plotly draws each chart once,
# instead of drawing it, growing its margins for the tick labels and the legend, and
# drawing it again (about 70 ms of the four charts' 140 ms in the browser, on every visit).
# Margins only grow: a longer label or a legend on more rows still gets its room; on a
# wider screen a legend on fewer rows leaves a little more space above it.
HALF_WIDTH_MARGINS: dict[str, dict[str, int]] = {
    "spend_vs_budget": {"l": 79, "r": 10, "t": 45, "b": 102},  # a legend on two rows
    "savings_by_meaning": {"l": 73, "r": 10, "t": 70, "b": 150},  # two panels, turned ticks
    "days_to_pay_vs_terms": {"l": 65, "r": 10, "t": 45, "b": 64},  # a legend on one row
    "inventory_by_class": {"l": 73, "r": 10, "t": 45, "b": 121},  # four classes, two rows
}


def _half_width(fig: go.Figure, chart: str, half_width: bool) -> go.Figure:
    """`fig` with the half-width margins of `chart` when it is drawn half-width."""
    if half_width:
        fig.update_layout(margin=HALF_WIDTH_MARGINS[chart])
    return fig


def _money_axis(currency: str) -> str:
    return CURRENCY_SYMBOLS.get(currency, currency + " ").strip()


def spend_vs_budget(frame: pl.DataFrame, currency: str, half_width: bool = False) -> go.Figure:
    """Monthly spend (bars, maverick part shown) against budget (line)."""
    fig = go.Figure()
    x = frame["period"].to_list()
    on_po = (frame["actual"] - frame["maverick"]).to_list()
    fig.add_bar(x=x, y=on_po, name="Spend with PO", marker_color=PALETTE["blue"])
    fig.add_bar(
        x=x,
        y=frame["maverick"].to_list(),
        name="Spend without PO (maverick)",
        marker_color=PALETTE["orange"],
    )
    fig.add_scatter(
        x=x,
        y=frame["budget"].to_list(),
        name="Budget",
        mode="lines",
        line={"color": "#222", "width": 2, "dash": "dash"},
    )
    fig.update_layout(barmode="stack")
    fig = _layout(fig, "Spend against budget", _money_axis(currency))
    return _half_width(fig, "spend_vs_budget", half_width)


def savings_by_meaning(frame: pl.DataFrame, currency: str, half_width: bool = False) -> go.Figure:
    """Per period, two panels: the meanings of savings side by side (left); the expense
    change against a year earlier (kpi `expense_change_yoy`) on its own axis (right)."""
    colours = [PALETTE["blue"], PALETTE["sky"], PALETTE["grey"]]
    is_expense = pl.col("kpi") == "expense_change_yoy" if "kpi" in frame.columns else pl.lit(False)
    fig = _two_panels(height=560, stacked=True)  # a half-width chart on the overview
    savings = frame.filter(~is_expense)
    for colour, (meaning, part) in zip(
        colours, savings.group_by("meaning", maintain_order=True), strict=False
    ):
        fig.add_bar(
            x=part["period"].to_list(),
            y=part["value"].to_list(),
            name=meaning[0],
            marker_color=colour,
            row=1,
            col=1,
        )
    expense = frame.filter(is_expense)
    values = [None if v is None else float(v) for v in expense["value"].to_list()]
    _expense_bars(fig, expense["period"].to_list(), values, currency, stacked=True)
    fig.update_layout(barmode="group")
    fig = _panel_layout(fig, "Savings: what each department means by it", currency)
    return _half_width(fig, "savings_by_meaning", half_width)


def days_to_pay_vs_terms(frame: pl.DataFrame, half_width: bool = False) -> go.Figure:
    fig = go.Figure()
    x = frame["period"].to_list()
    fig.add_scatter(
        x=x,
        y=frame["days_to_pay"].to_list(),
        name="Days to pay (actual)",
        mode="lines+markers",
        line={"color": PALETTE["blue"], "width": 2},
    )
    fig.add_scatter(
        x=x,
        y=frame["terms"].to_list(),
        name="Contractual terms",
        mode="lines",
        line={"color": PALETTE["orange"], "width": 2, "dash": "dot"},
    )
    fig = _layout(fig, "Days to pay against payment terms", "days")
    return _half_width(fig, "days_to_pay_vs_terms", half_width)


def inventory_by_class(frame: pl.DataFrame, currency: str, half_width: bool = False) -> go.Figure:
    fig = go.Figure()
    x = frame["period"].to_list()
    for col, name, colour in (
        ("safety", "Safety stock", PALETTE["green"]),
        ("cycle", "Cycle stock", PALETTE["sky"]),
        ("excess", "Excess (above max)", PALETTE["orange"]),
        ("obsolete", "Obsolete (no issue, not safety)", PALETTE["vermillion"]),
    ):
        fig.add_scatter(
            x=x,
            y=frame[col].to_list(),
            name=name,
            mode="lines",
            stackgroup="stock",
            line={"color": colour, "width": 0.5},
        )
    fig = _layout(fig, "Inventory value by class", _money_axis(currency))
    return _half_width(fig, "inventory_by_class", half_width)


def sparkline(values: list[float | None], status: str = "none") -> go.Figure:
    """A tiny trend line for a scorecard row."""
    fig = go.Figure(
        go.Scatter(
            y=values,
            mode="lines+markers",
            line={"color": STATUS_COLOURS.get(status, "#7F7F7F"), "width": 2},
            marker={"size": 4},
            hoverinfo="y",
        )
    )
    fig.update_layout(
        height=60,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="white",
        showlegend=False,
    )
    return safe_figure(fig)


def kpi_trend(
    frame: pl.DataFrame, name: str, unit: str, targets: dict[str, float], currency: str = "EUR"
) -> go.Figure:
    """One KPI's values by period with its targets, for the definition dialog."""
    fig = go.Figure()
    x = frame["period"].to_list()
    y = frame["value"].to_list()
    if unit == "percent":
        y = [None if v is None else v * 100 for v in y]
    fig.add_scatter(
        x=x, y=y, name=name, mode="lines+markers", line={"color": PALETTE["blue"], "width": 2}
    )
    tx = [p for p in x if p in targets]
    if tx:
        ty = [targets[p] * (100 if unit == "percent" else 1) for p in tx]
        fig.add_scatter(
            x=tx,
            y=ty,
            name="Target",
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 18, "color": "#222"},
        )
    axis = {"percent": "%", "currency": _money_axis(currency)}.get(unit, unit)
    return _layout(fig, name, axis, height=300)


BRIDGE_STEPS = (
    ("base", "Prior spend"),
    ("price", "Price effect"),
    ("fx", "Exchange-rate effect"),
    ("volume", "Volume effect"),
    ("mix", "Mix effect"),
    ("unquantified", "Spend without quantity"),
    ("new", "New items"),
    ("lost", "Discontinued items"),
    ("current", "Current spend"),
)


def bridge_waterfall(row: dict, currency: str, title: str) -> go.Figure:
    """Prior spend → price → fx → volume → mix → without quantity → new → discontinued →
    current spend (kpi.analyses.bridge's columns, in its order)."""
    labels = [label for _, label in BRIDGE_STEPS]
    values = [float(row[key]) for key, _ in BRIDGE_STEPS]
    measure = ["absolute"] + ["relative"] * (len(BRIDGE_STEPS) - 2) + ["total"]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values[:-1] + [0],
            measure=measure,
            text=[f"{v:,.0f}" for v in values],
            textposition="outside",
            connector={"line": {"color": "#999"}},
            increasing={"marker": {"color": PALETTE["vermillion"]}},  # spend up: costs more
            decreasing={"marker": {"color": PALETTE["green"]}},  # spend down: a saving
            totals={"marker": {"color": PALETTE["blue"]}},
        )
    )
    fig.update_layout(hovermode="x")
    return _layout(fig, title, _money_axis(currency), height=400)


def realised_vs_expected(monthly: pl.DataFrame, currency: str) -> go.Figure:
    """Monthly realised price savings (bars) against what the initiatives promised (line)."""
    by_month = (
        monthly.group_by("month")
        .agg(
            pl.col("realised_saving").sum().cast(pl.Float64),
            pl.col("expected_saving").sum().cast(pl.Float64),
            pl.col("leakage").sum().cast(pl.Float64),
        )
        .sort("month")
    )
    x = by_month["month"].to_list()
    fig = go.Figure()
    fig.add_bar(
        x=x,
        y=by_month["realised_saving"].to_list(),
        name="Realised (from invoices)",
        marker_color=PALETTE["green"],
    )
    fig.add_bar(
        x=x,
        y=by_month["leakage"].to_list(),
        name="Leakage (paid above negotiated)",
        marker_color=PALETTE["vermillion"],
    )
    fig.add_scatter(
        x=x,
        y=by_month["expected_saving"].to_list(),
        name="Expected",
        mode="lines+markers",
        line={"color": "#222", "dash": "dash"},
    )
    fig.update_layout(barmode="group")
    return _layout(fig, "Price savings: realised against expected", _money_axis(currency))


# the two lenses' panels: savings are what procurement and finance count; the expense change
# is finance's other lens, on its own axis, because a rise of millions beside savings of
# thousands would dwarf them and read as a saving
SAVINGS_PANEL = "Price savings (procurement's lens)"
EXPENSE_PANEL = "Change in expense vs last year (finance's lens)"
EXPENSE_UP = "Expense up: a cost, not a saving"
EXPENSE_DOWN = "Expense down"


def _two_panels(height: int, stacked: bool = False) -> go.Figure:
    """Two panels, each with its own y axis and title: side by side, or one above the other
    for a half-width chart (side by side, their titles would run into each other)."""
    if stacked:
        fig = make_subplots(
            rows=2, cols=1, subplot_titles=(SAVINGS_PANEL, EXPENSE_PANEL), vertical_spacing=0.32
        )
    else:
        fig = make_subplots(
            rows=1,
            cols=2,
            subplot_titles=(SAVINGS_PANEL, EXPENSE_PANEL),
            horizontal_spacing=0.1,
            column_widths=[0.58, 0.42],
        )
    fig.update_layout(height=height)
    return fig


def _expense_bars(
    fig: go.Figure, x: list, values: list[float | None], currency: str, stacked: bool = False
) -> None:
    """The expense change per x in the right panel: a rise hatched in vermillion and named
    as a cost, a fall plain in green (the name and hatching say it, not the colour alone)."""
    for name, colour, hatch, rise in (
        (EXPENSE_UP, PALETTE["vermillion"], "/", True),
        (EXPENSE_DOWN, PALETTE["green"], "", False),
    ):
        y = [v if v is not None and (v > 0) == rise else None for v in values]
        if any(v is not None for v in y):
            fig.add_bar(
                x=x,
                y=y,
                name=name,
                marker={"color": colour, "pattern": {"shape": hatch}},
                row=2 if stacked else 1,
                col=1 if stacked else 2,
            )
    fig.update_yaxes(
        title_text=f"{_money_axis(currency)} (+ = more expense)",
        row=2 if stacked else 1,
        col=1 if stacked else 2,
    )


def _panel_layout(fig: go.Figure, title: str, currency: str) -> go.Figure:
    """The house layout for the two panels: room for long category names under the axis."""
    fig = _layout(fig, title, height=fig.layout.height or 460)
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 70, "b": 10}, legend={"y": -0.3}, hovermode="closest"
    )
    fig.update_xaxes(automargin=True, tickangle=-35)
    fig.update_yaxes(automargin=True)
    fig.update_yaxes(title_text=f"{_money_axis(currency)} saved", row=1, col=1)
    fig.update_annotations(font={"size": 13})  # the panels' titles
    return fig


def two_lenses(frame: pl.DataFrame, currency: str) -> go.Figure:
    """Per category, two panels: what procurement reports, what finance recognises and the
    cost avoided (left); the expense change against a year earlier on its own axis (right),
    a rise drawn and named as a cost."""
    rows = frame.filter(~pl.col("is_total"))
    x = rows["category"].to_list()
    fig = _two_panels(height=480)
    for col, name, colour in (
        ("procurement_reported", "Procurement-reported savings", PALETTE["blue"]),
        ("finance_recognised", "Finance-recognised savings", PALETTE["sky"]),
        ("cost_avoidance", "Cost avoidance (not P&L)", PALETTE["grey"]),
    ):
        values = [None if v is None else float(v) for v in rows[col].to_list()]
        fig.add_bar(x=x, y=values, name=name, marker_color=colour, row=1, col=1)
    expense = [None if v is None else float(v) for v in rows["expense_change"].to_list()]
    _expense_bars(fig, x, expense, currency)
    fig.update_layout(barmode="group")
    return _panel_layout(fig, "Two lenses on the same transactions", currency)


def avoidance_by_status(monthly: pl.DataFrame, currency: str) -> go.Figure:
    """Monthly cost avoidance stacked by finance's verdict."""
    colours = {
        "accepted": PALETTE["green"],
        "pending": PALETTE["orange"],
        "rejected": PALETTE["vermillion"],
    }
    fig = go.Figure()
    for status, colour in colours.items():
        part = (
            monthly.filter(pl.col("finance_status") == status)
            .group_by("month")
            .agg(pl.col("avoided_cost").sum().cast(pl.Float64))
            .sort("month")
        )
        if not part.is_empty():
            fig.add_bar(
                x=part["month"].to_list(),
                y=part["avoided_cost"].to_list(),
                name=f"Finance: {status}",
                marker_color=colour,
            )
    fig.update_layout(barmode="stack")
    return _layout(fig, "Cost avoidance by finance's verdict", _money_axis(currency))


# ---- quarterly goals ---------------------------------------------------------------------------


def add_proposals(
    fig: go.Figure,
    quarter: str,
    finance: float | None,
    procurement: float | None,
    unit: str,
) -> go.Figure:
    """Mark finance's and procurement's proposed targets for the planned quarter on a KPI chart
    (kpi.reporting.meeting_pack.history_forecast_chart), side by side with the forecast."""
    scale = 100 if unit == "percent" else 1
    for value, name, colour, symbol in (
        (finance, "Finance proposes", PALETTE["blue"], "triangle-left"),
        (procurement, "Procurement proposes", PALETTE["green"], "triangle-right"),
    ):
        if value is not None:
            fig.add_scatter(
                x=[plot_text(quarter)],  # the figure's text is escaped already (_layout)
                y=[value * scale],
                name=name,
                mode="markers",
                marker={"symbol": symbol, "size": 13, "color": colour},
            )
    return fig


def spend_outlook_bars(frame: pl.DataFrame, currency: str) -> go.Figure:
    """Per category: spend of the same quarter a year earlier against the planned quarter's
    forecast (kpi.workflows.goals.spend_outlook, total row left out)."""
    rows = frame.filter(~pl.col("is_total"))
    x = rows["category"].to_list()
    base_q = frame["base_quarter"][0] if frame.height else ""
    fig = go.Figure()
    for col, name, colour in (
        ("base_spend", f"Spend {base_q}", PALETTE["grey"]),
        ("spend_forecast", "Forecast", PALETTE["blue"]),
    ):
        values = [None if v is None else float(v) for v in rows[col].to_list()]
        fig.add_bar(x=x, y=values, name=name, marker_color=colour)
    fig.update_layout(barmode="group")
    return _layout(fig, "Spend outlook by category", _money_axis(currency), height=380)
