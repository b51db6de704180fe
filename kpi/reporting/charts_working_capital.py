"""Plotly figures of the Payment terms & cash and Inventory pages, built from data frames.

Same conventions as kpi/reporting/charts.py: Okabe–Ito colours, SME and risk shown by name as well
as colour, no data access here.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from kpi.reporting.charts import PALETTE, _layout, _money_axis


def _floats(frame: pl.DataFrame, column: str) -> list[float | None]:
    return frame[column].cast(pl.Float64).to_list()


def terms_by_segment(frame: pl.DataFrame, segment: str) -> go.Figure:
    """Contractual terms against actual days to pay, per segment."""
    fig = go.Figure()
    x = frame["segment"].fill_null("(none)").to_list()
    fig.add_bar(
        x=x,
        y=_floats(frame, "contract_terms_days"),
        name="Contractual terms",
        marker_color=PALETTE["orange"],
    )
    fig.add_bar(
        x=x, y=_floats(frame, "days_to_pay"), name="Days to pay", marker_color=PALETTE["blue"]
    )
    fig.update_layout(barmode="group")
    label = segment.replace("_", " ")
    return _layout(fig, f"Terms and days to pay by {label} (amount-weighted)", "days")


def late_payments(frame: pl.DataFrame, currency: str) -> go.Figure:
    """Amount paid late per month, SMEs apart from the others."""
    fig = go.Figure()
    x = frame["period"].to_list()
    fig.add_bar(
        x=x, y=_floats(frame, "late_amount_sme"), name="Paid late: SMEs",
        marker_color=PALETTE["vermillion"],
    )  # fmt: skip
    fig.add_bar(
        x=x, y=_floats(frame, "late_amount_other"), name="Paid late: other suppliers",
        marker_color=PALETTE["sky"],
    )  # fmt: skip
    fig.update_layout(barmode="group")
    return _layout(fig, "Late payments by month paid", _money_axis(currency))


def discounts(frame: pl.DataFrame, currency: str) -> go.Figure:
    """Early-payment discounts offered, taken and missed per month."""
    fig = go.Figure()
    x = frame["period"].to_list()
    fig.add_bar(
        x=x, y=_floats(frame, "discounts_taken"), name="Taken", marker_color=PALETTE["green"]
    )
    fig.add_bar(
        x=x, y=_floats(frame, "discounts_missed"), name="Missed", marker_color=PALETTE["orange"]
    )
    fig.add_scatter(
        x=x,
        y=_floats(frame, "discounts_offered"),
        name="Offered",
        mode="lines+markers",
        line={"color": PALETTE["grey"], "dash": "dot"},
    )
    fig.update_layout(barmode="stack")
    return _layout(fig, "Early-payment discounts by month paid", _money_axis(currency))


# the ageing buckets of the payments view, youngest first, each a deeper warning colour
AGEING_COLOURS = {
    "1-30 days": PALETTE["yellow"],
    "31-60 days": PALETTE["orange"],
    "61-90 days": PALETTE["vermillion"],
    "over 90 days": PALETTE["purple"],
}


def overdue_ageing(frame: pl.DataFrame, currency: str) -> go.Figure:
    """Open invoice lines past their due date on the last data day, by ageing bucket."""
    amounts = dict(zip(frame["ageing_bucket"], _floats(frame, "overdue_amount"), strict=True))
    buckets = list(AGEING_COLOURS)
    fig = go.Figure()
    fig.add_bar(
        x=buckets,
        y=[amounts.get(b, 0.0) for b in buckets],
        marker_color=[AGEING_COLOURS[b] for b in buckets],
        name="Overdue",
    )
    fig.update_layout(showlegend=False)
    return _layout(fig, "Overdue payables by days past due", _money_axis(currency))


def scenario_waterfall(summary: dict, currency: str) -> go.Figure:
    """Yearly value of the cash released, less discounts lost and price pass-through."""
    steps = [
        ("Value of cash released", summary["annual_financing_benefit"], "relative"),
        ("Discounts forgone", -summary["discounts_forgone"], "relative"),
        ("Supplier price pass-through", -summary["supplier_price_passthrough"], "relative"),
        ("Net benefit", summary["net_benefit"], "total"),
    ]
    fig = go.Figure(
        go.Waterfall(
            x=[s[0] for s in steps],
            y=[float(s[1]) for s in steps],
            measure=[s[2] for s in steps],
            increasing={"marker": {"color": PALETTE["green"]}},
            decreasing={"marker": {"color": PALETTE["vermillion"]}},
            totals={"marker": {"color": PALETTE["blue"]}},
            connector={"line": {"color": "#999"}},
        )
    )
    fig.update_layout(showlegend=False)
    return _layout(fig, "A year of the new terms, both sides", _money_axis(currency))


def days_and_turns(frame: pl.DataFrame) -> go.Figure:
    """Days of inventory (left axis) and turns (right axis) per snapshot."""
    fig = go.Figure()
    x = frame["period"].to_list()
    fig.add_scatter(
        x=x,
        y=frame["days_inventory"].to_list(),
        name="Days of inventory",
        mode="lines+markers",
        line={"color": PALETTE["blue"], "width": 2},
    )
    fig.add_scatter(
        x=x,
        y=frame["turns"].to_list(),
        name="Turns a year (right axis)",
        mode="lines",
        yaxis="y2",
        line={"color": PALETTE["orange"], "width": 2, "dash": "dot"},
    )
    fig.update_layout(
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "title": "turns",
            "showgrid": False,
            "tickformat": ".1f",
            "tickmode": "auto",
            "nticks": 6,
        }
    )
    return _layout(fig, "Days of inventory and turns", "days")
