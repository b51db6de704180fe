"""The overview says how old the data is and warns when it is stale (issue 15, point 8);
its statuses say "no data" where the value is missing (point 7)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.analyses import freshness

ROOT = Path(__file__).resolve().parents[2]


def run_overview(monkeypatch, today: date) -> AppTest:
    monkeypatch.setattr(freshness, "today", lambda: today)
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _freshness(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if "`stale_after_days`" in c.value]


def _stale(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "out of date" in w.value]


def test_fresh_data_shows_its_age_and_no_warning(store, monkeypatch):
    # the hand fixture's oldest source is inventory, up to 28 Feb 2026: fresh until 7 Apr
    at = run_overview(monkeypatch, date(2026, 4, 7))
    (line,) = _freshness(at)
    assert line.startswith("Inventory up to **28 Feb 2026** (38 days old) · ")
    assert "invoices and payments up to **5–20 Apr 2026** (2 days old)" in line
    assert "Fresh until **7 Apr 2026**" in line and "`stale_after_days`" in line
    assert _stale(at) == []


def test_stale_data_is_warned_with_what_to_do(store, monkeypatch):
    at = run_overview(monkeypatch, date(2026, 4, 8))
    assert any("Stale since **8 Apr 2026**" in c for c in _freshness(at))
    (warning,) = _stale(at)
    assert warning.startswith(
        "The data is out of date. Inventory up to 28 Feb 2026 (39 days old); March's data "
        "was due by 7 Apr 2026."
    )
    assert "Load the newest files on the **Data** page" in warning


def test_the_setting_decides_when_data_is_stale(store, config, monkeypatch):
    # 60 days after the end of March (the month after inventory's February): 30 May
    settings = config / "settings.yaml"
    settings.write_text(settings.read_text().replace("stale_after_days: 7", "stale_after_days: 60"))
    at = run_overview(monkeypatch, date(2026, 5, 30))
    assert any("Fresh until **30 May 2026**" in c for c in _freshness(at))
    assert _stale(at) == []


def test_a_kpi_without_a_value_reads_no_data(store, monkeypatch):
    at = run_overview(monkeypatch, date(2026, 4, 7))
    status = {
        name: state
        for df in at.dataframe
        if "Status" in df.value.columns
        for name, state in zip(df.value["name"], df.value["Status"], strict=True)
    }
    # FY2026-Q1 of the hand fixture: overdue payables has no value, yet a target (€300,000)
    assert status["Overdue payables"] == "◌ No data"
    # a value (139.5 days) but no target set for the quarter
    assert status["Cash conversion gap"] == "○ No target"
    tally = next(m.value for m in at.markdown if "On target:" in m.value)
    assert "○ No target: **2** · ◌ No data: **3**" in tally


def test_overdue_payables_says_where_its_value_is(store, monkeypatch):
    """Overdue payables is counted on the data's last day only (20 Apr 2026, FY2026-Q2),
    after the range's last quarter (FY2026-Q1): under its theme's table the overview says
    its value there, rather than leave a bare "no data"."""
    at = run_overview(monkeypatch, date(2026, 4, 7))
    notes = [c.value for c in at.caption if "data's last day" in c.value]
    # by hand: on 20 Apr 2026 the one open line, INV3 (€1,000), is due on 4 Jun 2026: none
    # is past due, €0 overdue
    assert notes == [
        "Overdue payables: counted on the data's last day only: **€0** in FY2026-Q2, "
        "outside the sidebar's range."
    ]
