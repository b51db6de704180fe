"""Cost centres by name: the names beside the codes in tables, filters and downloads, and
the codes in use that the cost_centres reference table lacks (a warning, never a drop)."""

from __future__ import annotations

import polars as pl

from kpi.store.database import Store
from kpi.store.queries import cost_centres as q
from kpi.store.query import run

NAME = "cost_centre_name"  # the column the tables gain beside `cost_centre`
SEPARATOR = " · "  # "CC-3030 · Marketing & Events"


def cost_centre_names(store: Store) -> dict[str, str]:
    """{code: name} of every cost centre in the reference table (empty when none is loaded)."""
    frame = run(store, q.COST_CENTRE_NAMES)
    return dict(zip(frame["cost_centre"].to_list(), frame[NAME].to_list(), strict=True))


def cost_centre_label(code: str, names: dict[str, str]) -> str:
    """How a filter offers a cost centre: "CC-3030 · Marketing & Events", or the bare code
    when the reference table does not name it."""
    name = names.get(code)
    return f"{code}{SEPARATOR}{name}" if name else code


def with_names(
    frame: pl.DataFrame, names: dict[str, str], column: str = "cost_centre"
) -> pl.DataFrame:
    """`frame` with `cost_centre_name` right after its cost-centre column (empty where the
    reference table lacks the code, or the row has none); unchanged without that column."""
    if column not in frame.columns or NAME in frame.columns:
        return frame
    lookup = pl.DataFrame(
        {column: list(names), NAME: list(names.values())},
        schema={column: pl.String, NAME: pl.String},
    )
    joined = frame.join(lookup, on=column, how="left", maintain_order="left")
    at = frame.columns.index(column) + 1
    order = [*frame.columns[:at], NAME, *frame.columns[at:]]
    return joined.select(order)


def with_cost_centre_names(
    store: Store, frame: pl.DataFrame, column: str = "cost_centre"
) -> pl.DataFrame:
    """`with_names` with the store's cost centres."""
    if column not in frame.columns:
        return frame
    return with_names(frame, cost_centre_names(store), column)


def unknown_cost_centres(store: Store) -> pl.DataFrame:
    """Codes invoices, purchase orders and budgets use that the cost_centres table lacks:
    cost_centre, table_name, rows. Those rows are loaded and counted like any other; they
    only go without a name. Empty while the table holds no cost centre at all."""
    return run(store, q.UNKNOWN_COST_CENTRES)


def unknown_cost_centres_note(unknown: pl.DataFrame, shown: int = 10) -> str | None:
    """One sentence for the Data page: which codes lack a name and what to do; None if all
    are named."""
    if unknown.is_empty():
        return None
    codes = unknown["cost_centre"].unique(maintain_order=True).to_list()
    listed = ", ".join(codes[:shown]) + (
        f" and {len(codes) - shown} more" if len(codes) > shown else ""
    )
    rows = int(unknown["rows"].sum())
    return (
        f"{len(codes)} cost centre code(s) used in {rows:,} row(s) of invoices, purchase "
        f"orders or budgets are not in the cost_centres table: {listed}. The rows are loaded "
        "and counted; only their name is missing. Load these codes into cost_centres to "
        "show their names."
    )
