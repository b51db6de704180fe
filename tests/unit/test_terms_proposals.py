"""Payment-terms proposals on tests/wc_fixture.py: both departments, the refusals, and every
figure worked out by hand.

The scenario: every supplier to 60 days (tests/unit/test_terms_sim.py works it out), policy
with our cost of capital at 10 %. Finance proposes it for A1 and A2 only:
  A1 today 20.0 d -> 60: cash 7300 x 40 / 365 = 800.00, value 80.00, no discount, terms
     60 -> 60 add nothing: pass-through 0.00, net 80.00
  A2 today 32.7 d -> 60: cash 3650 x 27.3 / 365 = 273.00, value 27.30, discount 20.00
     lost, pass-through 12 % x 30 / 365 x 3650 = 36.00, net -28.70
  finance's totals: cash 1073.00, value 107.30, discounts 20.00, pass-through 36.00,
     net 51.30
Procurement counters A1 at 45 days expecting 0.5 % on prices, accepts A2 expecting 2 %:
  A1 at 45: cash 7300 x 25 / 365 = 500.00, value 50.00, pass-through 7300 x 0.5 % =
     36.50, net 13.50
  A2 at 60: cash 273.00, value 27.30, discount 20.00, pass-through 3650 x 2 % = 73.00,
     net 27.30 - 20.00 - 73.00 = -65.70
  procurement's totals: cash 773.00, value 77.30, discounts 20.00, pass-through 109.50,
     net -52.20
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kpi.analyses.terms import PaymentPolicy, save_scenario, simulate_terms
from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied
from kpi.workflows import terms_proposals as tp
from kpi.workflows.terms_proposals import ProposalError, SupplierAnswer
from kpi.workflows.terms_tracking import side_by_side, tracking
from tests import wc_fixture

D = Decimal
POLICY = PaymentPolicy(
    target_terms_days=60,
    legal_max_by_country={"DE": 60, "FR": 60},
    cost_of_capital=D("0.10"),
    supplier_cost_of_capital={"sme": D("0.12"), "large": D("0.05"), "default": D("0.08")},
)
CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
ANSWERS = [
    SupplierAnswer("A1", "counter", "0.5", "medium", "Alpha takes 45 d at most", 45),
    SupplierAnswer("A2", "accept", "2", "high", "SME, single source: watch prices"),
]


@pytest.fixture
def store(tmp_path):
    return wc_fixture.build(tmp_path / "kpi.duckdb")


def _proposal(store) -> int:
    scenario = simulate_terms(store, 60, policy=POLICY)
    sid = save_scenario(store, SAM, scenario, "All to 60 days")
    return tp.propose(store, SAM, sid, "Alpha and Beta to 60 days", "cash for Q1",
                      supplier_ids=["A1", "A2"], effective_from=date(2026, 1, 1),
                      policy=POLICY)  # fmt: skip


def test_finance_proposes_procurement_counters_both_sign(store):
    pid = _proposal(store)
    first = tp.get(store, pid)
    assert (first.version, first.status, first.unanswered) == (1, "open", ["A1", "A2"])
    lines = {r["supplier_id"]: r for r in first.lines.iter_rows(named=True)}
    assert lines["A1"]["cash_released"] == D("800.00") and lines["A1"]["net_benefit"] == D("80.00")
    assert lines["A2"]["net_benefit"] == D("-28.70")
    assert [i.kind for i in tp.waiting_for(store, JONAS)] == ["terms_response"]
    assert tp.waiting_for(store, SAM) == []  # nothing to sign before procurement answers
    assert tp.waiting_for(store, LEE) == []  # a viewer is never waited for

    version = tp.respond(store, JONAS, pid, 1, ANSWERS)
    assert version == 2
    proposal = tp.get(store, pid)
    table, totals = side_by_side(store, proposal, POLICY)
    rows = {r["supplier_id"]: r for r in table.iter_rows(named=True)}
    assert rows["A1"]["procurement_days"] == 45
    assert rows["A1"]["procurement_cash_released"] == D("500.00")
    assert rows["A1"]["procurement_supplier_price_passthrough"] == D("36.50")
    assert rows["A1"]["procurement_net_benefit"] == D("13.50")
    assert rows["A2"]["procurement_net_benefit"] == D("-65.70")
    assert totals["finance"] == {
        "cash_released": D("1073.00"),
        "annual_financing_benefit": D("107.30"),
        "discounts_forgone": D("20.00"),
        "supplier_price_passthrough": D("36.00"),
        "net_benefit": D("51.30"),
    }
    assert totals["procurement"] == {
        "cash_released": D("773.00"),
        "annual_financing_benefit": D("77.30"),
        "discounts_forgone": D("20.00"),
        "supplier_price_passthrough": D("109.50"),
        "net_benefit": D("-52.20"),
    }
    # both departments now owe a signature on version 2
    assert [(i.kind, i.query) for i in tp.waiting_for(store, CFO)] == [
        ("terms_signature", {"proposal": str(pid)})
    ]
    assert [i.kind for i in tp.waiting_for(store, JONAS)] == ["terms_signature"]
    assert tp.sign(store, SAM, pid, 2, "cash for Q1 at acceptable risk") == "open"
    assert tp.waiting_for(store, CFO) == []  # finance has signed (Sam)
    assert tp.sign(store, JONAS, pid, 2, "Alpha agreed 45 d by phone") == "agreed"
    agreed = tp.get(store, pid)
    assert (agreed.status, agreed.record["agreed_version"]) == ("agreed", 2)
    assert tp.waiting_for(store, JONAS) == []
    log = tp.history(store, pid)
    assert log["action"].to_list() == ["proposed", "answered", "answered", "signed", "signed"]
    assert log["by_email"].to_list()[-2:] == [SAM.email, JONAS.email]
    assert log["reason"].to_list()[1] == "Alpha takes 45 d at most"


def test_after_agreement_days_and_prices_against_the_plan_by_month(store):
    pid = _proposal(store)
    tp.respond(store, JONAS, pid, 1, ANSWERS)
    tp.sign(store, CFO, pid, 2, "agreed in the meeting")
    tp.sign(store, JONAS, pid, 2, "agreed in the meeting")
    frame = tracking(store, tp.get(store, pid))
    rows = {(r["period"], r["supplier_id"]): r for r in frame.iter_rows(named=True)}
    # A1 paid V1 (2026-01-30) and V2 (2026-04-21) 20 days after invoice: the KPI is 20.0,
    # 25 days short of the 45 agreed; its carton cost 2.00 in the spend year and since
    assert rows[("2026-01", "A1")]["days_to_pay"] == 20.0
    assert rows[("2026-01", "A1")]["days_gap"] == -25.0
    assert rows[("2026-04", "A1")]["price_change_pct"] == 0.0
    assert rows[("2026-01", "A1")]["planned_price_change_pct"] == 0.5
    # A2's seal: mean price in the spend year (2 x 500 + 4 x 500 + 1 x 650) / 7 = 3650 / 7;
    # February's 2 at 500 = 1000 against 2 x 3650 / 7: 7000 / 7300 - 1 = -4.11 %; June's
    # one at 650 against 3650 / 7: 4550 / 3650 - 1 = +24.66 %; paid in 8 d (Feb), 45 d (Apr)
    assert rows[("2026-02", "A2")]["price_change_pct"] == -4.11
    assert rows[("2026-02", "A2")]["days_to_pay"] == 8.0
    assert rows[("2026-03", "A2")]["days_to_pay"] is None  # invoiced, nothing paid
    assert rows[("2026-04", "A2")]["days_to_pay"] == 45.0
    assert rows[("2026-06", "A2")]["price_change_pct"] == 24.66
    assert rows[("2026-06", "A2")]["spend"] == D("650.00")
    assert sorted(rows) == [
        ("2026-01", "A1"),
        ("2026-02", "A2"),
        ("2026-03", "A2"),
        ("2026-04", "A1"),
        ("2026-04", "A2"),
        ("2026-06", "A2"),
    ]


def test_a_refused_supplier_stays_on_its_terms(store):
    pid = _proposal(store)
    tp.respond(store, JONAS, pid, 1, [
        ANSWERS[0],
        SupplierAnswer("A2", "refuse", "0", "high", "SME: cannot carry longer terms"),
    ])  # fmt: skip
    table, totals = side_by_side(store, tp.get(store, pid), POLICY)
    a2 = table.filter(table["supplier_id"] == "A2").row(0, named=True)
    assert (a2["procurement_days"], a2["procurement_net_benefit"]) == (None, D("0.00"))
    assert totals["procurement"]["cash_released"] == D("500.00")  # A1 alone
    assert totals["procurement"]["net_benefit"] == D("13.50")


def test_a_change_voids_the_signatures_and_the_old_version_cannot_be_signed(store):
    pid = _proposal(store)
    tp.respond(store, JONAS, pid, 1, ANSWERS)
    tp.sign(store, SAM, pid, 2, "fine by finance")
    # finance revises A1 to 45 days: version 3, Sam's signature on version 2 is void
    assert tp.revise(store, SAM, pid, 2, "take Alpha's 45 days", days_by_supplier={"A1": 45},
                     policy=POLICY) == 3  # fmt: skip
    revised = tp.get(store, pid)
    assert revised.unanswered == ["A1"]  # procurement answers A1 again
    a1 = revised.lines.filter(revised.lines["supplier_id"] == "A1").row(0, named=True)
    assert (a1["proposed_days"], a1["cash_released"]) == (45, D("500.00"))
    sigs = revised.signatures.row(0, named=True)
    assert sigs["voided_by"] == SAM.email and "version 3 replaced it" in sigs["void_reason"]
    assert revised.standing_signatures() == {}
    with pytest.raises(ProposalError, match="version 2 of proposal 1 was replaced by version 3"):
        tp.sign(store, JONAS, pid, 2, "signing what I read")
    with pytest.raises(ProposalError, match="procurement has not answered A1 yet"):
        tp.sign(store, JONAS, pid, 3, "too early")
    with pytest.raises(ProposalError, match="changed while you were reading it"):
        tp.respond(store, JONAS, pid, 2, ANSWERS)


def test_the_refusals_name_who_may(store):
    pid = _proposal(store)
    with pytest.raises(PermissionDenied, match="Lee Chen .* may not propose.*finance member or"):
        tp.propose(store, LEE, 1, "x", "y", policy=POLICY)
    with pytest.raises(PermissionDenied, match="Jonas Berg .* may not propose"):
        tp.propose(store, JONAS, 1, "x", "y", policy=POLICY)
    with pytest.raises(
        PermissionDenied,
        match="Sam Okafor .* may not answer payment-terms "
        "proposals for procurement: only a procurement member may",
    ):
        tp.respond(store, SAM, pid, 1, ANSWERS)
    with pytest.raises(PermissionDenied, match="Claire Dubois .* may not answer"):
        tp.respond(store, CFO, pid, 1, ANSWERS)
    with pytest.raises(PermissionDenied, match="Lee Chen .* may not answer"):
        tp.respond(store, LEE, pid, 1, ANSWERS)
    tp.respond(store, JONAS, pid, 1, ANSWERS)
    with pytest.raises(PermissionDenied, match="Lee Chen .* may not sign payment-terms"):
        tp.sign(store, LEE, pid, 2, "viewer")
    # procurement signs only for procurement: a second procurement signature is no finance one
    tp.sign(store, JONAS, pid, 2, "procurement agrees")
    with pytest.raises(ProposalError, match="Jonas Berg already signed version 2 for procurement"):
        tp.sign(store, JONAS, pid, 2, "and for finance too")
    assert tp.get(store, pid).status == "open"
    with pytest.raises(PermissionDenied, match="Jonas Berg .* may not propose, revise or withdraw"):
        tp.withdraw(store, JONAS, pid, "no")
    assert tp.history(store, pid)["action"].to_list()[-1] == "signed"  # nothing written


def test_a_bad_answer_is_refused_with_what_to_do(store):
    pid = _proposal(store)
    bad = [
        (SupplierAnswer("A1", "maybe", "1", "low", "r"), "answer accept, counter or refuse"),
        (SupplierAnswer("A1", "counter", "1", "low", "r"), "names the days procurement offers"),
        (SupplierAnswer("A1", "accept", "abc", "low", "r"), "must be a percent"),
        (SupplierAnswer("A1", "accept", "1", "huge", "r"), "low, medium or high"),
        (SupplierAnswer("A1", "accept", "1", "low", " "), "supplier A1: say why"),
        (SupplierAnswer("ZZ", "accept", "1", "low", "r"), "ZZ is not in proposal 1"),
    ]
    for answer, says in bad:
        with pytest.raises(ProposalError, match=says):
            tp.respond(store, JONAS, pid, 1, [answer])
    assert tp.get(store, pid).version == 1  # nothing was written


def test_refused_and_withdrawn_proposals_stay_on_record(store):
    first, second = _proposal(store), _proposal(store)
    tp.refuse(store, JONAS, first, "suppliers cannot carry it this year")
    tp.withdraw(store, SAM, second, "replaced by a smaller proposal")
    listed = tp.list_proposals(store)
    assert dict(zip(listed["proposal_id"], listed["status"], strict=True)) == {
        first: "refused",
        second: "withdrawn",
    }
    assert tp.get(store, first).record["closed_reason"] == "suppliers cannot carry it this year"
    with pytest.raises(ProposalError, match="proposal 1 is refused: it stays on record"):
        tp.respond(store, JONAS, first, 1, ANSWERS)
    assert tp.waiting_for(store, JONAS) == []


def test_no_scenario_no_proposal(store):
    with pytest.raises(ProposalError, match="no saved scenario 7: save one in the terms"):
        tp.propose(store, SAM, 7, "x", "why", policy=POLICY)


def test_the_inbox_and_the_digest_list_what_a_proposal_waits_for(store, tmp_path):
    """The inbox (and the digest's department view) gather the proposal's items: procurement
    answers first, then each department signs the current version."""
    from kpi.workflows import inbox

    kpis = tmp_path / "kpis.yaml"
    kpis.write_text("kpis: []\n")  # no definitions: only the proposal waits
    pid = _proposal(store)

    def kinds(items):
        return [(i.kind, i.query) for i in items if i.kind.startswith("terms_")]

    assert kinds(inbox.waiting_for(store, JONAS, kpis)) == [
        ("terms_response", {"proposal": str(pid)})
    ]
    assert kinds(inbox.waiting_for_department(store, "procurement", kpis)) == [
        ("terms_response", {"proposal": str(pid)})
    ]
    assert kinds(inbox.waiting_for(store, SAM, kpis)) == []
    tp.respond(store, JONAS, pid, 1, ANSWERS)
    assert kinds(inbox.waiting_for(store, SAM, kpis)) == [
        ("terms_signature", {"proposal": str(pid)})
    ]
    assert kinds(inbox.waiting_for_department(store, "finance", kpis)) == [
        ("terms_signature", {"proposal": str(pid)})
    ]
    assert kinds(inbox.waiting_for(store, LEE, kpis)) == []
