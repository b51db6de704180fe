"""Which store the settings choose: `store:` (or `storage:`, the same choice), KPI_STORE."""

from __future__ import annotations

import pytest

from kpi.core.settings import SettingsError, load_settings


def _settings(tmp_path, text: str):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return load_settings(path)


def test_store_and_storage_name_the_same_choice(tmp_path, monkeypatch):
    monkeypatch.delenv("KPI_STORE", raising=False)
    assert _settings(tmp_path, "currency: EUR\n").store == "file"
    assert _settings(tmp_path, "store: lake\n").store == "lake"
    assert _settings(tmp_path, "storage: lake\nlake: /srv/kpi-lake\n").store == "lake"
    assert _settings(tmp_path, "storage: lake\nlake: /srv/kpi-lake\n").lake == "/srv/kpi-lake"
    assert _settings(tmp_path, "store: lake\nstorage: lake\n").store == "lake"
    with pytest.raises(SettingsError, match="store and storage .* differ: keep one"):
        _settings(tmp_path, "store: file\nstorage: lake\n")
    with pytest.raises(SettingsError, match="store must be one of file, lake"):
        _settings(tmp_path, "storage: s3\n")
    assert _settings(tmp_path, "storage: lake\nlake: s3://kpi/lake\n").lake == "s3://kpi/lake"
    with pytest.raises(SettingsError, match="names no bucket"):
        _settings(tmp_path, "storage: lake\nlake: s3:///lake\n")


def test_the_environment_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KPI_STORE", "lake")
    assert _settings(tmp_path, "store: file\n").store == "lake"


def test_kpi_lake_as_a_url_other_than_s3_is_refused_with_what_to_do(monkeypatch, tmp_path):
    from kpi.core.settings import lake_path

    monkeypatch.setenv("KPI_LAKE", "s3://kpi/lake")
    assert lake_path() == "s3://kpi/lake"
    monkeypatch.setenv("KPI_LAKE", "abfss://kpi@account/lake")
    with pytest.raises(SettingsError, match="KPI_LAKE: a lake in an object store must be an s3"):
        lake_path()
    monkeypatch.delenv("KPI_LAKE")
    with pytest.raises(SettingsError, match="lake: a lake in an object store must be an s3"):
        _settings(tmp_path, "lake: gs://kpi/lake\n")
    assert _settings(tmp_path, "lake: s3://kpi/lake\n").lake == "s3://kpi/lake"


def test_the_reporting_currency_is_a_known_code(tmp_path):
    """A reporting currency no loaded file could use (a typo, a name) is refused, saying what
    to write; case and spaces do not matter."""
    assert _settings(tmp_path, "reporting_currency: ' usd'\n").reporting_currency == "USD"
    assert _settings(tmp_path, "reporting_currency: GBP\n").reporting_currency == "GBP"
    for bad in ("EURO", "Euro zone", "XXQ", "1"):
        with pytest.raises(SettingsError, match=f"reporting_currency must be .* got '?{bad}"):
            _settings(tmp_path, f"reporting_currency: {bad}\n")
