"""Suppliers: scorecard, concentration per category and one supplier's history."""

from __future__ import annotations

import polars as pl
import streamlit as st

from kpi.analyses import suppliers as su
from kpi.analyses.kpi_figures import undefined
from kpi.core.formatting import format_value
from kpi.core.scope import Scope
from kpi.reporting import charts_spend as spend_charts
from kpi.reporting import figure_rows as fr
from kpi.store.database import Store
from ui.cache import DEFINITIONS, cached, figure
from ui.context import current
from ui.figure_rows import figure_buttons
from ui.kpi_strip import kpi_strip
from ui.widgets import downloads, empty_slice, literal, no_data, table_columns

ctx = current()
st.title("Suppliers")
st.caption(
    "Procurement's view of each supplier (spend, deliveries, prices against contract) beside "
    "finance's (invoices without PO, how punctually we pay, their terms). Amounts in **"
    + ctx.currency
    + "**."
)
if ctx.period is None:
    no_data(
        "spend in the store", "Load invoices, purchase orders and suppliers on the **Data** page."
    )
    st.stop()

SUPPLIER_KPIS = ("supplier_concentration_top5", "supplier_otd", "purchase_price_variance")
# the scorecard row's figures that open their rows (kpi.reporting.figure_rows)
SUPPLIER_ROW_LABELS = {
    "spend": "Spend",
    "on_time_delivery": "On-time delivery",
    "price_variance": "Price variance",
    "we_paid_on_time": "We paid on time",
    "avg_days_to_pay": "Days to pay",
}


