"""A small lake for the Spark tests, built from a demo store by a path of its own (DuckDB's
Arrow output written with `deltalake`), so the tests do not depend on how `kpi migrate`
writes one: each table the store holds in `<lake>/<table>/`, one Delta table each."""

from __future__ import annotations

from pathlib import Path

import deltalake
import duckdb
from sqlglot import exp

from kpi.store.schema import TABLES

# the canonical tables, and the company's stock marks the inventory view reads
LAKE_TABLES = (*TABLES, "stock_mark_changes")


def build_lake(store: Path, lake: Path) -> Path:
    """Every table of LAKE_TABLES the store holds, as a Delta table under `lake`."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        for name in LAKE_TABLES:
            rows = exp.select("*").from_(exp.Table(this=exp.to_identifier(name, quoted=True)))
            arrow = con.sql(rows.sql("duckdb")).to_arrow_table()
            deltalake.write_deltalake(str(lake / name), arrow, mode="overwrite")
    finally:
        con.close()
    return lake
