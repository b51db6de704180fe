"""The savings rules (issue 14, point 1 and the savings KPIs of points 8 and 9), on a small
store whose every figure is worked out by hand below.

Reporting currency EUR; USD is worth 0.9 EUR from 2026-01-01 and 0.8 from 2026-04-01.
Suppliers S1 (EUR) and S2 (invoices in USD). Items A (Packaging, pcs), B (Packaging, roll),
C (IT hardware, pcs), M (Office supplies, pack).

Initiatives (all price reductions):
  IA  S1, item A, baseline 12.00 -> 10.00, 120 expected, 2026-01-01..2026-06-30, realised,
      accepted. Expected 120 x 2 = 240.00 over 6 months = 40.00 a month.
  CP  S1, category Packaging, no item, price change -5 %, expected spend 1900 (at the new
      prices), from 2026-01-01, NO end date (window 12 months: to 2026-12-31),
      implemented, rejected. Expected 1900 x 5 / 95 = 100.00 over 12 months = 10000 cents
      / 12 = 833 r 4: 8.34 in Jan-Apr, 8.33 after.
  NG  S1, item B, baseline 5.00 -> 4.00, 100 expected, 2026, NEGOTIATING (pipeline),
      pending. Expected 100 x 1 = 100.00 over 12 months: 8.34 Jan-Apr, 8.33 after.
  UE  S2, item C, baseline 1000.00 -> 900.00 in EUR, 6 expected, 2026, implemented,
      pending. Expected 6 x 100 = 600.00 over 12 months = 50.00 a month.
  NS  S2, item C, NO start date, realised, pending: claims nothing, listed incomplete.

Invoice lines:
  L1 2026-01-15 S1 A 100 @ 10.50 = 1050.00 EUR -> IA (item before category):
     (12.00 - 10.50) x 100 = 150.00; leakage (10.50 - 10.00) x 100 = 50.00
  L2 2026-02-10 S1 B 40 @ 4.75 = 190.00 EUR -> NG is negotiating (claims nothing), so CP:
     190.00 x 5 / 95 = 10.00
  L3 2026-07-10 S1 A 10 @ 9.50 = 95.00 EUR -> IA's window ended 2026-06-30, so CP:
     95.00 x 5 / 95 = 5.00
  L4 2027-01-05 S1 A 10 @ 9.50 = 95.00 EUR -> CP's 12-month window ended 2026-12-31: none
  L5 2026-02-20 S2 C 2 @ 1000.00 USD = 2000.00 USD = 1800.00 EUR at 0.9 -> UE (EUR):
     1000.00 x 2 x 1 - 1000.00 USD x 2 x 0.9 = 2000.00 - 1800.00 = 200.00
  L6 2026-05-05 S2 C 1 @ 1000.00 USD = 800.00 EUR at 0.8 -> UE: 1000.00 - 800.00 = 200.00
  L7 2026-03-01 S1 M 10 @ 20.00 = 200.00 EUR: Office supplies, no initiative, not
     addressable (no price-reduction initiative in that category)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from kpi.analyses import savings
from kpi.core.people import Person
from kpi.core.scope import Scope
from kpi.core.settings import Settings, SettingsError, load_settings
from kpi.ingest.pipelines import LoadRefused, load_files
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.store.schema import TABLES
from kpi.workflows.initiative_model import Initiative, InitiativeError
from kpi.workflows.initiatives import save_initiative

ROOT = Path(__file__).resolve().parents[2]
ANA = Person("ana.ruiz@example.org", "Ana Ruiz", "procurement", "member")


def _line(n, day, supplier, item, category, qty, price, currency="EUR"):
    amount = D(str(qty)) * D(str(price))
    return (f"L{n}", 1, supplier, None, day, None, None, item, category, "CC1", qty, price,
            amount, currency, None)  # fmt: skip


def _initiative(iid, category, supplier, item, baseline, negotiated, volume, start, end,
                stage, status, pct=None, currency="EUR"):  # fmt: skip
    return (iid, f"Initiative {iid}", "price_reduction", category, supplier, item, baseline,
            None, negotiated, volume, currency, start, end, "ana.ruiz@example.org", stage,
            status, None, pct)  # fmt: skip


ROWS = {
    "suppliers": [
        ("S1", "Kartonwerk GmbH", "DE", "large", True, 30, 0, 0, False, False),
        ("S2", "Byte Parts Inc", "US", "sme", False, 60, 0, 0, False, False),
    ],
    "items": [
        ("A", "Carton", "Packaging", "pcs", 0, 10, "low"),
        ("B", "Tape", "Packaging", "roll", 0, 10, "low"),
        ("C", "Dock", "IT hardware", "pcs", 0, 20, "low"),
        ("M", "Paper", "Office supplies", "pack", 0, 5, "low"),
    ],
    "fx_rates": [("2026-01-01", "USD", 0.9), ("2026-04-01", "USD", 0.8)],
    "invoices": [
        _line(1, "2026-01-15", "S1", "A", "Packaging", 100, 10.50),
        _line(2, "2026-02-10", "S1", "B", "Packaging", 40, 4.75),
        _line(3, "2026-07-10", "S1", "A", "Packaging", 10, 9.50),
        _line(4, "2027-01-05", "S1", "A", "Packaging", 10, 9.50),
        _line(5, "2026-02-20", "S2", "C", "IT hardware", 2, 1000.00, "USD"),
        _line(6, "2026-05-05", "S2", "C", "IT hardware", 1, 1000.00, "USD"),
        _line(7, "2026-03-01", "S1", "M", "Office supplies", 10, 20.00),
    ],
    "savings_initiatives": [
        _initiative(
            "IA", None, "S1", "A", 12, 10, 120, "2026-01-01", "2026-06-30", "realised", "accepted"
        ),  # fmt: skip
        _initiative(
            "CP",
            "Packaging",
            "S1",
            None,
            None,
            None,
            1900,
            "2026-01-01",
            None,
            "implemented",
            "rejected",
            pct=-5,
        ),  # fmt: skip
        _initiative(
            "NG", None, "S1", "B", 5, 4, 100, "2026-01-01", "2026-12-31", "negotiating", "pending"
        ),  # fmt: skip
        _initiative(
            "UE",
            None,
            "S2",
            "C",
            1000,
            900,
            6,
            "2026-01-01",
            "2026-12-31",
            "implemented",
            "pending",
        ),  # fmt: skip
        _initiative("NS", None, "S2", "C", 1100, 1000, 5, None, None, "realised", "pending"),
    ],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    built = Store(tmp_path_factory.mktemp("rules") / "kpi.duckdb")
    with built.write(fresh=True) as con:
        for table, rows in ROWS.items():
            names = ", ".join(TABLES[table].column_names[: len(rows[0])])
            marks = ", ".join("?" for _ in rows[0])
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return built


@pytest.fixture(scope="module")
def definitions():
    return load_definitions(ROOT / "config" / "kpis.yaml")


def kpi(store, definitions, kpi_id: str, period: str):
    chosen = engine.select_definitions(definitions, [kpi_id])
    frame = engine.compute(store, chosen, "quarter").frame
    values = dict(zip(frame["period"], frame["value"], strict=True))
    return values.get(period)


def attribution(store) -> dict[str, tuple]:
    """Each invoice line's initiative, saving and leakage in the view."""
    with store.read() as con:
        rows = con.execute(
            "SELECT invoice_id, initiative_id, price_saving, leakage, addressable "
            "FROM savings_lines WHERE invoice_id IS NOT NULL ORDER BY invoice_id"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_each_line_counts_for_one_initiative_by_the_rules(store):
    assert attribution(store) == {
        "L1": ("IA", D("150.00"), D("50.00"), True),  # item before category
        "L2": ("CP", D("10.00"), None, True),  # NG negotiating: the category-wide one
        "L3": ("CP", D("5.00"), None, True),  # after IA's end date: the category-wide one
        "L4": (None, None, None, True),  # after CP's 12-month window (no end date)
        "L5": ("UE", D("200.00"), D("0.00"), True),  # USD line, EUR initiative, at 0.9
        "L6": ("UE", D("200.00"), D("0.00"), True),  # at 0.8
        "L7": (None, None, None, False),  # Office supplies: no initiative, not addressable
    }


@pytest.mark.parametrize(
    "period,realised,recognised",
    [
        ("FY2026-Q1", D("360.00"), D("150.00")),  # L1 150 + L2 10 + L5 200; accepted: IA
        ("FY2026-Q2", D("200.00"), None),  # L6 (UE pending); nothing accepted
        ("FY2026-Q3", D("5.00"), None),  # L3 (CP rejected)
    ],
)
def test_realised_and_recognised_savings(store, definitions, period, realised, recognised):
    assert kpi(store, definitions, "savings_realised", period) == realised
    assert kpi(store, definitions, "savings_recognised", period) == recognised


def test_outside_every_window_nothing_counts(store, definitions):
    # L4 (2027-01-05) is past CP's window (2026-01-01 + 12 months - 1 day = 2026-12-31)
    assert kpi(store, definitions, "savings_realised", "FY2027-Q1") is None


def test_acceptance_rate_leaves_pending_beside_it(store, definitions):
    # FY2026-Q1 claims: accepted IA 150.00, rejected CP 10.00, pending UE 200.00
    # rate = 150 / (150 + 10) = 0.9375 (the old rule, 150 / 360, counted pending as refused)
    rate = kpi(store, definitions, "savings_acceptance_rate", "FY2026-Q1")
    assert rate == pytest.approx(0.9375)
    claims = savings.claims_by_status(store, Scope(date(2026, 1, 1), date(2026, 3, 31)))
    assert dict(zip(claims["finance_status"], claims["claimed"], strict=True)) == {
        "accepted": D("150.00"),
        "rejected": D("10.00"),
        "pending": D("200.00"),
    }


def test_share_of_addressable_spend(store, definitions):
    # FY2026-Q1 spend: L1 1050 + L2 190 + L5 1800 + L7 200 = 3240.00; addressable (Packaging
    # and IT hardware hold price-reduction initiatives) = 3240 - 200 = 3040.00
    # realised 360.00 / 3040.00 = 0.118421...
    value = kpi(store, definitions, "savings_share_of_addressable_spend", "FY2026-Q1")
    assert value == pytest.approx(360 / 3040)


def test_realised_against_expected(store, definitions):
    # FY2026-Q1 expected of the implemented and realised initiatives: IA 3 x 40.00 = 120.00,
    # CP 3 x 8.34 = 25.02, UE 3 x 50.00 = 150.00 -> 295.02 (NG negotiating is pipeline, NS
    # has no start date); realised 360.00 / 295.02 = 1.2202...
    value = kpi(store, definitions, "savings_realised_vs_expected", "FY2026-Q1")
    assert value == pytest.approx(360 / 295.02)


def test_pipeline_and_incomplete_are_shown_apart(store):
    frame = savings.pipeline(store, Scope(date(2026, 1, 1), date(2026, 3, 31)))
    # NG negotiating: 3 x 8.34 = 25.02 expected in Q1, not realised
    assert frame.rows() == [("negotiating", "price_reduction", 1, D("25.02"))]
    missing = savings.incomplete(store)
    assert missing["initiative_id"].to_list() == ["NS"]
    assert missing["problem"][0].startswith("no start date")


def test_the_ledger_months_use_the_same_rules(store):
    frame = savings.realised_by_month(store, Scope(date(2026, 1, 1), date(2026, 3, 31)))
    got = {
        (r["initiative_id"], r["month"]): (r["realised_saving"], r["expected_saving"])
        for r in frame.iter_rows(named=True)
    }
    assert got[("IA", "2026-01")] == (D("150.00"), D("40.00"))
    assert got[("CP", "2026-02")] == (D("10.00"), D("8.34"))
    assert got[("UE", "2026-02")] == (D("200.00"), D("50.00"))
    assert got[("NG", "2026-02")] == (D("0.00"), D("8.34"))  # pipeline: expected only
    assert ("NS", "2026-01") not in got  # no start date: no window, no plan


def _deal(**changes) -> Initiative:
    fields = {
        "title": "Another carton deal",
        "kind": "price_reduction",
        "supplier_id": "S1",
        "item_id": "A",
        "baseline_unit_price": "11.00",
        "negotiated_unit_price": "10.00",
        "currency": "EUR",
        "start_date": "2026-03-01",
        "end_date": "2026-09-30",
    }
    return Initiative(**(fields | changes))


@pytest.mark.parametrize(
    "changes,other",
    [
        ({}, "IA"),  # S1 / A, March-September against IA's January-June
        # category-wide on S1 Packaging without an end date against CP's window
        (
            {
                "item_id": None,
                "category": "Packaging",
                "baseline_unit_price": None,
                "negotiated_unit_price": None,
                "price_change_pct": "-3",
                "end_date": None,
            },
            "CP",
        ),
        ({"item_id": "B", "baseline_unit_price": "5.00", "negotiated_unit_price": "4.50"}, "NG"),
    ],
)
def test_overlapping_initiatives_are_refused_naming_the_other(tmp_path, changes, other):
    store = _copy(tmp_path)
    with pytest.raises(InitiativeError, match=f"overlaps {other} "):
        save_initiative(store, ANA, _deal(**changes))


def test_initiatives_that_do_not_overlap_are_taken(tmp_path):
    store = _copy(tmp_path)
    # after IA's end date, and an item initiative beside the category-wide CP
    assert save_initiative(store, ANA, _deal(start_date="2026-07-01")) == "SI-2026-0001"


def test_a_category_wide_initiative_states_a_percent_not_one_price():
    with pytest.raises(ValueError, match="price_change_pct, e.g. -5"):
        _deal(item_id=None, category="Packaging")  # one baseline for every item
    with pytest.raises(ValueError, match="above -100 and below 0"):
        _deal(item_id=None, category="Packaging", baseline_unit_price=None,
              negotiated_unit_price=None, price_change_pct="5")  # fmt: skip
    with pytest.raises(ValueError, match="leave price_change_pct empty"):
        _deal(price_change_pct="-5")  # an item's initiative states its baseline


def test_a_load_with_an_overlap_is_refused(tmp_path):
    store = _copy(tmp_path)
    csv = tmp_path / "initiatives.csv"
    csv.write_text(
        "initiative_id,title,kind,supplier_id,item_id,baseline_unit_price,"
        "negotiated_unit_price,currency,start_date,end_date,stage\n"
        "X1,Carton again,price_reduction,S1,A,11.00,10.00,EUR,2026-05-01,,implemented\n",
        encoding="utf-8",
    )
    with pytest.raises(LoadRefused, match="X1 overlaps IA"):
        load_files(store, "savings_initiatives", [csv])
    with store.read() as con:  # nothing was loaded
        assert con.execute("SELECT count(*) FROM savings_initiatives").fetchall() == [(5,)]


def _copy(tmp_path: Path) -> Store:
    """A fresh copy of the fixture rows, for tests that write."""
    built = Store(tmp_path / "kpi.duckdb")
    with built.write(fresh=True) as con:
        for table, rows in ROWS.items():
            names = ", ".join(TABLES[table].column_names[: len(rows[0])])
            marks = ", ".join("?" for _ in rows[0])
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return built


def test_the_savings_window_is_a_setting(tmp_path):
    good = tmp_path / "settings.yaml"
    good.write_text("savings_window_months: 6\n", encoding="utf-8")
    assert load_settings(good).savings_window_months == 6
    assert load_settings(tmp_path / "absent.yaml").savings_window_months == 12  # the default
    bad = tmp_path / "bad.yaml"
    bad.write_text("savings_window_months: 0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="savings_window_months must be a whole number"):
        load_settings(bad)


def test_a_shorter_window_ends_the_open_ended_initiative_sooner(tmp_path):
    # with 6 months, CP (no end date, from 2026-01-01) runs to 2026-06-30: L3 (2026-07-10)
    # falls outside every window, so FY2026-Q3 realises nothing
    store = Store(_copy(tmp_path).path, Settings(savings_window_months=6))
    assert attribution(store)["L3"] == (None, None, None, True)
