"""The one way to run a query on the store: constant SQL text (or a sqlglot tree rendered
by the semantic layer) with bound parameters, handed to polars through Arrow."""

from __future__ import annotations

import re
from collections.abc import Mapping

import duckdb
import polars as pl

from kpi.store.database import Store

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def fetch_frame(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> pl.DataFrame:
    """Run a query and hand the result to polars through Arrow (no pandas round trip).

    Polars reads the relation's Arrow stream itself (the PyCapsule interface): the same
    frame as `relation.pl()`, without importing pyarrow, which that goes through (a
    twentieth of a second that a one-shot `kpi compute` would pay for nothing)."""
    relation = con.sql(query, params=params) if params else con.sql(query)
    return pl.DataFrame(relation) if relation is not None else pl.DataFrame()


def run(
    store: Store,
    query: str,
    params: Mapping[str, object] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Run `query` on a read connection (amounts in `currency`, default the reporting one).

    A statement binds only the parameters it names, so callers can pass a scope's whole
    parameter set to any of their statements.
    """
    with store.read(display_currency=currency) as con:
        return fetch_frame(con, query, used_params(query, params))


def used_params(query: str, params: Mapping[str, object] | None) -> dict[str, object]:
    """The parameters `query` names ($name), of those given."""
    named = set(_PARAM.findall(query))
    return {k: v for k, v in (params or {}).items() if k in named}
