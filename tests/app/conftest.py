"""Fixtures shared by the app tests (Streamlit's AppTest on a fixture store)."""

from __future__ import annotations

import pytest

from kpi.store.database import Store
from tests import hand_fixture


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Store:
    """The hand-computed fixture store, as the app's store (KPI_DB) for this test.

    A module whose figures come from another fixture (spend, working capital) overrides it.
    """
    s = hand_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s
