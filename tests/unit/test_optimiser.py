"""The plan-probing optimiser keeps one empty probe store per (settings, display currency):
its answers must be the ones a store built afresh for each statement gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.core.settings import Settings
from kpi.semantic import compiler, engine, optimiser
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return hand_fixture.build(tmp_path_factory.mktemp("hand") / "kpi.duckdb")


def _fresh(statement, params, settings, currency):
    """The answer of a probe store built for this one statement (nothing kept)."""
    optimiser._probed.clear()
    optimiser._stores.clear()
    try:
        return optimiser.spend_base_columns(statement, params, settings, currency)
    finally:
        optimiser._probed.clear()
        optimiser._stores.clear()


def test_the_kept_probe_store_answers_as_a_fresh_one(store, monkeypatch, tmp_path):
    asked: list[tuple] = []
    probe = compiler.spend_base_columns

    def recorded(statement, params, settings, currency):
        asked.append((statement, list(params), settings, currency))
        return probe(statement, params, settings, currency)

    monkeypatch.setattr(compiler, "spend_base_columns", recorded)
    # every statement compiled again: none kept in this process, nor on disk by an earlier test
    monkeypatch.setattr(engine, "_STATEMENTS", {})
    monkeypatch.setattr(engine, "_PLANS", {})
    monkeypatch.setenv("KPI_CACHE_DIR", str(tmp_path / "cache"))
    definitions = load_definitions(ROOT / "config" / "kpis.yaml")
    for grain, by, currency in [
        ("quarter", (), None),
        ("month", ("category",), None),
        ("year", ("supplier",), "USD"),
    ]:
        engine.compute(store, definitions, grain, by, currency=currency)
    assert len({a[0] for a in asked}) >= 3, "several statements were probed"
    assert {a[3] for a in asked} == {None, "USD"}

    optimiser._probed.clear()
    optimiser._stores.clear()
    kept = [optimiser.spend_base_columns(*a) for a in asked]
    assert len(optimiser._stores) == 2  # one store per currency, used for every statement
    fresh = [_fresh(*a) for a in asked]
    assert kept == fresh
    assert any(columns and not all(read for *_, read in columns) for columns in kept), (
        "some statement reads only part of spend_base"
    )


def test_a_statement_that_fails_leaves_the_kept_store_answering(store):
    settings = Settings()
    optimiser._probed.clear()
    optimiser._stores.clear()
    good = "SELECT sum(quantity) FROM _kpi_spend_base_probe"
    before = optimiser.spend_base_columns(good + " -- 1", [], settings, None)
    assert optimiser.spend_base_columns("SELECT nothing FROM nowhere", [], settings, None) is None
    after = optimiser.spend_base_columns(good + " -- 2", [], settings, None)
    assert before == after == _fresh(good + " -- 3", [], settings, None)
    assert before is not None
    assert [name for name, _, read in before if read] == ["quantity"]
    # another reporting currency is another store (its views convert to it)
    other = Settings(reporting_currency="USD")
    optimiser.spend_base_columns(good + " -- 4", [], other, None)
    optimiser.spend_base_columns(good + " -- 5", [], settings, None)
    assert set(optimiser._stores) == {(other, None), (settings, None)}
