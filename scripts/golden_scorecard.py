"""The overview's scorecard download, computed as the page computes it (for golden tests)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kpi.definitions import load_definitions
from kpi.kpi_editing import effective_status
from kpi.output import to_csv_bytes
from kpi.scorecard import scorecard
from kpi.settings import load_settings
from kpi.store import Store


def scorecard_download(db: Path, period: str, filters: dict[str, list[str]], currency: str):
    settings = load_settings()
    definitions = load_definitions(None, settings)
    card = scorecard(Store(db, settings), definitions, period, filters, currency)
    agreement = {k.id: effective_status(k) for k in definitions}
    card = card.with_columns(
        pl.col("id").replace_strict(agreement, default="draft").alias("definition_status")
    )
    export = card.select(
        "id",
        "name",
        "theme",
        "owner",
        "unit",
        "period",
        "value",
        "target",
        "status",
        "previous",
        "delta",
        "definition_status",
    )
    return to_csv_bytes(export)
