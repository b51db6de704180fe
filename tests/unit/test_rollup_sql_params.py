"""The rollups' statements take their months as bound parameters (views.Bounds): the text
depends on how many month ranges there are, not on their dates, so a refresh of months
never refreshed before runs the text built (and kept) for an earlier one, with other
values, and gets the rows a rebuild gives."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from kpi.core.settings import FiscalCalendar, Settings
from kpi.semantic import compiler, rollups
from kpi.semantic.definitions import load_definitions
from kpi.store import views
from kpi.store.database import Store
from tests.unit.test_rollups_months import _close, _window

DEFS = load_definitions(None)
JAN = ((date(2023, 1, 1), date(2023, 1, 31)),)
JUL = ((date(2024, 7, 1), date(2024, 7, 31)),)
TWO = ((date(2023, 1, 1), date(2023, 1, 31)), (date(2023, 3, 1), date(2023, 4, 30)))
_PLACEHOLDER = re.compile(r"\$([a-z_0-9]+)")


def _clear() -> None:
    compiler._view_ctes_sql.cache_clear()
    rollups._tables_read.cache_clear()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KPI_CACHE_DIR", str(tmp_path / "cache"))
    _clear()
    yield tmp_path / "cache"
    _clear()


def test_bound_values_by_hand():
    april = FiscalCalendar(year_start_month=4)
    names = [
        "lo_0", "hi_1", "last", "prior_lo_0", "prior_hi_1",
        "quarter_lo_1", "year_lo_0", "year_hi_1", "month_hi_0",
    ]  # fmt: skip
    leap = ((date(2024, 2, 1), date(2024, 2, 29)), (date(2024, 5, 1), date(2024, 6, 30)))
    assert views.bound_values(names, leap, april) == {
        "lo_0": date(2024, 2, 1),
        "hi_1": date(2024, 6, 30),
        "last": date(2024, 6, 30),
        "prior_lo_0": date(2023, 1, 31),  # a year before, a day more
        "prior_hi_1": date(2023, 7, 1),
        "quarter_lo_1": date(2024, 4, 1),  # April's fiscal quarter: April to June
        "year_lo_0": date(2023, 4, 1),  # February 2024: the fiscal year from April 2023
        "year_hi_1": date(2025, 3, 31),
        "month_hi_0": date(2024, 2, 29),
    }


def test_literal_bounds_write_the_days_in_as_before():
    """A live statement (literal Bounds) reads the very condition between_any writes."""
    bounds = views.Bounds(TWO, FiscalCalendar(), literal=True)
    column = "invoice_date"
    assert bounds.between(column) == views.between_any(column, TWO)
    whole = ((date(2023, 1, 1), date(2023, 3, 31)), (date(2023, 1, 1), date(2023, 6, 30)))
    assert bounds.between(column, "quarter") == views.between_any(column, whole)
    assert bounds.names == {}


def test_a_query_s_text_depends_on_the_number_of_ranges_not_their_dates(cache):
    settings = Settings()
    specs = rollups.plan(DEFS, settings)
    dated = 0
    for spec in specs:
        jan = rollups.build_query(spec, settings, JAN)
        jul = rollups.build_query(spec, settings, JUL)
        two = rollups.build_query(spec, settings, TWO)
        assert str(jan) == str(jul), spec.name
        assert str(two) != str(jan), spec.name
        for query, months in ((jan, JAN), (jul, JUL), (two, TWO)):
            for lo, hi in months:
                assert lo.isoformat() not in query and hi.isoformat() not in query
            # every parameter the text reads has its value, and no other is bound
            assert set(_PLACEHOLDER.findall(query)) == set(query.params), spec.name
        assert jan.params["lo_0"] == date(2023, 1, 1) and jul.params["hi_0"] == date(2024, 7, 31)
        assert two.params["hi_1"] == date(2023, 4, 30)
        dated += any(k.startswith(("prior_", "quarter_", "year_", "last")) for k in jan.params)
    assert dated  # the restated views' own days (a year before, whole periods) are bound too
    # read back from the files by a new process: the same text, this process's values
    before = {s.name: rollups.build_query(s, settings, JUL) for s in specs}
    _clear()
    for spec in specs:
        again = rollups.build_query(spec, settings, JUL)
        assert (str(again), again.params) == (str(before[spec.name]), before[spec.name].params)


@pytest.fixture
def store(demo_copy, tmp_path, monkeypatch, cache) -> Store:
    monkeypatch.setenv(rollups.ENV, "on")
    path = demo_copy(0.05, tmp_path / "store" / "kpi.duckdb")
    store = Store(path)
    rollups.refresh(store)
    return store


def _change(store: Store, month: date) -> None:
    """One line of `month` costs 10 more (written without a refresh: the test asks)."""
    with rollups.paused(), store.write() as con:
        con.execute(
            "UPDATE invoices SET amount = amount + 10 WHERE (invoice_id, invoice_line) = "
            "(SELECT (invoice_id, invoice_line) FROM invoices WHERE invoice_date >= ? "
            "AND invoice_date < ? ORDER BY ALL LIMIT 1)",
            [month, rollups._add_months(month, 1)],
        )


def test_refreshes_of_other_months_run_the_same_text_and_give_a_rebuild_s_rows(store, monkeypatch):
    lo, _ = _window(store)
    first = rollups._add_months(lo.replace(day=1), 3)
    second = rollups._add_months(first, 5)  # another quarter, not next to the first
    real = rollups.build_query
    run: list[dict[str, rollups.Query]] = []

    def kept(spec, settings, months=None, *args, **kwargs):
        query = real(spec, settings, months, *args, **kwargs)
        if months is not None:
            run[-1][spec.name] = query
        return query

    monkeypatch.setattr(rollups, "build_query", kept)
    built = []
    real_ctes = compiler.view_ctes

    def counted(view, settings, currency, grain, reads=None, *args, **kwargs):
        shape = None if reads is None else len(reads.ranges)
        built.append((view, grain, shape))
        return real_ctes(view, settings, currency, grain, reads, *args, **kwargs)

    reports = []
    for month in (first, second):
        run.append({})
        built.clear()
        _change(store, month)
        reports.append(rollups.refresh(store))
        monkeypatch.setattr(compiler, "view_ctes", counted)  # from the second refresh on
    spend = "r_spend__invoice_date__any"
    assert reports[0].months[spend] == ((first, rollups._add_months(first, 1) - timedelta(1)),)
    assert reports[1].months[spend] == ((second, rollups._add_months(second, 1) - timedelta(1)),)
    same = [n for n in run[1] if len(reports[1].months[n]) == len(reports[0].months.get(n, ()))]
    assert spend in same and len(same) >= 5
    for name in same:
        assert str(run[1][name]) == str(run[0][name]), name
        if reports[1].months[name] != reports[0].months[name]:  # not the same fiscal year
            assert run[1][name].params != run[0][name].params, name
        for day in (first, second):
            assert day.isoformat() not in run[1][name], name
    # nothing restated again (no sqlglot tree built) for a shape the first refresh built
    specs = {s.name: s for s in rollups.plan(DEFS, store.settings)}
    for name in same:
        months = reports[1].months[name]
        _, grain, reads, _ = rollups._build_select(specs[name], months)
        key = (specs[name].view, grain, None if reads is None else len(reads))
        assert key not in built, name
    # every table recomputed holds the rows a build from scratch gives
    with store.read() as con:
        for name in run[1]:
            full = real(specs[name], store.settings)
            rebuilt = sorted(con.sql(full, params=full.params).fetchall(), key=repr)
            held = sorted(con.table(f"rollups.{name}").fetchall(), key=repr)
            assert _close(held, rebuilt), name


def test_the_statement_cache_is_keyed_by_the_shape(cache):
    settings = Settings()
    compiler.view_ctes_sql("spend", settings, "quarter", JAN)
    compiler.view_ctes_sql("spend", settings, "quarter", JUL)
    compiler.view_ctes_sql("spend", settings, "quarter", TWO)
    files = [p for p in Path(cache).iterdir() if p.name.startswith("view-ctes-")]
    assert len(files) == 2  # one range, two ranges
