"""Results leaving the product: command-line output and downloadable files.

Every export neutralises cells that a spreadsheet would run as a formula, because supplier
names and notes come from outside and end up opened in Excel. A download is also made for
people (`for_spreadsheet`): headers in words, percentages as the screen shows them in a
column marked (%), statuses in words and numbers without float noise; the Excel copy
carries a Scope sheet saying what the table covers (README, "Tables and downloads").
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence

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


def to_xlsx_bytes(
    frame: pl.DataFrame, sheet: str = "data", scope: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The table on the first sheet (exact decimals with two places shown); with `scope`,
    a second sheet "Scope" holding its (what, value) lines: what the table covers."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    # Excel refuses these characters in a sheet's name (a supplier or category may hold them)
    title = re.sub(r"[\\/?*\[\]:]", "-", sheet)[:31] or "data"
    ws.title = "Table" if title.lower() == "scope" else title
    safe = neutralised(frame)
    text_cols = [c for c, t in safe.schema.items() if t == pl.String]
    safe = safe.with_columns(pl.col(c).str.replace_all(_XLSX_ILLEGAL, "\ufffd") for c in text_cols)
    ws.append([re.sub(_XLSX_ILLEGAL, "\ufffd", c) for c in safe.columns])
    for row in safe.iter_rows():
        ws.append([_clean(v) for v in row])
    for n, dtype in enumerate(safe.dtypes, start=1):
        if isinstance(dtype, pl.Decimal):  # exact amounts, shown as money is: 1,234.50
            for (cell,) in ws.iter_rows(min_row=2, min_col=n, max_col=n):
                cell.number_format = "#,##0.00"
    if scope:
        about = wb.create_sheet("Scope")
        for what, value in scope:
            about.append([_xlsx_text(what), _xlsx_text(value)])
        about.column_dimensions["A"].width = 18
        about.column_dimensions["B"].width = 80
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_text(value: object) -> object:
    text = neutralise_text(value)
    return re.sub(_XLSX_ILLEGAL, "\ufffd", text) if isinstance(text, str) else text


# ---- downloads for people -------------------------------------------------------------

# Words that are abbreviations: written in capitals in a header ("Supplier ID").
_ABBREVIATIONS = {
    "id",
    "kpi",
    "po",
    "pos",
    "eur",
    "usd",
    "gbp",
    "chf",
    "jpy",
    "fx",
    "hhi",
    "dpo",
    "dso",
    "dio",
    "ccc",
    "sku",
    "sme",
    "vat",
    "url",
    "csv",
    "rag",
    "ytd",
    "oidc",
    "p&l",
}
# Column names whose words are not simply the name's parts.
HEADER_WORDS = {
    "id": "ID",
    "who": "Who",
    "by": "By",
    "fy": "Fiscal year",
    "qty": "Quantity",
    "pct": "Percent",
    "cc": "Cost centre",
}
# A float column whose name ends in one of these holds a fraction shown as a percentage.
PERCENT_SUFFIXES = ("share", "rate", "utilisation", "_to_date", "delivery", "on_time")
PERCENT_MARK = " (%)"


def header(column: str) -> str:
    """A column name as a header people read: `supplier_id` → "Supplier ID", `created_by`
    → "Created by", `amount_eur` → "Amount EUR". A name that already holds capitals or
    spaces was written for people and is kept."""
    if column in HEADER_WORDS:
        return HEADER_WORDS[column]
    if column.endswith("_pct") and column != column[-4:]:  # -5 means -5 %: marked like one
        return header(column[:-4]) + PERCENT_MARK
    if column != column.lower() or " " in column or not column:
        return column
    words = [w for w in column.split("_") if w]
    shown = [w.upper() if w in _ABBREVIATIONS else HEADER_WORDS.get(w, w).lower() for w in words]
    if not shown:
        return column
    first = shown[0]
    shown[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(shown)


def is_percent(column: str, dtype: pl.DataType, suffixes: Sequence[str] = PERCENT_SUFFIXES) -> bool:
    """A fraction the screen shows as a percentage (a float named ...share, ...rate, ...)."""
    return dtype in (pl.Float32, pl.Float64) and column.endswith(tuple(suffixes))


# Status codes and signs as words, wherever a column says a status.
STATUS_WORDS = {
    "green": "On target",
    "amber": "Near target",
    "red": "Off target",
    "none": "No target",
    "no_slice_target": "No target for this slice",
    "on_target": "On target",
    "near_target": "Near target",
    "off_target": "Off target",
    "✅": "Yes",
    "✔": "Yes",
    "✔️": "Yes",
    "⚠️": "Warning",
    "⚠": "Warning",
    "❌": "No",
    "✖": "No",
}
_STATUS_COLUMN = re.compile(r"(^|_)(status|state|stage|kind|flag|rag|verdict|outcome|result)$")
_CODE = re.compile(r"^[a-z]+(_[a-z]+)+$")
_LEADING_SIGNS = re.compile(r"^[^\w\s(\[]+\s+(?=\w)")  # "● On target" → "On target"

# How many decimals a number in a unit's column means (as format_value shows it); a
# percent is shown ×100.
_UNIT_DECIMALS = {"currency": 2, "percent": 1, "days": 1, "count": 0, "ratio": 2}
FLOAT_DECIMALS = 4  # any other float: as st.dataframe shows it, at most four decimals


def status_words(value: object) -> object:
    """One status cell in words: `on_target` → "On target", "✅" → "Yes", "● On target"
    → "On target"; anything else as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in STATUS_WORDS:
        return STATUS_WORDS[text]
    if _CODE.match(text):
        return text.replace("_", " ").capitalize()
    signs = _LEADING_SIGNS.match(text)
    if signs:
        rest = text[signs.end() :]
        return rest
    return value


