"""The Quarterly goals page's KPI by KPI tab: one KPI's facts, both departments' proposals,
the form to propose a target and the form both signers record the agreed one with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from kpi.core.formatting import format_value
from kpi.core.people import Person, load_people
from kpi.core.permissions import PermissionDenied
from kpi.reporting import charts
from kpi.reporting import goals_view as view
from kpi.reporting.meeting_pack import history_forecast_chart
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import StoreError
from kpi.workflows.definition_writer import ConflictError
from kpi.workflows.goals import GoalError, agree_target, proposing_department, stored_value
from ui.context import Context
from ui.goals_page import FLASH, RESET, SEEN, Meeting
from ui.widgets import definition_dialog, downloads, literal, no_data


def kpi_tab(ctx: Context, m: Meeting, kpis_path: Path, file_version: str | None) -> None:
    """One KPI: its facts, both departments' proposals, and the forms to propose a target
    and to record the agreed one."""
    kpi_id = st.selectbox("KPI", list(m.names), key="goals_kpi", format_func=lambda i: m.names[i])
    kpi = next(k for k in ctx.definitions if k.id == kpi_id)
    sfx = f"{kpi_id}_{m.plan}"  # fresh form widgets per KPI and quarter
    hist, fc, prop = view.one_kpi(kpi_id, m.history, m.forecasts, m.proposed)
    target = kpi.targets.get(m.plan)
    _kpi_facts(kpi, m, hist, fc, prop, target)
    _proposals(kpi, m, prop)
    how_typed = view.target_input(kpi.unit, m.currency)
    propose_col, agree_col = st.columns(2)
    with propose_col:
        _propose_form(ctx, kpi, m, sfx, prop, fc["forecast"], how_typed)
    with agree_col:
        agreement = _agree_form(ctx, m, sfx, target, fc["forecast"], kpi.unit, how_typed)
    if agreement is not None:
        seen = st.session_state.get(SEEN) or file_version
        _record_agreement(ctx, kpi, m, sfx, kpis_path, seen, agreement)


def _kpi_facts(
    kpi: KpiDefinition,
    m: Meeting,
    hist: pl.DataFrame,
    fc: dict[str, Any],
    prop: dict[str, Any],
    target: Any,
) -> None:
    """The KPI's definition line, last value, forecast and target, chart and history."""
    unit, plan, cur = kpi.unit, m.plan, m.currency
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.caption(view.kpi_caption(kpi))
    if button.button("Definition", key="goals_definition", icon=":material/menu_book:"):
        definition_dialog(kpi, hist.select("period", "value"), cur)
    last = view.last_complete(hist)
    m_last, m_forecast, m_target = st.columns(3)
    with m_last:
        st.metric(
            view.last_value_label(last),
            format_value(last["value"] if last else None, unit, cur),
            border=True,
        )
    with m_forecast:
        st.metric(
            f"Forecast {plan}",
            format_value(fc["forecast"], unit, cur),
            delta=view.forecast_delta(fc["forecast"], last, unit, cur),
            delta_color="off",
            help="Change against the last value",
            border=True,
        )
    with m_target:
        st.metric(f"Target {plan} in kpis.yaml", format_value(target, unit, cur), border=True)
    _kpi_chart(kpi, m, hist, fc, prop)


def _kpi_chart(
    kpi: KpiDefinition, m: Meeting, hist: pl.DataFrame, fc: dict[str, Any], prop: dict[str, Any]
) -> None:
    if hist.is_empty() and fc["forecast"] is None:
        no_data(f"quarters of {literal(kpi.name)} before {m.plan}", "Load more history.")
    else:
        fig = history_forecast_chart(hist, fc, kpi.name, kpi.unit, kpi.targets, m.currency)
        charts.add_proposals(
            fig, m.plan, prop["finance_value"], prop["procurement_value"], kpi.unit
        )
        st.plotly_chart(fig, key=f"c_goal_{kpi.id}")
    st.markdown(f"**Forecast method.** {fc['method_text']}")
    with st.expander(f"Quarterly history ({hist.height} quarters)"):
        if hist.is_empty():
            st.write("No quarter of data before the planned one.")
        else:
            st.dataframe(view.history_shown(hist, m.currency), hide_index=True, width="stretch")
            downloads(hist, f"history_{kpi.id}_{m.plan}", "goals_history")


def _proposals(kpi: KpiDefinition, m: Meeting, prop: dict[str, Any]) -> None:
    """Both departments' proposals side by side, the agreed target and every proposal."""
    st.subheader(f"Proposed targets for {m.plan}")
    fin_col, proc_col = st.columns(2)
    _proposal_card(fin_col, "finance", prop, kpi.unit, m.currency)
    _proposal_card(proc_col, "procurement", prop, kpi.unit, m.currency)
    gap = view.gap_text(prop["gap"], kpi.unit, m.currency)
    if gap is not None:
        st.caption(gap)
    mine = m.decided.filter(pl.col("kpi") == kpi.id)
    if not mine.is_empty():
        decision = view.agreed_text(mine.row(0, named=True), m.plan, kpi.unit, m.currency)
        st.success(decision, icon=":material/verified:")
    kpi_log = m.proposal_log.filter(pl.col("kpi") == kpi.id)
    if not kpi_log.is_empty():
        with st.expander(f"Every proposal for {literal(kpi.name)} in {m.plan} ({kpi_log.height})"):
            st.dataframe(kpi_log, hide_index=True, width="stretch")
            downloads(kpi_log, f"proposals_{kpi.id}_{m.plan}", "goals_kpi_proposals")


