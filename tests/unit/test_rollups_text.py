"""The rollups' state in words, from a Status made by hand: the command line's lines and the
Data page's sentence and table say the same things."""

from __future__ import annotations

from datetime import UTC, datetime

from kpi.reporting.rollups_text import render_status, state_sentence, status_table
from kpi.semantic.rollups import ANY_GRAIN, Status, TableStatus

BUILT = datetime(2026, 12, 6, 12, 49, tzinfo=UTC).timestamp()
TABLES = [
    TableStatus("r_spend", "spend", "invoice_date", ANY_GRAIN, ("category", "supplier"), 8, 40633),
    TableStatus(
        "r_inv_q", "inventory_position", "snapshot_date", "quarter", ("location",), 6, 1656
    ),
]


def test_fresh_sums_are_read_and_said_with_their_time_and_size():
    status = Status(True, "", TABLES, 17_100_000, 121_900_000, BUILT)
    assert state_sentence(status, "Europe/Paris") == (
        "**Up to date with the data**: figures are read from the pre-computed sums where they "
        "can be, and computed from the transactions where they cannot. Last table built "
        "2026-12-06 13:49 CET; size 17.1 MB beside a store of 121.9 MB (14.0%)."
    )
    text = render_status(status)
    assert text.splitlines()[0] == (
        "Rollups: match the store's data; figures are read from them where they can be"
    )
    assert "Size 17.1 MB beside a store of 121.9 MB (14.0%)" in text
    assert (
        "spend                  invoice_date     any             8     40,633  category, supplier"
        in text
    )
    frame = status_table(status)
    assert frame.rows() == [
        ("spend", "invoice_date", "any", 8, 40633, "category, supplier"),
        ("inventory_position", "snapshot_date", "quarter", 6, 1656, "location"),
    ]


def test_sums_not_read_say_why_in_the_apps_words_and_the_commands():
    stale = Status(False, "stale", TABLES, 1, 2, BUILT)
    assert state_sentence(stale).startswith(
        "**Not used now**: the data changed since they were brought up to date; they are "
        "refreshed after every load and every save of the definitions, which may be running "
        "now. Every figure is computed from the transactions meanwhile: the same numbers, "
        "more slowly. Last table built 2026-12-06 12:49 UTC;"
    )
    assert render_status(stale).startswith(
        "Rollups: not used now: they do not match the store's data now (written since): "
        "figures are computed live until `kpi rollups --refresh` or the next load"
    )
    missing = Status(False, "missing", [], 0, 0, None)
    assert state_sentence(missing) == (
        "**Not used now**: they are not built yet; they are built after the next load or "
        "save of the definitions. Every figure is computed from the transactions meanwhile: "
        "the same numbers, more slowly."
    )
    assert status_table(missing).is_empty()
    off = Status(False, "off", TABLES, 1, 2, None)
    assert "switched off for this app (`KPI_ROLLUPS=off`)" in state_sentence(off)
    assert render_status(off).startswith("Rollups: not used now: KPI_ROLLUPS is off")
    assert render_status(missing).startswith(
        "Rollups: not used now: not built yet (they are after the next load or save)"
    )
