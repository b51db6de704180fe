"""The KPI definitions page's form, for editing a KPI and adding one: its fields with live
checks, the preview of the values under the edited definition, conflicts with someone
else's save, and saving. The texts and checks come from kpi.reporting.definitions_form."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import get_args

import duckdb
import polars as pl
import streamlit as st

from kpi.analyses.scorecard import THEMES
from kpi.core.permissions import (
    PermissionDenied,
    definition_writer_refusal,
    kpi_edit_refusal,
    may_edit_kpi,
)
from kpi.reporting import charts
from kpi.reporting import definitions_form as defs
from kpi.reporting.filters_text import active_filters
from kpi.reporting.target_units import target_unit
from kpi.semantic.engine import ComputeError
from kpi.semantic.kpi_definition import (
    Direction,
    Issue,
    KpiDefinition,
    Owner,
    Status,
    Unit,
    UnknownKpi,
)
from kpi.store.database import StoreError
from kpi.store.views import view_catalog
from kpi.workflows.definition_saves import add_kpi, edit_kpi
from kpi.workflows.definition_versions import (
    SIGNED_SHOWN,
    check_candidate,
    entry_text,
    file_version,
    read_entry,
    targets_from_rows,
)
from kpi.workflows.definition_writer import ConflictError, EditError, InvalidEdit
from kpi.workflows.yaml_splice import BrokenFile
from ui.cache import cached
from ui.context import Context
from ui.widgets import downloads, no_data

OWNERS: tuple[str, ...] = get_args(Owner)
UNITS: tuple[str, ...] = get_args(Unit)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
STATUSES: tuple[str, ...] = get_args(Status)
FLASH, ERROR = "_definitions_flash", "_definitions_error"
PICK_NEXT = "_def_pick_next"  # a KPI just added, to show in the catalogue on the next run
WRITE_ERRORS = (PermissionDenied, EditError, BrokenFile, UnknownKpi, StoreError, OSError)

# ---- reading and checking --------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def _issues(text: str, settings) -> list[Issue]:
    return check_candidate(text, settings)[1]


def broken_file(ctx: Context, path: Path) -> str | None:
    """The file's name when it is broken by hand (editing, adding and approving are off)."""
    return path.name if ctx.definitions_problem else None


def blocked(step: tuple[str, str] | None) -> bool:
    """Show why an action is off (a kpi/ decision), if it is; True when it was off."""
    if step is None:
        return False
    kind, message = step
    icons = {"warning": ":material/lock:", "success": None, "info": None}
    getattr(st, kind)(message, icon=icons[kind])
    return True


# ---- the form's fields -----------------------------------------------------------------------


def _seed(p: str, entry: dict) -> None:
    """Put the entry's values into the form's widgets (those the person has not touched),
    and tell the browser every field's current value again on every run.

    Streamlit sends a value set through session state only on the run that set it; a browser
    that draws the field later (a hidden tab under load, a fragment's rerun) starts it from
    the widget's default, an empty text, and sends that back: the saved description, formula
    and readings came back empty ("4 problems to fix") once in CI. Writing the current
    value each run puts it in every run's message, so the field always starts from it."""
    s = st.session_state
    for name, value in defs.form_values(entry).items():
        key = f"{p}_{name}"
        s[key] = s.get(key, value)


def _source_changed(p: str, settings) -> None:
    """Another view: keep the period column and dimensions only where the view has them."""
    s = st.session_state
    columns = view_catalog(settings).get(s[f"{p}_source"], {})
    period_by, kept = defs.after_source_change(
        columns, s.get(f"{p}_period_by"), s.get(f"{p}_dimensions", [])
    )
    if period_by != s.get(f"{p}_period_by"):
        s[f"{p}_period_by"] = period_by
    s[f"{p}_dimensions"] = kept


def _fields(
    ctx: Context, p: str, entry: dict, new: bool, editor_key: str, off: bool = False
) -> tuple[dict, list[str]]:
    """Draw the KPI's fields (widget keys `p_<field>`), disabled when `off` (the person may
    not use the form: they read it, and the reason above it); return the entry they describe
    and periods written twice in the targets."""
    _seed(p, entry)
    _naming_fields(ctx, p, new, off)
    st.text_area("Description", key=f"{p}_description", height=80, disabled=off)
    left, right = st.columns(2)
    left.text_area("Finance reads it as", key=f"{p}_reading_finance", height=80, disabled=off)
    right.text_area(
        "Procurement reads it as", key=f"{p}_reading_procurement", height=80, disabled=off
    )
    _formula_fields(ctx, p, off)
    a, b, c, d = st.columns(4)
    a.text_input("Responsible", key=f"{p}_responsible", disabled=off)
    b.text_input("Accountable", key=f"{p}_accountable", disabled=off)
    c.text_input("Consulted (comma-separated)", key=f"{p}_consulted", disabled=off)
    d.text_input("Informed (comma-separated)", key=f"{p}_informed", disabled=off)
    new_targets, twice = _targets(ctx, p, entry, editor_key, off)
    values = {name: st.session_state.get(f"{p}_{name}") for name in defs.FORM_FIELDS}
    return defs.form_entry(values, new_targets, new), twice


