"""The KPI definitions page's parts, one function each: the banner over a file broken by
hand, the catalogue with its filters (folded above the KPI when a thread link opened it),
and one KPI's tabs (definition, approvals, edit, history, discussion). The form for editing
and adding is in ui.definition_editor; the texts, tables and checks come from
kpi.reporting.definitions_form."""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl
import streamlit as st

from kpi.analyses.scorecard import THEMES
from kpi.core.people import Person
from kpi.core.permissions import approver_refusal, approving_department
from kpi.reporting import definitions_form as defs
from kpi.semantic.definitions import check_file
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.workflows.definition_saves import approve_kpi
from kpi.workflows.definition_versions import (
    SIGNED_SHOWN,
    approvals_state,
    catalogue,
    effective_status,
    file_version,
    history_problems,
    kpi_history,
)
from kpi.workflows.definition_writer import ConflictError, InvalidEdit
from kpi.workflows.threads import OPEN_PARAM
from ui.context import Context
from ui.definition_editor import (
    ERROR,
    FLASH,
    OWNERS,
    STATUSES,
    WRITE_ERRORS,
    blocked,
    broken_file,
    edit_tab,
)
from ui.threads import kpi_discussion, open_kpi_link
from ui.widgets import downloads, known_people, literal, no_data, person_name, show_table

APPROVED = "_def_approved"  # (kpi, file version, approver) of the last approval this session
LINKED = "_def_linked"  # the KPI a thread link opened, while it stays picked

# ---- the file broken by hand -----------------------------------------------------------------


def broken_banner(ctx: Context, path: Path) -> None:
    """What is wrong with kpis.yaml, what the app falls back to and what is off."""
    issues = check_file(path, ctx.settings)
    kept = len(ctx.definitions)
    st.error(defs.broken_file_message(path.name, kept), icon=":material/block:")
    if issues:
        table = defs.issues_table(issues)
        for i in issues[:5]:
            st.markdown(defs.issue_line(i))
        with st.expander(f"All {len(issues)} problem(s) as a table"):
            st.dataframe(table, hide_index=True, width="stretch")
            downloads(table, "kpi_definitions_problems", "broken")
    else:
        st.code(ctx.definitions_problem or "", language="text")


# ---- the catalogue ---------------------------------------------------------------------------


def catalogue_tab(ctx: Context, path: Path) -> None:
    """Every KPI in a table to filter and pick from, and the picked KPI's tabs."""
    people = known_people()  # once per run: every approval is checked against it
    table = catalogue(ctx.definitions, people)
    if table.is_empty():
        no_data("KPI definitions", "Add one in the **Add a KPI** tab.")
        return
    ids = tuple(table["id"].to_list())
    linked = _linked_kpi(ids)
    # opened from a link, the KPI's box comes first: the catalogue waits folded above it
    holder = (
        st.expander(f"The catalogue ({len(ids)} KPIs): open it to pick another KPI")
        if linked
        else st.container()
    )
    with holder:
        table = _filtered(table).drop("description")
        if table.is_empty():
            no_data("KPIs match", "Clear the search or the filters.")
            return
        kpi = _pick(ctx, table)
    st.subheader(literal(kpi.name))
    st.caption(defs.kpi_caption(kpi, people))
    # keyed: after a save or an approval the page stays on the tab it was made in
    t_def, t_appr, t_edit, t_hist, t_talk = st.tabs(
        ["Definition", "Approvals", "Edit", "History", "Discussion"],
        key="def_kpi_tab",
        on_change="rerun",
    )
    with t_def:
        _definition(ctx, kpi)
    with t_appr:
        _approvals(ctx, path, kpi, people)
    with t_edit:
        edit_tab(ctx, path, kpi)
    with t_hist:
        _history(path, kpi.id)
    with t_talk:
        kpi_discussion(ctx, kpi)  # the KPI's thread, or its value's in one quarter


