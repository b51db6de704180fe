"""KPI definitions: the catalogue both departments sign, editing with live checks and a
preview of the values, two-key approval and the history of every change."""

from __future__ import annotations

import contextlib
import functools
from typing import get_args

import duckdb
import polars as pl
import streamlit as st

from kpi.analyses.scorecard import THEMES
from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied, approving_department, may_edit_kpi
from kpi.core.settings import kpis_path
from kpi.reporting import charts
from kpi.reporting import definitions_form as defs
from kpi.reporting.filters_text import active_filters
from kpi.semantic.definitions import (
    Direction,
    Issue,
    KpiDefinition,
    Owner,
    Status,
    Unit,
    UnknownKpi,
    check_file,
)
from kpi.semantic.engine import ComputeError
from kpi.store.database import Store, StoreError
from kpi.store.sql import view_catalog
from kpi.workflows.definition_saves import add_kpi, approve_kpi, edit_kpi
from kpi.workflows.definition_versions import (
    approvals_state,
    catalogue,
    check_candidate,
    effective_status,
    entry_text,
    entry_version,
    file_version,
    kpi_history,
    read_entry,
    targets_from_rows,
)
from kpi.workflows.definition_writer import ConflictError, EditError, InvalidEdit
from kpi.workflows.yaml_splice import BrokenFile
from ui.context import current
from ui.widgets import downloads, literal, no_data

OWNERS: tuple[str, ...] = get_args(Owner)
UNITS: tuple[str, ...] = get_args(Unit)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
STATUSES: tuple[str, ...] = get_args(Status)
FLASH, ERROR = "_definitions_flash", "_definitions_error"
WRITE_ERRORS = (PermissionDenied, EditError, BrokenFile, UnknownKpi, StoreError, OSError)

ctx = current()
PATH = kpis_path()
st.title("KPI definitions")
st.caption(
    "One definition per KPI, signed by finance and procurement. Owners edit their KPIs; "
    "changing what was signed (view, period column, formula or targets) sends an agreed KPI "
    "back to *proposed* until both departments approve the new version."
)

flash = st.session_state.pop(FLASH, None)
if flash:  # the outcome of the last save or approval, after the page reloaded the file
    st.success(flash)
problem = st.session_state.pop(ERROR, None)
if problem:
    st.error(problem)
if "_def_pick_next" in st.session_state:  # a KPI just added: show it
    st.session_state["def_pick"] = st.session_state.pop("_def_pick_next")


# ---- reading and checking ------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def _issues(text: str, settings) -> list[Issue]:
    return check_candidate(text, settings)[1]


@st.cache_data(show_spinner="Computing the preview…")
def _values(path, version, settings, text, start, end, filters, currency) -> pl.DataFrame:
    store = Store(path, settings)
    return defs.preview_values(store, text, start, end, dict(filters), currency, settings)


def _acting() -> str:
    return ctx.person.label if ctx.person else "nobody (not signed in)"


def _broken() -> str | None:
    """The file's name when it is broken by hand (editing, adding and approving are off)."""
    return PATH.name if ctx.definitions_problem else None


def _blocked(step: tuple[str, str] | None) -> bool:
    """Show why an action is off (a kpi/ decision), if it is; True when it was off."""
    if step is None:
        return False
    kind, message = step
    icons = {"warning": ":material/lock:", "success": None, "info": None}
    getattr(st, kind)(message, icon=icons[kind])
    return True


# ---- the catalogue ---------------------------------------------------------------------------


def _broken_banner() -> None:
    issues = check_file(PATH, ctx.settings)
    kept = len(ctx.definitions)
    st.error(defs.broken_file_message(PATH.name, kept), icon=":material/block:")
    if issues:
        table = defs.issues_table(issues)
        for i in issues[:5]:
            st.markdown(defs.issue_line(i))
        with st.expander(f"All {len(issues)} problem(s) as a table"):
            st.dataframe(table, hide_index=True, width="stretch")
            downloads(table, "kpis_yaml_problems", "broken")
    else:
        st.code(ctx.definitions_problem or "", language="text")


