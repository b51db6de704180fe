"""The sidebar's filters in words, for the captions and warnings of the pages that use them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def active_filters(filters: Mapping[str, Sequence[str]]) -> list[str]:
    """Each filter that is set as 'cost centre: CC1, CC2', in the sidebar's order, so a page
    can say which part of the data it shows."""
    return [f"{k.replace('_', ' ')}: {', '.join(v)}" for k, v in filters.items() if v]
