"""How a KPI's target is typed in a form and kept in the definitions, in one place.

A percent KPI's target is typed as a percent (92.1) on the definitions form and the goals
page alike, while the definitions keep it as a share (0.921), as the engine computes it.
The conversion goes through Decimal on the numbers' shortest decimal spelling, so 92.1
becomes exactly 0.921 (not 0.9209999999999999) and back. Other units are typed as kept.
"""

from __future__ import annotations

import math
from decimal import Decimal

# unit -> (what the field shows after the number, step, number format); currency: the code
TARGET_INPUT: dict[str, tuple[str | None, float, str]] = {
    "percent": ("%", 0.1, "%.2f"),
    "currency": (None, 1000.0, "%.2f"),
    "days": ("days", 0.5, "%.1f"),
    "ratio": ("ratio", 0.01, "%.3f"),
    "count": ("count", 1.0, "%.0f"),
}
_PERCENT = Decimal(100)


def _number(value: object) -> float | None:
    """A finite number (bools and NaN are no number), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def typed_target(stored: object, unit: str) -> float | None:
    """A target as kept in the definitions → as typed in a form: a percent KPI's share as
    percent (0.921 → 92.1); anything that is not a number → None."""
    number = _number(stored)
    if number is None or unit != "percent":
        return number
    return float(Decimal(repr(number)) * _PERCENT)


def stored_target(typed: object, unit: str) -> float | None:
    """A target as typed in a form → as kept in the definitions: a percent KPI's percent as
    a share (92.1 → 0.921); anything that is not a number → None."""
    number = _number(typed)
    if number is None or unit != "percent":
        return number
    return float(Decimal(repr(number)) / _PERCENT)


def target_unit(unit: str, currency: str) -> str:
    """What a target field names as its unit: '%', the currency code, 'days'…"""
    label = TARGET_INPUT.get(unit, (unit, 1.0, "%.2f"))[0]
    return label or currency


def target_input(unit: str, currency: str) -> tuple[str, float, str]:
    """How a target of this unit is typed: the unit shown on the field, step and format."""
    _, step, number_format = TARGET_INPUT.get(unit, (unit, 1.0, "%.2f"))
    return target_unit(unit, currency), step, number_format
