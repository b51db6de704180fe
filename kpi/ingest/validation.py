"""Checking rows: every value cast to its canonical type, vectorised over a batch, and each
rejected row given every reason it was refused (duplicates of an earlier key included)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from kpi.core.currencies import CURRENCIES
from kpi.ingest.matching import FUTURE_DAYS, Plan
from kpi.ingest.readers import ROW, Source
from kpi.store.schema import DECIMAL_PLACES, TEXT_MAX_CHARS, Column, Table

_S = "_kpi_s:"  # prefix of a canonical column's cleaned source text


# ---- checking rows -----------------------------------------------------------------------
_TYPES: dict[str, pl.DataType] = {
    "money": pl.Decimal(18, 2),
    "price": pl.Decimal(18, 4),
    "qty": pl.Decimal(18, 3),
    "pct": pl.Decimal(9, 4),
    "rate": pl.Decimal(18, 8),
}
_BOOLS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "y": True,
    "n": False,
}
_SORTED_CURRENCIES = sorted(CURRENCIES)
_EARLIEST, _LATEST = date(1900, 1, 1), date(2199, 12, 31)  # outside: a typo, not a date
# Event dates later than FUTURE_DAYS from today are typos (kpi.ingest.matching says why).
EVENT_DATES = frozenset(
    ["invoice_date", "paid_date", "po_date", "approved_date", "receipt_date", "snapshot_date"]
    + ["last_issue_date"]
)
# An id column that must name a row of its master table, once that table holds any rows
# (before the first supplier is loaded, an invoice's supplier cannot be judged).
REFERENCES = {"supplier_id": "suppliers", "item_id": "items"}
_HAS_FAST_PATH = set(_TYPES) | {"int"}


def _cleaned(plan: Plan, col: str) -> pl.Expr:
    """A canonical column's text: trimmed (no-break spaces too), empty as missing."""
    if col in plan.constants:
        text = pl.lit(plan.constants[col], pl.String)
    elif col in plan.sources:
        text = pl.col(plan.sources[col]).cast(pl.String)
    else:
        return pl.lit(None, pl.String).alias(_S + col)
    return text.str.strip_chars().replace("", None).alias(_S + col)


