"""Savings & cost avoidance: two lenses, the bridge, the initiatives ledger and finance review."""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st
from pydantic import ValidationError

from kpi.analyses.bridge import FORMULAS, savings_bridge
from kpi.analyses.savings import (
    LENSES_EXPLAINED,
    cost_avoidance_by_month,
    realised_by_month,
    two_lenses,
    year_earlier,
)
from kpi.analyses.savings import (
    per_initiative as initiative_totals,
)
from kpi.core import periods
from kpi.core.formatting import format_value
from kpi.core.permissions import PermissionDenied
from kpi.core.permissions import may_edit_initiatives as may_edit
from kpi.core.permissions import may_validate_initiatives as may_validate
from kpi.reporting import charts
from kpi.store.database import Store, StoreError
from kpi.store.schema import CURRENCIES, KINDS, STAGES
from kpi.workflows.initiative_model import Initiative, InitiativeError, field_problems
from kpi.workflows.initiatives import (
    form_choices,
    get_initiative,
    history,
    list_initiatives,
    save_initiative,
    validate_initiative,
)
from ui.context import current
from ui.widgets import downloads, no_data, table_columns

ctx = current()
st.title("Savings & cost avoidance")
st.caption(
    "One set of transactions, two meanings of savings: procurement counts a lower price, "
    "finance counts a lower expense line. Cost avoidance is kept apart and never enters P&L "
    "savings. Amounts in **" + ctx.currency + "**."
)
if ctx.period is None:
    no_data("spend in the store", "Load invoices and savings initiatives on the **Data** page.")
    st.stop()

flash = st.session_state.pop("_savings_flash", None)
if flash:  # the outcome of the last save or decision, after the page reloaded its data
    st.success(flash)

KEY = (str(ctx.store.path), ctx.version, ctx.settings)
FILTERS = ctx.filters_key


@st.cache_data(show_spinner=False)
def _lenses(path, version, settings, period, filters, currency):
    return two_lenses(Store(path, settings), period, dict(filters), currency)


@st.cache_data(show_spinner="Computing the bridge…")
def _bridge(path, version, settings, start, end, by, filters, currency):
    return savings_bridge(Store(path, settings), start, end, by, dict(filters), currency)


@st.cache_data(show_spinner=False)
def _realised(path, version, settings, start, end, filters, currency):
    f = {k: v for k, v in dict(filters).items() if k in ("category", "cost_centre")}
    store = Store(path, settings)
    return (
        realised_by_month(store, start, end, f, currency),
        cost_avoidance_by_month(store, start, end, f, currency),
    )


@st.cache_data(show_spinner=False)
def _ledger(path, version, settings, kind, stage, status, search):
    return list_initiatives(
        Store(path, settings),
        kind=list(kind),
        stage=list(stage),
        finance_status=list(status),
        search=search or None,
    )


@st.cache_data(show_spinner=False)
def _history(path, version, settings):
    return history(Store(path, settings))


@st.cache_data(show_spinner=False)
def _choices(path, version, settings):
    return form_choices(Store(path, settings))


tab_lenses, tab_bridge, tab_ledger, tab_realised, tab_avoid = st.tabs(
    ["Two lenses", "Savings bridge", "Initiatives", "Realised vs expected", "Cost avoidance"]
)

# ---- two lenses -----------------------------------------------------------------------------
with tab_lenses:
    st.subheader(f"{ctx.period}: what each department calls savings")
    lenses = _lenses(*KEY, ctx.period, FILTERS, ctx.currency)
    total = lenses.filter(pl.col("is_total")).row(0, named=True) if not lenses.is_empty() else None
    if total is None:
        no_data("savings in this period", "Choose another period in the sidebar.")
    else:
        cols = st.columns(4)
        for col, (key, label) in zip(
            cols,
            [
                ("procurement_reported", "Procurement-reported savings"),
                ("finance_recognised", "Recognised by finance"),
                ("cost_avoidance", "Cost avoidance (not P&L)"),
                ("expense_change", "Expense change vs a year earlier"),
            ],
            strict=True,
        ):
            value = total[key]
            shown = None if value is None else float(value)
            col.metric(
                label, format_value(shown, "currency", ctx.currency, compact=True), border=True
            )
        st.plotly_chart(charts.two_lenses(lenses, ctx.currency), key="c_lenses")
        st.dataframe(
            lenses.drop("is_total"),
            hide_index=True,
            width="stretch",
            column_config=table_columns(lenses),
        )
        downloads(lenses, f"two_lenses_{ctx.period}", "lenses")
        with st.expander("How the two lenses reconcile"):
            st.markdown(LENSES_EXPLAINED)

