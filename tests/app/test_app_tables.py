"""Tables for people and downloads for spreadsheets, as the pages hand them out (issue 15,
point 6): headers in words, people by name, empty cells empty, files named by scope."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from tests.app.test_app import run_page


@pytest.fixture()
def files(monkeypatch) -> dict[str, bytes]:
    """The bytes behind every ⬇ CSV and ⬇ Excel button of a run, by file name."""
    caught: dict[str, bytes] = {}
    store_file = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        caught[str(filename)] = data
        return store_file(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    # the files are made on a click (deferred downloads): make them as if clicked
    add_deferred = MediaFileManager.add_deferred

    def clicked(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        caught[str(file_name)] = data_callable()
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", clicked)
    return caught


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_overview_downloads_say_their_scope_and_statuses_in_words(store, files):
    # the scorecard's downloads are drawn once their expander is opened
    run_page("pages/overview.py", f_cat=["IT hardware"], scorecard_downloads=True)
    # FY2026-Q1 is the fixture's latest complete quarter; the category filter is in the name
    name = "scorecard_FY2026-Q1_EUR_category-IT-hardware"
    assert {f"{name}.csv", f"{name}.xlsx"} <= set(files)
    rows = _rows(files[f"{name}.csv"])
    assert list(rows[0]) == [
        "ID",
        "Name",
        "Theme",
        "Owner",
        "Unit",
        "Period",
        "Value",
        "Target",
        "Status",
        "Previous",
        "Delta",
        "Definition status",
    ]
    statuses = {r["Status"] for r in rows}
    assert statuses <= {
        "On target",
        "Near target",
        "Off target",
        "No target",
        "No target for this slice",
        "No data",  # a KPI without a value in the quarter (not "no target")
    }
    assert {r["Unit"] for r in rows} <= {"currency", "%", "days", "ratio", "count"}
    scope = load_workbook(io.BytesIO(files[f"{name}.xlsx"]))["Scope"]
    lines = {r[0].value: r[1].value for r in scope.iter_rows()}
    assert lines["Category"] == "IT hardware"
    assert lines["Cost centre"] == "all (cost centre not filtered)"
    assert lines["Period"] == "FY2026-Q1"  # the scorecard's quarter, which its name says
    assert lines["Sidebar periods"] == "FY2026-Q1 (2026-01-01 to 2026-03-31)"
    assert lines["Currency"] == "EUR"


def test_overview_draws_downloads_and_chart_tables_once_opened(store, files):
    """The overview's "Data" expanders under its charts and its scorecard downloads are
    drawn when opened, not sent with every load of the page."""
    at = run_page("pages/overview.py")
    labels = [e.label for e in at.expander]
    assert labels.count("Data") == 4 and "Download the scorecard" in labels
    assert not at.get("download_button") and not files  # no button, no file made
    assert len(at.dataframe) == 6  # the scorecard's tables by theme, no chart's table
    at.session_state["data_budget"] = True
    at.run()
    assert [b.label for b in at.get("download_button")] == ["⬇ CSV", "⬇ Excel"]
    assert len(at.dataframe) == 7 and "budget" in at.dataframe[-1].value.columns


def test_overview_tables_have_words_and_downloads_percentages_as_shown(store, files):
    at = run_page("pages/overview.py", data_dtp=True, scorecard_downloads=True)
    # the Data table under the days-to-pay chart: headers in words, the late share a percentage
    (dtp,) = [d for d in at.dataframe if "days_to_pay" in d.value.columns]
    columns = json.loads(dtp.proto.columns)
    assert columns["days_to_pay"]["label"] == "Days to pay"
    assert columns["late_share"]["label"] == "Late share"
    assert columns["late_share"]["type_config"]["format"] == "percent"
    rows = {r["ID"]: r for r in _rows(files["scorecard_FY2026-Q1_EUR.csv"])}
    # the scorecard shows PO compliance 64.7 % and total spend €2,550.00 (test_app.py)
    assert (rows["po_compliance"]["Unit"], rows["po_compliance"]["Value"]) == ("%", "64.7")
    assert (rows["total_spend"]["Unit"], rows["total_spend"]["Value"]) == ("currency", "2550.0")


def test_savings_ledger_shows_people_by_name_and_empty_notes_empty(store, files):
    at = run_page("pages/savings.py")
    ledger = next(d.value for d in at.dataframe if "owner" in d.value.columns)
    # the fixture's owners are jonas.berg@example.org and ana.ruiz@example.org; the ledger
    # lists the newest initiative (the higher id, Ana's) first
    assert ledger["owner"].tolist() == ["Ana Ruiz", "Jonas Berg"]
    assert ledger["finance_note"].tolist() == ["", "Baseline agreed"]  # not "None"
    cells = [str(v) for v in ledger.to_numpy().ravel()]
    assert not any("@" in c for c in cells)  # (an empty amount stays a number: shown empty)
    (name,) = [n for n in files if n.startswith("savings_initiatives_") and n.endswith(".csv")]
    assert name == "savings_initiatives_FY2026-Q1_EUR.csv"
    rows = _rows(files[name])
    assert [r["Owner"] for r in rows] == ["Ana Ruiz", "Jonas Berg"]
    assert [r["Kind"] for r in rows] == ["Cost avoidance", "Price reduction"]  # newest first
    assert [r["Baseline unit price"] for r in rows] == ["", "11.0000"]  # exact, empty is empty
