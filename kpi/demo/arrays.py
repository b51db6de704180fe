"""Whole-array tools of the demo: days as integers since 1970, weighted picks, exact price
and money arithmetic, document numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from kpi.demo.reference import AS_OF

_EPOCH = date(1970, 1, 1)


# ---- dates as whole days since 1970-01-01 -------------------------------------------------
def day_number(d: date) -> int:
    """A date as whole days since 1970-01-01, the demo's unit of time."""
    return (d - _EPOCH).days


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday 0 ... Sunday 6, for each day."""
    return (days + 3) % 7  # Monday 0 ... Sunday 6


def back_to_weekday(days: np.ndarray) -> np.ndarray:
    """Each day, or the Friday before when it falls on a weekend."""
    wd = weekday(days)
    return days - np.where(wd == 5, 1, np.where(wd == 6, 2, 0))


def on_to_weekday(days: np.ndarray) -> np.ndarray:
    """Each day, or the Monday after when it falls on a weekend."""
    wd = weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def nearest_weekday(days: np.ndarray) -> np.ndarray:
    """Each day, moved off a weekend to the nearer weekday."""
    wd = weekday(days)
    return days + np.where(wd == 5, -1, np.where(wd == 6, 1, 0))


def workdays(days: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
    """`offset` working days (Monday to Friday) on from each day (back when negative),
    counted from the working day on or before it."""
    d = np.asarray(days).astype("datetime64[D]")
    return np.busday_offset(d, offset, roll="backward").astype(np.int64)


def year_of(days: np.ndarray) -> np.ndarray:
    """The calendar year of each day."""
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def month_index(days: np.ndarray) -> np.ndarray:
    """Month index: 0 = January 2023."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - 636


def month_starts(n: int) -> np.ndarray:
    """The first days of n + 1 months from January 2023."""
    return (np.arange(n + 1) + 636).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


AS_OF_DAY = day_number(AS_OF)
LAST_WORKDAY = int(back_to_weekday(np.array([AS_OF_DAY]))[0])


# ---- small array tools --------------------------------------------------------------------
def pick(
    rng: np.random.Generator, option_group: np.ndarray, weight: np.ndarray, draw_group: np.ndarray
) -> np.ndarray:
    """For each draw, the index of one option of the draw's group, chosen by weight."""
    order = np.argsort(option_group, kind="stable")
    groups = option_group[order]
    cum = np.cumsum(weight[order].astype(float))
    n_groups = int(max(groups.max(), draw_group.max())) + 1
    first = np.searchsorted(groups, np.arange(n_groups), side="left")
    stop = np.searchsorted(groups, np.arange(n_groups), side="right")
    base = np.where(first > 0, cum[np.maximum(first - 1, 0)], 0.0)
    total = cum[np.maximum(stop - 1, 0)] - base
    target = base[draw_group] + rng.random(len(draw_group)) * total[draw_group]
    idx = np.searchsorted(cum, target, side="right")
    return order[np.clip(idx, first[draw_group], stop[draw_group] - 1)]


def round_price(price: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Prices in 1/10,000 of a unit, rounded to 2 decimals (or 4 below one unit of currency)."""
    step = 10 ** (4 - decimals)
    return (np.round(price * 10_000 / step) * step).astype(np.int64)


def amount_cents(qty_milli: np.ndarray, price_e4: np.ndarray) -> np.ndarray:
    """round(quantity * unit_price, 2), half away from zero, in exact integer arithmetic."""
    prod = qty_milli * price_e4
    return np.sign(prod) * ((np.abs(prod) + 50_000) // 100_000)


def segment_rank(groups: np.ndarray) -> np.ndarray:
    """1, 2, 3... within runs of equal values of a sorted array."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths) + 1


def date_series(days: np.ndarray, missing: np.ndarray | None = None) -> pl.Series:
    """Days as a polars Date column, missing where `missing` is true."""
    s = pl.Series(days.astype(np.int32)).cast(pl.Date)
    return s.scatter(np.flatnonzero(missing), None) if missing is not None else s


def nullable(values: np.ndarray, missing: np.ndarray) -> pl.Series:
    """Values as a polars column, missing where `missing` is true."""
    return pl.Series(values).scatter(np.flatnonzero(missing), None)


def one_year_on(days: np.ndarray) -> np.ndarray:
    """The day before the same date a year later (a 12-month window)."""
    d = days.astype("datetime64[D]")
    nxt = (d.astype("datetime64[M]") + 12).astype("datetime64[D]") + (
        d - d.astype("datetime64[M]").astype("datetime64[D]")
    )
    return nxt.astype(np.int64) - 1


def document_numbers(
    prefix: str, days: np.ndarray, tiebreak: np.ndarray, width: int = 6
) -> tuple[pl.Series, np.ndarray]:
    """Document numbers like PO-2025-000123, counting up through each year by date (in that
    order), and each document's position in it."""
    order = np.lexsort((tiebreak, days))
    year = year_of(days[order])
    seq = segment_rank(year)
    width = max(width, len(str(int(seq.max()) if len(seq) else 0)))
    numbered = (
        pl.DataFrame({"y": year, "s": seq})
        .select(pl.format(prefix + "-{}-{}", "y", pl.col("s").cast(pl.String).str.zfill(width)))
        .to_series()
    )
    rank = np.empty(len(days), dtype=np.int64)
    rank[order] = np.arange(len(days))
    return numbered, rank