def _number_text(s: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """'1.234,56' / '1,234.56' / '12.5-' as '1234.56' / '-12.5'; missing when not a number."""
    group, point = (".", ",") if decimal_comma else (",", ".")
    g, p = re.escape(group), re.escape(point)
    number = rf"(?:(?:\d+|\d{{1,3}}(?:{g}\d{{3}})+)(?:{p}\d*)?|{p}\d+)"
    shaped = s.str.contains(rf"^(?:[+-]?{number}|{number}-)$")
    text = s.str.replace_all(group, "", literal=True)
    if decimal_comma:
        text = text.str.replace(",", ".", literal=True)
    trailing_minus = text.str.ends_with("-")
    text = pl.when(trailing_minus).then("-" + text.str.strip_suffix("-")).otherwise(text)
    return pl.when(shaped).then(text)


def _fits(kind: str) -> str:
    """Pattern of a normalised number that fits the kind's DECIMAL(p, s) without rounding."""
    dtype = _TYPES[kind]
    places = DECIMAL_PLACES[kind]
    whole = dtype.precision - places  # type: ignore[attr-defined]
    return rf"^[+-]?0*\d{{0,{whole}}}(?:\.\d{{0,{places}}}0*)?$"


def _typed(col: Column, s: pl.Expr, plan: Plan, fast: bool = False) -> pl.Expr:
    """The column's value in its canonical type; missing when the text does not qualify.

    `fast` reads numbers the way most files write them ('-1234.5'; '1234,5' with a decimal
    comma) and whole numbers without decoration; a value written otherwise comes out
    missing, and the caller then reads the column again without `fast`.
    """
    kind = col.kind
    if kind in _TYPES:
        if fast and plan.decimal_comma:  # '1234,5' only: a point is a thousands separator
            text = pl.when(~s.str.contains(".", literal=True)).then(s.str.replace(",", "."))
        elif fast:
            text = s
        else:
            text = _number_text(s, plan.decimal_comma)
        value = pl.when(text.str.contains(_fits(kind))).then(text)
        return value.cast(_TYPES[kind], strict=False)
    if kind == "int":
        if fast:
            return s.cast(pl.Int32, strict=False)
        whole = pl.when(s.str.contains(r"^[+-]?\d{1,12}(?:\.0*)?$")).then(
            s.str.replace(r"\.0*$", "")
        )
        return whole.cast(pl.Int32, strict=False)
    if kind == "date":
        value = s.str.to_date("%Y-%m-%d", strict=False)
        if plan.date_format:
            value = pl.coalesce(s.str.to_date(plan.date_format, strict=False), value)
        return pl.when(value.is_between(_EARLIEST, _LATEST)).then(value)
    if kind == "bool":
        return s.str.to_lowercase().replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
    if kind == "currency":
        upper = s.str.to_uppercase()
        return pl.when(upper.is_in(_SORTED_CURRENCIES)).then(upper)
    if kind == "month":
        return pl.when(s.str.contains(r"^\d{4}-(?:0[1-9]|1[0-2])$")).then(s)
    if kind == "quarter":
        upper = s.str.to_uppercase()
        return pl.when(upper.str.contains(r"^FY\d{4}-Q[1-4]$")).then(upper)
    if col.choices:
        lower = s.str.to_lowercase()
        return pl.when(lower.is_in(list(col.choices))).then(lower)
    return s


Known = dict[str, pl.Series]  # referring column -> the ids its master table holds


def _bad(col: Column, s: pl.Expr, value: pl.Expr, plan: Plan, known: Known) -> pl.Expr:
    """True where the column makes its row unloadable."""
    bad = s.is_not_null() & value.is_null()
    if col.required:
        bad = bad | s.is_null()
    if col.nonneg:
        bad = bad | (value < 0).fill_null(False)
    for broken, _reason_text in _limits(col, s, value, plan, known):
        bad = bad | broken.fill_null(False)
    return bad


def _problem(col: Column, s: pl.Expr, value: pl.Expr, plan: Plan, known: Known) -> pl.Expr:
    """What is wrong with the column on a rejected row, in words (missing when nothing)."""

    def says(text: str) -> pl.Expr:
        return _says(col, s, text)

    missing = pl.lit(f"{col.name} is missing")
    out = pl.when(s.is_null()).then(missing if col.required else None)
    if col.kind in _TYPES:
        text = _number_text(s, plan.decimal_comma)
        places = DECIMAL_PLACES[col.kind]
        fraction = text.str.extract(r"\.(\d*?)0*$").str.len_chars().fill_null(0)
        if not plan.decimal_comma:
            comma = text.is_null() & s.str.contains(_DECIMAL_COMMA)
            out = out.when(comma).then(says(f"is not a number ({_COMMA_HINT})"))
        out = out.when(text.is_null()).then(says("is not a number"))
        out = out.when(fraction > places).then(says(f"has more than {places} decimal places"))
        out = out.when(value.is_null()).then(says("is too large"))
    else:
        if col.kind == "date" and not plan.date_format:
            either = value.is_null() & s.str.contains(_DAY_OR_MONTH_FIRST)
            out = out.when(either).then(says(f"is not a date (expected YYYY-MM-DD; {_ORDER_HINT})"))
        out = out.when(value.is_null()).then(says(_expected(col, plan)))
    if col.nonneg:
        out = out.when(value < 0).then(says("is negative (must be 0 or more)"))
    for broken, reason in _limits(col, s, value, plan, known):
        out = out.when(broken).then(reason)
    return out.otherwise(None)


_DECIMAL_COMMA = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+-?$"  # 12,50 / 1.234,56 / 250,00-
_COMMA_HINT = "a decimal comma? set `decimal_comma: true` in the mapping"
_DAY_OR_MONTH_FIRST = r"^(?:0?[1-9]|1[0-2])[./-](?:0?[1-9]|1[0-2])[./-]\d{2,4}$"  # 03/04/2026
_ORDER_HINT = "day or month first cannot be told: set date_format in the mapping, e.g. '%d/%m/%Y'"
_SHOWN_CHARS = 80  # a value quoted in a reason is cut to this, with '...' saying so


def _says(col: Column, s: pl.Expr, text: str) -> pl.Expr:
    """ "<column> '<value>' <text>", a very long value shown by its start."""
    shown = pl.when(s.str.len_chars() > _SHOWN_CHARS).then(
        s.str.slice(0, _SHOWN_CHARS - 3) + pl.lit("...")
    )
    quoted = pl.lit("'") + shown.otherwise(s) + pl.lit("'")
    return pl.concat_str(pl.lit(f"{col.name} "), quoted, pl.lit(f" {text}"))


def _limits(
    col: Column, s: pl.Expr, value: pl.Expr, plan: Plan, known: Known
) -> list[tuple[pl.Expr, pl.Expr]]:
    """Rules beyond the column's type, as (where broken, the reason): a text too long to be
    one value, an event date too far ahead to have happened, an id its master table lacks."""
    rules = []
    if col.kind == "text":
        length = s.str.len_chars()
        too_long = pl.concat_str(
            pl.lit(f"{col.name} is "),
            _thousands(length),
            pl.lit(f" characters long (at most {TEXT_MAX_CHARS:,}; nothing is cut)"),
        )
        rules.append((length > TEXT_MAX_CHARS, too_long))
    if col.name in EVENT_DATES:
        limit = plan.latest_event.isoformat()
        ahead = f"is too far in the future (after {limit}, {FUTURE_DAYS} days from today)"
        rules.append((value > plan.latest_event, _says(col, s, ahead)))
    if col.name in known:
        master = REFERENCES[col.name]
        unknown = s.is_not_null() & ~s.is_in(known[col.name].implode())
        hint = f"is not in the {master} table (load it there first, then this file with --force)"
        rules.append((unknown, _says(col, s, hint)))
    return rules


def _expected(col: Column, plan: Plan) -> str:
    if col.kind == "date":
        fmt = plan.date_format
        human = _human_date_format(fmt) if fmt else "YYYY-MM-DD"
        return f"is not a date (expected {human})"
    return {
        "int": "is not a whole number",
        "bool": "is not a yes/no value (expected true/false, yes/no, y/n or 1/0)",
        "currency": "is not a known ISO 4217 currency code (e.g. EUR, USD)",
        "month": "is not a month (expected YYYY-MM)",
        "quarter": "is not a fiscal quarter (expected e.g. FY2026-Q1)",
    }.get(col.kind) or f"is not one of {', '.join(col.choices)}"


def _human_date_format(fmt: str) -> str:
    for code, human in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%e", "D")):
        fmt = fmt.replace(code, human)
    return fmt


@dataclass
class FileState:
    """What one batch must know about the batches before it."""

    lines_so_far: pl.DataFrame | None = None  # document -> lines numbered so far
    seen_keys: pl.DataFrame | None = None  # key hashes -> row the key first appeared on
    store_had_rows: bool = False
    known: Known = field(default_factory=dict)  # ids the master tables hold, per column


def check_batch(
    raw: pl.DataFrame, plan: Plan, state: FileState, source: Source
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Split a batch of raw rows into typed rows to load (each keeping its data row number
    ROW, for its lineage) and rejects with their reasons; also count the rows that hold
    nothing but spaces (they are not rows)."""
    spec = plan.table
    checked = [c for c in spec.columns if not (plan.number_lines and c.name == spec.line_column)]
    texts = raw.select(ROW, *[_cleaned(plan, c.name) for c in spec.columns])
    typed = _typed_columns(texts, plan, checked)
    if plan.number_lines:
        typed = _number_lines(typed, spec, state)
    bad = typed.select(
        pl.any_horizontal(
            _bad(c, pl.col(_S + c.name), pl.col(c.name), plan, state.known) for c in checked
        )
    ).to_series()
    duplicate_of = _duplicate_of(typed, spec, state, plan)
    refused = bad if duplicate_of is None else bad | duplicate_of.is_not_null()
    if not refused.any():
        return typed.select(*spec.column_names, ROW), _no_rejects(), 0
    valid = typed.filter(~refused).select(*spec.column_names, ROW)
    bad_rows = typed.filter(refused)
    if duplicate_of is None:
        bad_rows = bad_rows.with_columns(pl.lit(None, pl.Int64).alias("_kpi_dup"))
    else:
        bad_rows = bad_rows.with_columns(duplicate_of.filter(refused).alias("_kpi_dup"))
    raw_rows = raw.filter(refused)
    spaces = raw_rows.select(
        pl.all_horizontal(pl.exclude(ROW).str.strip_chars().fill_null("") == "")
    ).to_series()
    if spaces.any():
        bad_rows, raw_rows = bad_rows.filter(~spaces), raw_rows.filter(~spaces)
    reasons = bad_rows.select(
        pl.col(ROW).cast(pl.Int64).alias("row_number"),
        raw_rows.select(pl.struct(pl.exclude(ROW)).struct.json_encode())
        .to_series()
        .alias("raw_row"),
        _reason(spec, plan, checked, source, state.known).alias("reason"),
    )
    return valid, reasons, int(spaces.sum())


def _typed_columns(texts: pl.DataFrame, plan: Plan, checked: list[Column]) -> pl.DataFrame:
    """The checked columns in their types: the fast reading first, the full one where needed."""
    typed = (
        texts.lazy()
        .with_columns(
            _typed(c, pl.col(_S + c.name), plan, fast=True).alias(c.name) for c in checked
        )
        .collect()
    )
    again = [c for c in checked if c.kind in _HAS_FAST_PATH]
    if again:
        lost = typed.select(
            (pl.col(_S + c.name).is_not_null() & pl.col(c.name).is_null()).any().alias(c.name)
            for c in again
        ).row(0, named=True)
        again = [c for c in again if lost[c.name]]
    if again:
        typed = (
            typed.lazy()
            .with_columns(_typed(c, pl.col(_S + c.name), plan).alias(c.name) for c in again)
            .collect()
        )
    return typed


def _reason(
    spec: Table, plan: Plan, checked: list[Column], source: Source, known: Known
) -> pl.Expr:
    problems = [_problem(c, pl.col(_S + c.name), pl.col(c.name), plan, known) for c in checked]
    key = ", ".join(spec.key)
    problems.append(
        pl.when(pl.col("_kpi_dup").is_not_null()).then(
            pl.concat_str(
                pl.lit("duplicate of row "),
                _thousands(pl.col("_kpi_dup")),
                pl.lit(f" (same {key})"),
            )
        )
    )
    where = pl.concat_str(pl.lit("row "), _thousands(pl.col(ROW)))
    if source.line_label:
        line = _thousands(pl.col(ROW) + 1)
        where = pl.concat_str(where, pl.lit(f" ({source.line_label} "), line, pl.lit(")"))
    return pl.concat_str(
        where, pl.lit(": "), pl.concat_str(problems, separator="; ", ignore_nulls=True)
    )


def _thousands(n: pl.Expr) -> pl.Expr:
    """1204 as '1,204' (vectorised; up to 999,999,999,999)."""
    n = n.cast(pl.Int64)

    def group(k: int) -> pl.Expr:
        return pl.concat_str(pl.lit(","), (n // 10**k % 1000).cast(pl.String).str.zfill(3))

    out = n.cast(pl.String)
    for digits in (9, 6, 3):
        head = pl.concat_str(
            [(n // 10**digits).cast(pl.String)] + [group(k) for k in range(digits - 3, -1, -3)]
        )
        out = pl.when(n >= 10**digits).then(head).otherwise(out)
    return out


def _key_hash(columns: list[str]) -> list[pl.Expr]:
    """Two independent 64-bit hashes of a key: together they stand for the key across batches
    (a false match among 10 million keys has odds below 1 in 10^24), at 16 bytes a row."""
    key = pl.struct(columns)
    return [key.hash(seed=1).alias("_kpi_h1"), key.hash(seed=2).alias("_kpi_h2")]


_HASHES = ["_kpi_h1", "_kpi_h2"]


def _number_lines(typed: pl.DataFrame, spec: Table, state: FileState) -> pl.DataFrame:
    """Number each document's lines 1, 2, 3... in file order, continuing across batches."""
    line, doc = spec.line_column, spec.key[0]
    assert line is not None
    frame = typed.select(doc, *_key_hash([doc])).with_columns(
        pl.when(pl.col(doc).is_not_null()).then(pl.col(doc).cum_count().over(doc)).alias(line)
    )
    if state.lines_so_far is not None:
        frame = frame.join(state.lines_so_far, on=_HASHES, how="left", maintain_order="left")
        frame = frame.with_columns(pl.col(line) + pl.col("_kpi_before").fill_null(0))
    counts = (
        frame.filter(pl.col(doc).is_not_null())
        .group_by(_HASHES)
        .agg(pl.col(line).max().alias("_kpi_before"))
    )
    if state.lines_so_far is not None:
        counts = pl.concat([state.lines_so_far, counts])
        counts = counts.group_by(_HASHES).agg(pl.max("_kpi_before"))
    state.lines_so_far = counts
    return typed.with_columns(frame.get_column(line).cast(pl.Int32))


def _duplicate_of(
    typed: pl.DataFrame, spec: Table, state: FileState, plan: Plan
) -> pl.Series | None:
    """For each row repeating an earlier row's key (in this batch or before), that row's
    number; None when no row does."""
    key = list(spec.key)
    if plan.number_lines and key[-1] == spec.line_column:
        return None  # numbered lines make every key unique
    frame = typed.select(ROW, *_key_hash(key))
    if any(typed.get_column(k).null_count() for k in key):
        frame = frame.filter(pl.all_horizontal(typed.get_column(k).is_not_null() for k in key))
    h1 = frame.get_column("_kpi_h1")
    maybe = h1.is_duplicated()
    seen = state.seen_keys
    earlier = None
    if seen is not None:
        earlier = seen.filter(pl.col("_kpi_h1").is_in(h1.implode()))
        if earlier.height:
            maybe = maybe | h1.is_in(earlier.get_column("_kpi_h1").implode())
    firsts = frame.select(*_HASHES, pl.col(ROW).cast(pl.Int64).alias("_kpi_seen"))
    dups = None
    if maybe.any():
        candidates = frame.filter(maybe).select(ROW, *_HASHES)
        pool = candidates.select(*_HASHES, pl.col(ROW).cast(pl.Int64).alias("_kpi_seen"))
        if earlier is not None and earlier.height:
            pool = pl.concat([earlier, pool])
        first = pool.group_by(_HASHES).agg(pl.col("_kpi_seen").min())
        dups = candidates.join(first, on=_HASHES).filter(pl.col("_kpi_seen") < pl.col(ROW))
        dups = dups.select(ROW, pl.col("_kpi_seen").alias("_kpi_dup"))
        firsts = firsts.filter(~pl.col("_kpi_seen").is_in(dups.get_column(ROW).implode()))
    state.seen_keys = firsts if seen is None else pl.concat([seen, firsts])
    if dups is None or dups.height == 0:
        return None
    out = typed.select(ROW).join(dups, on=ROW, how="left", maintain_order="left")
    return out.get_column("_kpi_dup")


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={"row_number": pl.Int64, "raw_row": pl.String, "reason": pl.String})
