"""After a declared load of invoices, budget_vs_actual's rollup recomputes only the groups
(month, cost centre, category) the load changes: its sums per group, currency and measure
(kept beside it, exact and not yet converted: each group's sums are converted and rounded
once per currency and measure, so a difference of converted rows would not do) are given
the load's difference, and the changed groups' rows are made from their sums. The table
then equals a build from scratch row for row, to the cent, and so do the sums."""

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


_SUMS = "s_budget_vs_actual__month_start__any"


def _spec(store: Store) -> rollups.RollupSpec:
    return next(s for s in rollups.plan(DEFS, store.settings) if s.name == _BVA)


def _sums(store: Store) -> tuple[list[tuple], list[tuple]]:
    """The sums kept beside the table and those a build from scratch gives, both sorted."""
    query = rollups.build_query(_spec(store), store.settings, sums=True)
    with store.read() as con:
        built_sums = con.sql(query, params=query.params).fetchall()
        held = con.sql(f"SELECT * FROM rollups.{_SUMS}").fetchall()
    return sorted(held, key=repr), sorted(built_sums, key=repr)


def _as_built(store: Store) -> None:
    """The table holds exactly the rows a build from scratch gives (every decimal equal),
    computed live from the view, and its sums exactly a build's sums."""
    held, built_rows = _held_and_built(store, _BVA)
    assert held == built_rows
    held_sums, built_sums = _sums(store)
    assert held_sums == built_sums


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


