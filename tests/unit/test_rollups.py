"""The rollups (kpi.semantic.rollups): the same figures as the live engine, for every KPI at
every grain with the sidebar's filters and the allowed splits; never read when stale; kept
fresh by every write; and only what changed rebuilt."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kpi.core import periods
from kpi.semantic import engine, rollups
from kpi.semantic.chart_measures import CHART_MEASURES
from kpi.semantic.definitions import load_definitions
from kpi.semantic.formula_guard import guard_filter, guard_formula
from kpi.semantic.kpi_definition import FormulaTree
from kpi.store.database import Store
from kpi.store.views import view_catalog

pytestmark = pytest.mark.usefixtures("rollups_on")

SCALE = 0.05
DEFS = load_definitions(None)
UNITS = {k.id: k.unit for k in DEFS}


@pytest.fixture
def rollups_on(monkeypatch):
    monkeypatch.setenv(rollups.ENV, "on")


@pytest.fixture(scope="module")
def built(demo_copy, tmp_path_factory) -> Path:
    """A demo store with its rollups built (the module's tests only read it)."""
    path = demo_copy(SCALE, tmp_path_factory.mktemp("rollups") / "kpi.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(rollups.ENV, "on")
        report = rollups.refresh(Store(path))
    assert report is not None and report.built and not report.kept
    return path


@pytest.fixture
def store(built) -> Store:
    return Store(built)


def _same(rolled: pl.DataFrame, live: pl.DataFrame, keys: list[str]) -> list[dict]:
    """Rows where the two differ: money by more than half a cent, anything else by more
    than 1e-9 relative; a figure on one side only counts too."""
    both = rolled.join(live, on=keys, how="full", suffix="_live", nulls_equal=True)
    bad = []
    for row in both.iter_rows(named=True):
        a, b = row["value"], row["value_live"]
        kpi = row["kpi"] if row["kpi"] is not None else row["kpi_live"]
        if a is None or b is None:
            if (a is None) != (b is None):
                bad.append(row)
            continue
        if UNITS[kpi] == "currency":
            if abs(a - b) > 0.005:
                bad.append(row)
        elif abs(a - b) > 1e-9 * max(1.0, abs(b)):
            bad.append(row)
    return bad


def _window(store: Store) -> tuple[date, date]:
    with store.read() as con:
        lo, hi = con.execute("SELECT min(invoice_date), max(invoice_date) FROM invoices").fetchone()
    return lo, hi


def _choices(store: Store) -> dict[str, list[str]]:
    with store.read() as con:
        cats = [r[0] for r in con.execute("SELECT DISTINCT category FROM items").fetchall()]
        ccs = [r[0] for r in con.execute("SELECT cost_centre FROM cost_centres").fetchall()]
    return {"category": sorted(cats), "cost_centre": sorted(ccs)}


def test_every_kpi_is_read_from_the_rollups_at_every_grain(store):
    for grain in ("month", "quarter", "year", "range"):
        got = engine.compute(store, DEFS, grain, start=None, end=None)
        assert got.from_rollups == {k.id for k in DEFS}, grain
        live = engine.compute(store, DEFS, grain, live=True)
        assert not live.from_rollups
        assert got.frame.height == live.frame.height > 0
        assert _same(got.frame, live.frame, ["kpi", "period"]) == []


def _combinations(store: Store, n: int, seed: int) -> list[dict]:
    """n random requests as the app and `kpi compute` make them: a grain, a range of whole
    fiscal periods (or none), some cost centres and categories, maybe a split."""
    rng = random.Random(seed)
    cal = store.settings.fiscal
    lo, hi = _window(store)
    quarters = periods.periods_between(lo, hi, "quarter", cal)
    months = periods.periods_between(lo, hi, "month", cal)
    choices = _choices(store)
    dims = sorted({d for k in DEFS for d in k.dimensions})
    out = []
    for _ in range(n):
        grain = rng.choice(["month", "quarter", "year", "range"])
        labels = rng.choice([quarters, months])
        a, b = sorted(rng.sample(range(len(labels)), 2))
        start = periods.period_range(labels[a], cal)[0] if rng.random() < 0.9 else None
        end = periods.period_range(labels[b], cal)[1] if rng.random() < 0.9 else None
        filters = {
            f: rng.sample(values, rng.randint(1, 3))
            for f, values in choices.items()
            if rng.random() < 0.5
        }
        by = [rng.choice(dims)] if rng.random() < 0.3 else []
        out.append({"grain": grain, "start": start, "end": end, "filters": filters, "by": by})
    return out


def _check(store: Store, request: dict) -> None:
    by = request["by"]
    defs = [k for k in DEFS if all(d in k.dimensions for d in by)]
    args = (store, defs, request["grain"], by, request["start"], request["end"])
    got = engine.compute(*args, filters=request["filters"])
    live = engine.compute(*args, filters=request["filters"], live=True)
    assert got.from_rollups == {k.id for k in defs}, request
    assert got.unfiltered == live.unfiltered
    assert got.frame.height == live.frame.height, request
    assert _same(got.frame, live.frame, ["kpi", "period", *by]) == [], request


@pytest.mark.parametrize("seed", range(3))
def test_random_filters_and_splits_match_the_live_engine(store, seed):
    for request in _combinations(store, 8, seed):
        _check(store, request)


def test_what_the_rollups_cannot_answer_is_computed_live(store):
    lo, _ = _window(store)
    first = date(lo.year + 1, 1, 1)
    # a range that is not whole months
    got = engine.compute(store, DEFS, "quarter", start=first + timedelta(days=3))
    assert not got.from_rollups
    # another currency: amounts are converted and rounded line by line
    got = engine.compute(store, DEFS, "quarter", currency="USD")
    assert not got.from_rollups
    # a row filter (kpi explain's --where)
    spend = [k for k in DEFS if k.source == "spend"]
    where = [guard_filter("amount > 100", view_catalog(store.settings)["spend"])]
    got = engine.compute(store, spend, "quarter", where=where)
    assert not got.from_rollups
    # a filter on a column the rollups do not hold
    with store.read() as con:
        item = con.execute("SELECT min(item_id) FROM invoices").fetchone()[0]
    by_id = {"item_id": [item]}
    got = engine.compute(store, spend[:1], "quarter", filters=by_id)
    assert not got.from_rollups
    live = engine.compute(store, spend[:1], "quarter", filters=by_id, live=True)
    assert got.frame.equals(live.frame)
    # the supplier id is held (the rank tables are computed from it): read, as live gives it
    by_supplier = {"supplier_id": ["S0001"]}
    got = engine.compute(store, spend[:1], "quarter", filters=by_supplier)
    assert got.from_rollups == {spend[0].id}
    live = engine.compute(store, spend[:1], "quarter", filters=by_supplier, live=True)
    assert got.frame.equals(live.frame)


def test_a_changed_formula_is_computed_live_until_refreshed(store, tmp_path):
    changed = [k.model_copy() for k in DEFS if k.id == "total_spend"]
    formula = "sum(amount) filter (where category = 'Energy')"
    tree = guard_formula(formula, view_catalog(store.settings)["spend"])
    changed[0] = changed[0].model_copy(update={"formula": formula}).with_tree(FormulaTree(tree))
    others = [k for k in DEFS if k.source == "spend" and k.id != "total_spend"]
    got = engine.compute(store, [*changed, *others], "quarter")
    assert "total_spend" not in got.from_rollups
    assert {k.id for k in others} <= got.from_rollups
    live = engine.compute(store, [*changed, *others], "quarter", live=True)
    assert _same(got.frame, live.frame, ["kpi", "period"]) == []


@pytest.fixture
def own_store(demo_copy, tmp_path, monkeypatch) -> Store:
    """A store of the test's own, rollups built, that the test may write to."""
    monkeypatch.setenv(rollups.ENV, "on")
    store = Store(demo_copy(SCALE, tmp_path / "kpi.duckdb"))
    rollups.refresh(store)
    return store


def _total(store: Store, live: bool = False) -> engine.ComputeResult:
    spend = [k for k in DEFS if k.id == "total_spend"]
    return engine.compute(store, spend, "year", live=live)


def _add_invoice_line(con: duckdb.DuckDBPyConnection, amount: str) -> None:
    """A copy of the last invoice line with a new id and the amount given."""
    con.execute(
        "INSERT INTO invoices SELECT * REPLACE ('INV-TEST' AS invoice_id, "
        f"CAST({amount} AS DECIMAL(18,2)) AS amount) FROM invoices "
        "WHERE currency = 'EUR' ORDER BY invoice_date DESC, invoice_id LIMIT 1"
    )


def test_a_write_never_leaves_stale_rollups_read(own_store):
    before = _total(own_store)
    assert before.from_rollups == {"total_spend"}
    with rollups.paused(), own_store.write() as con:  # a write whose refresh did not run
        _add_invoice_line(con, "1234.56")
    stale = _total(own_store)
    assert not stale.from_rollups  # the stamp names the old store: computed live
    assert stale.frame.equals(_total(own_store, live=True).frame)
    assert stale.frame["value"].sum() == pytest.approx(before.frame["value"].sum() + 1234.56)


def test_every_write_refreshes_what_it_changed_only(own_store):
    with own_store.write() as con:  # the after-write hook refreshes
        _add_invoice_line(con, "99.99")
    got = _total(own_store)
    assert got.from_rollups == {"total_spend"}
    assert got.frame.equals(_total(own_store, live=True).frame)
    status = rollups.status(own_store)
    assert status.fresh
    # a write that touches nothing a view reads: every table kept, only the stamp renewed
    with own_store.write() as con:
        con.execute("DELETE FROM rejects WHERE false")
    report = rollups.refresh(own_store)
    assert report is not None and report.built == []
    assert _total(own_store).from_rollups == {"total_spend"}


def test_a_stock_change_rebuilds_the_tables_reading_stock_only(own_store):
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "UPDATE inventory SET on_hand_qty = on_hand_qty + 1 WHERE rowid = "
            "(SELECT min(rowid) FROM inventory)"
        )
    report = rollups.refresh(own_store)
    assert report is not None
    # the stock feeds inventory_position and working_capital_days (days of inventory), and
    # nothing else
    assert sorted(report.built) == [
        "r_inventory_position__snapshot_date__month",
        "r_inventory_position__snapshot_date__quarter",
        "r_inventory_position__snapshot_date__year",
        "r_working_capital_days__on_date__any",
    ]
    assert "r_spend__invoice_date__any" in report.kept
    inv = [k for k in DEFS if k.source == "inventory_position"]
    got = engine.compute(own_store, inv, "quarter")
    assert got.from_rollups == {k.id for k in inv}
    assert _same(got.frame, engine.compute(own_store, inv, "quarter", live=True).frame,
                 ["kpi", "period"]) == []  # fmt: skip


def test_other_settings_are_never_read_from_rollups_built_with_these(own_store):
    import dataclasses

    fiscal = dataclasses.replace(own_store.settings.fiscal, year_start_month=4)
    other = Store(own_store.path, dataclasses.replace(own_store.settings, fiscal=fiscal))
    got = engine.compute(other, DEFS, "quarter")
    assert not got.from_rollups


def test_off_means_live(own_store, monkeypatch):
    monkeypatch.setenv(rollups.ENV, "off")
    assert not _total(own_store).from_rollups


def test_a_load_of_recent_invoices_recomputes_their_months_only(own_store):
    """New lines in the last month and a line moved from one month to another: the views
    keyed on invoice or payment dates are recomputed for the months touched and those they
    reach (the other months are kept as they were), the others whole; every KPI at every
    grain still equals the live engine."""
    with own_store.read() as con:
        last = con.execute("SELECT max(invoice_date) FROM invoices").fetchone()[0]
        moved = con.execute(
            "SELECT invoice_id, invoice_line FROM invoices WHERE invoice_date < ? "
            "ORDER BY invoice_date DESC, invoice_id LIMIT 1",
            [last - timedelta(days=60)],
        ).fetchone()
        corrected = con.execute(
            "SELECT invoice_id, invoice_line, invoice_date FROM invoices "
            "WHERE invoice_date < ? AND currency = 'EUR' ORDER BY invoice_date DESC LIMIT 1",
            [last - timedelta(days=120)],
        ).fetchone()
    with rollups.paused(), own_store.write() as con:
        _add_invoice_line(con, "5000.00")
        # corrected in place, lineage unchanged (a small table is fingerprinted by value)
        con.execute(
            "UPDATE invoices SET amount = amount + 1 WHERE invoice_id = ? AND invoice_line = ?",
            list(corrected[:2]),
        )
        con.execute(
            "UPDATE invoices SET invoice_date = invoice_date - 7, load_id = load_id + 1000 "
            "WHERE invoice_id = ? AND invoice_line = ?",
            list(moved),
        )
    report = rollups.refresh(own_store)
    assert report is not None
    assert "r_spend__invoice_date__any" in report.since
    first = report.since["r_spend__invoice_date__any"]
    assert first == corrected[2].replace(day=1)
    # ranks are within the fiscal year: the year table is recomputed from the year's start
    assert report.since["r_spend__invoice_date__year"].month == 1
    # committed and accrued spend: the months the orders invoiced are due or received in
    # (whole when an order is no longer invoiced in a month that changed)
    assert "r_budget_vs_actual__month_start__any" in {*report.built, *report.months}
    assert "r_inventory_position__snapshot_date__month" in report.kept
    # the orders read the invoices for the last data day only, which did not move
    assert "r_po_lines__promised_date__any" in report.kept
    for grain in ("month", "quarter", "year", "range"):
        got = engine.compute(own_store, DEFS, grain)
        assert got.from_rollups == {k.id for k in DEFS}
        live = engine.compute(own_store, DEFS, grain, live=True)
        assert _same(got.frame, live.frame, ["kpi", "period"]) == [], grain
    for request in _combinations(own_store, 6, 7):
        _check(own_store, request)


@pytest.mark.parametrize("threshold", [0, 10**9])  # by lineage (a big table), by every value
def test_rows_reloaded_under_another_load_change_the_fingerprint(monkeypatch, threshold):
    """DuckDB combines a row's value hashes linearly: a XOR over an even number of rows
    whose load id changed would not change. The fingerprint must."""
    monkeypatch.setattr(rollups, "_LINEAGE_FINGERPRINT_ROWS", threshold)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE invoices AS SELECT 15 AS load_id, 'a.csv' AS source_file, "
        "NULL::VARCHAR AS source_sheet, i AS source_row, DATE '2026-01-01' + i::INTEGER AS d "
        "FROM range(1000) t(i)"
    )
    before = rollups.fingerprints(con, ["invoices"])
    months_before = rollups.month_prints(con, [("invoices", "d")])
    con.execute("UPDATE invoices SET load_id = 16")
    assert rollups.fingerprints(con, ["invoices"]) != before
    after = rollups.month_prints(con, [("invoices", "d")])
    assert set(after["invoices:d"]) == set(months_before["invoices:d"])
    assert all(
        after["invoices:d"][m] != months_before["invoices:d"][m] for m in after["invoices:d"]
    )
    # two equal rows do not cancel each other
    con.execute("INSERT INTO invoices SELECT * FROM invoices LIMIT 1")
    con.execute("INSERT INTO invoices SELECT * FROM invoices LIMIT 1")
    assert (
        rollups.fingerprints(con, ["invoices"])["invoices"].split(":")[1]
        != (before["invoices"].split(":")[1])
    )


