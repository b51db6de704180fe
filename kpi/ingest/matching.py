"""Mapping a file onto a canonical table: which file column feeds which table column, and
the refusal when a required column is absent or named twice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from kpi.ingest.mappings import Mapping
from kpi.ingest.readers import Source
from kpi.ingest.report import LoadRefused
from kpi.store.schema import Table

# Dates of things that happened: later than FUTURE_DAYS from today, they are typos (2062 for
# 2026). Due, promised, contract and planning dates may lie far ahead and are not limited.
FUTURE_DAYS = 92


# ---- mapping a file onto a table ---------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Where each canonical column of one file comes from, and how to read its values."""

    table: Table
    sources: dict[str, str]  # canonical column -> file column
    constants: dict[str, str]  # canonical column -> constant text
    number_lines: bool  # the table's line column is numbered per document, in file order
    date_format: str | None
    decimal_comma: bool
    latest_event: date = date.max  # event dates (invoice_date...) later than this are typos


def plan_for(source: Source, spec: Table, mapping: Mapping | None) -> Plan:
    """Match the file's columns to the table's; refuse the file when a required one is absent."""
    wanted = dict(mapping.columns) if mapping else {}
    constants = dict(mapping.constants) if mapping else {}
    found: dict[str, str] = {}
    missing: list[str] = []
    for col in spec.column_names:
        if col in constants:
            continue
        _refuse_repeated_column(source, wanted.get(col, col), col)
        name = _find_column(source, wanted.get(col, col))
        if name is not None:
            found[col] = name
        elif col in wanted or col in spec.required_columns:
            missing.append(col)
    if missing:
        raise LoadRefused(_missing_message(source, missing, wanted))
    line = spec.line_column
    number_lines = line is not None and line not in found and line not in constants
    return Plan(
        spec,
        found,
        constants,
        number_lines,
        mapping.date_format if mapping else None,
        mapping.decimal_comma if mapping else False,
        date.today() + timedelta(days=FUTURE_DAYS),
    )


def _find_column(source: Source, name: str) -> str | None:
    """The file's column called `name`: exactly, else ignoring case and surrounding spaces."""
    if name in source.columns:
        return name
    key = name.strip().lower()
    matches = [c for c in source.columns if c.strip().strip("\ufeff").strip().lower() == key]
    if len(matches) > 1:
        raise LoadRefused(f"{source.path}: several columns are named '{name}': {matches}")
    return matches[0] if matches else None


def _normal(name: str) -> str:
    return name.strip().strip("\ufeff").strip().lower()


def _refuse_repeated_column(source: Source, name: str, col: str) -> None:
    """Refuse a file whose header names the column wanted more than once: which of them
    holds the values cannot be told, and taking the first would be a silent guess."""
    header = source.first_rows[0] if source.first_rows else source.columns
    places = [n for n, h in enumerate(header, start=1) if _normal(h) == _normal(name)]
    if len(places) > 1:
        where = " and ".join(f"{n} ('{header[n - 1]}')" for n in places)
        raise LoadRefused(
            f"{source.path}, header ({source.header_at}): columns {where} are all named "
            f"'{name}', so which one holds {col} cannot be told; rename or delete the others"
        )


def _missing_message(source: Source, missing: list[str], wanted: dict[str, str]) -> str:
    named = [f"{c} (mapped from '{wanted[c]}')" if c in wanted else c for c in missing]
    shown = ", ".join(repr(c) for c in source.columns[:40]) or "none (no header row)"
    more = f" and {len(source.columns) - 40} more" if len(source.columns) > 40 else ""
    hint = source.hint + _header_further_down(source, [wanted.get(c, c) for c in missing])
    one = len(source.columns) == 1 and re.search(r"[;\t|,]", source.columns[0])
    if source.kind == "CSV" and one:
        hint += " (one column only: is the delimiter right? set `delimiter` in the mapping)"
    return (
        f"{source.path}, header ({source.header_at}): missing required "
        f"column{'s' * (len(missing) > 1)} {', '.join(named)}; columns found: "
        f"{shown}{more}{hint}"
    )


def _header_further_down(source: Source, names: list[str]) -> str:
    """' (the column names are on line 3: ...)' when a later row holds every missing name,
    as when a title (often merged cells) sits above the header."""
    wanted = {_normal(n) for n in names}
    for number, row in enumerate(source.first_rows[1:], start=2):
        if wanted <= {_normal(v) for v in row}:
            return (
                f" (the column names are on {source.line_label} {number}: delete the "
                f"{number - 1} title row{'s' * (number > 2)} above them and load again)"
            )
    return ""
