"""The quarterly goals page as plain data: the quarters to plan, the tables and texts it shows,
and the checks and saving behind its forms (so the page only reads, calls and draws)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from kpi.analyses.goal_history import (
    GoalError,
    default_quarter_to_plan,
    kpi_forecasts,
    next_quarter,
    quarter_history,
)
from kpi.core.formatting import format_delta, format_value
from kpi.core.people import Person
from kpi.core.permissions import (
    PermissionDenied,
    outlook_refusal,
    proposer_refusal,
    signer_refusal,
)
from kpi.reporting.target_units import stored_target, typed_target
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store, StoreError
from kpi.workflows.definition_versions import ApprovalCheck, approval_checks, effective_status
from kpi.workflows.goals import (
    decision_log,
    outlook_changes,
    proposal_history,
    proposals,
    propose_target,
    set_price_outlook,
    sign_target,
)


def quarters_to_plan(store: Store, n: int = 4) -> list[str]:
    """The quarter after the last complete one in the data and the n - 1 after it: the
    quarters a meeting can plan. Empty when the store holds no complete quarter."""
    first = default_quarter_to_plan(store)
    if first is None:
        return []
    out = [first]
    for _ in range(n - 1):
        out.append(next_quarter(out[-1], store))
    return out


def kpi_facts(
    store: Store,
    definitions: Sequence[KpiDefinition],
    plan: str,
    filters: Mapping[str, Sequence[str]],
    currency: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the meeting looks at per KPI: eight quarters of history and the forecast for the
    quarter to plan, over the same filters."""
    f = dict(filters)
    return (
        quarter_history(store, definitions, plan, 8, f, currency),
        kpi_forecasts(store, definitions, plan, f, currency),
    )


def meeting_records(
    store: Store, plan: str, definitions: Sequence[KpiDefinition]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """What the meeting has said so far: the latest proposals for the quarter, every decision,
    every proposal for the quarter and the changes to its price outlook."""
    return (
        proposals(store, plan, definitions),
        decision_log(store),
        proposal_history(store, plan),
        outlook_changes(store, plan),
    )


# ---- tables --------------------------------------------------------------------------------


def formatted(column: str, currency: str, compact: bool = False) -> pl.Expr:
    """A value column written as people read it, in each row's unit (a `unit` column)."""
    return pl.struct(column, "unit").map_elements(
        lambda r: format_value(r[column], r["unit"], currency, compact=compact),
        return_dtype=pl.String,
    )


def overview_shown(table: pl.DataFrame, currency: str) -> pl.DataFrame:
    """The all-KPIs table as shown: values formatted, the forecast's range as 'low to high'
    and the signers ticked where a target was agreed."""
    return table.with_columns(
        formatted("last", currency, compact=True),
        formatted("forecast", currency, compact=True),
        pl.when(pl.col("low").is_not_null())
        .then(
            formatted("low", currency, compact=True)
            + " to "
            + formatted("high", currency, compact=True)
        )
        .otherwise(pl.lit(""))
        .alias("range"),
        formatted("finance_value", currency, compact=True),
        formatted("procurement_value", currency, compact=True),
        formatted("target", currency, compact=True),
        pl.when(pl.col("agreed").is_not_null())
        .then("✓ " + pl.col("signed_by"))
        .otherwise(pl.lit(""))
        .alias("signed_by"),
    )


def single_quarter(table: pl.DataFrame) -> str | None:
    """The one quarter every KPI's last value is from, or None when they differ (the table
    then shows a quarter column)."""
    shown = table["last_quarter"].drop_nulls().unique()
    return shown[0] if len(shown) == 1 else None


def overview_caption(forecasts: pl.DataFrame, plan: str) -> str:
    """What the all-KPIs table holds, naming the quarter the forecasts are based on."""
    based_on = forecasts["based_on"].drop_nulls()
    return (
        "Per KPI: the value of the last complete quarter"
        + (f" ({based_on[0]})" if len(based_on) else "")
        + f", the forecast for **{plan}** and its range, what finance and procurement "
        "propose, the target in the shared KPI definitions and who signed it in the meeting. "
        "Pick a KPI in **KPI by KPI** to see its history, propose or sign."
    )


def history_shown(history: pl.DataFrame, currency: str) -> pl.DataFrame:
    """One KPI's quarterly history as shown: formatted values and whether a quarter is whole."""
    return history.select(
        pl.col("period").alias("Quarter"),
        formatted("value", currency).alias("Value"),
        formatted("target", currency).alias("Target"),
        pl.when(pl.col("complete"))
        .then(pl.lit("complete"))
        .otherwise(pl.lit("part of the quarter"))
        .alias("Data"),
    )


def decisions_table(decisions: pl.DataFrame, names: Mapping[str, str]) -> pl.DataFrame:
    """The decision log with each KPI's name beside its id, when and which quarter first."""
    return decisions.with_columns(
        pl.col("kpi").replace_strict(dict(names), default=pl.col("kpi")).alias("name")
    ).select(
        "decided_at",
        "quarter",
        "kpi",
        "name",
        pl.exclude("decided_at", "quarter", "kpi", "name"),
    )


def last_complete(history: pl.DataFrame) -> dict[str, Any] | None:
    """The last complete quarter with a value in one KPI's history, or None."""
    done = history.filter(pl.col("complete") & pl.col("value").is_not_null())
    return done.row(-1, named=True) if done.height else None


def one_kpi(
    kpi_id: str, history: pl.DataFrame, forecasts: pl.DataFrame, proposed: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any], dict[str, Any]]:
    """One KPI's quarterly history, its forecast row and its row of proposals."""
    return (
        history.filter(pl.col("kpi") == kpi_id),
        forecasts.filter(pl.col("kpi") == kpi_id).row(0, named=True),
        proposed.filter(pl.col("kpi") == kpi_id).row(0, named=True),
    )


