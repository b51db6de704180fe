"""Spend & budgets: drill-down of spend, budget vs committed vs actual, approvals, compliance."""

from __future__ import annotations

from datetime import date
from functools import partial

import polars as pl
import streamlit as st

from kpi.analyses import spend as sp
from kpi.analyses.data_status import freshness
from kpi.analyses.kpi_figures import undefined
from kpi.core import periods
from kpi.core.formatting import format_value
from kpi.core.scope import Scope
from kpi.reporting import charts_spend as spend_charts
from kpi.reporting import figure_rows as fr
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from ui.cache import DEFINITIONS, cached, figure
from ui.context import current
from ui.figure_rows import SELECTABLE, figure_button, figure_buttons, open_selected, selected_row
from ui.kpi_strip import kpi_strip
from ui.widgets import (
    downloads,
    empty_slice,
    honoured_scope,
    literal,
    no_data,
    table_columns,
)

ctx = current()
st.title("Spend & budgets")
st.caption(
    "Finance sets the limits, procurement spends within them: where the money went, against "
    "the budget, how it was approved and whether it went through contracts. Amounts in **"
    + ctx.currency
    + "**."
)
if ctx.period is None:
    no_data("spend in the store", "Load invoices and budgets on the **Data** page.")
    st.stop()

ALL = "(all)"


def _spend_views(store: Store, scope: Scope) -> tuple[pl.DataFrame, ...]:
    return (
        sp.spend_monthly(store, scope),
        sp.supplier_pareto(store, scope),
        sp.spend_by_cost_centre(store, scope),
    )


def _budgets(
    store: Store, scope: Scope, fiscal_year: str, by: str, definitions: list[KpiDefinition]
) -> tuple:
    year = sp.budget_year(store, fiscal_year)
    total = sp.budget_status(store, scope, year, "cost_centre", definitions)
    status = total if by == "cost_centre" else sp.budget_status(store, scope, year, by, definitions)
    return year, status, total, sp.budget_monthly(store, scope, year)


# the budget rules in plain words, shown under the budget figures (the KPIs' descriptions
# in config/kpis.yaml say the same)
BUDGET_RULES = (
    "**How these figures are counted.** Budget, actual, accrued and committed are all "
    "converted at **one budget rate per currency and fiscal year** (the `budget_rates` "
    "setting, else the first rate of the fiscal year), so a cost centre that spent exactly "
    "its budget in the budget's currency shows 100 %. Shown in another currency than the "
    "reporting one, each figure is converted at that currency's budget rate of the same year. "
    "**Exchange-rate variance** = actual at the invoices' own day rates − actual at the "
    "budget rate: what currency moves added (negative: saved), kept out of the utilisation. "
    "**Actual** = invoiced, in the invoice's month. **Accrued** = received but not "
    "invoiced yet (received quantity × order price − invoiced on the line, never below "
    "zero), in the month of the last receipt. **Committed** = ordered but neither received "
    "nor invoiced, in the month of the promised delivery date (else the order date); closed "
    "and cancelled orders commit nothing. Every part of an order counts once: invoiced, "
    "accrued or committed. An invoice relieves the order it names whatever its item or "
    "currency, filling the order's open lines in line order (invoices name no line). "
    "Burn rate = actual ÷ months elapsed; forecast = actual + burn rate × months left."
)


def _compliance(store: Store, scope: Scope, definitions: list, today: date) -> dict:
    """The approvals and compliance tabs' tables; their KPI columns (approval time, maverick
    rate, spend under management, price variance) are the KPIs by the engine."""
    lines = sp.compliance_lines(store, scope)
    approvals = sp.approvals(store, scope)
    by = partial(sp.compliance_by, store, scope, lines, definitions=definitions)
    ap_by = partial(sp.approvals_by, store, scope, approvals, definitions=definitions)
    return {
        "lines": lines,
        "approvals": approvals,
        "waiting": sp.waiting_orders(store, scope, today),
        "ap_cc": ap_by("cost_centre"),
        "ap_month": ap_by("month"),
        "co_cc": by("cost_centre"),
        "co_month": by("month"),
        "co_cat": by("category"),
        "totals": sp.compliance_totals(store, scope, definitions),
    }


def _drill_to_box(key: str, nodes: dict) -> None:
    """A click on a treemap box sets the drill-down's select boxes to that box."""
    points = st.session_state[key].selection.points
    node = nodes.get(points[0].get("id")) if points else None
    if node is None:
        return
    for widget, value in zip(("drill_category", "drill_supplier", "drill_item"), node, strict=True):
        st.session_state[widget] = value if value is not None else ALL


