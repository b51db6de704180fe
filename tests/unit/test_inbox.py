"""The inbox: what waits for whom (approvals, target signatures, initiative reviews), signing
from it in the signer's own name, and what the signer is shown (the change in words)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied
from kpi.workflows import goals, inbox
from kpi.workflows.definition_saves import edit_kpi, set_target
from kpi.workflows.definition_versions import entry_version, file_version, read_entry
from kpi.workflows.signing_diff import what_is_signed
from tests import hand_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kpis_edit"
CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
PRO = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
VIEWER = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """total_spend agreed, supplier_otd proposed (procurement approved), po_compliance draft."""
    path = tmp_path / "kpis.yaml"
    shutil.copyfile(FIXTURES / "small.yaml", path)
    return path


@pytest.fixture
def store(tmp_path: Path):
    """The hand fixture: SI1 accepted, SI2 pending finance's review."""
    return hand_fixture.build(tmp_path / "kpi.duckdb")


def _kinds(items) -> list[tuple[str, str]]:
    return [(i.kind, i.subject) for i in items]


def _version(path: Path, kpi_id: str) -> str:
    entry, _ = read_entry(path, kpi_id)
    return entry_version(entry)


def test_each_department_sees_what_it_owes(store, small):
    # supplier_otd is proposed and procurement approved it: finance owes the approval
    finance = inbox.waiting_for(store, FIN, small)
    assert _kinds(finance) == [
        ("definition_approval", "kpi:supplier_otd"),
        ("initiative_review", "initiative:SI2"),
    ]
    approval = finance[0]
    assert (
        approval.detail
        == "Proposed: procurement approved it (Jonas Berg); finance's approval is missing."
    )
    assert approval.query == {"kpi": "supplier_otd", "department": "finance"}
    assert finance[1].page == "pages/savings.py" and finance[1].query == {"initiative": "SI2"}
    assert finance[1].title == "Review SI2 · Dock price hold"
    # procurement approved everything proposed and judges no initiative
    assert inbox.waiting_for(store, PRO, small) == []
    # the CFO signs for finance: the same items
    assert _kinds(inbox.waiting_for(store, CFO, small)) == _kinds(finance)
    # a viewer signs and judges nothing
    assert inbox.waiting_for(store, VIEWER, small) == []
    assert inbox.waiting_for(store, None, small) == []
    assert _kinds(inbox.waiting_for_department(store, "finance", small)) == _kinds(finance)
    assert inbox.waiting_for_department(store, "procurement", small) == []
    with pytest.raises(ValueError, match="'board' is not a department: use finance or procurement"):
        inbox.waiting_for_department(store, "board", small)


def test_four_eyes_keeps_an_initiative_out_of_its_authors_inbox(store, small):
    from kpi.workflows.initiatives import get_initiative, save_initiative

    ini = get_initiative(store, "SI2")
    save_initiative(
        store, CFO, ini.model_copy(update={"expected_volume": 6}), "more docks", based_on=ini
    )
    # the CFO changed a money field since the last verdict: another finance member judges it
    assert "initiative:SI2" not in {i.subject for i in inbox.waiting_for(store, CFO, small)}
    assert "initiative:SI2" in {i.subject for i in inbox.waiting_for(store, FIN, small)}
    assert "initiative:SI2" in {
        i.subject for i in inbox.waiting_for_department(store, "finance", small)
    }


def test_four_eyes_is_decided_for_each_pending_initiative_alone(store, small):
    """The authors of every pending initiative come from one statement: each person is kept
    out of the initiatives they wrote only, never out of the others'."""
    from kpi.workflows.initiatives import save_initiative
    from tests.unit.test_initiatives import carton_deal

    created = str(save_initiative(store, CFO, carton_deal(), "second source"))
    reviews = {
        who.email: [i.subject for i in inbox.waiting_for(store, who, small)] for who in (CFO, FIN)
    }
    # the CFO created the carton deal: Sam judges it; the CFO still judges SI2
    assert f"initiative:{created}" not in reviews[CFO.email]
    assert "initiative:SI2" in reviews[CFO.email]
    assert {f"initiative:{created}", "initiative:SI2"} <= set(reviews[FIN.email])


def test_a_changed_definition_waits_for_both_and_shows_the_change_in_words(store, small):
    edit_kpi(small, PRO, "supplier_otd", {"formula": "count(*)"}, "simpler", file_version(small))
    set_target(small, FIN, "total_spend", "FY2026-Q3", 1200000, "prices up", file_version(small))
    fin = [i for i in inbox.waiting_for(store, FIN, small) if i.kind == "definition_approval"]
    assert [i.subject for i in fin] == ["kpi:supplier_otd", "kpi:total_spend"]
    assert fin[1].detail == (
        "Proposed: neither department approved its current content; finance is asked."
    )
    pro = inbox.waiting_for(store, PRO, small)
    assert [i.subject for i in pro] == ["kpi:supplier_otd", "kpi:total_spend"]
    # what the signer reads: the change since the agreed version, in words and values
    signed = what_is_signed(small, "total_spend")
    assert signed.changes == ["target for FY2026-Q3: €1,100,000.00 → €1,200,000.00"]
    assert signed.agreed_version is None or signed.agreed_version != signed.current_version


