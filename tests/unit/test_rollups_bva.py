"""After a declared load of invoices, budget_vs_actual's rollup recomputes only the groups
(month, cost centre, category) the load reaches, from all of their rows: the table then
equals a build from scratch row for row, to the cent (each group's sums are converted and
rounded once per currency and measure, so a difference of lines would not do)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest
from sqlglot import exp

from kpi.semantic import rollups
from kpi.store.database import Store
from tests.unit import test_rollups_months as months
from tests.unit.test_rollups_months import (
    DEFS,
    _held_and_built,
    _lines,
    _load_lines,
    _month_lines,
    _some,
    _window,
)

built, own_store, rollups_on = months.built, months.own_store, months.rollups_on
pytestmark = pytest.mark.usefixtures("rollups_on")

_BVA = "r_budget_vs_actual__month_start__any"


def _as_built(store: Store) -> None:
    """The table holds exactly the rows a build from scratch gives (every decimal equal)."""
    held, built_rows = _held_and_built(store, _BVA)
    assert held == built_rows


def _grouped(report: rollups.RefreshReport) -> None:
    """The refresh recomputed the load's groups (not the months, not the whole table)."""
    assert _BVA in report.applied
    assert _BVA not in report.months and _BVA not in report.built


def test_an_upsert_changing_amounts_recomputes_its_groups(own_store, tmp_path, monkeypatch):
    month, lines = _month_lines(own_store, 6, "invoice_date", 40, also="po_id IS NOT NULL")
    changed = lines.with_columns(
        _some(0, 19, "amount", pl.col("amount") + Decimal("3.17"))
    ).with_columns(_some(20, 29, "amount", (pl.col("amount") / 2).round(2)))
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _grouped(report)
    _as_built(own_store)


def test_lines_moved_to_another_cost_centre_category_and_month(own_store, tmp_path, monkeypatch):
    month, lines = _month_lines(own_store, 9, "invoice_date", 40)
    with own_store.read() as con:
        centres = {
            r[0] for r in con.execute("SELECT DISTINCT cost_centre FROM invoices").fetchall()
        }
        categories = {r[0] for r in con.execute("SELECT DISTINCT category FROM items").fetchall()}
    now = set(lines.get_column("cost_centre").to_list())
    other_centre = max(c for c in centres - now if c is not None)
    cats = set(lines.get_column("category").drop_nulls().to_list())
    other_category = max(c for c in categories if c is not None and c not in cats)
    changed = lines.with_columns(
        _some(0, 9, "cost_centre", pl.lit(other_centre)),
        _some(10, 19, "category", pl.lit(other_category)),
        _some(20, 29, "invoice_date", pl.col("invoice_date") + pl.duration(days=70)),
        _some(30, 34, "po_id", pl.lit(None, pl.String)),  # actual becomes maverick
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _grouped(report)
    _as_built(own_store)


def _open_order(store: Store) -> tuple[str, str, str, date]:
    """An open order in the reporting currency, one category, neither received nor
    invoiced: its id, cost centre, category and the first day of its first line's due
    month (where its committed spend is)."""
    with store.read() as con:
        row = con.execute(
            "SELECT p.po_id, arg_min(p.cost_centre, p.po_line), "
            "any_value(coalesce(p.category, it.category)), "
            "CAST(date_trunc('month', arg_min(coalesce(p.promised_date, p.po_date), p.po_line)) "
            "AS DATE) FROM purchase_orders p LEFT JOIN items it ON it.item_id = p.item_id "
            "WHERE lower(p.status) = 'open' AND p.currency = 'EUR' "
            "AND p.po_id NOT IN (SELECT po_id FROM goods_receipts) "
            "AND p.po_id NOT IN (SELECT po_id FROM invoices WHERE po_id IS NOT NULL) "
            "GROUP BY p.po_id HAVING count(DISTINCT coalesce(p.category, it.category)) = 1 "
            "AND arg_min(p.amount, p.po_line) > 100 ORDER BY 1 LIMIT 1"
        ).fetchone()
    assert row is not None, "the demo data has an open order nobody invoiced"
    return row


def _measure(store: Store, column: str) -> str:
    """The rollup column holding sum(`column`) (the measures' columns are hashed names)."""
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == _BVA)
    for m in spec.measures:
        if {c.name for c in m.build.find_all(exp.Column)} == {column}:
            return m.column
    raise AssertionError(column)


def _spend_and_plan(store: Store, group: tuple[date, str, str]) -> tuple[Decimal, Decimal]:
    """The group's actual, and its actual + accrued + committed, as the rollup holds them."""
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == _BVA)
    total = next(
        m.column
        for m in spec.measures
        if {c.name for c in m.build.find_all(exp.Column)}
        == {"actual_amount", "accrued_amount", "committed_amount"}
    )
    actual = _measure(store, "actual_amount")
    with store.read() as con:
        row = con.execute(
            f"SELECT coalesce(sum({actual}), 0), coalesce(sum({total}), 0) "
            f"FROM rollups.{_BVA} WHERE month = ? AND cost_centre = ? AND category = ?",
            list(group),
        ).fetchone()
    return row[0], row[1]