def _pick_from_table(ids: tuple[str, ...]) -> None:
    rows = st.session_state["def_table"]["selection"]["rows"]
    if rows:
        st.session_state["def_pick"] = ids[rows[0]]


def _filtered(catalogue: pl.DataFrame) -> pl.DataFrame:
    a, b, c, d = st.columns([2, 1, 1, 1])
    search = a.text_input("Search", key="def_search", placeholder="id, name or description…")
    owners = b.multiselect("Owner", OWNERS, key="def_owner", placeholder="All owners")
    statuses = c.multiselect("Status", STATUSES, key="def_status", placeholder="All statuses")
    themes = d.multiselect(
        "Theme", list(THEMES), key="def_theme", format_func=THEMES.get, placeholder="All themes"
    )
    return defs.filter_catalogue(catalogue, search, owners, statuses, themes)


# ---- one KPI: definition, approvals, history -----------------------------------------------


def _definition(kpi: KpiDefinition) -> None:
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


def _approve(kpi_id: str, version: str, person: Person, dept: str, note_key: str) -> None:
    """Button callback: approve what the person saw (the file version of that run)."""
    try:
        result = approve_kpi(
            PATH,
            person,
            kpi_id,
            version,
            st.session_state.get(note_key, ""),
            settings=ctx.settings,
        )
    except ConflictError:
        st.session_state[ERROR] = (
            f"Not approved: {PATH.name} changed since you looked at '{kpi_id}'. Read the "
            "definition again, then approve it."
        )
    except (InvalidEdit, *WRITE_ERRORS) as exc:
        st.session_state[ERROR] = str(exc)
    else:
        st.session_state[FLASH] = defs.approved_message(kpi_id, dept, person.name, result.status)
        st.session_state.pop(note_key, None)
        st.cache_data.clear()


def _approvals(kpi: KpiDefinition) -> None:
    state = approvals_state(kpi)
    status = effective_status(kpi)
    signed = entry_version(kpi)
    table = defs.approvals_table(kpi)
    st.markdown(
        f"Status **{defs.STATUS_SHOWN[status]}** · version of the signed content `{signed}` "
        "(view, period column, formula and targets)"
    )
    st.dataframe(table, hide_index=True, width="stretch")
    downloads(table, f"{kpi.id}_approvals", f"approvals_{kpi.id}")
    dept = approving_department(ctx.person)
    if not _blocked(defs.approval_step(state, status, dept, _broken(), _acting())):
        note_key = f"approve_{kpi.id}_note"
        st.text_input("Note (optional, kept in the history)", key=note_key)
        st.button(
            f"Approve this version for {dept}",
            key=f"approve_{kpi.id}",
            type="primary",
            on_click=_approve,
            args=(kpi.id, file_version(PATH), ctx.person, dept, note_key),
            help="You approve the view, period column, formula and targets shown here. "
            "Any later change to them voids the approval.",
        )


def _history(kpi_id: str) -> None:
    records = kpi_history(PATH, kpi_id)
    if not records:
        st.caption("No change of this KPI was saved from the app yet.")
        return
    table = defs.history_table(records)
    st.dataframe(table, hide_index=True, width="stretch")
    downloads(table, f"{kpi_id}_history", f"history_{kpi_id}")
    for n, r in enumerate(records[:10]):
        with st.expander(literal(defs.history_heading(r)), expanded=n == 0):
            st.markdown(f"**Why:** {literal(r.get('why') or '–')}")
            if r.get("diff"):
                st.code(r["diff"], language="diff")
            if r.get("cleared_approvals"):
                st.caption("Approvals cleared: " + ", ".join(r["cleared_approvals"]))
    if len(records) > 10:
        st.caption(f"The {len(records) - 10} older changes are in the download.")