@pytest.mark.parametrize("chart", sorted(CHART_MEASURES))
def test_the_overview_charts_read_the_rollups_and_equal_the_live_figures(store, chart):
    view, period, formulas = CHART_MEASURES[chart]
    lo, hi = _window(store)
    choices = _choices(store)
    with store.read() as con:
        index = rollups.current_index(con, store)
    mine = [f for f in rollups.chart_formulas(store.settings) if f.id.startswith(chart + ".")]
    for grain in ("month", "quarter"):
        for filters in (
            {},
            {"category": choices["category"][:2]},
            {"cost_centre": choices["cost_centre"][:1]},
        ):
            if any(f not in view_catalog(store.settings)[view] for f in filters):
                continue  # the page refuses such a filter (ScopeError) before asking
            served, rest = rollups.answer(index, view, period, mine, grain, [], filters, None, None)
            assert len(served) == 1 and not rest
            args = (store, view, period, formulas, grain, None, None, filters)
            got = engine.compute_measures(*args)
            live = engine.compute_measures(*args, live=True)
            assert got.columns == live.columns == ["period", *formulas]
            assert got.height == live.height
            assert got.height > 0 or filters
            for name in formulas:
                a, b = got[name].to_list(), live[name].to_list()
                assert all(
                    (x is None and y is None) or abs(x - y) <= 1e-9 * max(1.0, abs(y))
                    for x, y in zip(a, b, strict=True)
                ), (chart, name, grain, filters)


