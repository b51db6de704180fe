"""The Inventory page's stock kept on purpose, on tests/stock_fixture.py (figures by hand there).

The period is FY2026-Q3, whose last snapshot is 2026-09-30: unmarked, P1's 1000.00 is
obsolete and X1's 200.00 is excess. The clock the marks read is set to 2026-10-05, so a
mark applies from the 2026-09-30 snapshot.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.core.people import Person
from kpi.store.database import Store
from kpi.workflows import stock_marks
from tests import stock_fixture
from ui.stock_marks import MARK_RULE

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = str(ROOT / "pages" / "inventory.py")
JONAS = "Jonas Berg (procurement, member)"
SAM = "Sam Okafor (finance, member)"
LEE = "Lee Chen (operations, viewer)"


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Store:
    s = stock_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    monkeypatch.setattr(stock_marks, "_now", lambda: datetime(2026, 10, 5, 9, 30))
    return s


def page(who: str | None = None) -> AppTest:
    at = AppTest.from_file(INVENTORY, default_timeout=120)
    at.session_state["periods"] = ("FY2026-Q3", "FY2026-Q3")
    if who:
        at.session_state["acting_as"] = who
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label.replace("\\", ""): m.value for m in at.metric}


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def _marks_table(at: AppTest):
    return next(df.value for df in at.dataframe if "review" in df.value.columns)


@pytest.mark.parametrize(
    ("who", "says"),
    [
        (
            SAM,
            "Sam Okafor (finance, member) may not mark, change or remove stock marks: only "
            "procurement members and the CFO may. To question a mark, comment in the stock "
            "item's thread. The forms are shown read-only.",
        ),
        (
            LEE,
            "Lee Chen (operations, viewer) may not mark, change or remove stock marks: only "
            "procurement members and the CFO may. The forms are shown read-only.",
        ),
    ],
)
def test_finance_and_viewers_see_the_forms_read_only_with_the_reason(store, who, says):
    at = page(who)
    assert says in [i.value for i in at.info]
    assert at.selectbox(key="sm_item_0").disabled
    assert at.text_input(key="sm_reason_0").disabled
    assert at.button(key="sm_save_0").disabled and at.button(key="sm_off_0").disabled
    # nothing marked yet: the empty states say what is missing and who acts
    assert any(i.value.startswith("No stock is marked as safety or strategic") for i in at.info)
    assert any(i.value.startswith("No stock has been marked yet") for i in at.info)


def test_procurement_marks_an_item_and_the_classes_follow(store):
    at = page(JONAS)
    before = metrics(at)
    assert (before["Excess (above max)"], before["Obsolete"]) == ("€200", "€1.0 k")
    # where the classes are shown, the page says the stock-mark rule and that none stands
    assert f"{MARK_RULE} No item is marked now." in captions(at)
    at.selectbox(key="sm_item_0").set_value("P1")
    at.radio(key="sm_kind_0").set_value("strategic")
    at.date_input(key="sm_review_0").set_value(date(2027, 6, 30))
    at.text_input(key="sm_reason_0").input("Spare for line 3's pump")
    at.button(key="sm_save_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == [
        "Marked P1: strategic stock until 2027-06-30, from the snapshot of 2026-09-30 on; it "
        "is not counted as excess or obsolete until then."
    ]
    after = metrics(at)
    # P1 leaves obsolete (1000.00 -> 0) and goes to safety 200 + cycle 800
    assert (after["Excess (above max)"], after["Obsolete"]) == ("€200", "€0")
    assert after["Safety stock"] == "€325"  # 200 + 100 + 25
    assert f"{MARK_RULE} Marked now: 1 item(s); see *Stock kept on purpose* below." in captions(at)
    marks = _marks_table(at)
    assert marks["item_id"].tolist() == ["P1"]
    assert marks["review"].tolist() == ["in force"]
    assert marks["marked_by"].tolist() == ["Jonas Berg"]
    history = next(df.value for df in at.dataframe if "action" in df.value.columns)
    assert history["action"].tolist() == ["marked"]
    assert history["reason"].tolist() == ["Spare for line 3's pump"]


def test_a_mark_without_a_reason_is_refused_in_words(store):
    at = page(JONAS)
    at.selectbox(key="sm_item_0").set_value("X1")
    at.button(key="sm_save_0").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Say why you mark: the reason is kept in the item's history for finance and "
        "procurement to read."
    ]
    assert stock_marks.mark_history(store).is_empty()


def test_a_passed_review_date_is_flagged_and_procurement_removes_the_mark(store):
    jonas = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
    stock_marks.mark_stock(
        store, jonas, "X1", "safety", "Mill closes in August", date(2026, 11, 30)
    )
    at = page(JONAS)  # today (the real clock) is after 2026-11-30
    assert [w.value for w in at.warning if w.value.startswith("Review date passed")] == [
        "Review date passed for X1 (2026-11-30): this stock is classed as excess or obsolete "
        "again in snapshots after its review date. Procurement: change the mark with a new "
        "review date, or remove it."
    ]
    assert _marks_table(at)["review"].tolist() == ["passed: review the mark"]
    assert (
        f"{MARK_RULE} Marked now: 1 item(s), 1 of them past the review date (classed as if "
        "unmarked); see *Stock kept on purpose* below." in captions(at)
    )
    at.selectbox(key="sm_off_item_0").set_value("X1")
    at.text_input(key="sm_off_reason_0").input("The mill reopened")
    at.button(key="sm_off_0").click().run()
    assert not at.exception
    assert [s.value for s in at.success][0].startswith("Removed the mark of X1")
    assert stock_marks.current_marks(store).is_empty()
    assert stock_marks.mark_history(store)["action"].to_list() == ["removed", "marked"]
