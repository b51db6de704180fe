"""Quarterly goals: finance and procurement look at the facts and agree next quarter's targets."""

from __future__ import annotations

import polars as pl
import streamlit as st

from kpi.analyses.data_status import dimension_values
from kpi.analyses.goal_history import GoalError
from kpi.analyses.spend_outlook import SPEND_OUTLOOK_EXPLAINED, spend_outlook
from kpi.core.formatting import format_delta, format_value
from kpi.core.people import Person, load_people
from kpi.core.permissions import (
    OUTLOOK_EDITORS,
    PermissionDenied,
    can_edit_outlook,
    proposing_department,
)
from kpi.core.settings import kpis_path
from kpi.reporting import charts
from kpi.reporting import goals_view as view
from kpi.reporting.filters_text import active_filters
from kpi.reporting.meeting_pack import history_forecast_chart, meeting_pack_html
from kpi.store.database import Store, StoreError
from kpi.workflows.definition_versions import file_version
from kpi.workflows.definition_writer import ConflictError
from kpi.workflows.goals import agree_target, goals_overview, stored_value
from ui.context import current
from ui.widgets import definition_dialog, downloads, literal, no_data

ctx = current()
st.title("Quarterly goals")
st.caption(
    "For the joint quarterly meeting of finance and procurement: each KPI's history and "
    "forecast, procurement's price outlook, both departments' proposed targets, and the "
    "target the meeting agrees, signed by both and written into `config/kpis.yaml`."
)
if ctx.period is None:
    no_data(
        "spend in the store",
        "Load invoices on the **Data** page, or run `python -m kpi demo` to explore the demo data.",
    )
    st.stop()
if not ctx.definitions:
    no_data("KPI definitions", "Add KPIs to `config/kpis.yaml` (`python -m kpi check` helps).")
    st.stop()

for widget, blank in st.session_state.pop("_goals_reset", {}).items():
    st.session_state[widget] = blank  # empty the form a save came from, before it is drawn
flash_box = st.empty()  # always drawn, so the tabs below keep their place and selection
flash = st.session_state.pop("_goals_flash", None)
if flash:  # the outcome of the last save, after the page reloaded its data
    flash_box.success(flash)

CUR = ctx.settings.reporting_currency  # targets in kpis.yaml are in the reporting currency
KEY = (str(ctx.store.path), ctx.version, ctx.settings)
DEFS = tuple((k.id, k.formula, tuple(sorted(k.targets.items()))) for k in ctx.definitions)
FILTERS = ctx.filters_key
KPIS_PATH = kpis_path()
try:
    FILE_VERSION = file_version(KPIS_PATH)  # the version of kpis.yaml this run shows
except OSError:  # gone since the definitions were read: the save says what is wrong
    FILE_VERSION = None


@st.cache_data(show_spinner=False)
def _quarters(path, version, settings) -> list[str]:
    """The quarter after the last complete one in the data and the three after it."""
    return view.quarters_to_plan(Store(path, settings))


@st.cache_data(show_spinner="Computing the history and forecasts…")
def _facts(path, version, settings, defs_key, plan, filters):
    store = Store(path, settings)
    return view.kpi_facts(store, ctx.definitions, plan, filters, settings.reporting_currency)


@st.cache_data(show_spinner=False)
def _meeting(path, version, settings, defs_key, plan):
    return view.meeting_records(Store(path, settings), plan, ctx.definitions)


@st.cache_data(show_spinner=False)
def _outlook(path, version, settings, plan, filters):
    store = Store(path, settings)
    outlook = spend_outlook(store, plan, view.outlook_filters(filters))
    return outlook, dimension_values(store, "spend", "category")


def _proposal_card(column, dept: str, row: dict, unit: str) -> None:
    with column.container(border=True):
        value = row[f"{dept}_value"]
        st.metric(f"{dept.capitalize()} proposes", format_value(value, unit, CUR))
        if value is None:
            st.caption("No proposal yet.")
            return
        rationale = row[f"{dept}_rationale"]
        st.markdown(literal(rationale) if rationale else "*No rationale given.*")
        st.caption(view.proposal_signature(row, dept))


