"""The savings bridge (kpi/analyses/bridge.py): figures worked out by hand, its identity,
the additivity of its rows, and the periods it refuses.

Q1 = January–March 2026 (FY2026-Q1 with a January fiscal year), Q2 = April–June 2026.
In tests/hand_fixture.py and UNITS below USD converts at 0.9 EUR from 2026-01-01 and 0.8
from 2026-04-01.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi.analyses.bridge import (
    COLUMNS,
    DIMENSIONS,
    FORMULAS,
    RULES,
    BridgeError,
    savings_bridge,
)
from kpi.core.scope import Scope
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]
CENT = Decimal("0.01")

INVOICE_COLUMNS = (
    "invoice_id, invoice_line, supplier_id, invoice_date, item_id, category, cost_centre, "
    "quantity, unit_price, amount, currency"
)


def bridge(store, from_period, to_period, by=None, filters=None, currency=None, **options):
    """The bridge for a scope of these filters and currency (its period range is unused)."""
    scope = Scope.of(filters=filters, currency=currency)
    return savings_bridge(store, scope, from_period, to_period, by, **options)


def build_store(
    path: Path,
    lines: list[tuple],
    fx: list[tuple] | None = None,
    items: list[tuple] | None = None,
) -> Store:
    """A store holding only these invoice lines:
    (date, item, category, quantity, amount[, currency[, supplier[, cost centre]]]) each,
    by default in EUR from supplier S1 for cost centre CC1; and these items
    (item, category, unit) each.
    """
    rows = []
    for n, line in enumerate(lines):
        day, item, category, qty, amount, *rest = line
        currency, supplier, cost_centre = [*rest, *("EUR", "S1", "CC1")[len(rest) :]]
        price = None if not qty else (Decimal(amount) / Decimal(qty)).quantize(Decimal("0.0001"))
        rows.append(
            (f"INV{n}", 1, supplier, day, item, category, cost_centre, qty, price, amount, currency)
        )
    store = Store(path)
    with store.write(fresh=True) as con:
        if rows:
            con.executemany(
                f"INSERT INTO invoices ({INVOICE_COLUMNS}) VALUES ({', '.join('?' * 11)})", rows
            )
        if fx:
            con.executemany("INSERT INTO fx_rates (date, currency, rate) VALUES (?, ?, ?)", fx)
        if items:
            con.executemany("INSERT INTO items (item_id, category, unit) VALUES (?, ?, ?)", items)
    return store


def bridge_rows(frame: pl.DataFrame, by: str | None = None) -> dict:
    """{scope value (None without by): {column: Decimal}}."""
    return {
        (r[by] if by else None): {c: r[c] for c in COLUMNS} for r in frame.iter_rows(named=True)
    }


def dec(**figures: str) -> dict[str, Decimal]:
    return {c: Decimal(figures.get(c, "0.00")) for c in COLUMNS}


EFFECTS = ("base", "price", "fx", "volume", "mix", "unquantified", "new", "lost")


def adds_up(row: dict[str, Decimal]) -> bool:
    """base + price + fx + volume + mix + unquantified + new + lost = current, exactly."""
    return sum((row[c] for c in EFFECTS), Decimal(0)) == row["current"]


def column_sums(rows: dict) -> dict[str, Decimal]:
    return {c: sum((r[c] for r in rows.values()), Decimal(0)) for c in COLUMNS}


# ---- the shared hand fixture ----------------------------------------------------------------


@pytest.fixture(scope="module")
def hand_store(tmp_path_factory) -> Store:
    return hand_fixture.build(tmp_path_factory.mktemp("hand") / "kpi.duckdb")


# (from, to, options, expected, how it is worked out)
HAND = [
    (
        "FY2026-Q1",
        "FY2026-Q2",
        {},
        # Q1: I1 1050 + 100 + 500 = 1650 for 100 + 10 + 50 = 160 pcs; I2 1000 USD x 0.9 = 900
        # for 1 pc. base = 2550. Q2: I2 1000 USD x 0.8 = 800 for 2 pcs. current = 800.
        # I2 (one cell: S2, CC2): base rate 900 / 1000 = 0.9; fx = 800 - 1000 x 0.9 = -100.
        # price = (800 + 100) - 900 x 2 / 1 = -900 (500 USD less a dock, x 2, at 0.9).
        # volume = (2 - 1) x 900 / 1 = 900; mix = (800 - 900) + 100 + 900 - 900 = 0.
        # I1 is not bought in Q2: lost = -1650; nothing new.
        dec(base="2550", price="-900", fx="-100", volume="900", lost="-1650", current="800"),
        "whole company",
    ),
    (
        "FY2026-Q1",
        "FY2026-Q2",
        {"filters": {"cost_centre": ["CC2"]}},
        # CC2 holds only I2: base 900, current 800, price -900, fx -100, volume 900.
        dec(base="900", price="-900", fx="-100", volume="900", current="800"),
        "cost centre CC2",
    ),
    (
        "FY2026-Q1",
        "FY2026-Q2",
        {"currency": "USD"},
        # In USD, I2 is in the display currency: no fx; 1000 then 1000 for 2: price
        # (500 - 1000) x 2 = -1000, volume (2 - 1) x 1000 = 1000. EUR lines at
        # 1 / 0.9 = 1.11111111 USD each, rounded per line: 1050 -> 1166.67, 100 -> 111.11,
        # 500 -> 555.56; lost = -1833.34; base = 2833.34.
        dec(base="2833.34", price="-1000", volume="1000", lost="-1833.34", current="1000"),
        "in USD",
    ),
    (
        "2026-01",
        "2026-03",
        {},
        # January: I1 1150 for 110 pcs; March: I1 500 for 50 pcs (one cell: S1, CC1).
        # price = 500 - 1150 x 50 / 110 = 500 - 522.7272.. = -22.73 (to the cent);
        # volume = (50 - 110) x 1150 / 110 = -627.2727.. = -627.27;
        # mix = (500 - 1150) + 22.73 + 627.27 = 0.00.
        dec(base="1150", price="-22.73", volume="-627.27", current="500"),
        "months, rounded effects",
    ),
    (
        "FY2026",
        "FY2027",
        {},
        # FY2027 holds nothing: every item is lost.
        dec(base="3350", lost="-3350"),
        "fiscal years",
    ),
    (
        "2026-02-15",
        "2026-04-05",
        {},
        # two single days: INV2 (I2, 1 pc, 900) and INV3 (I2, 2 pcs, 800) as in the first case.
        dec(base="900", price="-900", fx="-100", volume="900", current="800"),
        "plain dates",
    ),
]


@pytest.mark.parametrize(
    "start,end,options,expected,why", HAND, ids=[h[4].replace(" ", "-") for h in HAND]
)
def test_bridge_on_the_hand_fixture(hand_store, start, end, options, expected, why):
    got = bridge_rows(bridge(hand_store, start, end, **options))
    assert got == {None: expected}, why
    assert adds_up(got[None])


def test_bridge_by_category_on_the_hand_fixture(hand_store):
    frame = bridge(hand_store, "FY2026-Q1", "FY2026-Q2", by="category")
    assert frame.columns == ["category", *COLUMNS]
    assert all(frame.schema[c] == pl.Decimal(38, 2) for c in COLUMNS)
    assert bridge_rows(frame, "category") == {
        # IT hardware is I2 alone (see above); Packaging is I1 alone, bought in Q1 only.
        "IT hardware": dec(base="900", price="-900", fx="-100", volume="900", current="800"),
        "Packaging": dec(base="1650", lost="-1650", current="0"),
    }


# ---- a fixture for each rule: units, a currency, services, new, lost, a supplier switch ----

# Chemicals: K1 and K2 in kg, L in litres. Lab: U in USD from S2 (0.9 in Q1, 0.8 in Q2), N
# bought in Q2 only, X in Q1 only. Facilities: cleaning without item or quantity in both
# quarters. Packaging: M bought from S1 in Q1 and from S3 in Q2.
UNIT_ITEMS = [
    ("K1", "Chemicals", "kg"),
    ("K2", "Chemicals", "KG "),  # the same unit, written differently
    ("L", "Chemicals", "litre"),
    ("U", "Lab", "pcs"),
    ("N", "Lab", "pcs"),
    ("X", "Lab", "pcs"),
    ("M", "Packaging", "pcs"),
]
UNITS = [
    ("2026-01-10", "K1", "Chemicals", 100, "200.00"),  # 2.00 / kg
    ("2026-01-10", "K2", "Chemicals", 100, "400.00"),  # 4.00 / kg
    ("2026-01-10", "L", "Chemicals", 1000, "1000.00"),  # 1.00 / litre
    ("2026-04-10", "K1", "Chemicals", 150, "330.00"),  # 2.20 / kg
    ("2026-04-10", "K2", "Chemicals", 50, "200.00"),  # 4.00 / kg
    ("2026-04-10", "L", "Chemicals", 500, "500.00"),  # 1.00 / litre
    ("2026-02-10", "U", "Lab", 10, "1000.00", "USD", "S2"),  # 100 USD each, x 0.9 = 900.00
    ("2026-05-10", "U", "Lab", 10, "1100.00", "USD", "S2"),  # 110 USD each, x 0.8 = 880.00
    ("2026-05-10", "N", "Lab", 7, "70.00"),
    ("2026-02-10", "X", "Lab", 4, "40.00"),
    ("2026-03-01", None, "Facilities", None, "300.00"),  # cleaning, a service
    ("2026-06-01", None, "Facilities", None, "350.00"),
    ("2026-03-15", "M", "Packaging", 10, "100.00", "EUR", "S1"),  # 10.00 each
    ("2026-06-15", "M", "Packaging", 10, "90.00", "EUR", "S3"),  # 9.00 each, another supplier
]
USD = [("2026-01-01", "USD", Decimal("0.9")), ("2026-04-01", "USD", Decimal("0.8"))]

# Chemicals. kg group: base average P0 = (200 + 400) / (100 + 100) = 3.00 per kg.
#   K1: price 330 - 200 x 150 / 100 = 30; volume (150 - 100) x 3 = 150;
#       mix 330 - 200 - 30 - 150 = -50.
#   K2: price 200 - 400 x 50 / 100 = 0; volume (50 - 100) x 3 = -150;
#       mix 200 - 400 - 0 + 150 = -50 (the kilograms moved to the cheaper K1).
#   litre group: L alone, P0 = 1.00: volume (500 - 1000) x 1 = -500, price 0, mix 0.
#   (Adding kg to litres would give volume (700 - 1200) x 1600 / 1200 = -666.67.)
#   Chemicals: base 1600, price 30, volume -500, mix -100, current 1030.
CHEMICALS = dec(base="1600", price="30", volume="-500", mix="-100", current="1030")
# Lab. U: base rate 900 / 1000 USD = 0.9; fx = 880 - 1100 x 0.9 = 880 - 990 = -110;
#   price = (880 + 110) - 900 x 10 / 10 = 90 (10 USD more each, x 10, at 0.9);
#   volume (10 - 10) x 90 = 0; mix 0. N: new 70. X: lost -40.
#   Lab: base 900 + 40 = 940, current 880 + 70 = 950; 940 + 90 - 110 + 70 - 40 = 950.
LAB = dec(base="940", price="90", fx="-110", new="70", lost="-40", current="950")
# Facilities: cleaning in both quarters, no quantity: unquantified 350 - 300 = 50,
#   neither new nor lost.
FACILITIES = dec(base="300", unquantified="50", current="350")
# Packaging: M is bought in both quarters, so neither new nor lost. Cell (S1, M): q0 10,
#   q1 0: volume (0 - 10) x 10.00 = -100, mix 0 - 100 + 100 = 0. Cell (S3, M): volume
#   (10 - 0) x 10.00 = 100, mix 90 - 0 - 100 = -10: the switch to a cheaper supplier is mix;
#   price is like for like (same item, supplier and cost centre).
PACKAGING = dec(base="100", mix="-10", current="90")
# All: base 1600 + 940 + 300 + 100 = 2940; current 1030 + 950 + 350 + 90 = 2420;
#   2940 + 120 - 110 - 500 - 110 + 50 + 70 - 40 = 2420.
ALL_UNITS = dec(
    base="2940",
    price="120",
    fx="-110",
    volume="-500",
    mix="-110",
    unquantified="50",
    new="70",
    lost="-40",
    current="2420",
)


@pytest.fixture(scope="module")
def units(tmp_path_factory) -> Store:
    path = tmp_path_factory.mktemp("units") / "kpi.duckdb"
    return build_store(path, UNITS, USD, UNIT_ITEMS)


def test_every_rule_worked_out_by_hand(units):
    got = bridge_rows(bridge(units, "FY2026-Q1", "FY2026-Q2"))
    assert got == {None: ALL_UNITS}
    assert adds_up(ALL_UNITS)


def test_the_category_rows_hold_each_rule_and_add_up(units):
    got = bridge_rows(bridge(units, "FY2026-Q1", "FY2026-Q2", by="category"), "category")
    assert got == {
        "Chemicals": CHEMICALS,
        "Facilities": FACILITIES,
        "Lab": LAB,
        "Packaging": PACKAGING,
    }
    assert column_sums(got) == ALL_UNITS


def test_a_supplier_switch_is_mix_in_the_supplier_rows_too(units):
    got = bridge_rows(bridge(units, "FY2026-Q1", "FY2026-Q2", by="supplier"), "supplier")
    # S3 (M in Q2 only): volume 100, mix -10 (see PACKAGING); S2: U as in LAB;
    # S1: everything else, so that the three rows add up to ALL_UNITS.
    assert got["S3"] == dec(volume="100", mix="-10", current="90")
    assert got["S2"] == dec(base="900", price="90", fx="-110", current="880")
    assert got["S1"] == dec(
        base="2040",  # 1600 + 40 + 300 + 100 (U, the rest of the base, is S2's)
        price="30",
        volume="-600",  # -500 of Chemicals, -100 of M from S1
        mix="-100",
        unquantified="50",
        new="70",
        lost="-40",
        current="1450",  # 2420 - 880 - 90
    )
    assert column_sums(got) == ALL_UNITS


def test_in_the_documents_currency_there_is_no_fx(units):
    got = bridge_rows(
        bridge(units, "FY2026-Q1", "FY2026-Q2", filters={"supplier_id": ["S2"]}, currency="USD")
    )
    # U in USD: 1000 then 1100 for 10: price (110 - 100) x 10 = 100, no fx.
    assert got == {None: dec(base="1000", price="100", current="1100")}


# ---- a dedicated fixture where every quantity effect is non-zero ----------------------------

# A and B (Packaging, pcs) are bought in both quarters; C (Spares) only in Q1; freight has
# no item and no quantity and is invoiced in Q2 only: it is the "(no item)" of Spares, new.
EVERY_EFFECT = [
    ("2026-01-10", "A", "Packaging", 100, "200.00"),  # 100 pcs at 2.00
    ("2026-02-10", "B", "Packaging", 50, "500.00"),  # 50 at 10.00
    ("2026-03-10", "C", "Spares", 4, "100.00"),  # 4 at 25.00
    ("2026-04-10", "A", "Packaging", 130, "273.00"),  # 130 at 2.10
    ("2026-05-10", "B", "Packaging", 30, "285.00"),  # 30 at 9.50
    ("2026-06-10", None, "Spares", None, "40.00"),  # freight
]
EVERY_ITEM = [("A", "Packaging", "pcs"), ("B", "Packaging", "pcs"), ("C", "Spares", "pcs")]


@pytest.fixture(scope="module")
def every_effect(tmp_path_factory) -> Store:
    path = tmp_path_factory.mktemp("every") / "kpi.duckdb"
    return build_store(path, EVERY_EFFECT, items=EVERY_ITEM)


def test_every_effect_worked_out_by_hand(every_effect):
    got = bridge_rows(bridge(every_effect, "FY2026-Q1", "FY2026-Q2"))
    # base = 200 + 500 + 100 = 800; current = 273 + 285 + 40 = 598.
    # price: A (2.10 - 2.00) x 130 = 13.00; B (9.50 - 10.00) x 30 = -15.00; total -2.00.
    # volume, pcs of Packaging at P0 = 700 / 150: A (130 - 100) x 4.666.. = 140.00,
    #   B (30 - 50) x 4.666.. = -93.33; total 46.67.
    # mix: A 273 - 200 - 13 - 140 = -80; B 285 - 500 + 15 + 93.33 = -106.67; total -186.67
    #      (the quantity moved from B at 10.00 to A at 2.00).
    # new: freight 40.00; lost: C -100.00.
    # 800 - 2 + 46.67 - 186.67 + 40 - 100 = 598.
    expected = dec(
        base="800",
        price="-2.00",
        volume="46.67",
        mix="-186.67",
        new="40",
        lost="-100",
        current="598",
    )
    assert got == {None: expected}
    assert adds_up(expected)


def test_every_effect_by_category(every_effect):
    got = bridge_rows(bridge(every_effect, "FY2026-Q1", "FY2026-Q2", by="category"), "category")
    assert got == {
        # the continuing items live in Packaging: the same price, volume and mix as above
        "Packaging": dec(base="700", price="-2", volume="46.67", mix="-186.67", current="558"),
        # C lost, freight new
        "Spares": dec(base="100", new="40", lost="-100", current="40"),
    }


def test_a_credit_note_netting_quantity_to_zero_is_never_new_and_lost(tmp_path):
    store = build_store(
        tmp_path / "kpi.duckdb",
        [
            ("2026-01-10", "D", "Spares", 5, "50.00"),
            ("2026-02-10", "D", "Spares", -5, "-45.00"),  # credit note: Q0 = 0, S0 = 5
            ("2026-04-10", "D", "Spares", 2, "20.00"),
        ],
        items=[("D", "Spares", "pcs")],
    )
    got = bridge_rows(bridge(store, "FY2026-Q1", "FY2026-Q2"))
    # D has lines in both quarters: neither new nor lost. Its base quantity nets to 0, so
    # no base price: no price effect, volume 0 (the group's base quantity is 0), and the
    # change 20 - 5 = 15 is mix.
    assert got == {None: dec(base="5", mix="15", current="20")}


def test_no_spend_in_either_period(every_effect):
    assert bridge_rows(bridge(every_effect, "FY2030", "FY2031")) == {None: dec()}
    by_country = bridge(every_effect, "FY2030", "FY2031", by="country")
    assert by_country.is_empty() and by_country.columns == ["country", *COLUMNS]


@pytest.mark.parametrize(
    "start,end,options,message",
    [
        ("2026-13", "FY2026-Q2", {}, "'2026-13' is not a month"),
        ("FY2026-Q1", "next year", {}, "'next year' is not a date or period"),
        ("FY2026-Q2", "FY2026-Q1", {}, "starts after the current period"),
        ("FY2026-Q1", "FY2026-Q2", {"by": "item_id"}, "allowed: category, cost_centre"),
        ("FY2026-Q1", "FY2026-Q2", {"filters": {"amount; --": ["1"]}}, "cannot filter"),
        ("FY2026-Q1", "FY2026-Q2", {"currency": "XXX"}, "unknown currency 'XXX'"),
        ("FY2026-Q1", "FY2026-Q1", {}, r"FY2026-Q1 \(2026-01-01 to 2026-03-31\) and FY2026-Q1"),
        ("FY2026", "FY2026-Q4", {"allow_unequal": True}, "overlap; choose a base period"),
        ("2026-01", "FY2026-Q1", {}, "overlap"),
        ("2026-01-01", "FY2026-Q1", {"allow_unequal": True}, "overlap"),
        ("FY2025", "FY2026-Q4", {}, "FY2025 is a fiscal year, FY2026-Q4 a quarter"),
        ("2026-01", "2026-04-01", {}, "compare two days"),
    ],
)
def test_bad_requests_are_refused_in_words(every_effect, start, end, options, message):
    with pytest.raises(BridgeError, match=message):
        bridge(every_effect, start, end, **options)


def test_unequal_periods_are_compared_on_purpose(every_effect):
    # FY2025 holds nothing; FY2026-Q2 every Q2 line: 273 + 285 + 40 = 598, all new.
    got = bridge_rows(bridge(every_effect, "FY2025", "FY2026-Q2", allow_unequal=True))
    assert got == {None: dec(new="598", current="598")}


def test_filter_values_are_parameters_not_sql(every_effect):
    hostile = {"category": ["Packaging' OR '1'='1"]}
    got = bridge_rows(bridge(every_effect, "FY2026-Q1", "FY2026-Q2", filters=hostile))
    assert got == {None: dec()}


def test_formulas_and_rules_explain_every_column():
    for c in COLUMNS:
        assert f"**{c}**" in FORMULAS
    assert "base + price + fx + volume + mix + unquantified + new + lost = current" in FORMULAS
    rules = " ".join(RULES)
    for words in (
        "may not overlap",
        "never adds different units",
        "exchange-rate effect",
        "compared as spend",
        "no invoice line at all",
    ):
        assert words in rules


# ---- the identity and the additivity on random invoice lines --------------------------------

FX = [("2026-01-01", "USD", Decimal("0.9")), ("2026-04-01", "USD", Decimal("0.81234567"))]
# A and B share kilograms in Packaging; C is in litres; E has no unit
RANDOM_ITEMS = [
    ("A", "Packaging", "kg"),
    ("B", "Packaging", "kg"),
    ("C", "Spares", "litre"),
    ("E", "Spares", None),
]
LINE = st.tuples(
    st.dates(date(2026, 1, 1), date(2026, 6, 30)).map(str),
    st.sampled_from(["A", "B", "C", "E", None]),
    st.sampled_from(["Packaging", "Spares", None]),
    st.one_of(
        st.none(),
        st.just(Decimal(0)),
        st.decimals(Decimal("-5"), Decimal("40"), places=3),
    ),
    st.decimals(Decimal("-500"), Decimal("5000"), places=2),
    st.sampled_from(["EUR", "USD"]),
    st.sampled_from(["S1", "S2"]),
    st.sampled_from(["CC1", "CC2"]),
)


def _in_eur(amount: Decimal, currency: str, day: str) -> Decimal:
    if currency == "EUR":
        return amount
    rate = FX[0][2] if day < FX[1][0] else FX[1][2]
    return (amount * rate).quantize(CENT, ROUND_HALF_UP)


def _div(n: Decimal, d: Decimal) -> Decimal:
    """n / d to the cent, half away from zero (0 when d is 0)."""
    return Decimal(0) if d == 0 else (n / d).quantize(CENT, ROUND_HALF_UP)


def reference_bridge(lines: list[tuple], by: str | None) -> dict:
    """The definitions of kpi/analyses/bridge.py written again in plain Decimal arithmetic."""
    category_of = {i: c for i, c, _ in RANDOM_ITEMS}
    unit_of = {i: u for i, _, u in RANDOM_ITEMS}
    # per (cell, currency): s0, d0, q0, n0, s1, d1, q1, n1
    by_cur: dict = defaultdict(lambda: [Decimal(0)] * 8)
    scope_of: dict = {}
    for day, item, category, qty, amount, currency, supplier, cc in lines:
        category = category or category_of.get(item)
        cell = (category, cc, supplier, item)
        scope_of[cell] = {
            None: None,
            "category": category,
            "supplier": supplier,
            "cost_centre": cc,
        }[by]
        k = by_cur[(cell, currency)]
        at = 0 if day < "2026-04-01" else 4
        k[at] += _in_eur(amount, currency, day)
        k[at + 1] += amount
        k[at + 2] += (qty or 0) if item else 0
        k[at + 3] += 1
    cells: dict = defaultdict(lambda: [Decimal(0)] * 7)  # s0, q0, n0, s1, q1, n1, fx
    for (cell, _), (s0, d0, q0, n0, s1, d1, q1, n1) in by_cur.items():
        c = cells[cell]
        for i, v in enumerate((s0, q0, n0, s1, q1, n1)):
            c[i] += v
        if d0 != 0:
            c[6] += s1 - _div(d1 * s0, d0)
    seen: dict = defaultdict(lambda: [0, 0])
    for (category, _, _, item), c in cells.items():
        seen[(category, item)][0] += c[2]
        seen[(category, item)][1] += c[5]

    def cls(cell, c):
        n0, n1 = seen[(cell[0], cell[3])]
        if not n0:
            return "new"
        if not n1:
            return "lost"
        return "unquantified" if c[1] == 0 and c[4] == 0 else "quantified"

    def group(cell):
        unit = unit_of.get(cell[3])
        return (cell[0], ("unit", unit) if unit else ("item", cell[3]))

    groups: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for cell, c in cells.items():
        if cls(cell, c) == "quantified" and c[1] != 0:
            groups[group(cell)][0] += c[0]
            groups[group(cell)][1] += c[1]
    out: dict = {}
    for cell, c in cells.items():
        s0, q0, _, s1, q1, _, fx = c
        row = out.setdefault(scope_of[cell], {k: Decimal(0) for k in COLUMNS})
        row["base"] += s0
        row["current"] += s1
        kind = cls(cell, c)
        if kind == "new":
            row["new"] += s1
        elif kind == "lost":
            row["lost"] -= s0
        elif kind == "unquantified":
            row["fx"] += fx
            row["unquantified"] += s1 - s0 - fx
        else:
            price = s1 - fx - _div(s0 * q1, q0) if q0 and q1 else Decimal(0)
            gs0, gq0 = groups.get(group(cell), (Decimal(0), Decimal(0)))
            volume = _div((q1 - q0) * gs0, gq0)
            row["fx"] += fx
            row["price"] += price
            row["volume"] += volume
            row["mix"] += s1 - s0 - fx - price - volume
    return out


TOTAL_SPEND = load_definitions(ROOT / "config" / "kpis.yaml")
TOTAL_SPEND = engine.select_definitions(TOTAL_SPEND, ["total_spend"])


def engine_total_spend(store: Store, by: tuple[str, ...] = ()) -> dict:
    """{(period, *by): total_spend} from the engine, back to exact cents."""
    frame = engine.compute(store, TOTAL_SPEND, "quarter", by).frame
    return {
        tuple(r[c] for c in ("period", *by)): Decimal(repr(r["value"])).quantize(CENT)
        for r in frame.iter_rows(named=True)
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINE, min_size=8, max_size=30))
def test_identity_and_additivity_hold_exactly_on_random_lines(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("prop") / "kpi.duckdb"
    store = build_store(path, lines, FX, RANDOM_ITEMS)
    total = bridge_rows(bridge(store, "FY2026-Q1", "FY2026-Q2"))
    assert adds_up(total[None])
    assert total == {None: reference_bridge(lines, None).get(None, dec())}
    for by in ("category", "supplier", "cost_centre"):
        split = bridge_rows(bridge(store, "FY2026-Q1", "FY2026-Q2", by=by), by)
        assert all(adds_up(row) for row in split.values()), by
        assert split == reference_bridge(lines, by), by
        assert column_sums(split) == total[None], by  # every column, to the cent

    spend = engine_total_spend(store)
    assert total[None]["base"] == spend.get(("FY2026-Q1",), Decimal(0))
    assert total[None]["current"] == spend.get(("FY2026-Q2",), Decimal(0))


# ---- the demo: the rows of every split add up to the total, in every column ---------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_copy) -> Store:
    return Store(demo_copy(0.05, tmp_path_factory.mktemp("demo") / "kpi.duckdb"))


@pytest.mark.parametrize("by", DIMENSIONS)
def test_on_the_demo_every_split_adds_up_to_the_cent(demo, by):
    total = bridge_rows(bridge(demo, "FY2025-Q3", "FY2026-Q3"))[None]
    split = bridge_rows(bridge(demo, "FY2025-Q3", "FY2026-Q3", by=by), by)
    assert adds_up(total) and all(adds_up(row) for row in split.values())
    assert column_sums(split) == total  # base, price, fx, volume, mix, ... each to the cent
    assert total["base"] > 0 and total["current"] > 0


def test_on_the_demo_fx_shows_where_currencies_move(demo):
    # the demo buys in USD and GBP, whose rates move between the quarters
    total = bridge_rows(bridge(demo, "FY2025-Q3", "FY2026-Q3"))[None]
    assert total["fx"] != 0
    in_eur = bridge_rows(
        bridge(demo, "FY2025-Q3", "FY2026-Q3", filters={"supplier_id": _eur_suppliers(demo)})
    )[None]
    assert in_eur["fx"] == 0  # invoices in the reporting currency have no exchange-rate effect


def _eur_suppliers(store: Store) -> list[str]:
    with store.read() as con:
        rows = con.sql(
            "SELECT DISTINCT supplier_id FROM invoices GROUP BY supplier_id "
            "HAVING bool_and(currency = 'EUR')"
        ).fetchall()
    return [r[0] for r in rows]


# ---- the command line -----------------------------------------------------------------------


def run_cli(args: str, db: Path) -> subprocess.CompletedProcess:
    """`python -m kpi bridge ARGS --db DB` (ARGS split on spaces)."""
    return subprocess.run(
        [sys.executable, "-m", "kpi", "bridge", *args.split(), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_json_contract(hand_store):
    out = run_cli("--from FY2026-Q1 --to FY2026-Q2 --format json", db=hand_store.path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {
        "base": 2550.0,
        "price": -900.0,
        "fx": -100.0,
        "volume": 900.0,
        "mix": 0.0,
        "unquantified": 0.0,
        "new": 0.0,
        "lost": -1650.0,
        "current": 800.0,
    }
    assert list(got) == list(COLUMNS)
    assert all(type(v) is float for v in got.values())  # JSON numbers, not strings
    assert '"base": 2550.00,' in out.stdout  # two decimals, written from the Decimal


def test_cli_json_by_category_adds_up_to_the_total(units):
    args = "--from FY2026-Q1 --to FY2026-Q2 --format json"
    total = run_cli(args, db=units.path)
    split = run_cli(args + " --by category", db=units.path)
    assert total.returncode == 0 and split.returncode == 0, total.stderr + split.stderr
    whole = json.loads(total.stdout, parse_float=Decimal)
    rows = json.loads(split.stdout, parse_float=Decimal)
    assert [r["category"] for r in rows] == ["Chemicals", "Facilities", "Lab", "Packaging"]
    assert rows[2] == {"category": "Lab", **LAB}
    assert all(set(r) == {"category", *COLUMNS} for r in rows)
    assert whole == ALL_UNITS
    assert {c: sum(r[c] for r in rows) for c in COLUMNS} == whole


def test_cli_table_and_csv(every_effect):
    table = run_cli("--from FY2026-Q1 --to FY2026-Q2", db=every_effect.path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "Savings bridge from FY2026-Q1 to FY2026-Q2, in EUR"
    assert lines[1].split() == ["base", "spend", "€800.00"]
    assert lines[2].split() == ["price", "effect", "-€2.00"]
    assert lines[3].split() == ["exchange-rate", "effect", "€0.00"]
    assert lines[-1].split() == ["current", "spend", "€598.00"]
    assert len({len(line) for line in lines[1:]}) == 1  # aligned

    csv = run_cli(
        "--from FY2026-Q1 --to FY2026-Q2 --by category --format csv", db=every_effect.path
    )
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == [
        "category,base,price,fx,volume,mix,unquantified,new,lost,current",
        "Packaging,700.00,-2.00,0.00,46.67,-186.67,0.00,0.00,0.00,558.00",
        "Spares,100.00,0.00,0.00,0.00,0.00,0.00,40.00,-100.00,40.00",
    ]


@pytest.mark.parametrize(
    "args,message",
    [
        ("--from 31/02/2026 --to FY2026-Q2", "'31/02/2026' is not a date or period"),
        ("--from FY2026-Q2 --to FY2026-Q1", "starts after the current period"),
        ("--from FY2026-Q1 --to FY2026-Q2 --by item", ", ".join(DIMENSIONS)),
        (
            "--from FY2025 --to FY2025-Q4",
            "the periods FY2025 (2025-01-01 to 2025-12-31) and FY2025-Q4 "
            "(2025-10-01 to 2025-12-31) overlap",
        ),
        ("--from FY2025 --to FY2025-Q4 --allow-unequal", "overlap"),
        (
            "--from FY2025 --to FY2026-Q4",
            "the periods differ in length (FY2025 is a fiscal year, FY2026-Q4 a quarter); "
            "compare two quarters, or allow periods of different length on purpose "
            "(--allow-unequal",
        ),
    ],
    ids=[
        "bad-period",
        "from-after-to",
        "unknown-dimension",
        "overlap",
        "overlap-even-allowed",
        "unequal",
    ],
)
def test_cli_bad_input_is_one_clear_message(hand_store, args, message):
    out = run_cli(args, db=hand_store.path)
    assert out.returncode == 1
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one line
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_cli_compares_unequal_periods_when_asked(hand_store):
    # FY2025 holds nothing in the hand fixture; FY2026-Q2 holds INV3 only
    # (I2, 1000 USD x 0.8 = 800): all new.
    out = run_cli("--from FY2025 --to FY2026-Q2 --allow-unequal --format json", db=hand_store.path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout, parse_float=Decimal) == dec(new="800", current="800")
