"""After a load of invoices, the rollup tables of supplier ranks and shares (one per grain)
recompute the load's periods and categories from the any-grain spend table's sums per
supplier (kpi.semantic.rollup_ranks), not from the lines: each then equals a build from
scratch row for row (every decimal to the cent; the share-weighted DOUBLE sum up to the
order a float sum adds in, as two builds from scratch differ)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from kpi.semantic import rollups
from kpi.store.database import Store
from tests.unit import test_rollups_months as months
from tests.unit.test_rollups_months import (
    DEFS,
    _close,
    _held_and_built,
    _lines,
    _load_lines,
    _month_lines,
    _some,
    _window,
)

built, own_store, rollups_on = months.built, months.own_store, months.rollups_on
pytestmark = pytest.mark.usefixtures("rollups_on")

_ANY = "r_spend__invoice_date__any"
_RANKS = tuple(f"r_spend__invoice_date__{g}" for g in ("month", "quarter", "year"))


def _as_built(store: Store, names=(_ANY, *_RANKS)) -> None:
    """Each table holds the rows a build gives: decimals and counts equal, floats close."""
    for name in names:
        held, built_rows = _held_and_built(store, name)
        assert len(held) == len(built_rows), name
        for h, b in zip(held, built_rows, strict=True):
            assert [v for v in h if not isinstance(v, float)] == [
                v for v in b if not isinstance(v, float)
            ], (name, h, b)
            assert _close([h], [b]), (name, h, b)


def _ranked(report: rollups.RefreshReport) -> None:
    """The rank tables were recomputed from the any table's sums, the any table given the
    load's difference."""
    assert _ANY in report.applied
    for name in _RANKS:
        assert name in report.ranked, name
        assert name not in report.built, name


def _ranks(store: Store, month: date, category: str) -> dict[str, int]:
    """The suppliers' ranks in the category within the fiscal year holding the month, as
    the spend view gives them (its temporary view ranks within the fiscal year)."""
    with store.read() as con:
        rows = con.execute(
            "SELECT DISTINCT supplier_id, supplier_rank_in_category FROM spend "
            "WHERE category = ? AND date_trunc('month', invoice_date) = ?",
            [category, month],
        ).fetchall()
    return dict(rows)


def test_the_any_table_holds_the_supplier_id(own_store):
    spec = next(s for s in rollups.plan(DEFS, own_store.settings) if s.name == _ANY)
    assert "supplier_id" in spec.dims