def test_an_invoice_of_one_category_moves_the_committed_spend_of_an_order_of_another(
    own_store, tmp_path, monkeypatch
):
    """By hand: an open order (category B, in the reporting currency, neither received nor
    invoiced) is invoiced 10.00 EUR on a line of category A. Its first line is then 10.00
    invoiced: the committed spend of B's group in the line's due month drops by exactly
    10.00 (rate 1: nothing to round), and A's group in the invoice's month gains 10.00 of
    actual spend. Neither of B's groups is one of the invoice line's."""
    po_id, centre, category_b, due = _open_order(own_store)
    with own_store.read() as con:
        category_a = con.execute(
            "SELECT max(category) FROM items WHERE category <> ?", [category_b]
        ).fetchone()[0]
    _, hi = _window(own_store)
    template = _lines(own_store, "currency = 'EUR' AND item_id IS NOT NULL", [], 1)
    line = template.with_columns(
        pl.lit("HANDBVA-1").alias("invoice_id"),
        pl.lit(1).cast(template.schema["invoice_line"]).alias("invoice_line"),
        pl.lit(po_id).alias("po_id"),
        pl.lit(hi).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("due_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
        pl.lit(category_a).alias("category"),
        pl.lit(centre).alias("cost_centre"),
        pl.lit(Decimal("10.00")).cast(template.schema["amount"]).alias("amount"),
    )
    b_group = (due, centre, category_b)
    a_group = (hi.replace(day=1), centre, category_a)
    assert b_group != a_group
    b_before, a_before = _spend_and_plan(own_store, b_group), _spend_and_plan(own_store, a_group)
    report = _load_lines(own_store, tmp_path, line, monkeypatch)
    _grouped(report)
    b_after, a_after = _spend_and_plan(own_store, b_group), _spend_and_plan(own_store, a_group)
    assert b_after == (b_before[0], b_before[1] - Decimal("10.00"))
    assert a_after == (a_before[0] + Decimal("10.00"), a_before[1] + Decimal("10.00"))
    _as_built(own_store)


def _received_order(store: Store) -> tuple[str, str, str, date]:
    """An open order line received (its last receipt in a month none of its order's lines is
    due in), in the reporting currency, on an order nobody invoiced: its accrued spend is in
    its last receipt's month only. Its order, cost centre, category and that month."""
    with store.read() as con:
        row = con.execute(
            "WITH r AS (SELECT po_id, po_line, max(receipt_date) AS last, sum(quantity) AS qty "
            "FROM goods_receipts GROUP BY ALL), "
            "po AS (SELECT p.*, coalesce(p.category, it.category) AS cat FROM purchase_orders p "
            "LEFT JOIN items it ON it.item_id = p.item_id) "
            "SELECT po.po_id, po.cost_centre, po.cat, CAST(date_trunc('month', r.last) AS DATE) "
            "FROM po JOIN r ON r.po_id = po.po_id AND r.po_line = po.po_line "
            "WHERE lower(po.status) NOT IN ('closed', 'cancelled', 'canceled') "
            "AND po.currency = 'EUR' AND r.qty * po.unit_price >= 1 AND po.cat IS NOT NULL "
            "AND po.cost_centre IS NOT NULL "
            "AND po.po_id NOT IN (SELECT po_id FROM invoices WHERE po_id IS NOT NULL) "
            "AND NOT EXISTS (SELECT 1 FROM purchase_orders q WHERE q.po_id = po.po_id "
            "AND date_trunc('month', coalesce(q.promised_date, q.po_date)) "
            "= date_trunc('month', r.last)) ORDER BY 1, po.po_line LIMIT 1"
        ).fetchone()
    assert row is not None, "the demo data has an open order line received, not invoiced"
    return row


def test_an_invoice_in_a_group_keeps_the_accrued_spend_of_the_orders_received_in_it(
    own_store, tmp_path, monkeypatch
):
    """By hand: a new invoice line of 5.00 EUR with no order, in the cost centre, category
    and month where an open order line (not due that month, nobody invoiced it) had its
    last receipt. The group is recomputed from all of its rows, that order's too (found by
    its receipt in the month): its actual spend gains 5.00 and its accrued spend stays."""
    po_id, centre, category, month = _received_order(own_store)
    group = (month, centre, category)
    template = _lines(own_store, "currency = 'EUR'", [], 1)
    line = template.with_columns(
        pl.lit("HANDBVA-2").alias("invoice_id"),
        pl.lit(1).cast(template.schema["invoice_line"]).alias("invoice_line"),
        pl.lit(None, pl.String).alias("po_id"),
        pl.lit(month + timedelta(days=3)).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("due_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
        pl.lit(category).alias("category"),
        pl.lit(centre).alias("cost_centre"),
        pl.lit(Decimal("5.00")).cast(template.schema["amount"]).alias("amount"),
    )
    actual, plan = _spend_and_plan(own_store, group)
    assert plan - actual >= Decimal("1.00")  # the order's accrued spend is in this group
    report = _load_lines(own_store, tmp_path, line, monkeypatch)
    _grouped(report)
    assert _spend_and_plan(own_store, group) == (
        actual + Decimal("5.00"),
        plan + Decimal("5.00"),
    )
    _as_built(own_store)


def test_an_upsert_onto_orders_of_other_categories(own_store, tmp_path, monkeypatch):
    """Lines re-categorised and pointed at orders of another category, with new amounts:
    the orders' lines' groups (due and last-received months) are recomputed too."""
    month, lines = _month_lines(own_store, 11, "invoice_date", 30, also="po_id IS NOT NULL")
    with own_store.read() as con:
        cats = set(lines.get_column("category").drop_nulls().to_list())
        other = con.execute(
            "SELECT max(p.po_id) FROM purchase_orders p WHERE lower(p.status) <> 'closed' "
            "AND NOT list_contains(?, p.category)",
            [sorted(cats)],
        ).fetchone()[0]
    assert other is not None
    changed = lines.with_columns(
        _some(0, 14, "po_id", pl.lit(other)),
        _some(0, 29, "amount", pl.col("amount") * 3),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _grouped(report)
    _as_built(own_store)


def test_the_store_befores_order_copies_equal_a_scan_of_it(own_store, tmp_path, monkeypatch):
    """The store before's copies of the named orders' lines, orders and receipts are made
    from the store now's (not by scanning it again): they equal what a scan of the store
    before gives, for lines pointed at another order, left without one, and given new
    amounts."""
    month, lines = _month_lines(own_store, 11, "invoice_date", 30, also="po_id IS NOT NULL")
    with own_store.read() as con:
        other = con.execute("SELECT max(po_id) FROM purchase_orders").fetchone()[0]
    changed = (
        lines.with_columns(_some(0, 9, "po_id", pl.lit(other)))
        .with_columns(_some(10, 14, "po_id", pl.lit(None, pl.String)))
        .with_columns(_some(15, 29, "amount", pl.col("amount") * 2))
    )
    compared: list[str] = []
    real = rollups._Before._orders_before

    def checked(self, con, old):
        real(self, con, old)
        named = self.named_orders(con)
        named_in = "WHERE list_contains(CAST(? AS VARCHAR[]), po_id)"
        scans = {
            rollups._ORDER_LINES: (
                f"SELECT * FROM invoices {named_in} "
                "UNION ALL SELECT * FROM _kpi_delta_lines WHERE po_id IS NULL"
            ),
            "_kpi_delta_po": f"SELECT * FROM purchase_orders {named_in}",
            "_kpi_delta_gr": f"SELECT * FROM goods_receipts {named_in}",
        }
        for copy, scan in scans.items():
            made = old.execute(f"SELECT * FROM {copy} ORDER BY ALL").fetchall()
            found = old.execute(f"SELECT * FROM ({scan}) ORDER BY ALL", [named]).fetchall()
            assert made == found, copy
            compared.append(copy)
        assert other in named

    monkeypatch.setattr(rollups._Before, "_orders_before", checked)
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _grouped(report)
    assert sorted(compared) == sorted([rollups._ORDER_LINES, "_kpi_delta_po", "_kpi_delta_gr"])
    _as_built(own_store)


def test_new_lines_in_a_new_month(own_store, tmp_path, monkeypatch):
    _, hi = _window(own_store)
    lines = _lines(own_store, "invoice_date >= ?", [hi.replace(day=1)], 30).with_columns(
        pl.format("NEWBVA-{}", pl.col("invoice_id")).alias("invoice_id"),
        (pl.col("invoice_date") + timedelta(days=40)).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
    )
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    _grouped(report)
    _as_built(own_store)


def test_a_write_that_declares_nothing_recomputes_the_months(own_store):
    """No declared change: the groups cannot be told, the table's months are recomputed."""
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "UPDATE invoices SET amount = amount + 1 WHERE invoice_id = "
            "(SELECT min(invoice_id) FROM invoices WHERE po_id IS NOT NULL)"
        )
    report = rollups.refresh(own_store)
    assert report is not None and _BVA not in report.applied
    _as_built(own_store)


def test_the_open_order_lines_are_the_views(built):
    """The orders read for the groups are those with a line budget_vs_actual's open_po
    keeps (an order line that commits or accrues spend): the same condition."""
    from kpi.store.template import parsed, render
    from kpi.store.views import view_bodies

    body = view_bodies(Store(built).settings)["budget_vs_actual"]
    open_po = {c.alias: c.this for c in body.find_all(exp.CTE)}["open_po"]
    assert render(open_po.args["where"].this.copy()) == render(parsed(rollups._OPEN_LINE).copy())
