"""Cost centres by name on the screen: the sidebar's filter offers "CC1 · Packaging Line",
and the Spend page's budget table carries the name beside the code (issue 15, point 6).

Runs on tests/hand_fixture.py (codes CC1 and CC2 in invoices, orders and budgets) with a
cost_centres file naming CC1 only: CC2 stays offered and shown by its bare code.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from kpi.ingest.pipelines import load_files

ROOT = Path(__file__).resolve().parents[2]


def _named(store, tmp_path) -> None:
    source = tmp_path / "cost_centres.csv"
    source.write_text("cost_centre,cost_centre_name\nCC1,Packaging Line\n", encoding="utf-8")
    load_files(store, "cost_centres", [source])


def _run(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_cost_centre_filter_offers_the_name_beside_the_code(store, tmp_path):
    _named(store, tmp_path)
    at = _run("pages/data.py")
    box = at.sidebar.multiselect(key="f_cc")
    assert box.options == ["CC1 · Packaging Line", "CC2"]
    # the filter's value stays the code: the analyses and the engine filter on it
    at = _run("pages/data.py", f_cc=["CC1"])
    assert at.sidebar.multiselect(key="f_cc").value == ["CC1"]


def test_the_budget_table_shows_the_name_beside_the_code(store, tmp_path):
    _named(store, tmp_path)
    at = _run("pages/spend.py", periods=("FY2026-Q1", "FY2026-Q2"))
    budget = next(d.value for d in at.dataframe if "budget_year" in d.value.columns)
    assert list(budget.columns[1:3]) == ["cost_centre", "cost_centre_name"]  # after the flag
    names = dict(zip(budget["cost_centre"], budget["cost_centre_name"], strict=True))
    assert names["CC1"] == "Packaging Line"
    assert pd.isna(names["CC2"])  # not in cost_centres: an empty cell, the row still there
