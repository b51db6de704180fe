"""Suppliers: a scorecard per supplier, concentration per category and one supplier's history.

The scorecard puts procurement's view of a supplier (spend and share, on-time delivery
from goods receipts, price variance against contract, invoices without PO) beside
finance's (how punctually we pay them, their payment terms and discount). Concentration
per category gives the top supplier's share and the Herfindahl–Hirschman index (the sum
of the squared percentage shares: 10,000 for a single source, above 2,500 is highly
concentrated); a category with one supplier is single-source. The SQL is in
kpi/sql_spend.py; money is exact DECIMAL in the display currency.
"""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl

from kpi import charts
from kpi import sql_spend as q
from kpi.spend import BUDGET_FILTERS, Filters, _run, _spend, filter_params
from kpi.store import Store

HHI_HIGH = 2500.0  # above: highly concentrated (the usual competition-authority thresholds)
HHI_MODERATE = 1500.0


def scorecard(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """One row per supplier with spend in the period, largest first.

    Columns: supplier_id, supplier, country, size, preferred, spend, spend_share,
    on_contract_share, received_lines, on_time_lines, on_time_delivery (PO lines promised
    in the period), price_variance, invoices_without_po, spend_without_po, paid_lines,
    paid_on_time_lines, we_paid_on_time, avg_days_to_pay, payment_terms_days, discount_pct,
    discount_days.
    """
    return _spend(store, q.SUPPLIER_SCORECARD, start, end, filters, currency)


def concentration(
    store: Store,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Per category: spend, suppliers, top_supplier, top_supplier_share, top5_share,
    herfindahl (0–10,000), single_source and level (high / moderate / low)."""
    frame = _spend(store, q.CONCENTRATION, start, end, filters, currency)
    hhi = pl.col("herfindahl")
    level = (
        pl.when(hhi > HHI_HIGH)
        .then(pl.lit("high"))
        .when(hhi > HHI_MODERATE)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("low"))
    )
    return frame.with_columns(level.alias("level"))


def supplier_history(
    store: Store,
    supplier_id: str,
    start: date,
    end: date,
    filters: Filters | None = None,
    currency: str | None = None,
) -> dict[str, pl.DataFrame]:
    """One supplier over the period: 'monthly' spend (amount, no_po_amount, price_variance),
    the 'items' bought (quantity, amount, price range, contract price, variance) and
    'deliveries' per month promised (received, on time, mean days late)."""
    spend_params = filter_params(filters) | {"start": start, "end": end, "supplier_id": supplier_id}
    po_params = filter_params(filters, BUDGET_FILTERS) | {
        "start": start,
        "end": end,
        "supplier_id": supplier_id,
    }
    return {
        "monthly": _run(store, q.SUPPLIER_MONTHLY, spend_params, currency),
        "items": _run(store, q.SUPPLIER_ITEMS, spend_params, currency),
        "deliveries": _run(store, q.SUPPLIER_DELIVERIES, po_params),
    }


# ---- charts --------------------------------------------------------------------------------


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
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 105], "title": "%"},
    )
    return charts._layout(
        fig,
        f"{name}: spend and on-time delivery",
        charts._money_axis(currency),
    )
