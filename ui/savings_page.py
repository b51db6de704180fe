"""The Savings page's tabs, one function each: the two lenses, the savings bridge, the
initiatives ledger (with finance review; the edit form is ui.savings_form), realised
savings and cost avoidance. The figures come from kpi.analyses, the texts and checks from
kpi.reporting.savings_view."""

from __future__ import annotations

import polars as pl
import streamlit as st

from kpi.analyses.bridge import FORMULAS, BridgeError, bridge_periods, savings_bridge
from kpi.analyses.bridge import RULES as BRIDGE_RULES
from kpi.analyses.savings import (
    ACCEPTANCE_FILTERS,
    LENSES_EXPLAINED,
    MONTHLY_FILTERS,
    PIPELINE_FILTERS,
    claims_by_status,
    cost_avoidance_by_month,
    incomplete,
    period_bounds,
    pipeline,
    realised_by_month,
    savings_rules,
    two_lenses,
)
from kpi.analyses.savings import (
    per_initiative as initiative_totals,
)
from kpi.core import periods
from kpi.core.formatting import format_value
from kpi.core.permissions import (
    PermissionDenied,
    initiative_review_refusal,
)
from kpi.reporting import charts
from kpi.reporting import savings_view as view
from kpi.reporting.figure_rows import initiative_figure
from kpi.store.database import StoreError
from kpi.store.schema import KINDS, STAGES
from kpi.workflows.initiative_model import (
    MONEY_FIELDS,
    InitiativeError,
    numbers_hash,
)
from kpi.workflows.initiatives import (
    history,
    list_initiatives,
    validate_initiative,
)
from ui.cache import cached, figure
from ui.context import Context
from ui.figure_rows import SELECTABLE, open_selected
from ui.initiative_evidence import evidence, opened_from_link, told
from ui.kpi_strip import kpi_strip
from ui.savings_form import FLASH, initiative_form
from ui.threads import initiative_discussion
from ui.widgets import downloads, honoured_scope, no_data, show_table, table_columns

TABS = ("Two lenses", "Savings bridge", "Initiatives", "Realised vs expected", "Cost avoidance")
THREAD_PICK = "thr_initiative_pick"  # the initiative whose thread is shown
TAB_KEY = "savings_tab"  # the tabs keep their state: a save or a decision stays on its tab
# the savings KPIs shown above the lenses, through the engine like every KPI figure
SAVINGS_KPIS = (
    "savings_acceptance_rate",
    "savings_share_of_addressable_spend",
    "savings_realised_vs_expected",
)
# ---- two lenses ------------------------------------------------------------------------------


def two_lenses_tab(ctx: Context) -> None:
    """What each department calls savings in the sidebar's period, side by side."""
    st.subheader(f"{ctx.period}: what each department calls savings")
    lenses = cached(two_lenses, ctx, ctx.scope.with_period(None, None), ctx.period)
    figures = view.lens_figures(lenses)
    if figures is None:
        no_data("savings in this period", "Choose another period in the sidebar.")
        return
    for col, (label, value) in zip(st.columns(4), figures, strict=True):
        shown = format_value(value, "currency", ctx.currency, compact=True)
        if label != view.EXPENSE_METRIC:
            col.metric(label, shown, border=True)
            continue
        # finance's lens: a rise is a cost; the words say so, beside an arrow up in red
        rise = value is not None and value > 0
        col.metric(
            label,
            ("+" if rise else "") + shown,
            delta=view.expense_reading(value),
            delta_color="red" if rise else "green" if value else "gray",
            delta_arrow="up" if rise else "down" if value else "off",
            border=True,
        )
    st.markdown(view.TWO_LENSES_READING)
    st.plotly_chart(figure(charts.two_lenses, lenses, ctx.currency), key="c_lenses")
    st.dataframe(
        lenses.drop("is_total"),
        hide_index=True,
        width="stretch",
        column_config=table_columns(lenses),
    )
    downloads(lenses, f"two_lenses_{ctx.period}", "lenses")
    with st.expander("How the two lenses reconcile"):
        st.markdown(LENSES_EXPLAINED)
    _savings_kpis(ctx)
    with st.expander("How a saving counts: one initiative per line, window, stage, currency"):
        st.markdown(savings_rules(ctx.settings.savings_window_months))


