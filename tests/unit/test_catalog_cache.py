"""The views' catalogue and plan kept on disk (kpi.store.catalog_cache): read back, they are
what computing them gives; a corrupt or foreign file is recomputed and rewritten; a folder
that cannot be written leaves the values computed; other settings are other files."""

from __future__ import annotations

import json

import pytest

from kpi.core.settings import Settings
from kpi.store import catalog_cache, views


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KPI_CACHE_DIR", str(folder))
    views.view_catalog.cache_clear()
    views._planned.cache_clear()
    views._created.cache_clear()
    yield folder
    views.view_catalog.cache_clear()
    views._planned.cache_clear()
    views._created.cache_clear()


def _fresh(settings: Settings, currency: str | None = None):
    """The catalogue and plan as a new process gets them (the in-process caches emptied)."""
    views.view_catalog.cache_clear()
    views._planned.cache_clear()
    views._created.cache_clear()
    return views.view_catalog(settings), views._view_plan(settings, currency)


def test_read_back_equals_computed(cache):
    settings = Settings(reporting_currency="EUR")
    computed = _fresh(settings)
    files = sorted(p.name.split("-")[1] for p in cache.iterdir())
    assert files == ["catalog", "plan"]  # view-catalog-<hash>.json, view-plan-<hash>.json
    assert _fresh(settings) == computed
    # and what the plan says is what the filled templates render to
    statements, closure = computed[1]
    assert [s for _n, s in statements] == [s for _n, s in views._statements_made(settings, None)]
    assert closure["spend"] >= {"spend", "spend_base", "fx_factor"}
    assert views._create_statements(settings, None) == tuple(s for _n, s in statements)


def test_a_corrupt_or_foreign_file_is_recomputed(cache):
    settings = Settings()
    computed = _fresh(settings)
    for path in cache.iterdir():
        if path.name.startswith("view-catalog"):
            path.write_text("{not json", encoding="utf-8")
        else:  # valid JSON of the wrong shape: a view missing
            plan = json.loads(path.read_text(encoding="utf-8"))
            plan["statements"] = plan["statements"][1:]
            path.write_text(json.dumps(plan), encoding="utf-8")
    assert _fresh(settings) == computed
    for path in cache.iterdir():  # rewritten whole
        assert json.loads(path.read_text(encoding="utf-8"))


def test_an_unwritable_folder_is_no_error(cache, monkeypatch):
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("a file where the folder should be", encoding="utf-8")
    settings = Settings()
    catalog, plan = _fresh(settings)
    assert "spend" in catalog and plan[0][0][0] == "fx_factor"


def test_other_settings_or_currency_are_other_files(cache):
    _fresh(Settings(reporting_currency="EUR"))
    _fresh(Settings(reporting_currency="USD"))
    _fresh(Settings(reporting_currency="EUR"), "USD")
    names = [p.name for p in cache.iterdir()]
    assert len([n for n in names if n.startswith("view-plan")]) == 3
    assert len([n for n in names if n.startswith("view-catalog")]) == 2
    assert catalog_cache.key("x", ["a"]) != catalog_cache.key("x", ["b"])


def test_old_files_are_pruned(cache, monkeypatch):
    monkeypatch.setattr(catalog_cache, "KEEP", 2)
    for currency in ("EUR", "USD", "GBP"):
        _fresh(Settings(reporting_currency=currency))
    names = [p.name for p in cache.iterdir()]
    assert len([n for n in names if n.startswith("view-catalog")]) == 2
    assert len([n for n in names if n.startswith("view-plan")]) == 2