# ---- the form (editing and adding) ---------------------------------------------------------


def _seed(p: str, entry: dict) -> None:
    """Put the entry's values into the form's widgets (those the person has not touched)."""
    for name, value in defs.form_values(entry).items():
        st.session_state.setdefault(f"{p}_{name}", value)


def _source_changed(p: str) -> None:
    """Another view: keep the period column and dimensions only where the view has them."""
    s = st.session_state
    columns = view_catalog(ctx.settings).get(s[f"{p}_source"], {})
    period_by, kept = defs.after_source_change(
        columns, s.get(f"{p}_period_by"), s.get(f"{p}_dimensions", [])
    )
    if period_by != s.get(f"{p}_period_by"):
        s[f"{p}_period_by"] = period_by
    s[f"{p}_dimensions"] = kept


def _fields(p: str, entry: dict, new: bool, editor_key: str) -> tuple[dict, list[str]]:
    """Draw the KPI's fields (widget keys `p_<field>`); return the entry they describe and
    periods written twice in the targets."""
    _seed(p, entry)
    s = st.session_state
    catalog = view_catalog(ctx.settings)
    if new:
        a, b = st.columns([1, 2])
        a.text_input("Id", key=f"{p}_id", help="snake_case, e.g. invoice_touchless_rate")
        b.text_input("Name", key=f"{p}_name")
    else:
        st.text_input("Name", key=f"{p}_name")
    a, b, c = st.columns(3)
    if new:
        owners = [o for o in OWNERS if may_edit_kpi(ctx.person, o)] or list(OWNERS)
        s[f"{p}_owner"] = s[f"{p}_owner"] if s[f"{p}_owner"] in owners else owners[0]
        a.selectbox("Owner", owners, key=f"{p}_owner")
    a.selectbox(
        "Theme", defs.with_current(THEMES, s[f"{p}_theme"]), key=f"{p}_theme", format_func=_theme
    )
    statuses = (
        ["draft", "proposed"] if new else defs.with_current(["draft", "proposed"], s[f"{p}_status"])
    )
    b.selectbox(
        "Status",
        statuses,
        key=f"{p}_status",
        help="Set it to proposed when it is ready for both departments' approval; only "
        "approvals make a KPI agreed.",
    )
    c.selectbox("Unit", defs.with_current(UNITS, s[f"{p}_unit"]), key=f"{p}_unit")
    st.text_area("Description", key=f"{p}_description", height=80)
    left, right = st.columns(2)
    left.text_area("Finance reads it as", key=f"{p}_reading_finance", height=80)
    right.text_area("Procurement reads it as", key=f"{p}_reading_procurement", height=80)
    a, b, c = st.columns(3)
    a.selectbox(
        "View (source)",
        defs.with_current(catalog, s[f"{p}_source"]),
        key=f"{p}_source",
        on_change=_source_changed,
        args=(p,),
    )
    columns = catalog.get(s[f"{p}_source"], {})
    b.selectbox(
        "Periods by (date column)",
        defs.with_current(defs.date_columns(columns), s[f"{p}_period_by"]),
        key=f"{p}_period_by",
    )
    c.selectbox(
        "Direction",
        defs.with_current(DIRECTIONS, s[f"{p}_direction"]),
        key=f"{p}_direction",
        format_func=lambda d: d.replace("_", " "),
    )
    st.text_area(
        "Formula (one aggregate expression over the view)",
        key=f"{p}_formula",
        height=90,
        help="e.g. sum(amount) filter (where preferred or on_contract) / nullif(sum(amount), 0)",
    )
    with st.expander(f"Columns of the view `{s[f'{p}_source']}`"):
        st.caption(" · ".join(f"`{col}` {kind.lower()}" for col, kind in columns.items()))
    st.multiselect(
        "Can be split by (dimensions)",
        defs.split_columns(columns, s[f"{p}_dimensions"]),
        key=f"{p}_dimensions",
    )
    a, b, c, d = st.columns(4)
    a.text_input("Responsible", key=f"{p}_responsible")
    b.text_input("Accountable", key=f"{p}_accountable")
    c.text_input("Consulted (comma-separated)", key=f"{p}_consulted")
    d.text_input("Informed (comma-separated)", key=f"{p}_informed")
    st.markdown("**Targets** (per period: FY2026-Q1, FY2026 or 2026-03)")
    if s[f"{p}_unit"] == "percent":
        st.caption("A percent KPI's target is a share: 0.7 means 70 %.")
    edited = st.data_editor(
        defs.targets_frame(entry.get("targets") or {}),
        key=editor_key,
        num_rows="dynamic",
        hide_index=True,
        column_config={
            "period": st.column_config.TextColumn("Period", required=True),
            "target": st.column_config.NumberColumn("Target", format="localized"),
        },
    )
    new_targets, twice = targets_from_rows(edited.select("period", "target").iter_rows())
    values = {name: s.get(f"{p}_{name}") for name in defs.FORM_FIELDS}
    return defs.form_entry(values, new_targets, new), twice


