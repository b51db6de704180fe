"""What a new process reads back instead of working it out again: the checked definitions file
(kpi.semantic.definitions) and the plan of a compute request (kpi.semantic.engine), both kept
on disk by kpi.store.catalog_cache. Read back they are the same definitions, the same
statements and the same figures; a request, a definition or a rollup table changed is
planned again; a kept file that is not a plan is never run."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from kpi.core.settings import Settings
from kpi.semantic import compiler, definitions, engine, rollups
from kpi.semantic.definitions import load_definitions
from kpi.semantic.kpi_definition import DefinitionsError
from kpi.store.database import Store

SCALE = 0.05
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kpis"
VALID = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")


def _new_process() -> None:
    """Forget what this process keeps in memory, as a new `kpi` command starts without it."""
    definitions.clear_cache()
    compiler._QUERIES.clear()
    compiler._TREES.clear()
    engine._STATEMENTS.clear()
    engine._PLANS.clear()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("KPI_CACHE_DIR", str(folder))
    monkeypatch.setenv(rollups.ENV, "on")
    _new_process()
    yield folder
    _new_process()


@pytest.fixture(scope="module")
def built(demo_copy, tmp_path_factory) -> Path:
    path = demo_copy(SCALE, tmp_path_factory.mktemp("kept-plans") / "kpi.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(rollups.ENV, "on")
        assert rollups.refresh(Store(path)) is not None
    return path


def _kept(folder: Path, kind: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(kind + "-"))


# ---- the checked definitions ------------------------------------------------------------
def test_definitions_read_back_equal_the_checked_ones_formula_trees_included(tmp_path, cache):
    # a column written in capitals: the guard spells it as the view does, and so must the
    # tree rebuilt from the kept file
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID.replace("formula: sum(amount)\n", "formula: SUM(AMOUNT)\n"), "utf-8")
    checked = load_definitions(path, Settings())
    assert len(_kept(cache, "definitions")) == 1
    _new_process()
    read_back = load_definitions(path, Settings())
    # nothing parsed on the way back: a kept plan needs no tree (FormulaTree.get makes it)
    assert all(k._tree is not None and k._tree._made is None for k in read_back)
    assert read_back == checked  # every field, the formula trees compared node by node
    assert [k.formula_tree.sql() for k in read_back] == [k.formula_tree.sql() for k in checked]
    assert read_back[0].formula_tree.sql() == "SUM(amount)"
    assert [k.line for k in read_back] == [k.line for k in checked]


def test_a_file_with_problems_is_reported_each_time(tmp_path, cache):
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID.replace("formula: sum(amount)\n", "formula: sum(amont)\n"), "utf-8")
    for _ in range(2):
        with pytest.raises(DefinitionsError, match="unknown column 'amont'"):
            load_definitions(path, Settings())
        _new_process()


def test_a_kept_definitions_file_that_does_not_read_back_is_checked_again(tmp_path, cache):
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID, "utf-8")
    checked = load_definitions(path, Settings())
    (kept,) = _kept(cache, "definitions")
    value = json.loads(kept.read_text("utf-8"))
    value["definitions"][0]["formula"] = "sum(no_such_column)"  # tampered with, or older code
    kept.write_text(json.dumps(value), "utf-8")
    _new_process()
    assert load_definitions(path, Settings()) == checked


# ---- the plans of compute requests --------------------------------------------------------
REQUESTS = [
    {"grain": "quarter"},
    {"grain": "month", "by": ["category"]},
    {
        "grain": "year",
        "start": date(2024, 1, 1),
        "end": date(2025, 6, 30),
        "filters": {"cost_centre": ["CC-1010", "CC-1030"]},
    },
    {"grain": "range", "start": date(2024, 3, 1), "end": date(2024, 8, 31)},
]


def test_a_plan_read_back_answers_the_same_without_planning(built, cache, monkeypatch):
    store = Store(built)
    defs = load_definitions(None, store.settings)
    asked = [(r, [k for k in defs if set(r.get("by", [])) <= set(k.dimensions)]) for r in REQUESTS]
    first = [engine.compute(store, kpis, **r) for r, kpis in asked]
    assert any(f.from_rollups for f in first) and all(not f.frame.is_empty() for f in first)
    assert len(_kept(cache, "compute-plan")) == len(REQUESTS)
    _new_process()

    def not_again(*_args: object) -> None:
        raise AssertionError("planned again although the plan was kept")

    planner = engine._plan_now
    monkeypatch.setattr(engine, "_plan_now", not_again)
    again = [engine.compute(store, kpis, **r) for r, kpis in asked]
    for a, b in zip(first, again, strict=True):
        assert a.frame.equals(b.frame)
        assert a.from_rollups == b.from_rollups and a.skipped == b.skipped
    # and the live engine (planned now: no rollups in its key) agrees, money to the cent
    monkeypatch.setattr(engine, "_plan_now", planner)
    live = engine.compute(store, defs, "quarter", live=True).frame
    rolled = first[0].frame.join(live, on=["kpi", "period"], suffix="_live")
    assert rolled.height == live.height
    assert all(
        abs(a - b) <= 0.005 + 1e-9 * abs(b)
        for a, b in rolled.select("value", "value_live").iter_rows()
        if a is not None and b is not None
    )


def test_another_request_definition_or_table_is_another_plan(built, cache):
    store = Store(built)
    defs = load_definitions(None, store.settings)
    with store.read() as con:
        index = rollups.current_index(con, store)
    assert index is not None

    def key(kpis=defs, idx=index, **asked) -> list[str]:
        groups: dict = {}
        for k in kpis:
            groups.setdefault((k.source, k.period_by, ()), []).append(k)
        request = engine._Request(
            store,
            groups,
            asked.get("grain", "quarter"),
            tuple(asked.get("by", ())),
            asked.get("start"),
            asked.get("end"),
            asked.get("filters", {}),
            asked.get("currency"),
            (),
        )
        return engine._plan_key(request, idx)

    base = key()
    assert key() == base
    assert key(grain="month") != base
    assert key(by=["category"]) != base
    assert key(start=date(2024, 1, 1)) != base
    assert key(filters={"category": ["IT"]}) != key(filters={"category": ["Travel"]})
    assert key(currency="USD") != base
    edited = [defs[0].model_copy(update={"formula": "sum(amount) * 2"}), *defs[1:]]
    assert key(kpis=edited) != base
    assert key(kpis=list(reversed(defs))) != base  # the parts' order is the plan's
    view, entry = next(iter(index.entries.items()))
    fewer = rollups.RollupIndex(
        {**index.entries, view: replace(entry, columns=frozenset(sorted(entry.columns)[1:]))}
    )
    assert key(idx=fewer) != base
    assert key(idx=None) != base  # stale rollups: a live plan


def test_a_kept_file_that_is_not_a_plan_is_never_run(built, cache):
    store = Store(built)
    defs = load_definitions(None, store.settings)
    first = engine.compute(store, defs, "quarter")
    (kept,) = _kept(cache, "compute-plan")
    hostile = {
        "live": ["DROP TABLE invoices", []],
        "rolled": None,
        "live_parts": 1,
        "units": [[k.id for k in defs]],
        "from_rollups": [],
    }
    kept.write_text(json.dumps(hostile), "utf-8")
    _new_process()
    again = engine.compute(store, defs, "quarter")
    assert again.frame.equals(first.frame)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM invoices").fetchone()[0] > 0
