"""The pages answer from the rollups (issue 18): the overview on a demo store with its
rollups shows the very figures it shows computed live, and its KPIs, charts and sidebar
choices were read from the rollups, not from the views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kpi.semantic import rollups
from kpi.store.database import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(demo_copy, tmp_path, monkeypatch) -> Store:
    st.cache_data.clear()
    monkeypatch.setenv(rollups.ENV, "on")
    store = Store(demo_copy(0.05, tmp_path / "kpi.duckdb"))
    assert rollups.refresh(store) is not None
    monkeypatch.setenv("KPI_DB", str(store.path))
    return store


def _overview(filters: dict[str, list[str]] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for key, values in (filters or {}).items():
        at.sidebar.multiselect(key=key).set_value(values)
        del at.session_state["_ctx"]  # the page draws the sidebar again (no app.py here)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def _shown(at: AppTest) -> dict[str, object]:
    """Every figure a person reads: the tiles, and the scorecard and chart tables."""
    return {
        "tiles": [(m.label, m.value, m.delta) for m in at.metric],
        "tables": [df.value.to_json(default_handler=str) for df in at.dataframe],
    }


def _same_cell(a: object, b: object) -> bool:
    """Text exactly; numbers (a chart's, a sparkline's: sums of doubles, added in another
    order from the rollups) to 1e-9 relative."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(_same_cell(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


@pytest.mark.parametrize("filters", [None, {"f_cat": ["Packaging"]}])
def test_the_overview_reads_the_rollups_and_shows_the_live_figures(demo, monkeypatch, filters):
    served: list[str] = []
    real_answer = rollups.answer

    def answer(*args, **kwargs):  # type: ignore[no-untyped-def]
        found, rest = real_answer(*args, **kwargs)
        served.extend(k.id for a in found for k in a.kpis)
        return found, rest

    monkeypatch.setattr(rollups, "answer", answer)
    from_rollups = _shown(_overview(filters))
    # every KPI of the scorecard and every line of the four charts
    assert {"total_spend", "po_compliance", "days_to_pay", "savings_realised"} <= set(served)
    assert {"actual", "budget", "terms", "late_share", "safety", "obsolete"} <= set(served)
    monkeypatch.setenv(rollups.ENV, "off")
    st.cache_data.clear()  # else the second run is served the first one's figures
    served.clear()
    live = _shown(_overview(filters))
    assert served == []
    assert from_rollups["tiles"] and from_rollups["tiles"] == live["tiles"]
    assert len(from_rollups["tables"]) == len(live["tables"]) > 4
    for a, b in zip(from_rollups["tables"], live["tables"], strict=True):
        if a != b:
            ja, jb = json.loads(a), json.loads(b)
            diff = {
                (col, row): (ja[col][row], jb[col].get(row))
                for col in ja
                for row in ja[col]
                if not _same_cell(ja[col][row], jb[col].get(row))
            }
            assert diff == {}


def _empty_slice(store: Store) -> dict[str, list[str]]:
    """A cost centre and a category that never meet on an invoice line of the demo."""
    with store.read() as con:
        row = con.execute(
            "SELECT c.cost_centre, k.category FROM (SELECT DISTINCT cost_centre FROM spend) c "
            "CROSS JOIN (SELECT DISTINCT category FROM spend) k "
            "WHERE NOT EXISTS (SELECT 1 FROM spend s WHERE s.cost_centre = c.cost_centre "
            "AND s.category = k.category) ORDER BY ALL LIMIT 1"
        ).fetchone()
    assert row is not None, "the demo has no empty cost centre x category slice"
    return {"f_cc": [row[0]], "f_cat": [row[1]]}


def test_an_empty_slice_reads_the_same_from_the_rollups_as_live(demo, monkeypatch):
    """Filters that leave nothing: the same tiles and the same words, no error, whether the
    figures come from the rollups or from the lines."""
    filters = _empty_slice(demo)
    from_rollups = _overview(filters)
    assert not from_rollups.error, [e.value for e in from_rollups.error]
    monkeypatch.setenv(rollups.ENV, "off")
    st.cache_data.clear()
    live = _overview(filters)
    assert _shown(from_rollups)["tiles"] == _shown(live)["tiles"]
    assert [i.value for i in from_rollups.info] == [i.value for i in live.info]
    # the charts name the empty slice and the filters to clear, not a load to run
    said = [i.value for i in from_rollups.info]
    assert sum("clear the Cost centre and Category filters" in s for s in said) >= 3, said
    assert not any("load budgets" in s for s in said), said
