"""Payment terms & cash: terms and days to pay, late payments, discounts, policy, simulator."""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from kpi.analyses.terms import (
    SIMULATOR_FILTERS,
    PolicyError,
    ScenarioError,
    list_scenarios,
    load_policy,
    overdue_by_bucket,
    overdue_lines,
    payments_by_month,
    policy_breaches,
    save_scenario,
    segment_columns,
    simulate_terms,
    terms_by_segment,
)
from kpi.core.formatting import format_value
from kpi.core.permissions import PermissionDenied, may_save_scenario
from kpi.reporting import charts
from kpi.reporting import charts_working_capital as wc_charts
from kpi.reporting.figure_rows import terms_figure, terms_segment_figure
from kpi.reporting.filters_text import slice_text
from kpi.semantic.formula_guard import FormulaError
from kpi.store.database import StoreError
from kpi.store.queries.working_capital import SEGMENTS
from ui.cache import cached, figure
from ui.context import current
from ui.figure_rows import SELECTABLE, figure_button, open_selected
from ui.kpi_strip import kpi_strip
from ui.terms_proposals import proposals_tab
from ui.widgets import (
    downloads,
    empty_slice,
    honoured_scope,
    literal,
    no_data,
    table_columns,
)

ctx = current()
st.title("Payment terms & cash")
st.caption(
    "Finance wants long terms for cash; procurement knows what long terms do to suppliers, "
    "SMEs first. Both sides on the same invoices, by the date they were paid. Amounts in **"
    + ctx.currency
    + "**."
)
st.caption(
    "**The rules behind every figure here.** The due date is the one on the invoice; when it "
    "is missing, the invoice date plus the supplier's payment terms in force that day — for "
    "every figure alike. Credit notes (negative lines) are not payments: they stay in spend "
    "but are left out of days to pay, on-time and late payments. Days to pay is the "
    "amount-weighted mean of (paid date − invoice date), by the month paid. The discount "
    "offered is the one in force on the invoice date (the supplier's terms history, else "
    "today's terms), and a discount counts as captured up to what was offered, so capture "
    "never exceeds 100 %. Early payment without discount: the amount paid at least one day "
    "before its due date with no discount taken. Overdue payables: open lines past their due "
    "date on the last data day, by days past due."
)
if ctx.period is None:
    no_data("paid invoices in the store", "Load invoices and suppliers on the **Data** page.")
    st.stop()
try:
    policy = load_policy()
except PolicyError as exc:
    st.error(
        f"The payment policy cannot be read ({exc}). Fix the payment policy file in the "
        "config folder (README, 'The payment policy') or restore it from version control.",
        icon=":material/error:",
    )
    st.stop()

kpi_strip(
    ctx,
    [
        "days_to_pay",
        "on_time_payment_rate",
        "discount_capture_rate",
        "late_payment_rate_sme",
        "early_payment_without_discount",
        "overdue_payables",
    ],
    "terms",
)


# supplier sizes as people write them (the data holds codes: sme, large)
SIZE_WORDS = {"sme": "SME", "large": "Large"}


def _columns(frame: pl.DataFrame) -> dict:
    """table_columns, and what the names do not say: amounts the KPIs give as floats with
    thousands separators, days (a mean) with one decimal, dates as dates."""
    config = table_columns(frame)
    for column, dtype in frame.schema.items():
        label = config[column] if isinstance(config[column], str) else None
        if label and column == "early_payment_without_discount":
            config[column] = st.column_config.NumberColumn(label, format="accounting")
        elif label and dtype == pl.Float64 and column.endswith(("_days", "days_to_pay")):
            config[column] = st.column_config.NumberColumn(label, format="%.1f")
        elif label and dtype == pl.Date:
            config[column] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
    return config


def _total(frame: pl.DataFrame, column: str) -> float:
    return float(frame[column].sum() or 0) if not frame.is_empty() else 0.0


