"""The overview's scorecard download, computed as the page computes it (for golden tests)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kpi.analyses.scorecard import scorecard
from kpi.core.output import to_csv_bytes
from kpi.core.settings import load_settings
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.workflows.definition_versions import effective_status


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
