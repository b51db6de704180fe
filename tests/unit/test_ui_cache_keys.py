"""The definitions' part of a cached call's key: one digest, the same for the same objects
(worked out once), another when any field of any definition differs."""

from __future__ import annotations

from pathlib import Path

from kpi.core.settings import Settings
from kpi.semantic.definitions import load_definitions
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
