"""After a declared load of invoices, the savings rollup takes the load's difference (each
line's row is its own: its initiative, prices and rate) while the first and last months
invoiced stay (each initiative's expected saving of a month is a row only in the months
the invoices span): it then equals a build from scratch row for row, to the cent."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from kpi.semantic import rollups
from kpi.store.database import Store
from kpi.store.schema import TABLES
from tests.unit import test_rollups_months as months
from tests.unit.test_rollups_months import (
    _held_and_built,
    _lines,
    _load_lines,
    _some,
    _window,
)

built, own_store, rollups_on = months.built, months.own_store, months.rollups_on
pytestmark = pytest.mark.usefixtures("rollups_on")

_SAVINGS = "r_savings_lines__invoice_date__any"


def _as_built(store: Store) -> None:
    held, built_rows = _held_and_built(store, _SAVINGS)
    assert held == built_rows


def _claimed(store: Store, limit: int) -> pl.DataFrame:
    """Invoice lines an initiative claims savings on (whole invoices, in id order)."""
    cols = ", ".join(f"i.{c}" for c in TABLES["invoices"].column_names)
    with store.read() as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT invoice_id FROM savings_lines WHERE claims "
                "AND invoice_id IS NOT NULL ORDER BY 1 LIMIT ?",
                [limit],
            ).fetchall()
        ]
        return con.sql(
            f"SELECT {cols} FROM invoices i WHERE list_contains(?, i.invoice_id) "  # noqa: S608
            "ORDER BY i.invoice_id, i.invoice_line",
            params=[ids],
        ).pl()


def test_claimed_lines_reloaded_with_other_prices_take_the_difference(
    own_store, tmp_path, monkeypatch
):
    lines = _claimed(own_store, 15)
    assert lines.height >= 10
    with own_store.read() as con:
        before = con.execute(
            "SELECT sum(claimed_amount) FROM savings_lines WHERE list_contains(?, invoice_id)",
            [lines.get_column("invoice_id").unique().to_list()],
        ).fetchone()[0]
    changed = lines.with_columns(
        _some(0, 4, "unit_price", pl.col("unit_price") * Decimal("0.9")),
        _some(0, 4, "amount", pl.col("amount") * Decimal("0.9")),
        _some(5, 7, "quantity", pl.col("quantity") * 2),
        _some(8, 9, "invoice_date", pl.col("invoice_date") + pl.duration(days=31)),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    assert _SAVINGS in report.applied and _SAVINGS not in report.months
    with own_store.read() as con:
        after = con.execute(
            "SELECT sum(claimed_amount) FROM savings_lines WHERE list_contains(?, invoice_id)",
            [lines.get_column("invoice_id").unique().to_list()],
        ).fetchone()[0]
    assert after != before
    _as_built(own_store)


def test_new_lines_within_the_months_invoiced_take_the_difference(own_store, tmp_path, monkeypatch):
    lines = _claimed(own_store, 8).with_columns(
        pl.format("NEWS-{}", pl.col("invoice_id")).alias("invoice_id"),
    )
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert _SAVINGS in report.applied
    _as_built(own_store)


def test_a_new_last_month_recomputes_the_expected_savings(own_store, tmp_path, monkeypatch):
    """The last month invoiced moves on: the expected savings of the months between are
    rows now, so the months are recomputed instead (and equal a build)."""
    _, hi = _window(own_store)
    lines = _lines(own_store, "invoice_date >= ?", [hi.replace(day=1)], 5).with_columns(
        pl.format("NEWL-{}", pl.col("invoice_id")).alias("invoice_id"),
        (pl.col("invoice_date") + pl.duration(days=70)).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
    )
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert _SAVINGS not in report.applied and _SAVINGS in report.months
    _as_built(own_store)


def test_the_savings_table_keeps_counts_for_the_difference(own_store):
    spec = next(s for s in rollups.plan(months.DEFS, own_store.settings) if s.name == _SAVINGS)
    assert {f"{m.column}_c" for m in spec.measures} <= {m.column for m in rollups._hidden(spec)}
