"""What every run asks for, kept by content: the definitions' part of a cached call's key
(one digest, worked out once for the same objects) and settings.yaml (parsed again only
when its text changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.core.settings import Settings, SettingsError
from kpi.semantic.definitions import load_definitions
from ui import context
from ui.cache import definitions_key

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "kpis" / "valid.yaml"


def test_the_same_definitions_give_the_same_key(monkeypatch) -> None:
    defs = load_definitions(VALID, Settings())
    key = definitions_key(defs)
    assert isinstance(key, str) and len(key) == 64
    dumps: list[str] = []
    dump = type(defs[0]).model_dump_json

    def counted(self, **kwargs):
        dumps.append(self.id)
        return dump(self, **kwargs)

    monkeypatch.setattr(type(defs[0]), "model_dump_json", counted)
    assert definitions_key(list(defs)) == key and dumps == []  # the same objects: kept
    renamed = [defs[0].model_copy(update={"name": "Spend, all lines"}), *defs[1:]]
    assert definitions_key(renamed) != key and dumps  # a field changed: a new key
    assert definitions_key(defs[::-1]) != key  # the order is part of it


def test_the_settings_are_parsed_again_only_when_their_text_changed(tmp_path, monkeypatch):
    (tmp_path / "settings.yaml").write_text("reporting_currency: EUR\n", encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(tmp_path))
    first = context._settings()
    assert context._settings() is first and first.reporting_currency == "EUR"
    (tmp_path / "settings.yaml").write_text("reporting_currency: USD\n", encoding="utf-8")
    assert context._settings().reporting_currency == "USD"
    (tmp_path / "settings.yaml").write_text("inventory: {obsolete_after_days: -1}\n")
    with pytest.raises(SettingsError):  # refused every time, never served from before
        context._settings()
    with pytest.raises(SettingsError):
        context._settings()
    (tmp_path / "settings.yaml").unlink()
    assert context._settings().reporting_currency == "EUR"  # no file: the defaults