# ---- savings bridge -------------------------------------------------------------------------
with tab_bridge:
    cal = ctx.settings.fiscal
    options = periods.periods_between(ctx.start, ctx.end, "quarter", cal)
    years = periods.periods_between(ctx.start, ctx.end, "year", cal)
    prior_default = year_earlier(ctx.period, cal)
    options = sorted(set(options) | set(years) | {prior_default})
    left, mid, right = st.columns(3)
    base = left.selectbox(
        "From (prior period)", options, index=options.index(prior_default), key="bridge_from"
    )
    cur = mid.selectbox(
        "To (current period)", options, index=options.index(ctx.period), key="bridge_to"
    )
    scope = right.selectbox(
        "Waterfall scope",
        ["All spend", "category", "cost_centre", "supplier"],
        key="bridge_scope",
        format_func=lambda s: s.replace("_", " ").capitalize(),
        help="The waterfall shows all spend (with the sidebar filters); pick a dimension to "
        "show one of its values.",
    )
    try:
        overall = _bridge(*KEY, base, cur, None, FILTERS, ctx.currency)
        by_category = _bridge(*KEY, base, cur, "category", FILTERS, ctx.currency)
        row, title = overall.row(0, named=True), f"All spend, {base} → {cur}"
        if scope != "All spend":
            split = _bridge(*KEY, base, cur, scope, FILTERS, ctx.currency)
            values = [v for v in split[scope].to_list() if v is not None]
            pick = st.selectbox(scope.replace("_", " ").capitalize(), values, key="bridge_pick")
            chosen = split.filter(pl.col(scope) == pick)
            if not chosen.is_empty():
                row, title = chosen.row(0, named=True), f"{pick}, {base} → {cur}"
        st.plotly_chart(charts.bridge_waterfall(row, ctx.currency, title), key="c_bridge")
        st.markdown("**By category**")
        st.dataframe(
            by_category, hide_index=True, width="stretch", column_config=table_columns(by_category)
        )
        downloads(by_category, f"bridge_{base}_{cur}", "bridge")
        with st.expander("How the bridge is computed"):
            st.markdown(FORMULAS)
    except ValueError as exc:
        st.error(str(exc))