def _savings_kpis(ctx: Context) -> None:
    """The acceptance rate with the claims still pending beside it, the share of
    addressable spend and realised against expected, in the scorecard quarter."""
    kpi_strip(ctx, SAVINGS_KPIS, "savings")
    if ctx.period is None:
        return
    start, end = periods.period_range(ctx.period, ctx.settings.fiscal)
    scope = honoured_scope(ctx.scope.with_period(start, end), ACCEPTANCE_FILTERS, "pending")
    claims = cached(claims_by_status, ctx, scope)
    pending = claims.filter(pl.col("finance_status") == "pending")["claimed"]
    amount = pending[0] if pending.len() else 0
    st.caption(
        f"**Pending finance's review in {ctx.period}: "
        f"{format_value(amount, 'currency', ctx.currency, compact=True)}** of claimed savings "
        "and avoidance. The acceptance rate is accepted ÷ (accepted + rejected) by amount: "
        "pending claims are in neither, so they are shown here beside it. Share of "
        "addressable spend: realised savings ÷ spend in the categories that hold a "
        "price-reduction initiative. Realised vs expected: realised ÷ the expected saving "
        "of the implemented and realised initiatives in the quarter."
    )


# ---- savings bridge --------------------------------------------------------------------------


@st.fragment(key="savings_bridge")
def bridge_tab(ctx: Context) -> None:
    """The bridge from a prior period's spend to the current one, as a waterfall; periods
    that overlap, or differ in length without the box ticked, are refused with the reason.
    A fragment: its periods, scope and pick redraw the bridge only."""
    options, prior = view.bridge_periods(ctx.start, ctx.end, ctx.period, ctx.settings.fiscal)
    left, mid, right = st.columns(3)
    base = left.selectbox(
        "From (prior period)", options, index=options.index(prior), key="bridge_from"
    )
    cur = mid.selectbox(
        "To (current period)", options, index=options.index(ctx.period), key="bridge_to"
    )
    scope = right.selectbox(
        "Waterfall scope",
        list(view.BRIDGE_SCOPES),
        key="bridge_scope",
        format_func=view.scope_label,
        help="The waterfall shows all spend (with the sidebar filters); pick a dimension to "
        "show one of its values.",
    )
    unequal = st.checkbox(
        "Compare periods of different length",
        key="bridge_unequal",
        help="A fiscal year against a quarter is refused unless you tick this.",
    )
    st.caption("  \n".join(f"• {rule}" for rule in BRIDGE_RULES))
    try:
        bridge_periods(base, cur, ctx.store, unequal)
    except BridgeError as exc:
        st.error(f"Cannot compare these periods: {exc}.")
        return
    try:
        _bridge_figures(ctx, base, cur, scope, unequal)
    except ValueError as exc:
        st.error(str(exc))


def _bridge_figures(ctx: Context, base: str, cur: str, scope: str, unequal: bool) -> None:
    overall = _bridge(ctx, base, cur, None, unequal)
    by_category = _bridge(ctx, base, cur, "category", unequal)
    row, title = overall.row(0, named=True), f"All spend, {base} → {cur}"
    if scope != "All spend":
        split = _bridge(ctx, base, cur, scope, unequal)
        values = [v for v in split[scope].to_list() if v is not None]
        pick = st.selectbox(view.scope_label(scope), values, key="bridge_pick")
        chosen = split.filter(pl.col(scope) == pick)
        if not chosen.is_empty():
            row, title = chosen.row(0, named=True), f"{pick}, {base} → {cur}"
    st.plotly_chart(charts.bridge_waterfall(row, ctx.currency, title), key="c_bridge")
    st.markdown("**By category** (the rows add up to all spend in every column)")
    st.dataframe(
        by_category, hide_index=True, width="stretch", column_config=table_columns(by_category)
    )
    downloads(by_category, f"bridge_{base}_{cur}", "bridge")
    with st.expander("How the bridge is computed"):
        st.markdown(FORMULAS)


# ---- initiatives ledger ----------------------------------------------------------------------


@st.fragment(key="savings_ledger")
def ledger_tab(ctx: Context) -> None:
    """The initiatives ledger, the form to add or edit one, finance's review and the history.

    A fragment: the ledger's filters and picks redraw this tab only; a save or a decision
    reruns the whole page (st.rerun), whose figures it changes."""
    flash = st.session_state.pop(FLASH, None)
    if flash:  # the outcome of the last save or decision, after the page reloaded its data
        st.success(flash)
    ledger = _ledger_table(ctx)
    _incomplete(ctx)
    initiative_form(ctx, ledger)
    _finance_review(ctx, ledger)
    initiative_discussion(ctx, ledger, THREAD_PICK)
    with st.expander("History: who changed what and when"):
        log = cached(history, ctx)
        if log.is_empty():
            st.write("No changes recorded yet.")
        else:
            show_table(log)
            downloads(log, "initiative_history", "history")


