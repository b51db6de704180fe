"""The goals page's presenter: the texts and checks the page moved out of its tabs."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kpi.core.people import load_people
from kpi.reporting import goals_view as view
from kpi.semantic.definitions import load_definitions
from kpi.semantic.kpi_definition import get

KPIS = Path(__file__).resolve().parents[2] / "config" / "kpis.yaml"


def test_kpi_caption_reads_the_definition():
    kpi = get(load_definitions(KPIS), "supplier_otd")
    people = load_people(KPIS.parent / "people.yaml")
    assert view.kpi_caption(kpi, people) == (
        "`supplier_otd` · owner **procurement** · percent · higher is better · "
        f"definition agreed. {kpi.description}"
    )
    # approvals by people no longer in people.yaml do not count: the definition is proposed
    assert "· definition proposed." in view.kpi_caption(kpi, [])


def test_last_value_label_names_the_quarter_when_there_is_one():
    assert view.last_value_label({"period": "FY2026-Q2", "value": 1.0}) == (
        "Last value (FY2026-Q2)"
    )
    assert view.last_value_label(None) == "Last value"


def test_gap_text_only_with_both_proposals():
    assert view.gap_text(None, "currency", "EUR") is None
    assert view.gap_text(-0.025, "percent", "EUR") == (
        "Procurement's proposal − finance's: **-2.5 pp** (percentage points)"
    )
    assert view.forecast_delta_help("percent").endswith("in percentage points (pp).")


def test_outlook_caption_and_base():
    assert view.outlook_caption("FY2026-Q3", "FY2025-Q3", "EUR") == (
        "Spend forecast for **FY2026-Q3** per category: spend of FY2025-Q3 × (1 + volume "
        "trend) × (1 + procurement's expected price change). Amounts in EUR."
    )
    missing = pl.DataFrame({"base_spend": [None, None]}, schema={"base_spend": pl.Float64})
    assert not view.outlook_has_base(missing)
    assert view.outlook_has_base(pl.DataFrame({"base_spend": [None, 10.0]}))


def test_outlook_save_messages():
    assert view.outlook_saved_message("FY2026-Q3", ["IT", "Packaging"]) == (
        "Price outlook for FY2026-Q3 saved: IT, Packaging."
    )
    assert view.outlook_partly_saved(["IT"]) == "Saved: IT. Fix the others and save again."