def _linked_kpi(ids: tuple[str, ...]) -> str | None:
    """The KPI a thread link opened, while it stays picked. The link's address stays (marked
    `discussion=shown`) so a reload opens the same thread again; picking another KPI drops it."""
    params = st.query_params
    reloaded = "def_pick" not in st.session_state  # a new session, or back from another page
    if reloaded and params.get(OPEN_PARAM) == "shown" and params.get("kpi") in ids:
        params[OPEN_PARAM] = "open"
    asked = {k: params[k] for k in ("kpi", "period") if params.get(k)}
    if open_kpi_link(ids):  # an inbox link to a KPI's thread picks the KPI and its Discussion
        st.session_state[LINKED] = st.session_state["def_pick"]
        params.update({**asked, OPEN_PARAM: "shown"})
    linked = st.session_state.get(LINKED)
    if linked is not None and linked != st.session_state.get("def_pick"):
        linked = st.session_state[LINKED] = None  # another KPI picked: the usual layout again
        for k in ("kpi", "period", OPEN_PARAM):
            params.pop(k, None)
    return linked


def _filtered(catalogue: pl.DataFrame) -> pl.DataFrame:
    a, b, c, d = st.columns([2, 1, 1, 1])
    search = a.text_input("Search", key="def_search", placeholder="id, name or description…")
    owners = b.multiselect("Owner", OWNERS, key="def_owner", placeholder="All owners")
    statuses = c.multiselect("Status", STATUSES, key="def_status", placeholder="All statuses")
    themes = d.multiselect(
        "Theme", list(THEMES), key="def_theme", format_func=THEMES.get, placeholder="All themes"
    )
    return defs.filter_catalogue(catalogue, search, owners, statuses, themes)


def _pick_from_table(ids: tuple[str, ...]) -> None:
    rows = st.session_state["def_table"]["selection"]["rows"]
    if rows:
        st.session_state["def_pick"] = ids[rows[0]]


def _pick(ctx: Context, table: pl.DataFrame) -> KpiDefinition:
    """The catalogue table (a row picks a KPI) and the KPI box; returns the picked KPI."""
    ids = tuple(table["id"].to_list())
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=min(780, 38 + 35 * table.height),
        key="def_table",
        on_select=functools.partial(_pick_from_table, ids),
        selection_mode="single-row",
        column_config={
            "id": st.column_config.TextColumn("Id", width="medium"),
            "name": st.column_config.TextColumn("KPI", width="medium"),
            "owner": "Owner",
            "theme": "Theme",
            "unit": st.column_config.TextColumn("Unit", width="small"),
            "status": st.column_config.TextColumn("Status", width="small"),
            "finance_approval": st.column_config.TextColumn("Finance approval"),
            "procurement_approval": st.column_config.TextColumn("Procurement approval"),
            "to_sign": st.column_config.TextColumn(
                "Still to sign",
                help="Departments whose approval of the current content is missing or does "
                "not count (no hash, a signer the app does not know, wrong department, "
                "older content): pick the KPI to see why.",
            ),
        },
    )
    downloads(table, "kpi_definitions", "table")
    names = dict(zip(table["id"], table["name"], strict=True))
    if st.session_state.get("def_pick") not in ids:
        st.session_state["def_pick"] = ids[0]
    pick = st.selectbox("KPI", ids, key="def_pick", format_func=lambda i: f"{names[i]} · {i}")
    return next(k for k in ctx.definitions if k.id == pick)


# ---- one KPI: definition, approvals, history -------------------------------------------------


def _definition(ctx: Context, kpi: KpiDefinition) -> None:
    st.markdown(literal(kpi.description))  # data text: shown as typed, never as markup
    left, right = st.columns(2)
    left.markdown("**Finance reads it as**")
    left.markdown(literal(kpi.readings.finance))
    right.markdown("**Procurement reads it as**")
    right.markdown(literal(kpi.readings.procurement))
    st.markdown(f"**Formula** over the view `{kpi.source}`, periods by `{kpi.period_by}`")
    st.code(kpi.formula, language="sql")
    st.markdown(defs.summary_line(kpi))
    raci = kpi.raci
    st.markdown(
        f"**Owner** {literal(kpi.owner)} · **RACI** responsible {literal(raci.responsible)} · "
        f"accountable {literal(raci.accountable)} · consulted "
        f"{literal(', '.join(raci.consulted) or '–')} · informed "
        f"{literal(', '.join(raci.informed) or '–')}"
    )
    if kpi.notes:
        st.caption(literal(kpi.notes))
    st.markdown("**Targets**")
    if not kpi.targets:
        st.caption("No targets yet: the owner adds them in the **Edit** tab.")
        return
    targets = defs.targets_table(kpi, ctx.currency)
    st.dataframe(targets.drop("value"), hide_index=True, height=min(400, 36 + 35 * len(targets)))
    downloads(targets, f"{kpi.id}_targets", f"targets_{kpi.id}")