monthly = cached(payments_by_month, ctx, ctx.scope)
tab_terms, tab_late, tab_overdue, tab_disc, tab_policy, tab_sim, tab_prop = st.tabs(
    [
        "Terms & days to pay",
        "Late payments",
        "Overdue",
        "Discounts & early payment",
        "Policy",
        "Terms simulator",
        "Proposals",
    ],
    # ?proposal=ID (a link from the inbox) opens the proposal where it is acted on
    default="Proposals" if "proposal" in st.query_params else None,
)


# ---- terms and days to pay ----------------------------------------------------------------
# The tabs whose widgets change only themselves are fragments: a pick there redraws the tab,
# not the tiles, the other tabs or the sidebar (whose filters still rerun the page).
@st.fragment(key="terms_segment_tab")
def _terms_tab() -> None:
    """Terms and days to pay by the segment picked; a selected row opens its rows."""
    segment = st.selectbox(
        "Supplier segment",
        SEGMENTS,
        key="terms_segment",
        format_func=lambda s: s.replace("_", " ").capitalize(),
    )
    seg = cached(terms_by_segment, ctx, ctx.scope, segment)
    if seg.is_empty():
        empty_slice(ctx.scope, "invoices paid")
    else:
        codes = seg["segment"].to_list()  # the data's values, before the words people read
        if segment == "supplier_size":
            seg = seg.with_columns(pl.col("segment").replace(SIZE_WORDS))
        st.plotly_chart(figure(wc_charts.terms_by_segment, seg, segment), key="c_terms_segment")
        st.caption("Select a segment for the paid invoice lines behind its days to pay.")
        event = st.dataframe(
            seg,
            hide_index=True,
            width="stretch",
            column_config=_columns(seg),
            key=f"terms_segment_{segment}",
            **SELECTABLE,
        )
        scope, cal = ctx.scope, ctx.settings.fiscal
        code = dict(zip(seg["segment"].to_list(), codes, strict=True))
        open_selected(
            event,
            seg,
            lambda row: terms_segment_figure(segment, code[row["segment"]], scope, cal),
            f"terms_segment_{segment}",
        )
        downloads(seg, f"terms_by_{segment}", "terms_segment")
        trend = monthly.select(
            "period", "days_to_pay", pl.col("contract_terms_days").alias("terms")
        )
        st.plotly_chart(figure(charts.days_to_pay_vs_terms, trend), key="c_dtp_trend")
        st.caption(
            "Days to pay (the days_to_pay KPI) and terms are amount-weighted over the lines "
            "paid each month, credit notes left out; terms are the supplier's contractual "
            "payment terms in force on the invoice date."
        )


with tab_terms:
    _terms_tab()

# ---- late payments ------------------------------------------------------------------------
with tab_late:
    if monthly.is_empty():
        empty_slice(ctx.scope, "invoices paid")
    else:
        late_sme = _total(monthly, "late_amount_sme")
        paid_sme = _total(monthly, "paid_amount_sme")
        a, b, c = st.columns(3)
        a.metric(
            "Paid late to SMEs",
            format_value(late_sme, "currency", ctx.currency, compact=True),
            border=True,
        )
        b.metric(
            "Share of SME amount paid late",
            format_value(late_sme / paid_sme if paid_sme else None, "percent"),
            border=True,
        )
        with b:  # the box is the KPI late_payment_rate_sme over the range
            late_fig = terms_figure("late_payment_rate_sme", ctx.scope, ctx.settings.fiscal)
            figure_button(late_fig, "Rows behind", "terms_rows_late_sme")
        c.metric(
            "Paid late to other suppliers",
            format_value(_total(monthly, "late_amount_other"), "currency", ctx.currency, True),
            border=True,
        )
        st.caption(
            "Late: paid after the due date — the invoice's, or when it has none, the invoice "
            "date plus the supplier's terms in force that day. Credit notes are left out."
        )
        st.plotly_chart(figure(wc_charts.late_payments, monthly, ctx.currency), key="c_late")
        late = monthly.select(
            "period",
            "late_amount_sme",
            "late_invoices_sme",
            "paid_amount_sme",
            "late_amount_other",
            "late_invoices_other",
            "paid_amount",
            "invoices_paid",
        ).sort("period", descending=True)  # the latest month first
        st.dataframe(late, hide_index=True, width="stretch", column_config=_columns(late))
        downloads(late, "late_payments_by_month", "late")