def for_spreadsheet(frame: pl.DataFrame, percent: Sequence[str] = PERCENT_SUFFIXES) -> pl.DataFrame:
    """A table as a download for people: statuses in words, percentages ×100 in a column
    whose header ends in "(%)" (92.1 means 92.1 %), floats without noise (358314.33, not
    358314.3300000001), exact decimals left exact, headers in words. A table with a `unit`
    column (one KPI per row) rounds each row as its unit is shown, percents ×100."""
    out = frame.with_columns(
        pl.col(c).map_elements(status_words, return_dtype=pl.String)
        for c, t in frame.schema.items()
        if t == pl.String and _STATUS_COLUMN.search(c)
    )
    floats = [c for c, t in out.schema.items() if t in (pl.Float32, pl.Float64)]
    if "unit" in out.columns and out.schema["unit"] == pl.String:
        out = out.with_columns(_by_unit(c) for c in floats).with_columns(
            pl.col("unit").replace({"percent": "%"})
        )
        floats = []
    renamed: dict[str, str] = {}
    for c in floats:
        if is_percent(c, out.schema[c], percent):
            out = out.with_columns((pl.col(c) * 100).round(FLOAT_DECIMALS - 2))
            renamed[c] = header(c) + PERCENT_MARK
        else:
            out = out.with_columns(pl.col(c).round(FLOAT_DECIMALS))
    names = {c: renamed.get(c) or header(c) for c in out.columns}
    return out.rename(_unique(names))


def _by_unit(column: str) -> pl.Expr:
    value = pl.col(column)
    expr = pl.when(pl.col("unit") == "percent").then((value * 100).round(_UNIT_DECIMALS["percent"]))
    for unit, places in _UNIT_DECIMALS.items():
        if unit != "percent":
            expr = expr.when(pl.col("unit") == unit).then(value.round(places))
    return expr.otherwise(value.round(FLOAT_DECIMALS)).alias(column)


def _unique(names: dict[str, str]) -> dict[str, str]:
    """Headers stay distinct (two columns worded alike keep their own names)."""
    seen: dict[str, int] = {}
    for shown in names.values():
        seen[shown] = seen.get(shown, 0) + 1
    return {c: (shown if seen[shown] == 1 else c) for c, shown in names.items()}


def file_part(text: str) -> str:
    """Text safe in a file name on every system: letters, digits, '.', '_', '-', '+'."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-._")[:60]


# Period labels (kpi.core.periods): FY2026, FY2026-Q3, 2026-03.
_PERIOD_LABEL = re.compile(r"(?<![A-Za-z0-9])(FY\d{4}(?:-Q[1-4])?|\d{4}-\d{2})(?![0-9])")


def named_periods(text: str) -> list[str]:
    """The period labels a table's name already holds ("scorecard_FY2026-Q3")."""
    return _PERIOD_LABEL.findall(text)


def download_name(name: str, parts: Sequence[str] = ()) -> str:
    """`name` and the scope's parts it does not already say, joined by '_':
    scorecard_FY2026-Q3 + (FY2025-Q4_FY2026-Q3, EUR, category-IT) →
    scorecard_FY2026-Q3_EUR_category-IT (a name that says its period keeps it alone)."""
    shown = [file_part(name) or "table"]
    for part in parts:
        part = file_part(part)
        said = set("_".join(shown).split("_"))
        if not part or set(part.split("_")) <= said:
            continue
        if named_periods(name) and named_periods(part):  # the table's own period wins
            continue
        shown.append(part)
    return "_".join(shown)[:180]
