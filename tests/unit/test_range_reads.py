"""The rows behind one period read from that period's invoice lines only (RANGE_READS):
the very rows, column for column, that the view over every line gives for the period.

kpi.semantic.explain computes spend_base under savings_lines, spend, spend_yoy and
invoice_match from the lines a period's rows can come from (whole fiscal years for the
ranks, the year before for spend_yoy, every earlier line of the orders invoiced in the
period for invoice_match). These tests compare each restricted view with the whole one on
the seeded demo, at every grain, and check the cases that make a restriction wrong are in
the data compared (an order invoiced across two periods, a prior year, supplier ranks).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlglot import exp

from kpi.core import periods
from kpi.semantic import compiler
from kpi.semantic.period_sql import WHOLE_RANGE
from kpi.store.database import Store
from kpi.store.template import render
from kpi.store.views import RANGE_READS


@pytest.fixture(scope="module")
def demo(demo_copy, tmp_path_factory) -> Store:
    return Store(demo_copy(0.05, tmp_path_factory.mktemp("range_reads") / "kpi.duckdb"))


def _rows(store: Store, view: str, grain: str, start: date, end: date, restricted: bool):
    """The view's rows in [start, end] of its period column, sorted, as Python tuples."""
    column = RANGE_READS[view][0]
    lo = exp.cast(exp.Literal.string(start.isoformat()), exp.DataType.build("DATE"))
    hi = exp.cast(exp.Literal.string(end.isoformat()), exp.DataType.build("DATE"))
    select = (
        exp.select("*").from_(view).where(exp.Between(this=exp.column(column), low=lo, high=hi))
    )
    select = select.order_by(*[exp.Literal.number(i) for i in range(1, 4)])
    reads = (start, end) if restricted else None
    ctes = compiler.view_ctes(view, store.settings, None, grain, reads=reads)
    if ctes:
        select.set("with_", exp.With(expressions=ctes))
    with store.read() as con:
        cursor = con.execute(render(select))
        names = [d[0] for d in cursor.description]
        return names, sorted(cursor.fetchall(), key=repr)


