"""The rollups' refresh recomputes the months a change reaches, and only those
(kpi.store.view_reads.INCREMENTAL): a month's rows computed from what that month reads
(range_bodies) equal the rows of the whole computation, and the figures after each refresh
equal the live engine's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kpi.core import periods
from kpi.semantic import engine, rollups
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.store.schema import TABLES
from tests.unit.test_rollups import _same

SCALE = 0.05
DEFS = load_definitions(None)


@pytest.fixture
def rollups_on(monkeypatch):
    monkeypatch.setenv(rollups.ENV, "on")


pytestmark = pytest.mark.usefixtures("rollups_on")


@pytest.fixture(scope="module")
def built(demo_copy, tmp_path_factory) -> Path:
    path = demo_copy(SCALE, tmp_path_factory.mktemp("months") / "kpi.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(rollups.ENV, "on")
        rollups.refresh(Store(path))
    return path


@pytest.fixture
def own_store(built, tmp_path, monkeypatch) -> Store:
    """A copy of the built store (rollups and stamp with it) that the test may write to."""
    import shutil

    target = tmp_path / "kpi.duckdb"
    for name in ("kpi.duckdb", "kpi.rollups.duckdb"):
        shutil.copy(built.with_name(name), target.with_name(name))
    store = Store(target)
    monkeypatch.setenv(rollups.ENV, "on")
    rollups.refresh(store)  # the copies are new files: stamp them
    return store


def _rows(
    con: duckdb.DuckDBPyConnection, query: rollups.Query, months: rollups.Ranges
) -> list[tuple]:
    rows = con.sql(query, params=query.params).fetchall()
    keep = [r for r in rows if any(lo <= r[0] <= hi for lo, hi in months)]
    return sorted(keep, key=repr)


def _close(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-9 * max(1.0, abs(v)):
                    return False
            elif u != v:
                return False
    return True


def _window(store: Store) -> tuple[date, date]:
    with store.read() as con:
        return con.execute("SELECT min(invoice_date), max(invoice_date) FROM invoices").fetchone()


def test_the_rows_of_some_months_equal_the_whole_computations(built):
    """Every rollup table: the rows of a set of months computed from what they read equal
    those months' rows of the whole computation."""
    store = Store(built)
    settings = store.settings
    lo, hi = _window(store)
    first = lo.replace(day=1)
    late = hi.replace(day=1)
    middle = rollups._add_months(first, 14)
    sets = [
        rollups._runs({first}),
        rollups._runs({middle, rollups._add_months(middle, 1), rollups._add_months(middle, 12)}),
        rollups._runs({late}),
    ]
    specs = rollups.plan(DEFS, settings)
    with store.read() as con:
        for spec in specs:
            full = rollups.build_query(spec, settings)
            for months in sets:
                if spec.body_grain in ("quarter", "year"):
                    whole = {
                        x
                        for a, _ in months
                        for x in rollups._months_between(
                            *periods.period_range(
                                periods.label(a, spec.body_grain, settings.fiscal),
                                settings.fiscal,
                            )
                        )
                    }
                    months = rollups._runs(whole)
                part = rollups.build_query(spec, settings, months)
                assert _close(_rows(con, part, months), _rows(con, full, months)), (
                    spec.name,
                    months,
                )


def _parity(store: Store) -> None:
    for grain in ("month", "quarter", "year", "range"):
        got = engine.compute(store, DEFS, grain)
        assert got.from_rollups == {k.id for k in DEFS}
        live = engine.compute(store, DEFS, grain, live=True)
        assert _same(got.frame, live.frame, ["kpi", "period"]) == [], grain


def _months(report: rollups.RefreshReport, name: str) -> set[date]:
    return {m for lo, hi in report.months[name] for m in rollups._months_between(lo, hi)}