def _ledger_table(ctx: Context) -> pl.DataFrame:
    f1, f2, f3, f4 = st.columns(4)
    kinds = f1.multiselect("Kind", KINDS, key="led_kind", placeholder="All kinds")
    stages = f2.multiselect("Stage", STAGES, key="led_stage", placeholder="All stages")
    statuses = f3.multiselect(
        "Finance status", list(view.FINANCE_STATUSES), key="led_status", placeholder="All"
    )
    search = f4.text_input("Search", key="led_search", placeholder="title, supplier, owner…")
    ledger = cached(
        list_initiatives,
        ctx,
        kind=list(kinds),
        stage=list(stages),
        finance_status=list(statuses),
        search=search or None,
    )
    if ledger.is_empty():
        no_data(
            "initiatives match",
            "Clear the filters, add one below, or load a file with "
            "`python -m kpi load savings_initiatives FILE`.",
        )
        return ledger
    show_table(
        ledger.sort("initiative_id", descending=True),  # newest first (ids count up)
        key="ledger_table",
        column_config={"finance_note": st.column_config.TextColumn("Finance note", width="large")},
    )
    downloads(ledger.sort("initiative_id", descending=True), "savings_initiatives", "ledger")
    return ledger


def _incomplete(ctx: Context) -> None:
    """The priced initiatives that claim nothing until they are completed, and why."""
    missing = cached(incomplete, ctx)
    if missing.is_empty():
        return
    st.warning(
        f"{missing.height} initiative(s) are incomplete and claim no saving whatever their "
        "stage: an initiative without a start date has no window, and a category-wide one "
        "needs its price change in percent. Edit them below."
    )
    show_table(missing, key="incomplete_table")


def _finance_review(ctx: Context, ledger: pl.DataFrame) -> None:
    """Finance's verdict on a pending initiative: the reviewer picks Accept or Reject (none
    is preselected, so Enter never records one); read-only with the reason for others."""
    st.subheader("Finance review")
    refusal = initiative_review_refusal(ctx.person)  # the same sentence the write raises
    if refusal:
        st.info(
            f"{refusal} Procurement never validates its own claims; the form is shown read-only.",
            icon=":material/lock:",
        )
    pending = view.pending_review(ledger)
    review_ids = pending["initiative_id"].to_list() if not pending.is_empty() else []
    if not review_ids:
        st.success("Nothing waits for finance's review in this selection.")
        return
    opened_from_link(review_ids)  # ?initiative=ID (the inbox) picks it, once
    pick = st.selectbox(
        "Pending initiative",
        review_ids,
        key="review_pick",
        format_func=lambda i: view.review_label(pending, i),
    )
    # the numbers the reviewer judges, shown here; their fingerprint goes with the verdict,
    # which is refused when the stored numbers changed since this page read them
    shown = pending.filter(pl.col("initiative_id") == pick)
    numbers = shown.select("initiative_id", *[c for c in MONEY_FIELDS if c in shown.columns])
    show_table(numbers, key="review_numbers")
    numbers_seen = numbers_hash(shown.row(0, named=True))
    locked = refusal is not None
    beside = evidence(ctx, shown.row(0, named=True))  # the evidence beside the verdict
    with beside, st.form("review_form", enter_to_submit=False):
        decision = st.radio(
            "Decision",
            list(view.DECISIONS),
            index=None,
            horizontal=True,
            key="review_decision",
            format_func=view.decision_label,
            disabled=locked,
        )
        note = st.text_input("Reason (required)", key="review_reason", disabled=locked)
        sent = st.form_submit_button(
            "Record decision", type="primary", key="review_go", disabled=locked
        )
    if not sent:
        return
    missing = view.verdict_missing(decision)
    if missing:
        st.error(missing)
        return
    try:
        validate_initiative(ctx.store, ctx.person, pick, decision, note, numbers_seen=numbers_seen)
        st.cache_data.clear()
        heard = told(ctx, pick, decision, note)  # procurement hears it in the thread
        st.session_state[FLASH] = view.decision_message(pick, decision) + heard
        for key in ("review_reason", "review_decision", "review_pick"):
            st.session_state.pop(key, None)  # the next review starts blank
        st.rerun()
    except (PermissionDenied, InitiativeError, ValueError, StoreError) as exc:
        st.error(str(exc))