# ---- overdue payables ---------------------------------------------------------------------
with tab_overdue:
    st.caption(
        "Open (unpaid) invoice lines past their due date on the last data day — the latest "
        "invoice or payment date in the data — whatever the period chosen in the sidebar; the "
        "due date is the invoice's, else the invoice date plus the supplier's terms in force "
        "that day. Credit notes are left out. Buckets by days past due: 1–30, 31–60, 61–90, "
        "over 90."
    )
    buckets = cached(overdue_by_bucket, ctx, ctx.scope)
    if buckets is None:
        st.info(
            "The KPI overdue payables (overdue_payables) is not among the KPI definitions: "
            "add it on the **KPI definitions** page to see this.",
            icon="ℹ️",
        )
    elif buckets.is_empty():
        chosen = slice_text({k: [literal(v) for v in vs] for k, vs in ctx.filters.items()})
        within = f" in {chosen}" if chosen else ""
        st.success(f"No open invoice{within} is past its due date on the last data day.")
    else:
        st.plotly_chart(figure(wc_charts.overdue_ageing, buckets, ctx.currency), key="c_overdue")
        lines = cached(overdue_lines, ctx, ctx.scope)
        st.dataframe(lines, hide_index=True, width="stretch", column_config=_columns(lines))
        downloads(lines, "overdue_payables", "overdue")

# ---- early-payment discounts ----------------------------------------------------------------
with tab_disc:
    if monthly.is_empty():
        empty_slice(ctx.scope, "invoices paid")
    else:
        a, b, c, d = st.columns(4)
        for col, label, column in (
            (a, "Discounts offered", "discounts_offered"),
            (b, "Discounts taken", "discounts_taken"),
            (c, "Discounts missed", "discounts_missed"),
            (d, "Paid early without discount", "early_payment_without_discount"),
        ):
            value = _total(monthly, column)
            col.metric(label, format_value(value, "currency", ctx.currency, True), border=True)
        with d:  # the KPI early_payment_without_discount over the range
            early = terms_figure("early_payment_without_discount", ctx.scope, ctx.settings.fiscal)
            figure_button(early, "Rows behind", "terms_rows_early")
        st.caption(
            "Offered: the discount in force on the invoice date, on the lines paid each month "
            "(credit notes offer none). Capture counts at most the discount offered on each "
            "line, so it never exceeds 100 %. Paid early without discount: lines paid at "
            "least one day before their due date with no discount taken — cash handed out "
            "for nothing; *days early* is its amount-weighted mean."
        )
        st.plotly_chart(figure(wc_charts.discounts, monthly, ctx.currency), key="c_disc")
        disc = monthly.select(
            "period",
            "discounts_offered",
            "discounts_taken",
            "discounts_missed",
            "early_payment_without_discount",
            "days_early_no_discount",
            "paid_amount",
        ).sort("period", descending=True)  # the latest month first
        st.dataframe(disc, hide_index=True, width="stretch", column_config=_columns(disc))
        downloads(disc, "discounts_by_month", "disc")