def test_a_change_in_an_early_and_a_late_month_recomputes_those_months(own_store):
    lo, hi = _window(own_store)
    early_day = lo + timedelta(days=40)
    with own_store.read() as con:
        early = con.execute(
            "SELECT invoice_id, invoice_line, invoice_date FROM invoices "
            "WHERE invoice_date >= ? AND paid_date IS NOT NULL ORDER BY invoice_date LIMIT 1",
            [early_day],
        ).fetchone()
        late = con.execute(
            "SELECT invoice_id, invoice_line, invoice_date FROM invoices WHERE invoice_date < ? "
            "AND paid_date IS NOT NULL ORDER BY invoice_date DESC LIMIT 1",
            [hi.replace(day=1)],
        ).fetchone()
    with rollups.paused(), own_store.write() as con:
        for inv_id, line, _ in (early, late):
            con.execute(
                "UPDATE invoices SET amount = amount + 10, discount_taken = 0 "
                "WHERE invoice_id = ? AND invoice_line = ?",
                [inv_id, line],
            )
    report = rollups.refresh(own_store)
    assert report is not None
    e, la = early[2].replace(day=1), late[2].replace(day=1)
    assert _months(report, "r_spend__invoice_date__any") == {e, la}
    assert _months(report, "r_spend__invoice_date__month") == {e, la}
    assert _months(report, "r_savings_lines__invoice_date__any") == {e, la}
    # spend_yoy: this year's row and the row a year on
    yoy = _months(report, "r_spend_yoy__period_date__any")
    assert {e, la, rollups._add_months(e, 12)} <= yoy
    assert yoy <= {e, la, rollups._add_months(e, 12), rollups._add_months(la, 12)}
    # ranks within the quarter and the fiscal year: the whole periods holding the months
    cal = own_store.settings.fiscal
    for grain in ("quarter", "year"):
        want: set[date] = set()
        for m in (e, la):
            want |= rollups._months_between(
                *periods.period_range(periods.label(m, grain, cal), cal)
            )
        assert _months(report, f"r_spend__invoice_date__{grain}") == want
    # invoice_match: those months and the months of the later lines of the same orders;
    # budget_vs_actual: those and the months the orders are due or received in
    assert {e, la} <= _months(report, "r_invoice_match__invoice_date__any")
    assert {e, la} <= _months(report, "r_budget_vs_actual__month_start__any")
    assert "r_budget_vs_actual__month_start__any" not in report.built
    assert "r_inventory_position__snapshot_date__month" in report.kept
    _parity(own_store)


def test_new_lines_in_the_last_month_recompute_that_month(own_store):
    _, hi = _window(own_store)
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "INSERT INTO invoices SELECT * REPLACE ('NEW-' || invoice_id AS invoice_id, "
            "load_id + 1000 AS load_id) FROM invoices WHERE invoice_date >= ?",
            [hi.replace(day=1)],
        )
    report = rollups.refresh(own_store)
    assert report is not None
    last = hi.replace(day=1)
    assert _months(report, "r_spend__invoice_date__any") == {last}
    assert _months(report, "r_spend_yoy__period_date__any") == {last}
    assert _months(report, "r_invoice_match__invoice_date__any") == {last}
    _parity(own_store)


def test_a_new_month_after_a_gap_recomputes_the_months_between(own_store):
    """spend_yoy's prior-year rows run to the last day invoiced, savings' expected savings
    over the months invoiced: when the last month moves on, the months between move too."""
    _, hi = _window(own_store)
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "INSERT INTO invoices SELECT * REPLACE ('GAP-' || invoice_id AS invoice_id, "
            "invoice_date + 95 AS invoice_date, NULL AS paid_date) FROM invoices "
            "WHERE invoice_date = ?",
            [hi],
        )
    report = rollups.refresh(own_store)
    assert report is not None
    months = _months(report, "r_spend_yoy__period_date__any")
    assert rollups._months_between(hi, hi + timedelta(days=95)) <= months
    moved = (hi + timedelta(days=95)).replace(day=1)
    assert _months(report, "r_spend__invoice_date__any") == {moved}
    _parity(own_store)


def test_one_scan_gives_the_fingerprints_and_the_month_prints(built):
    store = Store(built)
    with store.read() as con:
        whole, months, tops = rollups.prints(
            con,
            ["invoices", "suppliers"],
            [("invoices", "invoice_date"), ("invoices", "paid_date")],
            [("invoices", "invoice_date")],
        )
        assert whole == rollups.fingerprints(con, ["invoices", "suppliers"])
        assert months == rollups.month_prints(
            con, [("invoices", "invoice_date"), ("invoices", "paid_date")]
        )
        assert tops["invoices:invoice_date"] == _window(store)[1]
        assert "None" in months["invoices:paid_date"]  # the unpaid lines


