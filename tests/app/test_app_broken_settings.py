"""Broken settings close the dashboard with one message saying what to mend: every page,
never a traceback, nothing read or written (a bad value in settings.yaml, or a lake named
by a URL in the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
CLOSED = "**The dashboard is closed: its settings are broken.** "


def _errors(page: str) -> list[str]:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_a_bad_value_in_the_settings_closes_every_page_saying_what_to_mend(page, store, config):
    settings = config / "settings.yaml"
    settings.write_text(settings.read_text() + "stale_after_days: 999\n")
    assert _errors(page) == [
        f"{CLOSED}{settings}: stale_after_days must be a whole number of days from 0 to 60 "
        "(how long after the end of the month following the data's last day the overview "
        "still calls the data fresh), got 999. Mend the file (or the environment variable) "
        "named, then reload the page."
    ]


def test_a_lake_named_by_a_url_it_cannot_write_closes_the_dashboard(store, config, monkeypatch):
    monkeypatch.setenv("KPI_STORE", "lake")
    monkeypatch.setenv("KPI_LAKE", "gs://kpi/lake")
    assert _errors("overview.py") == [
        f"{CLOSED}KPI_LAKE: a lake in an object store must be an s3:// URL (S3 or an "
        "S3-compatible store such as MinIO); 'gs://kpi/lake' is not one. Mend the file (or "
        "the environment variable) named, then reload the page."
    ]
