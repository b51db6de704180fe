"""What the Data page shows: loads with their counts, rejected rows, freshness per table."""

from __future__ import annotations

import json

import polars as pl

from kpi.core.settings import lake_path
from kpi.semantic import rollups
from kpi.store.database import Store
from kpi.store.lake import LakeStore
from kpi.store.queries.bookkeeping import (
    LOAD_HISTORY,
    REJECTS,
    distinct_values,
    table_freshness,
)
from kpi.store.query import fetch_frame
from kpi.store.schema import TABLES
from kpi.store.views import view_catalog


def load_history(store: Store) -> pl.DataFrame:
    """Every load, newest first, with rows in / loaded / rejected; `file_name` is the file's
    own name (an upload's name as the person gave it, not the server's temporary copy)."""
    with store.read() as con:
        return _own_names(fetch_frame(con, LOAD_HISTORY))


def rejected_rows(store: Store, load_id: int | None = None, limit: int = 10_000) -> pl.DataFrame:
    """Rejected rows, newest load first, each with the file's own name, its row number, the
    columns at fault, the reason and the values as the file held them (of one load, or all).
    """
    with store.read() as con:
        frame = _own_names(fetch_frame(con, REJECTS, {"load_id": load_id, "limit": limit}))
    at_fault = [
        _columns_at_fault(reason, table)
        for reason, table in zip(frame["reason"], frame["table_name"], strict=True)
    ]
    values = [_values(raw) for raw in frame["raw_row"]]
    return frame.select(
        "load_id",
        "table_name",
        "file_name",
        "row_number",
        pl.Series("columns", at_fault, dtype=pl.String),
        "reason",
        pl.Series("values", values, dtype=pl.String),
    )


def _own_names(frame: pl.DataFrame) -> pl.DataFrame:
    """`file_name` filled for loads recorded before the store kept it: the path's last part."""
    last_part = pl.col("source").str.extract(r"([^/\\]+)$")
    if "file_name" not in frame.columns:
        return frame.with_columns(last_part.alias("file_name"))
    return frame.with_columns(pl.col("file_name").fill_null(last_part))


def _columns_at_fault(reason: str, table: str) -> str:
    """The table columns a reject's reason names, in its order: every problem in a reason
    ("row 2 (line 3): invoice_date '2026-02-30' is not a date; ...") starts with its column;
    a duplicate names the table's key."""
    spec = TABLES.get(table)
    if spec is None:
        return ""
    found: list[str] = []
    for problem in reason.partition(": ")[2].split("; "):
        first = problem.split(" ", 1)[0]
        named = list(spec.key) if problem.startswith("duplicate of row") else [first]
        found += [c for c in named if c in spec.column_names and c not in found]
    return ", ".join(found)


def _values(raw_row: str | None) -> str:
    """The rejected row as the file held it, "column: value" by column ("" for a blank)."""
    if not raw_row:
        return ""
    try:
        row = json.loads(raw_row)
    except ValueError:  # kept as text when it is not the JSON object the loader writes
        return raw_row
    if not isinstance(row, dict):
        return raw_row
    return " · ".join(f"{k}: {'' if v is None else v}" for k, v in row.items())


def freshness(store: Store) -> pl.DataFrame:
    """Per canonical table: rows held, the latest business date in it, when it was loaded."""
    with store.read() as con:
        frames = [fetch_frame(con, table_freshness(t)) for t in TABLES]
    return pl.concat(frames)


def dimension_values(store: Store, view: str, column: str) -> list[str]:
    """Distinct values of a view column, for filter choices (names checked, not trusted)."""
    columns = view_catalog(store.settings).get(view, {})
    if column not in columns:
        raise ValueError(f"view '{view}' has no column '{column}'")
    with store.read() as con:
        stored = rollups.stored_values(con, store, view, column)
        if stored is not None:
            return stored  # without computing the view (the spend view: every invoice line)
        return [str(r[0]) for r in con.execute(distinct_values(view, column)).fetchall()]


def display_currencies(store: Store) -> list[str]:
    """The reporting currency first, then every currency the store has exchange rates for."""
    base = store.settings.reporting_currency
    with store.read() as con:
        found = [r[0] for r in con.execute(distinct_values("fx_rates", "currency")).fetchall()]
    return [base] + [c for c in found if c != base]


def store_summary(store: Store) -> str:
    """One line saying where the dashboard reads from and what computes its figures: the
    store file or the lake (and which write of it), DuckDB or Spark. Two setups give two
    different answers to "is this the data I loaded?", so the Data page says which."""
    if isinstance(store, LakeStore):
        where = f"the lake {store.location} (Delta tables, one per store table"
        if store.exists():
            where += f"; write no. {store.manifest().serial:,}"
        where += ")"
    else:
        where = f"the store file {store.path}"
        if store.path.is_file():
            where += f" ({store.disk_bytes() / 1e6:,.1f} MB)"
    settings = store.settings
    if settings.engine != "spark":
        return f"Read from {where}; figures computed by DuckDB."
    if rollups.spark_builds(store):
        return (
            f"Read from {where}; figures computed by Spark ({settings.spark}), "
            "their pre-computed sums too."
        )
    # Spark reads the lake, never the store file: its figures come from there, live
    return (
        f"Read from {where}; figures computed by Spark ({settings.spark}) from the lake "
        f"{lake_path(settings)}, every one live."
    )
