"""How numbers look to people (currency, percent, days) and how exported cells stay inert.

Formatting happens only at the edge (tables on screen, the command line's table output);
computed values stay numbers everywhere else.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}
UNITS = ("currency", "percent", "days", "ratio", "count")


def format_value(
    value: float | None, unit: str, currency: str = "EUR", compact: bool = False
) -> str:
    """One KPI value as a person reads it; '–' for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "currency":
        return format_money(value, currency, compact)
    if unit == "percent":
        return f"{value * 100:,.1f} %"
    if unit == "days":
        return f"{value:,.1f} days"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_money(value: float, currency: str = "EUR", compact: bool = False) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    sign = "-" if value < 0 else ""
    v = abs(value)
    if compact:
        for limit, suffix in ((1e9, " bn"), (1e6, " m"), (1e3, " k")):
            if v >= limit:
                return f"{sign}{symbol}{float(v) / limit:,.1f}{suffix}"
    return f"{sign}{symbol}{v:,.2f}" if not compact else f"{sign}{symbol}{v:,.0f}"


def format_delta(delta: float | None, unit: str, currency: str = "EUR") -> str:
    """A change between two periods: percentage points ('pp') for percents, since the
    difference of two percentages is not a percent of anything; signed otherwise."""
    if delta is None or (isinstance(delta, float) and math.isnan(delta)):
        return ""

    def size(value: float) -> str:
        if unit == "percent":
            return f"{value * 100:,.1f} pp"
        if unit == "currency":
            return format_money(value, currency, compact=True)
        if unit == "days":
            return f"{value:,.1f} days"
        return f"{value:,.2f}"

    shown = size(abs(delta))
    # a change too small to show is no change: "+€0", never "-€0" (a sum of floats can
    # land a hair either side of zero, and the sign would then say which)
    sign = "+" if delta >= 0 or shown == size(0) else "-"
    return sign + shown


def delta_words(unit: str) -> str:
    """What a change of this unit is counted in, for a tile's help ('' when obvious)."""
    return "in percentage points (pp)" if unit == "percent" else ""


def format_time(moment: datetime | None, zone: str = "UTC") -> str:
    """A recorded moment (stored in UTC) as people read it: in the configured time zone,
    to the minute, the zone named ("2026-12-01 14:03 CET"); '' for none. A moment without a
    zone is read as UTC, because that is how the store keeps them."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone)