def start_value(given: float | None, forecast: float | None, unit: str) -> float | None:
    """What the proposal form starts from, as typed: the value already given, else the
    forecast (to four decimals: a forecast runs on)."""
    typed = typed_target(given if given is not None else forecast, unit)
    return None if typed is None else round(typed, 4)


def propose(
    store: Store,
    person: Person | None,
    plan: str,
    kpi_id: str,
    typed: float | None,
    unit: str,
    rationale: str,
    definitions: Sequence[KpiDefinition],
) -> dict[str, Any]:
    """Propose a target as typed in the form (a percent KPI's target in percent): stored as
    kpis.yaml keeps it. GoalError when no value was typed, as propose_target for the rest."""
    if typed is None:
        raise GoalError("Enter the target you propose.", "value")
    value = stored_target(typed, unit)
    return propose_target(store, person, plan, kpi_id, value, rationale, definitions)


# ---- texts ---------------------------------------------------------------------------------


def filtered_warning(active: Sequence[str]) -> str | None:
    """Why a filtered view is the wrong one for the meeting, or None when nothing is filtered."""
    if not active:
        return None
    return (
        f"Filtered ({'; '.join(active)}): the history, forecasts, spend outlook and meeting "
        "pack cover only this part of spend, while the targets you propose and agree are for "
        "the whole KPI. Clear the filters in the sidebar for the meeting."
    )


def forecast_delta(
    forecast: float | None, last: Mapping[str, Any] | None, unit: str, currency: str
) -> str | None:
    """The forecast's change against the last value, or None when either is missing."""
    if last is None or forecast is None:
        return None
    return format_delta(forecast - last["value"], unit, currency) or None


def proposal_signature(row: Mapping[str, Any], dept: str) -> str:
    """Who made a department's proposal (by name, not e-mail) and when, under its card."""
    when = row[f"{dept}_at"]
    who = row[f"{dept}_name"] or str(row[f"{dept}_by"] or "").partition("@")[0]
    return f"{who} · " + (f"{when:%Y-%m-%d %H:%M} UTC" if when else "")


def proposed_message(row: Mapping[str, Any], kpi_name: str, plan: str, unit: str, cur: str) -> str:
    """What a saved proposal says after the page reloads."""
    return (
        f"{row['department'].capitalize()} proposes "
        f"{format_value(row['value'], unit, cur)} for {kpi_name} in {plan}."
    )


def agreed_text(decision: Mapping[str, Any], plan: str, unit: str, currency: str) -> str:
    """The agreed target of a KPI for the quarter: value, rationale, both signers, when."""
    return (
        f"**Agreed for {plan}: {format_value(decision['value'], unit, currency)}.** "
        f"{decision['rationale'].rstrip('. ')}. Signed for finance by "
        f"{decision['finance_name']} and for procurement by {decision['procurement_name']}, "
        f"{decision['decided_at']:%Y-%m-%d %H:%M} UTC."
    )


def kpi_caption(kpi: KpiDefinition, people: Sequence[Person]) -> str:
    """The line under a KPI's name: id, owner, unit, direction, status (agreed only on both
    departments' valid signatures) and description."""
    return (
        f"`{kpi.id}` · owner **{kpi.owner}** · {kpi.unit} · {kpi.direction.replace('_', ' ')} · "
        f"definition {effective_status(kpi, people)}. {kpi.description}"
    )


