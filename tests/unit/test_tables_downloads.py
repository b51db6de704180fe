"""Tables for people, downloads for spreadsheets (issue 15, point 6): headers in words,
empty cells empty, people by name, times in the configured zone, downloads with their
scope, statuses in words, exact values and percentages marked (%)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from kpi.core.formatting import format_time
from kpi.core.output import (
    download_name,
    for_spreadsheet,
    header,
    status_words,
    to_csv_bytes,
    to_xlsx_bytes,
)
from kpi.core.settings import Settings, SettingsError, load_settings, parse_timezone

# ---- the time function ---------------------------------------------------------------


def test_times_show_in_the_configured_zone_with_the_zone_named_across_a_dst_change() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25 at 01:00 UTC (03:00 CEST → 02:00 CET)
    assert format_time(datetime(2026, 10, 25, 0, 59, tzinfo=UTC), "Europe/Berlin") == (
        "2026-10-25 02:59 CEST"
    )
    assert format_time(datetime(2026, 10, 25, 1, 0, tzinfo=UTC), "Europe/Berlin") == (
        "2026-10-25 02:00 CET"
    )
    # and enters it on 2026-03-29 at 01:00 UTC (02:00 CET → 03:00 CEST)
    assert format_time(datetime(2026, 3, 29, 0, 30), "Europe/Berlin") == "2026-03-29 01:30 CET"
    assert format_time(datetime(2026, 3, 29, 1, 30), "Europe/Berlin") == "2026-03-29 03:30 CEST"
    # a moment without a zone is UTC (as the store keeps it); the date can change
    assert format_time(datetime(2026, 12, 1, 23, 30), "Europe/Berlin") == "2026-12-02 00:30 CET"
    assert format_time(datetime(2026, 12, 1, 14, 3), "UTC") == "2026-12-01 14:03 UTC"
    assert format_time(None, "Europe/Berlin") == ""


def test_the_timezone_setting_defaults_to_berlin_and_refuses_a_zone_that_does_not_exist(
    tmp_path: Path,
) -> None:
    assert Settings().timezone == "Europe/Berlin"
    assert load_settings().timezone == "Europe/Berlin"  # config/settings.yaml says it
    path = tmp_path / "settings.yaml"
    path.write_text("reporting_currency: EUR\n")
    assert load_settings(path).timezone == "Europe/Berlin"  # an older file without it
    path.write_text("timezone: America/New_York\n")
    assert load_settings(path).timezone == "America/New_York"
    path.write_text("timezone: Europe/Atlantis\n")
    with pytest.raises(SettingsError, match="timezone must be an IANA time-zone name such as"):
        load_settings(path)
    with pytest.raises(SettingsError, match="got 1"):
        parse_timezone(1)


# ---- headers in words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "words"),
    [
        ("supplier_id", "Supplier ID"),
        ("created_by", "Created by"),
        ("amount_eur", "Amount EUR"),
        ("po_compliance_rate", "PO compliance rate"),
        ("kpi_id", "KPI ID"),
        ("loaded_at", "Loaded at"),
        ("who", "Who"),
        ("Status", "Status"),  # written for people already: kept
        ("as edited", "as edited"),
    ],
)
def test_headers_are_words(column: str, words: str) -> None:
    assert header(column) == words


# ---- downloads for spreadsheets ------------------------------------------------------


def _ledger() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "supplier_id": ["S-1", "S-2", "S-3"],
            "saving_eur": [Decimal("358314.33"), Decimal("-12.50"), None],
            "spend_share": [0.921, 0.05, None],
            "days": [358314.3300000001, 1 / 3, None],
            "status": ["on_target", "✅", "● Off target"],
            "note": ["a", None, "=cmd"],
        },
        schema_overrides={"saving_eur": pl.Decimal(18, 2)},
    )


def test_a_csv_download_has_words_exact_amounts_percent_marked_and_statuses_in_words() -> None:
    text = to_csv_bytes(for_spreadsheet(_ledger())).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [
        ["Supplier ID", "Saving EUR", "Spend share (%)", "Days", "Status", "Note"],
        ["S-1", "358314.33", "92.1", "358314.33", "On target", "a"],
        ["S-2", "-12.50", "5.0", "0.3333", "Yes", ""],
        ["S-3", "", "", "", "Off target", "'=cmd"],  # empty is empty; a formula stays text
    ]


def test_an_excel_download_has_the_table_first_and_a_scope_sheet() -> None:
    scope = [("Periods", "FY2026-Q3 (2026-07-01 to 2026-09-30)"), ("Category", "IT")]
    book = load_workbook(io.BytesIO(to_xlsx_bytes(for_spreadsheet(_ledger()), "ledger", scope)))
    assert book.sheetnames == ["ledger", "Scope"]
    table = book["ledger"]
    assert [c.value for c in table[1]] == [
        "Supplier ID",
        "Saving EUR",
        "Spend share (%)",
        "Days",
        "Status",
        "Note",
    ]
    assert table["B2"].value == 358314.33 and table["B2"].number_format == "#,##0.00"
    assert table["C2"].value == 92.1 and table["D2"].value == 358314.33
    assert [[c.value for c in row] for row in book["Scope"].iter_rows()] == [
        ["Periods", "FY2026-Q3 (2026-07-01 to 2026-09-30)"],
        ["Category", "IT"],
    ]


def test_one_kpi_per_row_rounds_each_value_as_its_unit_shows_it() -> None:
    card = pl.DataFrame(
        {
            "id": ["spend", "po_rate", "dpo"],
            "unit": ["currency", "percent", "days"],
            "value": [358314.3300000001, 0.92134, 41.2666],
            "delta": [-1000.004, 0.0123, 1.04],
            "status": ["green", "amber", "none"],
        }
    )
    out = for_spreadsheet(card)
    assert out.columns == ["ID", "Unit", "Value", "Delta", "Status"]
    assert out.to_dict(as_series=False) == {
        "ID": ["spend", "po_rate", "dpo"],
        "Unit": ["currency", "%", "days"],
        "Value": [358314.33, 92.1, 41.3],
        "Delta": [-1000.0, 1.2, 1.0],
        "Status": ["On target", "Near target", "No target"],
    }


def test_status_words() -> None:
    assert status_words("no_slice_target") == "No target for this slice"
    assert status_words("in_review") == "In review"
    assert status_words("⚠️") == "Warning"
    assert status_words("▲ Near target") == "Near target"
    assert status_words("agreed") == "agreed" and status_words(None) is None


def test_file_names_carry_the_scope_once() -> None:
    assert (
        download_name("scorecard_FY2026-Q3", ["FY2026-Q3", "EUR", "category-IT"])
        == "scorecard_FY2026-Q3_EUR_category-IT"
    )
    assert (
        download_name("savings_initiatives", ["FY2025-Q4_FY2026-Q3", "USD", "cost-centre-CC 1"])
        == "savings_initiatives_FY2025-Q4_FY2026-Q3_USD_cost-centre-CC-1"
    )
    # a table of its own period keeps it alone: the sidebar's range is not added
    assert (
        download_name("scorecard_FY2026-Q3", ["FY2024-Q4_FY2026-Q3", "EUR"])
        == "scorecard_FY2026-Q3_EUR"
    )
    assert download_name("../a/b", []) == "a-b"  # never a path


# ---- the page side: named, table_columns, downloads ----------------------------------


@pytest.fixture
def people(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "people.yaml").write_text(
        "people:\n  - {email: sam.okafor@example.org, name: Sam Okafor, department: finance,"
        " role: member}\n"
    )
    (tmp_path / "settings.yaml").write_text("identity: {mode: local}\ntimezone: Europe/Berlin\n")
    monkeypatch.setenv("KPI_CONFIG", str(tmp_path))


def test_named_shows_people_by_name_times_in_the_zone_and_empty_text_empty(people) -> None:
    from ui.widgets import named

    log = pl.DataFrame(
        {
            "created_by": ["sam.okafor@example.org", None],
            "signed_by": ["SAM.OKAFOR@example.org", "cli"],
            "decided_at": [datetime(2026, 12, 1, 13, 3), None],
            "note": [None, "x"],
            "amount": [None, 1.5],
            "month": [datetime(2026, 7, 1), datetime(2026, 8, 1)],  # days, not moments
        }
    )
    assert named(log).to_dict(as_series=False) == {
        "created_by": ["Sam Okafor", ""],
        "signed_by": ["Sam Okafor", "cli"],
        "decided_at": ["2026-12-01 14:03 CET", ""],
        "note": ["", "x"],
        "amount": [None, 1.5],  # an empty number already shows empty: it stays a number
        "month": ["2026-07-01", "2026-08-01"],  # never "2026-07-01 02:00 CEST"
    }


def test_table_columns_give_words_money_and_percent_formats() -> None:
    from ui.widgets import table_columns

    frame = pl.DataFrame(
        {"supplier_id": ["S"], "spend_eur": [Decimal("1.00")], "on_time": [0.5], "n": [1]}
    )
    config = table_columns(frame)
    assert config["supplier_id"] == "Supplier ID" and config["n"] == "N"
    assert config["spend_eur"]["label"] == "Spend EUR"
    assert config["spend_eur"]["type_config"]["format"] == "accounting"
    assert config["on_time"]["type_config"]["format"] == "percent"


def test_the_download_buttons_hand_out_files_named_by_scope(people, monkeypatch) -> None:
    """The bytes behind ⬇ CSV and ⬇ Excel for a table with the sidebar's scope."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import AppTest

    files: dict[str, bytes] = {}
    store_file = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        files[str(filename)] = data
        return store_file(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    # the Excel copy is built on a click (a deferred download): build it as if clicked
    add_deferred = MediaFileManager.add_deferred

    def clicked(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        files[str(file_name)] = data_callable()
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", clicked)

    def page() -> None:
        from datetime import date, datetime
        from decimal import Decimal

        import polars as pl
        import streamlit as st

        from kpi.core.scope import Scope
        from ui.widgets import downloads

        frame = pl.DataFrame(
            {
                "decided_by": ["sam.okafor@example.org"],
                "decided_at": [datetime(2026, 7, 1, 12, 0)],
                "saving": [Decimal("358314.33")],
                "spend_share": [0.921],
            },
            schema_overrides={"saving": pl.Decimal(18, 2)},
        )
        scope = Scope.of(date(2026, 7, 1), date(2026, 9, 30), {"category": ["IT"]}, "EUR")
        downloads(frame, "decisions", "d", scope=scope)
        downloads(frame, "definitions", "u", scope=None)
        st.write("drawn")

    at = AppTest.from_function(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(files) == {
        "decisions_FY2026-Q3_EUR_category-IT.csv",
        "decisions_FY2026-Q3_EUR_category-IT.xlsx",
        "definitions.csv",
        "definitions.xlsx",
    }
    rows = list(csv.reader(io.StringIO(files["definitions.csv"].decode("utf-8-sig"))))
    assert rows == [
        ["Decided by", "Decided at", "Saving", "Spend share (%)"],
        ["Sam Okafor", "2026-07-01 14:00 CEST", "358314.33", "92.1"],
    ]
    book = load_workbook(io.BytesIO(files["decisions_FY2026-Q3_EUR_category-IT.xlsx"]))
    scope = {r[0].value: r[1].value for r in book["Scope"].iter_rows()}
    assert scope["Periods"] == "FY2026-Q3 (2026-07-01 to 2026-09-30)"
    assert scope["Category"] == "IT"
    assert scope["Cost centre"] == "all (cost centre not filtered)"
    assert scope["Currency"] == "EUR"
    assert scope["Downloaded"].endswith(("CET", "CEST"))
    unscoped = load_workbook(io.BytesIO(files["definitions.xlsx"]))
    assert {r[0].value: r[1].value for r in unscoped["Scope"].iter_rows()}["Scope"] == (
        "the whole table (the sidebar's filters do not apply to it)"
    )


def test_show_table_draws_named_values_under_worded_headers(people) -> None:
    """One call for a page's table: values for people, headers in words, the page's own
    column settings winning."""
    import json

    from streamlit.testing.v1 import AppTest

    def page() -> None:
        from datetime import datetime

        import polars as pl
        import streamlit as st

        from ui.widgets import show_table

        log = pl.DataFrame(
            {
                "decided_by": ["sam.okafor@example.org"],
                "decided_at": [datetime(2026, 1, 15, 9, 30)],
                "po_rate": [0.5],
                "note": [None],
            },
            schema_overrides={"note": pl.String},
        )
        show_table(log, column_config={"note": st.column_config.TextColumn("Why")})

    at = AppTest.from_function(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = at.dataframe
    assert table.value.to_dict("list") == {
        "decided_by": ["Sam Okafor"],
        "decided_at": ["2026-01-15 10:30 CET"],
        "po_rate": [0.5],
        "note": [""],
    }
    labels = {c: v.get("label") for c, v in json.loads(table.proto.columns).items()}
    assert labels["decided_by"] == "Decided by" and labels["decided_at"] == "Decided at"
    assert labels["po_rate"] == "PO rate" and labels["note"] == "Why"


def test_the_files_are_made_only_when_asked(monkeypatch) -> None:
    """A run draws the CSV and Excel buttons without making the files (a click makes one);
    a temporary folder that takes no bytes says so beside the CSV button instead."""
    from streamlit.testing.v1 import AppTest

    import kpi.core.output

    built: list[str] = []
    to_xlsx = kpi.core.output.to_xlsx_bytes

    def counted(frame, sheet="data", scope=()):
        built.append(sheet)
        return to_xlsx(frame, sheet, scope)

    monkeypatch.setattr("ui.widgets.to_xlsx_bytes", counted)

    def page() -> None:
        import polars as pl

        from ui.widgets import downloads

        downloads(pl.DataFrame({"a": [1]}), "numbers", "n", scope=None)

    at = AppTest.from_function(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["⬇ CSV", "⬇ Excel"] and built == []
    for button in at.get("download_button"):  # both made on a click, which reruns nothing
        assert button.proto.deferred_file_id and button.proto.ignore_rerun

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ui.widgets.tempfile.TemporaryFile", full)
    at.run()
    assert [b.label for b in at.get("download_button")] == ["⬇ CSV"]
    assert "temporary folder is full" in " ".join(c.value for c in at.caption)