def _naming_fields(ctx: Context, p: str, new: bool, off: bool) -> None:
    """Id (when new), name, owner (when new), theme, status and unit."""
    s = st.session_state
    if new:
        a, b = st.columns([1, 2])
        a.text_input(
            "Id", key=f"{p}_id", help="snake_case, e.g. invoice_touchless_rate", disabled=off
        )
        b.text_input("Name", key=f"{p}_name", disabled=off)
    else:
        st.text_input("Name", key=f"{p}_name", disabled=off)
    a, b, c = st.columns(3)
    if new:
        owners = [o for o in OWNERS if may_edit_kpi(ctx.person, o)] or list(OWNERS)
        s[f"{p}_owner"] = s[f"{p}_owner"] if s[f"{p}_owner"] in owners else owners[0]
        a.selectbox("Owner", owners, key=f"{p}_owner", disabled=off)
    a.selectbox(
        "Theme",
        defs.with_current(THEMES, s[f"{p}_theme"]),
        key=f"{p}_theme",
        format_func=defs.theme_label,
        disabled=off,
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
        disabled=off,
    )
    c.selectbox("Unit", defs.with_current(UNITS, s[f"{p}_unit"]), key=f"{p}_unit", disabled=off)


def _formula_fields(ctx: Context, p: str, off: bool) -> None:
    """The view, its period column, the direction, the formula and the dimensions."""
    s = st.session_state
    catalog = view_catalog(ctx.settings)
    a, b, c = st.columns(3)
    a.selectbox(
        "View (source)",
        defs.with_current(catalog, s[f"{p}_source"]),
        key=f"{p}_source",
        on_change=_source_changed,
        args=(p, ctx.settings),
        disabled=off,
    )
    columns = catalog.get(s[f"{p}_source"], {})
    b.selectbox(
        "Periods by (date column)",
        defs.with_current(defs.date_columns(columns), s[f"{p}_period_by"]),
        key=f"{p}_period_by",
        disabled=off,
    )
    c.selectbox(
        "Direction",
        defs.with_current(DIRECTIONS, s[f"{p}_direction"]),
        key=f"{p}_direction",
        format_func=lambda d: d.replace("_", " "),
        disabled=off,
    )
    st.text_area(
        "Formula (one aggregate expression over the view)",
        key=f"{p}_formula",
        height=90,
        help="e.g. sum(amount) filter (where preferred or on_contract) / nullif(sum(amount), 0)",
        disabled=off,
    )
    with st.expander(f"Columns of the view `{s[f'{p}_source']}`"):
        st.caption(" · ".join(f"`{col}` {kind.lower()}" for col, kind in columns.items()))
    st.multiselect(
        "Can be split by (dimensions)",
        defs.split_columns(columns, s[f"{p}_dimensions"]),
        key=f"{p}_dimensions",
        disabled=off,
    )


def _targets(
    ctx: Context, p: str, entry: dict, editor_key: str, disabled: bool
) -> tuple[dict, list[str]]:
    """The targets table, typed in the KPI's unit as the goals page types them (a percent
    KPI's in percent); returns the targets as kept and the periods written twice."""
    unit, currency = st.session_state[f"{p}_unit"], ctx.settings.reporting_currency
    st.markdown("**Targets** (per period: FY2026-Q1, FY2026 or 2026-03)")
    st.caption(defs.targets_caption(unit, currency))
    edited = st.data_editor(
        defs.targets_frame(entry.get("targets") or {}, unit),
        key=editor_key,
        num_rows="dynamic",
        hide_index=True,
        disabled=disabled,
        column_config={
            "period": st.column_config.TextColumn("Period", required=True),
            "target": st.column_config.NumberColumn(
                f"Target ({target_unit(unit, currency)})", format="localized"
            ),
        },
    )
    typed, twice = targets_from_rows(edited.select("period", "target").iter_rows())
    return defs.stored_targets(typed, unit), twice


# ---- checks and preview ----------------------------------------------------------------------


