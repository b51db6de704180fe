"""The rows behind a KPI value (kpi.semantic.explain) on figures worked out by hand.

The store is tests/hand_fixture.py (see tests/unit/test_engine.py for its values).
FY2026-Q1 = January–March 2026; USD converts at 0.9 EUR. Invoice lines of Q1 in EUR:
INV1/1 1050.00 (S1, Packaging, CC1, on PO1, paid in 26 days), INV1/2 100.00 (same),
INV2/1 1000 USD = 900.00 (S2, IT hardware, CC2, no PO, paid in 64 days, in Q2),
INV4/1 500.00 (S1, Packaging, CC1, PO3, paid in 8 days). S1 is preferred, S2 is not.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.semantic.explain import ExplainError, explain, explain_rows
from kpi.semantic.kpi_definition import get
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return hand_fixture.build(tmp_path_factory.mktemp("explain") / "kpi.duckdb")


@pytest.fixture(scope="module")
def definitions(store):
    return load_definitions(ROOT / "config" / "kpis.yaml", store.settings)


def every_row(store, explanation, **kw):
    return explain_rows(store, explanation, limit=10_000, **kw)


def test_a_sum_adds_up_to_the_value_to_the_cent(store, definitions):
    e = explain(store, get(definitions, "total_spend"), "FY2026-Q1")
    # 1050.00 + 100.00 + 1000 USD x 0.9 + 500.00
    assert e.value == pytest.approx(2550.00)
    assert e.numerator == Decimal("2550.00") and e.denominator is None
    assert e.reconciles and e.row_count == 4 and e.unit == "currency"
    rows = every_row(store, e)
    assert rows.height == 4
    assert sum(rows["part_1"].to_list()) == Decimal("2550.00")  # exact, Decimal
    assert sorted(rows["amount"].to_list()) == [
        Decimal("100.00"),
        Decimal("500.00"),
        Decimal("900.00"),
        Decimal("1050.00"),
    ]
    # the columns: period, the dimensions, the formula's column, the part (lineage follows
    # once the views carry it)
    assert e.columns[:1] == ["invoice_date"] and "amount" in e.columns
    assert e.columns.index("part_1") > e.columns.index("amount")


def test_a_ratio_gives_numerator_and_denominator(store, definitions):
    e = explain(store, get(definitions, "budget_utilisation"), "FY2026-Q1")
    # actual 1150 + 900 + 500 over budget 1000 + 1000 + 600
    assert e.numerator == Decimal("2550.00") and e.denominator == Decimal("2600.00")
    assert e.value == pytest.approx(2550 / 2600, abs=1e-12)
    assert e.reconciles and e.recomputed == pytest.approx(e.value, abs=1e-9)


def test_a_weighted_ratio_with_filters(store, definitions):
    e = explain(store, get(definitions, "days_to_pay"), "FY2026-Q1")
    # paid in Q1: INV1/1 1050 x 26 + INV1/2 100 x 26 + INV4/1 500 x 8 over 1050 + 100 + 500
    assert e.numerator == Decimal("33900.00") and e.denominator == Decimal("1650.00")
    assert e.value == pytest.approx(33900 / 1650, abs=1e-9) and e.reconciles
    parts = {p.column: p.role for p in e.parts}
    assert parts == {"part_1": "sum", "part_2": "sum"}


def test_an_average_is_a_sum_over_a_count(store, definitions):
    e = explain(store, get(definitions, "po_cycle_time_days"), "FY2026-Q1")
    # approval in 2 (PO1), 6 (PO2) and 1 (PO3) days: 9 / 3
    assert (e.numerator, e.denominator) == (9, 3)
    assert e.value == pytest.approx(3.0) and e.reconciles and e.row_count == 3
    rows = every_row(store, e)
    assert sorted(rows["part_1_sum"].to_list()) == [1, 2, 6]
    assert rows["part_1_count"].to_list() == [1, 1, 1]


def test_a_count_with_filters(store, definitions):
    e = explain(store, get(definitions, "supplier_otd"), "FY2026-Q1")
    # three PO lines promised in Q1 are counted; PO1's last receipt came a day late
    assert (e.numerator, e.denominator) == (2, 3)
    assert e.value == pytest.approx(2 / 3) and e.reconciles
    rows = every_row(store, e, sort_by="part_1")
    assert rows["part_2"].to_list() == [1, 1, 1]
    assert rows["part_1"].to_list() == [1, 1, None]  # sorted, nulls last


def test_where_narrows_the_rows_like_an_engine_filter(store, definitions):
    kpi = get(definitions, "total_spend")
    e = explain(store, kpi, "FY2026-Q1", ["category = 'Packaging'"])
    # 1050 + 100 + 500: the IT hardware line is left out
    assert e.value == pytest.approx(1650.00) and e.numerator == Decimal("1650.00")
    assert e.row_count == 3 and e.where == ["category = 'Packaging'"]
    same = engine.compute(
        store, [kpi], "quarter", (), *_q1(), filters={"category": ["Packaging"]}
    ).frame
    assert same["value"].to_list() == [e.value]
    two = explain(store, kpi, "FY2026-Q1", ["category = 'Packaging'", "amount >= 500"])
    assert two.numerator == Decimal("1550.00") and two.row_count == 2


def test_month_and_fiscal_year_periods(store, definitions):
    kpi = get(definitions, "total_spend")
    assert explain(store, kpi, "2026-02").numerator == Decimal("900.00")
    assert explain(store, kpi, "FY2026").numerator == Decimal("3350.00")  # Q1 + 800 in Q2


@pytest.mark.parametrize(
    "hostile,said",
    [
        ("1=1; DROP TABLE invoices", "';' at character 4 is not allowed"),
        ("read_csv('/etc/passwd') IS NOT NULL", "function read_csv() at character 1"),
        ("no_such_column = 1", "no_such_column"),
        ("sum(amount) > 0", "aggregate"),
    ],
)
def test_a_hostile_where_is_refused_with_the_guards_sentence(store, definitions, hostile, said):
    with pytest.raises(ExplainError) as refused:
        explain(store, get(definitions, "total_spend"), "FY2026-Q1", [hostile])
    assert said in str(refused.value) and hostile in str(refused.value)


@pytest.mark.parametrize("period", ["FY2026-Q5", "2026-13", "Q1", "2026-01-15", ""])
def test_a_bad_period_is_refused(store, definitions, period):
    with pytest.raises(ExplainError, match="is not a period: use a month"):
        explain(store, get(definitions, "total_spend"), period)


def test_an_unknown_kpi_is_refused_by_name(definitions):
    with pytest.raises(ValueError, match="unknown KPI 'total_spnd'. Did you mean 'total_spend'"):
        get(definitions, "total_spnd")


def test_a_period_without_rows_has_no_value_and_nothing_to_reconcile(store, definitions):
    e = explain(store, get(definitions, "total_spend"), "FY2025-Q1")
    assert e.value is None and e.row_count == 0 and e.reconciles
    assert every_row(store, e).height == 0


def test_paging_and_sorting_happen_in_sql(store, definitions):
    e = explain(store, get(definitions, "total_spend"), "FY2026-Q1")
    top = explain_rows(store, e, limit=2, sort_by="amount", descending=True)
    assert top["amount"].to_list() == [Decimal("1050.00"), Decimal("900.00")]
    rest = explain_rows(store, e, offset=2, limit=2, sort_by="amount", descending=True)
    assert rest["amount"].to_list() == [Decimal("500.00"), Decimal("100.00")]
    with pytest.raises(ExplainError, match="cannot sort by 'price': choose one of invoice_date"):
        explain_rows(store, e, sort_by="price")


USER_KPIS = """\
version: 1
kpis:
  - id: {id}
    name: A KPI a user added
    owner: procurement
    theme: spend
    raci: {{responsible: procurement, accountable: cpo}}
    description: Written for the explain tests.
    readings: {{finance: a reading, procurement: a reading}}
    source: spend
    period_by: invoice_date
    formula: "{formula}"
    unit: {unit}
    direction: higher_is_better
    dimensions: [category, supplier]
    status: draft
