"""The Quarterly goals page's meeting pack and `python -m kpi pack` are the same pack.

The page's download button is given a function that makes the file when clicked; the test
takes that function from ui.goals_page.pack_button (as the page calls it: no sidebar
filter, the reporting currency) and compares its bytes with what the command line writes.
Only the time the pack was made and plotly's random chart ids may differ.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from kpi import cli
from kpi.core.settings import load_settings
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.workflows import goals
from tests.unit.test_goals import FINANCE, PROCUREMENT, build_history_store

PLAN = "FY2026-Q2"
MADE = re.compile(r"Made \d{4}-\d\d-\d\d \d\d:\d\d UTC\.")
CHART_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class _Column:
    """Stands in for the page's column: keeps what the download button was given."""

    def download_button(self, label, data, **kwargs):
        self.label, self.data, self.kwargs = label, data, kwargs


def _comparable(page: str) -> str:
    return CHART_ID.sub("<chart id>", MADE.sub("Made <time>.", page))


def test_the_command_line_writes_the_pack_the_page_downloads(tmp_path, capsys):
    from ui.goals_page import pack_button

    db = tmp_path / "kpi.duckdb"
    store = build_history_store(db)
    goals.propose_target(store, FINANCE, PLAN, "total_spend", 2400, "Flat on last year")
    goals.propose_target(store, PROCUREMENT, PLAN, "total_spend", 2500, "Paper up")
    settings = load_settings()
    ctx = SimpleNamespace(
        store=Store(db, settings),
        settings=settings,
        definitions=load_definitions(None, settings),
        filters={},  # the sidebar without a filter
    )
    column = _Column()
    pack_button(ctx, column, PLAN, settings.reporting_currency)
    assert column.kwargs["file_name"] == f"meeting_pack_{PLAN}.html"
    downloaded = column.data().decode("utf-8")

    out = tmp_path / "pack.html"
    assert cli.main(["pack", "--quarter", PLAN, "--out", str(out), "--db", str(db)]) == 0
    capsys.readouterr()
    written = Path(out).read_text(encoding="utf-8")

    assert _comparable(written) == _comparable(downloaded)
    # and the figures are there to compare: the proposals and the worked-out forecast
    assert "<td class='num'>€2,400.00</td><td class='num'>€2,500.00</td>" in written
    assert "FY2026-Q2 forecast €2,463.40." in written  # tests/unit/test_goals.py
    assert written.count("Plotly.newPlot(") == downloaded.count("Plotly.newPlot(") > 20
