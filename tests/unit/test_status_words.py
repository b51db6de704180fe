"""Words that mean what they say (issue 15): "no data" against "no target", a utilisation
above its 100 % ceiling is off target, and a percent KPI's change is in percentage points."""

from __future__ import annotations

import polars as pl
import pytest

from kpi.analyses.scorecard import NO_SLICE_TARGET, rag_status
from kpi.core.formatting import delta_words, format_delta
from kpi.reporting.scorecard_view import STATUS_LABELS, for_display, status_tally

TOL = 0.05


@pytest.mark.parametrize(
    "value,target,expected",
    [
        (1.008, 1.0, "red"),  # budget utilisation 100.8 %: over budget, the demo's Q3 case
        (1.0001, 1.0, "red"),  # over by any margin
        (1.0, 1.0, "green"),  # the whole budget, not more
        (0.97, 1.0, "green"),  # 3 % under: within the 5 % tolerance
        (0.93, 1.0, "amber"),  # 7 % under: within twice the tolerance
        (0.85, 1.0, "red"),  # 15 % under
    ],
)
def test_a_utilisation_above_its_100_percent_ceiling_is_off_target(value, target, expected):
    assert rag_status(value, target, "target_is_best", TOL, "percent") == expected


def test_only_a_percent_best_at_100_percent_is_a_ceiling():
    # a ratio best at 1.0 (no budget behind it) and a percent best at 73 %: the usual band
    assert rag_status(1.02, 1.0, "target_is_best", TOL, "ratio") == "green"
    assert rag_status(0.75, 0.73, "target_is_best", TOL, "percent") == "green"


@pytest.mark.parametrize(
    "value,expected",
    [
        (0.060, "green"),  # under the 6.4 % maximum
        (0.064, "green"),  # at it
        (0.066, "amber"),  # above it by 0.2 pp, within 5 % of 6.4 % (0.32 pp): never green
        (0.070, "red"),  # above by 0.6 pp
    ],
)
def test_lower_is_better_above_its_target_is_never_on_target(value, expected):
    # maverick spend rate against 6.4 %
    assert rag_status(value, 0.064, "lower_is_better", TOL, "percent") == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        (0.95, "green"),  # above the 93.6 % floor
        (0.936, "green"),
        (0.92, "amber"),  # 1.6 pp under, within 5 % of 93.6 % (4.68 pp)
        (0.876, "red"),  # the demo's Q3 PO compliance: 6 pp under
    ],
)
def test_higher_is_better_below_its_floor(value, expected):
    assert rag_status(value, 0.936, "higher_is_better", TOL, "percent") == expected


@pytest.mark.parametrize(
    "value,target,basis,expected",
    [
        (None, 300_000.0, "company", "no_data"),  # a target but no value: no data
        (None, None, "company", "no_data"),  # neither: the missing value comes first
        (None, None, NO_SLICE_TARGET, "no_data"),
        (25.75, None, "company", "none"),  # a value but no target: no target
        (700.0, None, NO_SLICE_TARGET, NO_SLICE_TARGET),
    ],
)
def test_a_missing_value_is_no_data_and_a_missing_target_no_target(value, target, basis, expected):
    assert rag_status(value, target, "lower_is_better", TOL, "currency", basis) == expected


def _card(rows: list[tuple[str, str, float | None, float | None, float | None, str]]):
    return pl.DataFrame(
        [
            {
                "id": kpi,
                "unit": unit,
                "value": value,
                "target": target,
                "delta": delta,
                "status": status,
                "trend": [value],
                "definition_status": "agreed",
            }
            for kpi, unit, value, target, delta, status in rows
        ],
        schema_overrides={"value": pl.Float64, "target": pl.Float64, "delta": pl.Float64},
    )


def test_the_scorecard_reads_no_data_and_no_target_where_each_is_missing():
    card = _card(
        [
            ("overdue_payables", "currency", None, 300_000.0, None, "no_data"),
            ("cash_conversion_gap", "days", 25.75, None, 1.06, "none"),
            ("po_compliance", "percent", 0.8763, 0.936, -0.0135, "red"),
        ]
    )
    shown = {r["id"]: r for r in for_display(card, "EUR").iter_rows(named=True)}
    assert (shown["overdue_payables"]["Value"], shown["overdue_payables"]["Status"]) == (
        "–",
        "◌ No data",
    )
    assert shown["overdue_payables"]["Target"] == "€300,000.00"
    assert (shown["cash_conversion_gap"]["Target"], shown["cash_conversion_gap"]["Status"]) == (
        "–",
        "○ No target",
    )
    # a percent KPI's change: 87.63 % against 88.98 % is 1.35 percentage points down
    assert shown["po_compliance"]["Change"] == "-1.4 pp"
    assert status_tally(card) == (
        "● On target: **0** · ▲ Near target: **0** · ■ Off target: **1** · "
        "○ No target: **1** · ◌ No data: **1**"
    )


def test_the_tally_names_no_data_only_when_a_kpi_has_none():
    card = _card([("po_compliance", "percent", 0.95, 0.936, 0.01, "green")])
    assert "No data" not in status_tally(card)
    assert STATUS_LABELS["no_data"] == "◌ No data"


@pytest.mark.parametrize(
    "delta,unit,expected",
    [
        (0.021, "percent", "+2.1 pp"),  # 80.0 % to 82.1 %: points, not a relative 2.1 %
        (-0.0135, "percent", "-1.4 pp"),
        (0.0, "percent", "+0.0 pp"),
        (0.5, "days", "+0.5 days"),
        (-1750.0, "currency", "-€1.8 k"),
        # too small to show: no sign of its own (a float sum a hair below zero)
        (-1e-9, "currency", "+€0"),
        (-0.4, "currency", "+€0"),
        (-0.6, "currency", "-€1"),
        (-0.00004, "percent", "+0.0 pp"),
        (-0.04, "days", "+0.0 days"),
        (None, "percent", ""),
    ],
)
def test_changes_of_percent_kpis_are_in_percentage_points(delta, unit, expected):
    assert format_delta(delta, unit, "EUR") == expected


def test_the_tile_help_says_what_a_change_is_counted_in():
    assert delta_words("percent") == "in percentage points (pp)"
    assert delta_words("currency") == ""