# ---- a load's difference applied (kpi.store.view_reads.DELTA) ------------------------------
_APPLIED = ("r_spend__invoice_date__any", "r_payments__paid_date__any")


def _load_lines(
    store: Store, tmp_path: Path, lines: pl.DataFrame, monkeypatch
) -> rollups.RefreshReport:
    """Load these invoice lines as a person would (a CSV through load_files, the rollups
    refreshed by the after-write hook) and return the refresh's report."""
    from kpi.ingest.pipelines import load_files

    reports: list[rollups.RefreshReport] = []
    real = rollups.refresh

    def kept(store: Store, *args, **kwargs):
        report = real(store, *args, **kwargs)
        reports.append(report)
        return report

    monkeypatch.setattr(rollups, "refresh", kept)
    csv = tmp_path / f"lines-{len(list(tmp_path.glob('lines-*')))}.csv"
    lines.write_csv(csv, date_format="%Y-%m-%d")
    result = load_files(store, "invoices", [csv])
    assert result.files[0].rows_loaded == lines.height
    (report,) = reports
    return report


def _lines(store: Store, where: str, params: list, limit: int) -> pl.DataFrame:
    cols = ", ".join(TABLES["invoices"].column_names)
    with store.read_tables() as con:
        return con.sql(
            f"SELECT {cols} FROM invoices WHERE {where} ORDER BY invoice_id, invoice_line "
            f"LIMIT {limit}",
            params=params,
        ).pl()


def _month_lines(
    store: Store, offset: int, column: str, limit: int, also: str = "", pick=None
) -> tuple[date, pl.DataFrame]:
    """The data's `offset`-th month and up to `limit` invoice lines dated in it by `column`
    (and matching `also`, a condition of the test's own), picked by `pick` (_lines)."""
    lo, _ = _window(store)
    month = rollups._add_months(lo.replace(day=1), offset)
    where = f"{column} >= ? AND {column} < ?" + (f" AND {also}" if also else "")
    lines = (pick or _lines)(store, where, [month, rollups._add_months(month, 1)], limit)
    return month, lines


def _month_spend(store: Store, month: date) -> float:
    """The month's total spend as the rollups answer it."""
    kpi = [k for k in DEFS if k.id == "total_spend"]
    got = engine.compute(store, kpi, "month")
    assert got.from_rollups == {"total_spend"}
    frame = got.frame.filter(pl.col("period") == periods.label(month, "month", None))
    return frame.get_column("value").sum()


def _line_spend(store: Store, ids: list[str], month: date) -> Decimal:
    """The spend of these invoices' lines in the month, from the view's lines themselves."""
    with store.read() as con:
        return con.execute(
            "SELECT coalesce(sum(amount), 0) FROM spend WHERE list_contains(?, invoice_id) "
            "AND date_trunc('month', invoice_date) = ?",
            [ids, month],
        ).fetchone()[0]


def _as_built(store: Store, names: Sequence[str]) -> None:
    """Each table given a difference holds the rows a build from scratch gives, row for row
    (no group left empty, a sum of no value NULL, not zero)."""
    specs = {s.name: s for s in rollups.plan(DEFS, store.settings)}
    with store.read() as con:
        for name in names:
            query = rollups.build_query(specs[name], store.settings)
            built = sorted(con.sql(query, params=query.params).fetchall(), key=repr)
            held = sorted(con.sql(f"SELECT * FROM rollups.{name}").fetchall(), key=repr)
            assert _close(held, built), name


