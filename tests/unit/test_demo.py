"""The demo store: every table filled, the same for the same seed, and its stories visible."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from kpi.cli import main
from kpi.demo.build import build_demo
from kpi.demo.reference import (
    AS_OF,
    LINES_AT_SCALE_1,
    MAVERICK_COST_CENTRE,
    PACKAGING,
    PACKAGING_TENDER_START,
)
from kpi.store.database import Store
from kpi.store.schema import TABLES

SCALE = 0.05


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    messages: list[str] = []
    counts = build_demo(path, seed=42, scale=SCALE, progress=messages.append)
    assert messages, "the build reports its stages"
    return path, counts


@pytest.fixture(scope="session")
def views(demo: tuple[Path, dict[str, int]]):
    """A read connection with the curated views, as the app gets it."""
    with Store(demo[0]).read() as con:
        yield con


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()


def content(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def content_of(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return content(con)
    finally:
        con.close()


# ---- shape ------------------------------------------------------------------------------
def test_every_canonical_table_and_column_is_filled(demo, views):
    _, counts = demo
    assert set(counts) == set(TABLES)
    for name, table in TABLES.items():
        assert one(views, f"SELECT count(*) FROM {name}")[0] == counts[name] > 0, name
        for col in table.column_names:
            filled = one(views, f"SELECT count({col}) FROM {name}")[0]
            assert filled > 0, f"{name}.{col} is never filled"


def test_each_table_has_a_load_row(demo, views):
    _, counts = demo
    rows = views.execute(
        "SELECT table_name, source, rows_in, rows_loaded, rows_rejected, status, content_hash "
        "FROM loads ORDER BY load_id"
    ).fetchall()
    assert {r[0]: r[3] for r in rows} == counts
    for name, source, rows_in, loaded, rejected, status, digest in rows:
        # the savings initiatives' load keeps one refused entry: an initiative that
        # overlaps a tender initiative (kpi.demo.build._record_refusal)
        refused = 1 if name == "savings_initiatives" else 0
        assert (source, rows_in, rejected, status) == ("demo", loaded + refused, refused, "loaded")
        assert digest == f"demo-seed42-scale{SCALE:g}-{name}"


def test_invoice_lines_follow_the_scale(demo, tmp_path):
    _, counts = demo
    assert abs(counts["invoices"] / (LINES_AT_SCALE_1 * SCALE) - 1) < 0.1
    small = build_demo(tmp_path / "small.duckdb", seed=42, scale=0.02)
    assert abs(small["invoices"] / (LINES_AT_SCALE_1 * 0.02) - 1) < 0.12
    assert small["suppliers"] == counts["suppliers"]


def test_scale_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        build_demo(tmp_path / "x.duckdb", scale=0)


# ---- determinism ------------------------------------------------------------------------
def test_same_seed_same_store_other_seed_other_store(demo, views, tmp_path):
    _, counts = demo
    again = tmp_path / "again.duckdb"
    build_demo(again, seed=7, scale=SCALE)  # first another seed, then rebuilt in place
    other = content_of(again)
    assert build_demo(again, seed=42, scale=SCALE) == counts
    same = content_of(again)
    assert same == content(views)
    assert other["invoices"] != same["invoices"]
    assert other["suppliers"] != same["suppliers"]


def test_command_line_builds_the_demo(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    assert main(["demo", "--db", str(db), "--seed", "1", "--scale", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "invoices" in out and db.exists()


# ---- money and dates --------------------------------------------------------------------
def test_amounts_are_exact(views):
    for table in ("invoices", "purchase_orders"):
        off = one(
            views, f"SELECT count(*) FROM {table} WHERE amount <> round(quantity * unit_price, 2)"
        )[0]
        assert off == 0, table
    wrong_discount = one(
        views,
        """
        SELECT count(*) FROM invoices i JOIN suppliers s USING (supplier_id)
        WHERE i.discount_taken <> 0 AND (i.paid_date - i.invoice_date > s.discount_days
           OR i.discount_taken <> round(i.amount * s.discount_pct * 0.01, 2))""",
    )[0]
    assert wrong_discount == 0


def test_calendar_currencies_and_rates(views):
    first, last, months = one(
        views,
        "SELECT min(invoice_date), max(invoice_date), "
        "count(DISTINCT strftime(invoice_date, '%Y-%m')) FROM invoices",
    )
    assert first < date(2023, 1, 15) and AS_OF - timedelta(days=5) < last <= AS_OF
    assert months == 46  # 2023-01 .. 2026-10
    assert one(views, "SELECT max(po_date) FROM purchase_orders")[0] <= AS_OF
    currencies = {r[0] for r in views.execute("SELECT DISTINCT currency FROM invoices").fetchall()}
    assert {"EUR", "USD", "GBP"} <= currencies
    assert (
        one(
            views,
            "SELECT count(*) FROM (SELECT supplier_id FROM invoices "
            "GROUP BY 1 HAVING count(DISTINCT currency) > 1)",
        )[0]
        == 0
    )
    rates = dict(views.execute("SELECT currency, avg(rate) FROM fx_rates GROUP BY 1").fetchall())
    assert rates["EUR"] == 1 and 0.8 < rates["USD"] < 1.0 and 1.05 < rates["GBP"] < 1.25
    countries = one(views, "SELECT count(DISTINCT country) FROM suppliers")[0]
    assert countries >= 8


def test_purchase_orders_and_receipts(views):
    # the demo gained overdue open PO lines in issue 14: lines promised by AS_OF with nothing
    # received are still open (status 'open') and not invoiced
    unreceived, still_open, invoiced = one(
        views,
        """
        SELECT count(*), count(*) FILTER (WHERE status = 'open'),
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.po_id = po.po_id))
        FROM purchase_orders po WHERE promised_date <= ? AND NOT EXISTS (
            SELECT 1 FROM goods_receipts g WHERE g.po_id = po.po_id AND g.po_line = po.po_line)
    """,
        [AS_OF],
    )
    assert unreceived > 0 and still_open == unreceived and invoiced == 0
    assert one(views, "SELECT count(*) FROM goods_receipts WHERE receipt_date > ?", [AS_OF])[0] == 0
    open_lines, not_invoiced = one(
        views,
        """
        SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM invoices i
            WHERE i.po_id = po.po_id AND i.invoice_line = po.po_line))
        FROM purchase_orders po
        WHERE status = 'open' AND promised_date BETWEEN DATE '2026-11-01' AND DATE '2026-12-31'
    """,
    )
    assert open_lines > 0 and not_invoiced == open_lines
    late, approval = one(
        views,
        "SELECT avg(CASE WHEN on_time THEN 0 ELSE 1 END), "
        "avg(approval_days) FROM po_lines WHERE received",
    )
    assert 0.07 < late < 0.18 and 0 < approval < 5
    worst = one(
        views,
        """SELECT max(late) FROM (SELECT avg(CASE WHEN on_time THEN 0 ELSE 1
        END) AS late FROM po_lines WHERE received GROUP BY supplier_id HAVING count(*) >= 50)""",
    )
    assert worst[0] > 0.3


def test_payments(views):
    late, sme_late, missed, captured = one(
        views,
        """
        SELECT avg(paid_late::INT), avg(paid_late::INT) FILTER (WHERE supplier_size = 'sme'),
               count(*) FILTER (WHERE discount_missed AND is_paid), sum(discount_captured)
        FROM payments WHERE is_paid""",
    )
    assert 0.08 < late < 0.2 and sme_late > 0.1 and missed > 0 and captured > 0
    oldest_open = one(views, "SELECT min(invoice_date) FROM invoices WHERE paid_date IS NULL")[0]
    assert oldest_open > AS_OF - timedelta(days=80)  # unpaid: the latest weeks only
    assert one(views, "SELECT count(*) FROM invoices WHERE paid_date > ?", [AS_OF])[0] == 0


def test_savings_initiatives_cover_every_kind_and_verdict(views):
    def distinct(column: str) -> set[str]:
        rows = views.execute(f"SELECT DISTINCT {column} FROM savings_initiatives").fetchall()
        return {r[0] for r in rows}

    assert distinct("kind") == {
        "price_reduction",
        "cost_avoidance",
        "demand_reduction",
        "value_add",
    }
    assert distinct("finance_status") == {"pending", "accepted", "rejected"}
    matched = one(views, """SELECT count(DISTINCT initiative_id) FROM savings_lines""")[0]
    started = one(
        views,
        "SELECT count(*) FROM savings_initiatives WHERE start_date <= ?",
        [AS_OF - timedelta(days=90)],
    )[0]
    assert matched >= 0.7 * started
    assert one(views, "SELECT count(*) FROM savings_initiatives WHERE owner NOT LIKE '%@%'")[0] == 0


def test_price_outlook_and_budgets(views):
    quarters, categories = one(
        views, "SELECT count(DISTINCT quarter), count(DISTINCT category) FROM price_outlook"
    )
    assert (quarters, categories) == (8, 12)
    periods = one(views, "SELECT min(period), max(period) FROM budgets")
    assert periods == ("2023-01", "2026-12")


# ---- the planted stories ----------------------------------------------------------------
def test_story_packaging_prices_fell_but_spend_rose(views):
    paid_vs_baseline = one(
        views,
        """
        SELECT sum(l.unit_price * l.quantity) / sum(l.baseline_unit_price * l.quantity)
        FROM savings_lines l JOIN savings_initiatives s USING (initiative_id)
        WHERE l.category = ? AND l.kind = 'price_reduction' AND s.start_date = ?
    """,
        [PACKAGING, PACKAGING_TENDER_START],
    )[0]
    assert paid_vs_baseline < 0.95
    spend = dict(
        views.execute(
            """
        SELECT year(invoice_date), sum(amount) FROM spend WHERE category = ? GROUP BY 1
    """,
            [PACKAGING],
        ).fetchall()
    )
    assert spend[2025] > spend[2024]


def test_story_large_preferred_suppliers_paid_fast(views):
    days, terms = one(
        views,
        """
        SELECT sum(days_to_pay * amount) / sum(amount), avg(contract_terms_days)
        FROM payments WHERE is_paid AND supplier_size = 'large' AND preferred""",
    )
    assert days < terms - 20
    others = one(
        views,
        "SELECT sum(days_to_pay * amount) / sum(amount) FROM payments "
        "WHERE is_paid AND NOT (supplier_size = 'large' AND preferred)",
    )[0]
    assert others > days + 10


def test_story_slow_stock_that_is_safety_stock(views):
    last = one(views, "SELECT max(snapshot_date) FROM inventory_position")[0]
    assert last == AS_OF
    held, obsolete = one(
        views,
        """
        SELECT count(*) FILTER (WHERE days_since_issue > 180 AND on_hand_qty <= safety_stock_qty
                                AND NOT is_obsolete AND criticality = 'critical'
                                AND lead_time_days >= 90),
               count(*) FILTER (WHERE is_obsolete)
        FROM inventory_position WHERE snapshot_date = ?""",
        [last],
    )
    assert held >= 5 and obsolete >= 1


def test_story_maverick_cost_centre_over_budget(views):
    rows = dict(
        (r[0], r[1:])
        for r in views.execute(
            """
        SELECT year(month_start), sum(budget_amount), sum(actual_amount), sum(maverick_amount)
        FROM budget_vs_actual WHERE cost_centre = ? AND month(month_start) <= 10 GROUP BY 1
    """,
            [MAVERICK_COST_CENTRE],
        ).fetchall()
    )
    budget, actual, maverick = rows[2026]
    assert float(actual) > 1.1 * float(budget)
    assert float(maverick) > 1.5 * float(rows[2025][2])


def test_the_overlapping_initiative_is_refused_and_kept_as_a_reject(views):
    rows = views.execute(
        "SELECT r.reason FROM rejects r JOIN loads l USING (load_id) "
        "WHERE l.table_name = 'savings_initiatives'"
    ).fetchall()
    assert len(rows) == 1
    assert rows[0][0].startswith("This initiative overlaps SI-2025-")
    assert "Packaging tender 2025" in rows[0][0]


def test_the_demo_tells_the_savings_stories(views):
    (open_ended,) = views.execute(
        "SELECT count(*) FROM savings_initiatives WHERE end_date IS NULL "
        "AND kind = 'price_reduction'"
    ).fetchall()[0]
    assert open_ended > 0  # initiatives without an end date (the 12-month window)
    wide = views.execute(
        "SELECT si.initiative_id, count(DISTINCT it.unit) FROM savings_initiatives si "
        "JOIN savings_lines sl USING (initiative_id) JOIN items it ON it.item_id = sl.item_id "
        "WHERE si.item_id IS NULL AND si.price_change_pct IS NOT NULL GROUP BY ALL"
    ).fetchall()
    assert wide and wide[0][1] > 1  # category-wide, by percent, over items of several units