# ---- realised vs expected, cost avoidance ----------------------------------------------------


def realised_figures(ctx: Context) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Realised savings and cost avoidance per initiative and month, in the sidebar's range;
    a sidebar filter these figures cannot honour is named on the page."""
    bounds = period_bounds(ctx.start, ctx.end, ctx.settings.fiscal)
    scope = honoured_scope(ctx.scope.with_period(*bounds), MONTHLY_FILTERS, "these figures")
    return cached(realised_by_month, ctx, scope), cached(cost_avoidance_by_month, ctx, scope)


def _bridge(ctx: Context, base: str, cur: str, by: str | None, unequal: bool) -> pl.DataFrame:
    scope = ctx.scope.with_period(None, None)
    return cached(
        savings_bridge, ctx, scope, base, cur, by, unequal, spinner="Computing the bridge…"
    )


def pipeline_figures(ctx: Context) -> pl.DataFrame:
    """The expected saving of the initiatives not yet implemented, in the sidebar's range."""
    bounds = period_bounds(ctx.start, ctx.end, ctx.settings.fiscal)
    scope = honoured_scope(ctx.scope.with_period(*bounds), PIPELINE_FILTERS, "the pipeline")
    return cached(pipeline, ctx, scope)


def pipeline_section(ctx: Context) -> None:
    """The pipeline: promised, not realised; never added to realised savings."""
    st.markdown("**Pipeline: initiatives not yet implemented**")
    st.caption(
        "Identified, negotiating and contracted initiatives claim no realised saving. Their "
        "expected saving (expected volume × (baseline − negotiated), spread over the months "
        "of their window) in the sidebar's range is the pipeline, shown apart."
    )
    frame = pipeline_figures(ctx)
    if frame.is_empty():
        st.write("No initiative in the pipeline expects savings in this range.")
        return
    st.dataframe(frame, hide_index=True, width="stretch", column_config=table_columns(frame))


def realised_tab(realised: pl.DataFrame, ctx: Context) -> None:
    """Realised against expected savings of the price-reduction initiatives; a selected
    initiative opens the invoice lines behind its realised savings."""
    currency = ctx.currency
    st.caption(view.REALISED_EXPLAINED)
    st.caption(
        "Each invoice line counts for one initiative (an item's before a category-wide one), "
        "inside the initiative's window and only once it is implemented or realised; lines "
        "in another currency are converted at the invoice date's rate."
    )
    if realised.is_empty():
        no_data(
            "price-reduction initiatives with invoices in this range",
            "Widen the period in the sidebar.",
        )
        return
    st.plotly_chart(figure(charts.realised_vs_expected, realised, currency), key="c_realised")
    per_initiative = initiative_totals(realised, list(view.REALISED_COLUMNS))
    st.caption("Select an initiative for the invoice lines behind its realised savings.")
    event = st.dataframe(
        per_initiative,
        hide_index=True,
        width="stretch",
        column_config=table_columns(per_initiative),
        key="realised_initiatives",
        **SELECTABLE,
    )
    scope, cal = ctx.scope, ctx.settings.fiscal
    open_selected(
        event,
        per_initiative,
        lambda row: initiative_figure(row["initiative_id"], scope, cal),
        "realised_initiatives",
    )
    downloads(realised, "realised_by_month", "realised")


def avoidance_tab(avoided: pl.DataFrame, currency: str) -> None:
    """Cost avoided by the cost-avoidance initiatives, with finance's verdict."""
    st.caption(view.AVOIDANCE_EXPLAINED)
    if avoided.is_empty():
        no_data(
            "cost-avoidance initiatives with invoices in this range",
            "Widen the period in the sidebar.",
        )
        return
    st.plotly_chart(figure(charts.avoidance_by_status, avoided, currency), key="c_avoid")
    per_initiative = initiative_totals(avoided, list(view.AVOIDED_COLUMNS))
    st.dataframe(
        per_initiative,
        hide_index=True,
        width="stretch",
        column_config=table_columns(per_initiative),
    )
    downloads(avoided, "cost_avoidance_by_month", "avoided")