def test_an_upsert_that_changes_values_and_moves_lines_applies_the_difference(
    own_store, tmp_path, monkeypatch
):
    """Lines reloaded with a new amount, moved to another month, supplier and cost centre:
    the spend and paid-date payments tables take the difference (no month recomputed),
    the as-of payments table too while the last data day stays; the figures equal live."""
    lo, hi = _window(own_store)
    month, lines = _month_lines(own_store, 6, "invoice_date", 40, "paid_date IS NOT NULL")
    with own_store.read_tables() as con:
        other_supplier = con.execute("SELECT max(supplier_id) FROM suppliers").fetchone()[0]
        other_cc = con.execute("SELECT max(cost_centre) FROM cost_centres").fetchone()[0]
    ids = lines.get_column("invoice_id").unique().to_list()
    before, lines_before = _month_spend(own_store, month), _line_spend(own_store, ids, month)
    changed = lines.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(pl.col("amount") + Decimal("1.23"))
        .otherwise(pl.col("amount"))
        .alias("amount"),
        pl.when(pl.int_range(pl.len()).is_between(10, 14))
        .then(pl.col("invoice_date") + pl.duration(days=62))
        .otherwise(pl.col("invoice_date"))
        .alias("invoice_date"),
        pl.when(pl.int_range(pl.len()).is_between(15, 19))
        .then(pl.lit(other_supplier))
        .otherwise(pl.col("supplier_id"))
        .alias("supplier_id"),
        pl.when(pl.int_range(pl.len()).is_between(20, 24))
        .then(pl.lit(other_cc))
        .otherwise(pl.col("cost_centre"))
        .alias("cost_centre"),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    for name in _APPLIED:
        assert name in report.applied and name not in report.months, name
    assert "r_payments__as_of_date__any" in report.applied
    # by hand: the month's total moved by exactly what its lines of these invoices moved
    lines_after = _line_spend(own_store, ids, month)
    assert lines_after != lines_before
    after = _month_spend(own_store, month)
    assert round(after - before, 2) == float(lines_after - lines_before)
    _as_built(own_store, report.applied)
    _parity(own_store)


def test_new_lines_in_a_new_month_apply_where_the_last_day_stays(own_store, tmp_path, monkeypatch):
    """New invoices after the last day: spend takes the difference; the last data day moves,
    so the payments tables that read it recompute (and every figure equals live)."""
    _, hi = _window(own_store)
    lines = _lines(own_store, "invoice_date >= ?", [hi.replace(day=1)], 30).with_columns(
        pl.format("NEWM-{}", pl.col("invoice_id")).alias("invoice_id"),
        (pl.col("invoice_date") + pl.duration(days=40)).alias("invoice_date"),
        pl.lit(None, pl.Date).alias("paid_date"),
    )
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert "r_spend__invoice_date__any" in report.applied
    assert "r_payments__as_of_date__any" not in report.applied  # the as-of day moved
    assert "r_spend_yoy__period_date__any" not in report.applied  # the last invoice day too
    assert "r_invoice_match__invoice_date__any" in report.applied
    _as_built(own_store, report.applied)
    _parity(own_store)


def test_a_reload_of_the_same_lines_applies_a_zero_difference(own_store, tmp_path, monkeypatch):
    lo, _ = _window(own_store)
    lines = _lines(own_store, "invoice_date < ?", [rollups._add_months(lo.replace(day=1), 2)], 50)
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert set(_APPLIED) <= set(report.applied)
    assert "r_payments__as_of_date__any" in report.applied
    _as_built(own_store, report.applied)
    _parity(own_store)


def test_a_write_that_declares_nothing_recomputes_the_months(own_store):
    """An UPDATE is no load: nothing says what it changed, so no difference is applied."""
    lo, _ = _window(own_store)
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "UPDATE invoices SET amount = amount + 1 WHERE invoice_date = "
            "(SELECT min(invoice_date) FROM invoices WHERE invoice_date > ?)",
            [lo],
        )
    report = rollups.refresh(own_store)
    assert report is not None and report.applied == []
    _parity(own_store)


def test_a_load_after_a_write_the_rollups_missed_recomputes(own_store, tmp_path, monkeypatch):
    """The difference is of the store the load replaced: when the rollups do not match that
    store (a write landed without a refresh), it is not applied, the months are recomputed."""
    lo, _ = _window(own_store)
    with rollups.paused(), own_store.write() as con:
        con.execute(
            "UPDATE invoices SET amount = amount + 5 WHERE invoice_date = "
            "(SELECT min(invoice_date) FROM invoices WHERE invoice_date > ?)",
            [lo],
        )
    lines = _lines(own_store, "invoice_date < ?", [rollups._add_months(lo.replace(day=1), 2)], 20)
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert report.applied == []
    _parity(own_store)