def _theme(theme: str) -> str:
    return THEMES.get(theme, theme)


def _show_check(issues: list[Issue]) -> None:
    message = defs.check_message(issues)
    if message is None:
        st.success("Passes every check of `python -m kpi check`.", icon=":material/check_circle:")
    else:
        st.error(message)


def _preview(kpi_id: str, saved: dict | None, candidate: dict, unit: str) -> bool:
    """The KPI's values by quarter under the edited definition (and as saved), before saving.
    False when the edited definition does not run on the data (saving it would break every
    page that computes it)."""
    st.markdown("**Preview: the values under this definition**")
    if ctx.period is None or ctx.start is None or ctx.end is None:
        no_data("data to preview on", "Load invoices on the **Data** page.")
        return True
    key = (str(ctx.store.path), ctx.version, ctx.settings)
    window = (ctx.start, ctx.end, ctx.filters_key, ctx.currency)
    try:
        edited = _values(*key, entry_text(candidate), *window)
    except StoreError as exc:
        st.warning(f"No preview: {exc}")
        return True
    except (duckdb.Error, ComputeError, ValueError) as exc:
        st.error(
            f"The formula passes the checks but does not run on the data: {defs.first_line(exc)}. "
            "Check that each function gets columns of the right type (numbers for sum, avg…). "
            "Saving is off until it runs: it would break every page that shows this KPI."
        )
        return False
    before = None
    if saved:
        with contextlib.suppress(duckdb.Error, ComputeError, StoreError, ValueError):
            before = _values(*key, entry_text(saved), *window)
    targets = defs.preview_targets(candidate)
    table = defs.preview_table(edited, before, targets)
    if table.is_empty():
        no_data("values in the sidebar's periods", "Widen the fiscal periods in the sidebar.")
        return True
    fig = charts.kpi_trend(
        table.select("period", pl.col("as edited").alias("value")),
        f"{candidate.get('name') or kpi_id}: as edited"  # kpi.reporting.charts escapes chart text
        + (" and as saved" if before is not None else ""),
        unit,
        targets,
        ctx.currency,
    )
    fig.data[0].name = "As edited"
    if before is not None:
        fig.add_scatter(
            x=table["period"].to_list(),
            y=defs.scaled(table["as saved"].to_list(), unit),
            name="As saved",
            mode="lines",
            line={"color": "#999999", "width": 2, "dash": "dot"},
        )
    st.plotly_chart(fig, key=f"preview_{kpi_id}")
    st.dataframe(defs.formatted_values(table, unit, ctx.currency), hide_index=True, width="stretch")
    downloads(table, f"{kpi_id}_preview", f"preview_{kpi_id}")
    active = active_filters(ctx.filters)
    st.caption(
        f"By quarter over the sidebar's periods, amounts in {ctx.currency}"
        + (" · " + "; ".join(active) if active else "")
    )
    return True


