"""The savings bridge as the command line prints it: JSON (numbers written from the exact
Decimals), CSV, or an aligned text table."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl

from kpi.analyses.bridge import COLUMNS, LABELS
from kpi.core.formatting import format_money
from kpi.core.output import to_csv_text


def render_bridge(
    frame: pl.DataFrame,
    fmt: str,
    by: str | None = None,
    currency: str = "EUR",
    title: str = "",
) -> str:
    """`bridge` output: JSON (numbers with 2 decimals), CSV, or an aligned text table."""
    keys = ([by] if by else []) + list(COLUMNS)
    if fmt == "json":
        objects = [_json_object(row, keys) for row in frame.select(keys).iter_rows(named=True)]
        if by:
            return "[\n" + ",\n".join(_indent(o) for o in objects) + ("\n]\n" if objects else "]\n")
        return objects[0] + "\n"
    if fmt == "csv":
        return to_csv_text(frame.select(keys))
    if by:
        return _wide_table(frame.select(keys), by, currency, title)
    return _bridge_table(frame.row(0, named=True), currency, title)


def _json_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return f"{value:.2f}"  # a JSON number written from the exact Decimal, never a float
    return json.dumps(value)


def _json_object(row: dict[str, object], keys: list[str]) -> str:
    body = ",\n".join(f"  {json.dumps(k)}: {_json_value(row[k])}" for k in keys)
    return "{\n" + body + "\n}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _bridge_table(row: dict[str, object], currency: str, title: str) -> str:
    """One bridge, top to bottom: base, the effects, current."""
    cells = [(LABELS[c], format_money(row[c], currency)) for c in COLUMNS]  # type: ignore[arg-type]
    left = max(len(a) for a, _ in cells)
    right = max(len(b) for _, b in cells)
    lines = [title] if title else []
    for n, (label, value) in enumerate(cells):
        if n == len(cells) - 1:
            lines.append("-" * (left + 2 + right))
        lines.append(f"{label.ljust(left)}  {value.rjust(right)}")
    return "\n".join(lines) + "\n"


def _wide_table(frame: pl.DataFrame, by: str, currency: str, title: str) -> str:
    """One bridge per value of `by`, one line each."""
    if frame.is_empty():
        return (title + "\n" if title else "") + "No spend in either period for this scope.\n"
    cells = [[by, *COLUMNS]]
    for row in frame.iter_rows(named=True):
        key = "(none)" if row[by] is None else str(row[by])
        cells.append([key, *(format_money(row[c], currency) for c in COLUMNS)])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [title] if title else []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
