"""What the Data page shows: loads with their counts, rejected rows, freshness per table."""

from __future__ import annotations

import polars as pl

from kpi import sql
from kpi.schema import TABLES
from kpi.store import Store


def load_history(store: Store) -> pl.DataFrame:
    """Every load, newest first, with rows in / loaded / rejected."""
    with store.read() as con:
        return con.execute(sql.LOAD_HISTORY).pl()


def rejected_rows(store: Store, load_id: int | None = None, limit: int = 10_000) -> pl.DataFrame:
    """Rejected rows with their row number and reason (of one load, or of all)."""
    with store.read() as con:
        return con.execute(sql.REJECTS, {"load_id": load_id, "limit": limit}).pl()


def freshness(store: Store) -> pl.DataFrame:
    """Per canonical table: rows held, the latest business date in it, when it was loaded."""
    with store.read() as con:
        frames = [con.execute(sql.table_freshness(t)).pl() for t in TABLES]
    return pl.concat(frames)
