"""Fixtures shared by the app tests (Streamlit's AppTest on a fixture store)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kpi.store.database import Store
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Store:
    """The hand-computed fixture store, as the app's store (KPI_DB) for this test.

    A module whose figures come from another fixture (spend, working capital) overrides it.
    """
    s = hand_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s


# Local mode starts every session acting as nobody: a test that writes chooses who acts.
CFO = "Claire Dubois (finance, cfo)"


def acting(at, who: str = CFO):
    """Choose who the AppTest session acts as (the sidebar's "Acting as"), as a person would
    before changing anything; returns the AppTest for chaining."""
    at.session_state["acting_as"] = who
    return at


@pytest.fixture()
def config(tmp_path, monkeypatch):
    """A copy of config/ as the app's configuration (KPI_CONFIG); returns its folder."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    monkeypatch.setenv("KPI_CONFIG", str(folder))
    return folder
