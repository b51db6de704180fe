"""The meeting pack's HTML building blocks: escaping, tables and formatted cells.

Every cell and text goes through `e`: nothing that comes from data or configuration is
trusted (kpi.reporting.meeting_pack and kpi.reporting.pack_agenda build the pack with them).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from kpi.core.formatting import format_money


def e(value: object) -> str:
    """`value` as HTML text (quotes too, so it is safe in an attribute); None as nothing."""
    return html.escape("" if value is None else str(value), quote=True)


def table(
    head: Sequence[str],
    rows: Sequence[Sequence[Any]],
    numeric: set[int] | None = None,
    totals: set[int] | None = None,
    css: str = "",
) -> str:
    """An HTML table; a cell is a value or (value, css class). Everything is escaped."""
    numeric, totals = numeric or set(), totals or set()
    out = [
        f"<table class='{e(css)}'>" if css else "<table>",
        "<thead><tr>",
        *[f"<th>{e(h)}</th>" for h in head],
        "</tr></thead>",
    ]
    out.append("<tbody>")
    for i, row in enumerate(rows):
        out.append("<tr class='total'>" if i in totals else "<tr>")
        for j, cell in enumerate(row):
            value, cell_css = cell if isinstance(cell, tuple) else (cell, "")
            classes = " ".join(c for c in (cell_css, "num" if j in numeric else "") if c)
            attr = f" class='{e(classes)}'" if classes else ""
            out.append(f"<td{attr}>{e(value)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def money(value: Decimal | float | None, display: str) -> str:
    """An amount as people read it; a Decimal stays exact (format_money formats it as it is)."""
    return "–" if value is None else format_money(value, display)


def share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f} %"


def signer(row: Mapping[str, Any], dept: str) -> str:
    name, email = row[f"{dept}_name"], row[f"{dept}_by"]
    return f"{name} <{email}>" if name else str(email)
