"""Formulas split into stored measures (kpi.semantic.measures): the combined formula over
per-group measures gives the formula's own value over all the rows, worked by hand."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from kpi.semantic.definitions import load_definitions
from kpi.semantic.measures import split
from kpi.store.template import render

ROWS = """
CREATE TABLE t AS SELECT * FROM (VALUES
  (DATE '2026-01-05', 'a', 100.00::DECIMAL(18,2), true,  3, 'x'),
  (DATE '2026-01-20', 'b',  50.00::DECIMAL(18,2), false, NULL, 'y'),
  (DATE '2026-02-02', 'a',  25.50::DECIMAL(18,2), true,  5, 'x'),
  (DATE '2026-03-31', 'b', -10.25::DECIMAL(18,2), false, 1, 'x')
) v(day, grp, amount, preferred, days, tag)
"""


def _one(con: duckdb.DuckDBPyConnection, formula: str) -> object:
    return con.execute(f"SELECT {formula} FROM t").fetchone()[0]


def _via_measures(con: duckdb.DuckDBPyConnection, formula: str) -> object:
    """The formula's stored measures per month and group, then combined over those rows."""
    parts = split(sqlglot.parse_one(formula, read="duckdb"))
    assert parts.rollable, parts.why
    cols = ", ".join(f"{m.sql} AS {m.column}" for m in parts.measures)
    con.execute(
        f"CREATE OR REPLACE TABLE r AS SELECT date_trunc('month', day) AS month, grp, {cols} "
        "FROM t GROUP BY ALL"
    )
    return con.execute(f"SELECT {render(parts.combine)} FROM r").fetchone()[0]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute(ROWS)
    yield c
    c.close()


@pytest.mark.parametrize(
    ("formula", "by_hand"),
    [
        ("sum(amount)", 165.25),  # 100 + 50 + 25.50 - 10.25
        # preferred 125.50 of 165.25
        ("sum(amount) filter (where preferred) / nullif(sum(amount), 0)", 125.50 / 165.25),
        ("count(*) filter (where preferred)", 2),
        ("count(days)", 3),  # one row has no days
        ("avg(days)", 3.0),  # (3 + 5 + 1) / 3, not / 4
        ("avg(days) filter (where tag = 'x')", 3.0),
        ("min(amount) + max(amount)", -10.25 + 100.00),
        (
            "sum(amount * days) / nullif(sum(amount) filter (where days is not null), 0)",
            (300 + 127.5 - 10.25) / 115.25,
        ),  # fmt: skip
        ("count_if(amount > 30)", 2),
        ("coalesce(sum(amount) filter (where tag = 'z'), 0)", 0),
    ],
)
def test_measures_combine_to_the_formula(con, formula, by_hand):
    direct = _one(con, formula)
    assert float(direct) == pytest.approx(by_hand, rel=1e-12)
    assert float(_via_measures(con, formula)) == pytest.approx(by_hand, rel=1e-12)


def test_money_sums_stay_exact_decimals(con):
    assert str(_via_measures(con, "sum(amount)")) == "165.25"


@pytest.mark.parametrize(
    ("formula", "said"),
    [
        ("count(distinct tag)", "count(distinct ...) cannot be pre-aggregated"),
        ("median(amount)", "median(...) cannot be pre-aggregated"),
        ("quantile_cont(amount, 0.9)", "cannot be pre-aggregated"),
        ("stddev(amount)", "cannot be pre-aggregated"),
        ("sum(amount) / count(distinct grp)", "count(distinct ...)"),
    ],
)
def test_what_cannot_be_stored_says_why(formula, said):
    parts = split(sqlglot.parse_one(formula, read="duckdb"))
    assert not parts.rollable
    assert said in (parts.why or "")


def test_the_same_aggregate_is_one_column_in_every_kpi():
    a = split(sqlglot.parse_one("sum(amount) / nullif(sum(budget), 0)", read="duckdb"))
    b = split(sqlglot.parse_one("sum(amount)", read="duckdb"))
    assert b.measures[0].column in {m.column for m in a.measures}


def test_every_shipped_kpi_is_stored():
    """The shipped definitions hold sums, filtered sums, counts and one average only."""
    for kpi in load_definitions(None):
        assert split(kpi.formula_tree).rollable, kpi.id
