"""Forecasts of quarterly series against values worked out by hand in the comments."""

from __future__ import annotations

import pytest

from kpi.analyses.forecast import backtest_errors, forecast_next


def quarters(values, first_year=2024):
    """(label, value) pairs from FY<first_year>-Q1 on."""
    return [(f"FY{first_year + i // 4}-Q{i % 4 + 1}", v) for i, v in enumerate(values)]


EIGHT = [100, 120, 110, 130, 110, 132, 121, 143]

CASES = [
    # (values, method, steps, expected method, value, ± spread, back-tested)
    # seasonal: same quarter last year (FY2025-Q1: 110) x (110+132+121+143) / (100+120+110+130)
    # = 110 x 506 / 460 = 121. Eight quarters cannot be back-tested (the first forecastable
    # one is the ninth): ± the mean quarter-to-quarter move (20+10+20+20+22+11+22) / 7 = 125/7
    (EIGHT, "auto", 1, "seasonal_growth", 121.0, 125 / 7, 0),
    # nine quarters: 132 x (132+121+143+125) / (120+110+130+110) = 132 x 521 / 470; the ninth
    # was forecast from the first eight as 121 (above) and came in at 125: ± 4
    ([*EIGHT, 125], "auto", 1, "seasonal_growth", 132 * 521 / 470, 4.0, 1),
    # two steps ahead from eight quarters: the forecast quarter's year-earlier twin is
    # FY2025-Q2 (132): 132 x 506 / 460 = 145.2
    (EIGHT, "auto", 2, "seasonal_growth", 145.2, 125 / 7, 0),
    # values at or below zero: -1 (same quarter) + ((-1+6+0+8) - (-5+3-2+4)) / 4 = 2.25;
    # the moves 8, 5, 6, 5, 7, 6, 8 average 45/7
    ([-5, 3, -2, 4, -1, 6, 0, 8], "auto", 1, "seasonal_change", 2.25, 45 / 7, 0),
    # five quarters: line through (0,100) (1,120) (2,110) (3,130) (4,110): slope 3, intercept
    # 108, at x = 5: 123. Back-test from 2, 3, 4 quarters: 140 vs 110, 120 vs 130, 135 vs
    # 110 -> (30 + 10 + 25) / 3
    (EIGHT[:5], "auto", 1, "trend", 123.0, 65 / 3, 3),
    # asked for seasonal with five quarters: the line, and the text says why
    (EIGHT[:5], "seasonal", 1, "trend", 123.0, 65 / 3, 3),
    # seasonal cannot look five quarters ahead: the line through the eight (mean x 3.5, mean
    # y 966 / 8 = 120.75, Sxx 42, Sxy 176: slope 88/21), at x = 7 + 5 = 12
    (EIGHT, "seasonal", 5, "trend", 120.75 + (88 / 21) * (12 - 3.5), None, None),
    # forced last value
    (EIGHT, "last", 1, "last", 143.0, None, None),
    # one value: carried forward, no range
    ([100], "auto", 1, "last", 100.0, None, 0),
    # gaps: only the run after the last gap counts (130, 140): slope 10 -> 150, the move 10
    ([None, None, 100, 120, None, 130, 140], "auto", 1, "trend", 150.0, 10.0, 0),
    # a missing last quarter: forecast from 120 two steps ahead: 100 + 20 x 3 = 160
    ([100, 120, None], "auto", 1, "trend", 160.0, 20.0, 0),
]


@pytest.mark.parametrize("values,method,steps,chosen,value,spread,backtested", CASES)
def test_forecast_values(values, method, steps, chosen, value, spread, backtested):
    result = forecast_next(quarters(values), method, steps=steps)
    assert result.method == chosen
    assert result.value == pytest.approx(value)
    if spread is not None:
        assert result.high - result.value == pytest.approx(spread)
        assert result.value - result.low == pytest.approx(spread)
    if backtested is not None:
        assert result.backtested == backtested


def test_no_value_no_forecast():
    result = forecast_next(quarters([None, None]))
    assert (result.value, result.low, result.high, result.method) == (None, None, None, "none")
    assert "no forecast" in result.method_text


def test_one_value_has_no_range():
    result = forecast_next(quarters([100]))
    assert (result.low, result.high) == (None, None)
    assert "No range" in result.method_text


@pytest.mark.parametrize(
    "values,method,steps,words",
    [
        (
            EIGHT,
            "auto",
            1,
            [
                "same quarter a year earlier (FY2025-Q1: 110.00)",
                "× 1.100",
                "FY2025-Q1 to FY2025-Q4",
                "10.0 % above",
                "FY2024-Q1 to FY2024-Q4",
                "average change from one quarter to the next",
            ],
        ),
        (
            EIGHT[:5],
            "seasonal",
            1,
            ["needs 8 quarters in a row; there are 5", "straight line", "+3.00 a quarter"],
        ),
        (EIGHT, "auto", 3, ["3 quarters after FY2025-Q4"]),
        ([1, 2], "auto", 1, ["FY2024-Q1 to FY2024-Q2"]),
        ([-5, 3, -2, 4, -1, 6, 0, 8], "auto", 1, ["added rather than applied", "(+3.25)"]),
    ],
)
def test_method_text_says_what_was_done(values, method, steps, words):
    text = forecast_next(quarters(values), method, steps=steps).method_text
    for w in words:
        assert w in text


def test_formatters_write_the_sentence():
    result = forecast_next(
        quarters(EIGHT[:5]), fmt=lambda v: f"€{v:,.0f}", fmt_change=lambda v: f"{v:+.0f} €"
    )
    assert "+3 € a quarter" in result.method_text
    assert "Range €101 to €145" in result.method_text


def test_backtest_errors_by_hand():
    # a line through 2, 3 and 4 first quarters of EIGHT (see CASES): misses 30, 10, 25
    assert backtest_errors("trend", EIGHT[:5]) == pytest.approx([30.0, 10.0, 25.0])
    assert backtest_errors("last", [1.0, 3.0, 2.0]) == [2.0, 1.0]


@pytest.mark.parametrize("method,steps", [("magic", 1), ("auto", 0)])
def test_bad_arguments(method, steps):
    with pytest.raises(ValueError):
        forecast_next(quarters(EIGHT), method, steps=steps)
