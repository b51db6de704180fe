"""The goals page's presenter: the texts and checks the page moved out of its tabs."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl

from kpi.reporting import goals_view as view


def test_kpi_caption_reads_the_definition():
    kpi = SimpleNamespace(
        id="on_time_delivery",
        owner="procurement",
        unit="percent",
        direction="higher_is_better",
        status="agreed",
        description="Share of lines delivered on time.",
    )
    assert view.kpi_caption(kpi) == (
        "`on_time_delivery` · owner **procurement** · percent · higher is better · "
        "definition agreed. Share of lines delivered on time."
    )


def test_last_value_label_names_the_quarter_when_there_is_one():
    assert view.last_value_label({"period": "FY2026-Q2", "value": 1.0}) == (
        "Last value (FY2026-Q2)"
    )
    assert view.last_value_label(None) == "Last value"


def test_gap_text_only_with_both_proposals():
    assert view.gap_text(None, "currency", "EUR") is None
    assert view.gap_text(-0.025, "percent", "EUR") == (
        "Procurement's proposal − finance's: **-2.5 pp**"
    )


def test_signer_index_starts_on_the_person_recording():
    assert view.signer_index(["a@x", "b@x"], "b@x") == 1
    assert view.signer_index(["a@x", "b@x"], "c@x") == 0
    assert view.signer_index(["a@x"], None) == 0


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
