"""The rollups against the live engine on two hundred random requests (grains, ranges,
sidebar filters, splits): a file of its own, the longest single test of the suite, so that
on two workers (scripts/test.sh) it runs beside tests/unit/test_rollups.py, not after it."""

from __future__ import annotations

import pytest

from kpi.store.database import Store
from tests.unit.test_rollups import _check, _combinations, built, rollups_on

pytestmark = pytest.mark.usefixtures("rollups_on")
__all__ = ["built", "rollups_on"]  # the fixtures this module uses, from test_rollups


@pytest.fixture
def store(built) -> Store:
    return Store(built)


@pytest.mark.slow
def test_two_hundred_random_requests_match_the_live_engine(store):
    """Every KPI x a few hundred random grains, ranges, sidebar filters and splits."""
    for request in _combinations(store, 200, 1000):
        _check(store, request)
