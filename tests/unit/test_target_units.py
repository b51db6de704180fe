"""A target is typed in one unit everywhere (kpi.reporting.target_units): a percent KPI's
target as a percent, kept as a share; the conversion is exact both ways."""

from __future__ import annotations

import math

import pytest

from kpi.reporting.target_units import stored_target, target_input, target_unit, typed_target


def test_a_typed_percent_is_kept_as_the_exact_share():
    assert stored_target(92.1, "percent") == 0.921  # not 0.9209999999999999
    assert 92.1 / 100 != 0.921  # what plain float division would have kept
    assert stored_target(70, "percent") == 0.7
    assert stored_target(0.5, "percent") == 0.005
    assert stored_target(-3.3, "percent") == -0.033


def test_a_kept_share_is_typed_as_the_exact_percent():
    assert typed_target(0.921, "percent") == 92.1
    assert 0.921 * 100 != 92.1  # 92.10000000000001 in plain floats
    assert typed_target(0.07, "percent") == 7.0
    assert typed_target(1, "percent") == 100.0


@pytest.mark.parametrize("typed", [92.1, 0.1, 33.3, 99.99, 12.345, 100.0, 0.0, 57.7])
def test_typed_to_kept_and_back_is_the_same_number(typed):
    assert typed_target(stored_target(typed, "percent"), "percent") == typed


@pytest.mark.parametrize("kept", [0.921, 0.647, 0.9, 0.033, 0.12345678])
def test_kept_to_typed_and_back_is_the_same_number(kept):
    assert stored_target(typed_target(kept, "percent"), "percent") == kept


def test_other_units_are_typed_as_kept_and_non_numbers_are_none():
    assert stored_target(41430000, "currency") == 41430000.0
    assert typed_target(12.5, "days") == 12.5
    assert stored_target(1.25, "ratio") == 1.25
    for nothing in (None, True, "92.1", math.nan, math.inf):
        assert stored_target(nothing, "percent") is None
        assert typed_target(nothing, "percent") is None


def test_each_field_names_its_unit():
    assert target_unit("percent", "EUR") == "%"
    assert target_unit("currency", "EUR") == "EUR"
    assert target_unit("days", "EUR") == "days"
    assert target_input("percent", "EUR") == ("%", 0.1, "%.2f")
    assert target_input("currency", "USD") == ("USD", 1000.0, "%.2f")