# ---- payment policy ---------------------------------------------------------------------------
with tab_policy:
    legal = ", ".join(f"{c} {d} days" for c, d in sorted(policy.legal_max_by_country.items()))
    st.markdown(
        f"**Target terms** {policy.target_terms_days} days · **legal maximum** {legal or '–'}"
        f" (elsewhere: {policy.legal_max_default or 'none set'}) · the payment policy both "
        "departments keep in the config folder."
    )
    breaches = cached(policy_breaches, ctx, ctx.scope, policy)
    if breaches.is_empty():
        st.success("Every supplier's contractual terms keep to the payment policy.")
    else:
        st.markdown(f"**{breaches.height} supplier(s) with terms that break the policy**")
        st.dataframe(
            breaches, hide_index=True, width="stretch", column_config=table_columns(breaches)
        )
        downloads(breaches, "payment_policy_breaches", "breaches")

# ---- terms simulator ----------------------------------------------------------------------
SIM_SAVED = "_sim_saved"  # the last save's message, shown after the rerun it causes
PRESETS = {
    "All suppliers": "",
    "Large preferred suppliers": "size = 'large' and preferred",
    "Large suppliers": "size = 'large'",
    "SMEs": "size = 'sme'",
    "Custom filter": None,
}


@st.fragment(key="terms_simulator")
def _simulator_tab() -> None:
    """The simulator: a run redraws this tab only; a save reruns the page, whose
    Proposals tab offers the saved scenario."""
    st.caption(
        "Move a segment of suppliers to new terms. Cash released follows the change in the "
        "days we **actually** pay in: spend of the last twelve months ÷ 365 × (new terms − "
        "days we pay them in today). Today's days are the days_to_pay KPI per supplier, "
        "blended by amount with its invoices still open past their due date at their age so "
        "far. Its yearly value at our cost of capital "
        f"({float(policy.cost_of_capital):.1%}); less the early-payment discounts we take "
        "today and would lose, and the price suppliers are likely to pass on, which follows "
        "the change in their **contractual** terms (their cost of capital × contractual days "
        "added ÷ 365 × spend): a supplier on 60-day terms paid in 20 and moved to 60 gives "
        "cash but no pass-through. The risk flags (SME, strategic, single source) also follow "
        "the contractual terms; *why* says it per supplier."
    )
    # the simulator moves whole suppliers: the sidebar's filters do not narrow it
    honoured_scope(ctx.scope, SIMULATOR_FILTERS, "the simulator, which moves whole suppliers")
    with st.form("sim_form"):
        a, b = st.columns([1, 2])
        days = a.number_input(
            "New terms (days)", min_value=0, max_value=365, value=90, step=5, key="sim_days"
        )
        preset = b.selectbox("Suppliers", list(PRESETS), key="sim_preset")
        custom = st.text_input(
            "Custom filter (used with 'Custom filter')",
            key="sim_where",
            placeholder="country = 'DE' and annual_spend > 100000",
            help="Columns: " + ", ".join(segment_columns(ctx.settings)),
        )
        run = st.form_submit_button("Simulate", type="primary", key="sim_run")
    if run:
        where = custom if PRESETS[preset] is None else PRESETS[preset]
        st.session_state["_sim_params"] = (int(days), where, preset)
    params = st.session_state.get("_sim_params")
    if params is None:
        st.info("Choose the suppliers and the new terms, then **Simulate**.", icon="ℹ️")
    else:
        days, where, preset = params
        try:
            scenario = cached(
                simulate_terms,
                ctx,
                days,
                where,
                policy=policy,
                currency=ctx.currency,
                spinner="Simulating…",
            )
        except FormulaError as exc:
            st.error(f"The filter cannot be used: {exc}")
            scenario = None
        except (ScenarioError, StoreError) as exc:
            st.error(str(exc))
            scenario = None
        if scenario is not None:
            s = scenario.summary
            st.markdown(
                f"**{preset}** ({s['suppliers_affected']} suppliers) **to {days} days** · spend "
                f"{scenario.window_start} to {scenario.window_end}"
            )
            # the net benefit never stands without the legal breaches beside it
            headline = st.columns(3)
            breaches = s["suppliers_over_legal_max"]
            headline[0].metric(
                "Net benefit a year",
                format_value(float(s["net_benefit"]), "currency", ctx.currency, compact=True),
                border=True,
            )
            headline[1].metric(
                "Suppliers pushed over the legal maximum",
                f"{breaches} of {s['suppliers_affected']}",
                border=True,
            )
            headline[2].metric(
                "Net benefit without them",
                format_value(
                    float(s["net_benefit_without_legal_breaches"]),
                    "currency",
                    ctx.currency,
                    compact=True,
                ),
                border=True,
            )
            if breaches:
                st.warning(
                    f"{breaches} supplier(s) would be on terms over their country's legal "
                    "maximum: that part of the benefit is not available lawfully.",
                    icon="⚖️",
                )
            tiles = [
                ("Cash released", s["cash_released"]),
                ("Yearly value of it", s["annual_financing_benefit"]),
                ("Discounts forgone", s["discounts_forgone"]),
                ("Price pass-through", s["supplier_price_passthrough"]),
            ]
            cols = [*st.columns(3), *st.columns(3)]
            for col, (label, value) in zip(cols, tiles, strict=False):
                shown = format_value(float(value), "currency", ctx.currency, compact=True)
                col.metric(label, shown, border=True)
            at_risk = f"{s['suppliers_at_risk']} of {s['suppliers_affected']}"
            cols[4].metric("Suppliers at risk", at_risk, border=True)
            if s["suppliers_affected"]:
                st.plotly_chart(
                    wc_charts.scenario_waterfall(s, ctx.currency), key="c_sim_waterfall"
                )
                table = scenario.suppliers.sort("cash_released", descending=True)
                st.dataframe(
                    table,
                    hide_index=True,
                    width="stretch",
                    column_config={
                        **table_columns(table),
                        "risk_flags": st.column_config.TextColumn("Risk", width="medium"),
                        "why": st.column_config.TextColumn("Why", width="large"),
                    },
                )
                downloads(table, f"terms_simulation_{days}d", "sim_suppliers")
            else:
                no_data("suppliers in this segment", "Choose another segment or filter.")
            st.download_button(
                "⬇ Scenario (JSON)",
                json.dumps(scenario.as_dict(), indent=2),
                file_name=f"terms_scenario_{days}d.json",
                mime="application/json",
                key="sim_json",
            )
            with st.form("sim_save"):
                name = st.text_input("Scenario name", key="sim_name")
                save = st.form_submit_button("Save scenario", key="sim_save_go")
            if not may_save_scenario(ctx.person):
                st.caption("Finance and procurement members and the CFO save scenarios.")
            if save:
                try:
                    sid = save_scenario(ctx.store, ctx.person, scenario, name)
                except (PermissionDenied, ScenarioError, StoreError) as exc:
                    st.error(str(exc))
                else:
                    st.cache_data.clear()
                    st.session_state[SIM_SAVED] = f"Scenario {sid} '{literal(name.strip())}' saved."
                    st.rerun()  # the whole page: the Proposals tab offers the new scenario
            saved_now = st.session_state.pop(SIM_SAVED, None)
            if saved_now:  # the save's outcome, after the rerun it caused
                st.success(saved_now)

    with st.expander("Saved scenarios"):
        try:
            saved = list_scenarios(ctx.store)
        except StoreError as exc:
            saved = pl.DataFrame()
            st.error(str(exc))
        if saved.is_empty():
            st.write("No scenario saved yet.")
        else:
            st.dataframe(
                saved, hide_index=True, width="stretch", column_config=table_columns(saved)
            )
            downloads(saved, "terms_scenarios", "saved")


with tab_sim:
    _simulator_tab()


# ---- terms proposals ----------------------------------------------------------------------
@st.fragment(key="terms_proposals")
def _proposals_tab() -> None:
    """The proposals: a pick or a form redraws this tab only; a write reruns the page."""
    proposals_tab(ctx, policy)


with tab_prop:
    _proposals_tab()