def show_check(issues: list[Issue]) -> None:
    """The outcome of `python -m kpi check` on the form's entry."""
    message = defs.check_message(issues)
    if message is None:
        st.success("Passes every check of `python -m kpi check`.", icon=":material/check_circle:")
    else:
        st.error(message)


def _preview(ctx: Context, kpi_id: str, saved: dict | None, candidate: dict, unit: str) -> bool:
    """The KPI's values by quarter under the edited definition (and as saved), before saving.
    False when the edited definition does not run on the data (saving it would break every
    page that computes it)."""
    st.markdown("**Preview: the values under this definition**")
    if ctx.period is None or ctx.start is None or ctx.end is None:
        no_data("data to preview on", "Load invoices on the **Data** page.")
        return True
    spinner = "Computing the preview…"
    try:
        edited = cached(defs.preview_values, ctx, entry_text(candidate), ctx.scope, spinner=spinner)
    except StoreError as exc:
        st.warning(f"No preview: {exc}")
        return True
    except (duckdb.Error, ComputeError, ValueError) as exc:
        st.error(defs.does_not_run_message(exc))
        return False
    before = None
    if saved:
        with contextlib.suppress(duckdb.Error, ComputeError, StoreError, ValueError):
            before = cached(defs.preview_values, ctx, entry_text(saved), ctx.scope, spinner=spinner)
    targets = defs.preview_targets(candidate)
    table = defs.preview_table(edited, before, targets)
    if table.is_empty():
        no_data("values in the sidebar's periods", "Widen the fiscal periods in the sidebar.")
        return True
    _preview_chart(ctx, kpi_id, candidate, unit, table, before is not None, targets)
    return True


def _preview_chart(
    ctx: Context,
    kpi_id: str,
    candidate: dict,
    unit: str,
    table: pl.DataFrame,
    with_saved: bool,
    targets: dict[str, float],
) -> None:
    """The values as edited (and as saved, dotted), their table, download and scope."""
    fig = charts.kpi_trend(
        table.select("period", pl.col("as edited").alias("value")),
        defs.preview_title(candidate.get("name"), kpi_id, with_saved),  # charts escapes it
        unit,
        targets,
        ctx.currency,
    )
    fig.data[0].name = "As edited"
    if with_saved:
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
    st.caption(defs.preview_caption(ctx.currency, active_filters(ctx.filters)))


# ---- editing one KPI -------------------------------------------------------------------------


def _close(p: str) -> None:
    """Forget an open form (its values, version and conflict): the next run opens it afresh."""
    for key in defs.form_keys(p, list(st.session_state)):
        del st.session_state[key]


def _open(path: Path, p: str, kpi_id: str) -> dict | None:
    """The entry and file version the form started from, read once when it opens."""
    opened = st.session_state.get(f"{p}_opened")
    fresh = not any(f"{p}_{name}" in st.session_state for name in defs.TEXT_FIELDS)
    if opened is None or fresh:
        try:
            entry, version = read_entry(path, kpi_id)
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


def edit_tab(ctx: Context, path: Path, kpi: KpiDefinition) -> None:
    """The owner edits the KPI: the form on the saved entry, its checks, preview and save.
    Anyone else sees the form disabled, with why (the check the save makes in kpi/)."""
    p = f"ed_{kpi.id}"
    refusal = kpi_edit_refusal(ctx.person, kpi.owner, f"edit '{kpi.id}'")
    step = defs.edit_blocked(broken_file(ctx, path), refusal)
    if step is not None and step[0] == "warning":  # a broken file: no form to read
        blocked(step)
        return
    blocked(step)
    conflict = st.session_state.get(f"{p}_conflict")
    if conflict:
        _show_conflict(p, conflict)
        return
    opened = _open(path, p, kpi.id)
    if opened is None:
        return
    saved = opened["entry"]
    form, twice = _fields(
        ctx, p, saved, new=False, editor_key=f"{p}_targets_{opened['version'][:8]}", off=bool(step)
    )
    if step is not None:
        _save_edit(ctx, path, p, kpi.id, {}, opened["version"], refusal)
        return
    changes = defs.changed_fields(form, saved)
    candidate = defs.candidate_entry(saved, changes)
    issues = _issues(entry_text(candidate), ctx.settings) + defs.form_issues(
        str(path), kpi.id, twice
    )
    st.divider()
    show_check(issues)
    if changes:
        st.markdown(defs.changed_line(changes))
        if defs.clears_approvals(saved, candidate):
            st.warning(
                f"This changes what both departments signed ({SIGNED_SHOWN}): saving clears "
                "the approvals, and the KPI is *proposed* until finance and procurement both "
                "approve the new version.",
                icon=":material/draw:",
            )
    runs = False
    if not issues:
        runs = _preview(ctx, kpi.id, saved, candidate, str(candidate.get("unit")))
    else:
        st.caption("The preview shows once the problems above are fixed.")
    off = "Fix the problems above first." if issues or not runs else None
    _save_edit(ctx, path, p, kpi.id, changes, opened["version"], off)


