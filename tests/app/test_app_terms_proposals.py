"""The Payment terms page's Proposals tab under AppTest on tests/wc_fixture.py.

The policy is config/payment_policy.yaml's; cash does not depend on it: finance's scenario
moves A1 (today 20.0 d) and A2 (today 32.7 d) to 60 days: 7300 x 40 / 365 = 800.00 and
3650 x 27.3 / 365 = 273.00, 1073.00 together; procurement counters A1 at 45 days
(7300 x 25 / 365 = 500.00) and accepts A2: 773.00 (tests/unit/test_terms_proposals.py).
"""

from __future__ import annotations

from datetime import date

from streamlit.testing.v1 import AppTest

from kpi.analyses.terms import save_scenario, simulate_terms
from kpi.core.people import Person
from kpi.workflows import terms_proposals as tp
from kpi.workflows.terms_proposals import SupplierAnswer
from tests.app.test_app_working_capital import RANGE, TERMS, store  # noqa: F401 (fixture)

FINANCE = "Sam Okafor (finance, member)"
PROCUREMENT = "Jonas Berg (procurement, member)"
VIEWER = "Lee Chen (operations, viewer)"
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")


def page(acting_as: str | None = None, proposal: int | None = None) -> AppTest:
    at = AppTest.from_file(TERMS, default_timeout=120)
    at.session_state["periods"] = RANGE
    if acting_as:
        at.session_state["acting_as"] = acting_as
    if proposal is not None:
        at.query_params["proposal"] = str(proposal)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.success])


def _scenario(store) -> int:  # noqa: F811
    return save_scenario(store, SAM, simulate_terms(store, 60), "All to 60 days")


def test_no_proposal_says_what_to_do(store):  # noqa: F811
    at = page(FINANCE)
    assert "No terms proposal yet" in texts(at)
    assert "Finance saves a scenario in the **Terms simulator** tab" in texts(at)


def test_finance_proposes_from_a_saved_scenario(store):  # noqa: F811
    _scenario(store)
    at = page(FINANCE)
    at.text_input(key="tp_title").input("Alpha and Beta to 60")
    at.text_input(key="tp_suppliers").input("A1, A2")
    at.text_area(key="tp_reason").input("cash for Q1")
    at.button(key="tp_go").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Proposal 1 made" in texts(at)
    proposal = tp.get(store, 1)
    assert sorted(proposal.lines["supplier_id"]) == ["A1", "A2"]
    assert proposal.record["created_by"] == SAM.email
    assert "Cash released: €1,073.00" in texts(at)  # finance's first view, opened


def test_a_viewer_reads_but_has_no_form(store):  # noqa: F811
    pid = tp.propose(store, SAM, _scenario(store), "To 60", "cash", supplier_ids=["A1"])
    at = page(VIEWER, proposal=pid)
    assert "may not propose, revise or withdraw payment-terms proposals" in texts(at)
    assert "Proposal 1: To 60" in [s.value for s in at.subheader]
    keys = {b.key for b in at.button}
    assert not keys & {"tp_send_1", "tp_sign_go_1", "tp_end_go_1"}