def _columns(frame: pl.DataFrame) -> dict:
    """table_columns, and what the names do not say: days (a mean) with one decimal, dates
    as dates (not "2026-09-25 00:00:00")."""
    config = table_columns(frame)
    for column, dtype in frame.schema.items():
        label = config[column] if isinstance(config[column], str) else None
        if label and dtype == pl.Float64 and column.endswith("_days"):
            config[column] = st.column_config.NumberColumn(label, format="%.1f")
        elif label and dtype == pl.Date:
            config[column] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
    return config


def _table(frame: pl.DataFrame, name: str, key: str, figure=None, level: str = "") -> None:
    """A table with its downloads; with `figure` (row → FigureRows), a selected row opens
    the rows behind its figure. `level`: the drill-down's path, so that a selection made on
    one level does not carry over to the next (a fresh table key per level)."""
    kw = SELECTABLE if figure is not None else {}
    table = f"{key}_{level}" if level else key
    event = st.dataframe(
        frame, hide_index=True, width="stretch", column_config=_columns(frame), key=table, **kw
    )
    downloads(frame, name, key)
    if figure is not None:
        open_selected(event, frame, figure, table)


# ---- KPI tiles ------------------------------------------------------------------------------
kpi_strip(ctx, sp.SPEND_KPIS, "spend")

tab_spend, tab_budget, tab_approval, tab_compliance = st.tabs(
    ["Spend drill-down", "Budgets", "Approvals", "Compliance"]
)


# ---- spend drill-down -----------------------------------------------------------------------
# Each tab whose widgets only change that tab is a fragment: a pick in it redraws the tab,
# not the tiles, the other tabs or the sidebar (the sidebar's filters still rerun the page).
@st.fragment(key="spend_drill")
def _drill_down() -> None:
    """The drill-down: category, supplier and item picks (or a treemap click) redraw it."""
    tree = cached(sp.spend_tree, ctx, ctx.scope, spinner="Reading spend…")
    if tree.is_empty():
        empty_slice(ctx.scope, "spend")
    else:
        st.caption(
            "Click a box in the chart, or pick a category, then a supplier, then an item: the "
            "chart, the table and the figures below follow. Click the bar above the boxes to "
            "go back up."
        )
        c1, c2, c3 = st.columns(3)
        categories = sp.drill_level(tree, None, None)["category"].to_list()
        category = c1.selectbox("Category", [ALL, *categories], key="drill_category")
        category = None if category == ALL else category
        supplier = item = None
        if category is not None:
            suppliers = sp.drill_level(tree, category, None)["supplier"].to_list()
            supplier = c2.selectbox("Supplier", [ALL, *suppliers], key="drill_supplier")
            supplier = None if supplier == ALL else supplier
        if supplier is not None:
            items = sp.drill_level(tree, category, supplier)
            labels = dict(zip(items["item_id"], items["item"], strict=True))
            item = c3.selectbox(
                "Item",
                [ALL, *labels],
                key="drill_item",
                format_func=lambda i: i if i == ALL else f"{labels[i]} ({i})",
            )
            item = None if item == ALL else item
        path = " › ".join(p for p in ("All spend", category, supplier, item) if p)
        drill = {"category": [category], "supplier": [supplier], "item_id": [item]}
        drill = {k: v for k, v in drill.items() if v != [None]}
        scoped = tree
        for k, v in drill.items():
            scoped = scoped.filter(pl.col(k) == v[0])
        st.subheader(literal(path))
        total = scoped["amount"].sum()
        st.metric(
            "Spend in scope",
            format_value(float(total), "currency", ctx.currency),
            border=True,
        )
        picks = {k: v[0] for k, v in drill.items()}
        cal = ctx.settings.fiscal
        figure_button(fr.spend_figure(ctx.scope, cal, **picks), "Rows behind", "rows_scope")
        # a click on a box drills to it (a fresh key per scope: no stale selection carries over)
        st.plotly_chart(
            spend_charts.spend_treemap(scoped, ctx.currency, path),
            key=f"c_treemap_{path}",
            on_select=partial(_drill_to_box, f"c_treemap_{path}", spend_charts.treemap_nodes(tree)),
            selection_mode="points",
        )
        level = sp.drill_level(tree, category, supplier)
        what = "Categories" if category is None else "Suppliers" if supplier is None else "Items"
        st.markdown(
            f"**{what} in {literal(path)}** (pick one above to go a level down; select a row "
            "for the invoice lines behind it)"
        )
        if item is not None:
            level = level.filter(pl.col("item_id") == item)
        column = "category" if category is None else "supplier" if supplier is None else "item_id"
        _table(
            level,
            "spend_" + path.replace(" › ", "_"),
            "drill",
            lambda row: fr.spend_figure(ctx.scope, cal, **picks, **{column: row[column]}),
            path,
        )

        monthly, pareto, by_cc = cached(_spend_views, ctx, ctx.scope.narrowed(**drill))
        st.plotly_chart(
            figure(spend_charts.spend_trend_chart, monthly, ctx.currency), key="c_spend_trend"
        )
        left, right = st.columns(2)
        with left:
            st.plotly_chart(figure(spend_charts.pareto_chart, pareto, ctx.currency), key="c_pareto")
            top = pareto.filter(pl.col("in_top_80")).height
            st.caption(f"{top} of {pareto.height} suppliers make up 80 % of the spend in scope.")
            _table(
                pareto,
                "supplier_pareto",
                "pareto",
                lambda row: fr.spend_figure(
                    ctx.scope, cal, **picks, supplier_id=row["supplier_id"]
                ),
                path,
            )
        with right:
            st.plotly_chart(
                figure(spend_charts.cost_centre_sunburst, by_cc, ctx.currency), key="c_cc_sunburst"
            )
            st.markdown("**By cost centre**")
            totals = (
                by_cc.group_by("cost_centre", "cost_centre_name")
                .agg(pl.col("amount").sum())
                .sort("amount", descending=True)
            )
            _table(
                totals,
                "spend_by_cost_centre",
                "by_cc",
                lambda row: fr.spend_figure(
                    ctx.scope, cal, **picks, cost_centre=row["cost_centre"]
                ),
                path,
            )
            with st.expander("Cost centre × category"):
                _table(by_cc, "spend_by_cost_centre_category", "by_cc_cat")