quarters = _quarters(*KEY)
if not quarters:
    no_data("complete quarter of spend", "Load invoices on the **Data** page.")
    st.stop()
top_left, _, top_right = st.columns([2, 2, 2], vertical_alignment="bottom")
plan = top_left.selectbox(
    "Quarter to plan",
    quarters,
    key="goals_quarter",
    help="The quarter after the last complete quarter of data, or one of the three after it.",
)


def _pack() -> bytes:
    """The meeting pack, made when the button is clicked (about two seconds)."""
    store = Store(ctx.store.path, ctx.settings)
    html = meeting_pack_html(store, ctx.definitions, plan, dict(ctx.filters), CUR)
    return html.encode("utf-8")


top_right.download_button(
    "⬇ Meeting pack (HTML)",
    _pack,
    file_name=f"meeting_pack_{plan}.html",
    mime="text/html",
    key="goals_pack",
    type="primary",
    help="One self-contained HTML file with the scorecard, the savings picture, the spend "
    "outlook and each KPI's history, forecast, proposals and decisions. It opens offline; "
    "print it from the browser for a PDF. Takes a few seconds.",
)

filtered = view.filtered_warning(active_filters(ctx.filters))
if filtered:
    st.warning(filtered, icon="⚠️")
if ctx.currency != CUR:
    st.caption(f"Targets are kept in the reporting currency, so this page shows **{CUR}**.")

history, forecasts = _facts(*KEY, DEFS, plan, FILTERS)
proposed, decisions, proposal_log, outlook_log = _meeting(*KEY, DEFS, plan)
decided = decisions.filter(pl.col("quarter") == plan)
names = {k.id: k.name for k in ctx.definitions}

tab_all, tab_kpi, tab_outlook, tab_log = st.tabs(
    ["All KPIs", "KPI by KPI", "Spend outlook", "Decision log"]
)

# ---- all KPIs ----------------------------------------------------------------------------------
with tab_all:
    table = goals_overview(history, forecasts, proposed, decided)
    one_quarter = view.single_quarter(table)
    st.caption(view.overview_caption(forecasts, plan))
    shown = view.overview_shown(table, CUR)
    st.dataframe(
        shown.select(
            "name",
            *([] if one_quarter else ["last_quarter"]),
            "last",
            "forecast",
            "range",
            "finance_value",
            "procurement_value",
            "target",
            "signed_by",
        ),
        hide_index=True,
        width="stretch",
        key="goals_overview",
        height="content",
        column_config={
            "name": st.column_config.TextColumn("KPI", width="medium"),
            "last_quarter": "Quarter",
            "last": one_quarter or "Last value",
            "forecast": "Forecast",
            "range": "Range",
            "finance_value": "Finance",
            "procurement_value": "Procurement",
            "target": "Target (kpis.yaml)",
            "signed_by": "Agreed by",
        },
    )
    downloads(table, f"goals_{plan}", "goals_overview")