def _hand_line(
    template: pl.DataFrame,
    number: str,
    po_id: str | None,
    day: date,
    category: str,
    centre: str,
    amount: Decimal,
) -> pl.DataFrame:
    """One invoice line made by hand from a line of the store (its supplier and item):
    invoice `number`, line 1, on `day`, unpaid, with this order, category, cost centre
    and amount."""
    return template.with_columns(
        pl.lit(number).alias("invoice_id"),
        pl.lit(1).cast(template.schema["invoice_line"]).alias("invoice_line"),
        pl.lit(po_id, pl.String).alias("po_id"),
        pl.lit(day).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("due_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
        pl.lit(category).alias("category"),
        pl.lit(centre).alias("cost_centre"),
        pl.lit(amount).cast(template.schema["amount"]).alias("amount"),
    )


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
    line = _hand_line(template, "HANDBVA-1", po_id, hi, category_a, centre, Decimal("10.00"))
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


def _one_line_order(store: Store) -> tuple[str, str, str, date, Decimal]:
    """An open one-line order in the reporting currency, neither received nor invoiced:
    its id, cost centre, category, due month and amount."""
    with store.read() as con:
        row = con.execute(
            "SELECT p.po_id, p.cost_centre, coalesce(p.category, it.category), "
            "CAST(date_trunc('month', coalesce(p.promised_date, p.po_date)) AS DATE), p.amount "
            "FROM purchase_orders p LEFT JOIN items it ON it.item_id = p.item_id "
            "WHERE lower(p.status) = 'open' AND p.currency = 'EUR' AND p.amount > 100 "
            "AND p.cost_centre IS NOT NULL AND coalesce(p.category, it.category) IS NOT NULL "
            "AND p.po_id IN (SELECT po_id FROM purchase_orders GROUP BY ALL HAVING count(*) = 1) "
            "AND p.po_id NOT IN (SELECT po_id FROM goods_receipts) "
            "AND p.po_id NOT IN (SELECT po_id FROM invoices WHERE po_id IS NOT NULL) "
            "ORDER BY 1 LIMIT 1"
        ).fetchone()
    assert row is not None, "the demo data has an open one-line order nobody invoiced"
    return row


def test_an_invoice_over_an_orders_rest_commits_nothing_more_of_it(
    own_store, tmp_path, monkeypatch
):
    """By hand: an open one-line order of amount A, never received nor invoiced, commits A.
    An invoice line of 40.00 EUR on it (one load) leaves A - 40.00 committed; a second
    invoice of A - 40.00 + 50.00 EUR (another load) leaves it fully invoiced: its group's
    committed spend drops by A - 40.00, not by the second line's amount (what was invoiced
    before on the order counts: every invoice of the order is read)."""
    po_id, centre, category, due, amount = _one_line_order(own_store)
    _, hi = _window(own_store)
    template = _lines(own_store, "currency = 'EUR' AND item_id IS NOT NULL", [], 1)

    def invoice(number: str, value: Decimal) -> pl.DataFrame:
        return _hand_line(template, number, po_id, hi, category, centre, value)

    group = (due, centre, category)
    assert group != (hi.replace(day=1), centre, category)  # the invoices' group is another
    actual, plan = _spend_and_plan(own_store, group)
    _grouped(_load_lines(own_store, tmp_path, invoice("HANDBVA-3", Decimal("40.00")), monkeypatch))
    assert _spend_and_plan(own_store, group) == (actual, plan - Decimal("40.00"))
    rest = amount - Decimal("40.00")
    second = invoice("HANDBVA-4", rest + Decimal("50.00"))
    _grouped(_load_lines(own_store, tmp_path, second, monkeypatch))
    assert _spend_and_plan(own_store, group) == (actual, plan - amount)
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
    day = month + timedelta(days=3)
    line = _hand_line(template, "HANDBVA-2", None, day, category, centre, Decimal("5.00"))
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


def test_the_same_lines_loaded_again_change_no_group(own_store, tmp_path, monkeypatch):
    """Lines loaded again as they are: their difference is nothing, so no group's rows are
    made again (the sums they are made from are none) and the table stays as it was."""
    _, lines = _month_lines(own_store, 7, "invoice_date", 40, also="po_id IS NOT NULL")
    before, _ = _held_and_built(own_store, _BVA)
    made: list[int] = []
    real = rollups._rows_from

    def counted(con, spec, settings, sums):
        made.append(sums.num_rows)
        return real(con, spec, settings, sums)

    monkeypatch.setattr(rollups, "_rows_from", counted)
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    _grouped(report)
    assert made == [0]
    assert _held_and_built(own_store, _BVA)[0] == before
    _as_built(own_store)


def test_one_line_changed_remakes_its_group_only(own_store, tmp_path, monkeypatch):
    """By hand: one line of an order-less invoice in EUR raised by 1.00 EUR. Its group's
    actual spend rises by 1.00 (EUR is the reporting currency: no conversion), every other
    group is as it was, and only that group's sums were read to make rows again."""
    month, lines = _month_lines(
        own_store, 8, "invoice_date", 1, also="po_id IS NULL AND currency = 'EUR'"
    )
    assert lines.height == 1
    with own_store.read() as con:
        (category,) = con.execute(
            "SELECT coalesce(?, (SELECT category FROM items WHERE item_id = ?))",
            [lines["category"][0], lines["item_id"][0]],
        ).fetchone()
    group = (month, lines["cost_centre"][0], category)
    before, _ = _held_and_built(own_store, _BVA)
    made: list[set] = []
    real = rollups._rows_from

    def counted(con, spec, settings, sums):
        made.append({(r["month_start"], r["cost_centre"], r["category"]) for r in sums.to_pylist()})
        return real(con, spec, settings, sums)

    monkeypatch.setattr(rollups, "_rows_from", counted)
    report = _load_lines(
        own_store, tmp_path, lines.with_columns(pl.col("amount") + Decimal("1.00")), monkeypatch
    )
    _grouped(report)
    assert made == [{group}]
    after, _ = _held_and_built(own_store, _BVA)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 1
    (was, now) = changed[0]
    assert (was[0], was[2], was[1]) == group  # month, category, cost centre
    differences = [n - w for w, n in zip(was[3:], now[3:], strict=True) if n != w]
    assert differences and all(d == Decimal("1.00") for d in differences)
    _as_built(own_store)


def test_a_table_written_before_its_sums_were_kept_is_built_again(own_store, tmp_path, monkeypatch):
    """A rollups file from before the sums were kept (no sums table, no mark in the index,
    stamped current): the next refresh, even with nothing written since, builds that table
    and its sums whole (and keeps the others); the next load then applies its difference."""
    import duckdb

    with duckdb.connect(str(own_store.rollups_path)) as out:
        out.execute(f"DROP TABLE {_SUMS}")
        out.execute(
            "UPDATE rollup_index SET columns = replace(columns, ', \"_sums\"', '') "
            "WHERE spec_name = ?",
            [_BVA],
        )
        assert (
            "_sums"
            not in out.execute(
                "SELECT columns FROM rollup_index WHERE spec_name = ?", [_BVA]
            ).fetchone()[0]
        )
    rollups._write_stamp(own_store, rollups.version_text(own_store))
    report = rollups.refresh(own_store)
    assert report is not None and report.built == [_BVA] and _BVA not in report.kept
    assert len(report.kept) == len(rollups.plan(DEFS, own_store.settings)) - 1
    _as_built(own_store)
    _, lines = _month_lines(own_store, 10, "invoice_date", 20, also="po_id IS NOT NULL")
    changed = lines.with_columns(pl.col("amount") + Decimal("2.00"))
    _grouped(_load_lines(own_store, tmp_path, changed, monkeypatch))
    _as_built(own_store)


def test_the_named_orders_months_from_their_copies_equal_a_scan(own_store, tmp_path, monkeypatch):
    """After a declared load, the months the named orders reach (their lines' due and
    receipt months; their invoice lines' months from the first changed on) are read from
    the copies of those orders' rows: the same months as a scan of the store's tables."""
    # the same orders (each month's print of its orders unchanged), new amounts
    _, lines = _month_lines(own_store, 12, "invoice_date", 30, also="po_id IS NOT NULL")
    changed = lines.with_columns(_some(0, 29, "amount", pl.col("amount") * 2))
    compared: list[str] = []
    real_due, real_later = rollups._Orders.due, rollups._Orders.later_lines

    def both_ways(real, what):
        def asked(self, months):
            got = real(self, months)
            assert self.copies is not None and self.named
            scanned = real(rollups._Orders(self.con, self.named), months)
            assert got == scanned and got, what
            compared.append(what)
            return got

        return asked

    monkeypatch.setattr(rollups._Orders, "due", both_ways(real_due, "due"))
    monkeypatch.setattr(rollups._Orders, "later_lines", both_ways(real_later, "later"))
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    _grouped(report)
    assert sorted(set(compared)) == ["due", "later"]
    _as_built(own_store)