# ---- initiatives ledger ---------------------------------------------------------------------
with tab_ledger:
    f1, f2, f3, f4 = st.columns(4)
    kinds = f1.multiselect("Kind", KINDS, key="led_kind", placeholder="All kinds")
    stages = f2.multiselect("Stage", STAGES, key="led_stage", placeholder="All stages")
    statuses = f3.multiselect(
        "Finance status", ["pending", "accepted", "rejected"], key="led_status", placeholder="All"
    )
    search = f4.text_input("Search", key="led_search", placeholder="title, supplier, owner…")
    ledger = _ledger(*KEY, tuple(kinds), tuple(stages), tuple(statuses), search)
    if ledger.is_empty():
        no_data(
            "initiatives match",
            "Clear the filters, add one below, or load a file with "
            "`python -m kpi load savings_initiatives FILE`.",
        )
    else:
        st.dataframe(
            ledger,
            hide_index=True,
            width="stretch",
            key="ledger_table",
            column_config={
                "finance_note": st.column_config.TextColumn("Finance note", width="large")
            },
        )
        downloads(ledger, "savings_initiatives", "ledger")

    suppliers, items = _choices(*KEY)
    st.subheader("Add or edit an initiative")
    if not may_edit(ctx.person):
        st.info("Procurement members and the CFO add and edit initiatives; you can read them.")
    ids = (
        ["(new initiative)", *ledger["initiative_id"].to_list()]
        if not ledger.is_empty()
        else ["(new initiative)"]
    )
    target = st.selectbox("Initiative", ids, key="edit_pick")
    existing = None if target == "(new initiative)" else get_initiative(ctx.store, target)
    e = existing.model_dump() if existing else {}
    sfx = "new" if existing is None else existing.initiative_id  # fresh widgets per initiative
    with st.form(f"initiative_form_{sfx}"):
        a, b, c = st.columns(3)
        title = a.text_input("Title", e.get("title") or "", key=f"f_title_{sfx}")
        kind = b.selectbox(
            "Kind",
            KINDS,
            index=KINDS.index(e.get("kind") or "price_reduction"),
            key=f"f_kind_{sfx}",
        )
        stage = c.selectbox(
            "Stage",
            STAGES,
            index=STAGES.index(e.get("stage") or "identified"),
            key=f"f_stage_{sfx}",
        )
        supplier_ids = [""] + list(suppliers)
        supplier = a.selectbox(
            "Supplier",
            supplier_ids,
            index=supplier_ids.index(e.get("supplier_id") or ""),
            format_func=lambda s: suppliers.get(s, "–"),
            key=f"f_supplier_{sfx}",
        )
        item_ids = [""] + list(items)
        item = b.selectbox(
            "Item (or leave empty and give a category)",
            item_ids,
            index=item_ids.index(e.get("item_id") or ""),
            format_func=lambda i: items.get(i, "–"),
            key=f"f_item_{sfx}",
        )
        category = c.text_input("Category", e.get("category") or "", key=f"f_category_{sfx}")

        def amount(col, label: str, field: str, key: str, decimals: int = 4):
            """A non-negative number input prefilled from the initiative being edited."""
            value = e.get(field)
            return col.number_input(
                label,
                min_value=0.0,
                format=f"%.{decimals}f",
                key=f"{key}_{sfx}",
                value=None if value is None else float(value),
            )

        baseline = amount(a, "Baseline unit price", "baseline_unit_price", "f_base")
        quoted = amount(b, "Quoted unit price", "quoted_unit_price", "f_quoted")
        negotiated = amount(c, "Negotiated unit price", "negotiated_unit_price", "f_neg")
        volume = amount(a, "Expected volume", "expected_volume", "f_volume", decimals=3)
        currencies = sorted(CURRENCIES)
        currency = b.selectbox(
            "Currency",
            currencies,
            index=currencies.index(e.get("currency") or ctx.currency),
            key=f"f_currency_{sfx}",
        )
        owner = c.text_input(
            "Owner",
            e.get("owner") or (ctx.person.email if ctx.person else ""),
            key=f"f_owner_{sfx}",
        )
        start = a.date_input("Start", e.get("start_date") or date.today(), key=f"f_start_{sfx}")
        end = b.date_input("End", e.get("end_date") or None, key=f"f_end_{sfx}")
        reason = c.text_input("Why (kept in the history)", "", key=f"f_reason_{sfx}")
        submitted = st.form_submit_button("Save initiative", type="primary", key=f"f_save_{sfx}")
    if submitted:
        data = {
            "initiative_id": existing.initiative_id if existing else None,
            "title": title,
            "kind": kind,
            "stage": stage,
            "supplier_id": supplier or None,
            "item_id": item or None,
            "category": category or None,
            "baseline_unit_price": baseline,
            "quoted_unit_price": quoted,
            "negotiated_unit_price": negotiated,
            "expected_volume": volume,
            "currency": currency,
            "start_date": start,
            "end_date": end,
            "owner": owner,
        }
        try:
            saved = save_initiative(
                ctx.store, ctx.person, Initiative(**data), reason=reason or None, based_on=existing
            )
            st.cache_data.clear()
            st.success(saved.message)
        except ValidationError as exc:
            for field, problem in field_problems(exc).items():
                st.error(f"{field.replace('_', ' ')}: {problem}")
        except (PermissionDenied, InitiativeError, StoreError) as exc:
            st.error(str(exc))

    st.subheader("Finance review")
    if not may_validate(ctx.person):
        st.info(
            "Finance members and the CFO accept or reject initiatives; procurement never "
            "validates its own. Pick a finance person under **Acting as** to review."
        )
    pending = (
        ledger.filter(pl.col("finance_status") == "pending") if not ledger.is_empty() else ledger
    )
    review_ids = pending["initiative_id"].to_list() if not pending.is_empty() else []
    if not review_ids:
        st.success("Nothing waits for finance's review in this selection.")
    else:
        with st.form("review_form"):
            pick = st.selectbox(
                "Pending initiative",
                review_ids,
                key="review_pick",
                format_func=lambda i: (
                    f"{i} · " + pending.filter(pl.col("initiative_id") == i)["title"][0]
                ),
            )
            decision = st.radio(
                "Decision",
                ["accepted", "rejected"],
                horizontal=True,
                key="review_decision",
                format_func=lambda d: "Accept" if d == "accepted" else "Reject",
            )
            note = st.text_input("Reason (required)", key="review_reason")
            sent = st.form_submit_button("Record decision", type="primary", key="review_go")
        if sent:
            try:
                validate_initiative(ctx.store, ctx.person, pick, decision, note)
                st.cache_data.clear()
                st.session_state["_savings_flash"] = (
                    f"{pick}: {decision}. The status shows wherever the saving counts."
                )
                st.session_state.pop("review_reason", None)
                st.rerun()
            except (PermissionDenied, InitiativeError, ValueError, StoreError) as exc:
                st.error(str(exc))

    with st.expander("History: who changed what and when"):
        log = _history(*KEY)
        if log.is_empty():
            st.write("No changes recorded yet.")
        else:
            st.dataframe(log, hide_index=True, width="stretch")
            downloads(log, "initiative_history", "history")

