"""A forecast of a quarterly KPI series for the next quarter, with a range and its method in words.

The goal-setting meeting needs a starting point for each target, not a model: so the
methods are the ones a CFO can check on the back of an envelope.

- **Seasonal with trend** (eight quarters or more in a row): the value of the same quarter
  a year earlier × the growth of the last four quarters over the four before them. When
  the series has values at or below zero (an expense change, a price variance), a growth
  factor means nothing: the average change per quarter between those two years is added
  instead.
- **Straight-line trend** (two to seven quarters): a least-squares line through them,
  extended to the planned quarter.
- **Last value** (one quarter): carried forward.

The range is ± the mean absolute error of the same method back-tested on the series itself
(each earlier quarter it could have forecast from the quarters before it, at the same
lead); with too short a series for that, ± the average change from one quarter to the next.
Only the unbroken run of quarters with a value up to the last one is used: a quarter
without a value breaks the seasonal pattern and the line.

The forecast and its range stay within what the KPI can be, by its unit: a percent or a
count is never below zero, nor is a money, days or ratio figure whose history never went
below zero (a change or a variance can, and has shown it); a percent is never above
100 % unless its history went above it (a budget utilisation can). A forecast more than
25 % away from the last quarter's value (FAR_FROM_LAST) says why, from its method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

METHODS = ("auto", "seasonal", "trend", "last")
SEASONAL_MIN = 8  # two full years: the same quarter last year and two four-quarter sums
MAX_SEASONAL_LEAD = 4  # the same quarter a year earlier must lie in the history
FAR_FROM_LAST = 0.25  # a forecast this far (share of the last value) from it says why

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Forecast:
    """A point forecast with its range (None when there is nothing to go on)."""

    value: float | None
    low: float | None
    high: float | None
    method_text: str
    method: str = "none"  # seasonal_growth | seasonal_change | trend | last | none
    backtested: int = 0  # how many back-test forecasts the range rests on (0: none)


def forecast_next(
    history: Sequence[tuple[str, float | None]],
    method: str = "auto",
    *,
    steps: int = 1,
    fmt: Formatter | None = None,
    fmt_change: Formatter | None = None,
    unit: str | None = None,
) -> Forecast:
    """Forecast the quarter `steps` quarters after the last one of `history`.

    `history` is (quarter label, value) in order, one entry per consecutive quarter, None
    for a quarter without a value. `method`: auto (seasonal with ≥ 8 quarters, else a
    straight line with ≥ 2, else the last value), seasonal, trend or last; a method the
    series is too short for falls back to auto and says so. `fmt` and `fmt_change` write a
    value and a change in the sentence (e.g. '€1,234.00', '+1.5 pp'); plain numbers without.
    `unit` (the KPI's: percent, count, currency, days, ratio) bounds the forecast and range.
    """
    if method not in METHODS:
        raise ValueError(f"unknown forecast method '{method}': use one of {', '.join(METHODS)}")
    if steps < 1:
        raise ValueError("a forecast looks at least one quarter ahead (steps >= 1)")
    fmt = fmt or _plain
    fmt_change = fmt_change or _plain_change
    labels, values, lead = _usable_run(history, steps)
    if not values:
        return Forecast(None, None, None, "No quarter has a value yet, so there is no forecast.")
    chosen, note = _choose(method, len(values), lead)
    point = _POINT[chosen](values, lead)
    text = note + _explain(chosen, labels, values, lead, fmt, fmt_change)
    if lead > 1:
        text += f" The forecast quarter is {lead} quarters after {labels[-1]}, the last one used."
    floor, ceiling = bounds(unit, values)
    point, cut = _clamp(point, floor, ceiling)
    far = _far_text(chosen, labels, values, lead, point, fmt, fmt_change)
    if cut:
        text += f" Cut to {fmt(point)}: {_bound_words(unit, floor, ceiling, fmt)}."
    spread, based_on, why = _spread(chosen, values, lead)
    if spread is None:
        return Forecast(point, None, None, f"{text} {why}{far}", _name(chosen, values), 0)
    low, low_cut = _clamp(point - spread, floor, ceiling)
    high, high_cut = _clamp(point + spread, floor, ceiling)
    text += f" Range {fmt(low)} to {fmt(high)}: ± {fmt(spread)}, {why}"
    if (low_cut or high_cut) and not cut:
        text += f" The range is cut: {_bound_words(unit, floor, ceiling, fmt)}."
    return Forecast(point, low, high, text + far, _name(chosen, values), based_on)


# ---- what the KPI can be -----------------------------------------------------------------------


def bounds(unit: str | None, y: Sequence[float]) -> tuple[float | None, float | None]:
    """The lowest and highest value a KPI of `unit` can take, given its history `y`."""
    floor = 0.0 if unit in ("percent", "count") or (unit and all(v >= 0 for v in y)) else None
    ceiling = 1.0 if unit == "percent" and all(v <= 1 for v in y) else None
    return floor, ceiling


def _clamp(v: float, floor: float | None, ceiling: float | None) -> tuple[float, bool]:
    if floor is not None and v < floor:
        return floor, True
    if ceiling is not None and v > ceiling:
        return ceiling, True
    return v, False


def _bound_words(
    unit: str | None, floor: float | None, ceiling: float | None, fmt: Formatter
) -> str:
    if unit == "percent":
        return (
            "a rate stays within 0 % and 100 %"
            if ceiling is not None
            else "a rate is not below 0 %"
        )
    if unit == "count":
        return "a count is never negative"
    return f"this figure has never been below {fmt(floor or 0.0)} and cannot go below it"


def _far_text(
    chosen: str,
    labels: list[str],
    y: list[float],
    lead: int,
    point: float,
    fmt: Formatter,
    fmt_change: Formatter,
) -> str:
    """Why a forecast lies more than FAR_FROM_LAST away from the last quarter, or ''."""
    last = y[-1]
    if last == 0 or abs(point - last) <= FAR_FROM_LAST * abs(last):
        return ""
    gap = (point - last) / abs(last)
    side = "above" if gap > 0 else "below"
    head = (
        f" The forecast is {abs(gap) * 100:.0f} % {side} the last quarter "
        f"({labels[-1]}: {fmt(last)}) because "
    )
    if chosen == "seasonal":
        i = len(y) - 4 + lead - 1
        return head + (
            f"it starts from the same quarter a year earlier ({labels[i]}: {fmt(y[i])}), "
            "not from the last one: the series moves with the seasons."
        )
    slope, _ = _line(y)
    return head + (
        f"the straight line through {len(y)} quarters moves {fmt_change(slope)} a quarter "
        f"and is extended {lead} quarter{'s' if lead > 1 else ''} beyond the last one."
    )


# ---- the methods -------------------------------------------------------------------------------


def _seasonal(y: Sequence[float], lead: int) -> float:
    """Same quarter a year before the forecast one, scaled (or shifted) by the last year's trend."""
    same = y[len(y) - 4 + lead - 1]
    recent, before = sum(y[-4:]), sum(y[-8:-4])
    if _multiplicative(y):
        return same * recent / before
    return same + (recent - before) / 4


def _trend(y: Sequence[float], lead: int) -> float:
    slope, intercept = _line(y)
    return intercept + slope * (len(y) - 1 + lead)


def _last(y: Sequence[float], lead: int) -> float:
    return y[-1]


_POINT: dict[str, Callable[[Sequence[float], int], float]] = {
    "seasonal": _seasonal,
    "trend": _trend,
    "last": _last,
}
_MIN_POINTS = {"seasonal": SEASONAL_MIN, "trend": 2, "last": 1}


def _multiplicative(y: Sequence[float]) -> bool:
    """A growth factor needs a year of positive values to grow from, and none below zero."""
    return all(v >= 0 for v in y[-8:]) and sum(y[-8:-4]) > 0


def _line(y: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of y against 0, 1, 2, ..."""
    n = len(y)
    mean_x, mean_y = (n - 1) / 2, sum(y) / n
    sxx = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (v - mean_y) for x, v in enumerate(y)) / sxx
    return slope, mean_y - slope * mean_x


def _choose(method: str, n: int, lead: int) -> tuple[str, str]:
    """The method to use and, when the one asked for cannot be, a sentence saying why."""
    seasonal_ok = n >= SEASONAL_MIN and lead <= MAX_SEASONAL_LEAD
    auto = "seasonal" if seasonal_ok else "trend" if n >= 2 else "last"
    if method == "auto" or method == auto or (method == "trend" and n >= 2) or method == "last":
        return (auto if method == "auto" else method), ""
    if method == "seasonal" and lead > MAX_SEASONAL_LEAD:
        why = f"The seasonal method looks at most four quarters ahead, not {lead}. "
    elif method == "seasonal":
        why = f"The seasonal method needs {SEASONAL_MIN} quarters in a row; there are {n}. "
    else:
        why = "A trend needs two quarters; there is one. "
    return auto, why


def _name(chosen: str, y: Sequence[float]) -> str:
    if chosen == "seasonal":
        return "seasonal_growth" if _multiplicative(y) else "seasonal_change"
    return chosen


# ---- the range -----------------------------------------------------------------------------


def _spread(chosen: str, y: Sequence[float], lead: int) -> tuple[float | None, int, str]:
    """± what, on how many back-test forecasts, and the words for it."""
    errors = backtest_errors(chosen, y, lead)
    if errors:
        mae = sum(errors) / len(errors)
        plural = "quarter" if len(errors) == 1 else f"{len(errors)} quarters"
        return (
            mae,
            len(errors),
            f"the average miss of this method on the earlier {plural} it could have "
            "forecast from the quarters before them.",
        )
    if len(y) >= 2:
        moves = [abs(b - a) for a, b in zip(y, y[1:], strict=False)]
        return (
            sum(moves) / len(moves),
            0,
            "the average change from one quarter to the next (too few quarters to test "
            "the method on its own history).",
        )
    return None, 0, "No range: one quarter says nothing about how much the value moves."


def backtest_errors(method: str, y: Sequence[float], lead: int = 1) -> list[float]:
    """|forecast − actual| for every quarter of `y` the method could have forecast at `lead`."""
    point, least = _POINT[method], _MIN_POINTS[method]
    return [abs(point(y[:k], lead) - y[k - 1 + lead]) for k in range(least, len(y) - lead + 1)]


# ---- the words ---------------------------------------------------------------------------------


def _explain(
    chosen: str,
    labels: list[str],
    y: list[float],
    lead: int,
    fmt: Formatter,
    fmt_change: Formatter,
) -> str:
    if chosen == "last":
        return f"The last value ({labels[-1]}: {fmt(y[-1])}) carried forward."
    if chosen == "trend":
        slope, _ = _line(y)
        return (
            f"A straight line fitted through the {len(y)} quarters {labels[0]} to "
            f"{labels[-1]} ({fmt_change(slope)} a quarter), extended to the quarter planned."
        )
    i = len(y) - 4 + lead - 1
    same = f"The same quarter a year earlier ({labels[i]}: {fmt(y[i])})"
    recent = f"the last four quarters ({labels[-4]} to {labels[-1]})"
    before = f"the four before them ({labels[-8]} to {labels[-5]})"
    r, b = sum(y[-4:]), sum(y[-8:-4])
    if _multiplicative(y):
        growth = r / b - 1
        how = "above" if growth >= 0 else "below"
        return f"{same} × {r / b:.3f}: {recent} were {abs(growth) * 100:.1f} % {how} {before}."
    return (
        f"{same} plus the average change per quarter from {before} to {recent} "
        f"({fmt_change((r - b) / 4)}); the series has values at or below zero, so the change "
        "is added rather than applied as a growth rate."
    )


def _usable_run(
    history: Sequence[tuple[str, float | None]], steps: int
) -> tuple[list[str], list[float], int]:
    """The unbroken run of values ending at the last value, and the lead from it."""
    present = [i for i, (_, v) in enumerate(history) if _has_value(v)]
    if not present:
        return [], [], steps
    last = present[-1]
    first = last
    while first > 0 and _has_value(history[first - 1][1]):
        first -= 1
    run = history[first : last + 1]
    lead = steps + (len(history) - 1 - last)
    return [p for p, _ in run], [float(v) for _, v in run], lead  # type: ignore[arg-type]


def _has_value(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def _plain(v: float) -> str:
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"


def _plain_change(v: float) -> str:
    return ("+" if v >= 0 else "-") + _plain(abs(v))