# ---- one KPI at a time -------------------------------------------------------------------------
with tab_kpi:
    kpi_id = st.selectbox("KPI", list(names), key="goals_kpi", format_func=lambda i: names[i])
    kpi = next(k for k in ctx.definitions if k.id == kpi_id)
    unit = kpi.unit
    sfx = f"{kpi_id}_{plan}"  # fresh form widgets per KPI and quarter
    hist, fc, prop = view.one_kpi(kpi_id, history, forecasts, proposed)
    target = kpi.targets.get(plan)
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.caption(
        f"`{kpi.id}` · owner **{kpi.owner}** · {unit} · {kpi.direction.replace('_', ' ')} · "
        f"definition {kpi.status}. {kpi.description}"
    )
    if button.button("Definition", key="goals_definition", icon=":material/menu_book:"):
        definition_dialog(kpi, hist.select("period", "value"), CUR)

    last = view.last_complete(hist)
    m_last, m_forecast, m_target = st.columns(3)
    with m_last:
        st.metric(
            f"Last value ({last['period']})" if last else "Last value",
            format_value(last["value"] if last else None, unit, CUR),
            border=True,
        )
    with m_forecast:
        st.metric(
            f"Forecast {plan}",
            format_value(fc["forecast"], unit, CUR),
            delta=view.forecast_delta(fc["forecast"], last, unit, CUR),
            delta_color="off",
            help="Change against the last value",
            border=True,
        )
    with m_target:
        st.metric(f"Target {plan} in kpis.yaml", format_value(target, unit, CUR), border=True)
    if hist.is_empty() and fc["forecast"] is None:
        no_data(f"quarters of {literal(kpi.name)} before {plan}", "Load more history.")
    else:
        fig = history_forecast_chart(hist, fc, kpi.name, unit, kpi.targets, CUR)
        charts.add_proposals(fig, plan, prop["finance_value"], prop["procurement_value"], unit)
        st.plotly_chart(fig, key=f"c_goal_{kpi_id}")
    st.markdown(f"**Forecast method.** {fc['method_text']}")
    with st.expander(f"Quarterly history ({hist.height} quarters)"):
        if hist.is_empty():
            st.write("No quarter of data before the planned one.")
        else:
            st.dataframe(view.history_shown(hist, CUR), hide_index=True, width="stretch")
            downloads(hist, f"history_{kpi_id}_{plan}", "goals_history")

    st.subheader(f"Proposed targets for {plan}")
    fin_col, proc_col = st.columns(2)
    _proposal_card(fin_col, "finance", prop, unit)
    _proposal_card(proc_col, "procurement", prop, unit)
    if prop["gap"] is not None:
        st.caption(
            f"Procurement's proposal − finance's: **{format_delta(prop['gap'], unit, CUR)}**"
        )
    mine = decided.filter(pl.col("kpi") == kpi_id)
    if not mine.is_empty():
        decision = view.agreed_text(mine.row(0, named=True), plan, unit, CUR)
        st.success(decision, icon=":material/verified:")
    kpi_log = proposal_log.filter(pl.col("kpi") == kpi_id)
    if not kpi_log.is_empty():
        with st.expander(f"Every proposal for {literal(kpi.name)} in {plan} ({kpi_log.height})"):
            st.dataframe(kpi_log, hide_index=True, width="stretch")
            downloads(kpi_log, f"proposals_{kpi_id}_{plan}", "goals_kpi_proposals")

    label, step, number_format = view.target_input(unit, CUR)
    propose_col, agree_col = st.columns(2)

    # ---- propose -----------------------------------------------------------------------------
    with propose_col:
        st.markdown("**Propose your department's target**")
        try:
            dept = proposing_department(ctx.person)
        except PermissionDenied as exc:
            dept = None
            st.info(f"{exc} Pick one of them under **Acting as** to propose.")
        own = prop.get(f"{dept}_value") if dept else None
        with st.form(f"propose_{sfx}"):
            value = st.number_input(
                f"{(dept or 'Your department').capitalize()}'s target for {plan} ({label})",
                value=view.start_value(own, fc["forecast"], unit),
                step=step,
                format=number_format,
                key=f"prop_value_{sfx}",
            )
            why = st.text_area(
                "Rationale",
                key=f"prop_why_{sfx}",
                placeholder="What it rests on: the forecast, the price outlook, initiatives…",
            )
            sent = st.form_submit_button("Propose target", key=f"prop_go_{sfx}")
        if sent:
            try:
                row = view.propose(
                    ctx.store, ctx.person, plan, kpi_id, value, unit, why, ctx.definitions
                )
                st.session_state["_goals_flash"] = view.proposed_message(
                    row, literal(kpi.name), plan, unit, CUR
                )
                st.session_state["_goals_reset"] = {f"prop_why_{sfx}": ""}
                st.rerun()
            except (PermissionDenied, GoalError, StoreError) as exc:
                st.error(str(exc))

    # ---- agree -------------------------------------------------------------------------------
    with agree_col:
        st.markdown("**Record the agreed target (both departments sign)**")
        try:
            people = load_people()
        except (OSError, ValueError) as exc:
            people = []
            st.error(f"config/people.yaml: {exc}")
        signers = view.signers_by_department(people)
        me = ctx.person.email if ctx.person else None

        def _signer_box(col, dept: str) -> str | None:
            options = list(signers[dept])
            return col.selectbox(
                f"Signs for {dept}",
                options,
                index=options.index(me) if me in options else 0,
                format_func=lambda e, d=dept: signers[d][e].name,
                key=f"agree_{dept}_{sfx}",
                placeholder=f"Nobody in people.yaml signs for {dept}",
            )

        seen = st.session_state.get("_goals_seen_version") or FILE_VERSION
        with st.form(f"agree_{sfx}"):
            left, right = st.columns(2)
            fin = _signer_box(left, "finance")
            proc = _signer_box(right, "procurement")
            agreed = st.number_input(
                f"Agreed target for {plan} ({label})",
                value=view.start_value(target, fc["forecast"], unit),
                step=step,
                format=number_format,
                key=f"agree_value_{sfx}",
            )
            reason = st.text_area(
                "Rationale (kept in the decision log and in the history of kpis.yaml)",
                key=f"agree_why_{sfx}",
            )
            both = st.checkbox(
                "Both signers agreed this target in the meeting", key=f"agree_ok_{sfx}"
            )
            go = st.form_submit_button(
                "Record agreed target", type="primary", key=f"agree_go_{sfx}"
            )
    if go:
        by_email: dict[str, Person] = {**signers["finance"], **signers["procurement"]}
        who = ctx.person.label if ctx.person else "Nobody"
        problem = view.agreement_problem(me, fin, proc, both, agreed, who)
        if problem:
            st.error(problem)
        else:
            try:
                agree_target(
                    ctx.store,
                    KPIS_PATH,
                    by_email.get(fin),
                    by_email.get(proc),
                    plan,
                    kpi_id,
                    stored_value(agreed, unit),
                    reason,
                    seen,
                )
            except ConflictError as exc:
                st.error(str(exc))
                theirs, yours = st.columns(2)
                theirs.markdown("**In the file now (saved by someone else)**")
                theirs.code(exc.current_entry_yaml or "(the KPI is no longer in the file)", "yaml")
                yours.markdown("**Your change**")
                yours.code(exc.proposed_entry_yaml or "(could not be applied)", "yaml")
                st.info(
                    "Nothing was saved. The page now shows the file as it is: check the "
                    "target above and record the agreement again."
                )
            except (PermissionDenied, ValueError, StoreError, OSError) as exc:
                st.error(str(exc))
            else:
                st.cache_data.clear()  # the definitions now carry the new target
                st.session_state["_goals_flash"] = view.agreed_message(
                    literal(kpi.name),
                    stored_value(agreed, unit),
                    unit,
                    CUR,
                    plan,
                    by_email[fin].name,
                    by_email[proc].name,
                )
                st.session_state["_goals_reset"] = {
                    f"agree_why_{sfx}": "",
                    f"agree_ok_{sfx}": False,
                }
                st.rerun()

