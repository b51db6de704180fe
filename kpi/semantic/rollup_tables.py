"""What a rollup table is and what it holds besides its measures: shared by the refresh
(kpi.semantic.rollups) and the rank tables' recompute from the sums (kpi.semantic.rollup_ranks),
which the refresh calls, so that neither imports the other."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from kpi.semantic.measures import StoredMeasure
from kpi.store.template import render
from kpi.store.view_reads import DELTA
from kpi.store.views import Ranges, between_any

# A measure that reads no grain column is stored once, from the views at this grain.
ANY_GRAIN = "any"
MONTH = "month"  # the rollups' period column: the first day of the month


_ROWS = "_n"  # the number of view rows behind a group's sums, in a difference's rows


@dataclass(frozen=True)
class RollupSpec:
    """One rollup table: a view's measures by month of one period column and by dimensions,
    from the views at `body_grain` (ANY_GRAIN: measures that read no grain column)."""

    view: str
    period_column: str
    body_grain: str
    dims: tuple[str, ...]
    measures: tuple[StoredMeasure, ...]

    @property
    def name(self) -> str:
        return f"r_{self.view}__{self.period_column}__{self.body_grain}"


def _additive(measure: StoredMeasure) -> str | None:
    """ "sum" or "count" (how a difference of the measure is applied), else None."""
    func = measure.build.this if isinstance(measure.build, exp.Filter) else measure.build
    if isinstance(func, exp.Sum) and measure.again is exp.Sum:
        return "sum"
    if isinstance(func, (exp.Count, exp.CountIf)) and measure.again is exp.Sum:
        return "count"
    return None


# the rows behind a group, applied as a count
_ROWS_MEASURE = StoredMeasure(_ROWS, exp.Count(this=exp.Star()), exp.Sum)


def _values_of(measure: StoredMeasure) -> StoredMeasure:
    """A sum's count of the values it adds (same filter): zero means the sum is NULL."""
    build = measure.build.copy()
    func = build.this if isinstance(build, exp.Filter) else build
    counted = exp.Count(this=func.this.copy())
    if func is build:
        build = counted
    else:
        func.replace(counted)
    return StoredMeasure(f"{measure.column}_c", build, exp.Sum)


def _hidden(spec: RollupSpec) -> tuple[StoredMeasure, ...]:
    """The columns a table holds beside its measures: the rows behind each group and, where
    a load's difference may be applied (DELTA), each sum's number of values."""
    if spec.body_grain != ANY_GRAIN or (spec.view, spec.period_column) not in DELTA:
        return (_ROWS_MEASURE,)
    sums = [_values_of(m) for m in spec.measures if _additive(m) == "sum"]
    return (_ROWS_MEASURE, *sums)


def _delete_months(name: str, months: Ranges, categories: tuple[str, ...] | None = None) -> str:
    """DELETE the rows of `months` (of these categories only, when given) from a rollup
    table (they are recomputed next)."""
    where = between_any(exp.column(MONTH), months)
    if categories is not None:
        cats = exp.Array(expressions=[exp.Literal.string(c) for c in categories])
        where = exp.and_(where, exp.func("list_contains", cats, exp.column("category")))
    return render(exp.Delete(this=exp.to_table(name), where=exp.Where(this=where)))


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **rows: object) -> Iterator[None]:
    """Arrow tables readable by these names on `con` inside, and by none after (a name left
    registered would shadow a later table of the same name)."""
    for name, table in rows.items():
        con.register(name, table)
    try:
        yield
    finally:
        for name in rows:
            con.unregister(name)


def put_rows(out: duckdb.DuckDBPyConnection, name: str, rows: object, create: bool) -> None:
    """Rows (an Arrow table) into the rollups file's table `name`: made anew, or added."""
    read = exp.select("*").from_("_rows")
    statement: exp.Expression = (
        exp.Create(this=exp.to_table(name), kind="TABLE", expression=read, replace=True)
        if create
        else exp.Insert(this=exp.to_table(name), expression=read, by_name=True)
    )
    with registered(out, _rows=rows):
        out.execute(render(statement))
