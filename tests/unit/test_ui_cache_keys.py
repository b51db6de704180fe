"""What every run asks for, kept by content: the definitions' part of a cached call's key
(one digest, worked out once for the same objects), settings.yaml (parsed again only
when its text changed) and a chart's figure (built once per frame content and arguments)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from kpi.core.kept import Kept
from kpi.core.settings import Settings, SettingsError
from kpi.reporting import charts
from kpi.semantic.definitions import load_definitions
from ui import cache, context
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


_BUILT: list[tuple] = []  # what _bars was asked to build (a chart builder reads only its args)


def _bars(frame: pl.DataFrame, currency: str) -> tuple:
    _BUILT.append((frame.height, currency))
    return ("figure", frame.height, currency)


def test_a_chart_is_built_once_per_frame_content_and_arguments(monkeypatch) -> None:
    monkeypatch.setattr(cache, "_FIGURES", Kept(64))  # nothing kept from other tests
    built = _BUILT
    built.clear()
    bars = _bars

    def frame(amount: str) -> pl.DataFrame:  # a new object each time, same content
        return pl.DataFrame(
            {"period": ["2026-01", "2026-02"], "amount": [Decimal("1.10"), Decimal(amount)]}
        )

    first = cache.figure(bars, frame("2.20"), "EUR")
    assert first == ("figure", 2, "EUR") and built == [(2, "EUR")]
    assert cache.figure(bars, frame("2.20"), "EUR") is first  # same content: not built again
    assert len(built) == 1
    cache.figure(bars, frame("2.21"), "EUR")  # a cent apart: built again
    cache.figure(bars, frame("2.20"), "USD")  # another currency: built again
    assert built == [(2, "EUR"), (2, "EUR"), (2, "USD")]

    monkeypatch.setattr(cache._FIGURES, "size", 2)  # the least recently drawn goes first
    cache.figure(bars, frame("9.99"), "EUR")
    assert cache.figure(bars, frame("2.20"), "USD") == ("figure", 2, "USD")
    assert len(built) == 4  # still kept: drawn just before
    cache.figure(bars, frame("2.20"), "EUR")
    assert len(built) == 5  # pushed out by the two after it: built again


def test_a_kept_chart_is_the_figure_the_builder_makes() -> None:
    trend = pl.DataFrame(
        {"period": ["2026-01", "2026-02"], "days_to_pay": [41.5, 38.0], "terms": [30.0, 30.0]}
    )
    kept = cache.figure(charts.days_to_pay_vs_terms, trend)
    assert kept.to_dict() == charts.days_to_pay_vs_terms(trend).to_dict()


def test_a_chart_builder_that_reads_variables_around_it_is_refused() -> None:
    currency = "EUR"
    trend = pl.DataFrame({"period": ["2026-01"], "days_to_pay": [41.5], "terms": [30.0]})
    with pytest.raises(TypeError, match="pass them as args"):
        cache.figure(lambda f: (f.height, currency), trend)
    first = cache.figure(lambda f: ("one", f.height), trend)  # no closure: kept by its code
    second = cache.figure(lambda f: ("two", f.height), trend)
    assert (first, second) == (("one", 1), ("two", 1))