def test_a_target_signed_by_one_department_waits_for_the_other(store, small):
    goals.sign_target(
        store, small, FIN, "FY2026-Q3", "total_spend", 1150000, "prices up 4.5 %",
        file_version(small),
    )  # fmt: skip
    (item,) = inbox.waiting_for(store, PRO, small)
    assert item.kind == "target_signature"
    assert item.subject == "goal_decision:FY2026-Q3/total_spend"
    assert item.title == "Sign the FY2026-Q3 target of 'Total spend': €1,150,000.00"
    assert item.detail == "Finance signed it (Sam Okafor); procurement's signature is missing."
    assert item.query == {
        "kpi": "total_spend",
        "quarter": "FY2026-Q3",
        "value": "1150000.0",
        "department": "procurement",
    }
    # finance signed: nothing about total_spend waits for finance
    assert "goal_decision:FY2026-Q3/total_spend" not in {
        i.subject for i in inbox.waiting_for(store, FIN, small)
    }
    # refusals: a viewer, finance signing procurement's item, a version changed since shown
    seen = _version(small, "total_spend")
    with pytest.raises(PermissionDenied, match="Lee Chen .* may not sign KPI approvals or targets"):
        inbox.confirm(store, VIEWER, item, seen, "ok", small)
    with pytest.raises(
        PermissionDenied,
        match="it waits for procurement's signature, and you sign for finance only",
    ):
        inbox.confirm(store, FIN, item, seen, "ok", small)
    with pytest.raises(inbox.InboxError, match="Say why you sign this target"):
        inbox.confirm(store, PRO, item, seen, " ", small)
    # Jonas signs in his own name: agreed, with the decision row naming both signers
    result = inbox.confirm(store, PRO, item, seen, "volumes flat", small)
    assert result.status == "agreed"
    row = goals.decision_log(store).row(0, named=True)
    assert (row["value"], row["finance_name"], row["procurement_name"]) == (
        1150000.0,
        "Sam Okafor",
        "Jonas Berg",
    )
    assert inbox.waiting_for(store, PRO, small) == []
    assert [i.kind for i in inbox.waiting_for(store, FIN, small)] == [
        "definition_approval",
        "initiative_review",
    ]


def test_signing_a_version_voided_since_it_was_shown_is_refused(store, small):
    goals.sign_target(
        store, small, FIN, "FY2026-Q3", "total_spend", 1150000, "prices up", file_version(small)
    )
    (item,) = inbox.waiting_for(store, PRO, small)
    seen = _version(small, "total_spend")
    # finance changes the target again before Jonas signs: what he read is void
    goals.sign_target(
        store,
        small,
        CFO,
        "FY2026-Q3",
        "total_spend",
        1180000,
        "prices up more",
        file_version(small),
    )
    with pytest.raises(inbox.InboxError, match="'total_spend' changed since you opened it"):
        inbox.confirm(store, PRO, item, seen, "volumes flat", small)
    assert goals.decision_log(store).is_empty()
    (again,) = inbox.waiting_for(store, PRO, small)
    assert again.title == "Sign the FY2026-Q3 target of 'Total spend': €1,180,000.00"


def test_approving_from_the_inbox_is_the_signers_own_act(store, small):
    item = inbox.waiting_for(store, FIN, small)[0]
    seen = _version(small, "supplier_otd")
    with pytest.raises(
        PermissionDenied,
        match="it waits for finance's signature, and you sign for procurement only",
    ):
        inbox.confirm(store, PRO, item, seen, "", small)
    result = inbox.confirm(store, FIN, item, seen, "read it", small)
    assert result.status == "agreed"
    entry, _ = read_entry(small, "supplier_otd")
    assert entry["approvals"]["finance"]["by"] == FIN.email
    assert entry["approvals"]["procurement"]["by"] == PRO.email
    assert [i.kind for i in inbox.waiting_for(store, FIN, small)] == ["initiative_review"]


