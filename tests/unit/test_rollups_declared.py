"""After a declared load of invoices the refresh reads no full scan of the lines: the
prints it keeps in the index (each table's fingerprint, each month's, the orders' months)
are the index's moved by the load's lines, and they equal what a full scan of the store
gives, so a later refresh sees exactly the changes there are."""

from __future__ import annotations

import polars as pl
import pytest

from kpi.semantic import rollups
from kpi.store.database import Store
from kpi.store.view_reads import INCREMENTAL, SUMMARIES
from tests.unit import test_rollups_months as months
from tests.unit.test_rollups_months import _lines, _load_lines, _month_lines, _parity, _window

# the months tests' store with its rollups, and a copy each test may write to
built, own_store, rollups_on = months.built, months.own_store, months.rollups_on
pytestmark = pytest.mark.usefixtures("rollups_on")


def _full_prints(store: Store) -> dict[str, tuple[dict, dict]]:
    """Per rollup table: the inputs and month prints a refresh reading every row writes."""
    specs = rollups.plan(rollups._definitions(store.settings), store.settings)
    tables = {s.view: rollups.tables_read(store.settings, s.view) for s in specs}
    pairs = {
        (t, d.column)
        for s in specs
        for t, d in INCREMENTAL.get((s.view, s.period_column), {}).items()
    }
    maxima = {(t, c) for (v, t), cs in SUMMARIES.items() if v in tables for c in cs}
    with store.read() as con:
        whole, months, tops = rollups.prints(
            con, sorted({t for ts in tables.values() for t in ts}), pairs, maxima
        )
        orders = rollups._Orders(con).prints(None)
    out = {}
    for s in specs:
        inputs = {t: rollups._summary(s.view, t, whole, tops) or whole[t] for t in tables[s.view]}
        dated = INCREMENTAL.get((s.view, s.period_column), {})
        kept = {f"{t}:{d.column}": months[f"{t}:{d.column}"] for t, d in dated.items()}
        if any(d.reach in ("orders", "due") for d in dated.values()):
            kept[rollups._ORDERS_KEY] = orders
        out[s.name] = (inputs, kept)
    return out


def _held(store: Store) -> dict[str, tuple[dict, dict]]:
    with store.read() as con:
        return {e.spec_name: (e.inputs, e.months) for e in rollups._read_index(con)}


@pytest.mark.parametrize("threshold", [None, 10])  # whole rows hashed, or their lineage
def test_a_declared_load_keeps_the_prints_a_full_scan_gives(
    own_store, tmp_path, monkeypatch, threshold
):
    if threshold is not None:
        monkeypatch.setattr(rollups, "_LINEAGE_FINGERPRINT_ROWS", threshold)
        rollups.refresh(own_store, rebuild=True)  # the index's prints of lineage
    scans: list[object] = []
    real = rollups.prints
    monkeypatch.setattr(rollups, "prints", lambda *a, **k: scans.append(a) or real(*a, **k))
    month, lines = _month_lines(own_store, 5, "invoice_date", 30)
    _, hi = _window(own_store)
    changed = lines.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(pl.col("invoice_date") + pl.duration(days=40))  # moved to the next month(s)
        .otherwise(pl.col("invoice_date"))
        .alias("invoice_date"),
        pl.when(pl.int_range(pl.len()).is_between(10, 14))
        .then(pl.lit(None, pl.Date))
        .otherwise(pl.col("paid_date"))
        .alias("paid_date"),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    assert not scans  # no full scan of the tables: the index's prints moved
    assert report.applied
    monkeypatch.setattr(rollups, "prints", real)
    assert _held(own_store) == _full_prints(own_store)
    _parity(own_store)


def test_new_invoices_in_a_new_month_keep_the_prints_a_full_scan_gives(
    own_store, tmp_path, monkeypatch
):
    _, hi = _window(own_store)
    lines = _lines(own_store, "invoice_date >= ?", [hi.replace(day=1)], 20).with_columns(
        pl.format("NEWD-{}", pl.col("invoice_id")).alias("invoice_id"),
        (pl.col("invoice_date") + pl.duration(days=45)).alias("invoice_date"),
    )
    _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert _held(own_store) == _full_prints(own_store)
    _parity(own_store)
