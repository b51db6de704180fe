"""Budget rules of issue 14 on a hand fixture: one budget rate per currency and fiscal year,
invoices relieving the order they name, commitments in the promised month, accruals.

Reporting currency EUR, fiscal year = calendar year. USD rates (EUR per USD): 0.88 on
2025-12-01, 0.90 on 2026-01-01 (the first rate of FY2026: the default budget rate), 0.95 from
2026-03-01 (the move).

- CC-US (Services): budget 2026-03 1,000.00 USD. Invoice U1 2026-03-10, 1,000.00 USD, no
  item, on order PU1 (one line, item X, 10 x 100.00 = 1,000.00 USD, status still open,
  10 received on 2026-03-15).
- CC-EU (Parts): budgets 600.00 EUR in 2026-03, 04, 05 and 1,000.00 in 2026-06.
  PE2 (ordered 2026-03-05, nothing received or invoiced): line 1 10 x 50.00 = 500.00
  promised 2026-05-20; line 2 5 x 20.00 = 100.00 with no promised date.
  PE3 (ordered 2026-04-02, promised 2026-04-30): two lines of 10 x 30.00 = 300.00; line 1
  received 10 on 2026-04-20, line 2 received 4 on 2026-04-25; invoice E3 2026-04-28,
  200.00 EUR, no item.
  PE4 (ordered 2026-06-01, promised 2026-06-15): one line 1 x 950.00 EUR, received
  2026-06-10; invoice U4 2026-06-12, 1,000.00 USD, item Y (not the order's).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from kpi.analyses import spend as sp
from kpi.core.scope import Scope
from kpi.core.settings import Settings, SettingsError, load_settings, parse_budget_rates
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import compute
from kpi.store.database import Store

COLUMNS = {
    "suppliers": ("supplier_id", "supplier_name"),
    "items": ("item_id", "description", "category"),
    "fx_rates": ("date", "currency", "rate"),
    "budgets": ("period", "cost_centre", "category", "amount", "currency"),
    "purchase_orders": (
        "po_id", "po_line", "po_date", "supplier_id", "item_id", "category", "cost_centre",
        "quantity", "unit_price", "amount", "currency", "promised_date", "status",
    ),
    "goods_receipts": ("po_id", "po_line", "receipt_date", "quantity"),
    "invoices": (
        "invoice_id", "invoice_line", "supplier_id", "po_id", "invoice_date", "item_id",
        "category", "cost_centre", "amount", "currency",
    ),
}  # fmt: skip

ROWS = {
    "suppliers": [("S", "Supplier")],
    "items": [("X", "Service hours", "Services"), ("Y", "Spare part", "Parts")],
    "fx_rates": [
        ("2025-12-01", "USD", 0.88),
        ("2026-01-01", "USD", 0.90),
        ("2026-03-01", "USD", 0.95),
    ],
    "budgets": [
        ("2026-03", "CC-US", "Services", 1000.00, "USD"),
        *[(f"2026-{m:02d}", "CC-EU", "Parts", 600.00, "EUR") for m in (3, 4, 5)],
        ("2026-06", "CC-EU", "Parts", 1000.00, "EUR"),
    ],
    "purchase_orders": [
        ("PU1", 1, "2026-03-01", "S", "X", "Services", "CC-US", 10, 100.00, 1000.00, "USD",
         "2026-03-20", "open"),
        ("PE2", 1, "2026-03-05", "S", "Y", "Parts", "CC-EU", 10, 50.00, 500.00, "EUR",
         "2026-05-20", "open"),
        ("PE2", 2, "2026-03-05", "S", "Y", "Parts", "CC-EU", 5, 20.00, 100.00, "EUR",
         None, "open"),
        ("PE3", 1, "2026-04-02", "S", "Y", "Parts", "CC-EU", 10, 30.00, 300.00, "EUR",
         "2026-04-30", "partially_received"),
        ("PE3", 2, "2026-04-02", "S", "Y", "Parts", "CC-EU", 10, 30.00, 300.00, "EUR",
         "2026-04-30", "partially_received"),
        ("PE4", 1, "2026-06-01", "S", "X", "Parts", "CC-EU", 1, 950.00, 950.00, "EUR",
         "2026-06-15", "received"),
    ],
    "goods_receipts": [
        ("PU1", 1, "2026-03-15", 10),
        ("PE3", 1, "2026-04-20", 10),
        ("PE3", 2, "2026-04-25", 4),
        ("PE4", 1, "2026-06-10", 1),
    ],
    "invoices": [
        ("U1", 1, "S", "PU1", "2026-03-10", None, "Services", "CC-US", 1000.00, "USD"),
        ("E3", 1, "S", "PE3", "2026-04-28", None, "Parts", "CC-EU", 200.00, "EUR"),
        ("U4", 1, "S", "PE4", "2026-06-12", "Y", "Parts", "CC-EU", 1000.00, "USD"),
    ],
}  # fmt: skip

FY2026 = (date(2026, 1, 1), date(2026, 12, 31))


def _build(path: Path, settings: Settings) -> Store:
    store = Store(path, settings)
    with store.write(fresh=True) as con:
        for table, rows in ROWS.items():
            names = ", ".join(COLUMNS[table])
            marks = ", ".join("?" for _ in COLUMNS[table])
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    # no budget_rates setting: the first USD rate of FY2026, 0.90, is the budget rate
    return _build(tmp_path_factory.mktemp("budgets") / "kpi.duckdb", Settings())


def _months(store: Store, currency: str | None = None) -> dict:
    """budget_vs_actual per (month, cost centre): every amount column."""
    with store.read(display_currency=currency) as con:
        rows = con.execute(
            "SELECT strftime(month_start, '%Y-%m'), cost_centre, budget_amount, actual_amount,"
            " committed_amount, fx_variance, accrued_amount FROM budget_vs_actual"
        ).fetchall()
    keys = ("budget", "actual", "committed", "fx_variance", "accrued")
    return {(m, cc): dict(zip(keys, values, strict=True)) for m, cc, *values in rows}


def _kpis(store: Store, by: str = "cost_centre", currency: str | None = None) -> dict:
    ids = ("budget_utilisation", "committed_budget_utilisation")
    defs = [k for k in load_definitions(None, store.settings) if k.id in ids]
    frame = compute(store, defs, "quarter", [by], *FY2026, currency=currency).frame
    return {(r["kpi"], r["period"], r[by]): r["value"] for r in frame.iter_rows(named=True)}


# ---- one budget rate per currency and fiscal year ----------------------------------------------


def test_usd_cost_centre_that_spent_its_usd_budget_shows_100_percent(store):
    march = _months(store)[("2026-03", "CC-US")]
    # budget 1,000 USD x 0.90 (first FY2026 rate) = 900.00 EUR; actual 1,000 USD x 0.90 =
    # 900.00 EUR at the same budget rate, although the invoice's day rate was 0.95
    assert (march["budget"], march["actual"]) == (D("900.00"), D("900.00"))
    # exchange-rate variance: 1,000 x 0.95 = 950.00 at the day rate - 900.00 = 50.00
    assert march["fx_variance"] == D("50.00")
    v = _kpis(store)
    # 900 / 900 = 100 %, not 950 / 900 = 105.6 %
    assert v[("budget_utilisation", "FY2026-Q1", "CC-US")] == pytest.approx(1.0)
    # the invoice (no item) relieves PU1 entirely: (900 + 0 + 0) / 900 = 100 %, not 200 %
    assert v[("committed_budget_utilisation", "FY2026-Q1", "CC-US")] == pytest.approx(1.0)


def test_budget_rate_from_settings_overrides_the_first_rate(tmp_path):
    rates = parse_budget_rates({"FY2026": {"USD": 0.92}}, "EUR")
    store = _build(tmp_path / "kpi.duckdb", Settings(budget_rates=rates))
    march = _months(store)[("2026-03", "CC-US")]
    # 1,000 x 0.92 = 920.00 for both; variance 950.00 - 920.00 = 30.00
    assert (march["budget"], march["actual"], march["fx_variance"]) == (
        D("920.00"),
        D("920.00"),
        D("30.00"),
    )


def test_in_the_budget_currency_itself_the_usd_figures_are_the_usd_amounts(store):
    # display USD: USD figures are not converted (budget 1,000.00, actual 1,000.00) and the
    # invoice in USD has no exchange-rate variance seen from USD (1,000.00 - 1,000.00 = 0)
    march = _months(store, "USD")[("2026-03", "CC-US")]
    assert (march["budget"], march["actual"], march["fx_variance"]) == (
        D("1000.00"),
        D("1000.00"),
        D("0.00"),
    )
    # EUR figures go to USD at the budget rates of FY2026: CC-EU's March budget 600.00 EUR
    # / 0.90 EUR per USD = 666.67 USD (factor 1 / 0.90 = 1.11111111: 666.666666 -> 666.67)
    assert _months(store, "USD")[("2026-03", "CC-EU")]["budget"] == D("666.67")
    assert _kpis(store, currency="USD")[
        ("budget_utilisation", "FY2026-Q1", "CC-US")
    ] == pytest.approx(1.0)


# ---- invoices relieve their order; commitments in the promised month; accruals ---------------


def test_commitment_falls_in_the_promised_month_else_the_order_month(store):
    m = _months(store)
    # PE2 line 1 (500.00, promised 2026-05-20) in May, not in March when it was ordered;
    # line 2 (100.00, no promised date) in March, the order's month
    assert m[("2026-05", "CC-EU")]["committed"] == D("500.00")
    assert m[("2026-03", "CC-EU")]["committed"] == D("100.00")


def test_received_not_invoiced_is_accrued_and_not_committed_as_well(store):
    april = _months(store)[("2026-04", "CC-EU")]
    # PE3: E3 (200.00, no item) fills line 1 first: line 1 invoiced 200, line 2 nothing.
    # line 1: received 10 x 30 = 300 -> accrued 300 - 200 = 100, committed 300 - 300 = 0
    # line 2: received 4 x 30 = 120 -> accrued 120, committed 300 - 120 = 180
    assert april["actual"] == D("200.00")
    assert april["accrued"] == D("220.00")
    assert april["committed"] == D("180.00")
    # each euro of the order once: 200 + 220 + 180 = 600 = 2 x 300
    assert april["actual"] + april["accrued"] + april["committed"] == D("600.00")


def test_an_invoice_in_another_currency_relieves_its_order_at_the_budget_rate(store):
    june = _months(store)[("2026-06", "CC-EU")]
    # U4: 1,000 USD on the EUR order PE4, item Y (the order's is X): 1,000 x 0.90 = 900.00
    # EUR billed; received 1 x 950 = 950 -> accrued 950 - 900 = 50.00, committed 0
    assert (june["actual"], june["accrued"], june["committed"]) == (
        D("900.00"),
        D("50.00"),
        D("0.00"),
    )
    # the day rate 0.95 makes the invoice 950.00: variance 950 - 900 = 50.00
    assert june["fx_variance"] == D("50.00")


def test_committed_budget_utilisation_counts_actual_accrued_committed(store):
    v = _kpis(store)
    # CC-EU Q1: March budget 600; committed 100 (PE2 line 2) -> 100 / 600
    assert v[("committed_budget_utilisation", "FY2026-Q1", "CC-EU")] == pytest.approx(100 / 600)
    # Q2: budget 600 + 600 + 1,000 = 2,200; actual 200 + 900 = 1,100; accrued 220 + 50 = 270;
    # committed 180 (April) + 500 (May) = 680 -> 2,050 / 2,200
    assert v[("committed_budget_utilisation", "FY2026-Q2", "CC-EU")] == pytest.approx(2050 / 2200)
    assert v[("budget_utilisation", "FY2026-Q2", "CC-EU")] == pytest.approx(1100 / 2200)


def test_budget_status_shows_accrued_and_fx_variance_with_the_kpis_ratios(store):
    year = sp.budget_year(store, "FY2026")
    status = sp.budget_status(store, Scope(), year)
    eu = status.filter(status["cost_centre"] == "CC-EU").row(0, named=True)
    # budget 600 x 3 + 1,000 = 2,800; actual 1,100; accrued 270; committed 100 + 680 = 780
    assert (eu["budget_year"], eu["actual"], eu["accrued"], eu["committed"]) == (
        D("2800.00"),
        D("1100.00"),
        D("270.00"),
        D("780.00"),
    )
    assert eu["actual_and_committed"] == D("2150.00")  # 1,100 + 270 + 780
    assert eu["fx_variance"] == D("50.00")  # U4 only
    # the engine's committed_budget_utilisation over the year: 2,150 / 2,800
    assert eu["committed_utilisation"] == pytest.approx(2150 / 2800)
    # latest invoice 2026-06-12: budget to date (to June) 2,800; used 1,100 / 2,800
    assert eu["used_to_date"] == pytest.approx(1100 / 2800)
    us = status.filter(status["cost_centre"] == "CC-US").row(0, named=True)
    assert (us["used_to_date"], us["committed_utilisation"]) == (
        pytest.approx(1.0),
        pytest.approx(1.0),
    )
    monthly = {r["month"]: r for r in sp.budget_monthly(store, Scope(), year).iter_rows(named=True)}
    # March: fx variance of U1, 50.00; June: of U4, 50.00; accrued April 220 + June 50
    assert (monthly["2026-03"]["fx_variance"], monthly["2026-06"]["accrued"]) == (
        D("50.00"),
        D("50.00"),
    )


# ---- the setting ------------------------------------------------------------------------------


def test_budget_rates_setting_is_read_and_refused_by_name(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("budget_rates:\n  FY2026: {USD: 0.92, gbp: 1.17}\n", encoding="utf-8")
    assert load_settings(path).budget_rates == ((2026, "GBP", D("1.17")), (2026, "USD", D("0.92")))
    with pytest.raises(SettingsError, match=r"budget_rates\.2026 must be a fiscal year"):
        parse_budget_rates({2026: {"USD": 0.9}}, "EUR")
    with pytest.raises(SettingsError, match=r"FY2026\.USD must be a positive number"):
        parse_budget_rates({"FY2026": {"USD": 0}}, "EUR")
    with pytest.raises(SettingsError, match=r"FY2026\.EUR is the reporting currency"):
        parse_budget_rates({"FY2026": {"EUR": 1}}, "EUR")
    assert Settings().budget_rates == ()  # absent: the first rate of each fiscal year
