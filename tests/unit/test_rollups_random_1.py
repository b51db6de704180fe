"""The rollups against the live engine on two hundred random requests (grains, ranges,
sidebar filters, splits), the longest test of the suite: requests 1-100 here, the
others in tests/unit/test_rollups_random_2.py, so that on two workers (scripts/test.sh,
one file per worker at a time) both share them, beside tests/unit/test_rollups.py."""

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
def test_first_hundred_of_two_hundred_random_requests_match_the_live_engine(store):
    """Every KPI x a few hundred random grains, ranges, sidebar filters and splits: the
    same two hundred requests (seed 1000) as one test made before, half of them here."""
    for request in _combinations(store, 200, 1000)[:100]:
        _check(store, request)
