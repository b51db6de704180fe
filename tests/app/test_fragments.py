"""The app draws only what changed (issue 18): a widget inside a page's fragment reruns that
fragment, not the page (its sidebar, tiles, other tabs and charts).

AppTest reruns the whole script on `run()`, whatever widget changed; a browser reruns only
the fragment holding the widget. `fragment_rerun` asks AppTest's script runner for what the
browser asks for: the fragment's id (found by the fragment's key) in the rerun's queue, so the
runner calls the fragment alone, as `streamlit run` does. Each test then checks two things:
the page around the fragment did not run (the page's first call, `ui.context.current`, and
the analyses of its other sections, counted), and the fragment shows the right figures for
the new value. A full rerun is the control: it does run the page again.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest, local_script_runner

import ui.cache
import ui.context
import ui.definition_editor
import ui.goals_page
import ui.savings_page
from kpi.store.database import Store
from tests import spend_fixture, wc_fixture
from ui.definition_dialog import ASKED

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "pages"
READING = "**Finance reads it as**"  # a line only the definition dialog writes


def fragment_rerun(at: AppTest, key: str) -> AppTest:
    """Rerun only the fragment `key` (its `@st.fragment(key=...)`) with the widget values
    set on `at`, as the browser does when a widget inside it changes. The element tree
    afterwards holds what the rerun sent: the fragment's elements only."""
    ids = at._fragment_storage.resolve_target(key)  # noqa: SLF001 (no public way in AppTest)
    queued = partial(local_script_runner.RerunData, fragment_id_queue=list(ids))
    with mock.patch.object(local_script_runner, "RerunData", queued):
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


