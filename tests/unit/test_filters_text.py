"""The sidebar's filters in words: the period range and the empty-slice messages."""

from __future__ import annotations

from datetime import date

from kpi.core.settings import FiscalCalendar
from kpi.reporting.filters_text import (
    empty_slice_text,
    empty_table_text,
    period_text,
    slice_text,
)


def test_period_text_names_one_quarter_or_the_range():
    cal = FiscalCalendar()  # fiscal year = calendar year, named by its end
    assert period_text(date(2026, 7, 1), date(2026, 9, 30), cal) == "FY2026-Q3"
    assert period_text(date(2024, 10, 1), date(2026, 9, 30), cal) == "FY2024-Q4 to FY2026-Q3"


def test_period_text_follows_a_fiscal_year_that_starts_in_april():
    cal = FiscalCalendar(year_start_month=4, label_year="end")
    # April 2026 opens FY2027 (named by the year it ends in): its first quarter
    assert period_text(date(2026, 4, 1), date(2026, 6, 30), cal) == "FY2027-Q1"


def test_an_empty_slice_names_the_filter_and_the_period():
    text = empty_slice_text("spend", "FY2026-Q3", {"category": ["Marketing"], "cost_centre": []})
    assert text == (
        "**Nothing in Marketing for FY2026-Q3:** no spend there. Widen the period or clear "
        "the Category filter."
    )


def test_two_filters_are_named_both_with_their_values():
    text = empty_slice_text(
        "supplier spend",
        "FY2025-Q4 to FY2026-Q3",
        {"category": ["Marketing", "Energy"], "cost_centre": ["CC-1010"]},  # a Scope's order
    )
    assert text.startswith(
        "**Nothing in cost centre CC-1010 and category Marketing or Energy for FY2025-Q4 to "
        "FY2026-Q3:** no supplier spend there."
    )
    assert text.endswith("clear the Cost centre and Category filters.")


def test_many_values_are_counted_not_listed():
    text = empty_slice_text("spend", "FY2026-Q3", {"category": ["A", "B", "C", "D", "E"]})
    assert "Nothing in A, B, C or 2 more for FY2026-Q3" in text


def test_without_filters_only_the_period_can_be_widened():
    assert empty_slice_text("stock snapshots", "FY2023-Q1", {}) == (
        "**No stock snapshots in FY2023-Q1.** Widen the period in the sidebar."
    )
    assert "filter" not in empty_slice_text("spend", "FY2023-Q1", {"category": []})


def test_an_empty_table_asks_for_a_load_not_for_other_filters():
    text = empty_table_text("stock snapshots", "Load the inventory on the **Data** page.")
    assert text == "**No stock snapshots loaded yet.** Load the inventory on the **Data** page."


def test_slice_text_names_each_filter_only_when_there_are_several():
    assert slice_text({"category": ["Marketing"]}) == "Marketing"
    assert slice_text({"category": ["Packaging"], "cost_centre": ["CC2"]}) == (
        "cost centre CC2 and category Packaging"
    )
    assert slice_text({"category": [], "cost_centre": []}) == ""


def test_a_fiscal_year_is_chosen_not_widened():
    text = empty_slice_text("budgets", "FY2026", {"category": ["IT"]}, "Choose another fiscal year")
    assert text == (
        "**Nothing in IT for FY2026:** no budgets there. Choose another fiscal year or clear "
        "the Category filter."
    )
    assert empty_slice_text("budgets", "FY2026", {}, "Choose another fiscal year") == (
        "**No budgets in FY2026.** Choose another fiscal year."
    )