def _load_in_background(store, tmp_path, monkeypatch, before_thread=None):
    """A load as the app makes it (the refresh in a thread once the write returned): the
    refresh's report, after the thread ended. `before_thread(written)` runs first."""
    monkeypatch.setattr(rollups.AFTER_WRITE, "background", True)
    threads: list = []
    reports: list = []
    real_thread, real_refresh = rollups.refresh_in_background, rollups.refresh

    def kept(store, written=None):
        if before_thread is not None:
            before_thread(written)
        threads.append(real_thread(store, written))
        return threads[-1]

    def reported(*args, **kwargs):
        reports.append(real_refresh(*args, **kwargs))
        return reports[-1]

    monkeypatch.setattr(rollups, "refresh_in_background", kept)
    monkeypatch.setattr(rollups, "refresh", reported)
    from kpi.ingest.pipelines import load_files

    lo, _ = _window(store)
    csv = tmp_path / "bg.csv"
    _lines(store, "invoice_date < ?", [rollups._add_months(lo.replace(day=1), 2)], 20).write_csv(
        csv, date_format="%Y-%m-%d"
    )
    load_files(store, "invoices", [csv])
    (thread,) = threads
    thread.join()
    monkeypatch.setattr(rollups.AFTER_WRITE, "background", False)
    (report,) = reports
    return report


def test_a_refresh_in_the_background_applies_the_difference(own_store, tmp_path, monkeypatch):
    """The app refreshes in a thread once the write returned: the replaced store is kept
    under a name of the thread's own, so the load's difference is applied there too, and
    that name is gone when the thread ends."""
    report = _load_in_background(own_store, tmp_path, monkeypatch)
    assert report.applied, "the background refresh took the difference"
    assert not list(own_store.path.parent.glob(f"{own_store.path.name}.kept-*"))
    _parity(own_store)


def test_a_background_refresh_whose_old_store_is_gone_recomputes(own_store, tmp_path, monkeypatch):
    """When the kept name is gone before the thread reads it (a later write cleared it),
    the refresh recomputes the months instead, and still matches live."""

    def gone(written):
        assert written is not None and written.replaced is not None
        written.replaced.unlink()

    report = _load_in_background(own_store, tmp_path, monkeypatch, before_thread=gone)
    assert report.applied == [] and report.months
    _parity(own_store)


_RANKS = tuple(f"r_spend__invoice_date__{g}" for g in ("month", "quarter", "year"))
_MATCH = "r_invoice_match__invoice_date__any"
_YOY = "r_spend_yoy__period_date__any"


def _match_lines(store: Store, where: str, params: list, limit: int) -> pl.DataFrame:
    """Invoice lines whose invoice_match row is matchable (an order, an item, an amount)."""
    return _lines(
        store,
        "po_id IS NOT NULL AND item_id IS NOT NULL AND amount > 0 AND invoice_id IN "
        f"(SELECT invoice_id FROM invoices WHERE {where})",
        params,
        limit,
    )


def _some(first: int, last: int, column: str, value: pl.Expr) -> pl.Expr:
    """`column` set to `value` on the rows first..last (by position), kept elsewhere."""
    rows = pl.int_range(pl.len()).is_between(first, last)
    return pl.when(rows).then(value).otherwise(pl.col(column)).alias(column)


def test_an_upsert_across_months_categories_and_orders_narrows_the_work(
    own_store, tmp_path, monkeypatch
):
    """Lines reloaded into another category, some with another amount, month, order or quantity:
    invoice_match takes the difference over the orders named before and after, the rank
    tables recompute the categories named before and after only; each table equals a build
    from scratch row for row (the engine's figures are those tables' sums: test_rollups)."""
    month, lines = _month_lines(own_store, 7, "invoice_date", 40, pick=_match_lines)
    with own_store.read() as con:
        ids = lines.get_column("invoice_id").unique().to_list()
        was = {
            c
            for (c,) in con.execute(
                "SELECT DISTINCT category FROM spend WHERE list_contains(?, invoice_id)", [ids]
            ).fetchall()
        }
        other_category = con.execute(
            "SELECT max(category) FROM items WHERE NOT list_contains(?, category)", [list(was)]
        ).fetchone()[0]
        other_po = con.execute("SELECT max(po_id) FROM purchase_orders").fetchone()[0]
    changed = lines.with_columns(
        _some(0, 7, "amount", pl.col("amount") + Decimal("2.50")),
        _some(8, 13, "invoice_date", pl.col("invoice_date") + pl.duration(days=95)),
        pl.lit(other_category).alias("category"),  # every line: its category left whole
        _some(21, 26, "po_id", pl.lit(other_po)),
        _some(27, 32, "quantity", pl.col("quantity") * 50),
    )
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    assert _MATCH in report.applied and _MATCH not in report.months
    assert _YOY in report.applied  # the first and last invoice days stay
    for name in _RANKS:
        assert name in report.months and name in report.categories, name
        assert set(report.categories[name]) == {*was, other_category}
    _as_built(own_store, [_MATCH, _YOY, *_RANKS])


