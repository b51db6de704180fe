"""CFO overview: the scorecard of every KPI by theme and the four headline charts."""

from __future__ import annotations

import polars as pl
import streamlit as st

from kpi.analyses import overview
from kpi.analyses.scorecard import STATUS_LABELS, THEMES, for_display, scorecard, status_tally
from kpi.core.formatting import format_delta, format_value
from kpi.reporting import charts
from kpi.reporting.filters_text import active_filters
from kpi.semantic.engine import compute
from kpi.store.database import Store
from kpi.workflows.definition_versions import effective_status
from ui.context import current
from ui.widgets import definition_dialog, downloads, literal, no_data

ctx = current()
st.title("CFO overview")

if ctx.period is None:
    no_data(
        "spend in the store",
        "Load invoices on the **Data** page, or run `python -m kpi demo` to explore the demo data.",
    )
    st.stop()


@st.cache_data(show_spinner="Computing the scorecard…")
def _scorecard(path, version, settings, defs_key, period, filters_key, currency):
    return scorecard(Store(path, settings), ctx.definitions, period, dict(filters_key), currency)


@st.cache_data(show_spinner=False)
def _charts(path, version, settings, defs_key, start, end, filters_key, currency):
    store = Store(path, settings)
    f = dict(filters_key)
    return (
        overview.spend_vs_budget(store, start, end, f, currency),
        overview.savings_by_meaning(store, ctx.definitions, "quarter", start, end, f, currency),
        overview.days_to_pay_vs_terms(store, start, end, f, currency),
        overview.inventory_by_class(store, start, end, f, currency),
    )


@st.cache_data(show_spinner=False)
def _trend(path, version, settings, defs_key, kpi_id, start, end, filters_key, currency):
    kpi = next(k for k in ctx.definitions if k.id == kpi_id)
    return compute(
        Store(path, settings), [kpi], "quarter", (), start, end, dict(filters_key), currency
    ).frame


defs_key = tuple(
    (k.id, k.source, k.period_by, k.formula, tuple(sorted(k.targets.items())))
    for k in ctx.definitions
)
key = (str(ctx.store.path), ctx.version, ctx.settings, defs_key)
card = _scorecard(*key, ctx.period, ctx.filters_key, ctx.currency)
# Agreed only with both departments' approvals of the current version (not the cached card's
# status field): an approval or a change shows up as soon as the file does.
agreement = {k.id: effective_status(k) for k in ctx.definitions}
card = card.with_columns(
    pl.col("id").replace_strict(agreement, default="draft").alias("definition_status")
)

active = active_filters(ctx.filters)
st.caption(
    f"Scorecard for **{ctx.period}**, compared with the quarter before · amounts in "
    f"**{ctx.currency}** · " + ("; ".join(active) if active else "all cost centres and categories")
)

HEADLINES = ("total_spend", "po_compliance", "days_to_pay", "savings_realised")
tiles = st.columns(len(HEADLINES))
for tile, kpi_id in zip(tiles, HEADLINES, strict=True):
    row = card.filter(pl.col("id") == kpi_id)
    if row.is_empty():
        continue
    r = row.row(0, named=True)
    tile.metric(
        literal(r["name"]),  # a metric's label is markdown; a KPI name is data
        format_value(r["value"], r["unit"], ctx.currency, compact=r["unit"] == "currency"),
        delta=format_delta(r["delta"], r["unit"], ctx.currency) or None,
        delta_color={"lower_is_better": "inverse", "higher_is_better": "normal"}.get(
            r["direction"], "off"
        ),
        help=f"Target {format_value(r['target'], r['unit'], ctx.currency)} · "
        f"{STATUS_LABELS[r['status']]} · change against the quarter before",
        border=True,
    )

st.markdown(status_tally(card) + f" KPIs in {ctx.period}")

not_agreed = card.filter(pl.col("definition_status") != "agreed")["name"].to_list()
if not_agreed:
    st.warning("Not yet agreed by both departments: " + literal(", ".join(not_agreed)), icon="⚠️")

shown = for_display(card, ctx.currency)

st.subheader("Scorecard")
st.caption("Click a row to see the KPI's definition, both departments' readings and its trend.")
for theme, title in THEMES.items():
    part = shown.filter(pl.col("theme") == theme)
    if part.is_empty():
        continue
    st.markdown(f"**{title}**")
    columns = ["name", "Value", "Target", "Status", "Change", "trend", "owner", "Definition"]
    if active:
        columns.append("filters_ignored")
    event = st.dataframe(
        part.select(columns),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"score_{theme}",
        column_config={
            "name": st.column_config.TextColumn("KPI", width="medium"),
            "trend": st.column_config.LineChartColumn("Last 8 quarters", width="small"),
            "owner": "Owner",
            "filters_ignored": st.column_config.TextColumn(
                "Filter not applicable",
                help="This KPI's data has no such column, so that filter does not narrow it.",
            ),
        },
    )
    rows = event.selection.rows if event and event.selection else []
    if rows:
        kpi_id = part["id"][rows[0]]
        kpi = next(k for k in ctx.definitions if k.id == kpi_id)
        definition_dialog(
            kpi,
            _trend(*key, kpi_id, ctx.start, ctx.end, ctx.filters_key, ctx.currency),
            ctx.currency,
        )

with st.expander("Download the scorecard"):
    export = card.select(
        "id",
        "name",
        "theme",
        "owner",
        "unit",
        "period",
        "value",
        "target",
        "status",
        "previous",
        "delta",
        "definition_status",
    )
    downloads(export, f"scorecard_{ctx.period}", "scorecard")

st.subheader("Headline charts")
budget, savings, dtp, stock = _charts(*key, ctx.start, ctx.end, ctx.filters_key, ctx.currency)
left, right = st.columns(2)
with left:
    if budget.is_empty():
        no_data("spend or budget in this range", "Widen the period or load budgets.")
    else:
        st.plotly_chart(charts.spend_vs_budget(budget, ctx.currency), key="c_budget")
        with st.expander("Data"):
            st.dataframe(budget, hide_index=True)
            downloads(budget, "spend_vs_budget", "budget")
with right:
    if savings.is_empty():
        no_data("savings in this range", "Load savings initiatives and invoices.")
    else:
        st.plotly_chart(charts.savings_by_meaning(savings, ctx.currency), key="c_savings")
        st.caption(
            "Procurement counts a lower price; finance counts a lower expense line. "
            "Cost avoidance never enters the P&L."
        )
        with st.expander("Data"):
            table = savings.select("period", "meaning", "value")
            st.dataframe(table, hide_index=True)
            downloads(table, "savings_by_meaning", "savings")
left, right = st.columns(2)
with left:
    if dtp.is_empty():
        no_data("payments in this range", "Load invoices with paid dates.")
    else:
        st.plotly_chart(charts.days_to_pay_vs_terms(dtp), key="c_dtp")
        with st.expander("Data"):
            st.dataframe(dtp, hide_index=True)
            downloads(dtp, "days_to_pay_vs_terms", "dtp")
with right:
    if stock.is_empty():
        no_data("inventory snapshots in this range", "Load the inventory table.")
    else:
        st.plotly_chart(charts.inventory_by_class(stock, ctx.currency), key="c_stock")
        with st.expander("Data"):
            st.dataframe(stock, hide_index=True)
            downloads(stock, "inventory_by_class", "stock")
