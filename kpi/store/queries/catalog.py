"""Whether the store has a table: the one catalog question several workflows ask.

A store made before a workflow's table existed lacks it until its next write, so readers
ask first. On a lake a table is a view over its files (kpi.store.lake), so views count.
"""

from __future__ import annotations

HAS_TABLE = (
    "SELECT count(*) FROM (SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
    "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary) "
    "WHERE table_name = $name"
)