with tab_spend:
    _drill_down()


# ---- budgets --------------------------------------------------------------------------------
@st.fragment(key="spend_budgets")
def _budget_review() -> None:
    """The budget review: the fiscal year, the split and a selected line redraw it."""
    cal = ctx.settings.fiscal
    years = periods.periods_between(ctx.start, ctx.end, "year", cal)
    a, b = st.columns(2)
    fiscal_year = a.selectbox("Fiscal year", years, index=len(years) - 1, key="budget_year")
    by = b.radio(
        "Split by",
        ["cost_centre", "category"],
        horizontal=True,
        key="budget_by",
        format_func=lambda s: s.replace("_", " ").capitalize(),
    )
    # a budget review covers the fiscal year picked here, whatever the sidebar's range
    scope = honoured_scope(ctx.scope.with_period(None, None), sp.BUDGET_FILTERS, "budgets")
    year, status, by_cc, monthly = cached(
        _budgets, ctx, scope, fiscal_year, by, DEFINITIONS, spinner="Reading budgets…"
    )
    if status.is_empty():
        # no budget loaded at all asks for a load; else the year and filters leave nothing
        held = dict(cached(freshness, ctx).select("table_name", "rows").iter_rows())
        if held.get("budgets") == 0:
            empty_slice(scope, "budgets", table_rows=0, load="Load budgets on the **Data** page.")
        else:
            empty_slice(
                scope, "budgets or spend", period=fiscal_year, widen="Choose another fiscal year"
            )
    else:
        sums = {
            c: status[c].sum()
            for c in (
                "budget_year",
                "actual",
                "accrued",
                "committed",
                "forecast_year_end",
                "budget_to_date",
                "fx_variance",
            )
        }
        m = [*st.columns(3), *st.columns(3)]  # six in a row cut the amounts ("€15.…")
        for col, (k, label) in zip(
            m,
            [
                ("budget_year", f"Budget {fiscal_year}"),
                ("actual", "Actual (invoiced)"),
                ("accrued", "Accrued (received, not invoiced)"),
                ("committed", "Committed (ordered, not received)"),
                ("forecast_year_end", "Run-rate forecast, year end"),
                ("fx_variance", "Exchange-rate variance"),
            ],
            strict=True,
        ):
            v = sums[k]
            col.metric(
                label,
                format_value(None if v is None else float(v), "currency", ctx.currency, True),
                border=True,
            )
        as_of = year.as_of.isoformat() if year.as_of else "–"
        fx = sums["fx_variance"]
        if fx:
            st.info(
                f"**Exchange-rate variance {fiscal_year}: "
                + format_value(float(fx), "currency", ctx.currency, True)
                + "** — the invoices cost "
                + ("more" if fx > 0 else "less")
                + " at their own day rates than at the budget rates. It is left out of the "
                "actual and the utilisation above and shown here apart.",
                icon="💱",
            )
        st.caption(
            f"Data up to the latest invoice, **{as_of}**: {year.elapsed} of {year.months} months "
            f"of the year, at the budget rates of {fiscal_year}. " + BUDGET_RULES
        )
        over = by_cc.filter(pl.col("heading_over_budget"))
        if over.height:
            names = ", ".join(
                literal(f"{code} · {name}" if name else code)
                for code, name in over.select("cost_centre", "cost_centre_name").iter_rows()
            )
            st.warning(
                f"**{over.height} cost centre(s) heading over budget in {fiscal_year}:** {names}",
                icon="⚠️",
            )
        else:
            st.success(f"No cost centre is heading over its {fiscal_year} budget.")
        total_row = {k: v for k, v in sums.items()}
        left, right = st.columns(2)
        left.plotly_chart(
            spend_charts.burn_chart(monthly, year, total_row, ctx.currency), key="c_burn"
        )
        right.plotly_chart(spend_charts.status_chart(status, by, ctx.currency), key="c_status")
        shown = status.with_columns(
            pl.when(pl.col("heading_over_budget"))
            .then(pl.lit("⚠ heading over budget"))
            .otherwise(pl.lit("within budget"))
            .alias("status")
        ).drop("heading_over_budget")
        st.caption("Select a line for the rows behind its utilisation.")
        budget_table = shown.select("status", pl.exclude("status"))
        event = st.dataframe(
            budget_table,
            hide_index=True,
            width="stretch",
            column_config=_columns(budget_table),
            key=f"budget_{fiscal_year}_{by}",
            **SELECTABLE,
        )
        downloads(budget_table, f"budget_{fiscal_year}_{by}", "budget")
        line = selected_row(event, budget_table)
        if line is not None:
            figures = fr.budget_figures(year, by, line[by], scope, cal)
            labels = {
                "budget_utilisation": "Rows behind: used to date",
                "committed_budget_utilisation": "Rows behind: committed utilisation",
            }
            figure_buttons([(labels[f.kpi], f) for f in figures], f"budget_rows_{line[by]}")
        with st.expander("Month by month"):
            _table(monthly, f"budget_{fiscal_year}_monthly", "budget_monthly")