# ---- editing one KPI -------------------------------------------------------------------------


def _close(p: str) -> None:
    """Forget an open form (its values, version and conflict): the next run opens it afresh."""
    for key in defs.form_keys(p, list(st.session_state)):
        del st.session_state[key]


def _open(p: str, kpi_id: str) -> dict | None:
    """The entry and file version the form started from, read once when it opens."""
    opened = st.session_state.get(f"{p}_opened")
    fresh = not any(f"{p}_{name}" in st.session_state for name in defs.TEXT_FIELDS)
    if opened is None or fresh:
        try:
            entry, version = read_entry(PATH, kpi_id)
        except (BrokenFile, UnknownKpi, OSError) as exc:
            st.error(str(exc))
            return None
        opened = {"entry": entry, "version": version}
        st.session_state[f"{p}_opened"] = opened
    return opened


def _show_conflict(p: str, conflict: dict) -> None:
    st.error(conflict["message"])
    left, right = st.columns(2)
    left.markdown("**Their version (saved now)**")
    left.code(conflict["theirs"] or "(the KPI is no longer in the file)", language="yaml")
    right.markdown("**Your change, applied to their version**")
    right.code(conflict["yours"] or "(nothing to apply)", language="yaml")
    diff = defs.conflict_diff(conflict["theirs"], conflict["yours"])
    if diff:
        with st.expander("What differs"):
            st.code(diff, language="diff")
    st.button(
        "Start again from their version",
        key=f"{p}_restart",
        type="primary",
        on_click=_close,
        args=(p,),
        help="Opens the form on the version saved now; redo your change on it.",
    )


def _edit(kpi: KpiDefinition) -> None:
    p = f"ed_{kpi.id}"
    may = may_edit_kpi(ctx.person, kpi.owner)
    if _blocked(defs.edit_blocked(_broken(), may, kpi.owner, _acting())):
        return
    conflict = st.session_state.get(f"{p}_conflict")
    if conflict:
        _show_conflict(p, conflict)
        return
    opened = _open(p, kpi.id)
    if opened is None:
        return
    saved = opened["entry"]
    form, twice = _fields(p, saved, new=False, editor_key=f"{p}_targets_{opened['version'][:8]}")
    changes = defs.changed_fields(form, saved)
    candidate = defs.candidate_entry(saved, changes)
    issues = _issues(entry_text(candidate), ctx.settings) + defs.form_issues(
        str(PATH), kpi.id, twice
    )
    st.divider()
    _show_check(issues)
    if changes:
        st.markdown("**Changed:** " + ", ".join(f"`{k}`" for k in changes))
        if defs.clears_approvals(saved, candidate):
            st.warning(
                "This changes what both departments signed (view, period column, formula or "
                "targets): saving clears the approvals, and the KPI is *proposed* until finance "
                "and procurement both approve the new version.",
                icon=":material/draw:",
            )
    runs = False
    if not issues:
        runs = _preview(kpi.id, saved, candidate, str(candidate.get("unit")))
    else:
        st.caption("The preview shows once the problems above are fixed.")
    reason = st.text_input("Why (kept in the history)", key=f"{p}_reason")
    left, right, _ = st.columns([1, 1, 3])
    save = left.button(
        "Save the change",
        key=f"{p}_save",
        type="primary",
        disabled=bool(issues) or not runs or not changes,
        help="Nothing changed yet" if not changes else None,
    )
    right.button("Discard my edits", key=f"{p}_discard", on_click=_close, args=(p,))
    if not save:
        return
    try:
        result = edit_kpi(
            PATH, ctx.person, kpi.id, changes, reason, opened["version"], settings=ctx.settings
        )
    except ConflictError as exc:
        st.session_state[f"{p}_conflict"] = {
            "message": str(exc),
            "theirs": exc.current_entry_yaml,
            "yours": exc.proposed_entry_yaml,
        }
        st.rerun()
    except InvalidEdit as exc:
        _show_check(exc.issues)
    except WRITE_ERRORS as exc:
        st.error(str(exc))
    else:
        _close(p)
        st.session_state[FLASH] = result.message
        st.cache_data.clear()
        st.rerun()