# ---- realised vs expected ---------------------------------------------------------------------
realised, avoided = _realised(*KEY, ctx.start, ctx.end, FILTERS, ctx.currency)
with tab_realised:
    st.caption(
        "Realised = (baseline − unit price actually paid) × quantity actually invoiced, "
        "on the initiative's supplier and item inside its dates. Expected = expected "
        "volume × (baseline − negotiated), spread over the initiative's months. Leakage = "
        "paying above the negotiated price."
    )
    if realised.is_empty():
        no_data(
            "price-reduction initiatives with invoices in this range",
            "Widen the period in the sidebar.",
        )
    else:
        st.plotly_chart(charts.realised_vs_expected(realised, ctx.currency), key="c_realised")
        per_initiative = initiative_totals(
            realised, ["realised_saving", "expected_saving", "leakage", "off_contract_amount"]
        )
        st.dataframe(
            per_initiative,
            hide_index=True,
            width="stretch",
            column_config=table_columns(per_initiative),
        )
        downloads(realised, "realised_by_month", "realised")

with tab_avoid:
    st.caption(
        "Cost avoidance = (quoted − unit price paid) × quantity. A price rise prevented "
        "is not a lower expense: it is shown with finance's verdict and never added to "
        "P&L savings."
    )
    if avoided.is_empty():
        no_data(
            "cost-avoidance initiatives with invoices in this range",
            "Widen the period in the sidebar.",
        )
    else:
        st.plotly_chart(charts.avoidance_by_status(avoided, ctx.currency), key="c_avoid")
        per_initiative = initiative_totals(avoided, ["avoided_cost", "expected_avoidance"])
        st.dataframe(
            per_initiative,
            hide_index=True,
            width="stretch",
            column_config=table_columns(per_initiative),
        )
        downloads(avoided, "cost_avoidance_by_month", "avoided")
