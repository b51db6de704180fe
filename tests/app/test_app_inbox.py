"""The inbox page under AppTest on the hand fixture and a copy of config/: nobody acting,
nothing waiting (a viewer), items waiting (each department's own), signing from the inbox
in the signer's own name (the item leaves, the KPI is agreed) and a refusal shown as text."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.workflows.definition_versions import read_entry
from tests.app.conftest import acting

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "inbox.py")
FINANCE = "Sam Okafor (finance, member)"
PROCUREMENT = "Jonas Berg (procurement, member)"
VIEWER = "Lee Chen (operations, viewer)"
KPI = "committed_budget_utilisation"  # finance approved it (Claire); procurement has not


def run(who: str | None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if who:
        acting(at, who)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [i.value for i in at.info] + [s.value for s in at.success]
    return "\n".join(parts)


def subheaders(at: AppTest) -> list[str]:
    return [h.value for h in at.subheader]


def test_nobody_acting_says_what_to_do(store, config):
    at = run(None)
    assert [i.value for i in at.info][-1].startswith("**Nobody is acting yet.** Choose who you")


def test_a_viewer_has_nothing_waiting(store, config):
    at = run(VIEWER)
    (done,) = at.success
    assert done.value.startswith("**Nothing waits for you.** As a viewer you sign and judge")
    assert subheaders(at) == []


def test_each_department_sees_its_own_items(store, config):
    finance = run(FINANCE)
    assert subheaders(finance) == [
        "KPI definitions to approve (10)",
        "Savings initiatives awaiting finance's review (1)",
    ]
    assert "Review SI2 · Dock price hold" in texts(finance).replace("\\", "")
    procurement = run(PROCUREMENT)
    assert subheaders(procurement) == ["KPI definitions to approve (10)"]
    shown = texts(procurement).replace("\\", "")
    assert (
        "Proposed: finance approved it (Claire Dubois); procurement's approval is missing." in shown
    )
    # the sign button names the signer's own department only
    labels = [b.label for b in procurement.button]
    assert "Approve this version for procurement" in labels
    assert "Approve this version for finance" not in labels


def test_signing_from_the_inbox_agrees_the_kpi(store, config):
    at = run(PROCUREMENT)
    key = f"definition_approval_kpi:{KPI}_"
    at.text_input(key=f"inbox_why_{key}").input("read the formula")
    at.button(key=f"inbox_go_{key}").click()
    at.run()
    assert not at.exception
    (flash,) = at.success
    assert flash.value.replace("\\", "") == (
        "Signed: Approve the KPI 'Committed budget utilisation' (committed_budget_utilisation). "
        "It is agreed now."
    )
    assert subheaders(at) == ["KPI definitions to approve (9)"]
    entry, _ = read_entry(config / "kpis.yaml", KPI)
    assert entry["status"] == "agreed"
    assert entry["approvals"]["procurement"]["by"] == "jonas.berg@example.org"
    assert entry["approvals"]["finance"]["by"] == "claire.dubois@example.org"


SAVINGS = str(ROOT / "pages" / "savings.py")


def test_the_inbox_link_opens_the_review_with_its_evidence_and_the_verdict_reaches_procurement(
    store, config
):
    from kpi.workflows import threads

    at = AppTest.from_file(SAVINGS, default_timeout=120)
    acting(at, FINANCE)
    at.query_params["initiative"] = "SI2"  # as the inbox's link opens it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["savings_tab"] == "Initiatives"
    assert at.selectbox(key="review_pick").value == "SI2"
    shown = texts(at).replace("\\", "")
    # SI2 (hand fixture): quoted 1,100.00, negotiated 1,000.00 USD, 5 docks; avoided to
    # the data's last day (2026-04-05): INV2 (1100 - 1000) x 1 x 0.9 = 90.00 and INV3
    # (1100 - 500) x 2 x 0.8 = 960.00 EUR; expected 37.50 (Jan, Feb, Mar) + 33.34 (Apr)
    assert "Unit prices: quoted $1,100.00 · negotiated $1,000.00" in shown
    assert (
        "**Avoided cost to date (2026-01-01 to 2026-04-05):** €1,050.00 against €145.84 "
        "expected; paid above the negotiated price: €0.00."
    ) in shown
    at.radio(key="review_decision").set_value("rejected")
    at.text_input(key="review_reason").input("No quote on file")
    at.button(key="review_go").click().run()
    assert not at.error, [e.value for e in at.error]
    (comment,) = threads.thread(store, "initiative:SI2")
    assert comment.author_email == "sam.okafor@example.org"
    assert comment.text == (
        "Finance rejected SI2: No quote on file @procurement, answer here if you see it "
        "differently."
    )
    procurement = run(PROCUREMENT)
    assert subheaders(procurement)[-1] == "Threads that mention you or your department (1)"