def test_a_target_the_meeting_agreed_waits_for_both_signatures(store, small):
    goals.propose_target(store, FIN, "FY2026-Q4", "total_spend", 1300000, "budget")
    goals.propose_target(store, PRO, "FY2026-Q4", "total_spend", 1250000, "prices")
    assert [i.kind for i in inbox.waiting_for(store, PRO, small)] == []  # no agreement yet
    goals.propose_target(store, PRO, "FY2026-Q4", "total_spend", 1300000, "fine")
    for person, dept in ((FIN, "finance"), (PRO, "procurement")):
        (item,) = [
            i for i in inbox.waiting_for(store, person, small) if i.kind == "target_signature"
        ]
        assert item.title == "Sign the FY2026-Q4 target of 'Total spend': €1,300,000.00"
        assert item.detail == (
            "The meeting agreed it (Sam Okafor and Jonas Berg proposed it); "
            f"{dept}'s signature is missing."
        )
    item = [i for i in inbox.waiting_for(store, FIN, small) if i.kind == "target_signature"][0]
    inbox.confirm(store, FIN, item, _version(small, "total_spend"), "as agreed", small)
    assert not [i for i in inbox.waiting_for(store, FIN, small) if i.kind == "target_signature"]
    (theirs,) = [i for i in inbox.waiting_for(store, PRO, small) if i.kind == "target_signature"]
    assert theirs.detail == "Finance signed it (Sam Okafor); procurement's signature is missing."
    signed = what_is_signed(small, "total_spend")
    assert signed.changes == ["target for FY2026-Q4: none → €1,300,000.00"]
    inbox.confirm(store, PRO, theirs, _version(small, "total_spend"), "as agreed", small)
    assert len(goals.decision_log(store)) == 1
    assert not [i for i in inbox.waiting_for(store, PRO, small) if i.kind == "target_signature"]


def test_the_change_since_the_agreed_version_in_words(small):
    # nothing agreed in the app's history: the whole content is signed
    first = what_is_signed(small, "supplier_otd")
    assert first.changes == [] and first.agreed_when is None
    assert first.note.startswith("No agreed version of 'supplier_otd' is on record")
    assert (
        "formula: count(*) filter (where on_time) / nullif(count(*) filter (where received), 0)"
        in first.content
    )
    assert "targets: FY2026-Q1 90.0 %" in first.content
    # agreed in the app, then changed twice: both changes, against the agreed values
    from kpi.workflows.definition_saves import approve_kpi

    approve_kpi(small, FIN, "supplier_otd", file_version(small))
    edit_kpi(
        small,
        PRO,
        "supplier_otd",
        {"direction": "lower_is_better"},
        "late is bad",
        file_version(small),
    )
    set_target(small, PRO, "supplier_otd", "FY2026-Q1", 0.95, "stricter", file_version(small))
    signed = what_is_signed(small, "supplier_otd")
    assert signed.changes == [
        "target for FY2026-Q1: 90.0 % → 95.0 %",
        "direction: higher is better → lower is better",
    ]
    assert [s["action"] for s in signed.saves] == ["target set", "edited"]
    # a hand edit after the last save: the history cannot rebuild the agreed version
    small.write_text(small.read_text().replace("0.95", "0.96"))
    broken = what_is_signed(small, "supplier_otd")
    assert broken.changes == []
    assert broken.note.startswith("The last agreed version cannot be rebuilt")


def test_mentions_and_the_verdict_reach_procurement(store, small):
    from kpi.workflows import threads
    from kpi.workflows.initiative_model import numbers_hash
    from kpi.workflows.initiatives import get_initiative, validate_initiative

    threads.post_comment(store, FIN, "kpi:supplier_otd", "Why 90 %? @procurement")
    (mention,) = [i for i in inbox.waiting_for(store, PRO, small) if i.kind == "mention"]
    assert (mention.subject, mention.page, mention.query) == (
        "kpi:supplier_otd",
        "pages/definitions.py",
        {"kpi": "supplier_otd", "discussion": "open"},
    )
    assert (
        mention.detail
        == "Sam Okafor mentioned @procurement: “Why 90 %? @procurement” (reply or resolve it)"
    )
    assert [i.subject for i in inbox.waiting_for_department(store, "procurement", small)] == [
        "kpi:supplier_otd"
    ]
    assert not [i for i in inbox.waiting_for(store, FIN, small) if i.kind == "mention"]
    # finance's verdict on SI2 is recorded, then told to procurement in the initiative's thread
    seen = numbers_hash(get_initiative(store, "SI2").model_dump())
    validate_initiative(store, FIN, "SI2", "accepted", "Quotes on file", numbers_seen=seen)
    told = inbox.tell_verdict(store, FIN, "SI2", "accepted", "Quotes on file")
    assert told.text == (
        "Finance accepted SI2: Quotes on file @procurement, answer here if you see it differently."
    )
    assert told.mentions == ("procurement",)
    subjects = [i.subject for i in inbox.waiting_for(store, PRO, small)]
    assert subjects == ["kpi:supplier_otd", "initiative:SI2"]
    assert "initiative:SI2" not in {i.subject for i in inbox.waiting_for(store, FIN, small)}
    # a viewer is mentioned too: the inbox lists the thread, though they sign nothing
    threads.post_comment(store, PRO, "initiative:SI2", "Noted, thanks. @lee.chen@example.org")
    assert [i.kind for i in inbox.waiting_for(store, VIEWER, small)] == ["mention"]