with tab_budget:
    _budget_review()

# ---- approvals ------------------------------------------------------------------------------
co = cached(_compliance, ctx, ctx.scope, DEFINITIONS, date.today())
_undefined = sorted(
    {
        *undefined(ctx.definitions, sp.COMPLIANCE_KPIS, "category"),
        *undefined(ctx.definitions, sp.COMPLIANCE_KPIS, "cost_centre"),
        *undefined(ctx.definitions, sp.APPROVAL_KPIS, "cost_centre"),
    }
)
if _undefined:
    st.warning(
        "No definition to compute "
        + ", ".join(literal(i) for i in _undefined)
        + " by cost centre and category (missing from the KPI definitions, or not split by "
        "them there): those figures stay empty on the approvals and compliance tabs. Fix it "
        "on the **KPI definitions** page.",
        icon="⚠️",
    )
lines, approvals, waiting, totals = co["lines"], co["approvals"], co["waiting"], co["totals"]
with tab_approval:
    if lines.is_empty() and approvals.is_empty():
        empty_slice(ctx.scope, "orders or invoices")
    else:
        ap_cc, ap_month, co_cc, co_month = co["ap_cc"], co["ap_month"], co["co_cc"], co["co_month"]
        m = st.columns(4)
        m[0].metric(
            "Approval time (mean, PO lines)",
            format_value(totals["mean_approval_days"], "days"),
            help="The KPI PO approval cycle time (po_cycle_time_days) over the period.",
            border=True,
        )
        m[1].metric(
            "Orders waiting for approval",
            f"{waiting.height:,} · "
            + format_value(float(waiting["amount"].sum() or 0), "currency", ctx.currency, True),
            border=True,
        )
        m[2].metric(
            "Invoices with no PO",
            f"{int(co_cc['no_po_invoices'].sum()):,} · "
            + format_value(
                float(co_cc["no_po_amount"].sum()), "currency", ctx.currency, compact=True
            ),
            border=True,
        )
        m[3].metric(
            "POs raised after the invoice",
            f"{int(co_cc['after_the_fact_invoices'].sum()):,} · "
            + format_value(
                float(co_cc["after_the_fact_amount"].sum()), "currency", ctx.currency, True
            ),
            border=True,
        )
        left, right = st.columns(2)
        left.plotly_chart(
            spend_charts.trend_lines(
                ap_month, {"mean_approval_days": "Mean approval days"}, "PO approval time", "days"
            ),
            key="c_approval_trend",
        )
        right.plotly_chart(
            spend_charts.trend_lines(
                co_month,
                {"maverick_rate": "No PO (maverick)", "after_the_fact_rate": "PO after invoice"},
                "Share of spend bypassing approval",
                "%",
                percent=True,
            ),
            key="c_maverick_trend",
        )
        st.markdown("**By cost centre**")
        # the sum of approval days only serves the mean beside it: not a figure to read
        joined = sp.approval_flow(ap_cc, co_cc, "cost_centre").drop("approval_days_total")
        st.caption(
            "Mean approval days and the maverick rate are the shared KPIs PO approval cycle "
            "time and maverick spend rate, computed per cost centre and month by their "
            "definitions (by PO date and by invoice date), so they follow the signed formula."
        )
        _table(joined, "approvals_by_cost_centre", "approvals_cc")
        with st.expander("Month by month"):
            monthly_flow = (
                sp.approval_flow(ap_month, co_month, "month")
                .drop("approval_days_total")
                .sort("month", descending=True)  # the latest month first
            )
            _table(monthly_flow, "approvals_by_month", "approvals_month")
        st.markdown("**Orders waiting for approval**")
        if waiting.is_empty():
            st.success("No order is waiting for approval in this period.")
        else:
            _table(waiting, "orders_waiting", "waiting")

