"""A payment-terms proposal in a real browser on the demo store, both departments in their
own sessions: finance proposes a saved scenario, procurement counter-offers, finance and
procurement each sign the same version, and it is agreed. Screenshots land in
tests/artifacts/i17-terms/.
"""

from __future__ import annotations

from kpi.analyses.terms import save_scenario, simulate_terms
from kpi.core.people import Person
from kpi.store.database import Store
from kpi.workflows import terms_proposals as tp
from tests.browser.support import (
    ARTIFACTS,
    acting_url,
    browser_marks,
    expect_text,
    problems,
    wait_rendered,
)

pytestmark = browser_marks()
SHOTS = ARTIFACTS / "i17-terms"
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = "jonas.berg@example.org"


def _session(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    return ctx, ctx.new_page()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("h1", timeout=60_000)
    wait_rendered(page)


def test_finance_proposes_procurement_counters_both_sign(page, browser, app_url, demo_db):
    SHOTS.mkdir(parents=True, exist_ok=True)
    store = Store(demo_db)
    scenario = simulate_terms(store, 90, "size = 'large' and preferred")
    sid = save_scenario(store, SAM, scenario, "Large preferred to 90 days")
    first, second = scenario.suppliers.sort("cash_released", descending=True)["supplier_id"][:2]

    # finance, in its own session, makes the proposal from the saved scenario
    _open(page, acting_url(f"{app_url}/terms", SAM.email))
    page.get_by_role("tab", name="Proposals").click()
    expect_text(page, "No terms proposal yet")
    page.get_by_text("Make a proposal from a saved scenario").click()
    form = page.locator('[data-testid="stForm"]').filter(has_text="Propose to procurement")
    form.get_by_label("Title").fill("Large preferred suppliers to 90 days")
    form.get_by_label("Suppliers (IDs separated by commas").fill(f"{first}, {second}")
    form.get_by_label("Why finance proposes it").fill("Cash for the winter quarter")
    form.get_by_role("button", name="Propose to procurement").click()
    expect_text(page, "Proposal 1 made")
    wait_rendered(page)
    page.screenshot(path=str(SHOTS / "1_finance_proposes.png"))
    assert problems(page) == []
    made = tp.get(store, 1)
    assert made.record["scenario_id"] == sid and made.record["created_by"] == SAM.email
    assert sorted(made.unanswered) == sorted([first, second])

    # procurement, in another session, opens it from its link and counter-offers the first
    ctx, other = _session(browser)
    try:
        _open(other, acting_url(f"{app_url}/terms?proposal=1", JONAS))
        expect_text(other, "Procurement's answer per supplier")
        answers = other.locator('[data-testid="stForm"]').filter(
            has_text="Send procurement's answers"
        )
        for n, (word, pct, why) in enumerate(
            [("Counter-offer", "1.5", "75 days at most"), ("Accept", "0.5", "fine")]
        ):
            answers.get_by_role("combobox", name="Answer").nth(n).click()
            other.get_by_role("option", name=word, exact=True).click()
            answers.get_by_label("Pass-through %").nth(n).fill(pct)
            answers.get_by_label("Reason").nth(n).fill(why)
        answers.get_by_label("Counter days").nth(0).fill("75")
        answers.get_by_role("button", name="Send procurement's answers").click()
        expect_text(other, "Answers sent: version 2 made")
        wait_rendered(other)
        body = other.inner_text("body")
        assert (
            "With procurement's figures" in body
            and "(counter-offer; finance proposed 90 d)" in body
        )
        other.screenshot(path=str(SHOTS / "2_procurement_counters.png"))
        assert problems(other) == []

        # finance signs version 2 in its own session
        _open(page, acting_url(f"{app_url}/terms?proposal=1", SAM.email))
        expect_text(page, "What you sign for finance: version 2")
        page.get_by_label("Why you sign").fill("The cash is worth the price asked")
        page.get_by_role("button", name="Sign version 2 for finance").click()
        expect_text(page, "Signed; the proposal is now open.")
        wait_rendered(page)
        expect_text(page, "for finance: Sam Okafor")  # the signature, listed as standing
        page.screenshot(path=str(SHOTS / "3_finance_signs.png"))

        # procurement signs the same version: agreed
        _open(other, acting_url(f"{app_url}/terms?proposal=1", JONAS))
        other.get_by_label("Why you sign").fill("Agreed with both suppliers")
        other.get_by_role("button", name="Sign version 2 for procurement").click()
        expect_text(other, "Signed; the proposal is now agreed.")
        wait_rendered(other)
        assert "agreed (version 2)" in other.inner_text("body")
        other.screenshot(path=str(SHOTS / "4_agreed.png"), full_page=True)
        assert problems(other) == []
    finally:
        ctx.close()
    agreed = tp.get(store, 1)
    assert agreed.status == "agreed"
    assert set(agreed.standing_signatures()) == {"finance", "procurement"}
    assert {r["signed_by"] for r in agreed.standing_signatures().values()} == {SAM.email, JONAS}
