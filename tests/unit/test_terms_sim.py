"""The terms simulator on tests/wc_fixture.py: every figure worked out by hand.

Spend year: 2025-07-01 .. 2026-06-30 (the twelve calendar months to the last data day).
Today's days are the days_to_pay KPI per supplier, computed by the engine. Per supplier:
  A1 spend 3650 + 3650 = 7300.00, paid in 20 days (both lines)       -> today 20.0 days
  A2 spend 1000 + 2000 + 650 = 3650.00, paid lines 1000 x 8 d and 2000 x 45 d
     -> (8000 + 90000) / 3000 = 32.67 -> today 32.7 days; discount taken 20.00
  A3 spend 7300.00, paid in 90 days                                  -> today 90.0 days
  A4 no spend, nothing paid                                  -> today = its terms, 75 days
(V0, invoiced 2025-06-01, is outside the year.)
Policy in these tests: our cost of capital 10 %; suppliers' 12 % (SME) and 5 % (large);
legal maximum 60 days in DE and FR, none elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from kpi.analyses.terms import (
    PaymentPolicy,
    ScenarioError,
    list_scenarios,
    save_scenario,
    simulate_terms,
)
from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied
from kpi.reporting.terms_text import render_scenario
from kpi.semantic.formula_guard import FormulaError
from tests import wc_fixture
from tests.app.test_app_savings import ROOT

D = Decimal
POLICY = PaymentPolicy(
    target_terms_days=60,
    legal_max_default=None,
    legal_max_by_country={"DE": 60, "FR": 60},
    cost_of_capital=D("0.10"),
    supplier_cost_of_capital={"sme": D("0.12"), "large": D("0.05"), "default": D("0.08")},
)
FINANCE = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
VIEWER = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return wc_fixture.build(tmp_path_factory.mktemp("terms") / "kpi.duckdb")


def money(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "suppliers_affected"}


def test_every_supplier_to_60_days(store):
    s = simulate_terms(store, 60, policy=POLICY)
    # A1: change 60 - 20 = 40; cash 7300 x 40 / 365 = 800.00; value 800 x 10 % = 80.00;
    #     no discount; its terms are 60 already: no contractual day added, so no
    #     pass-through (it was 40.00 when charged on actual days); net 80.00
    # A2: change 60 - 32.7 = 27.3; cash 3650 x 27.3 / 365 = 273.00; value 27.30; 60 > 10
    #     discount days, so the 20.00 taken is lost; terms 30 -> 60: pass-through 12 % x
    #     30 / 365 x 3650 = 36.00; net 27.30 - 20.00 - 36.00 = -28.70; flags SME, single
    #     source
    # A3: change 60 - 90 = -30; cash 7300 x -30 / 365 = -600.00; value -60.00; terms 90 ->
    #     60, nothing added, so no pass-through and no flags; net -60.00
    # A4: change 60 - 75 = -15 on no spend: all 0.00; 60 is not over DE's 60
    assert s.summary == {
        "suppliers_affected": 4,
        "annual_spend": D("18250.00"),
        "cash_released": D("473.00"),  # 800 + 273 - 600
        "annual_financing_benefit": D("47.30"),  # 80 + 27.30 - 60
        "discounts_forgone": D("20.00"),
        "supplier_price_passthrough": D("36.00"),  # 0 + 36.00
        "net_benefit": D("-8.70"),  # 47.30 - 20.00 - 36.00
        "suppliers_at_risk": 1,
        "suppliers_over_legal_max": 0,  # 60 is not over DE's or FR's 60
        "net_benefit_without_legal_breaches": D("-8.70"),
    }
    rows = {r["supplier_id"]: r for r in s.suppliers.iter_rows(named=True)}
    assert rows["A2"]["today_days"] == D("32.7") and rows["A2"]["days_change"] == D("27.3")
    assert rows["A2"]["risk_flags"] == "SME, single source"
    assert rows["A2"]["net_benefit"] == D("-28.70")
    assert rows["A1"]["contract_terms_change"] == 0
    assert rows["A1"]["supplier_price_passthrough"] == D("0.00")
    assert rows["A1"]["why"] == (
        "paid in 20.0 d today, 60 d after: cash follows the +40.0 d; "
        "terms 60 -> 60 d: no terms added, no pass-through"
    )
    assert rows["A4"]["today_basis"] == "terms" and rows["A4"]["today_days"] == 75
    assert [rows[k]["risk_flags"] for k in ("A1", "A3", "A4")] == ["", "", ""]
    # the totals are the sums of the rows shown, to the cent
    assert sum(s.suppliers["cash_released"].to_list()) == s.summary["cash_released"]
    assert (s.window_start.isoformat(), s.window_end.isoformat()) == ("2025-07-01", "2026-06-30")


def test_large_suppliers_to_90_days(store):
    s = simulate_terms(store, 90, "size = 'large'", policy=POLICY)
    # A1: change 70; cash 7300 x 70 / 365 = 1400.00; value 140.00; terms 60 -> 90:
    #     pass-through 5 % x 30 / 365 x 7300 = 30.00; net 110.00; 90 days is over DE's
    #     legal 60 -> at risk and counted over the legal maximum
    # A3: change 90 - 90 = 0: nothing moves; strategic, but no days added, so not flagged
    assert money(s.summary) == {
        "annual_spend": D("14600.00"),
        "cash_released": D("1400.00"),
        "annual_financing_benefit": D("140.00"),
        "discounts_forgone": D("0.00"),
        "supplier_price_passthrough": D("30.00"),
        "net_benefit": D("110.00"),
        "suppliers_at_risk": 1,
        "suppliers_over_legal_max": 1,  # A1
        "net_benefit_without_legal_breaches": D("0.00"),  # A3's 0.00 alone
    }
    assert s.summary["suppliers_affected"] == 2
    flags = dict(zip(s.suppliers["supplier_id"], s.suppliers["risk_flags"], strict=True))
    assert flags == {"A1": "over legal max (60 d)", "A3": ""}


def test_the_view_spelling_of_size_works_too(store):
    # `supplier_size` (as in the payments view) is the same column as the table's `size`
    a = simulate_terms(store, 90, "supplier_size = 'large'", policy=POLICY).summary
    assert a == simulate_terms(store, 90, "size = 'large'", policy=POLICY).summary


def test_terms_shorter_than_today(store):
    s = simulate_terms(store, 10, "supplier_id = 'A2'", policy=POLICY)
    # A2: change 10 - 32.7 = -22.7; cash 3650 x -22.7 / 365 = -227.00 (cash goes out);
    #     value -22.70; paying in 10 days keeps the discount (10 is not beyond 10): 0.00
    #     lost; no days added: no pass-through, no risk; net -22.70
    assert money(s.summary) == {
        "annual_spend": D("3650.00"),
        "cash_released": D("-227.00"),
        "annual_financing_benefit": D("-22.70"),
        "discounts_forgone": D("0.00"),
        "supplier_price_passthrough": D("0.00"),
        "net_benefit": D("-22.70"),
        "suppliers_at_risk": 0,
        "suppliers_over_legal_max": 0,
        "net_benefit_without_legal_breaches": D("-22.70"),
    }


def test_a_segment_with_no_suppliers(store):
    s = simulate_terms(store, 90, "country = 'XX'", policy=POLICY)
    assert s.summary["suppliers_affected"] == 0 and s.summary["suppliers_at_risk"] == 0
    assert all(v == 0 for v in money(s.summary).values())
    assert s.suppliers.is_empty() and "suppliers_affected" in render_scenario(s, "table")
    assert s.window_end.isoformat() == "2026-06-30"  # the spend year is still said


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("size = 'sme'; DROP TABLE suppliers", "DROP"),
        ("supplier_id IN (SELECT supplier_id FROM invoices)", "subquery"),
        ("read_csv('/etc/passwd') IS NOT NULL", "read_csv"),
        ("sizee = 'sme'", "did you mean 'size'"),
        ("sum(annual_spend) > 0", "not allowed in a row filter"),
        ("annual_spend", "true or false"),
    ],
)
def test_the_filter_goes_through_the_formula_guard(store, where, says):
    with pytest.raises(FormulaError, match=says.replace("(", r"\(")):
        simulate_terms(store, 60, where, policy=POLICY)


@pytest.mark.parametrize("days", [-1, 366])
def test_terms_out_of_range_are_refused(store, days):
    with pytest.raises(ScenarioError, match="0 to 365"):
        simulate_terms(store, days, policy=POLICY)


def test_saving_a_scenario_keeps_who_and_when(tmp_path):
    store = wc_fixture.build(tmp_path / "kpi.duckdb")
    s = simulate_terms(store, 90, "size = 'large'", policy=POLICY)
    with pytest.raises(PermissionDenied, match="may not save"):
        save_scenario(store, VIEWER, s, "Viewer's try")
    assert list_scenarios(store).is_empty()
    with pytest.raises(ScenarioError, match="name"):
        save_scenario(store, FINANCE, s, "  ")
    assert save_scenario(store, FINANCE, s, "Large to 90") == 1
    saved = list_scenarios(store).row(0, named=True)
    assert saved["name"] == "Large to 90" and saved["saved_by"] == FINANCE.email
    assert saved["where_text"] == "size = 'large'" and saved["new_terms_days"] == 90
    assert saved["net_benefit"] == D("110.00") and saved["suppliers_at_risk"] == 1
    assert saved["saved_at"] is not None


def test_command_line_json_has_the_contract_keys(store):
    out = subprocess.run(
        [sys.executable, "-m", "kpi", "terms-sim", "--days", "90", "--where", "size = 'large'",
         "--format", "json", "--db", str(store.path)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    # config/payment_policy.yaml: our cost of capital 6 %, large suppliers' 5 %, DE max 60:
    # A1 cash 1400.00, value 1400 x 6 % = 84.00, terms 60 -> 90: pass-through 5 % x 30 /
    # 365 x 7300 = 30.00, net 54.00; A1 is over DE's legal 60, so without it: A3's 0.00
    assert {k: data[k] for k in ("suppliers_affected", "annual_spend", "cash_released")} == {
        "suppliers_affected": 2,
        "annual_spend": 14600.0,
        "cash_released": 1400.0,
    }
    assert data["annual_financing_benefit"] == 84.0
    assert data["discounts_forgone"] == 0.0 and data["supplier_price_passthrough"] == 30.0
    assert data["net_benefit"] == 54.0 and data["suppliers_at_risk"] == 1
    assert data["suppliers_over_legal_max"] == 1
    assert data["net_benefit_without_legal_breaches"] == 0.0


def test_command_line_refuses_a_bad_filter_in_one_sentence(store):
    out = subprocess.run(
        [sys.executable, "-m", "kpi", "terms-sim", "--days", "90", "--where",
         "1=1; DROP TABLE suppliers", "--db", str(store.path)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("Error:") and "Traceback" not in out.stderr
