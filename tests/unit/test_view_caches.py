"""The curated views' SQL is built once per settings, display currency and grain: the
reporting currency asked for by name or as None is one entry, equal settings read from the
file twice are one entry, and another currency is its own."""

from __future__ import annotations

import pytest

from kpi.core.settings import Settings
from kpi.store import views


def test_the_reporting_currency_by_name_is_the_same_views() -> None:
    settings = Settings(reporting_currency="EUR")
    bodies = views.view_bodies(settings)
    assert views.view_bodies(settings, "EUR") is bodies
    assert views.view_bodies(settings, "eur") is bodies
    assert views.view_bodies(Settings(reporting_currency="EUR"), None) is bodies
    assert views._view_plan(settings, "EUR") is views._view_plan(settings, None)
    assert views._create_statements(settings, "EUR") is views._create_statements(settings, None)


def test_another_currency_or_grain_is_its_own_entry() -> None:
    settings = Settings(reporting_currency="EUR")
    eur, usd = views.view_bodies(settings), views.view_bodies(settings, "USD")
    assert usd is not eur and usd is views.view_bodies(settings, "usd")
    assert "'USD'" in views.render(usd["fx_factor"].copy())
    assert views.view_bodies(settings, None, "month") is not eur
    statements = views._create_statements(settings, "USD")
    assert statements is not views._create_statements(settings, None)


def test_an_unknown_currency_is_still_refused() -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        views.view_bodies(Settings(), "XYZ")
