"""`kpi rollups` as the command line prints it: fresh or not, and what each table holds."""

from __future__ import annotations

from datetime import datetime

from kpi.semantic.rollups import ANY_GRAIN, Status


def render_status(status: Status) -> str:
    """One line of state, then one line per table (view, period column, grain, rows)."""
    lines = [
        "Rollups: match the store's data; figures are read from them where they can be"
        if status.fresh
        else f"Rollups: not used now: {status.why_not}"
    ]
    if status.built_at:
        when = datetime.fromtimestamp(status.built_at).strftime("%Y-%m-%d %H:%M")
        lines.append(f"Last table built {when}")
    if status.store_bytes:
        share = status.size_bytes / status.store_bytes
        lines.append(
            f"Size {status.size_bytes / 1e6:,.1f} MB beside a store of "
            f"{status.store_bytes / 1e6:,.1f} MB ({share:.1%})"
        )
    if status.tables:
        head = f"{'view':<22} {'by month of':<16} {'grain':<8} {'measures':>8} {'rows':>10}"
        lines += ["", head + "  split or filtered by"]
        for t in status.tables:
            grain = "any" if t.grain == ANY_GRAIN else t.grain
            lines.append(
                f"{t.view:<22} {t.period_column:<16} {grain:<8} {t.measures:>8} {t.rows:>10,}"
                f"  {', '.join(t.dims)}"
            )
    return "\n".join(lines) + "\n"