# ---- adding a KPI ----------------------------------------------------------------------------


def _add() -> None:
    p = "add"
    if _blocked(defs.add_blocked(_broken(), approving_department(ctx.person), _acting())):
        return
    st.caption(
        "A new KPI starts as a draft (or proposed); each department then approves it in its "
        "**Approvals** tab."
    )
    st.session_state.setdefault(f"{p}_version", file_version(PATH))
    start = defs.start_entry(ctx.person.department if ctx.person else None, OWNERS)
    form, twice = _fields(p, start, new=True, editor_key=f"{p}_targets")
    entry = defs.new_entry(form)
    issues = _issues(entry_text(entry), ctx.settings)
    issues += defs.form_issues(str(PATH), None, twice)
    issues += defs.form_issues(str(PATH), entry.get("id"), (), (k.id for k in ctx.definitions))
    st.divider()
    if not (form.get("id") or form.get("name")):
        st.caption("Give the KPI an id and a name: the checks and the preview follow as you type.")
        return
    _show_check(issues)
    runs = not issues and _preview("new", None, entry, str(entry.get("unit")))
    reason = st.text_input("Why (kept in the history)", key=f"{p}_reason")
    if not st.button("Add the KPI", key=f"{p}_save", type="primary", disabled=not runs):
        return
    try:
        result = add_kpi(
            PATH, ctx.person, entry, reason, st.session_state[f"{p}_version"], settings=ctx.settings
        )
    except ConflictError:
        st.session_state[f"{p}_version"] = file_version(PATH)
        st.warning(
            f"Not added yet: {PATH.name} was saved by someone else meanwhile. Your fields are "
            "kept; check the catalogue for a KPI like yours, then press **Add the KPI** again."
        )
    except InvalidEdit as exc:
        _show_check(exc.issues)
    except WRITE_ERRORS as exc:
        st.error(str(exc))
    else:
        _close(p)
        st.session_state[FLASH] = result.message + " Find it in the catalogue."
        st.session_state["_def_pick_next"] = result.kpi_id
        st.cache_data.clear()
        st.rerun()


# ---- the page --------------------------------------------------------------------------------

if ctx.definitions_problem:
    _broken_banner()

tab_catalogue, tab_add = st.tabs(["Catalogue", "Add a KPI"])
with tab_catalogue:
    table = catalogue(ctx.definitions)
    if table.is_empty():
        no_data("KPI definitions", f"Add one in the **Add a KPI** tab, or write {PATH}.")
    else:
        table = _filtered(table).drop("description")
        if table.is_empty():
            no_data("KPIs match", "Clear the search or the filters.")
        else:
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
                },
            )
            downloads(table, "kpi_definitions", "table")
            names = dict(zip(table["id"], table["name"], strict=True))
            if st.session_state.get("def_pick") not in ids:
                st.session_state["def_pick"] = ids[0]
            pick = st.selectbox(
                "KPI", ids, key="def_pick", format_func=lambda i: f"{names[i]} · {i}"
            )
            kpi = next(k for k in ctx.definitions if k.id == pick)
            st.subheader(literal(kpi.name))
            st.caption(
                f"`{kpi.id}` · owner **{kpi.owner}** · {_theme(kpi.theme)} · "
                f"{defs.STATUS_SHOWN[effective_status(kpi)]}"
            )
            t_def, t_appr, t_edit, t_hist = st.tabs(["Definition", "Approvals", "Edit", "History"])
            with t_def:
                _definition(kpi)
            with t_appr:
                _approvals(kpi)
            with t_edit:
                _edit(kpi)
            with t_hist:
                _history(kpi.id)
with tab_add:
    _add()
