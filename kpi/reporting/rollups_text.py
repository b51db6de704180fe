"""The rollups' state in words: `kpi rollups` as the command line prints it, and the Data
page's "Pre-computed sums" (one sentence a controller reads, and a table of what they hold)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from kpi.core.formatting import format_time
from kpi.semantic.rollups import ANY_GRAIN, ENV, Status

FRESH = "Rollups: match the store's data; figures are read from them where they can be"
# why the sums are not read (Status.reason): as the command line says it ...
_COMMAND_WHY = {
    "missing": "not built yet (they are after the next load or save)",
    "stale": "they do not match the store's data now (written since): figures are computed "
    "live until `kpi rollups --refresh` or the next load",
    "off": f"{ENV} is off",
}
# ... and for a person in the app
_WHY = {
    "missing": "they are not built yet; they are built after the next load or save of the "
    "definitions",
    "stale": "the data changed since they were brought up to date; they are refreshed after "
    "every load and every save of the definitions, which may be running now",
    "off": f"they are switched off for this app (`{ENV}=off`)",
}


def render_status(status: Status) -> str:
    """One line of state, then one line per table (view, period column, grain, rows)."""
    lines = [FRESH if status.fresh else f"Rollups: not used now: {_COMMAND_WHY[status.reason]}"]
    if status.built_at:
        when = datetime.fromtimestamp(status.built_at).strftime("%Y-%m-%d %H:%M")
        lines.append(f"Last table built {when}")
    if status.store_bytes:
        lines.append(f"Size {_sizes(status)}")
    if status.tables:
        head = f"{'view':<22} {'by month of':<16} {'grain':<8} {'measures':>8} {'rows':>10}"
        lines += ["", head + "  split or filtered by"]
        for view, by, grain, measures, rows, dims in status_table(status).iter_rows():
            lines.append(f"{view:<22} {by:<16} {grain:<8} {measures:>8} {rows:>10,}  {dims}")
    return "\n".join(lines) + "\n"


def _sizes(status: Status) -> str:
    share = status.size_bytes / status.store_bytes
    return (
        f"{status.size_bytes / 1e6:,.1f} MB beside a store of "
        f"{status.store_bytes / 1e6:,.1f} MB ({share:.1%})"
    )


def state_sentence(status: Status, zone: str = "UTC") -> str:
    """Whether the dashboard's figures come from the pre-computed sums now, in words a
    controller reads (markdown): either way the numbers are the same, to the cent."""
    if status.fresh:
        head = (
            "**Up to date with the data**: figures are read from the pre-computed sums where "
            "they can be, and computed from the transactions where they cannot."
        )
    else:
        why = _WHY[status.reason]
        head = (
            f"**Not used now**: {why}. Every figure is computed from the transactions "
            "meanwhile: the same numbers, more slowly."
        )
    facts = []
    if status.built_at:
        built = datetime.fromtimestamp(status.built_at, tz=UTC)
        facts.append(f"Last table built {format_time(built, zone)}")
    if status.store_bytes and status.size_bytes:
        facts.append(("Size " if not facts else "size ") + _sizes(status))
    return head + (f" {'; '.join(facts)}." if facts else "")


def status_table(status: Status) -> pl.DataFrame:
    """What each table of sums holds: one row per table, as `kpi rollups` lists them."""
    return pl.DataFrame(
        {
            "view": [t.view for t in status.tables],
            "by_month_of": [t.period_column for t in status.tables],
            "grain": ["any" if t.grain == ANY_GRAIN else t.grain for t in status.tables],
            "measures": [t.measures for t in status.tables],
            "rows": [t.rows for t in status.tables],
            "split_or_filtered_by": [", ".join(t.dims) for t in status.tables],
        },
        schema={
            "view": pl.String,
            "by_month_of": pl.String,
            "grain": pl.String,
            "measures": pl.Int64,
            "rows": pl.Int64,
            "split_or_filtered_by": pl.String,
        },
    )
