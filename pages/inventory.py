"""Inventory: safety, cycle, excess and obsolete stock, days and turns, items to question."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from kpi.analyses import inventory as inv
from kpi.analyses.data_status import freshness
from kpi.core.formatting import format_value
from kpi.reporting import charts
from kpi.reporting import charts_working_capital as wc_charts
from kpi.reporting.figure_rows import INVENTORY_CLASS_KPIS, inventory_class_figure
from kpi.workflows.stock_marks import current_marks
from ui.cache import cached, figure
from ui.context import current
from ui.figure_rows import figure_button
from ui.kpi_strip import kpi_strip
from ui.stock_marks import marks_in_classes, stock_marks_section
from ui.threads import picked_thread
from ui.widgets import downloads, empty_slice, honoured_scope, no_data, table_columns

ctx = current()
st.title("Inventory")
st.caption(
    "Finance sees idle stock as cash on a shelf; procurement holds part of it on purpose. "
    "Stock is split by the levels procurement set: safety stock (up to the safety level), "
    "cycle stock (up to the max), excess (above the max) and obsolete: no issue and no "
    f"receipt of the item for {ctx.settings.obsolete_after_days} days. Stock received more "
    "recently, or new and never issued yet, is not obsolete (with no receipt on record, its "
    "first snapshot counts as its arrival); the safety level protects idle stock only for a "
    "critical item (criticality critical or high). Stock procurement marked as safety or "
    "strategic stock is neither excess nor obsolete up to its review date (see *Stock kept on "
    "purpose* below). The KPIs average each location over its own snapshot dates in the "
    "period, then add the locations. Amounts in **" + ctx.currency + "**."
)
if ctx.period is None:
    no_data("stock snapshots in the store", "Load the inventory on the **Data** page.")
    st.stop()

kpi_strip(
    ctx,
    [
        "days_inventory",
        "safety_stock_value",
        "excess_inventory_value",
        "obsolete_stock_value",
        "cash_conversion_gap",
    ],
    "inv",
)


# stock is held per item and location: it has a category, but no cost centre
scope = honoured_scope(ctx.scope, inv.INVENTORY_FILTERS, "stock")
classes = cached(inv.stock_by_snapshot, ctx, scope)
if classes.is_empty():
    # an empty inventory table asks for a load; filters that leave nothing say which
    held = dict(cached(freshness, ctx).select("table_name", "rows").iter_rows())
    empty_slice(
        scope,
        "stock snapshots",
        table_rows=held.get("inventory"),
        load="Load the inventory (stock snapshots) on the **Data** page.",
    )
    st.stop()

last = classes.row(-1, named=True)
st.subheader(f"Stock on {last['period']}")
marks_now = cached(current_marks, ctx, datetime.now(UTC).date())
st.caption(marks_in_classes(marks_now, scope.values("category")))


# The tiles (their rows-behind buttons), the marks and the discussion are fragments: a
# click or a pick there redraws that part only, not the charts, the tables or the sidebar.
@st.fragment(key="inventory_tiles")
def _tiles() -> None:
    """The stock classes at the last snapshot, each with the rows behind it."""
    cols = [*st.columns(3), *st.columns(3)]
    for col, (label, column) in zip(
        cols[:4],
        [
            ("Safety stock", "safety"),
            ("Cycle stock", "cycle"),
            ("Excess (above max)", "excess"),
            ("Obsolete", "obsolete"),
        ],
        strict=True,
    ):
        col.metric(
            label, format_value(float(last[column]), "currency", ctx.currency, True), border=True
        )
        if column in INVENTORY_CLASS_KPIS:  # cycle stock is the rest: no KPI defines it
            fig = inventory_class_figure(column, last["snapshot_date"], scope, ctx.settings.fiscal)
            with col:
                figure_button(fig, "Rows behind", f"inv_rows_{column}")
    cols[4].metric("Days of inventory", format_value(last["days_inventory"], "days"), border=True)
    cols[5].metric("Turns a year", format_value(last["turns"], "ratio"), border=True)


_tiles()

left, right = st.columns(2)
with left:
    st.plotly_chart(figure(charts.inventory_by_class, classes, ctx.currency), key="c_inv_classes")
with right:
    st.plotly_chart(figure(wc_charts.days_and_turns, classes), key="c_inv_days")
shown = classes.select(
    "period", "safety", "cycle", "excess", "obsolete", "stock_value", "days_inventory", "turns"
).sort("period", descending=True)  # the latest snapshot first
with st.expander("Stock by class per snapshot"):
    st.dataframe(shown, hide_index=True, width="stretch", column_config=table_columns(shown))
    downloads(shown, "inventory_by_class", "classes")

st.subheader("Items finance would question, with procurement's reasons")
st.caption(
    "Stock with no issue and no receipt for longer than the obsolete limit (its whole value "
    "is questioned, a critical item's safety stock too, though it is not obsolete) or above "
    "its max (the excess is questioned), at each location's last snapshot. Procurement's "
    "reasons beside it: the safety level it set, the lead time and how critical the item is."
)
questioned = cached(inv.items_to_question, ctx, scope)
if questioned.is_empty():
    st.success("Nothing idle or above its max at this snapshot.")
else:
    st.markdown(
        f"**{questioned.height} stock lines**, "
        + format_value(float(questioned["value_questioned"].sum()), "currency", ctx.currency, True)
        + " questioned"
    )
    st.dataframe(
        questioned,
        hide_index=True,
        width="stretch",
        column_config={
            **table_columns(questioned),
            "finance_question": st.column_config.TextColumn("Finance asks", width="medium"),
            "procurement_reason": st.column_config.TextColumn(
                "Procurement's reasons", width="large"
            ),
        },
    )
    downloads(questioned, f"inventory_questions_{last['period']}", "questioned")


@st.fragment(key="inventory_marks")
def _marks() -> None:
    """Marking stock: a pick redraws this part; a save reruns the page (its classes change)."""
    stock_marks_section(ctx)


_marks()


@st.fragment(key="inventory_discussion")
def _discussion() -> None:
    """The thread on one stock item: a pick redraws it; a post reruns the page."""
    st.subheader("Discussion on a stock item")
    st.caption(
        "Finance asks, procurement answers where the stock is: why an item is kept, until when. "
        "The items marked as kept on purpose are offered first, then the items questioned above, "
        "and every item already discussed."
    )
    marked = marks_now["item_id"].to_list()
    asked = [] if questioned.is_empty() else questioned["item_id"].unique(maintain_order=True)
    items = list(dict.fromkeys([*marked, *asked]))
    picked_thread(ctx, "stock_item", "Stock item", items, "thr_stock_pick", link_param="item")


_discussion()