class Runs:
    """Counts what a run executes: the page's top (`current()`, the first call of every
    page) and each analysis read through `ui.cache.cached`, by name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pages = 0
        self.analyses: Counter[str] = Counter()
        real_current, real_cached = ui.context.current, ui.cache.cached

        def current():  # type: ignore[no-untyped-def]
            self.pages += 1
            return real_current()

        def cached(fn, ctx, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.analyses[fn.__qualname__] += 1
            return real_cached(fn, ctx, *args, **kwargs)

        monkeypatch.setattr(ui.context, "current", current)
        # pages import `cached` on every run; ui modules imported it once, at their import
        for module in (ui.cache, ui.savings_page, ui.goals_page):
            monkeypatch.setattr(module, "cached", cached)

    def reset(self) -> None:
        self.pages = 0
        self.analyses.clear()


def page(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(PAGES / path), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture()
def spend_store(tmp_path, monkeypatch) -> Store:
    s = spend_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s


@pytest.fixture()
def wc_store(tmp_path, monkeypatch) -> Store:
    s = wc_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s


H1 = ("FY2026-Q1", "FY2026-Q2")  # the spend and working-capital fixtures' range


# ---- spend & budgets ------------------------------------------------------------------------


def test_a_drill_down_pick_redraws_the_drill_down_only(spend_store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("spend.py", periods=H1)
    assert runs.pages == 1 and runs.analyses["_compliance"] == 1  # the whole page ran
    runs.reset()
    at.selectbox(key="drill_category").set_value("Packaging")
    fragment_rerun(at, "spend_drill")
    # nothing outside the drill-down ran: no page top, no tiles, budgets or compliance
    assert runs.pages == 0
    assert set(runs.analyses) == {"spend_tree", "_spend_views"}
    assert not at.title and not at.tabs  # only the fragment's elements were sent
    # and the drill-down shows Packaging: Alpha 210 + 200 = 410, Beta 250
    assert metrics(at) == {"Spend in scope": "€660.00"}
    level = at.dataframe[0].value
    assert level["supplier"].tolist() == ["Alpha Pack", "Beta Print"]
    assert [str(v) for v in level["amount"]] == ["410.00", "250.00"]
    # the control: a full rerun runs the page and its other sections again
    at.run()
    assert runs.pages == 1 and runs.analyses["_compliance"] == 1 and runs.analyses["_budgets"]
    assert metrics(at)["Spend in scope"] == "€660.00"  # the pick held


def test_the_budget_split_redraws_the_budget_tab_only(spend_store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("spend.py", periods=H1)
    year = at.selectbox(key="budget_year").value
    runs.reset()
    at.radio(key="budget_by").set_value("category")
    fragment_rerun(at, "spend_budgets")
    assert runs.pages == 0
    assert set(runs.analyses) == {"_budgets"}
    budget = next(d for d in at.dataframe if "status" in d.value.columns)
    assert budget.value.columns[1] == "category"  # split by category now
    assert metrics(at)[f"Budget {year}"]  # the year's tiles are the fragment's own


# ---- suppliers ------------------------------------------------------------------------------


def test_the_supplier_search_redraws_the_tabs_only(spend_store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("suppliers.py", periods=H1)
    everyone = at.dataframe[0].value["supplier"].tolist()
    assert len(everyone) > 1
    runs.reset()
    at.text_input(key="sup_search").input("beta")
    fragment_rerun(at, "suppliers_tabs")
    assert runs.pages == 0
    assert "_scorecard" not in runs.analyses  # the scorecard was read by the page, once
    shown = at.dataframe[0].value["supplier"].tolist()
    assert shown == [s for s in everyone if "beta" in s.lower()] and shown
    assert not at.title  # the title and the tiles were not sent again


# ---- savings --------------------------------------------------------------------------------


def test_the_bridge_scope_redraws_the_bridge_only(store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("savings.py")
    runs.reset()
    at.selectbox(key="bridge_scope").set_value("category")
    fragment_rerun(at, "savings_bridge")
    assert runs.pages == 0
    # the bridge only: neither the lenses, the ledger nor realised savings were read again
    assert set(runs.analyses) == {"savings_bridge"}
    pick = at.selectbox(key="bridge_pick")  # the category to show, offered by the new scope
    assert pick.value in pick.options and at.get("plotly_chart")


def test_the_ledger_search_redraws_the_initiatives_tab_only(store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("savings.py")
    ledger = next(d.value for d in at.dataframe if "initiative_id" in d.value.columns)
    assert {"SI1", "SI2"} <= set(ledger["initiative_id"])
    runs.reset()
    at.text_input(key="led_search").input("SI1")
    fragment_rerun(at, "savings_ledger")
    assert runs.pages == 0
    assert "list_initiatives" in runs.analyses
    assert not {"two_lenses", "realised_by_month", "savings_bridge"} & set(runs.analyses)
    ledger = next(d.value for d in at.dataframe if "initiative_id" in d.value.columns)
    assert ledger["initiative_id"].to_list() == ["SI1"]


# ---- payment terms & cash -------------------------------------------------------------------


def test_the_terms_segment_redraws_its_tab_only(wc_store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("terms.py", periods=H1)
    runs.reset()
    at.selectbox(key="terms_segment").set_value("category")
    fragment_rerun(at, "terms_segment_tab")
    assert runs.pages == 0
    assert set(runs.analyses) == {"terms_by_segment"}  # not the months, tiles or simulator
    # Office supplies 7300 (V6), Packaging 7300 (V1, V2), MRO spares 3000 (V3, V4)
    seg = at.dataframe[0].value
    assert seg["segment"].tolist() == ["Office supplies", "Packaging", "MRO spares"]


# ---- inventory ------------------------------------------------------------------------------


def test_the_stock_item_thread_redraws_the_discussion_only(wc_store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("inventory.py", periods=H1)
    box = at.selectbox(key="thr_stock_pick")
    assert len(box.options) > 1
    other = box.options[1]
    runs.reset()
    box.set_value(other)
    fragment_rerun(at, "inventory_discussion")
    assert runs.pages == 0 and not runs.analyses  # no stock class, question or mark read
    assert at.selectbox(key="thr_stock_pick").value == other
    assert any(m.value.startswith("**Discussion · ") for m in at.markdown)
    assert not at.metric  # the tiles and the charts were not sent again


# ---- quarterly goals ------------------------------------------------------------------------


def test_the_kpi_picked_redraws_the_kpi_tab_only(store, config, monkeypatch):
    runs = Runs(monkeypatch)
    meetings = Counter()
    real_meeting = ui.goals_page.meeting
    monkeypatch.setattr(
        ui.goals_page,
        "meeting",
        lambda ctx, plan: meetings.update(["read"]) or real_meeting(ctx, plan),
    )
    at = page("goals.py")
    assert meetings["read"] == 1
    box = at.selectbox(key="goals_kpi")
    other = "days_to_pay" if box.value != "days_to_pay" else "total_spend"
    runs.reset()
    box.set_value(other)
    fragment_rerun(at, "goals_kpi_tab")
    assert runs.pages == 0 and meetings["read"] == 1  # the meeting was not read again
    assert at.selectbox(key="goals_kpi").value == other
    assert not at.title and not at.tabs


# ---- KPI definitions ------------------------------------------------------------------------


def test_the_catalogue_search_redraws_the_catalogue_only(store, config, monkeypatch):
    runs = Runs(monkeypatch)
    adds = Counter()
    real_add = ui.definition_editor.add_tab
    monkeypatch.setattr(
        ui.definition_editor,
        "add_tab",
        lambda ctx, path: adds.update(["drawn"]) or real_add(ctx, path),
    )
    at = page("definitions.py")
    assert adds["drawn"] == 1
    runs.reset()
    at.text_input(key="def_search").input("PAYMENT")
    fragment_rerun(at, "definitions_catalogue")
    assert runs.pages == 0 and adds["drawn"] == 1  # "Add a KPI" was not drawn again
    table = next(d.value for d in at.dataframe if "finance_approval" in d.value.columns)
    assert "on_time_payment_rate" in table["id"].to_list()
    assert "total_spend" not in table["id"].to_list()


# ---- CFO overview ---------------------------------------------------------------------------


def test_a_scorecard_click_opens_its_definition_without_redrawing_the_page(store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("overview.py")
    assert runs.analyses["scorecard"] == 1 and runs.analyses["spend_vs_budget"] == 1
    runs.reset()
    # what a click on the spend table's first row leaves (tests/app/test_app_dialog.py)
    at.session_state[ASKED] = ("score_spend", "total_spend")
    at.session_state["score_spend"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    fragment_rerun(at, "overview_scorecard")
    # the scorecard's fragment ran alone: no scorecard computed again, no headline chart
    assert runs.pages == 0
    assert set(runs.analyses) <= {"_trend"}  # the dialog's trend
    assert any(m.value == READING for m in at.markdown)  # the definition opened
    assert "Total spend" in [h.value for h in at.subheader]
    assert ASKED not in at.session_state  # asked once: a later rerun does not reopen it


def test_a_tile_button_opens_its_rows_without_redrawing_the_page(store, monkeypatch):
    runs = Runs(monkeypatch)
    at = page("overview.py")
    runs.reset()
    at.button(key="ov_rows_total_spend").click()
    fragment_rerun(at, "overview_tiles")
    assert runs.pages == 0 and not runs.analyses  # no scorecard, no chart read again
    # the rows behind the tile's value opened (ui/rows_behind.py), over the same page
    assert "Figure" in metrics(at) and "Rows" in metrics(at)
    assert len([m for m in at.metric if m.label == "Total spend"]) == 1  # the tile itself


# ---- data -----------------------------------------------------------------------------------


def test_the_load_picked_redraws_the_rejected_rows_only(store, monkeypatch):
    from tests.app.test_app_data import FINANCE, INVOICES, upload
    from tests.app.test_app_data import page as data_page

    runs = Runs(monkeypatch)
    at = upload(data_page(FINANCE), "invoices", "invoices_2026-11.csv", INVOICES)
    runs.reset()
    load = "#1 invoices_2026-11.csv into invoices (1 rejected)"
    at.selectbox(key="reject_load").set_value(load)
    fragment_rerun(at, "data_rejects")
    assert runs.pages == 0
    assert set(runs.analyses) == {"rejected_rows"}  # not the tables' freshness and loads
    (rejected,) = [d.value for d in at.dataframe]
    assert rejected[["load_id", "row_number"]].to_dict("records") == [
        {"load_id": 1, "row_number": 3}
    ]
    assert at.selectbox(key="reject_load").value == load


def test_a_table_download_reruns_nothing(spend_store):
    """The CSV and Excel buttons under every table: the file is already in the browser,
    so a click asks the server for no rerun at all."""
    at = page("spend.py", periods=H1)
    buttons = [b for b in at.get("download_button") if b.label in ("⬇ CSV", "⬇ Excel")]
    assert buttons and all(b.proto.ignore_rerun for b in buttons)
