"""The cost centre codes a load brings that the cost_centres table lacks: a warning in the
load's report, never a rejected row (the spend and budgets count whether or not a code has
a name yet; the reference table only names them)."""

from __future__ import annotations

from collections import Counter

import duckdb
import polars as pl

from kpi.store.queries.cost_centres import CODES_NOT_KNOWN, UNKNOWN_COST_CENTRES

REFERENCE = "cost_centres"
SHOWN = 10  # codes named in a note; the rest are counted


def count_codes(table: str, valid: pl.DataFrame, counts: Counter[str]) -> None:
    """Add the loaded rows' cost centre codes to `counts` (tables with a cost_centre column
    other than the reference table itself)."""
    if table == REFERENCE or "cost_centre" not in valid.columns or valid.height == 0:
        return
    for code, n in valid.get_column("cost_centre").drop_nulls().value_counts().iter_rows():
        counts[code] += n


def unknown_codes_note(con: duckdb.DuckDBPyConnection, table: str, counts: Counter[str]) -> str:
    """What the load should tell about codes without a name ("" when there are none, or
    while the cost_centres table is empty): for a transaction file, the codes its rows
    named that the table lacks; for the cost_centres file, the codes in use still missing."""
    # plain rows, not a frame: handing a result to polars imports pyarrow (0.4 s of a load)
    if table == REFERENCE:
        missing = con.execute(UNKNOWN_COST_CENTRES).fetchall()
        if not missing:
            return ""
        codes = list(dict.fromkeys(row[0] for row in missing))  # cost_centre, in order
        return (
            f"{len(codes)} cost centre code(s) used by invoices, purchase orders or budgets "
            f"are still not in cost_centres: {_listed(codes)}; they show without a name "
            "until a file names them."
        )
    if not counts:
        return ""
    codes = [row[0] for row in con.execute(CODES_NOT_KNOWN, {"codes": sorted(counts)}).fetchall()]
    if not codes:
        return ""
    rows = sum(counts[c] for c in codes)
    return (
        f"{rows:,} row(s) name cost centre code(s) not in the cost_centres table: "
        f"{_listed(codes)}. They are loaded and counted; load these codes into cost_centres "
        "to show their names."
    )


def _listed(codes: list[str]) -> str:
    more = len(codes) - SHOWN
    return ", ".join(codes[:SHOWN]) + (f" and {more} more" if more > 0 else "")
