"""The overview's scorecard download, computed as the page computes it (for golden tests)."""

from __future__ import annotations

from pathlib import Path

from kpi.analyses.scorecard import scorecard
from kpi.core.output import to_csv_bytes
from kpi.core.people import load_people
from kpi.core.scope import Scope
from kpi.core.settings import load_settings
from kpi.reporting.scorecard_view import scorecard_export, with_agreement
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store


def scorecard_download(db: Path, period: str, filters: dict[str, list[str]], currency: str):
    settings = load_settings()
    definitions = load_definitions(None, settings)
    scope = Scope.of(filters=filters, currency=currency)
    card = scorecard(Store(db, settings), scope, definitions, period)
    card = with_agreement(card, definitions, load_people())
    return to_csv_bytes(scorecard_export(card))