def _cases(store: Store) -> list[tuple[str, date, date]]:
    """A fiscal quarter holding a line whose order and item were invoiced in an earlier
    quarter too (invoice_match must read that earlier line), its first month, its fiscal
    year, and a range from the year's last month to three months on (the sidebar's range,
    grain `range`, across a fiscal year's end)."""
    cal = store.settings.fiscal
    with store.read() as con:
        lines = con.execute(
            "SELECT po_id, item_id, invoice_date FROM invoices "
            "WHERE po_id IS NOT NULL AND item_id IS NOT NULL ORDER BY invoice_date"
        ).fetchall()
    first_quarter: dict[tuple, str] = {}
    crossing = []
    for po, item, day in lines:
        label = periods.label(day, "quarter", cal)
        if first_quarter.setdefault((po, item), label) != label:
            crossing.append(day)
    assert crossing, "the demo has an order invoiced across two quarters"
    day = crossing[len(crossing) // 2]
    quarter = periods.period_range(periods.label(day, "quarter", cal), cal)
    month = (quarter[0], periods.period_range(periods.label(quarter[0], "month", cal), cal)[1])
    year = periods.period_range(periods.label(day, "year", cal), cal)
    last_month = periods.period_range(periods.label(year[1], "month", cal), cal)[0]
    across = (last_month, year[1] + timedelta(days=90))
    return [("quarter", *quarter), ("month", *month), ("year", *year), (WHOLE_RANGE, *across)]


@pytest.mark.parametrize("view", sorted(RANGE_READS))
def test_a_period_read_alone_gives_the_very_rows_of_the_whole_view(demo, view):
    for grain, start, end in _cases(demo):
        names, whole = _rows(demo, view, grain, start, end, restricted=False)
        _, alone = _rows(demo, view, grain, start, end, restricted=True)
        assert whole, f"{view} {grain} {start}: the demo has rows to compare"
        assert len(alone) == len(whole), f"{view} {grain} {start}..{end}"
        assert alone == whole, f"{view} {grain} {start}..{end}: rows differ ({names})"


def test_the_cases_that_could_break_a_restriction_are_in_the_data(demo):
    """An order invoiced before the period and in it (invoiced quantity to date), prior-year
    rows (spend_yoy) and suppliers ranked below the first (ranks over the fiscal year)."""
    grain, start, end = _cases(demo)[0]
    names, rows = _rows(demo, "invoice_match", grain, start, end, restricted=True)
    quantity, to_date = names.index("quantity"), names.index("invoiced_qty_to_date")
    assert any(
        r[to_date] is not None and r[quantity] is not None and r[to_date] > r[quantity]
        for r in rows
    ), "some order has an earlier line before the period"
    names, rows = _rows(demo, "spend_yoy", grain, start, end, restricted=True)
    prior = names.index("prior_amount")
    assert any(r[prior] != 0 for r in rows)
    names, rows = _rows(demo, "spend", grain, start, end, restricted=True)
    rank = names.index("supplier_rank_in_category")
    assert max(r[rank] or 0 for r in rows) > 5


def test_an_earlier_line_of_the_order_counts_in_the_quantity_to_date(demo):
    """By hand: for one line of the period whose order was invoiced before the period, the
    quantity invoiced to date is its own plus every earlier line's of that order and item."""
    grain, start, end = _cases(demo)[0]
    names, rows = _rows(demo, "invoice_match", grain, start, end, restricted=True)
    col = {n: i for i, n in enumerate(names)}
    with demo.read() as con:
        for row in rows:
            if row[col["po_id"]] is None or row[col["item_id"]] is None:
                continue
            earlier = con.execute(
                "SELECT sum(quantity), count(*) FROM invoices WHERE po_id = ? AND item_id = ? "
                "AND invoice_date < ?",
                [row[col["po_id"]], row[col["item_id"]], start],
            ).fetchone()
            if earlier[1] == 0 or row[col["invoiced_qty_to_date"]] is None:
                continue
            same_day_before = con.execute(
                "SELECT coalesce(sum(quantity), 0) FROM invoices WHERE po_id = ? AND item_id = ? "
                "AND invoice_date >= ? AND (invoice_date, invoice_id, invoice_line) < (?, ?, ?)",
                [
                    row[col["po_id"]],
                    row[col["item_id"]],
                    start,
                    row[col["invoice_date"]],
                    row[col["invoice_id"]],
                    row[col["invoice_line"]],
                ],
            ).fetchone()[0]
            expected = earlier[0] + same_day_before + row[col["quantity"]]
            assert row[col["invoiced_qty_to_date"]] == expected
            return
    pytest.fail("no line of the period has an order invoiced before the period")


def test_the_engine_reads_one_range_alone_and_gives_the_same_values(demo):
    """`kpi compute` of one KPI over a range reads that range's lines only; asked together
    with KPIs of other views (several views: every line is read) the values are the same.
    The whole set is asked once per range: its answer holds every KPI's figures."""
    from kpi.semantic import engine
    from kpi.semantic.definitions import load_definitions

    definitions = load_definitions(None, demo.settings)
    other = next(k for k in definitions if k.source == "inventory_position")
    restricted = [k for k in definitions if k.source in RANGE_READS]
    assert {k.source for k in restricted} == set(RANGE_READS)
    for grain, start, end in _cases(demo):
        every = engine.compute(demo, [*restricted, other], grain, (), start, end).frame
        for kpi in restricted:
            alone = engine.compute(demo, [kpi], grain, (), start, end).frame
            both = every.filter(every["kpi"] == kpi.id)
            assert alone["period"].to_list() == both["period"].to_list(), (kpi.id, grain)
            for a, b in zip(alone["value"].to_list(), both["value"].to_list(), strict=True):
                assert a == pytest.approx(b, rel=1e-12, abs=1e-9), (kpi.id, grain, start)


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2025, 2, 1), date(2025, 2, 28)), (date(2025, 3, 1), date(2025, 3, 31))],
)
def test_the_expense_change_across_29_february(demo, start, end):
    """Last year's 29 February moves to this year's 28th: February 2025 holds it, March
    does not; the restricted rows are the whole view's either way."""
    with demo.read() as con:
        leap = con.execute(
            "SELECT count(*) FROM invoices WHERE invoice_date = DATE '2024-02-29'"
        ).fetchone()[0]
    assert leap, "the demo invoices on 29 February 2024"
    names, whole = _rows(demo, "spend_yoy", "month", start, end, restricted=False)
    _, alone = _rows(demo, "spend_yoy", "month", start, end, restricted=True)
    assert alone == whole
