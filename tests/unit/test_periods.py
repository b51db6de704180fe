"""Fiscal periods: Python labels, SQL labels and ranges agree for every calendar."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from kpi.core import periods
from kpi.core.settings import FiscalCalendar
from kpi.semantic.period_sql import period_label

calendars = st.builds(FiscalCalendar, st.integers(1, 12), st.sampled_from(["end", "start"]))
dates = st.dates(date(2000, 1, 1), date(2040, 12, 31))


@pytest.mark.parametrize(
    "d,grain,start_month,label_year,expected",
    [
        (date(2026, 3, 31), "quarter", 1, "end", "FY2026-Q1"),
        (date(2026, 4, 1), "quarter", 4, "end", "FY2027-Q1"),
        (date(2026, 3, 31), "quarter", 4, "end", "FY2026-Q4"),
        (date(2026, 3, 31), "year", 4, "start", "FY2025"),
        (date(2026, 7, 1), "quarter", 7, "end", "FY2027-Q1"),
        (date(2026, 12, 15), "month", 4, "end", "2026-12"),
    ],
)
def test_labels(d, grain, start_month, label_year, expected):
    assert periods.label(d, grain, FiscalCalendar(start_month, label_year)) == expected


@given(d=dates, cal=calendars, grain=st.sampled_from(periods.GRAINS))
@settings(max_examples=300, deadline=None)
def test_a_date_lies_in_the_range_of_its_label(d, cal, grain):
    lab = periods.label(d, grain, cal)
    lo, hi = periods.period_range(lab, cal)
    assert lo <= d <= hi
    assert periods.label(lo, grain, cal) == lab == periods.label(hi, grain, cal)


@given(
    cal=calendars,
    grain=st.sampled_from(periods.GRAINS),
    ds=st.lists(dates, min_size=1, max_size=20),
)
@settings(max_examples=60, deadline=None)
def test_sql_labels_match_python_labels(cal, grain, ds):
    con = duckdb.connect()
    expr = period_label(exp.column("d"), grain, cal).sql("duckdb")
    con.execute("CREATE TABLE t (d DATE)")
    con.executemany("INSERT INTO t VALUES (?)", [(d,) for d in ds])
    got = [r[0] for r in con.execute(f"SELECT {expr} FROM t").fetchall()]
    assert got == [periods.label(d, grain, cal) for d in ds]


def test_previous_and_between():
    cal = FiscalCalendar(1, "end")
    assert periods.previous("FY2026-Q1", cal) == "FY2025-Q4"
    assert periods.previous("2026-01", cal) == "2025-12"
    assert periods.previous("FY2026", cal) == "FY2025"
    assert periods.periods_between(date(2025, 11, 5), date(2026, 4, 2), "quarter", cal) == [
        "FY2025-Q4",
        "FY2026-Q1",
        "FY2026-Q2",
    ]


@pytest.mark.parametrize("text", ["2026-13", "FY2026-Q5", "31/02/2026", "2026-02-31", "", "Q1"])
def test_bad_period_text_is_refused(text):
    with pytest.raises(periods.PeriodError):
        periods.period_range(text, FiscalCalendar())
