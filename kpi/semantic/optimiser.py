"""The plan-probing optimiser: which spend_base columns a KPI statement really reads.

kpi.semantic.compiler computes spend_base once for all the spend views a statement reads;
holding only the columns read makes that shared computation much cheaper. DuckDB says which
those are: it plans the statement (EXPLAIN, nothing runs) against an empty probe table that
stands for spend_base, and the probe table's scans list the columns they project.
"""

from __future__ import annotations

import json
import os
import threading

import duckdb

from kpi.core.settings import Settings
from kpi.store import identifiers
from kpi.store.schema import all_ddl
from kpi.store.views import create_views

# Reading which spend_base columns a statement uses, on an empty copy of the store: with
# these optimisers on, an empty probe table's statistics (every column NULL) would fold
# expressions away, and filters pushed into a scan would hide the columns they read.
PROBE_TABLE = "_kpi_spend_base_probe"
_CREATE_PROBE = "CREATE TEMP TABLE _kpi_spend_base_probe AS SELECT * FROM spend_base LIMIT 0"
_DESCRIBE_PROBE = "DESCRIBE _kpi_spend_base_probe"
_PROBE_OFF = (
    "SET disabled_optimizers = 'statistics_propagation,filter_pushdown,empty_result_pullup,"
    "join_filter_pushdown,late_materialization,row_group_pruner'"
)
_UNKNOWN: list = []
_probed: dict[tuple[str, Settings, str | None], list[tuple[str, str, bool]] | None] = {}
# The empty in-memory store a statement is planned on, per (settings, display currency): its
# tables (all_ddl) and curated views (create_views) follow from nothing else, and planning a
# statement (EXPLAIN) changes nothing in it, so one store answers every statement of that
# key as a fresh one would. Building it costs most of a probe (the views' DDL); a lock, as
# one DuckDB connection is not to be used by two threads at once.
_ProbeStore = tuple[duckdb.DuckDBPyConnection, list[tuple[str, str]]]
_stores: dict[tuple[Settings, str | None], _ProbeStore] = {}
_stores_lock = threading.Lock()
_MAX_STORES = 8
_inherited: list[_ProbeStore] = []


def _after_fork_in_child() -> None:
    """A forked child builds its own stores: a connection (and a lock another thread may have
    held) is not to be shared with the parent; the inherited ones are kept, never closed."""
    global _stores_lock
    _inherited.extend(_stores.values())
    _stores.clear()
    _stores_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def spend_base_columns(
    statement: str, params: list[object], settings: Settings, display_currency: str | None
) -> list[tuple[str, str, bool]] | None:
    """spend_base's columns (name, type, whether the statement reads it); None when unsure.

    `statement` reads spend_base from the probe table (PROBE_TABLE); DuckDB plans it on an
    empty in-memory store and the probe table's scans list the columns they project. Asked
    again for the same statement, the answer comes from a cache; the empty store is built
    once per settings and currency (_probe_store).
    """
    key = (statement, settings, display_currency)
    cached = _probed.get(key, _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached
    known: list[tuple[str, str]] = []
    with _stores_lock:
        try:
            con, known = _probe_store(settings, display_currency)
            identifiers.register(name for name, _ in known)  # spend_base's own columns
            plan = con.sql(statement, params=params or None).explain(format="json")
            found = _scanned(json.loads(plan), set())
        except (duckdb.Error, ValueError, KeyError, IndexError):
            found = None
    names = {name for name, _ in known}
    columns = None
    if found and found <= names:
        columns = [(name, sql_type, name in found) for name, sql_type in known]
    if len(_probed) > 256:
        _probed.clear()
    _probed[key] = columns
    return columns


def _probe_store(settings: Settings, display_currency: str | None) -> _ProbeStore:
    """The empty store with the probe table for (settings, display_currency), and the probe
    table's columns (name, type); built on first use, kept open (the caller holds the lock)."""
    key = (settings, display_currency)
    store = _stores.get(key)
    if store is not None:
        return store
    con = duckdb.connect(":memory:")
    try:
        con.execute(all_ddl())
        create_views(con, settings, display_currency)
        con.execute(_CREATE_PROBE)
        known = [(r[0], r[1]) for r in con.execute(_DESCRIBE_PROBE).fetchall()]
        con.execute(_PROBE_OFF)
    except BaseException:
        con.close()
        raise
    if len(_stores) >= _MAX_STORES:
        for old, _ in _stores.values():
            old.close()
        _stores.clear()
    _stores[key] = (con, known)
    return con, known


def _scanned(plan: object, found: set[str] | None) -> set[str] | None:
    """Columns projected by the probe table's scans in a JSON plan; None if one is unclear."""
    if found is None:
        return None
    nodes = plan if isinstance(plan, list) else [plan]
    for node in nodes:
        info = node.get("extra_info", {})
        if PROBE_TABLE in str(info.get("Table", "")):
            columns = info.get("Projections")
            if not columns or "Filters" in info:
                return None
            found |= {columns} if isinstance(columns, str) else set(columns)
        if _scanned(node.get("children", []), found) is None:
            return None
    return found