def test_an_upsert_that_swaps_ranks_in_a_category(own_store, tmp_path, monkeypatch):
    """The sixth supplier of a category in a fiscal year (one of its lines in a month)
    becomes its first: the year's ranks move, and the month's and quarter's; every table
    equals a build."""
    month, _ = _month_lines(own_store, 8, "invoice_date", 1)
    with own_store.read() as con:
        category, supplier = con.execute(
            "SELECT category, supplier_id FROM spend WHERE date_trunc('month', invoice_date) = ? "
            "AND supplier_rank_in_category = 6 AND category IS NOT NULL ORDER BY 1 LIMIT 1",
            [month],
        ).fetchone()
        top = con.execute(  # more than any supplier's spend in the category, any year
            "SELECT sum(amount) FROM spend WHERE category = ?", [category]
        ).fetchone()[0]
    assert _ranks(own_store, month, category)[supplier] == 6
    lines = _lines(
        own_store,
        "supplier_id = ? AND coalesce(category, '') = ? AND invoice_date >= ? "
        "AND invoice_date < ? AND currency = 'EUR'",
        [supplier, category, month, rollups._add_months(month, 1)],
        5,
    )
    if lines.is_empty():  # its lines carry their item's category
        lines = _lines(
            own_store,
            "supplier_id = ? AND invoice_date >= ? AND invoice_date < ? AND currency = 'EUR'",
            [supplier, month, rollups._add_months(month, 1)],
            5,
        )
    assert not lines.is_empty()
    changed = lines.with_columns(
        pl.lit(category).alias("category"),
        _some(0, 0, "amount", pl.lit(top).cast(lines.schema["amount"])),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _ranked(report)
    assert _ranks(own_store, month, category)[supplier] == 1
    _as_built(own_store)


def test_new_lines_in_a_new_category_and_a_new_month(own_store, tmp_path, monkeypatch):
    """New invoices after the last day (a month, maybe a quarter and year, of its own) and
    new invoices in a category no line had before: their rows appear as a build's."""
    _, hi = _window(own_store)
    late = _lines(own_store, "invoice_date >= ?", [hi.replace(day=1)], 12).with_columns(
        pl.format("NEWM-{}", pl.col("invoice_id")).alias("invoice_id"),
        (pl.col("invoice_date") + pl.duration(days=35)).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
    )
    month, fresh = _month_lines(own_store, 5, "invoice_date", 12)
    fresh = fresh.with_columns(
        pl.format("NEWC-{}", pl.col("invoice_id")).alias("invoice_id"),
        pl.lit("Zz brand-new category").alias("category"),
    )
    report = _load_lines(own_store, tmp_path, pl.concat([late, fresh]), monkeypatch)
    _ranked(report)
    assert "Zz brand-new category" in report.categories[_RANKS[0]]
    _as_built(own_store)


def test_a_line_moved_to_another_category_and_month(own_store, tmp_path, monkeypatch):
    month, lines = _month_lines(own_store, 11, "invoice_date", 20)
    with own_store.read() as con:
        other = con.execute("SELECT max(category) FROM items").fetchone()[0]
    changed = lines.with_columns(
        _some(0, 3, "category", pl.lit(other)),
        _some(4, 6, "invoice_date", pl.col("invoice_date") + pl.duration(days=100)),
        _some(7, 9, "amount", pl.col("amount") * 3),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _ranked(report)
    assert other in report.categories[_RANKS[0]]
    _as_built(own_store)


# ---- by hand, on a store of six lines --------------------------------------------------------
_HEADER = "invoice_id,invoice_line,supplier_id,invoice_date,category,cost_centre,amount,currency"


def _csv(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([_HEADER, *rows]) + "\n")
    return path


def _row(store: Store, name: str, cost_centre: str) -> dict[str, object]:
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == name)
    cols = {m.build.sql(): m.column for m in spec.measures}
    top = cols["SUM(amount) FILTER(WHERE supplier_rank_in_category <= 5)"]
    hhi = cols["SUM(amount * supplier_share_in_category)"]
    with store.read() as con:
        got = con.execute(
            f"SELECT {top}, {hhi}, _n FROM rollups.{name} "  # noqa: S608 - the test's own
            "WHERE category = 'Boxes' AND cost_centre = ?",
            [cost_centre],
        ).fetchone()
    return {"top5": got[0], "weighted": got[1], "rows": got[2]}


def test_top_five_and_shares_by_hand(store, tmp_path, monkeypatch):
    """Six suppliers of boxes in March 2026: S1..S4 600, 500, 400, 300 and S6 100 at CC1,
    S5 200 at CC1 and 50 at CC2 (its total 250: fifth). The top five at CC1 is 2,000, at
    CC2 50. S6's line reloaded at 700 makes it first and S5 sixth: CC1's top five is
    700 + 600 + 500 + 400 + 300 = 2,500; CC2's is none (NULL); CC1's share-weighted spend
    is (600² + 500² + 400² + 300² + 200 * 250 + 700²) / 2,750 = 509.0909..."""
    from kpi.ingest.pipelines import load_files

    day = "2026-03-10"
    first = [
        f"B1,1,S1,{day},Boxes,CC1,600.00,EUR",
        f"B2,1,S2,{day},Boxes,CC1,500.00,EUR",
        f"B3,1,S3,{day},Boxes,CC1,400.00,EUR",
        f"B4,1,S4,{day},Boxes,CC1,300.00,EUR",
        f"B5,1,S5,{day},Boxes,CC1,200.00,EUR",
        f"B5,2,S5,{day},Boxes,CC2,50.00,EUR",
        f"B6,1,S6,{day},Boxes,CC1,100.00,EUR",
    ]
    load_files(store, "invoices", [_csv(tmp_path, "a.csv", first)])
    assert rollups.status(store).tables  # built by the hook after the load
    month = "r_spend__invoice_date__month"
    assert _row(store, month, "CC1")["top5"] == Decimal("2000.00")
    assert _row(store, month, "CC2")["top5"] == Decimal("50.00")

    reports: list[rollups.RefreshReport] = []
    real = rollups.refresh

    def kept(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    monkeypatch.setattr(rollups, "refresh", kept)
    load_files(
        store, "invoices", [_csv(tmp_path, "b.csv", [f"B6,1,S6,{day},Boxes,CC1,700.00,EUR"])]
    )
    (report,) = reports
    for name in _RANKS:
        assert name in report.ranked, name
        cc1, cc2 = _row(store, name, "CC1"), _row(store, name, "CC2")
        assert cc1["top5"] == Decimal("2500.00"), name
        assert cc2["top5"] is None, name
        assert cc1["rows"] == 6 and cc2["rows"] == 1
        assert abs(cc1["weighted"] - 1_400_000 / 2750) < 1e-9, name
        assert abs(cc2["weighted"] - 50 * 250 / 2750) < 1e-9, name
    _as_built(store)


def test_a_tie_is_broken_by_supplier_id(store, tmp_path):
    """Seven suppliers, the fifth and sixth at 300 each: S05 ranks fifth, S06 sixth."""
    from kpi.ingest.pipelines import load_files

    day = date(2026, 3, 2)
    amounts = [900, 800, 700, 600, 300, 300, 100]
    rows = [f"T{i},1,S0{i},{day},Boxes,CC1,{a}.00,EUR" for i, a in enumerate(amounts, start=1)]
    load_files(store, "invoices", [_csv(tmp_path, "a.csv", rows)])
    extra = [f"T9,1,S07,{day + timedelta(days=1)},Boxes,CC2,1.00,EUR"]
    load_files(store, "invoices", [_csv(tmp_path, "b.csv", extra)])
    for name in _RANKS:
        assert _row(store, name, "CC1")["top5"] == Decimal("3300.00"), name
    _as_built(store)


def test_an_update_recomputes_the_ranks_of_its_months_from_the_sums(own_store):
    """A write that declares nothing (no difference): the months it changed are recomputed,
    the any table's from the lines, the rank tables' from the any table's sums."""
    lo, _ = _window(own_store)
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "UPDATE invoices SET amount = amount * 40 WHERE invoice_date = "
            "(SELECT min(invoice_date) FROM invoices WHERE invoice_date > ?)",
            [lo + timedelta(days=200)],
        )
    report = rollups.refresh(own_store)
    assert report is not None and report.applied == []
    for name in _RANKS:
        assert name in report.ranked and name in report.months, name
    _as_built(own_store)


# ---- which measures are derived from the sums -------------------------------------------------
def _derived(formula: str):
    from kpi.semantic import rollup_ranks
    from kpi.semantic.formula_guard import guard_formula
    from kpi.semantic.measures import split
    from kpi.store.view_reads import RANKED_BY
    from kpi.store.views import view_catalog

    settings = Store(Path("unused.duckdb")).settings
    source = next(s for s in rollups.plan(DEFS, settings) if s.name == _ANY)
    tree = guard_formula(formula, view_catalog(settings)["spend"], view="spend")
    (measure,) = split(tree).measures
    return rollup_ranks._derived(measure.build, RANKED_BY[("spend", "invoice_date")], source)


@pytest.mark.parametrize(
    "formula",
    [
        "sum(amount) filter (where supplier_rank_in_category <= 5)",
        "sum(amount * supplier_share_in_category)",
        "sum(amount) filter (where supplier_rank_in_category = 1 and category = 'IT')",
        "sum(amount) filter (where not po_exempt and supplier_share_in_category > 0.2)",
    ],
)
def test_sums_of_held_sums_weighed_by_rank_or_share_are_derived(formula):
    assert _derived(formula) is not None


@pytest.mark.parametrize(
    "formula",
    [
        # a line's own column beside the rank: no any row holds its lines apart
        "sum(amount) filter (where supplier_rank_in_category <= 5 and unit_price > 3)",
        # a sum the any table does not hold
        "sum(quantity * supplier_share_in_category)",
        # not a sum
        "max(amount) filter (where supplier_rank_in_category <= 5)",
        # the rank beside a line's own value in one condition
        "sum(amount) filter (where supplier_rank_in_category < quantity)",
    ],
)
def test_other_measures_are_not_derived(formula):
    assert _derived(formula) is None
