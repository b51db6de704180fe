"""The demo holds every case the finance rules of issue 14 are about, each found by a query.

Each test counts the case in the demo store and checks one concrete example of it, so a
rule (credit notes left out of days to pay, after-the-fact POs against compliance, ...)
always has something to show on the demo.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from kpi.demo.masters import draw_master, fx_rates
from kpi.demo.reference import AS_OF, USD_COST_CENTRE
from kpi.demo.stories import terms_history
from kpi.store.schema import TABLES

SCALE = 0.05


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory, demo_copy):
    # build_demo(seed=42, scale=SCALE), built once per run
    path = demo_copy(SCALE, tmp_path_factory.mktemp("demo_stories") / "demo.duckdb", seed=42)
    connection = duckdb.connect(str(path), read_only=True)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_credit_notes_negative_some_paid_some_on_the_original_po_in_several_quarters(con):
    lines, quarters, paid, on_po = rows(
        con,
        """SELECT count(*), count(DISTINCT year(invoice_date) * 10 + quarter(invoice_date)),
                  count(paid_date), count(po_id)
           FROM invoices WHERE amount < 0""",
    )[0]
    assert lines > 0 and quarters >= 4 and 0 < paid < lines and 0 < on_po < lines
    # every credit-note line is a return: negative quantity at a positive price, exact
    assert rows(
        con,
        """SELECT count(*) FROM invoices WHERE amount < 0 AND NOT (quantity < 0
           AND unit_price > 0 AND amount = round(quantity * unit_price, 2))""",
    ) == [(0,)]
    # one example: the credit note names the PO of an earlier invoice of the same item
    cn, po, item, credit, invoiced, first = rows(
        con,
        """SELECT c.invoice_id, c.po_id, c.item_id, c.amount, max(i.amount), min(i.invoice_date)
           FROM invoices c JOIN invoices i ON i.po_id = c.po_id AND i.item_id = c.item_id
                AND i.amount > 0 AND i.invoice_date < c.invoice_date
           WHERE c.amount < 0 GROUP BY ALL ORDER BY c.invoice_id LIMIT 1""",
    )[0]
    assert cn.startswith("CN-") and po.startswith("PO-") and item.startswith("IT-")
    assert credit < 0 < invoiced and -credit <= invoiced and first < AS_OF


def test_invoices_without_a_due_date_at_two_suppliers(con):
    per_supplier = rows(
        con,
        """SELECT supplier_id, count(DISTINCT invoice_id) FILTER (WHERE due_date IS NULL),
                  count(DISTINCT invoice_id)
           FROM invoices GROUP BY 1 HAVING count(*) FILTER (WHERE due_date IS NULL) > 0
           ORDER BY 1""",
    )
    assert len(per_supplier) == 2
    for supplier, blank, total in per_supplier:
        assert 0 < blank < 0.2 * total, supplier  # a few % of their invoices, not all
    # one example: the whole invoice lacks the due date
    invoice, with_due = rows(
        con,
        """SELECT invoice_id, count(due_date) FROM invoices WHERE invoice_id IN
           (SELECT min(invoice_id) FROM invoices WHERE due_date IS NULL) GROUP BY 1""",
    )[0]
    assert invoice.startswith("INV-") and with_due == 0


def test_po_raised_after_its_invoice_every_quarter(con):
    found = rows(
        con,
        """SELECT year(i.invoice_date) * 10 + quarter(i.invoice_date) AS q,
                  count(DISTINCT p.po_id)
           FROM invoices i JOIN purchase_orders p USING (po_id)
           WHERE i.amount > 0 AND p.po_date > i.invoice_date GROUP BY 1 ORDER BY 1""",
    )
    quarters = dict(found)
    assert len(quarters) >= 14  # FY2023-Q1 .. FY2026-Q3 at least
    assert all(1 <= n <= 20 for n in quarters.values())  # a handful, not a habit
    po, invoiced, raised, approved = rows(
        con,
        """SELECT p.po_id, min(i.invoice_date), min(p.po_date), min(p.approved_date)
           FROM invoices i JOIN purchase_orders p USING (po_id)
           WHERE i.amount > 0 AND p.po_date > i.invoice_date
           GROUP BY 1 ORDER BY 1 LIMIT 1""",
    )[0]
    assert invoiced < raised <= approved <= AS_OF
    assert raised - invoiced <= timedelta(days=17)


def test_invoice_on_a_po_that_does_not_exist(con):
    ghosts = rows(
        con,
        """SELECT DISTINCT invoice_id, po_id FROM invoices i WHERE po_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM purchase_orders p WHERE p.po_id = i.po_id)
           ORDER BY 1""",
    )
    assert len(ghosts) >= 4
    invoice, po = ghosts[0]
    assert invoice.startswith("INV-") and po.startswith("PO-") and len(po) == 14
    assert rows(con, "SELECT count(*) FROM goods_receipts WHERE po_id = ?", [po]) == [(0,)]


def test_invoice_on_a_po_that_was_never_approved(con):
    unapproved = rows(
        con,
        """SELECT DISTINCT p.po_id, p.status FROM purchase_orders p
           JOIN invoices i USING (po_id) WHERE p.approved_date IS NULL ORDER BY 1""",
    )
    assert len(unapproved) >= 4
    assert {status for _, status in unapproved} == {"closed"}  # invoiced, yet never approved


def test_overdue_open_lines_and_partial_deliveries(con):
    nothing, short = rows(
        con,
        """WITH r AS (SELECT p.po_id, p.po_line, p.quantity,
                         coalesce(sum(g.quantity), 0) AS received
                  FROM purchase_orders p LEFT JOIN goods_receipts g
                    ON g.po_id = p.po_id AND g.po_line = p.po_line
                  WHERE p.promised_date <= ? GROUP BY ALL)
           SELECT count(*) FILTER (WHERE received = 0),
                  count(*) FILTER (WHERE received > 0 AND received < quantity) FROM r""",
        [AS_OF],
    )[0]
    assert nothing > 0 and nothing + short > 0
    # partial deliveries: less than ordered by the promised date, the rest after it
    late_rest = rows(
        con,
        """SELECT p.po_id, p.po_line, p.quantity,
                  sum(g.quantity) FILTER (WHERE g.receipt_date <= p.promised_date),
                  sum(g.quantity)
           FROM purchase_orders p JOIN goods_receipts g
             ON g.po_id = p.po_id AND g.po_line = p.po_line
           GROUP BY ALL HAVING sum(g.quantity) FILTER (WHERE g.receipt_date <= p.promised_date)
                               BETWEEN 0.001 AND p.quantity - 0.001
                           AND sum(g.quantity) = p.quantity
           ORDER BY 1, 2""",
    )
    assert len(late_rest) > 0
    _, _, ordered, by_promise, in_the_end = late_rest[0]
    assert 0 < by_promise < ordered == in_the_end


def test_usd_cost_centre_through_a_dollar_move(con):
    budget_currencies = rows(
        con, "SELECT DISTINCT currency FROM budgets WHERE cost_centre = ?", [USD_COST_CENTRE]
    )
    assert budget_currencies == [("USD",)]
    assert rows(
        con, "SELECT DISTINCT currency FROM budgets WHERE cost_centre <> ?", [USD_COST_CENTRE]
    ) == [("EUR",)]
    usd_share = rows(
        con,
        """SELECT sum(amount) FILTER (WHERE currency = 'USD') / sum(amount) FROM invoices
           WHERE cost_centre = ? AND year(invoice_date) = 2026""",
        [USD_COST_CENTRE],
    )[0][0]
    assert usd_share > 0.5  # most of its spend is billed in dollars
    # FY2026: EUR per USD in February against September, a few % apart
    february, september = rows(
        con,
        """SELECT avg(rate) FILTER (WHERE month(date) = 2), avg(rate) FILTER (WHERE month(date) = 9)
           FROM fx_rates WHERE currency = 'USD' AND year(date) = 2026""",
    )[0]
    assert 0.02 < (february - september) / february < 0.12


@pytest.mark.parametrize("year", [2025, 2026])
def test_service_lines_without_quantity_in_both_years(con, year):
    lines, categories, priced = rows(
        con,
        """SELECT count(*), list(DISTINCT category ORDER BY category), count(unit_price)
           FROM invoices WHERE quantity IS NULL AND year(invoice_date) = ?""",
        [year],
    )[0]
    assert lines > 0 and priced == 0
    assert set(categories) <= {"Facilities", "Professional services"}
    item, amount = rows(
        con,
        """SELECT item_id, amount FROM invoices WHERE quantity IS NULL
           AND year(invoice_date) = ? ORDER BY invoice_id, invoice_line LIMIT 1""",
        [year],
    )[0]
    assert item.startswith("IT-") and amount > 0


def test_items_of_one_category_in_different_units(con):
    assert rows(con, "SELECT count(*) FROM items WHERE unit IS NULL OR unit = ''") == [(0,)]
    units = rows(
        con,
        "SELECT list(DISTINCT unit ORDER BY unit) FROM items WHERE category = 'Raw materials'",
    )[0][0]
    assert units == ["kg", "l", "m"]
    # each unit is bought: invoice lines with a quantity for every one of them
    bought = rows(
        con,
        """SELECT count(DISTINCT it.unit) FROM invoices i JOIN items it USING (item_id)
           WHERE it.category = 'Raw materials' AND i.quantity > 0""",
    )
    assert bought == [(3,)]


def test_critical_items_new_stock_never_issued_and_old_idle_stock_at_safety(con):
    levels = {r[0] for r in rows(con, "SELECT DISTINCT criticality FROM items")}
    assert {"critical", "high", "medium", "low"} <= levels
    last = rows(con, "SELECT max(snapshot_date) FROM inventory")[0][0]
    assert last == date(2026, 10, 31)
    new = rows(
        con,
        """SELECT item_id, location, min(snapshot_date), max(on_hand_qty),
                  count(last_issue_date), max(issued_qty_90d)
           FROM inventory GROUP BY 1, 2 HAVING count(last_issue_date) = 0 ORDER BY 1, 2""",
    )
    assert len(new) >= 3
    for item, location, first, on_hand, issued_dates, issued in new:
        assert first >= date(2026, 8, 31), (item, location)  # arrived in the last 3 months
        assert on_hand > 0 and issued_dates == 0 and issued == 0
    idle = rows(
        con,
        """SELECT inv.item_id, inv.location, it.criticality, inv.on_hand_qty,
                  inv.safety_stock_qty, inv.last_issue_date
           FROM inventory inv JOIN items it USING (item_id)
           WHERE inv.snapshot_date = ? AND inv.last_issue_date < ? - INTERVAL 365 DAY
             AND inv.on_hand_qty > 0 AND inv.on_hand_qty <= inv.safety_stock_qty
           ORDER BY 1, 2""",
        [last, last],
    )
    not_critical = [r for r in idle if r[2] != "critical"]
    critical = [r for r in idle if r[2] == "critical"]
    assert not_critical and critical  # the rule on critical items has both sides to show
    item, _, level, on_hand, safety, last_issue = not_critical[0]
    assert (
        level in {"high", "medium", "low"} and on_hand <= safety and last_issue < date(2025, 11, 1)
    )


def test_supplier_terms_that_changed_over_time(con):
    """Fast-paid suppliers moved from 45 to 60 days on 1 January 2025 and a few suppliers
    began offering their discount then; the invoices agree with the terms of their date.
    (The demo writes the history when the store has the optional supplier_terms table.)"""
    rng = np.random.default_rng(42)
    fx_rates(rng)
    m = draw_master(rng)
    invoices = con.sql(
        "SELECT invoice_id, supplier_id, invoice_date, due_date, paid_date, "
        "CAST(discount_taken * 100 AS BIGINT) AS discount_taken FROM invoices"
    ).pl()
    history, judged = terms_history(np.random.default_rng(1), m, invoices)
    changed = history.group_by("supplier_id").agg(
        pl.col("payment_terms_days").n_unique().alias("terms"),
        pl.col("discount_pct").n_unique().alias("discounts"),
        pl.len(),
    )
    assert changed["len"].to_list() == [2] * changed.height
    longer = changed.filter(pl.col("terms") == 2)["supplier_id"].to_list()
    offering = changed.filter(pl.col("discounts") == 2)["supplier_id"].to_list()
    assert len(longer) == 4 and len(offering) == 3
    # one example: a 45-day supplier's invoice of 2024 is due 45 days after its date, one of
    # 2025 keeps today's 60 days
    before_and_after = judged.filter(
        (pl.col("supplier_id") == longer[0]) & pl.col("due_date").is_not_null()
    ).with_columns(days=(pl.col("due_date") - pl.col("invoice_date")).dt.total_days())
    assert set(before_and_after.filter(pl.col("invoice_date") < date(2025, 1, 1))["days"]) == {45}
    assert set(before_and_after.filter(pl.col("invoice_date") >= date(2025, 1, 1))["days"]) == {60}
    # no discount was taken before it was offered
    early = judged.filter(
        pl.col("supplier_id").is_in(offering) & (pl.col("invoice_date") < date(2025, 1, 1))
    )
    assert early.height > 0 and early["discount_taken"].sum() == 0
    if "supplier_terms" in TABLES:  # the store holds the same history
        stored = rows(con, "SELECT count(DISTINCT supplier_id) FROM supplier_terms")[0][0]
        assert stored == 7
