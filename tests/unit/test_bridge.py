"""The savings bridge (kpi/analyses/bridge.py): figures worked out by hand, plus its identity.

Q1 = January–March 2026 (FY2026-Q1 with a January fiscal year), Q2 = April–June 2026.
In tests/hand_fixture.py USD converts at 0.9 EUR from 2026-01-01 and 0.8 from 2026-04-01.
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

from kpi.analyses.bridge import COLUMNS, DIMENSIONS, FORMULAS, BridgeError, savings_bridge
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


def bridge(store, from_period, to_period, by=None, filters=None, currency=None):
    """The bridge for a scope of these filters and currency (its period range is unused)."""
    scope = Scope.of(filters=filters, currency=currency)
    return savings_bridge(store, scope, from_period, to_period, by)


def build_store(path: Path, lines: list[tuple], fx: list[tuple] | None = None) -> Store:
    """A store holding only these invoice lines:
    (date, item, category, quantity, amount[, currency]) each, supplier S1, cost centre CC1.
    """
    rows = []
    for n, line in enumerate(lines):
        day, item, category, qty, amount, *cur = line
        price = None if not qty else (Decimal(amount) / Decimal(qty)).quantize(Decimal("0.0001"))
        rows.append(
            (f"INV{n}", 1, "S1", day, item, category, "CC1", qty, price, amount, *(cur or ["EUR"]))
        )
    store = Store(path)
    with store.write(fresh=True) as con:
        if rows:
            con.executemany(
                f"INSERT INTO invoices ({INVOICE_COLUMNS}) VALUES ({', '.join('?' * 11)})", rows
            )
        if fx:
            con.executemany("INSERT INTO fx_rates VALUES (?, ?, ?)", fx)
    return store


def bridge_rows(frame: pl.DataFrame, by: str | None = None) -> dict:
    """{scope value (None without by): {column: Decimal}}."""
    return {
        (r[by] if by else None): {c: r[c] for c in COLUMNS} for r in frame.iter_rows(named=True)
    }


def dec(**figures: str) -> dict[str, Decimal]:
    return {c: Decimal(figures.get(c, "0.00")) for c in COLUMNS}


def adds_up(row: dict[str, Decimal]) -> bool:
    """base + price + volume + mix + new + lost = current, exactly."""
    effects = ("base", "price", "volume", "mix", "new", "lost")
    return sum((row[c] for c in effects), Decimal(0)) == row["current"]


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
        # I2 continues: p0 = 900, p1 = 400; price = (400 - 900) x 2 = -1000.
        # volume = (2 - 1) x 900 / 1 = 900; mix = (800 - 900) - (-1000) - 900 = 0.
        # I1 is not bought in Q2: lost = -1650; nothing new.
        dec(base="2550", price="-1000", volume="900", lost="-1650", current="800"),
        "whole company",
    ),
    (
        "FY2026-Q1",
        "FY2026-Q2",
        {"filters": {"cost_centre": ["CC2"]}},
        # CC2 holds only I2: base 900, current 800, price -1000, volume 900.
        dec(base="900", price="-1000", volume="900", current="800"),
        "cost centre CC2",
    ),
    (
        "FY2026-Q1",
        "FY2026-Q2",
        {"currency": "USD"},
        # In USD, I2 stays 1000 then 1000 for 2: price (500 - 1000) x 2 = -1000, volume
        # (2 - 1) x 1000 = 1000. EUR lines at 1 / 0.9 = 1.11111111 USD each, rounded per line:
        # 1050 -> 1166.67, 100 -> 111.11, 500 -> 555.56; lost = -1833.34; base = 2833.34.
        dec(base="2833.34", price="-1000", volume="1000", lost="-1833.34", current="1000"),
        "in USD",
    ),
    (
        "2026-01",
        "2026-03",
        {},
        # January: I1 1150 for 110 pcs; March: I1 500 for 50 pcs; p1 = 10.
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
        # FY2027 holds nothing: every key is lost.
        dec(base="3350", lost="-3350"),
        "fiscal years",
    ),
    (
        "2026-02-15",
        "2026-04-05",
        {},
        # two single days: INV2 (I2, 1 pc, 900) and INV3 (I2, 2 pcs, 800) as in the first case.
        dec(base="900", price="-1000", volume="900", current="800"),
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
        "IT hardware": dec(base="900", price="-1000", volume="900", current="800"),
        "Packaging": dec(base="1650", lost="-1650", current="0"),
    }


# ---- a dedicated fixture where every effect is non-zero -------------------------------------

# A and B (Packaging) are bought in both quarters; C (Spares) only in Q1; freight has no item
# and no quantity and is invoiced in Q2 only: it is the "(no item)" key of Spares.
EVERY_EFFECT = [
    ("2026-01-10", "A", "Packaging", 100, "200.00"),  # 100 pcs at 2.00
    ("2026-02-10", "B", "Packaging", 50, "500.00"),  # 50 at 10.00
    ("2026-03-10", "C", "Spares", 4, "100.00"),  # 4 at 25.00
    ("2026-04-10", "A", "Packaging", 130, "273.00"),  # 130 at 2.10
    ("2026-05-10", "B", "Packaging", 30, "285.00"),  # 30 at 9.50
    ("2026-06-10", None, "Spares", None, "40.00"),  # freight
]


@pytest.fixture(scope="module")
def every_effect(tmp_path_factory) -> Store:
    return build_store(tmp_path_factory.mktemp("every") / "kpi.duckdb", EVERY_EFFECT)


def test_every_effect_worked_out_by_hand(every_effect):
    got = bridge_rows(bridge(every_effect, "FY2026-Q1", "FY2026-Q2"))
    # base = 200 + 500 + 100 = 800; current = 273 + 285 + 40 = 598.
    # price: A (2.10 - 2.00) x 130 = 13.00; B (9.50 - 10.00) x 30 = -15.00; total -2.00.
    # volume: continuing A and B: (160 - 150) x 700 / 150 = 46.666.. = 46.67.
    # mix: (273 + 285) - (200 + 500) = -142; -142 - (-2) - 46.67 = -186.67
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


def test_a_credit_note_netting_quantity_to_zero_counts_in_new_and_lost(tmp_path):
    store = build_store(
        tmp_path / "kpi.duckdb",
        [
            ("2026-01-10", "D", "Spares", 5, "50.00"),
            ("2026-02-10", "D", "Spares", -5, "-45.00"),  # credit note: Q0 = 0, S0 = 5
            ("2026-04-10", "D", "Spares", 2, "20.00"),
        ],
    )
    got = bridge_rows(bridge(store, "FY2026-Q1", "FY2026-Q2"))
    # D is bought in both quarters but Q0 = 0, so it is not continuing: new 20, lost -5.
    assert got == {None: dec(base="5", new="20", lost="-5", current="20")}


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
    ],
)
def test_bad_requests_are_refused_in_words(every_effect, start, end, options, message):
    with pytest.raises(BridgeError, match=message):
        bridge(every_effect, start, end, **options)


def test_filter_values_are_parameters_not_sql(every_effect):
    hostile = {"category": ["Packaging' OR '1'='1"]}
    got = bridge_rows(bridge(every_effect, "FY2026-Q1", "FY2026-Q2", filters=hostile))
    assert got == {None: dec()}


def test_formulas_explain_every_column():
    for term in ("**base**", "**price**", "**volume**", "**mix**", "**new**", "**lost**"):
        assert term in FORMULAS
    assert "base + price + volume + mix + new + lost = current" in FORMULAS


# ---- the identity on random invoice lines ---------------------------------------------------

FX = [("2026-01-01", "USD", Decimal("0.9")), ("2026-04-01", "USD", Decimal("0.81234567"))]
LINE = st.tuples(
    st.dates(date(2026, 1, 1), date(2026, 6, 30)).map(str),
    st.sampled_from(["A", "B", "C", None]),
    st.sampled_from(["Packaging", "Spares", None]),
    st.one_of(
        st.none(),
        st.just(Decimal(0)),
        st.decimals(Decimal("-5"), Decimal("40"), places=3),
    ),
    st.decimals(Decimal("-500"), Decimal("5000"), places=2),
    st.sampled_from(["EUR", "USD"]),
)


def _in_eur(amount: Decimal, currency: str, day: str) -> Decimal:
    if currency == "EUR":
        return amount
    rate = FX[0][2] if day < FX[1][0] else FX[1][2]
    return (amount * rate).quantize(CENT, ROUND_HALF_UP)


def _div(n: Decimal, d: Decimal) -> Decimal:
    return Decimal(0) if d == 0 else (n / d).quantize(CENT, ROUND_HALF_UP)


def reference_bridge(lines: list[tuple], by_category: bool) -> dict:
    """The definitions of kpi/analyses/bridge.py written again in plain Decimal arithmetic."""
    keys: dict = defaultdict(lambda: [Decimal(0)] * 4)  # s0, q0, s1, q1
    for day, item, category, qty, amount, currency in lines:
        scope = category if by_category else None
        key = (scope, item, category if item is None else None)
        k = keys[key]
        at = 0 if day < "2026-04-01" else 2
        k[at] += _in_eur(amount, currency, day)
        k[at + 1] += qty or 0
    out: dict = {}
    for scope in {k[0] for k in keys}:
        rows = [v for k, v in keys.items() if k[0] == scope]
        cont = [r for r in rows if r[1] != 0 and r[3] != 0]
        other = [r for r in rows if not (r[1] != 0 and r[3] != 0)]
        price = sum((r[2] - _div(r[0] * r[3], r[1]) for r in cont), Decimal(0))
        cs0, cq0 = sum(r[0] for r in cont), sum(r[1] for r in cont)
        cs1, cq1 = sum(r[2] for r in cont), sum(r[3] for r in cont)
        volume = _div(cs0 * (cq1 - cq0), cq0)
        out[scope] = {
            "base": sum((r[0] for r in rows), Decimal(0)),
            "price": price,
            "volume": volume,
            "mix": cs1 - cs0 - price - volume,
            "new": sum((r[2] for r in other), Decimal(0)),
            "lost": -sum((r[0] for r in other), Decimal(0)),
            "current": sum((r[2] for r in rows), Decimal(0)),
        }
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
def test_identity_holds_exactly_on_random_lines(tmp_path_factory, lines):
    store = build_store(tmp_path_factory.mktemp("prop") / "kpi.duckdb", lines, FX)
    total = bridge_rows(bridge(store, "FY2026-Q1", "FY2026-Q2"))
    split = bridge_rows(bridge(store, "FY2026-Q1", "FY2026-Q2", by="category"), "category")

    assert adds_up(total[None])
    assert all(adds_up(row) for row in split.values())
    assert total == {None: reference_bridge(lines, False).get(None, dec())}
    assert split == reference_bridge(lines, True)
    for c in ("base", "current"):
        assert sum((r[c] for r in split.values()), Decimal(0)) == total[None][c]

    spend = engine_total_spend(store)
    assert total[None]["base"] == spend.get(("FY2026-Q1",), Decimal(0))
    assert total[None]["current"] == spend.get(("FY2026-Q2",), Decimal(0))
    by_cat = engine_total_spend(store, ("category",))
    for category, row in split.items():
        assert row["base"] == by_cat.get(("FY2026-Q1", category), Decimal(0))
        assert row["current"] == by_cat.get(("FY2026-Q2", category), Decimal(0))


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
        "price": -1000.0,
        "volume": 900.0,
        "mix": 0.0,
        "new": 0.0,
        "lost": -1650.0,
        "current": 800.0,
    }
    assert all(type(v) is float for v in got.values())  # JSON numbers, not strings
    assert '"base": 2550.00,' in out.stdout  # two decimals, written from the Decimal


def test_cli_json_by_category_is_a_list_carrying_the_key(every_effect):
    out = run_cli(
        "--from FY2026-Q1 --to FY2026-Q2 --by category --format json", db=every_effect.path
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout, parse_float=Decimal)
    assert [r["category"] for r in rows] == ["Packaging", "Spares"]
    assert rows[0] == {
        "category": "Packaging",
        **dec(base="700", price="-2", volume="46.67", mix="-186.67", current="558"),
    }
    assert all(set(r) == {"category", *COLUMNS} for r in rows)


def test_cli_table_and_csv(every_effect):
    table = run_cli("--from FY2026-Q1 --to FY2026-Q2", db=every_effect.path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "Savings bridge from FY2026-Q1 to FY2026-Q2, in EUR"
    assert lines[1].split() == ["base", "spend", "€800.00"]
    assert lines[2].split() == ["price", "effect", "-€2.00"]
    assert lines[-1].split() == ["current", "spend", "€598.00"]
    assert len({len(line) for line in lines[1:]}) == 1  # aligned

    csv = run_cli(
        "--from FY2026-Q1 --to FY2026-Q2 --by category --format csv", db=every_effect.path
    )
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == [
        "category,base,price,volume,mix,new,lost,current",
        "Packaging,700.00,-2.00,46.67,-186.67,0.00,0.00,558.00",
        "Spares,100.00,0.00,0.00,0.00,40.00,-100.00,40.00",
    ]


@pytest.mark.parametrize(
    "args,message",
    [
        ("--from 31/02/2026 --to FY2026-Q2", "'31/02/2026' is not a date or period"),
        ("--from FY2026-Q2 --to FY2026-Q1", "starts after the current period"),
        ("--from FY2026-Q1 --to FY2026-Q2 --by item", ", ".join(DIMENSIONS)),
    ],
    ids=["bad-period", "from-after-to", "unknown-dimension"],
)
def test_cli_bad_input_is_one_clear_message(hand_store, args, message):
    out = run_cli(args, db=hand_store.path)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