"""


def _user_kpi(tmp_path, store, kpi_id, formula, unit="percent"):
    path = tmp_path / "kpis.yaml"
    path.write_text(USER_KPIS.format(id=kpi_id, formula=formula, unit=unit))
    return get(load_definitions(path, store.settings), kpi_id)


def test_a_user_added_ratio_is_split_from_its_formula(tmp_path, store):
    kpi = _user_kpi(
        tmp_path,
        store,
        "preferred_share",
        "sum(amount) filter (where preferred) / nullif(sum(amount), 0)",
    )
    e = explain(store, kpi, "FY2026-Q1")
    # S1 is preferred: 1050 + 100 + 500 of 2550
    assert e.numerator == Decimal("1650.00") and e.denominator == Decimal("2550.00")
    assert e.value == pytest.approx(1650 / 2550) and e.reconciles
    rows = every_row(store, e, sort_by="amount")
    assert rows["part_1"].to_list() == [
        Decimal("100.00"),
        Decimal("500.00"),
        None,  # INV2's 900.00: S2 is not preferred
        Decimal("1050.00"),
    ]


def test_a_linear_combination_of_sums_is_one_total(tmp_path, store):
    kpi = _user_kpi(
        tmp_path,
        store,
        "non_preferred_spend",
        "sum(amount) - coalesce(sum(amount) filter (where preferred), 0)",
        unit="currency",
    )
    e = explain(store, kpi, "FY2026-Q1")
    assert e.numerator == Decimal("900.00") and e.denominator is None and e.reconciles


def test_a_count_distinct_lists_its_rows_and_says_why_it_does_not_reconcile(tmp_path, store):
    kpi = _user_kpi(tmp_path, store, "active_suppliers", "count(distinct supplier)", "count")
    e = explain(store, kpi, "FY2026-Q1")
    assert e.value == 2 and e.row_count == 4  # S1 and S2, on four lines
    assert not e.reconciles
    assert e.note is not None and e.note.startswith(
        "count(distinct ...) cannot be re-added from rows"
    )
    assert (e.numerator, e.denominator) == (None, None)
    assert sorted(every_row(store, e)["part_1"].to_list()) == sorted(
        ["Kartonwerk GmbH"] * 3 + ["Byte Parts Inc"]
    )


def test_a_maximum_does_not_reconcile(tmp_path, store):
    kpi = _user_kpi(tmp_path, store, "largest_line", "max(amount)", "currency")
    e = explain(store, kpi, "FY2026-Q1")
    assert e.value == pytest.approx(1050.00) and not e.reconciles
    assert "max(...) cannot be re-added from rows" in (e.note or "")


def test_another_display_currency(store, definitions):
    e = explain(store, get(definitions, "total_spend"), "FY2026-Q2", currency="usd")
    # INV3: 1000 USD stays 1000 USD
    assert e.numerator == Decimal("1000.00") and e.reconciles and e.currency == "USD"
    with pytest.raises(ExplainError, match="unknown currency 'XYZ'"):
        explain(store, get(definitions, "total_spend"), "FY2026-Q2", currency="XYZ")


def _q1():
    from datetime import date

    return date(2026, 1, 1), date(2026, 3, 31)


# ---------------------------------------------------------------------------------------
# Every KPI of config/kpis.yaml on a small demo
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_copy):
    from kpi.store.database import Store

    # seed 7, scale 0.05, built once per run
    return Store(demo_copy(0.05, tmp_path_factory.mktemp("explain_demo") / "kpi.duckdb"))


@pytest.fixture(scope="module")
def demo_values(demo):
    defs = load_definitions(ROOT / "config" / "kpis.yaml", demo.settings)
    frame = engine.compute(demo, defs, "quarter").frame
    quarters = sorted(set(frame["period"].to_list()))
    recent = quarters[-2]  # the last complete quarter
    got = {r["kpi"]: r["value"] for r in frame.filter(frame["period"] == recent).to_dicts()}
    return defs, recent, got


# KPIs that the demo leaves without a value in its last complete quarter are checked too:
# explain must then have no value either.
def test_every_kpi_on_the_demo_equals_the_engine_and_reconciles(demo, demo_values):
    defs, recent, expected = demo_values
    problems = []
    for kpi in defs:
        e = explain(demo, kpi, recent)
        want = expected.get(kpi.id)
        if want is None:
            if e.value is not None:
                problems.append(f"{kpi.id}: engine has no value, explain {e.value}")
            continue
        if e.value != pytest.approx(want, rel=1e-12, abs=1e-12):
            problems.append(f"{kpi.id}: explain {e.value} != engine {want}")
        if not e.reconciles:
            problems.append(f"{kpi.id}: does not reconcile: {e.note}")
            continue
        tolerance = 0.005 if kpi.unit == "currency" else 1e-9 * max(1.0, abs(want))
        if abs(float(e.recomputed) - want) > tolerance:  # type: ignore[arg-type]
            problems.append(f"{kpi.id}: recomputed {e.recomputed} != {want}")
        if e.denominator is not None and float(e.denominator) != 0:
            quotient = float(e.numerator) / float(e.denominator)  # type: ignore[arg-type]
            if quotient != pytest.approx(want, rel=1e-9, abs=1e-9):
                problems.append(f"{kpi.id}: {e.numerator} / {e.denominator} != {want}")
    assert problems == []


def test_a_where_on_the_demo_equals_the_engines_filter(demo, demo_values):
    defs, recent, _ = demo_values
    start, end = engine.parse_bounds(recent, recent, demo)
    for kpi_id in ("total_spend", "po_compliance", "days_to_pay", "supplier_otd"):
        kpi = get(defs, kpi_id)
        filtered = engine.compute(
            demo, [kpi], "quarter", (), start, end, filters={"category": ["MRO spares"]}
        ).frame
        e = explain(demo, kpi, recent, ["category = 'MRO spares'"])
        assert filtered["value"].to_list() == [pytest.approx(e.value, rel=1e-12)], kpi_id
        assert e.reconciles, kpi_id
        rows = explain_rows(demo, e, limit=5)
        assert set(rows["category"].to_list()) == {"MRO spares"}, kpi_id


# ---------------------------------------------------------------------------------------
# The value handed over by a page that shows it (the app's tiles and scorecard)
# ---------------------------------------------------------------------------------------


def test_a_value_handed_over_is_checked_not_computed_again(store, definitions, monkeypatch):
    def no_engine(*args, **kwargs):
        raise AssertionError("the engine was asked again for a value the page showed")

    monkeypatch.setattr(engine, "compute", no_engine)
    kpi = get(definitions, "total_spend")
    e = explain(store, kpi, "FY2026-Q1", value=2550.0)  # the engine's value, as a tile has it
    assert e.value == 2550.0 and e.numerator == Decimal("2550.00")
    assert e.reconciles and e.row_count == 4
    # a figure the rows do not make is said so, never silently accepted
    wrong = explain(store, kpi, "FY2026-Q1", value=2000.0)
    assert not wrong.reconciles and "2550.00" in (wrong.note or "")
    # no value shown (an empty quarter): the rows' totals are compared with nothing
    assert explain(store, kpi, "FY2027-Q4", value=None).row_count == 0


@pytest.mark.parametrize("filters", [{}, {"category": ["MRO spares"]}], ids=["all", "MRO"])
def test_every_scorecard_value_handed_over_reconciles(demo, demo_values, filters, monkeypatch):
    """What the overview does: each scorecard value, with the sidebar's filters as each KPI
    honours them, handed to explain; the rows behind it must give exactly that value."""
    from kpi.analyses.scorecard import scorecard
    from kpi.core.scope import Scope
    from kpi.semantic.where_text import kpi_where

    defs, recent, _ = demo_values
    card = scorecard(demo, Scope.of(filters=filters), defs, recent)
    monkeypatch.setattr(engine, "compute", None)  # never asked: the values are handed over
    problems = []
    for row in card.iter_rows(named=True):
        kpi = get(defs, row["id"])
        where = kpi_where(kpi, filters, demo.settings).texts
        e = explain(demo, kpi, row["period"], where, value=row["value"])
        if row["value"] is not None and not e.reconciles:
            problems.append(f"{kpi.id}: {e.note}")
    assert problems == []