def test_new_lines_on_known_orders_apply_the_orders_difference(own_store, tmp_path, monkeypatch):
    """New invoices in the last month naming orders invoiced before: each line's quantity
    invoiced to date reads the orders' earlier lines; the table equals a build from scratch."""
    _, hi = _window(own_store)
    lines = _match_lines(own_store, "invoice_date >= ?", [hi.replace(day=1)], 30).with_columns(
        pl.format("NEWO-{}", pl.col("invoice_id")).alias("invoice_id"),
        (pl.col("quantity") * 3).alias("quantity"),
    )
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert _MATCH in report.applied
    for name in _RANKS:
        assert name in report.categories, name
    _as_built(own_store, [_MATCH, *_RANKS])


def _exceptions(store: Store) -> Decimal:
    """The amount of invoice_match exceptions as the rollup table holds it."""
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == _MATCH)
    (column,) = [m.column for m in spec.measures]
    with store.read() as con:
        return con.execute(f"SELECT coalesce(sum({column}), 0) FROM rollups.{_MATCH}").fetchone()[0]


# A matchable line, not an exception, the only line of its order's item.
_ALONE = """
SELECT m.invoice_id, m.invoice_line, m.amount FROM invoice_match m
WHERE m.po_unit_price IS NOT NULL AND m.amount > 0 AND NOT m.match_exception
  AND (SELECT count(*) FROM invoices j WHERE j.po_id = m.po_id AND j.item_id = m.item_id) = 1
ORDER BY m.invoice_id, m.invoice_line LIMIT 1
"""


def test_a_quantity_past_what_was_received_is_an_exception_by_hand(
    own_store, tmp_path, monkeypatch
):
    """By hand: a new invoice on an order's item, dated the day before its one line and with
    a quantity far past anything received, is an exception, and so becomes that line (its
    quantity invoiced to date includes the new one, though its invoice was not loaded): the
    exceptions grow by both lines' amounts."""
    with own_store.read() as con:
        invoice, line, amount = con.execute(_ALONE).fetchone()
    before = _exceptions(own_store)
    new = _lines(own_store, "invoice_id = ? AND invoice_line = ?", [invoice, line], 1)
    new = new.with_columns(
        pl.lit("NEWQ-1").alias("invoice_id"),
        (pl.col("invoice_date") - pl.duration(days=1)).alias("invoice_date"),
        pl.lit(10_000_000).cast(new.schema["quantity"]).alias("quantity"),
    )
    report = _load_lines(own_store, tmp_path, new, monkeypatch)
    assert _MATCH in report.applied
    with own_store.read() as con:
        (new_amount,) = con.execute(
            "SELECT amount FROM invoice_match WHERE invoice_id = 'NEWQ-1'"
        ).fetchone()
    assert _exceptions(own_store) - before == amount + new_amount
    _as_built(own_store, [_MATCH])


# ---- working_capital_days: the paid lines' half takes the difference ------------------------
_WCD = "r_working_capital_days__on_date__any"


def _held_and_built(store: Store, name: str) -> tuple[list[tuple], list[tuple]]:
    """The table's rows as held and as a build from scratch gives them, both sorted."""
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == name)
    with store.read() as con:
        query = rollups.build_query(spec, store.settings)
        built = con.sql(query, params=query.params).fetchall()
        cols = ", ".join([rollups.MONTH, *spec.dims, *[m.column for m in spec.measures]])
        hidden = ", ".join(m.column for m in rollups._hidden(spec))
        held = con.sql(f"SELECT {cols}, {hidden} FROM rollups.{name}").fetchall()
    return sorted(held, key=repr), sorted(built, key=repr)


def _floats(store: Store, name: str) -> dict[tuple, list[str]]:
    """Per group, the table's floating-point sums as held, bit for bit (their hex)."""
    held, _ = _held_and_built(store, name)
    return {(r[0], r[1]): [v.hex() for v in r if isinstance(v, float)] for r in held}