def test_the_sidebar_choices_come_from_the_rollups_and_equal_the_view(store, monkeypatch):
    from kpi.analyses.data_status import dimension_values

    for column in ("category", "cost_centre"):
        stored = dimension_values(store, "spend", column)
        with store.read() as con:
            assert rollups.stored_values(con, store, "spend", column) == stored
        monkeypatch.setenv(rollups.ENV, "off")
        assert dimension_values(store, "spend", column) == stored  # from the view
        monkeypatch.setenv(rollups.ENV, "on")


def test_invoices_that_move_the_last_data_day_rebuild_the_orders(own_store):
    """Supplier OTD counts the lines promised by the last data day: an invoice dated after
    it moves that day, so po_lines is recomputed, and equals the live figure."""
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "INSERT INTO invoices SELECT * REPLACE ('INV-LATER' AS invoice_id, "
            "invoice_date + 20 AS invoice_date, NULL AS paid_date) FROM invoices "
            "ORDER BY invoice_date DESC, invoice_id LIMIT 1"
        )
    report = rollups.refresh(own_store)
    assert report is not None and "r_po_lines__promised_date__any" in report.built
    po = [k for k in DEFS if k.source == "po_lines"]
    got = engine.compute(own_store, po, "month")
    assert got.from_rollups == {k.id for k in po}
    assert _same(got.frame, engine.compute(own_store, po, "month", live=True).frame,
                 ["kpi", "period"]) == []  # fmt: skip


def test_the_index_is_read_from_the_attached_rollups_database():
    # written out, not built (no SQL from strings): it must name the two constants
    from kpi.store.database import ROLLUPS_DATABASE

    assert f"SELECT * FROM {ROLLUPS_DATABASE}.{rollups._INDEX}" == rollups._READ_INDEX
