"""Results leaving the product: command-line output and downloadable files.

Every export neutralises cells that a spreadsheet would run as a formula, because supplier
names and notes come from outside and end up opened in Excel.
"""

from __future__ import annotations

import io
import json
import math
import re

import polars as pl


def _clean(value: object) -> object:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def render_results(result, fmt: str, by: list[str]) -> str:  # result: engine.ComputeResult
    """`compute` output: JSON array of {kpi, period, <by>..., value}, CSV or a text table."""
    frame: pl.DataFrame = result.frame.select(["kpi", "period", *by, "value"])
    rows = [{k: _clean(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        return to_csv_text(frame)
    return _text_table(frame)


def _text_table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "No values: the store has no data for this KPI and period.\n"
    cells = [[str(c) for c in frame.columns]]
    for row in frame.iter_rows():
        cells.append(
            ["" if v is None else (f"{v:,.4f}" if isinstance(v, float) else str(v)) for v in row]
        )
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if n and i == len(r) - 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


# A spreadsheet runs a cell as a formula when it starts with one of these (tab, CR and LF
# included: Excel skips them); the full-width forms are there because some spreadsheet
# programs read them as the ASCII ones.
FORMULA_STARTS = "=+-@\t\r\n\uff1d\uff0b\uff0d\uff20"
_FORMULA_START = "^[" + "".join(f"\\u{ord(c):04x}" for c in FORMULA_STARTS) + "]"
# Control characters an .xlsx file cannot hold (openpyxl refuses the whole workbook).
_XLSX_ILLEGAL = "[\x00-\x08\x0b\x0c\x0e-\x1f]"


def neutralise_text(value: object) -> object:
    """One cell as it leaves the product: text that would run as a formula gets a leading
    apostrophe; anything else (numbers, negative ones included) is left as it is."""
    if isinstance(value, str) and value[:1] and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy whose text cells, and column names, cannot run as spreadsheet formulas.
    Only text columns change: a negative amount is a number, not a formula."""
    text_cols = [
        c for c, t in frame.schema.items() if t in (pl.String, pl.Categorical) or t == pl.Enum
    ]
    inert = frame.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String))
        .alias(c)
        for c in text_cols
    )
    return inert.rename(
        {c: str(neutralise_text(c)) for c in frame.columns if c != neutralise_text(c)}
    )


def to_csv_text(frame: pl.DataFrame) -> str:
    return neutralised(frame).write_csv()


def to_csv_bytes(frame: pl.DataFrame) -> bytes:
    """UTF-8 with BOM, so Excel opens accents and currency symbols correctly."""
    return "\ufeff".encode() + to_csv_text(frame).encode("utf-8")


def to_xlsx_bytes(frame: pl.DataFrame, sheet: str = "data") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    # Excel refuses these characters in a sheet's name (a supplier or category may hold them)
    ws.title = re.sub(r"[\\/?*\[\]:]", "-", sheet)[:31] or "data"
    safe = neutralised(frame)
    text_cols = [c for c, t in safe.schema.items() if t == pl.String]
    safe = safe.with_columns(pl.col(c).str.replace_all(_XLSX_ILLEGAL, "\ufffd") for c in text_cols)
    ws.append([re.sub(_XLSX_ILLEGAL, "\ufffd", c) for c in safe.columns])
    for row in safe.iter_rows():
        ws.append([_clean(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
