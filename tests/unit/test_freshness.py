"""Fresh or stale (the overview): the month-end rule on hand dates, its words, the setting."""

from __future__ import annotations

from datetime import date

import pytest

from kpi.analyses.freshness import (
    data_freshness,
    fresh_until,
    freshness_line,
    judge,
    latest_days,
    stale_warning,
)
from kpi.core.settings import SettingsError, load_settings
from kpi.store.database import Store
from tests import hand_fixture


@pytest.mark.parametrize(
    "last_day,days,expected",
    [
        # October's data: November ends on the 30th, + 7 days
        (date(2026, 10, 30), 7, date(2026, 12, 7)),
        (date(2026, 10, 1), 7, date(2026, 12, 7)),  # any day of the month counts alike
        (date(2026, 11, 30), 7, date(2027, 1, 7)),  # December ends on the 31st
        (date(2026, 12, 15), 7, date(2027, 2, 7)),  # across the year end
        (date(2026, 1, 31), 7, date(2026, 3, 7)),  # February 2026: 28 days
        (date(2028, 1, 10), 7, date(2028, 3, 7)),  # February 2028: 29 days
        (date(2026, 10, 30), 0, date(2026, 11, 30)),  # 0: due at the month end itself
    ],
)
def test_fresh_until_is_days_after_the_end_of_the_following_month(last_day, days, expected):
    assert fresh_until(last_day, days) == expected


def test_fresh_on_the_day_before_the_limit():
    fresh = judge({"invoices": date(2026, 10, 30)}, date(2026, 12, 2), 7)
    assert fresh.stale == ()
    assert stale_warning(fresh) is None
    assert freshness_line(fresh) == (
        "Data up to **30 Oct 2026** — 33 days old. Fresh until **7 Dec 2026**: November's "
        "data is due 7 days after November ends (setting `stale_after_days`)."
    )


def test_still_fresh_exactly_at_the_limit():
    fresh = judge({"invoices": date(2026, 10, 30)}, date(2026, 12, 7), 7)
    assert fresh.stale == () and stale_warning(fresh) is None
    assert "Fresh until **7 Dec 2026**" in freshness_line(fresh)


def test_stale_the_day_after_the_limit():
    fresh = judge({"invoices": date(2026, 10, 30)}, date(2026, 12, 8), 7)
    assert [s.source for s in fresh.stale] == ["invoices"]
    assert freshness_line(fresh) == (
        "Data up to **30 Oct 2026** — 39 days old. Stale since **8 Dec 2026**: November's "
        "data was due 7 days after November ended (setting `stale_after_days`)."
    )
    assert stale_warning(fresh) == (
        "The data is out of date. Invoices up to 30 Oct 2026 (39 days old); November's data "
        "was due by 7 Dec 2026. Load the newest files on the **Data** page (or ask whoever "
        "loads them) to see the figures of the months since."
    )


def test_an_empty_store_says_no_data_loaded_yet(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    store.initialise()
    assert set(latest_days(store).values()) == {None}
    fresh = data_freshness(store, date(2026, 12, 2))
    assert fresh.sources == () and stale_warning(fresh) is None
    assert freshness_line(fresh) == (
        "No data loaded yet: load the files on the **Data** page, or run `python -m kpi demo` "
        "to explore the demo data."
    )


def test_sources_in_different_months_are_named_and_judged_apart(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    # the fixture's last days: inventory 28 Feb 2026 (due by 7 Apr), purchase orders 5 Mar
    # and goods receipts 30 Mar (due by 7 May), invoices 5 Apr and payments 20 Apr (7 Jun)
    on_limit = data_freshness(store, date(2026, 4, 7))
    assert freshness_line(on_limit) == (
        "Inventory up to **28 Feb 2026** (38 days old) · purchase orders and goods receipts "
        "up to **5–30 Mar 2026** (33 days old) · invoices and payments up to "
        "**5–20 Apr 2026** (2 days old). Fresh until **7 Apr 2026**: March's data is due 7 "
        "days after March ends (setting `stale_after_days`)."
    )
    assert stale_warning(on_limit) is None
    day_after = data_freshness(store, date(2026, 4, 8))
    assert [s.source for s in day_after.stale] == ["inventory"]
    assert stale_warning(day_after).startswith(
        "The data is out of date. Inventory up to 28 Feb 2026 (39 days old); March's data "
        "was due by 7 Apr 2026. Load the newest files"
    )
    later = data_freshness(store, date(2026, 5, 8))
    # 5 Mar to 8 May: 26 + 30 + 8 = 64 days
    assert [s.source for s in later.stale] == ["inventory", "purchase orders", "goods receipts"]
    assert "Purchase orders and goods receipts up to 5–30 Mar 2026 (64 days old); " in (
        stale_warning(later)
    )


def test_the_setting_moves_the_limit(tmp_path):
    fresh = judge({"invoices": date(2026, 10, 30)}, date(2026, 12, 2), 0)
    assert [s.source for s in fresh.stale] == ["invoices"]  # due on 30 Nov with 0 days
    assert "Stale since **1 Dec 2026**: November's data was due when November ended" in (
        freshness_line(fresh)
    )


def test_stale_after_days_setting(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("reporting_currency: EUR\n")
    assert load_settings(path).stale_after_days == 7  # the default
    path.write_text("stale_after_days: 10\n")
    assert load_settings(path).stale_after_days == 10
    for bad in ("-1", "61", "7.5", "true", "soon"):
        path.write_text(f"stale_after_days: {bad}\n")
        with pytest.raises(SettingsError, match="stale_after_days must be a whole number of days"):
            load_settings(path)
