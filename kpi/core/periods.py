"""Fiscal periods: labels (2026-03, FY2026-Q1, FY2026) and the date ranges behind them.

The same rules are written once in SQL (kpi.semantic.period_sql.period_label) for the
engine; these Python twins serve the command line (period labels as --from/--to) and the
app's filters.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from kpi.core.settings import FiscalCalendar

GRAINS = ("month", "quarter", "year")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^FY(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^FY(\d{4})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodError(ValueError):
    """A period label or date that cannot be read."""


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + n
    return total // 12, total % 12 + 1


def fiscal_year_start(fy: int, cal: FiscalCalendar) -> date:
    """First day of fiscal year `fy` (the label's year)."""
    year = fy - cal.year_offset
    return date(year, cal.year_start_month, 1)


def label(d: date, grain: str, cal: FiscalCalendar) -> str:
    """The period label that `d` falls in at `grain`."""
    if grain == "month":
        return f"{d.year:04d}-{d.month:02d}"
    sy, sm = _add_months(d.year, d.month, -(cal.year_start_month - 1))
    fy = sy + cal.year_offset
    if grain == "quarter":
        return f"FY{fy}-Q{(sm - 1) // 3 + 1}"
    if grain == "year":
        return f"FY{fy}"
    raise PeriodError(f"unknown grain '{grain}': use one of {', '.join(GRAINS)}")


def period_range(text: str, cal: FiscalCalendar) -> tuple[date, date]:
    """First and last day of a period label (month, quarter, fiscal year) or of a single date."""
    text = text.strip()
    if _DATE.match(text):
        try:
            d = date.fromisoformat(text)
        except ValueError as exc:
            raise PeriodError(f"'{text}' is not a date (use YYYY-MM-DD)") from exc
        return d, d
    if m := _MONTH.match(text):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodError(f"'{text}' is not a month (use YYYY-MM)")
        start = date(y, mo, 1)
        ny, nm = _add_months(y, mo, 1)
        return start, date(ny, nm, 1) - timedelta(days=1)
    if m := _QUARTER.match(text):
        fy_start = fiscal_year_start(int(m[1]), cal)
        sy, sm = _add_months(fy_start.year, fy_start.month, 3 * (int(m[2]) - 1))
        ey, em = _add_months(sy, sm, 3)
        return date(sy, sm, 1), date(ey, em, 1) - timedelta(days=1)
    if m := _YEAR.match(text):
        start = fiscal_year_start(int(m[1]), cal)
        ey, em = _add_months(start.year, start.month, 12)
        return start, date(ey, em, 1) - timedelta(days=1)
    raise PeriodError(
        f"'{text}' is not a date or period: use YYYY-MM-DD, YYYY-MM, FY2026-Q1 or FY2026"
    )


def periods_between(start: date, end: date, grain: str, cal: FiscalCalendar) -> list[str]:
    """Every period label from the one holding `start` to the one holding `end`, in order."""
    out: list[str] = []
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        lab = label(date(y, m, 1), grain, cal)
        if not out or out[-1] != lab:
            out.append(lab)
        y, m = _add_months(y, m, 1)
    return out


def previous(period: str, cal: FiscalCalendar) -> str:
    """The period just before `period`, at the same grain."""
    start, _ = period_range(period, cal)
    grain = "month" if _MONTH.match(period) else "quarter" if _QUARTER.match(period) else "year"
    return label(start - timedelta(days=1), grain, cal)


def grain_of(period: str) -> str:
    if _MONTH.match(period):
        return "month"
    if _QUARTER.match(period):
        return "quarter"
    if _YEAR.match(period):
        return "year"
    raise PeriodError(f"'{period}' is not a period label")