def test_procurement_counters_then_both_sign_in_their_own_sessions(store):  # noqa: F811
    pid = tp.propose(store, SAM, _scenario(store), "To 60", "cash", supplier_ids=["A1", "A2"],
                     effective_from=date(2026, 1, 1))  # fmt: skip
    at = page(PROCUREMENT, proposal=pid)
    at.selectbox(key=f"tp_ans_{pid}_A1").select("Counter-offer")
    at.number_input(key=f"tp_cd_{pid}_A1").set_value(45)
    at.text_input(key=f"tp_pt_{pid}_A1").input("0.5")
    at.selectbox(key=f"tp_risk_{pid}_A1").select("medium")
    at.text_input(key=f"tp_why_{pid}_A1").input("Alpha takes 45 d at most")
    at.selectbox(key=f"tp_ans_{pid}_A2").select("Accept")
    at.text_input(key=f"tp_pt_{pid}_A2").input("2")
    at.text_input(key=f"tp_why_{pid}_A2").input("fine for Beta")
    at.button(key=f"tp_send_{pid}").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Answers sent: version 2 made" in texts(at)
    shown = texts(at)
    assert "Cash released: €1,073.00" in shown and "Cash released: €773.00" in shown
    assert "terms 60 → **45 d** (counter-offer; finance proposed 60 d)" in shown

    at = page(FINANCE, proposal=pid)
    at.text_input(key=f"tp_sign_why_{pid}").input("cash for Q1 at acceptable risk")
    at.button(key=f"tp_sign_go_{pid}").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Signed; the proposal is now open." in texts(at)

    at = page(PROCUREMENT, proposal=pid)
    at.text_input(key=f"tp_sign_why_{pid}").input("Alpha confirmed")
    at.button(key=f"tp_sign_go_{pid}").click().run()
    assert "Signed; the proposal is now agreed." in texts(at)
    assert "**agreed** (version 2)" in texts(at)
    assert tp.get(store, pid).status == "agreed"
    # the tracking table: A1 paid in 20 d in January and April, against the 45 agreed
    assert "Since the terms apply" in texts(at)
    track = next(d.value for d in at.dataframe if "days_gap" in d.value.columns)
    a1 = [r for r in track.to_dict("records") if r["supplier"].startswith("A1")]
    assert [(r["period"], r["agreed_days"], r["days_to_pay"], r["days_gap"]) for r in a1] == [
        ("2026-01", "45", "20.0", "-25.0"),
        ("2026-04", "45", "20.0", "-25.0"),
    ]
    assert [r["spend"] for r in a1] == ["€3,650.00", "€3,650.00"]
    # A2 has invoices in March but paid none then: its days read "—", never "None"
    march = next(r for r in track.to_dict("records") if r["period"] == "2026-03")
    assert (march["days_to_pay"], march["days_gap"], march["spend"]) == ("—", "—", "€2,000.00")
    assert not {"None", "nan"} & {str(v) for v in track.to_numpy().ravel()}


def test_finance_may_not_answer_for_procurement_in_the_page(store):  # noqa: F811
    pid = tp.propose(store, SAM, _scenario(store), "To 60", "cash", supplier_ids=["A1"])
    at = page(FINANCE, proposal=pid)
    assert f"tp_send_{pid}" not in {b.key for b in at.button}  # no answer form for finance
    tp.respond(store, JONAS, pid, 1, [SupplierAnswer("A1", "accept", "1", "low", "ok")])
    at = page(FINANCE, proposal=pid)
    at.text_input(key=f"tp_sign_why_{pid}").input("fine")
    tp.respond(store, JONAS, pid, 2, [SupplierAnswer("A1", "counter", "1", "low", "no", 50)])
    at.button(key=f"tp_sign_go_{pid}").click().run()  # the version read is void meanwhile
    assert any("was replaced by version 3" in e.value for e in at.error), [
        e.value for e in at.error
    ]


def test_the_comparison_shows_empty_cells_as_a_dash_and_money_as_the_app_writes_it(store):  # noqa: F811
    # procurement counters A1 at 45 days (cash 7300 x 25 / 365 = 500.00) and leaves A2 open:
    # A2's procurement cells read "—", never "None"; finance's view keeps 800.00 and 273.00
    pid = tp.propose(store, SAM, _scenario(store), "To 60", "cash", supplier_ids=["A1", "A2"])
    tp.respond(store, JONAS, pid, 1,
               [SupplierAnswer("A1", "counter", "0.5", "medium", "45 d at most", 45)])  # fmt: skip
    at = page(FINANCE, proposal=pid)
    frames = {tuple(d.value.columns): d.value for d in at.dataframe}
    answers = next(f for cols, f in frames.items() if "procurement_days" in cols)
    money = next(f for cols, f in frames.items() if "view" in cols)
    cells = [str(v) for f in (answers, money) for v in f.to_numpy().ravel()]
    assert not {"None", "nan"} & set(cells), cells
    a1, a2 = answers.to_dict("records")
    assert (a1["finance_days"], a1["procurement_days"], a1["answer"], a1["passthrough"],
            a1["risk"]) == ("60", "45", "counter-offer", "0.5 %", "medium")  # fmt: skip
    assert (a2["procurement_days"], a2["answer"], a2["passthrough"], a2["risk"]) == ("—",) * 4
    rows = {(r["supplier"][:2], r["view"]): r for r in money.to_dict("records")}
    assert rows[("A1", "Finance")]["cash_released"] == "€800.00"
    assert rows[("A1", "Procurement")]["cash_released"] == "€500.00"
    assert rows[("A2", "Finance")]["cash_released"] == "€273.00"
    assert rows[("A2", "Procurement")]["cash_released"] == "—"
    assert "- A1 · Alpha" in texts(at) and "45 d at most" in texts(at)