def _exactly_as_built(store: Store, name: str, floats_before: dict[tuple, list[str]]) -> None:
    """Row for row: every decimal sum, `_n` and value count exactly a build's; the DOUBLE
    sum (fed by the stock rows only) bit for bit what it was before the load (the load left
    it as it was) and a build's up to the order a float sum adds in: two builds from
    scratch of one store may differ in the last bits (parallel sums), never by a value."""
    held, built = _held_and_built(store, name)
    assert len(held) == len(built)
    for h, b in zip(held, built, strict=True):
        assert [v for v in h if not isinstance(v, float)] == [
            v for v in b if not isinstance(v, float)
        ], (h, b)
        assert _close([h], [b]), (h, b)
    after = _floats(store, name)
    for group, bits in after.items():  # a new group has no stock row: its float sum NULL
        assert bits == floats_before.get(group, []), group
    # a group with stock rows is never removed
    assert {g for g, bits in floats_before.items() if bits} <= set(after)


def _paid_of(store: Store, month: date) -> Decimal:
    """The paid amount of the month's paid lines (working_capital_days by paid date) as the
    rollup table holds it."""
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == _WCD)
    (column,) = [m.column for m in spec.measures if m.build.sql() == "SUM(paid_amount)"]
    with store.read() as con:
        return con.execute(
            f"SELECT coalesce(sum({column}), 0) FROM rollups.{_WCD} WHERE month = ?", [month]
        ).fetchone()[0]


def _stock_only(store: Store) -> int:
    """Groups of the table with stock rows and no paid line (a difference must keep them)."""
    spec = next(s for s in rollups.plan(DEFS, store.settings) if s.name == _WCD)
    (paid,) = [m.column for m in spec.measures if m.build.sql() == "SUM(paid_amount)"]
    with store.read() as con:
        return con.execute(
            f"SELECT count(*) FROM rollups.{_WCD} WHERE {paid}_c = 0 AND _n > 0"
        ).fetchone()[0]


def test_working_capital_days_takes_an_upserts_difference_exactly(own_store, tmp_path, monkeypatch):
    """Paid lines reloaded with new amounts, paid dates (into another month) and categories:
    the table takes the difference (no month recomputed); it equals a build from scratch
    row for row, its DOUBLE sum (fed by the stock rows only) bit for bit, the stock-only
    groups kept; by hand, the month's paid amount moved by what its lines moved."""
    month, lines = _month_lines(own_store, 6, "paid_date", 40, "amount > 0")
    with own_store.read() as con:
        other_category = con.execute("SELECT max(category) FROM items").fetchone()[0]
    stock_only = _stock_only(own_store)
    assert stock_only > 0
    before = _paid_of(own_store, month)
    floats = _floats(own_store, _WCD)
    changed = lines.with_columns(
        _some(0, 9, "amount", pl.col("amount") + Decimal("3.17")),
        _some(10, 15, "paid_date", pl.col("paid_date") + pl.duration(days=45)),
        _some(16, 25, "category", pl.lit(other_category)),
    )
    moved = lines.slice(10, 6).get_column("amount").sum()
    report = _load_lines(own_store, tmp_path, changed, monkeypatch)
    assert _WCD in report.applied and _WCD not in report.months
    # by hand: ten lines 3.17 more, six lines paid 45 days later (out of the month)
    assert _paid_of(own_store, month) - before == Decimal("31.70") - moved
    assert _stock_only(own_store) == stock_only
    _exactly_as_built(own_store, _WCD, floats)


def test_working_capital_days_takes_new_lines_difference_exactly(own_store, tmp_path, monkeypatch):
    """New paid invoices (copies of a month's paid lines, five of them paid three days
    after their invoice date, so in other months): the table takes the difference and
    equals a build from scratch (its DOUBLE sum bit for bit what it was)."""
    lo, hi = _window(own_store)
    month, lines = _month_lines(own_store, 9, "paid_date", 30)
    lines = lines.with_columns(
        pl.format("NEWW-{}", pl.col("invoice_id")).alias("invoice_id"),
        _some(0, 4, "paid_date", pl.col("invoice_date") + pl.duration(days=3)),
    )
    floats = _floats(own_store, _WCD)
    report = _load_lines(own_store, tmp_path, lines, monkeypatch)
    assert _WCD in report.applied and _WCD not in report.months
    _exactly_as_built(own_store, _WCD, floats)
