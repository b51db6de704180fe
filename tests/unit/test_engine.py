"""Engine values against figures worked out by hand on tests/hand_fixture.py.

Q1 = January–March 2026 (FY2026-Q1 with a January fiscal year), Q2 = April–June 2026.
USD converts at 0.9 EUR from 2026-01-01 and 0.8 EUR from 2026-04-01.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from kpi.core.settings import FiscalCalendar, Settings
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return hand_fixture.build(tmp_path_factory.mktemp("hand") / "kpi.duckdb")


@pytest.fixture(scope="module")
def definitions():
    return load_definitions(ROOT / "config" / "kpis.yaml")


def values(store, definitions, ids, grain="quarter", by=(), **kw) -> dict:
    chosen = engine.select_definitions(definitions, ids)
    frame = engine.compute(store, chosen, grain, by, **kw).frame
    return {
        tuple(r[c] for c in ("kpi", "period", *by)): r["value"] for r in frame.iter_rows(named=True)
    }


# (kpi, period, expected, how it is worked out)
EXPECTED = [
    ("total_spend", "FY2026-Q1", 2550.00, "1050 + 100 + 1000 USD x 0.9 + 500"),
    ("total_spend", "FY2026-Q2", 800.00, "1000 USD x 0.8"),
    ("po_compliance", "FY2026-Q1", 1650 / 2550, "INV2 has no PO"),
    ("po_compliance", "FY2026-Q2", 1.0, "INV3 carries PO2"),
    ("maverick_spend_rate", "FY2026-Q1", 900 / 2550, "1 - po_compliance"),
    ("on_time_payment_rate", "FY2026-Q1", 1.0, "INV1 paid 02-05 <= 02-09, INV4 paid early"),
    ("on_time_payment_rate", "FY2026-Q2", 0.0, "INV2 paid 04-20 > due 04-16; INV3 unpaid"),
    ("days_to_pay", "FY2026-Q1", (1050 * 26 + 100 * 26 + 500 * 8) / 1650, "26, 26 and 8 days"),
    ("days_to_pay", "FY2026-Q2", 64.0, "2026-02-15 to 2026-04-20"),
    ("supplier_otd", "FY2026-Q1", 2 / 3, "PO1 last receipt 01-09 > promised 01-08"),
    ("budget_utilisation", "FY2026-Q1", 2550 / 2600, "budgets 1000 + 1000 + 600"),
    ("spend_under_management", "FY2026-Q1", 1650 / 2550, "S1 is preferred, S2 not"),
    ("purchase_price_variance", "FY2026-Q1", 50.00, "(10.50 - 10.00) x 100 on INV1/1"),
    ("discount_capture_rate", "FY2026-Q1", 10 / 33, "2 % offered on 1050, 100, 500; 10 taken"),
    ("late_payment_rate_sme", "FY2026-Q2", 1.0, "S2 is an SME, INV2 paid late"),
    ("savings_realised", "FY2026-Q1", 110.00, "(11 - 10.5) x 100 + (11 - 10) x 10 + 1 x 50"),
    ("savings_recognised", "FY2026-Q1", 110.00, "SI1 accepted"),
    ("cost_avoidance", "FY2026-Q1", 90.00, "(1100 - 1000) x 1 x 0.9"),
    ("cost_avoidance", "FY2026-Q2", 960.00, "(1100 - 500) x 2 x 0.8"),
    # accepted / (accepted + rejected): SI1's 110 accepted, SI2's 90 pending is in neither
    # (the rule before issue 14 counted pending as refused: 110 / 200)
    ("savings_acceptance_rate", "FY2026-Q1", 110 / 110, "accepted 110, rejected 0, 90 pending"),
    ("safety_stock_value", "FY2026-Q1", 900.00, "(500 + 400 + 500 + 400) / 2 snapshots"),
    ("excess_inventory_value", "FY2026-Q1", 500.00, "I1 100 above max in January / 2"),
    ("days_inventory", "FY2026-Q1", 4800 / 30, "stock 4800 / usage per day 10 + 20"),
    ("po_cycle_time_days", "FY2026-Q1", 3.0, "approval in 2, 6 and 1 days"),
]


@pytest.mark.parametrize(
    "kpi,period,expected,why", EXPECTED, ids=[f"{e[0]}-{e[1]}" for e in EXPECTED]
)
def test_kpi_value_by_hand(store, definitions, kpi, period, expected, why):
    got = values(store, definitions, [kpi])
    assert got[(kpi, period)] == pytest.approx(expected, abs=1e-9), why


def test_month_grain_and_split_by_category(store, definitions):
    got = values(store, definitions, ["total_spend"], grain="month", by=("category",))
    assert got[("total_spend", "2026-01", "Packaging")] == pytest.approx(1150.00)
    assert got[("total_spend", "2026-02", "IT hardware")] == pytest.approx(900.00)
    assert got[("total_spend", "2026-03", "Packaging")] == pytest.approx(500.00)
    assert ("total_spend", "2026-01", "IT hardware") not in got


def test_year_grain_sums_the_quarters(store, definitions):
    got = values(store, definitions, ["total_spend"], grain="year")
    assert got == {("total_spend", "FY2026"): pytest.approx(3350.00)}


def test_filters_and_date_bounds(store, definitions):
    got = values(
        store,
        definitions,
        ["total_spend"],
        grain="month",
        start=date(2026, 1, 1),
        end=date(2026, 2, 28),
        filters={"cost_centre": ["CC2"]},
    )
    assert got == {("total_spend", "2026-02"): pytest.approx(900.00)}


def test_fiscal_year_starting_in_april(tmp_path):
    settings = Settings(fiscal=FiscalCalendar(year_start_month=4, label_year="end"))
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    store = Store(store.path, settings)
    defs = load_definitions(ROOT / "config" / "kpis.yaml", settings)
    got = values(store, defs, ["total_spend"])
    # January-March 2026 closes the fiscal year that began in April 2025: FY2026-Q4.
    assert got == {
        ("total_spend", "FY2026-Q4"): pytest.approx(2550.00),
        ("total_spend", "FY2027-Q1"): pytest.approx(800.00),
    }


def test_reporting_currency_switch_to_usd(store, definitions):
    got = values(store, definitions, ["total_spend"], grain="month", currency="USD")
    # EUR lines convert at 1 / 0.9 = 1.11111111 USD; the USD line stays as it is.
    assert got[("total_spend", "2026-01")] == pytest.approx(
        round(1050 * 1.11111111, 2) + round(100 * 1.11111111, 2)
    )
    assert got[("total_spend", "2026-02")] == pytest.approx(1000.00)


def test_totals_reconcile_to_the_cent(store):
    with store.read() as con:
        spend, raw = con.execute(
            "SELECT (SELECT sum(amount) FROM spend WHERE source_currency = 'EUR'),"
            " (SELECT sum(amount) FROM invoices WHERE currency = 'EUR')"
        ).fetchone()
    assert spend == raw


def test_kpis_sharing_a_view_run_in_one_query(store, definitions, monkeypatch):
    seen = []
    real = engine.compiler.kpi_query

    def spy(view, *args, **kw):
        seen.append(view)
        return real(view, *args, **kw)

    monkeypatch.setattr(engine.compiler, "kpi_query", spy)
    values(store, definitions, ["total_spend", "po_compliance", "maverick_spend_rate"])
    assert seen == ["spend"]


def test_unknown_kpi_is_refused_by_name(definitions):
    with pytest.raises(engine.ComputeError, match="unknown KPI 'nope'"):
        engine.select_definitions(definitions, ["nope"])


def run_cli(*args, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kpi", *args, "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_compute_json_contract(store):
    out = run_cli(
        "compute",
        "--kpi",
        "total_spend",
        "--kpi",
        "po_compliance",
        "--by",
        "category",
        "--format",
        "json",
        db=store.path,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {tuple(sorted(r)) for r in rows} == {("category", "kpi", "period", "value")}
    packaging = [r for r in rows if r["kpi"] == "total_spend" and r["category"] == "Packaging"]
    assert packaging == [
        {"kpi": "total_spend", "period": "FY2026-Q1", "category": "Packaging", "value": 1650.0}
    ]


def test_cli_compute_period_labels_as_bounds(store):
    out = run_cli(
        "compute",
        "--kpi",
        "total_spend",
        "--grain",
        "month",
        "--from",
        "2026-02",
        "--to",
        "FY2026-Q1",
        "--format",
        "csv",
        db=store.path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "kpi,period,value",
        "total_spend,2026-02,900.0",
        "total_spend,2026-03,500.0",
    ]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--kpi", "nope"], "unknown KPI 'nope'"),
        (["--from", "31/02/2026"], "'31/02/2026' is not a date or period"),
        (["--from", "2026-02-31"], "is not a date"),
        (["--kpi", "total_spend", "--by", "location"], "cannot be split by location"),
        (["--from", "FY2026-Q2", "--to", "FY2026-Q1"], "is after"),
        (["--currency", "XXX"], "unknown currency"),
    ],
)
def test_cli_compute_bad_input_is_one_clear_message(store, args, message):
    out = run_cli("compute", *args, db=store.path)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_compute_without_a_store(tmp_path):
    out = run_cli("compute", db=tmp_path / "missing.duckdb")
    assert out.returncode == 1
    assert "python -m kpi demo" in out.stderr and "Traceback" not in out.stderr
