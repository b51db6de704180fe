"""The app on a lake (`store: lake`): the hand fixture moved into a lake, the pages read it
and a comment posted on a page lands in it, not in the store file it came from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.analyses.data_status import store_summary
from kpi.core.settings import Settings
from kpi.store.lake import LakeStore
from kpi.store.lake_migrate import migrate_to_lake
from kpi.workflows.threads import thread

ROOT = Path(__file__).resolve().parents[2]
FINANCE = "Sam Okafor (finance, member)"
KPI = "kpi:total_spend"


@pytest.fixture()
def lake(store, config, tmp_path, monkeypatch) -> LakeStore:
    lake = LakeStore(tmp_path / "lake", Settings(store="lake"))
    assert migrate_to_lake(store.path, lake).ok
    monkeypatch.setenv("KPI_STORE", "lake")
    monkeypatch.setenv("KPI_LAKE", str(lake.path))
    return lake


def run(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_pages_read_the_lake_and_a_comment_lands_in_it(lake, store):
    at = run("definitions.py", def_pick="total_spend", def_kpi_tab="Discussion", acting_as=FINANCE)
    at.text_area(key=f"thr_{KPI}_text").set_value("Posted on the lake")
    at.button(key=f"thr_{KPI}_post").click().run()
    assert not at.exception
    assert [c.text for c in thread(lake, KPI)] == ["Posted on the lake"]
    assert thread(store, KPI) == []  # the store file it came from is left as it was
    at = run("data.py", acting_as=FINANCE)
    assert not at.error, [e.value for e in at.error]
    serial = lake.manifest().serial  # the migration's write and the comment's: 2 or more
    assert (
        f"Read from the lake {lake.path} (Delta tables, one per store table; write no. "
        f"{serial:,}); figures computed by DuckDB." in [c.value for c in at.caption]
    )
    # on Spark over this lake, Spark keeps the pre-computed sums too (no Spark is started)
    spark = replace(lake.settings, engine="spark", lake=str(lake.path))
    on_spark = LakeStore(lake.path, spark)
    assert store_summary(on_spark).endswith(
        "; figures computed by Spark (local[2]), their pre-computed sums too."
    )
