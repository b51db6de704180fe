"""The savings page's presenter: headline figures, bridge periods, the initiative record and
the finance review's choices and texts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest
from pydantic import ValidationError

from kpi.core.settings import FiscalCalendar
from kpi.reporting import savings_view as view
from kpi.workflows.initiatives import Initiative


def _lenses() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "category": ["IT", None],
            "is_total": [False, True],
            "procurement_reported": [Decimal("10.00"), Decimal("120.50")],
            "finance_recognised": [Decimal("5.00"), Decimal("80.00")],
            "cost_avoidance": [Decimal("1.00"), Decimal("7.25")],
            "expense_change": [None, None],
        }
    )


def test_lens_figures_come_from_the_total_row_in_the_order_shown():
    figures = view.lens_figures(_lenses())
    assert figures == [
        ("Procurement-reported savings", 120.5),
        ("Recognised by finance", 80.0),
        ("Cost avoidance (not P&L)", 7.25),
        ("Change in expense vs last year", None),
    ]


def test_no_lens_figures_without_savings():
    assert view.lens_figures(_lenses().clear()) is None


def test_bridge_periods_hold_quarters_years_and_the_year_earlier_start():
    options, prior = view.bridge_periods(
        date(2025, 1, 1), date(2025, 6, 30), "FY2025-Q2", FiscalCalendar()
    )
    assert prior == "FY2024-Q2"
    assert {prior, "FY2025-Q1", "FY2025-Q2", "FY2025"} <= set(options)
    assert options == sorted(options)


def test_scope_label_reads_like_a_heading():
    assert view.scope_label("cost_centre") == "Cost centre"
    assert view.scope_label("All spend") == "All spend"


def test_initiative_choices_start_with_a_new_one():
    assert view.initiative_choices(
        pl.DataFrame({"initiative_id": []}, schema={"initiative_id": pl.Utf8})
    ) == [view.NEW_INITIATIVE]
    ledger = pl.DataFrame({"initiative_id": ["SI-1", "SI-2"]})
    assert view.initiative_choices(ledger) == [view.NEW_INITIATIVE, "SI-1", "SI-2"]


def test_initiative_record_makes_empty_links_none_and_keeps_the_rest():
    form = {"title": "Steel", "supplier_id": "", "item_id": "", "category": "", "owner": "a@x"}
    record = view.initiative_record("SI-1", form)
    assert record == {
        "initiative_id": "SI-1",
        "title": "Steel",
        "supplier_id": None,
        "item_id": None,
        "category": None,
        "owner": "a@x",
    }
    assert view.initiative_record(None, {"category": "IT"})["category"] == "IT"


def test_problem_lines_name_the_field_in_words():
    with pytest.raises(ValidationError) as refused:
        Initiative(title="", kind="price_reduction", stage="identified", currency="EUR")
    lines = view.problem_lines(refused.value)
    assert lines and all(": " in line for line in lines)
    assert not any("_" in line.split(": ")[0] for line in lines)


def test_pending_review_and_its_labels():
    ledger = pl.DataFrame(
        {
            "initiative_id": ["SI-1", "SI-2"],
            "title": ["Steel", "Paper"],
            "finance_status": ["pending", "accepted"],
        }
    )
    pending = view.pending_review(ledger)
    assert pending["initiative_id"].to_list() == ["SI-1"]
    assert view.review_label(pending, "SI-1") == "SI-1 · Steel"
    assert view.pending_review(ledger.clear()).is_empty()


def test_decision_texts():
    assert [view.decision_label(d) for d in view.DECISIONS] == ["Accept", "Reject"]
    assert view.decision_message("SI-1", "rejected") == (
        "SI-1: rejected. The status shows wherever the saving counts."
    )


def test_a_rise_in_expense_reads_as_a_cost():
    assert view.expense_reading(3_200_000.0) == "up: a cost, not a saving"
    assert view.expense_reading(-1589.87) == "down: a lower expense"
    assert view.expense_reading(0.0) == "unchanged"
    assert view.expense_reading(None) is None


ITEMS = {"I1": "I1 · Carton", "I2": "I2 · Dock", "I3": "I3 · Seal"}
SOLD = {"S1": ["I1"], "S2": ["I2", "I9"]}  # I9: invoiced but not (or no longer) an item


@pytest.mark.parametrize(
    ("supplier", "current", "expected"),
    [
        ("", "", ["", "I1", "I2", "I3"]),  # no supplier: every item
        ("S1", "", ["", "I1"]),
        ("S2", "", ["", "I2"]),  # only items the store knows
        ("S3", "", [""]),  # a supplier that invoiced no item: category-wide only
        ("S1", "I3", ["", "I1", "I3"]),  # the edited initiative's own item stays offered
    ],
)
def test_the_item_list_is_the_suppliers(supplier, current, expected):
    assert view.supplier_item_choices(ITEMS, SOLD, supplier, current) == expected


def test_a_verdict_must_be_chosen():
    assert view.verdict_missing(None) == (
        "Choose Accept or Reject before you record the decision: none is preselected."
    )
    assert view.verdict_missing("accepted") is None and view.verdict_missing("rejected") is None
