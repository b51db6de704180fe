"""The KPI tiles of a page sit at most three to a row (a value is cut short beyond that)."""

from __future__ import annotations

import pytest

import ui.kpi_strip as strip


@pytest.mark.parametrize(
    ("tiles", "rows"),
    [(1, [1]), (2, [2]), (3, [3]), (4, [2, 2]), (5, [3, 3]), (6, [3, 3]), (7, [3, 3, 3])],
)
def test_tiles_go_at_most_three_to_a_row_in_even_rows(monkeypatch, tiles, rows):
    asked: list[int] = []

    def columns(count: int) -> list[str]:
        asked.append(count)
        return [f"row{len(asked)}col{i}" for i in range(count)]

    monkeypatch.setattr(strip.st, "columns", columns)
    got = strip._tiles(tiles)
    assert asked == rows  # columns asked per row (the last row may leave some empty)
    assert len(got) == tiles
    assert len(set(got)) == tiles