def last_value_label(last: Mapping[str, Any] | None) -> str:
    """The last-value metric's label, with the quarter it is from when there is one."""
    return f"Last value ({last['period']})" if last else "Last value"


def gap_text(gap: float | None, unit: str, currency: str) -> str | None:
    """How far procurement's proposal is from finance's, or None when one is missing; two
    percents differ by percentage points, said in words."""
    if gap is None:
        return None
    text = f"Procurement's proposal − finance's: **{format_delta(gap, unit, currency)}**"
    return text + (" (percentage points)" if unit == "percent" else "")


def forecast_delta_help(unit: str) -> str:
    """What the forecast's change against the last value is in: percentage points for a
    percent KPI (72 % to 75 % is +3 pp, not +3 %)."""
    if unit == "percent":
        return "Change against the last value, in percentage points (pp)."
    return "Change against the last value."


def outlook_caption(plan: str, base_quarter: str, currency: str) -> str:
    """How the spend outlook of the planned quarter is made, above its chart."""
    return (
        f"Spend forecast for **{plan}** per category: spend of {base_quarter} × (1 + volume "
        f"trend) × (1 + procurement's expected price change). Amounts in {currency}."
    )


def outlook_has_base(outlook: pl.DataFrame) -> bool:
    """Whether the store holds any of the base quarter's spend the outlook starts from."""
    return outlook["base_spend"].null_count() != outlook.height


def outlook_saved_message(plan: str, saved: Sequence[str]) -> str:
    """What the page says after every edited category of the price outlook was saved."""
    return f"Price outlook for {plan} saved: {', '.join(saved)}."


def outlook_partly_saved(saved: Sequence[str]) -> str:
    """What the page says when some categories were saved and others refused."""
    return f"Saved: {', '.join(saved)}. Fix the others and save again."


# ---- signing a target -----------------------------------------------------------------------


def signatures(kpi: KpiDefinition, people: Sequence[Person]) -> dict[str, ApprovalCheck]:
    """Each department's signature of the KPI's current content (its targets included), as
    it counts: by a signer in people.yaml for that department, on exactly this content."""
    return approval_checks(kpi, people)


def _signed_by(check: ApprovalCheck) -> str:
    who = check.signer.name if check.signer else str(check.by)
    return f"{who}, {check.on}" if check.on else who


def signatures_text(kpi: KpiDefinition, plan: str, people: Sequence[Person], currency: str) -> str:
    """Who has signed which target for the planned quarter and who still has to sign, e.g.
    'Finance signed 12.0 days (Sam Okafor, 2026-12-02); procurement has still to sign.'"""
    target = kpi.targets.get(plan)
    shown = (
        format_value(float(target), kpi.unit, currency)
        if target is not None
        else f"the definition without a target for {plan}"
    )
    parts = []
    for dept, check in signatures(kpi, people).items():
        if check.counts:
            parts.append(f"{dept} signed {shown} ({_signed_by(check)})")
        elif check.state == "void":
            parts.append(f"{dept} has still to sign (its approval does not count: {check.reason})")
        else:
            parts.append(f"{dept} has still to sign")
    text = "; ".join(parts)
    text = text[0].upper() + text[1:] + "."
    if all(c.counts for c in signatures(kpi, people).values()) and target is not None:
        text += f" Both departments signed it: {shown} is agreed for {plan}."
    return text


def sign_blocked(person: Person | None) -> str | None:
    """Why the acting person may not sign a target, or None when they may (for their own
    department only: nobody signs for someone else). The reason is kpi/'s own."""
    refusal = signer_refusal(person, "sign targets")
    if refusal is None:
        return None
    return f"{refusal} Each signs for themselves: pick one of them under **Acting as** to sign."


def propose_blocked(person: Person | None) -> str | None:
    """Why the acting person may not propose a target, or None when they may."""
    refusal = proposer_refusal(person)
    return (
        None if refusal is None else f"{refusal} Pick one of them under **Acting as** to propose."
    )


def outlook_blocked(person: Person | None) -> str | None:
    """Why the acting person may not change the price outlook, or None when they may."""
    refusal = outlook_refusal(person)
    return (
        None if refusal is None else f"{refusal} Pick one of them under **Acting as** to change it."
    )


def already_signed(
    kpi: KpiDefinition, plan: str, dept: str, value: float | None, people: Sequence[Person]
) -> bool:
    """Whether the department's signature already counts for exactly this target: signing
    it again (the second click of a double click) would record nothing new."""
    target = kpi.targets.get(plan)
    return (
        value is not None
        and target is not None
        and float(target) == value
        and signatures(kpi, people)[dept].counts
    )