def _approve(
    path: Path,
    settings,
    kpi_id: str,
    version: str,
    person: Person,
    dept: str,
    note_key: str,
    people: list[Person],
) -> None:
    """Button callback: approve what the person saw (the file version of that run). A second
    click on the same version (a double click) approves nothing twice."""
    done = (kpi_id, version, person.email)
    if st.session_state.get(APPROVED) == done:
        return
    try:
        result = approve_kpi(
            path,
            person,
            kpi_id,
            version,
            st.session_state.get(note_key, ""),
            people=people,
            settings=settings,
        )
    except ConflictError:
        st.session_state[ERROR] = defs.approve_conflict_message(kpi_id)
    except (InvalidEdit, *WRITE_ERRORS) as exc:
        st.session_state[ERROR] = str(exc)
    else:
        st.session_state[APPROVED] = done
        st.session_state[FLASH] = defs.approved_message(kpi_id, dept, person.name, result.status)
        st.session_state.pop(note_key, None)
        st.cache_data.clear()
    # the whole page, not only the catalogue's fragment: the message above the tabs, the
    # definitions and the sidebar's banner follow the approval
    st.rerun()


def _approvals(ctx: Context, path: Path, kpi: KpiDefinition, people: list[Person]) -> None:
    state = approvals_state(kpi, people)
    status = effective_status(kpi, people)
    table = defs.approvals_table(kpi, people)
    st.markdown(defs.status_line(kpi, people))
    show_table(table)
    downloads(table, f"{kpi.id}_approvals", f"approvals_{kpi.id}")
    dept = approving_department(ctx.person)
    step = defs.approval_step(
        state, status, dept, broken_file(ctx, path), approver_refusal(ctx.person)
    )
    blocked(step)
    if step is not None and step[0] == "success":  # agreed: nothing left to approve
        return
    note_key = f"approve_{kpi.id}_note"
    st.text_input("Note (optional, kept in the history)", key=note_key, disabled=bool(step))
    if step is not None:  # shown, disabled, with why above it
        st.button(
            f"Approve this version for {dept or 'your department'}",
            key=f"approve_{kpi.id}",
            type="primary",
            disabled=True,
            help=step[1],
        )
        return
    st.button(
        f"Approve this version for {dept}",
        key=f"approve_{kpi.id}",
        type="primary",
        on_click=_approve,
        args=(path, ctx.settings, kpi.id, file_version(path), ctx.person, dept, note_key, people),
        help=f"You approve the {SIGNED_SHOWN} shown here, for {dept} only. "
        "Any later change to them voids the approval.",
    )


def _history(path: Path, kpi_id: str) -> None:
    records = kpi_history(path, kpi_id)
    for problem in history_problems(path):
        st.warning(literal(f"The history was changed after it was written: {problem}"))
    if not records:
        st.caption("No change of this KPI was saved from the app yet.")
        return
    table = defs.history_table(records)
    show_table(table)
    downloads(table, f"{kpi_id}_history", f"history_{kpi_id}")
    for n, r in enumerate(records[:10]):
        heading = defs.history_heading({**r, "who": person_name(r.get("who"))})
        with st.expander(literal(heading), expanded=n == 0):
            st.markdown(f"**Why:** {literal(r.get('why') or '–')}")
            if r.get("diff"):
                st.code(r["diff"], language="diff")
            if r.get("cleared_approvals"):
                st.caption("Approvals cleared: " + ", ".join(r["cleared_approvals"]))
    if len(records) > 10:
        st.caption(f"The {len(records) - 10} older changes are in the download.")
