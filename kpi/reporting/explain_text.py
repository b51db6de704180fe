"""The rows behind a KPI value as the command line prints them: JSON (numbers written from
the exact Decimals), CSV (the rows), or a text table headed by the value and its
reconciliation."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import polars as pl

from kpi.core.formatting import format_value
from kpi.core.output import to_csv_text
from kpi.semantic.explain import Explanation

# Every row of the JSON output names these, filled or null (lineage may not be loaded yet).
ROW_LINEAGE = ("source_file", "source_row")


def render_explanation(
    explanation: Explanation, rows: pl.DataFrame, fmt: str, currency: str = "EUR"
) -> str:
    """`explain` output in `fmt` (json, csv or table)."""
    if fmt == "json":
        return _json(_as_object(explanation, rows)) + "\n"
    if fmt == "csv":
        return to_csv_text(rows)
    return _table(explanation, rows, currency)


def _as_object(explanation: Explanation, rows: pl.DataFrame) -> dict[str, object]:
    listed = []
    for row in rows.iter_rows(named=True):
        listed.append({**row, **{k: row.get(k) for k in ROW_LINEAGE}})
    return {
        "kpi": explanation.kpi,
        "name": explanation.name,
        "period": explanation.period,
        "where": explanation.where,
        "unit": explanation.unit,
        "value": explanation.value,
        "numerator": explanation.numerator,
        "denominator": explanation.denominator,
        "reconciles": explanation.reconciles,
        "note": explanation.note,
        "row_count": explanation.row_count,
        "parts": [
            {"column": p.column, "aggregate": p.aggregate, "role": p.role, "total": p.total}
            for p in explanation.parts
        ],
        "columns": explanation.columns,
        "rows": listed,
    }


def _json(value: object, indent: str = "") -> str:
    """JSON text in which a Decimal is written as the exact number it holds."""
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in value) + "\n" + indent + "]"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, float) and value != value:  # NaN
        return "null"
    return json.dumps(value)


def _shown(value: object, unit: str, currency: str) -> str:
    if value is None:
        return "–"
    return format_value(float(value), unit, currency)  # type: ignore[arg-type]


def _reconciliation(e: Explanation, currency: str) -> list[str]:
    """The lines under the value: each part's total, then the split and the verdict."""
    lines = []
    for p in e.parts:
        if p.role == "value":
            continue  # not re-added: its rows are listed, its total is not a sum
        unit = "count" if p.role.startswith("count") else "number"
        lines.append(f"  {p.column:<14} {p.aggregate} = {_exact(p.total, unit)}")
    if e.denominator is not None:
        lines.append(f"  numerator      {_exact(e.numerator, 'number')}")
        lines.append(f"  denominator    {_exact(e.denominator, 'number')}")
        lines.append(f"  quotient       {_exact(e.recomputed, 'number')}")
    elif e.numerator is not None:
        lines.append(f"  total          {_exact(e.numerator, 'number')}")
    verdict = "reconciles" if e.reconciles else "does not reconcile"
    lines.append(f"  {verdict}: {e.note}" if e.note else f"  {verdict}")
    return lines


def _exact(value: object, unit: str) -> str:
    """A total as it is (Decimals exact, counts whole), '–' for none."""
    if value is None:
        return "–"
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if unit == "count" and isinstance(value, int):
        return f"{value:,}"
    return repr(value) if isinstance(value, float) else str(value)


def _table(e: Explanation, rows: pl.DataFrame, currency: str) -> str:
    where = f" where {' and '.join(e.where)}" if e.where else ""
    head = [
        f"{e.name} ({e.kpi}), {e.period}{where}: {_shown(e.value, e.unit, currency)}",
        f"{e.row_count:,} row(s) behind it; parts and reconciliation:",
        *_reconciliation(e, currency),
        "",
    ]
    if rows.is_empty():
        return "\n".join([*head, "No rows behind this figure for this period and filter."]) + "\n"
    cells = [list(rows.columns)]
    for row in rows.iter_rows():
        cells.append(["" if v is None else str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    shown = f"showing rows 1–{rows.height} of {e.row_count:,}"
    return "\n".join([*head, *lines, shown]) + "\n"
