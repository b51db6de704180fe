"""Period labels and period starts in SQL: the twins of kpi.core.periods, as sqlglot trees.

The engine groups rows on the first day of their fiscal period (a cheap date) and labels
the groups afterwards; both rules follow the fiscal calendar of the settings. The templates
are constant SQL; the date column and the calendar's month shift and year offset go into
their markers as sqlglot expressions.
"""

from __future__ import annotations

from sqlglot import exp

from kpi.core.settings import FiscalCalendar
from kpi.store.template import fill, literal

_MONTH_LABEL = "strftime(__d__, '%Y-%m')"
_FISCAL_YEAR_LABEL = "'FY' || CAST(year(__d__ - INTERVAL (__s__) MONTH) + __o__ AS VARCHAR)"
_QUARTER_LABEL = (
    "'FY' || CAST(year(__d__ - INTERVAL (__s__) MONTH) + __o__ AS VARCHAR)"
    " || '-Q' || CAST(quarter(__d__ - INTERVAL (__s__) MONTH) AS VARCHAR)"
)
_LABELS = {"month": _MONTH_LABEL, "quarter": _QUARTER_LABEL, "year": _FISCAL_YEAR_LABEL}

# the first day of the calendar period; of the fiscal one, shifted by the year's first month
_CALENDAR_START = {
    "month": "CAST(date_trunc('month', __d__) AS DATE)",
    "quarter": "CAST(date_trunc('quarter', __d__) AS DATE)",
    "year": "CAST(date_trunc('year', __d__) AS DATE)",
}
_FISCAL_START = {
    "quarter": "CAST(date_trunc('quarter', __d__ - INTERVAL (__s__) MONTH)"
    " + INTERVAL (__s__) MONTH AS DATE)",
    "year": "CAST(date_trunc('year', __d__ - INTERVAL (__s__) MONTH)"
    " + INTERVAL (__s__) MONTH AS DATE)",
}


# the whole range asked for as one period (a page's figure over the sidebar's range): one
# group, labelled by the engine with the range's dates
WHOLE_RANGE = "range"


def period_label(column: exp.Expression, grain: str, cal: FiscalCalendar) -> exp.Expression:
    """A sqlglot expression giving the period label of a date column at `grain`."""
    if grain == WHOLE_RANGE:
        return exp.Literal.string(WHOLE_RANGE)
    if grain not in _LABELS:
        raise ValueError(f"unknown grain '{grain}'")
    return fill(
        _LABELS[grain],
        d=column,
        s=literal(cal.year_start_month - 1),
        o=literal(cal.year_offset),
    )


def period_start(column: exp.Expression, grain: str, cal: FiscalCalendar) -> exp.Expression:
    """A sqlglot expression giving the first day of the fiscal period holding a date column.

    Every day of a period has the period's label, so a query groups on this date (cheap) and
    labels the groups afterwards, instead of building a label string for every row.
    """
    if grain == WHOLE_RANGE:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("DATE"))
    if grain not in _LABELS:
        raise ValueError(f"unknown grain '{grain}'")
    shift = 0 if grain == "month" else cal.year_start_month - 1
    if shift:
        return fill(_FISCAL_START[grain], d=column, s=literal(shift))
    return fill(_CALENDAR_START[grain], d=column)
