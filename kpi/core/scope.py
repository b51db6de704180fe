"""What the sidebar chooses, as one frozen, hashable value: the period range, the filters
and the reporting currency. It is what every analysis takes and what the pages cache on.

One policy for a filter a figure cannot honour: `params()` refuses it (ScopeError), and a
page that shows such a figure anyway asks `ignored()` first and says which filters the
figure leaves out, then passes `only()`. A filter is never dropped in silence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

FilterValues = Mapping[str, Sequence[str] | str | None]

# How the filters read to a person (the page's note about filters a figure ignores).
FILTER_NAMES = {
    "cost_centre": "cost centre",
    "category": "category",
    "supplier": "supplier",
    "item_id": "item",
    "country": "country",
    "supplier_size": "supplier size",
}


class ScopeError(ValueError):
    """A figure was asked for a filter it cannot honour."""


def _values(value: Sequence[str] | str | None) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else list(value or [])
    return tuple(sorted({str(v) for v in values}))


@dataclass(frozen=True)
class Scope:
    """A period range, filters (column → accepted values) and a reporting currency.

    Filters are kept sorted, without empty entries, so two scopes that mean the same
    thing are equal and hash alike (the pages' cache key).
    """

    start: date | None = None
    end: date | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    currency: str | None = None

    @classmethod
    def of(
        cls,
        start: date | None = None,
        end: date | None = None,
        filters: FilterValues | None = None,
        currency: str | None = None,
    ) -> Scope:
        """A scope from plain values (lists or single strings per filter)."""
        kept = ((k, _values(v)) for k, v in (filters or {}).items())
        return cls(start, end, tuple(sorted((k, v) for k, v in kept if v)), currency)

    def as_dict(self) -> dict[str, list[str]]:
        """The filters as a plain mapping (column → list of values)."""
        return {k: list(v) for k, v in self.filters}

    def values(self, column: str) -> tuple[str, ...]:
        return dict(self.filters).get(column, ())

    def narrowed(self, **more: Sequence[str] | str | None) -> Scope:
        """The same scope with more filters (a drill-down's picks); None or [] clears one."""
        merged: dict[str, Sequence[str] | str | None] = dict(self.as_dict())
        merged.update(more)
        return Scope.of(self.start, self.end, merged, self.currency)

    def with_period(self, start: date | None, end: date | None) -> Scope:
        return replace(self, start=start, end=end)

    def ignored(self, honoured: Sequence[str]) -> tuple[str, ...]:
        """The filters set here that a figure honouring only `honoured` would leave out."""
        return tuple(k for k, _ in self.filters if k not in honoured)

    def only(self, honoured: Sequence[str]) -> Scope:
        """This scope without the filters a figure cannot honour; say `ignored()` first."""
        kept = tuple((k, v) for k, v in self.filters if k in honoured)
        return replace(self, filters=kept)

    def params(self, honoured: Sequence[str]) -> dict[str, list[str] | None]:
        """One list parameter per honoured filter (None: not filtered), for constant SQL
        with bound parameters. A filter outside `honoured` is refused, never dropped."""
        refused = self.ignored(honoured)
        if refused:
            raise ScopeError(
                f"cannot filter on {', '.join(refused)}; filters here: {', '.join(honoured)}"
            )
        mine = dict(self.filters)
        return {k: list(mine[k]) if k in mine else None for k in honoured}

    def period_params(self) -> dict[str, date]:
        """`start` and `end` as bound parameters; refuses a range that ends before it starts."""
        if self.start is None or self.end is None:
            raise ScopeError("a period range (start and end) is needed here")
        if self.end < self.start:
            raise ScopeError(f"the period ends ({self.end}) before it starts ({self.start})")
        return {"start": self.start, "end": self.end}


def ignored_text(ignored: Sequence[str]) -> str:
    """'cost centre and category' for the page's note on filters a figure ignores."""
    names = [FILTER_NAMES.get(k, k.replace("_", " ")) for k in ignored]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
