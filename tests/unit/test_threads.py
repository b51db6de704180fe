"""Discussions: who may write, replies, mentions, resolving, what waits for whom, and that
threads outlive loads (`--force` too).

Runs on tests/hand_fixture.py (a small store) with the people of config/people.yaml.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied
from kpi.ingest.pipelines import load_files
from kpi.store.database import Store
from kpi.workflows import threads
from kpi.workflows.threads import (
    ThreadError,
    find_mentions,
    mentions_since,
    post_comment,
    resolve_thread,
    thread,
    thread_resolved,
    waiting_for,
)
from tests import hand_fixture

CLAIRE = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
ANA = Person("ana.ruiz@example.org", "Ana Ruiz", "procurement", "member")
LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
PEOPLE = [CLAIRE, SAM, JONAS, ANA, LEE]

DTP = "kpi:days_to_pay"
DTP_Q3 = "kpi_period:days_to_pay@FY2026-Q3"


@pytest.fixture()
def store(tmp_path) -> Store:
    return hand_fixture.build(tmp_path / "kpi.duckdb")


def test_a_comment_keeps_its_author_time_and_text_as_typed(store):
    before = datetime.now(UTC).replace(tzinfo=None)
    text = '  Why did days to pay jump?\n<script>alert(1)</script> **bold** =HYPERLINK("x")  '
    posted = post_comment(store, SAM, DTP_Q3, text, people=PEOPLE)
    (stored,) = thread(store, DTP_Q3)
    assert stored == posted
    assert stored.author_email == "sam.okafor@example.org"
    assert stored.author_name == "Sam Okafor"
    assert before <= stored.created_at <= datetime.now(UTC).replace(tzinfo=None)
    # only the surrounding blanks go; markup and formulas stay the characters typed
    assert stored.text == text.strip()
    assert stored.parent_id is None and stored.mentions == ()
    assert thread(store, DTP) == []  # the KPI's own thread is another one


def test_a_viewer_reads_but_may_not_comment_or_resolve(store):
    post_comment(
        store, JONAS, DTP, "Procurement's view: FY2026-Q3 had the year-end run.", people=PEOPLE
    )
    with pytest.raises(PermissionDenied) as refused:
        post_comment(store, LEE, DTP, "Me too", people=PEOPLE)
    assert str(refused.value) == (
        "Lee Chen (operations, viewer) may not comment on threads: only finance and "
        "procurement members and the CFO may; everyone else reads them."
    )
    with pytest.raises(PermissionDenied, match="Lee Chen .* may not resolve threads"):
        resolve_thread(store, LEE, DTP)
    with pytest.raises(PermissionDenied, match="not signed in"):
        post_comment(store, None, DTP, "anonymous", people=PEOPLE)
    assert [c.author_name for c in thread(store, DTP)] == ["Jonas Berg"]  # nothing else written


def test_replies_are_one_level_deep_and_stay_in_their_thread(store):
    first = post_comment(store, SAM, DTP, "Question", people=PEOPLE)
    reply = post_comment(store, JONAS, DTP, "Answer", reply_to=first.comment_id, people=PEOPLE)
    again = post_comment(store, SAM, DTP, "Thanks", reply_to=reply.comment_id, people=PEOPLE)
    assert reply.parent_id == first.comment_id
    assert again.parent_id == first.comment_id  # a reply to a reply answers the conversation
    assert [c.comment_id for c in thread(store, DTP)] == [1, 2, 3]
    with pytest.raises(ThreadError, match=r"Comment 1 is not in this thread \(Stock item I1\)"):
        post_comment(store, SAM, "stock_item:I1", "Elsewhere", reply_to=1, people=PEOPLE)


def test_refused_texts_and_subjects_say_what_to_do(store):
    with pytest.raises(ThreadError, match="Write something first"):
        post_comment(store, SAM, DTP, " \n ", people=PEOPLE)
    with pytest.raises(ThreadError, match="4,001 characters; keep it to 4,000"):
        post_comment(store, SAM, DTP, "x" * 4001, people=PEOPLE)
    with pytest.raises(ThreadError, match="invisible control characters"):
        post_comment(store, SAM, DTP, "bell\x07", people=PEOPLE)
    with pytest.raises(ThreadError, match="kind one of kpi, kpi_period, initiative"):
        post_comment(store, SAM, "invoice:1", "hello", people=PEOPLE)
    with pytest.raises(ThreadError, match="'<kpi id>@<period>'"):
        post_comment(store, SAM, "kpi_period:days_to_pay", "hello", people=PEOPLE)
    assert thread(store, DTP) == []


def test_mentions_by_email_name_first_name_and_department():
    text = (
        "@jonas.berg@example.org and @Ana Ruiz, please ask @procurement; cc @Sam, "
        "@finance's view. Price @ 5 EUR, write to sam.okafor@example.org, @Nobody."
    )
    assert find_mentions(text, PEOPLE) == (
        "jonas.berg@example.org",
        "ana.ruiz@example.org",
        "procurement",
        "sam.okafor@example.org",
        "finance",
    )
    assert find_mentions("@JONAS.BERG@EXAMPLE.ORG twice @Jonas Berg", PEOPLE) == (
        "jonas.berg@example.org",
    )
    assert find_mentions("@financeteam and @procurementx", PEOPLE) == ()
    with pytest.raises(ThreadError, match="@someone@else.org is nobody in people.yaml"):
        find_mentions("ask @someone@else.org.", PEOPLE)


def test_resolving_and_reopening(store):
    with pytest.raises(ThreadError, match="nothing to resolve on KPI days_to_pay"):
        resolve_thread(store, SAM, DTP)
    post_comment(store, SAM, DTP, "Is the Q3 jump real?", people=PEOPLE)
    resolve_thread(store, JONAS, DTP, "Year-end payment run; nothing to change.")
    assert thread_resolved(store, DTP)
    done = threads.resolution(store, DTP)
    assert done is not None
    assert (done.resolved_by, done.resolved_by_name) == ("jonas.berg@example.org", "Jonas Berg")
    assert done.reason == "Year-end payment run; nothing to change."
    with pytest.raises(ThreadError, match="already resolved \\(by Jonas Berg"):
        resolve_thread(store, SAM, DTP)
    post_comment(store, SAM, DTP, "It happened again in Q4.", people=PEOPLE)
    assert not thread_resolved(store, DTP)  # a new comment reopens it
    resolve_thread(store, CLAIRE, DTP)
    assert thread_resolved(store, DTP)
    assert threads.thread_summaries(store, "kpi") == {DTP: (2, True)}


def test_what_waits_for_whom(store):
    ask = post_comment(
        store, SAM, "initiative:SI2", "@procurement is the dock price final?", people=PEOPLE
    )
    post_comment(store, SAM, DTP, "@Jonas Berg can you check FY2026-Q3?", people=PEOPLE)
    post_comment(store, SAM, "stock_item:I1", "@finance note to self", people=PEOPLE)

    jonas = waiting_for(store, JONAS)
    assert [(i.kind, i.subject) for i in jonas] == [("mention", "initiative:SI2"), ("mention", DTP)]
    first = jonas[0]
    assert first.title == "Thread on Savings initiative SI2"
    assert first.detail == (
        "Sam Okafor mentioned @procurement: “@procurement is the dock price final?” "
        "(reply or resolve it)"
    )
    assert (first.page, first.query, first.since) == (
        "pages/savings.py",
        {"initiative": "SI2", "discussion": "open"},
        ask.created_at,
    )
    assert waiting_for(store, JONAS)[1].detail.startswith("Sam Okafor mentioned you:")
    assert waiting_for(store, JONAS)[1].query == {"kpi": "days_to_pay", "discussion": "open"}
    # Ana is in procurement too; Sam's own mention of finance does not wait for Sam
    assert [i.subject for i in waiting_for(store, ANA)] == ["initiative:SI2"]
    assert waiting_for(store, SAM) == []
    # Claire (finance) is mentioned through her department by Sam
    assert [i.subject for i in waiting_for(store, CLAIRE)] == ["stock_item:I1"]
    assert waiting_for(store, LEE) == [] and waiting_for(store, None) == []

    # Jonas answers the initiative's question: it no longer waits for him (Ana still sees it)
    post_comment(store, JONAS, "initiative:SI2", "Yes, signed last week.", people=PEOPLE)
    assert [i.subject for i in waiting_for(store, JONAS)] == [DTP]
    assert [i.subject for i in waiting_for(store, ANA)] == ["initiative:SI2"]
    # resolving the thread ends the wait for everyone
    resolve_thread(store, SAM, "initiative:SI2", "Answered")
    assert waiting_for(store, ANA) == []


def test_mentions_since(store):
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    a = post_comment(store, SAM, DTP, "@procurement look", people=PEOPLE)
    b = post_comment(store, JONAS, DTP, "@Sam Okafor done; @procurement FYI", people=PEOPLE)
    c = post_comment(store, JONAS, DTP_Q3, "@finance one more", people=PEOPLE)
    assert mentions_since(store, start, "procurement") == [a, b]
    assert mentions_since(store, start, "FINANCE") == [c]
    # a person: their own and their department's mentions, never their own comments
    assert mentions_since(store, start, "jonas.berg@example.org", people=PEOPLE) == [a]
    assert mentions_since(store, start, "sam.okafor@example.org", people=PEOPLE) == [b, c]
    later = datetime.now(UTC) + timedelta(seconds=1)  # a zoned moment is read in UTC
    assert mentions_since(store, later, "procurement") == []
    assert mentions_since(store, start, "nobody") == []


def test_threads_survive_a_forced_reload(store, tmp_path: Path):
    post_comment(store, SAM, "stock_item:I1", "Is this excess?", people=PEOPLE)
    resolve_thread(store, JONAS, "stock_item:I1", "Safety stock")
    csv = tmp_path / "suppliers.csv"
    csv.write_text("supplier_id,supplier_name\nS1,Carton Co\nS2,Dock Ltd\n", encoding="utf-8")
    load_files(store, "suppliers", [csv])
    load_files(store, "suppliers", [csv], force=True)
    (kept,) = thread(store, "stock_item:I1")
    assert kept.text == "Is this excess?" and thread_resolved(store, "stock_item:I1")


def test_a_store_without_the_tables_reads_as_no_threads(tmp_path):
    store = Store(tmp_path / "missing.duckdb")
    assert thread(store, DTP) == [] and not thread_resolved(store, DTP)
    assert waiting_for(store, SAM) == [] and threads.thread_summaries(store, "kpi") == {}


def test_subjects_name_their_page():
    assert threads.describe_subject(DTP_Q3) == "KPI value days_to_pay in FY2026-Q3"
    assert threads.subject_link(DTP_Q3) == (
        "pages/definitions.py",
        {"kpi": "days_to_pay", "period": "FY2026-Q3", "discussion": "open"},
    )
    assert threads.subject_link("goal_decision:FY2027-Q1/days_to_pay") == (
        "pages/goals.py",
        {"quarter": "FY2027-Q1", "kpi": "days_to_pay", "discussion": "open"},
    )
    assert threads.subject_link("stock_item:I1") == (
        "pages/inventory.py",
        {"item": "I1", "discussion": "open"},
    )
    assert threads.make_subject("terms_proposal", "3") == "terms_proposal:3"


# ---- open items: whom an unresolved thread waits for (the meeting pack's list) ----------


def test_open_goal_decision_threads_say_whom_they_wait_for(store):
    q2_spend, q2_po = "goal_decision:FY2026-Q2/total_spend", "goal_decision:FY2026-Q2/po_compliance"
    q2_dtp, q2_hhi = "goal_decision:FY2026-Q2/days_to_pay", "goal_decision:FY2026-Q2/supplier_hhi"
    post_comment(store, SAM, q2_spend, "@procurement can you live with 2,400?", people=PEOPLE)
    jonas = post_comment(store, JONAS, q2_spend, "@Sam no: paper prices rise", people=PEOPLE)
    # the author's own department asks nobody; Jonas is asked
    claire = post_comment(store, CLAIRE, q2_po, "@finance @Jonas Berg where are we?", people=PEOPLE)
    post_comment(store, SAM, q2_dtp, "@procurement 45 days?", people=PEOPLE)
    resolve_thread(store, CLAIRE, q2_dtp, "Agreed in the meeting")  # resolved: not listed
    hhi = post_comment(store, JONAS, q2_hhi, "Fine as proposed.", people=PEOPLE)  # nobody named
    post_comment(store, SAM, "goal_decision:FY2026-Q3/total_spend", "@procurement", people=PEOPLE)

    found = threads.open_threads(store, "goal_decision", "FY2026-Q2/", people=PEOPLE)

    assert [t.subject for t in found] == [q2_spend, q2_po, q2_hhi]  # longest waiting first
    spend, po, quiet = found
    # Jonas answered for procurement; now Sam waits for nobody and is waited for
    assert (spend.waiting_for, spend.asked_by, spend.since) == (
        ("Sam Okafor",),
        ("Jonas Berg",),
        jonas.created_at,
    )
    assert (spend.comments, spend.last) == (2, jonas)
    assert (po.waiting_for, po.asked_by, po.since) == (
        ("Jonas Berg",),
        ("Claire Dubois",),
        claire.created_at,
    )
    assert (quiet.waiting_for, quiet.asked_by, quiet.since, quiet.last) == ((), (), None, hhi)
    # a department is answered when one of its members comments, a person by commenting
    post_comment(store, ANA, q2_po, "Jonas is away; I will look", people=PEOPLE)
    (po,) = threads.open_threads(store, "goal_decision", "FY2026-Q2/po", people=PEOPLE)
    assert po.waiting_for == ("Jonas Berg",)
    post_comment(store, SAM, q2_spend, "Then 2,450? @procurement", people=PEOPLE)
    spend = threads.open_threads(store, "goal_decision", "FY2026-Q2/total", people=PEOPLE)[0]
    assert spend.waiting_for == ("procurement",) and spend.asked_by == ("Sam Okafor",)
    assert len(threads.open_threads(store, "goal_decision", people=PEOPLE)) == 4  # every quarter
    with pytest.raises(ThreadError, match="'goal' is not a kind of thread"):
        threads.open_threads(store, "goal")


def test_a_department_is_answered_when_one_of_its_members_comments(store):
    """The department's inbox and digest (inbox.waiting_for_department) follow the pack's
    rule: the thread waits for procurement until a procurement member comments after."""
    from kpi.workflows import inbox

    subject = "goal_decision:FY2026-Q2/total_spend"
    post_comment(store, SAM, subject, "@procurement can you live with 2,400?", people=PEOPLE)
    (item,) = [i for i in inbox.waiting_for_department(store, "procurement") if i.kind == "mention"]
    assert item.detail == (
        "Sam Okafor mentioned you: “@procurement can you live with 2,400?” "  # you: the desk
        "(reply or resolve it)"
    )
    assert item.query == {"quarter": "FY2026-Q2", "kpi": "total_spend", "discussion": "open"}
    post_comment(store, JONAS, subject, "Paper prices rise: 2,500.")  # answered for procurement
    assert not [
        i for i in inbox.waiting_for_department(store, "procurement") if i.kind == "mention"
    ]
    (spend,) = threads.open_threads(store, "goal_decision", people=PEOPLE)
    assert spend.waiting_for == ()  # the pack agrees: nobody is waited for any more