# ---- compliance -----------------------------------------------------------------------------
with tab_compliance:
    st.caption(
        "**PO compliance** counts a line as on PO only when its PO exists, is approved and "
        "was raised on or before the invoice date; the rest is **maverick spend**. A PO "
        "raised after its invoice is off PO and also counts in the **after-the-fact PO "
        "rate**. Categories in `compliance.po_exempt_categories` (settings) leave both sides. "
        "**Purchase price variance** nets (price paid − contract price) × quantity over "
        "contracted lines; **contract overcharge** sums only the lines paid above contract "
        "(the money to recover). **Three-way match exceptions**: the whole invoice line, "
        "when its price is above the PO's or the quantity invoiced on the PO is above what "
        "was received by the invoice date."
    )
    if lines.is_empty():
        empty_slice(ctx.scope, "spend")
    else:
        by_cat = co["co_cat"]
        tot = {c: by_cat[c].sum() for c in by_cat.columns if c != "category"}
        spend_total = float(tot["spend"]) or None
        m = st.columns(4)
        for col, (label, k) in zip(
            m,
            [
                ("With preferred suppliers", "preferred_amount"),
                ("Under an active contract", "on_contract_amount"),
                ("Preferred or on contract", "managed_amount"),
                ("Off contract", "off_contract_amount"),
            ],
            strict=True,
        ):
            share = float(tot[k]) / spend_total if spend_total else None
            if k == "managed_amount":  # the KPI spend_under_management, by the engine
                share = totals["managed_share"]
            col.metric(
                label,
                format_value(share, "percent"),
                format_value(float(tot[k]), "currency", ctx.currency, True),
                delta_color="off",
                delta_arrow="off",
                border=True,
            )
        ppv = totals["on_contract_price_variance"]
        n = st.columns(2)
        n[0].metric(
            "What off-contract buying cost",
            format_value(float(tot["off_contract_premium"]), "currency", ctx.currency),
            help="Off-contract lines of items that have a contract that day: (price paid − "
            "lowest contract price) × quantity. Negative: cheaper than the contract.",
            border=True,
        )
        n[1].metric(
            "Paid above contract on contracted lines",
            format_value(None if ppv is None else float(ppv), "currency", ctx.currency),
            help="The KPI purchase price variance (purchase_price_variance) over the period.",
            border=True,
        )
        fig = spend_charts.trend_lines(
            co_month,
            {
                "managed_share": "Spend under management",
                "on_contract_share": "On contract",
                "preferred_share": "Preferred suppliers",
            },
            "Compliance per month",
            "%",
            percent=True,
        )
        st.plotly_chart(fig, key="c_compliance_trend")
        st.markdown("**Off-contract spend by category**")
        st.caption(
            "Preferred or on contract (managed share) and the price variance on contracted "
            "lines are the shared KPIs spend under management and purchase price variance, "
            "per category and month by their definitions."
        )
        _table(
            by_cat.select(
                "category",
                "spend",
                "off_contract_amount",
                "off_contract_premium",
                "on_contract_price_variance",
                "preferred_share",
                "on_contract_share",
                "managed_share",
            ).sort("off_contract_amount", descending=True),
            "compliance_by_category",
            "compliance_cat",
        )