def _proposal_card(column, dept: str, row: dict, unit: str, currency: str) -> None:
    with column.container(border=True):
        value = row[f"{dept}_value"]
        st.metric(f"{dept.capitalize()} proposes", format_value(value, unit, currency))
        if value is None:
            st.caption("No proposal yet.")
            return
        rationale = row[f"{dept}_rationale"]
        st.markdown(literal(rationale) if rationale else "*No rationale given.*")
        st.caption(view.proposal_signature(row, dept))


def _propose_form(
    ctx: Context,
    kpi: KpiDefinition,
    m: Meeting,
    sfx: str,
    prop: dict[str, Any],
    forecast: float | None,
    how_typed: tuple[str, float, str],
) -> None:
    """The acting person's department proposes its target, with a rationale."""
    label, step, number_format = how_typed
    st.markdown("**Propose your department's target**")
    try:
        dept = proposing_department(ctx.person)
    except PermissionDenied as exc:
        dept = None
        st.info(f"{exc} Pick one of them under **Acting as** to propose.")
    own = prop.get(f"{dept}_value") if dept else None
    with st.form(f"propose_{sfx}"):
        value = st.number_input(
            f"{(dept or 'Your department').capitalize()}'s target for {m.plan} ({label})",
            value=view.start_value(own, forecast, kpi.unit),
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
    if not sent:
        return
    try:
        row = view.propose(
            ctx.store, ctx.person, m.plan, kpi.id, value, kpi.unit, why, ctx.definitions
        )
        st.session_state[FLASH] = view.proposed_message(
            row, literal(kpi.name), m.plan, kpi.unit, m.currency
        )
        st.session_state[RESET] = {f"prop_why_{sfx}": ""}
        st.rerun()
    except (PermissionDenied, GoalError, StoreError) as exc:
        st.error(str(exc))


@dataclass(frozen=True)
class Agreement:
    """What the agreement form was sent with."""

    me: str | None  # the email of the person recording it
    signers: dict[str, dict[str, Person]]  # who may sign, per department, by email
    finance: str | None
    procurement: str | None
    value: float | None  # as typed (a percent KPI's target in percent)
    reason: str
    both_agreed: bool


def _signer_box(col, dept: str, signers: dict, me: str | None, sfx: str) -> str | None:
    options = list(signers[dept])
    return col.selectbox(
        f"Signs for {dept}",
        options,
        index=view.signer_index(options, me),
        format_func=lambda e, d=dept: signers[d][e].name,
        key=f"agree_{dept}_{sfx}",
        placeholder=f"Nobody in people.yaml signs for {dept}",
    )


def _agree_form(
    ctx: Context,
    m: Meeting,
    sfx: str,
    target: Any,
    forecast: float | None,
    unit: str,
    how_typed: tuple[str, float, str],
) -> Agreement | None:
    """The form both signers' agreement is recorded with; what it was sent with, or None."""
    label, step, number_format = how_typed
    st.markdown("**Record the agreed target (both departments sign)**")
    try:
        people = load_people()
    except (OSError, ValueError) as exc:
        people = []
        st.error(f"config/people.yaml: {exc}")
    signers = view.signers_by_department(people)
    me = ctx.person.email if ctx.person else None
    with st.form(f"agree_{sfx}"):
        left, right = st.columns(2)
        fin = _signer_box(left, "finance", signers, me, sfx)
        proc = _signer_box(right, "procurement", signers, me, sfx)
        agreed = st.number_input(
            f"Agreed target for {m.plan} ({label})",
            value=view.start_value(target, forecast, unit),
            step=step,
            format=number_format,
            key=f"agree_value_{sfx}",
        )
        reason = st.text_area(
            "Rationale (kept in the decision log and in the history of kpis.yaml)",
            key=f"agree_why_{sfx}",
        )
        both = st.checkbox("Both signers agreed this target in the meeting", key=f"agree_ok_{sfx}")
        go = st.form_submit_button("Record agreed target", type="primary", key=f"agree_go_{sfx}")
    return Agreement(me, signers, fin, proc, agreed, reason, both) if go else None


def _record_agreement(
    ctx: Context,
    kpi: KpiDefinition,
    m: Meeting,
    sfx: str,
    kpis_path: Path,
    seen: str | None,
    a: Agreement,
) -> None:
    """Check the agreement, write it into kpis.yaml and the decision log, and say so."""
    by_email: dict[str, Person] = {**a.signers["finance"], **a.signers["procurement"]}
    who = ctx.person.label if ctx.person else "Nobody"
    problem = view.agreement_problem(a.me, a.finance, a.procurement, a.both_agreed, a.value, who)
    if problem:
        st.error(problem)
        return
    try:
        value = stored_value(a.value, kpi.unit)
        agree_target(
            ctx.store,
            kpis_path,
            by_email.get(a.finance),
            by_email.get(a.procurement),
            m.plan,
            kpi.id,
            value,
            a.reason,
            seen,
        )
    except ConflictError as exc:
        _show_conflict(exc)
    except (PermissionDenied, ValueError, StoreError, OSError) as exc:
        st.error(str(exc))
    else:
        st.cache_data.clear()  # the definitions now carry the new target
        st.session_state[FLASH] = view.agreed_message(
            literal(kpi.name),
            value,
            kpi.unit,
            m.currency,
            m.plan,
            by_email[a.finance].name,
            by_email[a.procurement].name,
        )
        st.session_state[RESET] = {f"agree_why_{sfx}": "", f"agree_ok_{sfx}": False}
        st.rerun()


def _show_conflict(exc: ConflictError) -> None:
    """Someone saved kpis.yaml meanwhile: their entry and this change, side by side."""
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
