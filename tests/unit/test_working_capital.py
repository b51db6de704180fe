"""Payment terms & cash and inventory figures on tests/wc_fixture.py, worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kpi.analyses.inventory import INVENTORY_FILTERS, items_to_question, stock_by_snapshot
from kpi.analyses.terms import (
    PaymentPolicy,
    PolicyError,
    load_policy,
    payments_by_month,
    policy_breaches,
    terms_by_segment,
)
from kpi.core.scope import Scope, ScopeError
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from tests import wc_fixture

D = Decimal
H1 = (date(2026, 1, 1), date(2026, 6, 30))
H1_SCOPE = Scope.of(*H1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return wc_fixture.build(tmp_path_factory.mktemp("wc") / "kpi.duckdb")


# ---- payment terms & cash -----------------------------------------------------------------
def test_terms_by_supplier_size(store):
    rows = terms_by_segment(store, H1_SCOPE, "supplier_size").to_dicts()
    # large: V1, V2 (A1, 3650 each, 20 days, terms 60) and V6 (A3, 7300, 90 days, terms 90)
    #   days to pay (7300 x 20 + 7300 x 90) / 14600 = 55.0; terms (7300 x 60 + 7300 x 90)
    #   / 14600 = 75.0
    # sme: V3 (1000, 8 days) and V4 (2000, 45 days), terms 30: 98000 / 3000 = 32.67 -> 32.7
    assert [
        (r["segment"], r["suppliers"], r["paid_amount"], r["days_to_pay"], r["contract_terms_days"])
        for r in rows
    ] == [("large", 2, D("14600.00"), 55.0, 75.0), ("sme", 1, D("3000.00"), 32.7, 30.0)]
    assert [r["invoice_terms_days"] for r in rows] == [75.0, 30.0]


def test_terms_by_preferred_and_a_bad_segment(store):
    rows = terms_by_segment(store, H1_SCOPE, "preferred").to_dicts()
    # preferred: A1 only (7300, 20 days); not preferred: V3, V4, V6 = 10300
    assert [(r["segment"], r["paid_amount"]) for r in rows] == [
        ("false", D("10300.00")),
        ("true", D("7300.00")),
    ]
    with pytest.raises(ValueError, match="cannot split"):
        terms_by_segment(store, H1_SCOPE, "supplier_name; DROP TABLE x")


def test_payments_by_month(store):
    months = {r["period"]: r for r in payments_by_month(store, H1_SCOPE).to_dicts()}
    assert list(months) == ["2026-01", "2026-02", "2026-04", "2026-06"]
    # February: V3 paid in 8 days; 2 % of 1000 = 20.00 offered and taken, none missed
    feb = months["2026-02"]
    assert (feb["days_to_pay"], feb["discounts_offered"], feb["discounts_taken"]) == (
        8.0,
        D("20.00"),
        D("20.00"),
    )
    assert feb["discounts_missed"] == D("0.00")
    # April: V2 (A1 3650, 20 days) and V4 (A2 2000, 45 days, 15 days late, SME):
    #   days (3650 x 20 + 2000 x 45) / 5650 = 163000 / 5650 = 28.85 -> 28.8
    #   late to SMEs 2000.00 on 1 invoice, none to others; discount 2 % of 2000 = 40.00
    #   offered and missed
    apr = months["2026-04"]
    assert apr["days_to_pay"] == 28.8 and apr["paid_amount"] == D("5650.00")
    assert (apr["late_amount_sme"], apr["late_invoices_sme"]) == (D("2000.00"), 1)
    assert (apr["late_amount_other"], apr["late_invoices_other"]) == (D("0.00"), 0)
    assert (apr["discounts_offered"], apr["discounts_missed"]) == (D("40.00"), D("40.00"))
    # June: V6 paid on its due date, not late
    assert months["2026-06"]["late_amount_other"] == D("0.00")
    assert months["2026-06"]["contract_terms_days"] == 90.0


def test_payments_filtered_by_category(store):
    months = payments_by_month(store, Scope.of(*H1, {"category": ["MRO spares"]})).to_dicts()
    # MRO spares: only A2's V3 (Feb) and V4 (Apr)
    assert [(m["period"], m["paid_amount"]) for m in months] == [
        ("2026-02", D("1000.00")),
        ("2026-04", D("2000.00")),
    ]


def test_policy_breaches(store):
    policy = PaymentPolicy(60, None, {"DE": 60, "FR": 60})
    rows = policy_breaches(store, H1_SCOPE, policy).to_dicts()
    # A3 (US, no legal maximum): 90 > target 60; A4 (DE): 75 > legal 60; A1 60 and A2 30 keep it
    assert [(r["supplier_id"], r["breach"], r["legal_max_days"]) for r in rows] == [
        ("A3", "over target terms", None),
        ("A4", "over the legal maximum", 60),
    ]
    assert rows[0]["paid_amount"] == D("7300.00") and rows[0]["days_to_pay"] == 90.0


# ---- the payment policy file --------------------------------------------------------------
def test_the_shipped_policy_reads():
    policy = load_policy()
    assert policy.legal_max("de") == 60 and policy.legal_max("US") is None
    assert policy.supplier_rate("sme") == D("0.10") and policy.supplier_rate(None) == D("0.08")
    assert policy.cost_of_capital == D("0.06")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cost_of_capital: 6\n", "cost_of_capital must be a yearly rate"),
        ("target_terms_days: -5\n", "target_terms_days must be a positive"),
        ("legal_max_days: {countries: {DE: sixty}}\n", "legal_max_days.countries.DE"),
        ("supplier_cost_of_capital: {sme: abc}\n", "supplier_cost_of_capital.sme"),
        ("cost_of_capital: [\n", "not valid YAML"),
    ],
)
def test_a_bad_policy_is_refused_by_name(tmp_path: Path, text, says):
    path = tmp_path / "payment_policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=says):
        load_policy(path)


def test_a_missing_policy_means_the_defaults(tmp_path: Path):
    assert load_policy(tmp_path / "none.yaml") == PaymentPolicy()


# ---- inventory ------------------------------------------------------------------------------
def test_stock_split_into_classes(store):
    rows = stock_by_snapshot(store, H1_SCOPE).to_dicts()
    # 2026-03-31 (obsolete after 180 days without issue, config/settings.yaml):
    #   I1 300 @ 2.00: safety 50 (100.00), above max 200 -> excess 100 (200.00), cycle 150
    #      (300.00); issued 900 in 90 days -> 20.00 a day
    #   I2 4 @ 500.00, safety 5: all 4 are safety stock (2000.00), idle 440 days but not
    #      obsolete (not above safety)
    #   I3 10 @ 3.00, no safety level, idle 303 days -> obsolete (30.00)
    #   total 2630.00; days 2630 / 20 = 131.5; turns 365 / 131.5 = 2.78
    # 2026-06-30: I1 150 -> safety 100.00, cycle 200.00; issued 2700 -> 60.00 a day;
    #   I2, I3 as before; total 2330.00; days 2330 / 60 = 38.83 -> 38.8; turns 9.40
    got = [
        (r["period"], r["safety"], r["cycle"], r["excess"], r["obsolete"], r["stock_value"])
        for r in rows
    ]
    assert got == [
        ("2026-03-31", D("2100.00"), D("300.00"), D("200.00"), D("30.00"), D("2630.00")),
        ("2026-06-30", D("2100.00"), D("200.00"), D("0.00"), D("30.00"), D("2330.00")),
    ]
    assert [(r["days_inventory"], r["turns"]) for r in rows] == [(131.5, 2.78), (38.8, 9.4)]


def test_stock_refuses_a_cost_centre_rather_than_dropping_it(store):
    # stock has a category but no cost centre: the filter is refused, never dropped
    by_cc = Scope.of(*H1, {"cost_centre": ["CC-M"], "category": ["MRO spares"]})
    with pytest.raises(ScopeError, match="cannot filter on cost_centre"):
        stock_by_snapshot(store, by_cc)
    with pytest.raises(ScopeError, match="cannot filter on cost_centre"):
        items_to_question(store, by_cc)
    only = by_cc.only(INVENTORY_FILTERS)
    assert only.as_dict() == {"category": ["MRO spares"]}
    assert stock_by_snapshot(store, only).height > 0


def test_items_finance_would_question_with_procurements_reasons(store):
    rows = items_to_question(store, H1_SCOPE).to_dicts()
    # last snapshot 2026-06-30: I2 idle 531 days (2025-01-15 -> 2026-06-30), all 2000.00
    # questioned, but held as safety stock; I3 idle 394 days and obsolete (30.00); I1 moves
    # and is within max: not listed
    assert [(r["item_id"], r["value_questioned"]) for r in rows] == [
        ("I2", D("2000.00")),
        ("I3", D("30.00")),
    ]
    assert rows[0]["finance_question"] == "No issue for 531 days"
    assert rows[0]["procurement_reason"] == (
        "safety level 5 units; lead time 120 days; criticality high; max 6 units"
    )
    assert rows[1]["finance_question"] == "No issue for 394 days: obsolete?"
    assert rows[1]["procurement_reason"].startswith("no safety level set; lead time 5 days")


def test_stock_above_max_is_questioned(store):
    rows = items_to_question(store, Scope.of(date(2026, 1, 1), date(2026, 3, 31))).to_dicts()
    # 2026-03-31: I1 300 on hand, max 200: 100 units (200.00) above max
    i1 = next(r for r in rows if r["item_id"] == "I1")
    assert i1["finance_question"] == "100 units above the max of 200"
    assert i1["value_questioned"] == D("200.00")


# ---- the working-capital KPIs ---------------------------------------------------------------
KPIS = [
    "discount_capture_rate",
    "late_payment_rate_sme",
    "days_inventory",
    "excess_inventory_value",
    "safety_stock_value",
    "cash_conversion_gap",
    "days_to_pay",
]


def test_working_capital_kpis_by_quarter(store):
    defs = engine.select_definitions(load_definitions(), KPIS)
    frame = engine.compute(store, defs, "quarter", start=H1[0], end=H1[1]).frame
    got = {(r["kpi"], r["period"]): r["value"] for r in frame.to_dicts()}
    # Q1 (paid Jan-Mar: V1 3650 x 20 d, V3 1000 x 8 d; snapshot 03-31)
    assert got[("discount_capture_rate", "FY2026-Q1")] == pytest.approx(1.0)  # 20 / 20
    assert got[("late_payment_rate_sme", "FY2026-Q1")] == pytest.approx(0.0)  # V3 on time
    assert got[("days_inventory", "FY2026-Q1")] == pytest.approx(131.5)  # 2630 / 20
    assert got[("excess_inventory_value", "FY2026-Q1")] == pytest.approx(200.0)
    assert got[("safety_stock_value", "FY2026-Q1")] == pytest.approx(2100.0)
    # days to pay (73000 + 8000) / 4650 = 17.4194; gap 131.5 - 17.4194 = 114.0806
    assert got[("cash_conversion_gap", "FY2026-Q1")] == pytest.approx(131.5 - 81000 / 4650)
    # Q2 (paid Apr-Jun: V2 3650 x 20, V4 2000 x 45 late, V6 7300 x 90; snapshot 06-30)
    assert got[("discount_capture_rate", "FY2026-Q2")] == pytest.approx(0.0)  # 0 / 40
    assert got[("late_payment_rate_sme", "FY2026-Q2")] == pytest.approx(1.0)  # 2000 / 2000
    assert got[("days_inventory", "FY2026-Q2")] == pytest.approx(2330 / 60)  # 38.83
    assert got[("excess_inventory_value", "FY2026-Q2")] == pytest.approx(0.0)
    # days to pay (73000 + 90000 + 657000) / 12950 = 63.3205; gap 38.8333 - 63.3205 = -24.49
    assert got[("days_to_pay", "FY2026-Q2")] == pytest.approx(820000 / 12950)
    assert got[("cash_conversion_gap", "FY2026-Q2")] == pytest.approx(2330 / 60 - 820000 / 12950)


def test_cash_conversion_gap_by_category(store):
    defs = engine.select_definitions(load_definitions(), ["cash_conversion_gap"])
    frame = engine.compute(store, defs, "quarter", by=["category"], start=H1[0], end=H1[1])
    got = {(r["period"], r["category"]): r["value"] for r in frame.frame.to_dicts()}
    # Packaging Q1: stock I1 600.00 / 20.00 a day = 30 days; paid V1 in 20 days -> 10
    assert got[("FY2026-Q1", "Packaging")] == pytest.approx(10.0)
    # MRO spares: no issue at all, so days of inventory (and the gap) has no value
    assert got[("FY2026-Q1", "MRO spares")] is None


# ---- the demo's planted stories -------------------------------------------------------------
def test_the_demo_stories_show(tmp_path: Path, demo_copy):
    from kpi.analyses.terms import simulate_terms
    from kpi.store.database import Store

    db = demo_copy(0.1, tmp_path / "demo.duckdb")  # seed 7, built once per run
    store = Store(db)
    # story 2: large preferred suppliers on 60-day terms are paid in about 20 days, so
    # paying them on their own terms already releases cash, with no days added beyond terms
    fast = simulate_terms(store, 60, "size = 'large' and preferred and payment_terms_days = 60")
    assert fast.summary["suppliers_affected"] > 0 and fast.summary["cash_released"] > 0
    paid_in = fast.suppliers["today_days"].cast(float)
    assert 15 <= paid_in.median() <= 25
    # their contractual terms stay at 60 days: no price pass-through, no supplier flagged
    # for added days (pass-through follows the contractual terms, not the days paid)
    assert fast.summary["supplier_price_passthrough"] == 0
    assert (
        fast.suppliers["contract_terms_change"].cast(float).to_list()
        == [0.0] * fast.suppliers.height
    )
    # story 3: critical MRO spares idle for over 180 days but within safety stock are
    # questioned by finance, with procurement's safety level beside them, and not obsolete
    rows = items_to_question(store, Scope.of(date(2026, 1, 1), date(2026, 9, 30)))
    spares = rows.filter(
        (rows["category"] == "MRO spares")
        & (rows["criticality"] == "critical")  # the demo's spares became 'critical' in issue 14
        & (rows["obsolete_value"] == 0)
    )
    assert spares.height > 0
    assert spares["procurement_reason"].str.starts_with("safety level").all()
    assert (spares["days_since_issue"] > 180).all()
