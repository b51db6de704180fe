"""Scorecard status rules, the scorecard on the hand fixture, formats and safe exports."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from kpi.analyses.scorecard import rag_status, scorecard
from kpi.core.formatting import format_delta, format_value
from kpi.core.output import neutralise_text, to_csv_bytes, to_xlsx_bytes
from kpi.core.scope import Scope
from kpi.reporting.scorecard_view import for_display
from kpi.semantic.definitions import load_definitions
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "value,target,direction,expected",
    [
        (0.95, 0.90, "higher_is_better", "green"),
        (0.88, 0.90, "higher_is_better", "amber"),  # 0.02 short, band 0.045
        (0.80, 0.90, "higher_is_better", "red"),
        (10.0, 12.0, "lower_is_better", "green"),
        (12.5, 12.0, "lower_is_better", "amber"),  # band 0.6
        (13.0, 12.0, "lower_is_better", "red"),
        (102.0, 100.0, "target_is_best", "green"),  # within 5 either side
        (91.0, 100.0, "target_is_best", "amber"),  # within 10
        (120.0, 100.0, "target_is_best", "red"),
        (5.0, None, "higher_is_better", "none"),
        # issue 15: a missing value says "no data", not "no target" (the target is there)
        (None, 1.0, "higher_is_better", "no_data"),
        (-10.0, 0.0, "lower_is_better", "green"),
    ],
)
def test_rag_status(value, target, direction, expected):
    assert rag_status(value, target, direction, 0.05) == expected


def test_scorecard_on_the_hand_fixture(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    defs = load_definitions(ROOT / "config" / "kpis.yaml")
    card = scorecard(store, Scope(), defs, "FY2026-Q2", history=4)
    rows = {r["id"]: r for r in card.iter_rows(named=True)}
    spend = rows["total_spend"]
    assert spend["value"] == pytest.approx(800.0)
    assert spend["previous"] == pytest.approx(2550.0)
    assert spend["delta"] == pytest.approx(-1750.0)
    assert spend["trend"] == [None, None, 2550.0, 800.0]
    assert spend["target"] is not None and spend["status"] == "red"  # far below budget
    shown = for_display(card, "EUR")
    assert shown.filter(pl.col("id") == "total_spend")["Value"][0] == "€800.00"
    assert shown.filter(pl.col("id") == "total_spend")["Change"][0] == "-€1.8 k"


@pytest.mark.parametrize(
    "value,unit,expected",
    [
        (1234567.891, "currency", "€1,234,567.89"),
        (0.8734, "percent", "87.3 %"),
        (42.04, "days", "42.0 days"),
        (None, "days", "–"),
        (3.0, "count", "3"),
    ],
)
def test_formats(value, unit, expected):
    assert format_value(value, unit, "EUR") == expected


def test_compact_money_and_deltas():
    assert format_value(35_886_488.66, "currency", "EUR", compact=True) == "€35.9 m"
    assert format_delta(-0.012, "percent") == "-1.2 pp"
    assert format_delta(0.3, "days") == "+0.3 days"


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tcmd"])
def test_formula_cells_are_neutralised(text):
    assert neutralise_text(text) == "'" + text
    assert neutralise_text("Kartonwerk GmbH") == "Kartonwerk GmbH"
    assert neutralise_text(-5) == -5


def test_downloads_are_inert_in_excel_and_csv():
    frame = pl.DataFrame({"supplier": ["=cmd|'/c calc'!A1", "Acme"], "amount": [-5.0, 2.5]})
    csv = to_csv_bytes(frame).decode("utf-8-sig")
    assert "'=cmd" in csv and "-5.0" in csv
    sheet = load_workbook(io.BytesIO(to_xlsx_bytes(frame))).active
    assert sheet["A2"].value == "'=cmd|'/c calc'!A1" and sheet["A2"].data_type == "s"
    assert sheet["B2"].value == -5.0


def test_exact_money_formats_compactly_and_a_sheet_name_with_slashes_is_accepted():
    """The engine hands money as exact DECIMAL (issue 14): the compact tile format divides
    it without a float mix-up; a download named after a supplier 'A/B: [x]' still opens in
    Excel, under a sheet name without the characters Excel refuses."""
    from decimal import Decimal

    import openpyxl

    from kpi.core.formatting import format_value
    from kpi.core.output import to_xlsx_bytes

    assert format_value(Decimal("12345.67"), "currency", "EUR", compact=True) == "€12.3 k"
    data = to_xlsx_bytes(pl.DataFrame({"a": [1]}), "All spend › A/B: [x]*?")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["All spend › A-B- -x---"]