def _scorecard(store: Store, scope: Scope, definitions: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The scorecard and concentration; their KPI columns are the KPIs by the engine."""
    return su.scorecard(store, scope, definitions), su.concentration(store, scope, definitions)


_SPECIAL = {  # columns whose name does not say how to show them
    "herfindahl": st.column_config.NumberColumn("HHI", format="%.0f"),
    "we_paid_on_time": st.column_config.NumberColumn("We paid on time", format="percent"),
    "avg_days_late": st.column_config.NumberColumn("Mean days late", format="%.1f"),
    "avg_days_to_pay": st.column_config.NumberColumn("Mean days to pay", format="%.1f"),
}


def _table(frame: pl.DataFrame, name: str, key: str, **kw) -> object:
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={**table_columns(frame), **{c: v for c, v in _SPECIAL.items() if c in frame}},
        key=key,
        **kw,
    )
    downloads(frame, name, key)
    return event


kpi_strip(ctx, SUPPLIER_KPIS, "suppliers")

card, conc = cached(_scorecard, ctx, ctx.scope, DEFINITIONS, spinner="Scoring suppliers…")
if card.is_empty():
    empty_slice(ctx.scope, "supplier spend")
    st.stop()
names = dict(zip(card["supplier_id"], card["supplier"], strict=True))
cal = ctx.settings.fiscal
_undefined = sorted(
    {
        *undefined(ctx.definitions, su.SCORECARD_KPIS, "supplier"),
        *undefined(ctx.definitions, su.CONCENTRATION_KPIS, "category"),
    }
)
if _undefined:
    st.warning(
        "No definition to compute "
        + ", ".join(literal(i) for i in _undefined)
        + " per supplier or category (missing from the KPI definitions, or not split by that "
        "dimension there): those columns stay empty. Fix it on the **KPI definitions** page.",
        icon="⚠️",
    )


# The three tabs are one fragment: the search box, a scorecard row (which picks the supplier
# of the detail tab) and the detail's supplier redraw the tabs, not the tiles above or the
# sidebar. The scorecard and the detail share the pick, so they rerun together.
@st.fragment(key="suppliers_tabs")
def _tabs() -> None:
    """The scorecard, the concentration and one supplier's detail."""
    tab_card, tab_conc, tab_detail = st.tabs(["Scorecard", "Concentration", "Supplier detail"])

    with tab_card:
        st.caption(
            f"{card.height} suppliers with spend from {ctx.start} to {ctx.end}. On-time delivery "
            "is on time in full (OTIF): PO lines promised in the period whose full quantity had "
            "arrived by the promised date. A line due by the last data day (the latest date in "
            "the data) and short is late, delivered later or not; lines not yet due, without a "
            "promised date or cancelled do not count. We paid on time: their paid invoice lines "
            "paid by the due date. Select a row to open the supplier and the rows behind its "
            "figures."
        )
        search = st.text_input("Find a supplier", key="sup_search", placeholder="name or id…")
        shown = card
        if search:
            needle = search.strip().lower()
            shown = card.filter(
                pl.col("supplier").str.to_lowercase().str.contains(needle, literal=True)
                | pl.col("supplier_id").str.to_lowercase().str.contains(needle, literal=True)
            )
        event = _table(
            shown, "supplier_scorecard", "scorecard", on_select="rerun", selection_mode="single-row"
        )
        st.caption(
            "On-time delivery, price variance, we paid on time and days to pay are the shared KPIs "
            + ", ".join(
                literal(k.name) for k in ctx.definitions if k.id in su.SCORECARD_KPIS.values()
            )
            + " per supplier over the period, each by its own date (days to pay by paid date, "
            "weighted by amount): the rule is the KPI's definition, so the table follows it."
        )
        rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
        picked = shown["supplier_id"][rows[0]] if rows else None
        if picked is not None:  # the row's figures a KPI defines open the rows behind them
            st.markdown(f"**Rows behind {literal(names[picked])}'s figures**")
            figure_buttons(
                [
                    (label, fr.supplier_figure(column, picked, names[picked], ctx.scope, cal))
                    for column, label in SUPPLIER_ROW_LABELS.items()
                ],
                f"sup_rows_{picked}",
            )
        if picked is not None and picked != st.session_state.get("_sup_row"):
            st.session_state["supplier_pick"] = picked  # before the select box below is drawn
        st.session_state["_sup_row"] = picked

    with tab_conc:
        st.caption(
            "Top five: each category's five largest suppliers by spend in the period reported "
            "(month, quarter or fiscal year), exactly five, a tie broken by supplier id; ranked "
            "on the whole company's spend in the category, so a filter applies after ranking. "
            "HHI: the sum of each supplier's squared share of the category's spend in the period "
            "(60 % and 40 % give 0.52, i.e. 5,200 on the 0–10,000 scale); over several categories, "
            "the spend-weighted mean of the category indices."
        )
        single = conc.filter(pl.col("single_source"))
        high = conc.filter(pl.col("level") == "high")
        m = st.columns(3)
        m[0].metric("Categories", f"{conc.height:,}", border=True)
        m[1].metric("Highly concentrated (HHI > 2,500)", f"{high.height:,}", border=True)
        m[2].metric("Single-source categories", f"{single.height:,}", border=True)
        if single.height:
            st.warning(
                "**Single source:** "
                + ", ".join(literal(c) for c in single["category"].to_list())
                + ". One supplier "
                "holds all of the category's spend in this period.",
                icon="⚠️",
            )
        st.plotly_chart(figure(spend_charts.concentration_chart, conc), key="c_concentration")
        _table(conc, "supplier_concentration", "concentration")

    with tab_detail:
        ids = list(names)
        if st.session_state.get("supplier_pick") not in ids:
            st.session_state.pop("supplier_pick", None)
        supplier_id = st.selectbox(
            "Supplier",
            ids,
            key="supplier_pick",
            format_func=lambda i: f"{names[i]} ({i})",
        )
        row = card.filter(pl.col("supplier_id") == supplier_id).row(0, named=True)
        m = st.columns(5)
        m[0].metric(
            "Spend",
            format_value(float(row["spend"]), "currency", ctx.currency, compact=True),
            format_value(row["spend_share"], "percent") + " of spend",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        m[1].metric(
            "On-time delivery", format_value(row["on_time_delivery"], "percent"), border=True
        )
        m[2].metric(
            "Price variance vs contract",
            format_value(
                None if row["price_variance"] is None else float(row["price_variance"]),
                "currency",
                ctx.currency,
            ),
            border=True,
        )
        m[3].metric(
            "Invoices without PO",
            f"{row['invoices_without_po']:,}",
            format_value(float(row["spend_without_po"]), "currency", ctx.currency, True),
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        m[4].metric(
            "We paid on time",
            format_value(row["we_paid_on_time"], "percent"),
            # a missing value says so in words (no dash where a number should be)
            "no terms on record"
            if row["payment_terms_days"] is None
            else f"terms {row['payment_terms_days']} days",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        size = {"sme": "SME"}.get(row["size"], row["size"])  # the code as people write it
        pct, within = row["discount_pct"], row["discount_days"]
        discount = (
            f"discount {float(pct):g} % within {within} days"
            if pct and within
            else "no early-payment discount"
        )
        country = literal(row["country"] or "country: no data")
        st.caption(
            f"{country} · {literal(size or 'size: no data')} · "
            + ("preferred supplier" if row["preferred"] else "not preferred")
            + f" · {discount}"
        )
        history = cached(su.supplier_history, ctx, ctx.scope, supplier_id, DEFINITIONS)
        st.plotly_chart(
            spend_charts.history_chart(
                history["monthly"], history["deliveries"], names[supplier_id], ctx.currency
            ),
            key="c_history",
        )
        st.markdown("**Items bought**")
        _table(history["items"], f"supplier_{supplier_id}_items", "sup_items")
        left, right = st.columns(2)
        # month by month, the latest month first (the chart above reads left to right)
        with left:
            st.markdown("**Spend per month**")
            monthly = history["monthly"].sort("month", descending=True)
            _table(monthly, f"supplier_{supplier_id}_monthly", "sup_monthly")
        with right:
            st.markdown("**Deliveries per month promised**")
            deliveries = history["deliveries"].sort("month", descending=True)
            _table(deliveries, f"supplier_{supplier_id}_deliveries", "sup_deliveries")


_tabs()
