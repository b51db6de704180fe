"""The savings page as plain data: the headline figures, the bridge's period choices, the
initiative form's record and the finance review's choices and messages (so the page only
reads, calls and draws)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl
from pydantic import ValidationError

from kpi.analyses.savings import year_earlier
from kpi.core import periods
from kpi.core.settings import FiscalCalendar
from kpi.workflows.initiatives import field_problems

LENS_METRICS: tuple[tuple[str, str], ...] = (  # the four headline figures, in their order
    ("procurement_reported", "Procurement-reported savings"),
    ("finance_recognised", "Recognised by finance"),
    ("cost_avoidance", "Cost avoidance (not P&L)"),
    ("expense_change", "Change in expense vs last year"),
)
EXPENSE_METRIC = "Change in expense vs last year"
TWO_LENSES_READING = (
    "**How to read it.** Left: the savings each department counts — procurement a lower "
    "price than the baseline, finance the part it recognised, and cost avoidance (a rise "
    "prevented, never in the P&L). Right, on its own scale: how much the expense line "
    "moved against the same period a year earlier. A bar **up** is a higher expense — a "
    "cost, not a saving; a bar down is a lower expense. The two are not added: the "
    "difference is volume, mix and prices the initiatives do not cover (see the gap column)."
)
BRIDGE_SCOPES = ("All spend", "category", "cost_centre", "supplier")
NEW_INITIATIVE = "(new initiative)"
FINANCE_STATUSES = ("pending", "accepted", "rejected")
DECISIONS = ("accepted", "rejected")
REALISED_COLUMNS = ("realised_saving", "expected_saving", "leakage", "off_contract_amount")
AVOIDED_COLUMNS = ("avoided_cost", "expected_avoidance")
REALISED_EXPLAINED = (
    "Realised = (baseline − unit price actually paid) × quantity actually invoiced on the "
    "lines attributed to the initiative inside its window (category-wide: amount × −p / "
    "(100 + p) for a price change of p %). Expected = expected volume × (baseline − "
    "negotiated), spread over the months of the window. Leakage = paying above the "
    "negotiated price."
)
AVOIDANCE_EXPLAINED = (
    "Cost avoidance = (quoted − unit price paid) × quantity. A price rise prevented "
    "is not a lower expense: it is shown with finance's verdict and never added to "
    "P&L savings."
)


def lens_figures(lenses: pl.DataFrame) -> list[tuple[str, float | None]] | None:
    """The headline figures (label, value) from the lenses' total row; None when the period
    has no savings at all."""
    if lenses.is_empty():
        return None
    total = lenses.filter(pl.col("is_total")).row(0, named=True)
    return [
        (label, None if total[key] is None else float(total[key])) for key, label in LENS_METRICS
    ]


def expense_reading(value: float | None) -> str | None:
    """What the change in expense means, in words beside its figure: a rise is a cost."""
    if value is None:
        return None
    if value > 0:
        return "up: a cost, not a saving"
    if value < 0:
        return "down: a lower expense"
    return "unchanged"


def bridge_periods(
    start: date, end: date, period: str, calendar: FiscalCalendar
) -> tuple[list[str], str]:
    """The periods the bridge can compare (quarters and years of the sidebar's range, and the
    year-earlier one) and the prior period it starts from."""
    quarters = periods.periods_between(start, end, "quarter", calendar)
    years = periods.periods_between(start, end, "year", calendar)
    prior = year_earlier(period, calendar)
    return sorted(set(quarters) | set(years) | {prior}), prior


def scope_label(scope: str) -> str:
    """A bridge scope as a label: `cost_centre` → `Cost centre`."""
    return scope.replace("_", " ").capitalize()


def initiative_choices(ledger: pl.DataFrame) -> list[str]:
    """What the edit form can open: a new initiative or one of the ledger's."""
    if ledger.is_empty():
        return [NEW_INITIATIVE]
    return [NEW_INITIATIVE, *ledger["initiative_id"].to_list()]


def initiative_record(initiative_id: str | None, form: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields as an Initiative's data: empty supplier, item and category are none."""
    record = {"initiative_id": initiative_id, **form}
    for field in ("supplier_id", "item_id", "category"):
        record[field] = record.get(field) or None
    return record


def problem_lines(exc: ValidationError) -> list[str]:
    """A refused initiative's problems, one line per field, as the form shows them."""
    return [
        f"{field.replace('_', ' ')}: {problem}" for field, problem in field_problems(exc).items()
    ]


def pending_review(ledger: pl.DataFrame) -> pl.DataFrame:
    """The initiatives of the selection that wait for finance's decision."""
    if ledger.is_empty():
        return ledger
    return ledger.filter(pl.col("finance_status") == "pending")


def review_label(pending: pl.DataFrame, initiative_id: str) -> str:
    """A pending initiative as the review form lists it: id and title."""
    title = pending.filter(pl.col("initiative_id") == initiative_id)["title"][0]
    return f"{initiative_id} · {title}"


def supplier_item_choices(
    items: Mapping[str, str], sold: Mapping[str, list[str]], supplier: str, current: str
) -> list[str]:
    """The items the initiative form offers ('' = none, category-wide): the items the chosen
    supplier sold (all items when no supplier is chosen), and the initiative's own item
    even when the supplier never invoiced it."""
    if not supplier:
        return ["", *items]
    offered = [i for i in sold.get(supplier, []) if i in items]
    if current and current not in offered:
        offered.append(current)
    return ["", *offered]


def verdict_missing(decision: str | None) -> str | None:
    """The review form's refusal when no verdict is chosen: the reviewer picks one, none is
    preselected."""
    if decision in DECISIONS:
        return None
    return "Choose Accept or Reject before you record the decision: none is preselected."


def decision_label(decision: str) -> str:
    """Finance's decision as its button reads."""
    return "Accept" if decision == "accepted" else "Reject"


def decision_message(initiative_id: str, decision: str) -> str:
    """What the page says after finance recorded a decision."""
    return f"{initiative_id}: {decision}. The status shows wherever the saving counts."
