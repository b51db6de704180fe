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
