"""Procurement's stock marks: who may mark, the history, and the inventory classes using them.

On tests/stock_fixture.py (its docstring works out each item's classes by hand, marked and
unmarked). The clock is set to 2026-10-05 when marking: a mark applies from the latest
snapshot on or before that day (2026-09-30) and, with the review date 2026-12-31, up to and
including the snapshot of 2026-12-31; the snapshot of 2026-06-30 (before the mark) and
2027-03-31 (after its review date) are classed as unmarked.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from kpi.analyses.inventory import items_to_question, stock_by_snapshot
from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied
from kpi.core.scope import Scope
from kpi.ingest.pipelines import load_files
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.store.schema import TABLES
from kpi.workflows import stock_marks
from kpi.workflows.stock_marks import StockMarkError
from tests import stock_fixture

D = Decimal
CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")


@pytest.fixture
def clock(monkeypatch):
    """Set the UTC clock the marks read; returns a setter."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(stock_marks, "_now", lambda: moment)

    set_to(datetime(2026, 10, 5, 9, 30))
    return set_to


@pytest.fixture
def store(tmp_path):
    return stock_fixture.build(tmp_path / "kpi.duckdb")


ALL = Scope.of(date(2026, 1, 1), date(2027, 12, 31))


def _classes(store: Store) -> dict[str, tuple]:
    frame = stock_by_snapshot(store, ALL)
    return {
        r["period"]: (r["safety"], r["cycle"], r["excess"], r["obsolete"], r["stock_value"])
        for r in frame.to_dicts()
    }


# safety, cycle, excess, obsolete, stock value (1000 + 500 + 100 = 1600 every snapshot)
UNMARKED = (D("125.00"), D("275.00"), D("200.00"), D("1000.00"), D("1600.00"))
# P1: safety 200, cycle 800; X1: safety 100, cycle 400; N1: safety 25, cycle 75
BOTH_MARKED = (D("325.00"), D("1275.00"), D("0.00"), D("0.00"), D("1600.00"))


def _mark_both(store: Store) -> None:
    review = date(2026, 12, 31)
    stock_marks.mark_stock(store, JONAS, "P1", "strategic", "Spare for line 3's pump", review)
    stock_marks.mark_stock(store, CFO, "X1", "safety", "Mill closes in August", review)


def test_classes_without_a_mark(store):
    assert _classes(store) == dict.fromkeys(stock_fixture.SNAPSHOTS, UNMARKED)


def test_a_mark_keeps_stock_out_of_excess_and_obsolete_until_its_review_date(store, clock):
    _mark_both(store)
    assert _classes(store) == {
        "2026-06-30": UNMARKED,  # before the snapshot the mark was made on
        "2026-09-30": BOTH_MARKED,  # the latest snapshot when marked (2026-10-05)
        "2026-12-31": BOTH_MARKED,  # the review date itself is still covered
        "2027-03-31": UNMARKED,  # after the review date: classed as unmarked
    }


def test_the_kpis_read_the_marked_classes(store, clock):
    _mark_both(store)
    ids = ["excess_inventory_value", "obsolete_stock_value", "safety_stock_value"]
    defs = engine.select_definitions(load_definitions(), ids)
    frame = engine.compute(store, defs, "quarter", start=ALL.start, end=ALL.end).frame
    got = {(r["kpi"], r["period"]): r["value"] for r in frame.to_dicts()}
    for quarter, (safety, _, excess, obsolete, _) in {
        "FY2026-Q2": UNMARKED,
        "FY2026-Q3": BOTH_MARKED,
        "FY2026-Q4": BOTH_MARKED,
        "FY2027-Q1": UNMARKED,
    }.items():
        assert got[("excess_inventory_value", quarter)] == pytest.approx(float(excess))
        assert got[("obsolete_stock_value", quarter)] == pytest.approx(float(obsolete))
        assert got[("safety_stock_value", quarter)] == pytest.approx(float(safety))


def test_the_questions_show_the_mark_and_no_longer_ask_obsolete(store, clock):
    stock_marks.mark_stock(store, JONAS, "P1", "strategic", "Spare for line 3", date(2027, 6, 30))
    q3 = Scope.of(date(2026, 7, 1), date(2026, 9, 30))
    rows = {r["item_id"]: r for r in items_to_question(store, q3).to_dicts()}
    # P1 idle 623 days: still questioned (its whole stock, 1000.00), but not as obsolete
    assert rows["P1"]["finance_question"] == "No issue for 623 days"
    assert rows["P1"]["value_questioned"] == D("1000.00")
    assert rows["P1"]["obsolete_value"] == D("0.00")
    assert rows["P1"]["procurement_reason"].startswith(
        "marked strategic stock until 2027-06-30: Spare for line 3; "
    )
    # X1 unmarked: 20 above its max of 30, 200.00 questioned
    assert rows["X1"]["value_questioned"] == D("200.00")
    assert "marked" not in rows["X1"]["procurement_reason"]