# ---- spend outlook -----------------------------------------------------------------------------
with tab_outlook:
    outlook, categories = _outlook(*KEY, plan, FILTERS)
    base_q = outlook["base_quarter"][0]
    st.caption(
        f"Spend forecast for **{plan}** per category: spend of {base_q} × (1 + volume trend) "
        "× (1 + procurement's expected price change). Amounts in " + CUR + "."
    )
    if outlook["base_spend"].null_count() == outlook.height:
        no_data(
            f"base for {plan}",
            f"The forecast starts from the spend of {base_q}, the same quarter a year earlier, "
            "and the store does not hold all of it. Load that quarter's invoices, or plan a "
            "later quarter.",
        )
    else:
        st.plotly_chart(charts.spend_outlook_bars(outlook, CUR), key="c_outlook")
    st.dataframe(
        outlook.select(
            "category",
            "base_spend",
            "volume_trend",
            "expected_change_pct",
            "spend_forecast",
            pl.col("price_note").fill_null(""),
        ),
        hide_index=True,
        width="stretch",
        height="content",
        key="goals_outlook",
        column_config={
            "category": "Category",
            "base_spend": st.column_config.NumberColumn(f"Spend {base_q}", format="accounting"),
            "volume_trend": st.column_config.NumberColumn("Volume trend", format="percent"),
            "expected_change_pct": st.column_config.NumberColumn(
                "Expected price change", format="%+.1f %%"
            ),
            "price_note": st.column_config.TextColumn("Procurement's note", width="large"),
            "spend_forecast": st.column_config.NumberColumn(
                f"Forecast {plan}", format="accounting"
            ),
        },
    )
    downloads(outlook, f"spend_outlook_{plan}", "goals_outlook")
    with st.expander("How the spend outlook is computed"):
        st.markdown(SPEND_OUTLOOK_EXPLAINED)

    st.subheader(f"Procurement's price outlook for {plan}")
    if not can_edit_outlook(ctx.person):
        st.info(
            f"{OUTLOOK_EDITORS.capitalize()} set the price outlook; you can read it here. "
            "Pick one of them under **Acting as** to change it."
        )
    editable = view.outlook_editable(outlook, categories)
    with st.form(f"outlook_form_{plan}"):
        edited = st.data_editor(
            editable,
            hide_index=True,
            width="stretch",
            height="content",
            disabled=["category"],
            key=f"outlook_edit_{plan}",
            column_config={
                "category": "Category",
                "expected_change_pct": st.column_config.NumberColumn(
                    "Expected price change (%)",
                    help="Percent points against the same quarter a year earlier: 3.5 means "
                    "prices 3.5 % higher.",
                    format="%+.1f",
                    min_value=-99.9,
                    max_value=1000.0,
                    step=0.1,
                ),
                "note": st.column_config.TextColumn("Note", width="large", max_chars=500),
            },
        )
        save = st.form_submit_button(
            "Save price outlook", type="primary", key=f"outlook_save_{plan}"
        )
    if save:
        changed = view.outlook_edits(pl.DataFrame(edited), editable)
        saved, failed = view.save_outlook_edits(ctx.store, ctx.person, plan, changed)
        for problem in failed:
            st.error(problem)
        if not saved and not failed:
            st.info("Nothing changed: edit a price change or a note, then save.")
        if saved and not failed:
            st.session_state["_goals_flash"] = (
                f"Price outlook for {plan} saved: {', '.join(saved)}."
            )
            st.session_state.pop(f"outlook_edit_{plan}", None)
            st.rerun()
        elif saved:
            st.success(f"Saved: {', '.join(saved)}. Fix the others and save again.")

    with st.expander(f"Changes to the price outlook for {plan} ({outlook_log.height})"):
        if outlook_log.is_empty():
            st.write("No change recorded for this quarter yet.")
        else:
            st.dataframe(outlook_log, hide_index=True, width="stretch")
            downloads(outlook_log, f"price_outlook_changes_{plan}", "goals_outlook_log")

# ---- decision log ------------------------------------------------------------------------------
with tab_log:
    st.subheader("Agreed targets")
    if decisions.is_empty():
        no_data(
            "agreed targets",
            "Agree one in **KPI by KPI**: pick the two signers, the value and the rationale.",
        )
    else:
        log = view.decisions_table(decisions, names)
        st.dataframe(
            log,
            hide_index=True,
            width="stretch",
            key="goals_decisions",
            column_config={
                "decided_at": st.column_config.DatetimeColumn(
                    "Decided (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "rationale": st.column_config.TextColumn("Rationale", width="large"),
            },
        )
        downloads(log, "goal_decisions", "goals_decisions")
    st.subheader(f"Every proposal for {plan}")
    if proposal_log.is_empty():
        no_data(f"proposals for {plan}", "Propose a target in **KPI by KPI**.")
    else:
        st.dataframe(proposal_log, hide_index=True, width="stretch", key="goals_proposals")
        downloads(proposal_log, f"target_proposals_{plan}", "goals_proposals")

st.session_state["_goals_seen_version"] = FILE_VERSION  # the version this run showed
