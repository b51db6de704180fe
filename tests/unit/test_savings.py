"""Savings from the invoices, against figures worked out by hand.

Two stores: tests/hand_fixture.py (SI1, a carton price reduction, and SI2, a dock cost
avoidance in USD at 0.9 EUR from 2026-01-01 and 0.8 from 2026-04-01), and the small
two-year store below for the two lenses, whose year-earlier spend is written out here.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kpi.analyses import savings
from kpi.core.periods import PeriodError
from kpi.core.scope import Scope
from kpi.core.settings import FiscalCalendar
from kpi.store.database import Store
from kpi.store.schema import TABLES
from tests import hand_fixture


def span(store: Store, first: str, last: str, filters=None, currency=None) -> Scope:
    """A scope from the first day of period `first` to the last of `last`."""
    return Scope.of(*savings.period_bounds(first, last, store.settings.fiscal), filters, currency)


# ---- the hand fixture: by initiative and month --------------------------------------------------


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> Store:
    return hand_fixture.build(tmp_path_factory.mktemp("hand") / "kpi.duckdb")


def by_month(frame, *columns) -> dict:
    return {
        (r["initiative_id"], r["month"]): tuple(r[c] for c in columns)
        for r in frame.iter_rows(named=True)
    }


# SI1: baseline 11.00, negotiated 10.00, 200 expected over 2026 (12 months).
# expected: 200 x (11 - 10) = 200.00 = 20000 cents / 12 = 1666 r 8 -> 16.67 Jan-Aug, 16.66 after
REALISED_Q1 = {
    # month: (quantity, avg price paid, realised, expected, leakage)
    # INV1/1 100 @ 10.50 and INV1/2 10 @ 10.00: (11 - 10.5) x 100 + (11 - 10) x 10 = 60.00;
    # avg (1050 + 100) / 110 = 10.4545; leakage (10.50 - 10.00) x 100 = 50.00
    ("SI1", "2026-01"): (D("110"), D("10.4545"), D("60.00"), D("16.67"), D("50.00")),
    ("SI1", "2026-02"): (D("0"), None, D("0.00"), D("16.67"), D("0.00")),  # expected only
    # INV4 50 @ 10.00: (11 - 10) x 50 = 50.00, nothing above the negotiated price
    ("SI1", "2026-03"): (D("50"), D("10.0000"), D("50.00"), D("16.67"), D("0.00")),
}
COLUMNS = ("quantity", "avg_unit_price_paid", "realised_saving", "expected_saving", "leakage")


def test_realised_by_month_q1(hand):
    frame = savings.realised_by_month(hand, span(hand, "FY2026-Q1", "FY2026-Q1"))
    assert by_month(frame, *COLUMNS) == REALISED_Q1
    assert sum(frame["realised_saving"]) == D("110.00")  # the savings_realised KPI's Q1
    row = frame.row(0, named=True)
    assert (row["title"], row["kind"], row["category"], row["supplier"]) == (
        "Carton re-tender",
        "price_reduction",
        "Packaging",
        "Kartonwerk GmbH",
    )
    assert (row["finance_status"], row["finance_note"]) == ("accepted", "Baseline agreed")
    assert (row["baseline_unit_price"], row["negotiated_unit_price"]) == (D("11"), D("10"))
    assert row["price_currency"] == "EUR"
    assert (row["off_contract_quantity"], row["off_contract_amount"]) == (D("0"), D("0"))


@pytest.fixture(scope="module")
def hand_year(tmp_path_factory) -> Store:
    """The hand fixture with one more invoice line on 2026-12-31 (supplier S2, no item of
    an initiative): the expected saving shows in the months the invoices span, so this
    store shows all twelve months of 2026 (the hand fixture alone ends in April)."""
    store = hand_fixture.build(tmp_path_factory.mktemp("hand_year") / "kpi.duckdb")
    with store.write() as con:
        con.execute(
            "INSERT INTO invoices (invoice_id, invoice_line, supplier_id, invoice_date, "
            "category, amount, currency) VALUES ('INV9', 1, 'S2', DATE '2026-12-31', "
            "'MRO spares', 1.00, 'EUR')"
        )
    return store


def test_expected_saving_shows_only_in_the_months_the_invoices_span(hand):
    # the hand fixture's invoices run from January to April 2026: SI1's expected saving
    # shows in those four months (16.67 each), not in months with no invoice yet
    frame = savings.realised_by_month(hand, span(hand, "FY2026", "FY2026"))
    expected = dict(zip(frame["month"], frame["expected_saving"], strict=True))
    assert expected == {f"2026-{m:02d}": D("16.67") for m in (1, 2, 3, 4)}


def test_expected_saving_adds_up_to_the_cent_over_the_initiative(hand_year):
    hand = hand_year
    frame = savings.realised_by_month(hand, span(hand, "FY2026", "FY2026"))
    expected = dict(zip(frame["month"], frame["expected_saving"], strict=True))
    assert len(expected) == 12
    assert [expected[f"2026-{m:02d}"] for m in (1, 8, 9, 12)] == [
        D("16.67"),
        D("16.67"),
        D("16.66"),
        D("16.66"),
    ]
    assert sum(expected.values()) == D("200.00")  # 8 x 16.67 + 4 x 16.66


def test_cost_avoidance_is_apart_from_realised_savings(hand_year):
    hand = hand_year
    realised = savings.realised_by_month(hand, span(hand, "FY2026", "FY2026"))
    assert set(realised["initiative_id"]) == {"SI1"}
    avoided = savings.cost_avoidance_by_month(hand, span(hand, "FY2026", "FY2026"))
    assert set(avoided["initiative_id"]) == {"SI2"}
    got = by_month(avoided, "quantity", "avoided_cost", "expected_avoidance")
    # INV2: (1100 - 1000) x 1 x 0.9 = 90.00; INV3: (1100 - 500) x 2 x 0.8 = 960.00
    # expected 5 x (1100 - 1000) = 500 USD / 12 = 41.67 Jan-Aug, 41.66 Sep-Dec, converted at
    # the month's first day: 41.67 x 0.9 = 37.50; 41.67 x 0.8 = 33.34; 41.66 x 0.8 = 33.33
    assert got[("SI2", "2026-02")] == (D("1"), D("90.00"), D("37.50"))
    assert got[("SI2", "2026-04")] == (D("2"), D("960.00"), D("33.34"))
    assert got[("SI2", "2026-01")] == (D("0"), D("0.00"), D("37.50"))
    assert got[("SI2", "2026-09")] == (D("0"), D("0.00"), D("33.33"))
    assert sum(avoided["avoided_cost"]) == D("1050.00")
    row = avoided.row(1, named=True)
    assert (row["quoted_unit_price"], row["negotiated_unit_price"]) == (D("1100"), D("1000"))
    assert (row["avg_unit_price_paid"], row["price_currency"]) == (D("1000"), "USD")
    assert row["finance_status"] == "pending"


def test_in_the_initiatives_own_currency_there_is_no_conversion(hand):
    avoided = savings.cost_avoidance_by_month(
        hand, span(hand, "2026-02", "2026-04", currency="USD")
    )
    got = by_month(avoided, "avoided_cost", "expected_avoidance")
    assert got[("SI2", "2026-02")] == (D("100.00"), D("41.67"))  # (1100 - 1000) x 1
    assert got[("SI2", "2026-04")] == (D("1200.00"), D("41.67"))  # (1100 - 500) x 2


@pytest.mark.parametrize(
    "filters,expected_months",
    [
        ({"finance_status": ["accepted"]}, ["2026-01", "2026-02", "2026-03"]),
        ({"finance_status": "rejected"}, []),
        ({"category": ["IT hardware"]}, []),
        ({"supplier": ["Kartonwerk GmbH"]}, ["2026-01", "2026-02", "2026-03"]),
        (
            {"initiative_id": ["SI1"], "owner": ["jonas.berg@example.org"]},
            ["2026-01", "2026-02", "2026-03"],
        ),
    ],
)
def test_initiative_filters(hand, filters, expected_months):
    frame = savings.realised_by_month(hand, span(hand, "FY2026-Q1", "FY2026-Q1", filters))
    assert frame["month"].to_list() == expected_months


def test_cost_centre_narrows_the_lines_not_the_expectation(hand):
    frame = savings.realised_by_month(
        hand, span(hand, "FY2026-Q1", "FY2026-Q1", {"cost_centre": ["CC2"]})
    )
    assert by_month(frame, "realised_saving", "expected_saving") == {
        ("SI1", m): (D("0.00"), D("16.67")) for m in ("2026-01", "2026-02", "2026-03")
    }


@pytest.mark.parametrize(
    "call,error,message",
    [
        (
            lambda s: savings.realised_by_month(s, span(s, "FY2026", "FY2026", {"kind": ["x"]})),
            ValueError,
            "cannot filter on kind",
        ),
        (
            lambda s: savings.realised_by_month(s, span(s, "FY2026-Q2", "FY2026-Q1")),
            PeriodError,
            "ends",
        ),
        (
            lambda s: savings.two_lenses(s, Scope.of(filters={"owner": ["x"]}), "FY2026-Q1"),
            ValueError,
            "cannot filter on owner",
        ),
        (lambda s: savings.two_lenses(s, Scope(), "2026-03-15"), PeriodError, "not a period label"),
    ],
)
def test_mistakes_are_refused(hand, call, error, message):
    with pytest.raises(error, match=message):
        call(hand)


def test_lenses_without_a_full_year_earlier_leave_the_comparison_empty(hand):
    frame = savings.two_lenses(hand, Scope(), "FY2026-Q1")
    total = frame.filter(is_total=True).row(0, named=True)
    assert total["procurement_reported"] == D("110.00")
    assert total["finance_recognised"] == D("110.00")
    assert total["cost_avoidance"] == D("90.00")
    assert total["spend_current"] == D("2550.00")
    assert total["spend_prior"] is None and total["expense_change"] is None
    assert total["gap"] is None and total["volume_mix"] is None


# ---- a two-year store for the two lenses --------------------------------------------------------
#
# All in EUR (no conversion). Items A, B, D in Packaging, C in IT hardware.
# FY2025-Q1 (the year earlier):
#   Jan: 100 A @ 12.00 from S1 = 1200.00   Feb: 50 B @ 20.00 from S1 = 1000.00
#   Mar: 10 C @ 100.00 from S2 = 1000.00   (Apr: 30 A @ 12.00 = 360.00, outside the period)
# FY2026-Q1:
#   Jan: 120 A @ 10.00 from S1 = 1200.00   Feb: 40 B @ 18.00 from S1 = 720.00
#   Feb: 10 A @ 11.00 from S3 = 110.00 (off contract)   Mar: 5 D @ 10.00 from S3 = 50.00
#   Mar: 12 C @ 100.00 from S2 = 1200.00 (CC2)   (Apr: 10 A @ 10.00 = 100.00, outside)
# Initiatives over 2026:
#   PA price reduction A/S1, baseline 12.00 -> 10.00, 480 expected, accepted
#   PB price reduction B/S1, baseline 22.00 -> 18.00 (finance doubts the baseline: a year
#      earlier B cost 20.00), 160 expected, pending
#   PC cost avoidance C/S2, quoted 110.00 -> 100.00, 48 expected, accepted

SUPPLIERS = [
    ("S1", "Kartonwerk GmbH", "DE", "large", True, 30, 0, 0, False, False),
    ("S2", "Byte Parts Inc", "US", "sme", False, 60, 0, 0, False, False),
    ("S3", "Other Box Ltd", "GB", "sme", False, 30, 0, 0, False, False),
]
ITEMS = [
    ("A", "Carton", "Packaging", "pcs", 0, 10, "low"),
    ("B", "Tape", "Packaging", "roll", 0, 10, "low"),
    ("C", "Dock", "IT hardware", "pcs", 0, 20, "low"),
    ("D", "Foam", "Packaging", "pcs", 0, 10, "low"),
]


def _line(n, day, supplier, item, cc, qty, price):
    category = {"A": "Packaging", "B": "Packaging", "C": "IT hardware", "D": "Packaging"}[item]
    return (
        f"N{n}",
        1,
        supplier,
        f"PO{n}",
        day,
        None,
        None,
        item,
        category,
        cc,
        qty,
        price,
        round(qty * price, 2),
        "EUR",
        None,
    )


INVOICES = [
    _line(1, "2025-01-15", "S1", "A", "CC1", 100, 12.00),
    _line(2, "2025-02-10", "S1", "B", "CC1", 50, 20.00),
    _line(3, "2025-03-05", "S2", "C", "CC2", 10, 100.00),
    _line(4, "2025-04-10", "S1", "A", "CC1", 30, 12.00),
    _line(5, "2026-01-20", "S1", "A", "CC1", 120, 10.00),
    _line(6, "2026-02-12", "S1", "B", "CC1", 40, 18.00),
    _line(7, "2026-02-20", "S3", "A", "CC1", 10, 11.00),
    _line(8, "2026-03-03", "S3", "D", "CC1", 5, 10.00),
    _line(9, "2026-03-10", "S2", "C", "CC2", 12, 100.00),
    _line(10, "2026-04-02", "S1", "A", "CC1", 10, 10.00),
]


def _initiative(iid, kind, supplier, item, baseline, quoted, negotiated, volume, status):
    return (
        iid,
        f"Initiative {iid}",
        kind,
        None,
        supplier,
        item,
        baseline,
        quoted,
        negotiated,
        volume,
        "EUR",
        "2026-01-01",
        "2026-12-31",
        "jonas.berg@example.org",
        "realised",
        status,
        None,
    )


INITIATIVES = [
    _initiative("PA", "price_reduction", "S1", "A", 12.00, None, 10.00, 480, "accepted"),
    _initiative("PB", "price_reduction", "S1", "B", 22.00, None, 18.00, 160, "pending"),
    _initiative("PC", "cost_avoidance", "S2", "C", None, 110.00, 100.00, 48, "accepted"),
]


@pytest.fixture(scope="module")
def two_years(tmp_path_factory) -> Store:
    store = Store(Path(tmp_path_factory.mktemp("lenses")) / "kpi.duckdb")
    with store.write(fresh=True) as con:
        for table, rows in [
            ("suppliers", SUPPLIERS),
            ("items", ITEMS),
            ("invoices", INVOICES),
            ("savings_initiatives", INITIATIVES),
        ]:
            names = ", ".join(TABLES[table].column_names[: len(rows[0])])
            marks = ", ".join("?" for _ in rows[0])
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store


LENS_COLUMNS = (
    "procurement_reported",
    "finance_recognised",
    "not_accepted",
    "cost_avoidance",
    "spend_prior",
    "spend_current",
    "expense_change",
    "gap",
    "volume_mix",
)

# Each row: reported, recognised, not accepted, avoidance, spend a year earlier, spend now,
# expense change, gap, volume / mix.
TWO_LENSES = [
    (
        "FY2026-Q1",
        None,
        {
            # reported: PA (12 - 10) x 120 = 240 + PB (22 - 18) x 40 = 160 -> 400, recognised
            # 240 (PA); prior 1200 + 1000 = 2200; now 1200 + 720 + 110 + 50 = 2080;
            # change -120; gap 400 - 120 = 280 = not accepted 160 + volume/mix 120
            "Packaging": "400.00 240.00 160.00 0.00 2200.00 2080.00 -120.00 280.00 120.00",
            # avoidance (110 - 100) x 12 = 120, apart; 1000 -> 1200: change +200 = gap
            "IT hardware": "0.00 0.00 0.00 120.00 1000.00 1200.00 200.00 200.00 200.00",
            "Total": "400.00 240.00 160.00 120.00 3200.00 3280.00 80.00 480.00 320.00",
        },
    ),
    (
        "2026-02",  # a month against 2025-02: only B (and the off-contract A) moved
        None,
        {
            # PB 160 pending; prior 1000 (B); now 720 + 110 = 830; change -170;
            # gap 160 - 170 = -10 = not accepted 160 + volume/mix -170
            "Packaging": "160.00 0.00 160.00 0.00 1000.00 830.00 -170.00 -10.00 -170.00",
            "Total": "160.00 0.00 160.00 0.00 1000.00 830.00 -170.00 -10.00 -170.00",
        },
    ),
    (
        "FY2026-Q1",
        {"cost_centre": ["CC2"]},
        {
            "IT hardware": "0.00 0.00 0.00 120.00 1000.00 1200.00 200.00 200.00 200.00",
            "Total": "0.00 0.00 0.00 120.00 1000.00 1200.00 200.00 200.00 200.00",
        },
    ),
]


@pytest.mark.parametrize("period,filters,expected", TWO_LENSES, ids=["quarter", "month", "CC2"])
def test_two_lenses_by_hand(two_years, period, filters, expected):
    frame = savings.two_lenses(two_years, Scope.of(filters=filters), period)
    got = {r["category"]: tuple(r[c] for c in LENS_COLUMNS) for r in frame.iter_rows(named=True)}
    assert got == {k: tuple(D(v) for v in row.split()) for k, row in expected.items()}
    assert frame["is_total"].to_list() == [False] * (len(expected) - 1) + [True]


def test_two_lenses_reconcile_exactly(two_years):
    for r in savings.two_lenses(two_years, Scope(), "FY2026-Q1").iter_rows(named=True):
        assert r["not_accepted"] == r["procurement_reported"] - r["finance_recognised"]
        assert r["expense_change"] == r["spend_current"] - r["spend_prior"]
        assert r["gap"] == r["not_accepted"] + r["volume_mix"]
        assert r["procurement_reported"] == (
            (r["spend_prior"] - r["spend_current"]) + r["not_accepted"] + r["volume_mix"]
        )


def test_realised_and_off_contract_on_the_two_year_store(two_years):
    frame = savings.realised_by_month(two_years, span(two_years, "FY2026-Q1", "FY2026-Q1"))
    got = by_month(
        frame, "realised_saving", "expected_saving", "off_contract_quantity", "off_contract_amount"
    )
    # PA expected 480 x 2 = 960 / 12 = 80.00 a month; PB 160 x 4 = 640 = 64000 cents / 12
    # = 5333 r 4 -> 53.34 in January to April. N7 (10 A from S3 @ 11.00) bypassed PA.
    assert got == {
        ("PA", "2026-01"): (D("240.00"), D("80.00"), D("0"), D("0.00")),
        ("PA", "2026-02"): (D("0.00"), D("80.00"), D("10"), D("110.00")),
        ("PA", "2026-03"): (D("0.00"), D("80.00"), D("0"), D("0.00")),
        ("PB", "2026-01"): (D("0.00"), D("53.34"), D("0"), D("0.00")),
        ("PB", "2026-02"): (D("160.00"), D("53.34"), D("0"), D("0.00")),
        ("PB", "2026-03"): (D("0.00"), D("53.34"), D("0"), D("0.00")),
    }


@pytest.mark.parametrize(
    "period,calendar,earlier",
    [
        ("FY2026-Q1", FiscalCalendar(), "FY2025-Q1"),
        ("2026-03", FiscalCalendar(), "2025-03"),
        ("FY2026", FiscalCalendar(), "FY2025"),
        ("2024-02", FiscalCalendar(), "2023-02"),
        ("FY2027-Q1", FiscalCalendar(4, "end"), "FY2026-Q1"),  # April 2026 -> April 2025
        ("FY2026-Q4", FiscalCalendar(4, "start"), "FY2025-Q4"),
    ],
)
def test_year_earlier(period, calendar, earlier):
    assert savings.year_earlier(period, calendar) == earlier


def test_lenses_explained_names_every_column():
    for words in (
        "Procurement-reported",
        "Finance-recognised",
        "Not accepted",
        "Cost avoidance",
        "Expense change",
        "Gap",
        "Volume / mix",
        "gap = not accepted + volume / mix",
    ):
        assert words in savings.LENSES_EXPLAINED


def test_per_initiative_sums_months_largest_first():
    import polars as pl

    from kpi.analyses.savings import per_initiative

    monthly = pl.DataFrame(
        {
            "initiative_id": ["A", "A", "B"],
            "title": ["a", "a", "b"],
            "category": ["c"] * 3,
            "supplier": ["s"] * 3,
            "finance_status": ["accepted", "accepted", "pending"],
            "finance_note": [None, None, None],
            "realised_saving": [60.0, 50.0, 200.0],
        }
    )
    out = per_initiative(monthly, ["realised_saving"])
    assert out["initiative_id"].to_list() == ["B", "A"]
    assert out["realised_saving"].to_list() == [200.0, 110.0]