def sign_placeholder(kpi: KpiDefinition, plan: str, unit: str) -> str:
    """What the empty signing field suggests: the target in the definitions, as typed."""
    typed = typed_target(kpi.targets.get(plan), unit)
    return f"e.g. {typed:g}, the target now" if typed is not None else "the target you sign"


def sign_note(
    kpi: KpiDefinition, plan: str, dept: str, people: Sequence[Person], currency: str
) -> str | None:
    """What signing means here, when the other department has signed: the same value agrees
    the target, a different one voids their signature."""
    other = "procurement" if dept == "finance" else "finance"
    theirs = signatures(kpi, people)[other]
    target = kpi.targets.get(plan)
    if not theirs.counts or target is None:
        return None
    value = format_value(float(target), kpi.unit, currency)
    if signatures(kpi, people)[dept].counts:  # both signed: the target is agreed already
        return (
            f"Both departments signed {value}: it is agreed. Signing a different value voids "
            f"both signatures ({other}'s and {dept}'s), and both have to sign again."
        )
    return (
        f"{other.capitalize()} signed {value} ({_signed_by(theirs)}). Sign the same value "
        f"to agree the target; signing a different value voids {other}'s signature, and "
        f"{other} has to sign again."
    )


def sign(
    store: Store,
    kpis_path: Path,
    person: Person | None,
    plan: str,
    kpi_id: str,
    typed: float | None,
    unit: str,
    rationale: str,
    expected_version: str | None,
    people: Sequence[Person],
) -> Any:
    """Sign a target as typed in the form (a percent KPI's target in percent) for the acting
    person's department; GoalError when no value was typed, as sign_target for the rest."""
    if typed is None:
        raise GoalError("Enter the target you sign.", "value")
    value = stored_target(typed, unit)
    return sign_target(
        store,
        kpis_path,
        person,
        plan,
        kpi_id,
        value,
        rationale,
        expected_version,
        people=people,
    )


def signed_message(
    result: Any,
    kpi_name: str,
    value: float | None,
    unit: str,
    currency: str,
    plan: str,
    dept: str,
    name: str,
) -> str:
    """What a signature did, after the page reloads: agreed, or waiting for the other."""
    other = "procurement" if dept == "finance" else "finance"
    shown = format_value(value, unit, currency)
    text = f"{kpi_name}: {shown} for {plan} signed for {dept} by {name}"
    if result.status == "agreed":
        return (
            text + ". Both departments signed it: agreed, written into the shared KPI "
            "definitions and the decision log."
        )
    text += (
        " and written into the shared KPI definitions. It is agreed once "
        f"{other} signs the same value."
    )
    if other in result.cleared_approvals:
        text += f" {other.capitalize()}'s earlier signature was of another content: it is void."
    return text


# ---- the price outlook form ----------------------------------------------------------------


def outlook_editable(outlook: pl.DataFrame, categories: Sequence[str]) -> pl.DataFrame:
    """One row per category (every category in the data, and any with an outlook), with
    procurement's expected change and note, to edit."""
    current = outlook.filter(~pl.col("is_total")).select(
        "category", "expected_change_pct", pl.col("price_note").alias("note")
    )
    return (
        pl.DataFrame({"category": list(categories)}, schema={"category": pl.String})
        .join(current, on="category", how="full", coalesce=True)
        .sort("category")
    )


def outlook_edits(edited: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    """The rows whose expected change or note was edited (a blank note counts as none), so
    only these are saved and audited."""
    after = edited.with_columns(pl.col("note").cast(pl.String).str.strip_chars().replace("", None))
    return after.join(before, on="category", suffix="_before").filter(
        pl.col("expected_change_pct").ne_missing(pl.col("expected_change_pct_before"))
        | pl.col("note").ne_missing(pl.col("note_before"))
    )


def save_outlook_edits(
    store: Store, person: Person | None, plan: str, changed: pl.DataFrame
) -> tuple[list[str], list[str]]:
    """Save each edited category's outlook; returns the categories saved and one message per
    problem. A row without a change is refused (0 means none); a person who may not edit
    stops the lot with that one message."""
    saved: list[str] = []
    failed: list[str] = []
    for r in changed.iter_rows(named=True):
        if r["expected_change_pct"] is None:
            failed.append(f"{r['category']}: give an expected price change (0 for none).")
            continue
        try:
            set_price_outlook(
                store, person, plan, r["category"], r["expected_change_pct"], r["note"]
            )
            saved.append(r["category"])
        except PermissionDenied as exc:
            return saved, [str(exc)]
        except (GoalError, StoreError) as exc:
            failed.append(f"{r['category']}: {exc}")
    return saved, failed
