"""Payment behaviour on tests/payments_fixture.py: every figure worked out by hand.

The rules (config/kpis.yaml, README 'Payment terms & cash'): the due date is the invoice's,
else the invoice date plus the supplier's terms in force that day; credit notes (negative
lines) are left out of days to pay, on-time and late rates; the discount offered is the one
in force on the invoice date and the discount counted as taken is at most that; overdue
payables are open lines past their due date on the last data day (2026-06-30 here).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kpi.analyses.terms import PaymentPolicy, simulate_terms
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from tests import payments_fixture

D = Decimal
POLICY = PaymentPolicy(
    target_terms_days=60,
    legal_max_default=None,
    legal_max_by_country={"DE": 60, "FR": 60},
    cost_of_capital=D("0.10"),
    supplier_cost_of_capital={"sme": D("0.12"), "large": D("0.05"), "default": D("0.08")},
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return payments_fixture.build(tmp_path_factory.mktemp("payments") / "kpi.duckdb")


def kpis(store, ids, by=(), grain="month"):
    """{(kpi, period, *by values): value} from the engine."""
    defs = engine.select_definitions(load_definitions(), ids)
    frame = engine.compute(store, defs, grain, by=list(by)).frame
    return {(r["kpi"], r["period"], *(r[d] for d in by)): r["value"] for r in frame.to_dicts()}


def line(store, invoice_id, *columns):
    with store.read() as con:
        rows = con.execute(
            "SELECT " + ", ".join(columns) + " FROM payments WHERE invoice_id = ?", [invoice_id]
        ).fetchall()
    return rows[0]


def test_credit_notes_leave_days_to_pay(store):
    got = kpis(store, ["days_to_pay"], by=["supplier"])
    # P1 in 2026-02: C1 10,000 x 30 d; the credit C2 -9,000 x 60 d is left out -> 30.
    # (With the credit as a weight: (300,000 - 540,000) / 1,000 = -240.)
    assert got[("days_to_pay", "2026-02", "Credit Co")] == pytest.approx(30.0)
    company = kpis(store, ["days_to_pay"])
    # all of 2026-02: C1 10,000 x 30 + D1 1,000 x 40 + D2 3,000 x 21 + E1 1,000 x 8
    # = 411,000 over 15,000 -> 27.4
    assert company[("days_to_pay", "2026-02")] == pytest.approx(27.4)
    # the cash conversion gap reads the same paid lines: C2 is not among them
    with store.read() as con:
        paid = con.execute(
            "SELECT sum(paid_amount) FROM working_capital_days "
            "WHERE on_date BETWEEN DATE '2026-02-01' AND DATE '2026-02-28'"
        ).fetchone()[0]
    assert paid == D("15000.00")  # 10,000 + 1,000 + 3,000 + 1,000
    # the credit note is judged neither on time nor late, and it stays in spend
    assert line(store, "C2", "paid_on_time", "paid_late", "is_credit_note") == (None, None, True)
    defs = engine.select_definitions(load_definitions(), ["total_spend"])
    spend = engine.compute(store, defs, "month", by=["supplier"]).frame.to_dicts()
    dec = [r["value"] for r in spend if r["period"] == "2025-12" and r["supplier"] == "Credit Co"]
    assert dec == [pytest.approx(-9000.0)]


def test_a_missing_due_date_is_the_invoice_date_plus_terms_for_every_kpi(store):
    # D1: invoiced 2026-01-05, no due date, P2's terms 30 d -> due 2026-02-04; paid 02-14
    assert line(store, "D1", "due_date", "effective_due_date", "due_date_from_terms") == (
        None,
        date(2026, 2, 4),
        True,
    )
    assert line(store, "D1", "paid_on_time", "paid_late", "days_late") == (False, True, 10)
    on_time = kpis(store, ["on_time_payment_rate"], by=["supplier"])
    late = kpis(store, ["late_payment_rate_sme"], by=["country"])
    # P2 in 2026-02: D2 3,000 on time, D1 1,000 late -> on time 3,000 / 4,000 = 0.75 and
    # late 1,000 / 4,000 = 0.25: the two rates add up to 1 (before: 0.75 and 0.00)
    assert on_time[("on_time_payment_rate", "2026-02", "Small Parts")] == pytest.approx(0.75)
    assert late[("late_payment_rate_sme", "2026-02", "FR")] == pytest.approx(0.25)
    # P1 in 2026-02: C1 paid on its due date; the credit note is not in the denominator
    assert on_time[("on_time_payment_rate", "2026-02", "Credit Co")] == pytest.approx(1.0)


def test_discount_capture_uses_the_terms_of_the_invoice_date_and_never_exceeds_100(store):
    # E1 (2026-02-02): 1 % in force (history) -> offered 10.00, although today's terms say 2 %;
    # 20.00 taken, counted 10.00 (at most what was offered)
    assert line(store, "E1", "discount_available", "discount_captured") == (D("10.00"), D("20.00"))
    assert line(store, "E1", "discount_captured_counted") == (D("10.00"),)
    # E2, E3 (March): 2 % in force -> offered 20.00 and 40.00
    assert line(store, "E3", "discount_available", "discount_captured_counted") == (
        D("40.00"),
        D("0.00"),
    )
    got = kpis(store, ["discount_capture_rate"])
    # 2026-02: 10.00 / 10.00 = 1.0 (uncapped it would be 20 / 10 = 2.0)
    assert got[("discount_capture_rate", "2026-02")] == pytest.approx(1.0)
    # 2026-03: (20.00 + 0.00) / (20.00 + 40.00) = 1/3
    assert got[("discount_capture_rate", "2026-03")] == pytest.approx(1 / 3)
    # a credit note offers no discount
    assert line(store, "C2", "discount_offered", "discount_available") == (False, D("0.00"))


def test_early_payment_without_discount(store):
    got = kpis(store, ["early_payment_without_discount"])
    # 2026-02: D2 3,000 paid 02-10, due 02-19, no discount offered -> counts; E1 paid early
    # but took its discount; C1 paid on its due date; D1 late -> 3,000.00
    assert got[("early_payment_without_discount", "2026-02")] == pytest.approx(3000.0)
    # 2026-03: E3 2,000 paid 03-30, due 05-04, discount offered but not taken -> counts; E2
    # took its discount -> 2,000.00
    assert got[("early_payment_without_discount", "2026-03")] == pytest.approx(2000.0)
    assert line(store, "E3", "days_early") == (35,)  # 03-30 -> 05-04


def test_overdue_payables_in_ageing_buckets(store):
    got = kpis(store, ["overdue_payables"], by=["ageing_bucket"])
    # open on 2026-06-30 and past due: F1 100 (due 05-31: 30 d), G1 1,000 (due 06-15: 15 d),
    # F2 200 (no due date: 04-01 + 30 = 05-01: 60 d), F4 800 (due 04-19: 72 d), F3 400 (due
    # 03-31: 91 d); F0 is not yet due, F5 is a credit note; paid lines are not open
    assert {k[2]: v for k, v in got.items() if k[2] is not None} == {
        "1-30 days": pytest.approx(1100.0),
        "31-60 days": pytest.approx(200.0),
        "61-90 days": pytest.approx(800.0),
        "over 90 days": pytest.approx(400.0),
    }
    assert {k[1] for k in got} == {"2026-06"}  # shown in the period of the last data day
    total = kpis(store, ["overdue_payables"])
    assert total == {("overdue_payables", "2026-06"): pytest.approx(2500.0)}
    assert line(store, "F2", "days_overdue", "ageing_bucket") == (60, "31-60 days")


def test_simulator_baseline_counts_open_overdue_invoices(store):
    s = simulate_terms(store, 60, policy=POLICY)
    rows = {r["supplier_id"]: r for r in s.suppliers.iter_rows(named=True)}
    # P2: the days_to_pay KPI over 2025-07-01..2026-06-30: D1 1,000 x 40 + D2 3,000 x 21 =
    # 103,000 / 4,000 = 25.75 (25.8 shown); G1 1,000 open 15 days past due, 45 days old
    # (05-16 -> 06-30): (25.75 x 4,000 + 1,000 x 45) / 5,000 = 148,000 / 5,000 = 29.6
    assert rows["P2"]["days_to_pay"] == D("25.8")
    assert (rows["P2"]["today_days"], rows["P2"]["today_basis"]) == (
        D("29.6"),
        "days paid + open overdue",
    )
    # P4: nothing paid; open overdue F1 100 x 60 d + F2 200 x 90 + F3 400 x 121 + F4 800 x
    # 102 = 154,000 over 1,500 = 102.67 -> 102.7 days
    assert (rows["P4"]["today_days"], rows["P4"]["today_basis"]) == (D("102.7"), "open overdue")
    # P4 spend 500 + 100 + 200 + 400 + 800 - 50 = 1,950.00; change 60 - 102.7 = -42.7;
    # cash 1,950 x -42.7 / 365 = -228.12; terms 30 -> 60 add 30 contractual days:
    # pass-through 12 % x 30 / 365 x 1,950 = 19.23, and the SME is flagged
    assert rows["P4"]["cash_released"] == D("-228.12")
    assert rows["P4"]["supplier_price_passthrough"] == D("19.23")
    assert rows["P4"]["risk_flags"] == "SME"
    assert s.window_start == date(2025, 7, 1) and s.window_end == date(2026, 6, 30)


def test_simulator_charges_no_pass_through_on_unchanged_contractual_terms(store):
    s = simulate_terms(store, 60, "supplier_id = 'P3'", policy=POLICY)
    row = s.suppliers.row(0, named=True)
    # P3 is on 60-day terms (history row of 2026-03-01) and paid in E1 1,000 x 8 + E2
    # 1,000 x 8 + E3 2,000 x 25 = 66,000 / 4,000 = 16.5 days. To 60 days: change 43.5;
    # cash 4,000 x 43.5 / 365 = 476.71; value 10 % = 47.67; the 40.00 of discounts taken
    # are lost (60 > 10 discount days); contractual terms unchanged: pass-through 0.00, no
    # risk flag; net 47.67 - 40.00 = 7.67
    assert (row["today_days"], row["days_change"], row["contract_terms_change"]) == (
        D("16.5"),
        D("43.5"),
        D("0.0"),
    )
    assert s.summary["cash_released"] == D("476.71")
    assert s.summary["supplier_price_passthrough"] == D("0.00")
    assert s.summary["discounts_forgone"] == D("40.00")
    assert s.summary["net_benefit"] == D("7.67")
    assert s.summary["suppliers_at_risk"] == 0
    assert "no terms added, no pass-through" in row["why"]


def test_headline_counts_suppliers_over_the_legal_maximum(store):
    s = simulate_terms(store, 90, "supplier_id IN ('P1', 'P3')", policy=POLICY)
    rows = {r["supplier_id"]: r for r in s.suppliers.iter_rows(named=True)}
    # P1 (DE, legal max 60) to 90: over the legal maximum. P1's KPI: C1 10,000 x 30 = 30
    # days (the credit left out); spend 10,000 (C1; C2 invoiced 2025-12-03 is in the year:
    # 10,000 - 9,000 = 1,000.00); cash 1,000 x 60 / 365 = 164.38; value 16.44; terms 30 ->
    # 90: pass-through 5 % x 60 / 365 x 1,000 = 8.22; net 8.22
    assert rows["P1"]["over_legal_max"] and rows["P1"]["net_benefit"] == D("8.22")
    # P3 (NL, no legal max here): change 90 - 16.5 = 73.5; cash 4,000 x 73.5 / 365 = 805.48;
    # value 80.55; discounts 40.00 lost; terms 60 -> 90: pass-through 5 % x 30 / 365 x
    # 4,000 = 16.44; net 80.55 - 40.00 - 16.44 = 24.11
    assert rows["P3"]["net_benefit"] == D("24.11")
    assert s.summary["suppliers_over_legal_max"] == 1
    assert s.summary["net_benefit"] == D("32.33")  # 8.22 + 24.11
    assert s.summary["net_benefit_without_legal_breaches"] == D("24.11")  # P3 alone


def test_the_page_takes_its_monthly_figures_from_the_kpis(store):
    from kpi.analyses.terms import overdue_by_bucket, overdue_lines, payments_by_month
    from kpi.core.scope import Scope

    scope = Scope.of(date(2026, 1, 1), date(2026, 6, 30))
    monthly = {r["period"]: r for r in payments_by_month(store, scope).to_dicts()}
    # 2026-02: days to pay 411,000 / 15,000 = 27.4 and early payment 3,000.00 (as the KPIs);
    # the credit note C2 is not a payment: paid 15,000.00, not 6,000.00
    feb = monthly["2026-02"]
    assert feb["days_to_pay"] == pytest.approx(27.4)
    assert feb["early_payment_without_discount"] == pytest.approx(3000.0)
    assert feb["paid_amount"] == D("15000.00")
    # D1 paid 10 days late to an SME, judged against its derived due date
    assert feb["late_amount_sme"] == D("1000.00")
    # early without discount: D2 3,000 x 9 days (02-10 -> 02-19) -> 9.0
    assert feb["days_early_no_discount"] == pytest.approx(9.0)
    buckets = overdue_by_bucket(store, scope)
    assert dict(zip(buckets["ageing_bucket"], buckets["overdue_amount"], strict=True)) == {
        "1-30 days": pytest.approx(1100.0),
        "31-60 days": pytest.approx(200.0),
        "61-90 days": pytest.approx(800.0),
        "over 90 days": pytest.approx(400.0),
    }
    lines = overdue_lines(store, scope)
    # oldest first: F3 91 d, F4 72, F2 60, F1 30, G1 15
    assert lines["invoice_id"].to_list() == ["F3", "F4", "F2", "F1", "G1"]
    assert lines["amount"].sum() == D("2500.00")


def test_a_store_written_before_supplier_terms_still_reads(tmp_path):
    import duckdb

    store = payments_fixture.build(tmp_path / "old.duckdb")
    con = duckdb.connect(str(store.path))
    con.execute("DROP TABLE supplier_terms")  # as a store built before the table existed
    con.close()
    # without the history, E1 is judged on today's terms (2 %): offered 20.00, all counted
    assert line(store, "E1", "discount_available", "discount_captured_counted") == (
        D("20.00"),
        D("20.00"),
    )
