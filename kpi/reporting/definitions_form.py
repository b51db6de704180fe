"""The KPI definitions page as plain data: what the edit form starts from, the entry it
describes, what changed, and the tables and texts the page draws (so the page only draws)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from kpi.analyses.scorecard import THEMES
from kpi.core.formatting import format_value
from kpi.core.people import Person
from kpi.core.scope import Scope
from kpi.reporting.target_units import stored_target, target_unit, typed_target
from kpi.semantic.engine import compute
from kpi.semantic.kpi_definition import Issue, KpiDefinition
from kpi.store.database import Store
from kpi.workflows.definition_versions import (
    APPROVAL_SHOWN,
    SIGNED_SHOWN,
    approval_checks,
    check_candidate,
    effective_status,
    entry_version,
)
from kpi.workflows.definition_writer import ConflictError

TEXT_FIELDS = ("name", "description", "formula", "responsible", "accountable")
FORM_FIELDS = (
    "id",
    "name",
    "owner",
    "theme",
    "status",
    "description",
    "reading_finance",
    "reading_procurement",
    "source",
    "period_by",
    "formula",
    "unit",
    "direction",
    "dimensions",
    "responsible",
    "accountable",
    "consulted",
    "informed",
)
FORM_STATE = ("opened", "conflict", "reason", "version")
STATUS_SHOWN = {
    "agreed": "✓ agreed",
    "proposed": "proposed, awaiting approval",
    "draft": "draft, not up for approval",
}
NEW_ENTRY = {
    "source": "spend",
    "period_by": "invoice_date",
    "formula": "sum(amount)",
    "status": "draft",
    "raci": {"accountable": "cfo"},
}
DEPARTMENTS = ("finance", "procurement")


# ---- the form: its starting values and the entry it describes ---------------------------------


def form_values(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Each form field's starting value from an entry; lists become the comma-separated
    text people type, and missing fields get the defaults the selectboxes can show."""
    raci = entry.get("raci") or {}
    readings = entry.get("readings") or {}
    return {
        "id": entry.get("id") or "",
        "name": entry.get("name") or "",
        "owner": entry.get("owner") or "joint",
        "theme": entry.get("theme") or "spend",
        "status": entry.get("status") or "draft",
        "description": entry.get("description") or "",
        "reading_finance": readings.get("finance") or "",
        "reading_procurement": readings.get("procurement") or "",
        "source": entry.get("source") or "spend",
        "period_by": entry.get("period_by") or "",
        "formula": entry.get("formula") or "",
        "unit": entry.get("unit") or "currency",
        "direction": entry.get("direction") or "higher_is_better",
        "dimensions": list(entry.get("dimensions") or []),
        "responsible": str(raci.get("responsible") or ""),
        "accountable": str(raci.get("accountable") or ""),
        "consulted": ", ".join(map(str, raci.get("consulted") or [])),
        "informed": ", ".join(map(str, raci.get("informed") or [])),
    }


def form_entry(values: Mapping[str, Any], targets: dict, new: bool) -> dict[str, Any]:
    """The entry the form's values describe: text stripped, blanks left out of the RACI and
    readings, and `id` and `owner` only for a new KPI (an edit cannot change them)."""
    text = {name: str(values[name]).strip() or None for name in TEXT_FIELDS}
    raci = {
        "responsible": text["responsible"],
        "accountable": text["accountable"],
        "consulted": split_names(values["consulted"]),
        "informed": split_names(values["informed"]),
    }
    readings = {d: str(values[f"reading_{d}"]).strip() or None for d in DEPARTMENTS}
    form = {
        "name": text["name"],
        "theme": values["theme"],
        "raci": {k: v for k, v in raci.items() if v is not None},
        "description": text["description"],
        "readings": {k: v for k, v in readings.items() if v is not None},
        "source": values["source"],
        "period_by": values["period_by"] or None,
        "formula": text["formula"],
        "unit": values["unit"],
        "direction": values["direction"],
        "dimensions": list(values["dimensions"]),
        "targets": targets,
        "status": values["status"],
    }
    if new:
        form = {"id": str(values["id"]).strip() or None, "owner": values["owner"], **form}
    return form


def start_entry(department: str | None, owners: Sequence[str]) -> dict[str, Any]:
    """What the add form starts from: the person's department owns the new KPI (joint when
    they belong to neither) and is responsible for it."""
    owner = department if department in owners else "joint"
    return {**NEW_ENTRY, "owner": owner, "raci": {**NEW_ENTRY["raci"], "responsible": owner}}


