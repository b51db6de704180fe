"""The Quarterly goals page's KPI by KPI tab: one KPI's facts, both departments' proposals,
the form to propose a target and the form the acting person signs a target with, for their
own department (the other department signs apart; the same value twice agrees it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from kpi.core.formatting import format_value
from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied, approving_department
from kpi.reporting import charts
from kpi.reporting import goals_view as view
from kpi.reporting.meeting_pack import history_forecast_chart
from kpi.reporting.target_units import stored_target, target_input
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import StoreError
from kpi.workflows.definition_writer import ConflictError
from kpi.workflows.goals import GoalError
from ui.context import Context
from ui.goals_page import FLASH, RESET, SEEN, SENT, Meeting
from ui.threads import GOAL_LINKED, goal_discussion
from ui.widgets import (
    definition_dialog,
    downloads,
    known_people,
    literal,
    no_data,
    show_table,
)


def kpi_tab(ctx: Context, m: Meeting, kpis_path: Path, file_version: str | None) -> None:
    """One KPI: its facts, both departments' proposals, and the forms to propose a target
    and to sign one for the acting person's department."""
    kpi_id = st.selectbox("KPI", list(m.names), key="goals_kpi", format_func=lambda i: m.names[i])
    kpi = next(k for k in ctx.definitions if k.id == kpi_id)
    people = known_people()  # once per run: every signature is checked against it
    sfx = f"{kpi_id}_{m.plan}"  # fresh form widgets per KPI and quarter
    linked = st.session_state.get(GOAL_LINKED) == (m.plan, kpi_id)
    if linked:  # opened from a thread link: the discussion first, the facts and forms below
        goal_discussion(ctx, m.plan, kpi)
    hist, fc, prop = view.one_kpi(kpi_id, m.history, m.forecasts, m.proposed)
    target = kpi.targets.get(m.plan)
    _kpi_facts(kpi, m, hist, fc, prop, target, people)
    _proposals(kpi, m, prop)
    how_typed = target_input(kpi.unit, m.currency)
    propose_col, sign_col = st.columns(2)
    with propose_col:
        _propose_form(ctx, kpi, m, sfx, prop, fc["forecast"], how_typed)
    with sign_col:
        signature = _sign_form(ctx, kpi, m, sfx, fc["forecast"], how_typed, people)
    if signature is not None:
        seen = st.session_state.get(SEEN) or file_version
        _record_signature(ctx, kpi, m, sfx, kpis_path, seen, signature, people)
    if not linked:
        goal_discussion(ctx, m.plan, kpi)


def _kpi_facts(
    kpi: KpiDefinition,
    m: Meeting,
    hist: pl.DataFrame,
    fc: dict[str, Any],
    prop: dict[str, Any],
    target: Any,
    people: list[Person],
) -> None:
    """The KPI's definition line, last value, forecast and target, chart and history."""
    unit, plan, cur = kpi.unit, m.plan, m.currency
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.caption(view.kpi_caption(kpi, people))
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
            help=view.forecast_delta_help(unit),
            border=True,
        )
    with m_target:
        st.metric(
            f"Target {plan}",
            format_value(target, unit, cur),
            help="The target written in the shared KPI definitions.",
            border=True,
        )
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
            show_table(kpi_log)
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
    """The acting person's department proposes its target, with a rationale; someone who may
    not propose sees the form disabled, with why (kpi/ refuses the proposal all the same)."""
    label, step, number_format = how_typed
    st.markdown("**Propose your department's target**")
    blocked = view.propose_blocked(ctx.person)
    dept = approving_department(ctx.person)
    if blocked:
        st.info(blocked, icon=":material/lock:")
    own = prop.get(f"{dept}_value") if dept else None
    with st.form(f"propose_{sfx}"):
        value = st.number_input(
            f"{(dept or 'Your department').capitalize()}'s target for {m.plan} ({label})",
            value=view.start_value(own, forecast, kpi.unit),
            step=step,
            format=number_format,
            key=f"prop_value_{sfx}",
            disabled=blocked is not None,
        )
        why = st.text_area(
            "Rationale",
            key=f"prop_why_{sfx}",
            placeholder="What it rests on: the forecast, the price outlook, initiatives…",
            disabled=blocked is not None,
        )
        sent = st.form_submit_button(
            "Propose target", key=f"prop_go_{sfx}", disabled=blocked is not None
        )
    if not sent:
        return
    if _sent_twice(("propose", sfx, value)):
        return  # the second click of a double click: proposed once already
    try:
        row = view.propose(
            ctx.store, ctx.person, m.plan, kpi.id, value, kpi.unit, why, ctx.definitions
        )
        _remember_sent(("propose", sfx, value))
        st.session_state[FLASH] = view.proposed_message(
            row, literal(kpi.name), m.plan, kpi.unit, m.currency
        )
        st.session_state[RESET] = {f"prop_why_{sfx}": ""}
        st.rerun()
    except (PermissionDenied, GoalError, StoreError) as exc:
        st.error(str(exc))