def _save_edit(
    ctx: Context, path: Path, p: str, kpi_id: str, changes: dict, version: str, off: str | None
) -> None:
    """The reason, the save and discard buttons, and the save itself. `off` says why saving
    is off (the button is then disabled and never saves). A second click on Save finds the
    form reopened on the saved file, with nothing changed: it saves nothing twice."""
    locked = bool(off) and not changes  # the person may not edit: read only
    reason = st.text_input("Why (kept in the history)", key=f"{p}_reason", disabled=locked)
    left, right, _ = st.columns([1, 1, 3])
    why_off = off or (None if changes else "Nothing changed yet")
    save = left.button(
        "Save the change", key=f"{p}_save", type="primary", disabled=bool(why_off), help=why_off
    )
    right.button(
        "Discard my edits", key=f"{p}_discard", on_click=_close, args=(p,), disabled=locked
    )
    if not save or why_off:  # a click from before the save (a double click) does nothing
        return
    try:
        result = edit_kpi(path, ctx.person, kpi_id, changes, reason, version, settings=ctx.settings)
    except ConflictError as exc:
        st.session_state[f"{p}_conflict"] = defs.conflict_record(exc)
        st.rerun()
    except InvalidEdit as exc:
        show_check(exc.issues)
    except WRITE_ERRORS as exc:
        st.error(str(exc))
    else:
        _close(p)
        st.session_state[FLASH] = result.message
        st.cache_data.clear()
        st.rerun()


# ---- adding a KPI ----------------------------------------------------------------------------


def add_tab(ctx: Context, path: Path) -> None:
    """A new KPI: the form on a fresh entry, its checks, preview and the add. Someone who
    may not add KPIs sees the form disabled, with why (the check the add makes in kpi/)."""
    p = "add"
    refusal = definition_writer_refusal(ctx.person, "add KPIs")
    step = defs.add_blocked(broken_file(ctx, path), refusal)
    blocked(step)
    if step is not None and step[0] == "warning":  # a broken file: no form
        return
    st.caption(
        "A new KPI starts as a draft (or proposed); each department then approves it in its "
        "**Approvals** tab."
    )
    st.session_state.setdefault(f"{p}_version", file_version(path))
    start = defs.start_entry(ctx.person.department if ctx.person else None, OWNERS)
    form, twice = _fields(ctx, p, start, new=True, editor_key=f"{p}_targets", off=bool(step))
    if step is not None:
        st.button("Add the KPI", key=f"{p}_save", type="primary", disabled=True, help=refusal)
        return
    entry = defs.new_entry(form)
    issues = _issues(entry_text(entry), ctx.settings)
    issues += defs.form_issues(str(path), None, twice)
    issues += defs.form_issues(str(path), entry.get("id"), (), (k.id for k in ctx.definitions))
    st.divider()
    if not (form.get("id") or form.get("name")):
        st.caption("Give the KPI an id and a name: the checks and the preview follow as you type.")
        return
    show_check(issues)
    runs = not issues and _preview(ctx, "new", None, entry, str(entry.get("unit")))
    reason = st.text_input("Why (kept in the history)", key=f"{p}_reason")
    added = st.button("Add the KPI", key=f"{p}_save", type="primary", disabled=not runs)
    if added and runs:  # a click from before the add (a double click) finds the id taken
        _save_new(ctx, path, p, entry, reason)


def _save_new(ctx: Context, path: Path, p: str, entry: dict, reason: str) -> None:
    try:
        result = add_kpi(
            path, ctx.person, entry, reason, st.session_state[f"{p}_version"], settings=ctx.settings
        )
    except ConflictError:
        st.session_state[f"{p}_version"] = file_version(path)
        st.warning(defs.add_conflict_message())
    except InvalidEdit as exc:
        show_check(exc.issues)
    except WRITE_ERRORS as exc:
        st.error(str(exc))
    else:
        _close(p)
        st.session_state[FLASH] = result.message + " Find it in the catalogue."
        st.session_state[PICK_NEXT] = result.kpi_id
        st.cache_data.clear()
        st.rerun()
