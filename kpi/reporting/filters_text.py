"""The sidebar's filters in words, for the captions, warnings and empty states of the pages
that use them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from kpi.core import periods
from kpi.core.settings import FiscalCalendar

# How a filter is named where a person clears it (the sidebar's and the drill-down's labels).
FILTER_LABELS = {
    "cost_centre": "Cost centre",
    "category": "Category",
    "supplier": "Supplier",
    "item_id": "Item",
}
_SHOWN_VALUES = 3  # more values than this read as "A, B, C and 4 more"


def active_filters(filters: Mapping[str, Sequence[str]]) -> list[str]:
    """Each filter that is set as 'cost centre: CC1, CC2', in the sidebar's order, so a page
    can say which part of the data it shows."""
    return [f"{k.replace('_', ' ')}: {', '.join(v)}" for k, v in filters.items() if v]


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _values(values: Sequence[str]) -> str:
    """A multiselect's values: any of them ('Marketing or Energy'; 'A, B, C or 2 more')."""
    shown = list(values[:_SHOWN_VALUES])
    if len(values) > _SHOWN_VALUES:
        shown.append(f"{len(values) - _SHOWN_VALUES} more")
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def period_text(start: date, end: date, cal: FiscalCalendar) -> str:
    """The sidebar's range in fiscal quarters: 'FY2026-Q3', or 'FY2024-Q4 to FY2026-Q3'."""
    first, last = periods.label(start, "quarter", cal), periods.label(end, "quarter", cal)
    return first if first == last else f"{first} to {last}"


def _chosen(filters: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The filters that are set, in the sidebar's order whatever order `filters` has."""
    order = list(FILTER_LABELS)
    rank = {k: order.index(k) if k in order else len(order) for k in filters}
    return {k: list(filters[k]) for k in sorted(filters, key=rank.__getitem__) if filters[k]}


def slice_text(filters: Mapping[str, Sequence[str]]) -> str:
    """The slice the filters choose, in words: 'Marketing' for one filter; each filter named
    when there are several ('cost centre CC-1010 and category Marketing or Energy'); ''
    when none is set."""
    chosen = _chosen(filters)
    if len(chosen) <= 1:
        return "".join(_values(v) for v in chosen.values())
    return _and([f"{_label(k).lower()} {_values(v)}" for k, v in chosen.items()])


def _label(column: str) -> str:
    return FILTER_LABELS.get(column, column.replace("_", " ").capitalize())


def empty_slice_text(
    what: str,
    period: str,
    filters: Mapping[str, Sequence[str]],
    widen: str = "Widen the period",
) -> str:
    """What an empty figure says when its table holds rows but the period and filters leave
    none: which slice is empty, in words, and what to change (markdown: the filter values
    come from the data, so the caller passes them escaped).

    'Nothing in Marketing for FY2026-Q3: no spend there. Widen the period or clear the
    Category filter.' Several filters are each named; without one, only the period can be
    widened. `widen` says how the period is changed where it is not the sidebar's range
    ('Choose another fiscal year').
    """
    chosen = _chosen(filters)
    if not chosen:
        where = " in the sidebar" if widen == "Widen the period" else ""
        return f"**No {what} in {period}.** {widen}{where}."
    labels = [_label(k) for k in chosen]
    noun = "filter" if len(labels) == 1 else "filters"
    return (
        f"**Nothing in {slice_text(chosen)} for {period}:** no {what} there. {widen} or clear "
        f"the {_and(labels)} {noun}."
    )


def empty_table_text(what: str, what_to_do: str) -> str:
    """What an empty figure says when the table behind it holds no rows at all: no filter
    or period would help, only a load (markdown, written by us)."""
    return f"**No {what} loaded yet.** {what_to_do}"