def _sent_twice(what: tuple) -> bool:
    """Whether this exact proposal (KPI, quarter, value) was the last one saved in this
    session: a double click, or Enter pressed twice, records it once."""
    if st.session_state.get(SENT) != what:
        return False
    st.info("This proposal is recorded already: change the value to propose another.")
    return True


def _remember_sent(what: tuple) -> None:
    st.session_state[SENT] = what


@dataclass(frozen=True)
class Signature:
    """What the signing form was sent with."""

    value: float | None  # as typed (a percent KPI's target in percent); None: not typed
    reason: str


def _sign_form(
    ctx: Context,
    kpi: KpiDefinition,
    m: Meeting,
    sfx: str,
    forecast: float | None,
    how_typed: tuple[str, float, str],
    people: list[Person],
) -> Signature | None:
    """Who has signed which target and who still has to, and the form the acting person
    signs with, for their own department only; what it was sent with, or None. The target
    field starts empty: the signer types the target they sign, so Enter never signs a
    value the form chose for them."""
    label, step, number_format = how_typed
    dept = approving_department(ctx.person)
    st.markdown(f"**Sign this target for {dept or 'your department'}**")
    st.markdown(view.signatures_text(kpi, m.plan, people, m.currency))
    blocked = view.sign_blocked(ctx.person)
    if blocked:
        st.info(blocked)
    else:
        note = view.sign_note(kpi, m.plan, str(dept), people, m.currency)
        if note:
            st.warning(note, icon=":material/draw:")
    with st.form(f"sign_{sfx}"):
        value = st.number_input(
            f"Target for {m.plan} ({label})",
            value=None,
            step=step,
            format=number_format,
            key=f"sign_value_{sfx}",
            placeholder=view.sign_placeholder(kpi, m.plan, kpi.unit),
            disabled=blocked is not None,
        )
        reason = st.text_area(
            "Rationale (kept in the decision log and in the definition's history)",
            key=f"sign_why_{sfx}",
            disabled=blocked is not None,
        )
        go = st.form_submit_button(
            f"Sign for {dept}" if dept else "Sign",
            type="primary",
            key=f"sign_go_{sfx}",
            disabled=blocked is not None,
        )
    return Signature(value, reason) if go else None


def _record_signature(
    ctx: Context,
    kpi: KpiDefinition,
    m: Meeting,
    sfx: str,
    kpis_path: Path,
    seen: str | None,
    s: Signature,
    people: list[Person],
) -> None:
    """Sign the target for the acting person's department (kpi/ checks who may), and say
    what it did: agreed, or waiting for the other department. Signing the target the
    department's signature already holds (a double click) records nothing twice."""
    dept = approving_department(ctx.person)
    typed = stored_target(s.value, kpi.unit)
    if dept and view.already_signed(kpi, m.plan, dept, typed, people):
        st.info(
            f"{dept.capitalize()} has signed {format_value(typed, kpi.unit, m.currency)} already."
        )
        return
    try:
        result = view.sign(
            ctx.store,
            kpis_path,
            ctx.person,
            m.plan,
            kpi.id,
            s.value,
            kpi.unit,
            s.reason,
            seen,
            people,
        )
    except ConflictError as exc:
        _show_conflict(exc)
    except (PermissionDenied, ValueError, StoreError, OSError) as exc:
        st.error(str(exc))
    else:
        assert ctx.person is not None  # sign_target refuses nobody
        st.cache_data.clear()  # the definitions now carry the new target
        st.session_state[FLASH] = view.signed_message(
            result,
            literal(kpi.name),
            typed,
            kpi.unit,
            m.currency,
            m.plan,
            str(approving_department(ctx.person)),
            ctx.person.name,
        )
        st.session_state[RESET] = {f"sign_why_{sfx}": ""}
        st.rerun()


def _show_conflict(exc: ConflictError) -> None:
    """Someone saved the definitions meanwhile: their entry and this change, side by side."""
    st.error(str(exc))
    theirs, yours = st.columns(2)
    theirs.markdown("**In the file now (saved by someone else)**")
    theirs.code(exc.current_entry_yaml or "(the KPI is no longer in the file)", "yaml")
    yours.markdown("**Your change**")
    yours.code(exc.proposed_entry_yaml or "(could not be applied)", "yaml")
    st.info(
        "Nothing was saved. The page now shows the file as it is: check the "
        "target and the signatures above, and sign again."
    )