def with_current(options: Iterable[Any], value: Any) -> list:
    """The options, plus the current value when it is not one of them (so it shows, and the
    check says what is wrong with it)."""
    options = list(options)
    return options if value in options or value in (None, "") else [*options, value]


def split_names(text: str) -> list[str]:
    """'a, b,,c ' → ['a', 'b', 'c']: the comma-separated names of a RACI field."""
    return [part.strip() for part in text.split(",") if part.strip()]


def as_number(value: Any) -> float | None:
    """A target as a float, or None for anything that is not a number (bools included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def normalised(value: Any) -> Any:
    """For comparing a form with the file: no empty lists or mappings, text stripped, numbers
    as floats (so 1 and 1.0 are no change)."""
    if isinstance(value, dict):
        out = {k: normalised(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list | tuple):
        return [normalised(v) for v in value]
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def changed_fields(form: Mapping[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields that differ from the saved entry: only these are written back, so
    the rest of the entry keeps its exact spelling in the file."""
    return {k: v for k, v in form.items() if normalised(v) != normalised(saved.get(k))}


def candidate_entry(saved: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The entry as it would be saved: the changes over the saved entry, cleared fields out."""
    return {k: v for k, v in {**saved, **changes}.items() if v is not None}


def new_entry(form: Mapping[str, Any]) -> dict[str, Any]:
    """A new KPI as it would be added: blank fields left out."""
    return {k: v for k, v in form.items() if v not in (None, {}, [])}


def targets_frame(targets: Mapping[Any, Any], unit: str) -> pl.DataFrame:
    """A KPI's targets as the (period, target) rows of the form's table editor, as typed:
    a percent KPI's in percent (the goals page types them so too)."""
    return pl.DataFrame(
        {
            "period": [str(k) for k in targets],
            "target": [typed_target(v, unit) for v in targets.values()],
        },
        schema={"period": pl.String, "target": pl.Float64},
    )


def stored_targets(typed: Mapping[str, float | None], unit: str) -> dict[str, float | None]:
    """The targets typed in the form's table as the definitions keep them (a percent KPI's
    as shares); a blank stays blank, for the check to name."""
    return {period: stored_target(value, unit) for period, value in typed.items()}


def targets_caption(unit: str, currency: str) -> str:
    """What the targets table wants, in the unit the field shows."""
    if unit == "percent":
        return "Type a percent KPI's target as a percent: 92.1 means 92.1 %."
    if unit == "currency":
        return f"Amounts in {currency}, the reporting currency."
    return f"In {target_unit(unit, currency)}."


def form_issues(
    path: str, kpi_id: str | None, twice: Sequence[str], taken: Iterable[str] = ()
) -> list[Issue]:
    """What `kpi check` cannot see in one entry alone: a target period typed twice in the
    table (the second would silently win) and, for a new KPI, an id already in the file."""
    issues = [Issue(path, None, kpi_id, "targets", f"{t} is written twice") for t in twice]
    if kpi_id is not None and kpi_id in set(taken):
        issues.append(Issue(path, None, kpi_id, "id", f"the id '{kpi_id}' is taken"))
    return issues


def form_keys(prefix: str, keys: Iterable[Any]) -> list[Any]:
    """The session keys of one open form (fields, state and its targets editor), to forget."""
    names = {f"{prefix}_{name}" for name in (*FORM_FIELDS, *FORM_STATE)}
    editor = re.compile(re.escape(prefix) + r"_targets(_[0-9a-f]{8})?")
    return [k for k in keys if k in names or editor.fullmatch(str(k))]


def date_columns(columns: Mapping[str, str]) -> list[str]:
    """A view's date columns: the ones a KPI can be periodised by."""
    return [c for c, kind in columns.items() if kind == "DATE"]


def split_columns(columns: Mapping[str, str], chosen: Sequence[str]) -> list[str]:
    """The dimensions offered: the view's text and yes/no columns, plus any already chosen
    that the view lacks (so they show, and the check names them)."""
    splittable = [c for c, kind in columns.items() if kind in ("VARCHAR", "BOOLEAN")]
    return [*splittable, *[d for d in chosen if d not in splittable]]


def after_source_change(
    columns: Mapping[str, str], period_by: str | None, dimensions: Sequence[str]
) -> tuple[str | None, list[str]]:
    """Another view was picked: keep the period column and dimensions only where the new
    view has them (the first date column otherwise), so the form does not start broken."""
    dates = date_columns(columns)
    if period_by not in dates and dates:
        period_by = dates[0]
    return period_by, [d for d in dimensions if d in columns]


# ---- texts -----------------------------------------------------------------------------------


def check_message(issues: Sequence[Issue]) -> str | None:
    """Every problem of an edited entry as one markdown message, or None when it passes."""
    if not issues:
        return None
    lines = [
        f"- **{i.field or 'entry'}**: {i.message}" + (f" — *{i.hint}*" if i.hint else "")
        for i in issues
    ]
    return (
        f"**{len(issues)} problem(s) to fix before saving** (the same checks as "
        "`python -m kpi check`):\n\n" + "\n".join(lines)
    )


def issue_line(issue: Issue) -> str:
    """One problem of a broken kpis.yaml as a markdown bullet with its line and hint."""
    where = f"line {issue.line}" if issue.line else "the file"
    return f"- **{where}**: {issue.message}" + (f" — {issue.hint}" if issue.hint else "")


def first_line(exc: BaseException) -> str:
    """The first line of an error (DuckDB's run on), or its type when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def conflict_diff(theirs: str, yours: str) -> str:
    """A unified diff from the version saved meanwhile to the person's change applied to it."""
    return "".join(
        difflib.unified_diff(
            theirs.splitlines(keepends=True),
            yours.splitlines(keepends=True),
            fromfile="theirs",
            tofile="yours",
        )
    )


def approved_message(kpi_id: str, dept: str, name: str, status: str) -> str:
    """What an approval did: agreed, or still waiting for the other department."""
    other = "procurement" if dept == "finance" else "finance"
    return f"'{kpi_id}' approved for {dept} by {name}. " + (
        "Both departments approved this version: it is agreed."
        if status == "agreed"
        else f"It stays {status} until {other} approves this version too."
    )


def edit_blocked(broken_file: str | None, refusal: str | None) -> tuple[str, str] | None:
    """Why the person cannot edit this KPI, as (kind of message, text), or None when they
    may: a file broken by hand is fixed by hand first, and only its owners edit a KPI
    (`refusal`: kpi.core.permissions.kpi_edit_refusal, the check the save makes)."""
    if broken_file:
        return "warning", (
            f"Editing is off: the definitions file ({broken_file}) is broken (see above). Fix "
            "it by hand — `python -m kpi check` lists every problem with its line — and the "
            "form comes back."
        )
    if refusal:
        return "info", f"{refusal} Pick someone else under **Acting as** to edit it."
    return None


def add_blocked(broken_file: str | None, refusal: str | None) -> tuple[str, str] | None:
    """Why the person cannot add a KPI, as (kind of message, text), or None when they may:
    only people who approve for a department add KPIs (`refusal`: kpi.core.permissions.
    definition_writer_refusal), and not into a broken file."""
    if broken_file:
        return "warning", (
            f"Adding is off until the definitions file ({broken_file}) is fixed by hand "
            "(see above)."
        )
    if refusal:
        return "info", f"{refusal} Pick someone else under **Acting as** to add one."
    return None


def approval_step(
    state: Mapping[str, str],
    status: str,
    dept: str | None,
    broken_file: str | None,
    refusal: str | None,
) -> tuple[str, str] | None:
    """Why the person cannot approve this KPI now, as (kind of message, text), or None when
    they may approve it for `dept`. The file must be sound, the person must approve for a
    department (`refusal`: kpi.core.permissions.approver_refusal), the KPI must be proposed
    and not yet approved by that department."""
    if broken_file:
        return "info", (
            f"Approving is off until the definitions file ({broken_file}) is fixed by hand "
            "(see above)."
        )
    if dept is None:
        return "info", f"{refusal} Pick someone else under **Acting as** to approve."
    if status == "agreed":
        return "success", "Agreed: both departments approved exactly this version."
    if state[dept] == "approved":
        other = "procurement" if dept == "finance" else "finance"
        return "info", f"{dept.capitalize()} approved this version; it waits for {other}."
    if status == "draft":
        return "info", (
            "A draft is not up for approval yet: its owner sets the status to *proposed* in "
            "the **Edit** tab when it is ready."
        )
    return None


def broken_file_message(file_name: str, kept: int) -> str:
    """The banner over a kpis.yaml broken by hand: what the app falls back to, what is off
    (the file's name is said, as the administrator fixes it)."""
    return (
        f"**The definitions file ({file_name}) is broken** — somebody edited it by hand and "
        "it no longer passes `python -m kpi check`. "
        + (
            f"The app keeps using the last good definitions ({kept} KPIs, shown below). "
            if kept
            else "There are no last good definitions in this session, so none are shown. "
        )
        + "Editing, adding and approving are off until the file is fixed by hand."
    )


def clears_approvals(saved: Mapping[str, Any], candidate: Mapping[str, Any]) -> bool:
    """Whether saving the candidate voids the signatures: it changes the signed content
    (view, period column, formula, targets, direction, unit or owner) of a KPI that is past
    draft."""
    return entry_version(saved) != entry_version(candidate) and saved.get("status") != "draft"


def summary_line(kpi: KpiDefinition) -> str:
    """Unit, direction and dimensions of a KPI in one markdown line."""
    return (
        f"**Unit** {kpi.unit} · **direction** {kpi.direction.replace('_', ' ')} · "
        f"**can be split by** {', '.join(kpi.dimensions) or '–'}"
    )


def history_heading(record: Mapping[str, Any]) -> str:
    """One change's heading: when (to the minute), who, what."""
    when = str(record.get("when", ""))[:16].replace("T", " ")
    return f"{when} · {record.get('who')} · {record.get('action')}"


def theme_label(theme: str) -> str:
    """A theme as the catalogue names it (an unknown theme as written)."""
    return THEMES.get(theme, theme)


def kpi_caption(kpi: KpiDefinition, people: Sequence[Person]) -> str:
    """The line under a KPI's name in the catalogue: id, owner, theme, status."""
    return (
        f"`{kpi.id}` · owner **{kpi.owner}** · {theme_label(kpi.theme)} · "
        f"{STATUS_SHOWN[effective_status(kpi, people)]}"
    )


def status_line(kpi: KpiDefinition, people: Sequence[Person]) -> str:
    """The KPI's status, the version of what both departments sign and who still has to
    sign it."""
    return (
        f"Status **{STATUS_SHOWN[effective_status(kpi, people)]}** · version of the signed "
        f"content `{entry_version(kpi)}` ({SIGNED_SHOWN}) · {to_sign_text(kpi, people)}"
    )


def to_sign_text(kpi: KpiDefinition, people: Sequence[Person]) -> str:
    """Who still has to sign the current content, and why a written approval does not
    count; or that both signed it."""
    checks = approval_checks(kpi, people)
    if all(c.counts for c in checks.values()):
        return "both departments signed this content"
    due = [
        f"{d} (its approval does not count: {c.reason})" if c.state == "void" else d
        for d, c in checks.items()
        if not c.counts
    ]
    return "still to sign: " + " and ".join(due)


def changed_line(changes: Iterable[str]) -> str:
    """The fields an edit changes, in one markdown line."""
    return "**Changed:** " + ", ".join(f"`{k}`" for k in changes)


def does_not_run_message(exc: BaseException) -> str:
    """Why a formula that passes the checks cannot be saved: it fails on the data."""
    return (
        f"The formula passes the checks but does not run on the data: {first_line(exc)}. "
        "Check that each function gets columns of the right type (numbers for sum, avg…). "
        "Saving is off until it runs: it would break every page that shows this KPI."
    )


def approve_conflict_message(kpi_id: str) -> str:
    """Why an approval was refused: the definitions changed since the person read the KPI."""
    return (
        f"Not approved: the KPI definitions were saved by someone else since you looked at "
        f"'{kpi_id}'. Read the definition again, then approve it."
    )


def add_conflict_message() -> str:
    """Why a new KPI was not added yet: someone saved the definitions meanwhile."""
    return (
        "Not added yet: the KPI definitions were saved by someone else meanwhile. Your fields "
        "are kept; check the catalogue for a KPI like yours, then press **Add the KPI** again."
    )


def conflict_record(exc: ConflictError) -> dict[str, str | None]:
    """A refused edit kept for the next run: the message, their entry and this change."""
    return {
        "message": str(exc),
        "theirs": exc.current_entry_yaml,
        "yours": exc.proposed_entry_yaml,
    }


def preview_title(name: str | None, kpi_id: str, with_saved: bool) -> str:
    """The preview chart's title: the edited definition, and the saved one when shown."""
    return f"{name or kpi_id}: as edited" + (" and as saved" if with_saved else "")


def preview_caption(currency: str, active: Sequence[str]) -> str:
    """What the preview covers: the sidebar's periods, currency and filters."""
    return f"By quarter over the sidebar's periods, amounts in {currency}" + (
        " · " + "; ".join(active) if active else ""
    )


# ---- tables ----------------------------------------------------------------------------------


def issues_table(issues: Sequence[Issue]) -> pl.DataFrame:
    """Every problem of a broken kpis.yaml, one row each, to read and download."""
    return pl.DataFrame(
        {
            "line": [i.line for i in issues],
            "kpi": [i.kpi_id or "" for i in issues],
            "field": [i.field or "" for i in issues],
            "problem": [i.message for i in issues],
            "what to do": [i.hint or "" for i in issues],
        },
        schema_overrides={"line": pl.Int64},
    )


def filter_catalogue(
    table: pl.DataFrame,
    search: str,
    owners: Sequence[str] = (),
    statuses: Sequence[str] = (),
    themes: Sequence[str] = (),
) -> pl.DataFrame:
    """The catalogue rows whose id, name or description hold the search text (any case, taken
    literally) and whose owner, status and theme are among those chosen (all when none)."""
    if search.strip():
        text = pl.concat_str("id", "name", "description", separator=" ").str.to_lowercase()
        table = table.filter(text.str.contains(search.strip().lower(), literal=True))
    for column, chosen in (("owner", owners), ("status", statuses), ("theme", themes)):
        if chosen:
            table = table.filter(pl.col(column).is_in(list(chosen)))
    return table


def targets_table(kpi: KpiDefinition, currency: str) -> pl.DataFrame:
    """A KPI's targets: period, the target as people read it, and the raw value to download."""
    return pl.DataFrame(
        {
            "period": list(kpi.targets),
            "target": [format_value(v, kpi.unit, currency) for v in kpi.targets.values()],
            "value": list(kpi.targets.values()),
        }
    )


def approvals_table(kpi: KpiDefinition, people: Sequence[Person]) -> pl.DataFrame:
    """Each department's approval: its state, who gave it, when, for which version and, when
    it does not count, why (no hash, unknown signer, wrong department, older content)."""
    checks = approval_checks(kpi, people)
    return pl.DataFrame(
        {
            "department": list(checks),
            "state": [APPROVAL_SHOWN[c.state] for c in checks.values()],
            "by": [
                f"{c.signer.name} <{c.signer.email}>" if c.signer else c.by or ""
                for c in checks.values()
            ],
            "on": [c.on or "" for c in checks.values()],
            "version approved": [(c.version or "(none)") if c.by else "" for c in checks.values()],
            "why it does not count": [c.reason for c in checks.values()],
        }
    )


def history_table(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """A KPI's saved changes, newest first as recorded, one row each."""
    return pl.DataFrame(
        {
            "when": [str(r.get("when", "")).replace("T", " ") for r in records],
            "who": [str(r.get("who", "")) for r in records],
            "action": [str(r.get("action", "")) for r in records],
            "why": [str(r.get("why", "")) for r in records],
            "status": [f"{r.get('status_from') or '–'} → {r.get('status_to')}" for r in records],
        }
    )


# ---- the preview -----------------------------------------------------------------------------


def preview_values(store: Store, text: str, scope: Scope) -> pl.DataFrame:
    """An entry's values by quarter over the scope, computed from its text as if it were
    saved. Raises what the engine raises when the formula does not run on the data."""
    definitions, _ = check_candidate(text, store.settings)
    result = compute(
        store, definitions, "quarter", (), scope.start, scope.end, scope.as_dict(), scope.currency
    )
    return result.frame.select("period", "value")


def preview_targets(entry: Mapping[str, Any]) -> dict[str, float]:
    """The entry's targets that are numbers, by period, to draw beside the values."""
    given = (entry.get("targets") or {}).items()
    return {str(k): float(v) for k, v in given if as_number(v) is not None}


def preview_table(
    edited: pl.DataFrame, saved: pl.DataFrame | None, targets: Mapping[str, float]
) -> pl.DataFrame:
    """Per quarter: the value as saved (when known), as edited, and the target, so the person
    sees what the change does before saving it."""
    table = edited.rename({"value": "as edited"})
    if saved is not None:
        table = saved.rename({"value": "as saved"}).join(
            table, on="period", how="full", coalesce=True
        )
    return table.with_columns(
        pl.col("period")
        .replace_strict(dict(targets), default=None, return_dtype=pl.Float64)
        .alias("target")
    ).sort("period")


def formatted_values(table: pl.DataFrame, unit: str, currency: str) -> pl.DataFrame:
    """Every column but the period written as people read the unit (percent, money…)."""
    return table.with_columns(
        pl.col(c).map_elements(lambda v: format_value(v, unit, currency), return_dtype=pl.String)
        for c in table.columns
        if c != "period"
    )


def scaled(values: Sequence[float | None], unit: str) -> list[float | None]:
    """Values as the trend chart plots them: a percent KPI's shares as percent."""
    scale = 100 if unit == "percent" else 1
    return [None if v is None else v * scale for v in values]
