"""Threads under AppTest on the hand fixture: a KPI's and a period's discussion on the
definitions page, an initiative's on the Savings page, a goal decision's and a stock item's;
text shown as typed, replies, resolving, a viewer reading, refusals, and inbox links.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.core.people import Person
from kpi.workflows.threads import post_comment, thread, thread_resolved

ROOT = Path(__file__).resolve().parents[2]
FINANCE = "Sam Okafor (finance, member)"
PROCUREMENT = "Jonas Berg (procurement, member)"
VIEWER = "Lee Chen (operations, viewer)"
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
HOSTILE = '<script>alert(1)</script> **bold** =HYPERLINK("http://evil.example","x") @procurement'
KPI = "kpi:total_spend"


def run(page: str, query: dict[str, str] | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def key(subject: str, part: str) -> str:
    return f"thr_{subject}_{part}"


def definitions(**state) -> AppTest:
    return run("definitions.py", def_pick="total_spend", def_kpi_tab="Discussion", **state)


def catalogue_folded(at: AppTest) -> bool:
    return any(e.label.startswith("The catalogue (") for e in at.expander)


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


@pytest.fixture()
def people(config):
    return config  # a copy of config/ (people.yaml included) as the app's configuration


def test_a_comment_is_shown_as_typed_with_its_author_and_time(store, people):
    at = definitions(acting_as=FINANCE)
    assert "No comments yet: ask a question or note a reason below" in " ".join(captions(at))
    at.text_area(key=key(KPI, "text")).set_value(HOSTILE)
    at.button(key=key(KPI, "post")).click().run()
    assert not at.exception
    assert "Comment #1 posted." in [s.value for s in at.success]
    assert at.text_area(key=key(KPI, "text")).value == ""  # the box is empty again
    # the body is an st.text element holding exactly what was typed: no markup ran
    assert HOSTILE in [t.value for t in at.text]
    assert not any("<script>" in m.value for m in at.markdown)
    head = next(c for c in captions(at) if "#1" in c)
    assert head.startswith("**Sam Okafor** · 20") and r"mentions \@procurement" in head
    (stored,) = thread(store, KPI)
    assert stored.text == HOSTILE and stored.mentions == ("procurement",)


def test_reply_and_resolve(store, people):
    first = post_comment(store, JONAS, KPI, "Why is Q3 so high?")
    at = definitions(acting_as=FINANCE)
    at.text_area(key=key(KPI, "text")).set_value("Year-end invoices, see @Jonas")
    at.selectbox(key=key(KPI, "reply")).set_value(first.comment_id)
    at.button(key=key(KPI, "post")).click().run()
    (_, reply) = thread(store, KPI)
    assert reply.parent_id == first.comment_id and reply.mentions == (JONAS.email,)
    assert any(r"reply to #1 · mentions Jonas Berg" in c for c in captions(at))
    at.text_input(key=key(KPI, "reason")).set_value("Answered: **year end**")
    at.button(key=key(KPI, "resolve")).click().run()
    assert not at.exception and thread_resolved(store, KPI)
    resolved = next(c for c in captions(at) if "Resolved by Sam Okafor" in c)
    assert resolved.endswith(r"a new comment reopens it. Why: Answered\: \*\*year end\*\*")
    assert not [b for b in at.button if b.key == key(KPI, "resolve")]  # nothing to resolve


def test_a_viewer_reads_without_forms(store, people):
    post_comment(store, SAM, KPI, "Budget question for @procurement")
    at = definitions(acting_as=VIEWER)
    assert "Budget question for @procurement" in [t.value for t in at.text]
    assert not [b for b in at.button if b.key == key(KPI, "post")]
    refusal = r"Lee Chen \(operations\, viewer\) may not comment on threads\: only finance"
    assert any(c.startswith(refusal) for c in captions(at))


def test_a_refused_mention_keeps_the_text(store, people):
    at = definitions(acting_as=FINANCE)
    at.text_area(key=key(KPI, "text")).set_value("Ask @someone@else.org")
    at.button(key=key(KPI, "post")).click().run()
    assert r"\@someone\@else\.org is nobody in people\.yaml" in at.error[0].value
    assert at.text_area(key=key(KPI, "text")).value == "Ask @someone@else.org"
    assert thread(store, KPI) == []


def test_a_periods_thread_and_an_inbox_link_to_it(store, people):
    subject = "kpi_period:total_spend@FY2026-Q1"
    post_comment(store, SAM, subject, "Why did it jump in Q1?")
    at = run(
        "definitions.py",
        {"kpi": "total_spend", "period": "FY2026-Q1", "discussion": "open"},
        acting_as=PROCUREMENT,
    )
    assert at.session_state["def_pick"] == "total_spend"
    assert at.session_state["def_kpi_tab"] == "Discussion"
    assert at.selectbox(key="thr_about_total_spend").value == "FY2026-Q1"
    assert "Why did it jump in Q1?" in [t.value for t in at.text]
    # the link opens it once per session; its address stays, so a reload opens it again
    assert dict(at.query_params) == {
        "as": "jonas.berg@example.org",
        "kpi": "total_spend",
        "period": "FY2026-Q1",
        "discussion": "shown",
    }
    # the KPI's box is at the top: the catalogue (filters, table, picker) waits folded above
    (folded,) = [e for e in at.expander if e.label.startswith("The catalogue (")]
    assert folded.label == "The catalogue (32 KPIs): open it to pick another KPI"  # kpis.yaml
    assert folded.dataframe and folded.selectbox(key="def_pick")
    assert at.subheader[0].value == "Total spend"
    at.text_area(key=key(subject, "text")).set_value("Two annual licences, @Sam")
    at.button(key=key(subject, "post")).click().run()
    assert [c.author_name for c in thread(store, subject)] == ["Sam Okafor", "Jonas Berg"]
    assert catalogue_folded(at), "posting keeps the linked KPI's box first"
    at.selectbox(key="def_pick").set_value("po_compliance").run()  # another KPI picked
    assert not at.exception
    assert not catalogue_folded(at) and at.dataframe, "the catalogue is shown open again"
    assert not {"kpi", "period", "discussion"} & set(at.query_params)  # a reload: this KPI


def test_a_reload_after_a_thread_link_opens_the_same_thread(store, people):
    post_comment(store, SAM, "kpi_period:total_spend@FY2026-Q1", "Why did it jump in Q1?")
    reloaded = {"kpi": "total_spend", "period": "FY2026-Q1", "discussion": "shown"}
    at = run("definitions.py", reloaded, acting_as=PROCUREMENT)  # a new session
    assert at.session_state["def_pick"] == "total_spend"
    assert at.session_state["def_kpi_tab"] == "Discussion"
    assert at.selectbox(key="thr_about_total_spend").value == "FY2026-Q1"
    assert catalogue_folded(at) and "Why did it jump in Q1?" in [t.value for t in at.text]
    at.selectbox(key="thr_about_total_spend").set_value(None).run()  # a rerun: no jump back
    assert at.selectbox(key="thr_about_total_spend").value is None


def test_an_initiatives_thread_on_the_savings_page(store, people):
    post_comment(store, SAM, "initiative:SI2", "@procurement is the dock quote signed?")
    at = run(
        "savings.py",
        {"initiative": "SI2", "discussion": "open"},
        acting_as=PROCUREMENT,
    )
    assert at.session_state["savings_tab"] == "Initiatives"
    assert at.selectbox(key="thr_initiative_pick").value == "SI2"
    assert "@procurement is the dock quote signed?" in [t.value for t in at.text]
    subject = "initiative:SI2"
    at.text_area(key=key(subject, "text")).set_value("Signed on Monday.")
    at.button(key=key(subject, "post")).click().run()
    assert [c.text for c in thread(store, subject)][-1] == "Signed on Monday."


def test_a_goal_decisions_thread(store, people):
    at = run("goals.py", acting_as=FINANCE, goals_tab="KPI by KPI")
    plan = at.selectbox(key="goals_quarter").value
    kpi_id = at.selectbox(key="goals_kpi").value
    subject = f"goal_decision:{plan}/{kpi_id}"
    at.text_area(key=key(subject, "text")).set_value("@procurement can you live with 5 %?")
    at.button(key=key(subject, "post")).click().run()
    assert not at.exception
    assert thread(store, subject)[0].mentions == ("procurement",)


def test_a_goal_decision_link_survives_a_reload(store, people):
    plan = run("goals.py", acting_as=FINANCE).selectbox(key="goals_quarter").options[-1]
    subject = f"goal_decision:{plan}/po_compliance"
    post_comment(store, SAM, subject, "@procurement 95 %?")
    link = {"quarter": plan, "kpi": "po_compliance", "discussion": "open"}
    at = run("goals.py", link, acting_as=PROCUREMENT)
    assert (at.selectbox(key="goals_quarter").value, at.session_state["goals_tab"]) == (
        plan,
        "KPI by KPI",
    )
    assert at.query_params["discussion"] == "shown" and at.query_params["quarter"] == plan
    reloaded = run("goals.py", dict(at.query_params), acting_as=PROCUREMENT)  # a new session
    assert reloaded.selectbox(key="goals_quarter").value == plan
    assert reloaded.selectbox(key="goals_kpi").value == "po_compliance"
    assert "@procurement 95 %?" in [t.value for t in reloaded.text]
    # opened from the link, the discussion comes first: above the KPI's facts and forms
    shown = captions(reloaded)
    assert shown.index("Open · 1 comment") < shown.index("No proposal yet.")
    first = reloaded.selectbox(key="goals_quarter").options[0]
    reloaded.selectbox(key="goals_quarter").set_value(first).run()  # another quarter picked
    assert not reloaded.exception
    assert not {"quarter", "kpi", "discussion"} & set(reloaded.query_params)


def test_a_stock_items_thread(store, people):
    post_comment(store, SAM, "stock_item:I1", "Is this carton stock excess?")
    at = run("inventory.py", {"item": "I1", "discussion": "open"}, acting_as=VIEWER)
    assert at.selectbox(key="thr_stock_pick").value == "I1"
    assert "Is this carton stock excess?" in [t.value for t in at.text]