def test_the_questions_say_when_a_marks_review_date_passed(store, clock):
    _mark_both(store)  # review date 2026-12-31; the 2027-03-31 snapshot is after it
    rows = {r["item_id"]: r for r in items_to_question(store, ALL).to_dicts()}
    assert rows["P1"]["finance_question"] == "No issue for 805 days: obsolete?"
    assert rows["P1"]["obsolete_value"] == D("1000.00")
    assert rows["X1"]["procurement_reason"].startswith(
        "marked safety stock, review passed on 2026-12-31: Mill closes in August; "
    )


def test_changing_and_removing_a_mark_keep_the_history(store, clock):
    stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time 90 days", date(2026, 11, 30))
    clock(datetime(2026, 10, 20, 8, 0))
    changed = stock_marks.mark_stock(
        store, JONAS, "P1", "strategic", "Line 3 runs until 2027", date(2026, 12, 31)
    )
    assert changed.action == "changed"
    assert changed.message == (
        "Changed the mark of P1: strategic stock until 2026-12-31, from the snapshot of "
        "2026-09-30 on; it is not counted as excess or obsolete until then."
    )
    clock(datetime(2027, 1, 10, 8, 0))  # the 2026-12-31 snapshot is the latest now
    removed = stock_marks.unmark_stock(store, CFO, "P1", "Line 3 closed in December")
    assert removed.effective_from == date(2026, 12, 31)
    history = stock_marks.mark_history(store, "P1")
    assert history.select("action", "kind", "review_date", "reason", "changed_by").rows() == [
        ("removed", None, None, "Line 3 closed in December", CFO.email),
        ("changed", "strategic", date(2026, 12, 31), "Line 3 runs until 2027", JONAS.email),
        ("marked", "safety", date(2026, 11, 30), "Lead time 90 days", JONAS.email),
    ]
    assert history["changed_at"].to_list()[0] == datetime(2027, 1, 10, 8, 0)
    assert stock_marks.current_marks(store).is_empty()
    # the removal applies from 2026-12-31: that snapshot is classed as unmarked again, the
    # 2026-09-30 one keeps the mark it had then (P1 safety 200 + X1 100 + N1 25)
    got = _classes(store)
    assert got["2026-12-31"] == UNMARKED
    assert got["2026-09-30"] == (D("325.00"), D("1075.00"), D("200.00"), D("0.00"), D("1600.00"))


def test_a_passed_review_date_is_flagged(store, clock):
    stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time 90 days", date(2026, 11, 30))
    marks = stock_marks.current_marks(store, today=date(2026, 11, 30))
    assert marks.select("item_id", "kind", "review_passed").rows() == [("P1", "safety", False)]
    marks = stock_marks.current_marks(store, today=date(2026, 12, 1))
    assert marks["review_passed"].to_list() == [True]


@pytest.mark.parametrize(
    ("person", "says"),
    [
        (
            SAM,
            "Sam Okafor (finance, member) may not mark, change or remove stock marks: only "
            "procurement members and the CFO may. To question a mark, comment in the stock "
            "item's thread.",
        ),
        (
            LEE,
            "Lee Chen (operations, viewer) may not mark, change or remove stock marks: only "
            "procurement members and the CFO may.",
        ),
    ],
)
def test_finance_and_viewers_may_not_mark_or_unmark(store, clock, person, says):
    with pytest.raises(PermissionDenied) as refused:
        stock_marks.mark_stock(store, person, "P1", "safety", "Because", date(2027, 1, 31))
    assert str(refused.value) == says
    stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time", date(2027, 1, 31))
    with pytest.raises(PermissionDenied) as refused:
        stock_marks.unmark_stock(store, person, "P1", "Waste")
    assert str(refused.value) == says
    assert stock_marks.mark_history(store).height == 1  # nothing written by the refusals


