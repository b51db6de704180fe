"""What the Data page shows: loads with their counts, rejected rows, freshness per table."""

from __future__ import annotations

import polars as pl

from kpi.store.database import Store
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
    """Every load, newest first, with rows in / loaded / rejected."""
    with store.read() as con:
        return fetch_frame(con, LOAD_HISTORY)


def rejected_rows(store: Store, load_id: int | None = None, limit: int = 10_000) -> pl.DataFrame:
    """Rejected rows with their row number and reason (of one load, or of all)."""
    with store.read() as con:
        return fetch_frame(con, REJECTS, {"load_id": load_id, "limit": limit})


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
        return [str(r[0]) for r in con.execute(distinct_values(view, column)).fetchall()]


def display_currencies(store: Store) -> list[str]:
    """The reporting currency first, then every currency the store has exchange rates for."""
    base = store.settings.reporting_currency
    with store.read() as con:
        found = [r[0] for r in con.execute(distinct_values("fx_rates", "currency")).fetchall()]
    return [base] + [c for c in found if c != base]