@pytest.mark.parametrize(
    ("item", "kind", "reason", "review", "says"),
    [
        ("P1", "safety", "  ", date(2027, 1, 31), "Say why you mark: the reason is kept"),
        ("P1", "safety", "Lead time", date(2026, 10, 5), "The review date 2026-10-05 is not in"),
        ("P1", "safety", "Lead time", None, "Give a review date"),
        ("P1", "spare", "Lead time", date(2027, 1, 31), "'spare' is not a kind of mark"),
        ("ZZ", "safety", "Lead time", date(2027, 1, 31), "There is no item 'ZZ' in the store"),
    ],
)
def test_a_mark_needs_a_reason_a_future_review_date_a_kind_and_an_item(
    store, clock, item, kind, reason, review, says
):
    with pytest.raises(StockMarkError, match=says):
        stock_marks.mark_stock(store, JONAS, item, kind, reason, review)
    assert stock_marks.mark_history(store).is_empty()


def test_unmarking_needs_a_mark_and_a_reason_and_a_repeat_is_refused(store, clock):
    with pytest.raises(StockMarkError, match="P1 has no mark to remove"):
        stock_marks.unmark_stock(store, JONAS, "P1", "Waste")
    stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time", date(2027, 1, 31))
    with pytest.raises(StockMarkError, match="already marked as safety stock until 2027-01-31"):
        stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time", date(2027, 1, 31))
    with pytest.raises(StockMarkError, match="Say why you remove the mark"):
        stock_marks.unmark_stock(store, JONAS, "P1", "")
    assert stock_marks.mark_history(store).height == 1


def test_a_change_after_someone_elses_is_refused(store, clock):
    first = stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time", date(2027, 1, 31))
    assert first.action == "marked"
    seen = stock_marks.mark_history(store, "P1")["change_id"].max()  # what the page showed
    clock(datetime(2026, 10, 6, 14, 5))
    stock_marks.mark_stock(store, CFO, "P1", "strategic", "Press line", date(2027, 3, 31), seen)
    says = (
        "The mark of P1 was changed by Claire Dubois at 2026-10-06 14:05 UTC since you opened "
        "the page: look at it again, then make your change."
    )
    with pytest.raises(StockMarkError) as refused:
        stock_marks.unmark_stock(store, JONAS, "P1", "Not needed", seen)
    assert str(refused.value) == says
    with pytest.raises(StockMarkError) as refused:  # nothing shown, but a mark exists
        stock_marks.mark_stock(store, JONAS, "P1", "safety", "Lead time", date(2027, 2, 1), 0)
    assert str(refused.value) == says
    assert stock_marks.mark_history(store).height == 2


def test_marks_survive_a_forced_reload_of_the_stock(store, clock, tmp_path):
    _mark_both(store)
    path = tmp_path / "inventory.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TABLES["inventory"].column_names)
        writer.writerows(stock_fixture.inventory_rows())
    load_files(store, "inventory", [path])
    load_files(store, "inventory", [path], force=True)
    assert stock_marks.current_marks(store)["item_id"].to_list() == ["P1", "X1"]
    assert _classes(store)["2026-09-30"] == BOTH_MARKED


def test_a_store_from_before_marks_reads_none(tmp_path):
    """A store file written without the marks table: the views and the lists still read."""
    store = stock_fixture.build(tmp_path / "old.duckdb")
    con = duckdb.connect(str(store.path))
    con.execute("DROP TABLE stock_mark_changes")
    con.close()
    assert stock_marks.current_marks(store).is_empty()
    assert stock_marks.mark_history(store).is_empty()
    assert _classes(store)["2026-09-30"] == UNMARKED


def test_the_form_offers_the_items_in_stock(store):
    assert stock_marks.markable_items(store) == {
        "N1": "N1 · Gloves (Safety gear)",
        "P1": "P1 · Pump impeller (MRO spares)",
        "X1": "X1 · Steel sheet (Raw material)",
    }


def test_the_three_inventory_kpis_state_the_stock_mark_rule_and_their_approvals_still_count():
    # the rule is in each description (not a signed field), so the signatures stay valid:
    # excess and safety stock are agreed with both approvals, obsolete stock is proposed
    from kpi.core.settings import kpis_path
    from kpi.workflows.definition_versions import entry_version

    entries = {k.id: k for k in load_definitions(kpis_path())}
    for kpi_id in ("excess_inventory_value", "obsolete_stock_value", "safety_stock_value"):
        entry = entries[kpi_id]
        text = " ".join(entry.description.split())
        assert "marked as safety or strategic stock" in text, kpi_id
        assert "up to and including its review date" in text, kpi_id
        assert "after the review date it is classed as if unmarked" in text, kpi_id
    for kpi_id in ("excess_inventory_value", "safety_stock_value"):
        entry = entries[kpi_id]
        assert entry.status == "agreed"
        signed = [entry.approvals.finance, entry.approvals.procurement]
        assert [a.version for a in signed] == [entry_version(entry)] * 2, kpi_id
