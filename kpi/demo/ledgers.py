"""The demo's tables drawn from the lines: monthly budgets, stock snapshots and the
savings-initiative ledger with the volume each initiative was sized on."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from kpi.demo.arrays import (
    AS_OF_DAY,
    back_to_weekday,
    date_series,
    day_number,
    document_numbers,
    month_starts,
    year_of,
)
from kpi.demo.initiatives import Plan, category_wide_row
from kpi.demo.masters import Fx, Master, to_eur
from kpi.demo.reference import (
    CATEGORIES,
    COST_CENTRES,
    CURRENCIES,
    FIRST_DAY,
    HORIZON,
    LOCATIONS,
    N_MONTHS,
    QTY_SIGMA,
    USD_COST_CENTRE,
    YEARS,
)
from kpi.demo.transactions import Lines, expected_lines, seasonality


# ---- budgets ------------------------------------------------------------------------------
def budgets_table(rng: np.random.Generator, m: Master, ln: Lines, fx: Fx) -> pl.DataFrame:
    """Monthly budgets per cost centre and category: the planned run-rate of each year's
    regular buying (the FY2026 surge of invoices with no PO at CC-3030 was never planned)."""
    planned = ~ln.doc_surge[ln.doc]
    doc = ln.doc[planned]
    eur = to_eur(fx, ln.cents[planned], m.sup_cur[ln.doc_sup[doc]], ln.doc_day[doc])
    n_cat, n_cc = len(CATEGORIES), len(COST_CENTRES)
    key = (ln.doc_cc[doc] * n_cat + ln.doc_cat[doc]) * 4 + (year_of(ln.doc_day[doc]) - 2023)
    total = np.bincount(key, weights=eur, minlength=n_cc * n_cat * 4)
    cell = np.flatnonzero(total > 0)
    cc, cat, year = cell // (n_cat * 4), (cell // 4) % n_cat, cell % 4
    yearly = total[cell] * rng.uniform(0.97, 1.09, len(cell))
    season = np.array([seasonality(c.name) for c in CATEGORIES])
    season /= season.sum(axis=1, keepdims=True)
    monthly = yearly[:, None] * season[cat]
    # the USD cost centre plans in dollars, at the first rate of each fiscal year
    usd = CURRENCIES.index("USD")
    in_usd = cc == [c for c, _ in COST_CENTRES].index(USD_COST_CENTRE)
    first_days = np.array([day_number(date(y, 1, 2)) for y in YEARS]) - fx.first_day
    monthly = np.where(in_usd[:, None], monthly / fx.daily[usd, first_days[year]][:, None], monthly)
    cents = (np.round(monthly / 100.0) * 10_000).astype(np.int64).ravel()
    periods = pl.Series([f"{y}-{mo:02d}" for y in YEARS for mo in range(1, 13)])
    return pl.DataFrame(
        {
            "period": periods.gather(np.repeat(year * 12, 12) + np.tile(np.arange(12), len(cell))),
            "cost_centre": pl.Series([c for c, _ in COST_CENTRES]).gather(np.repeat(cc, 12)),
            "category": pl.Series(m.cat_names).gather(np.repeat(cat, 12)),
            "amount": cents,
            "currency": pl.Series(["EUR", "USD"]).gather(np.repeat(in_usd.astype(int), 12)),
        }
    )


# ---- inventory ----------------------------------------------------------------------------
def usage_per_day(m: Master, ln: Lines) -> np.ndarray:
    """Expected consumption of each item per day at this scale (what the lines imply)."""
    per_cat = expected_lines(ln.scale).sum(axis=1)
    pc = m.item_cat[m.pair_item]
    weight_in_cat = np.bincount(pc, weights=m.pair_w, minlength=len(CATEGORIES))
    lines = per_cat[pc] * m.pair_w / weight_in_cat[pc]
    qty = lines * m.item_q0[m.pair_item] * np.exp(QTY_SIGMA**2 / 2)
    days = day_number(HORIZON) - day_number(FIRST_DAY) + 1
    return np.bincount(m.pair_item, weights=qty, minlength=len(m.item_id)) / days


def inventory_table(
    rng: np.random.Generator, m: Master, ln: Lines, plan: Plan, fx: Fx
) -> tuple[pl.DataFrame, np.ndarray]:
    """Month-end stock of the stocked items at two or three locations, and the safety stock
    of every item (milli-units; -1 where the item is not stocked)."""
    usage = usage_per_day(m, ln)
    items = np.flatnonzero(m.item_stocked)
    n_loc = np.where(rng.random(len(items)) < 0.4, 3, 2)
    locs = rng.permuted(np.tile(np.arange(3), (len(items), 1)), axis=1)
    held = np.arange(3)[None, :] < n_loc[:, None]
    il_item = np.repeat(items, n_loc)
    il_loc = locs[held]
    weight = rng.uniform(0.5, 1.5, len(il_item))
    weight /= np.bincount(il_item, weights=weight, minlength=len(m.item_id))[il_item]
    rate = usage[il_item] * weight
    unit = np.where(m.item_qdec[il_item] > 0, 0.001, 1.0)
    spare = m.item_spare[il_item]

    per_loc = usage[items] / n_loc
    safety_item = np.ceil(per_loc * np.minimum(m.item_lead[items], 30) * 0.5)
    safety_item = np.where(
        m.item_spare[items], rng.choice([1, 2, 2, 3, 4], len(items)), np.maximum(safety_item, 1)
    )
    safety_of = np.full(len(m.item_id), -1.0)
    safety_of[items] = safety_item
    safety = safety_of[il_item]
    order = np.maximum(unit, rate * 30)
    max_stock = safety + np.ceil(order * 1.3)

    snaps = month_starts(N_MONTHS)[1:47] - 1  # month ends 2023-01 .. 2026-10
    n_il, n_s = len(il_item), len(snaps)
    shape = (n_il, n_s)
    issued = np.round(rate[:, None] * 90 * rng.uniform(0.75, 1.25, shape) / unit[:, None])
    issued *= unit[:, None]
    on_hand = safety[:, None] + np.round(order[:, None] * rng.uniform(0.15, 1.1, shape))
    # some locations over-order for a while: excess over the maximum
    spell = rng.random(n_il) < 0.08
    from_s = rng.integers(0, n_s - 4, n_il)
    length = rng.integers(4, 10, n_il)
    s_idx = np.arange(n_s)[None, :]
    in_spell = spell[:, None] & (s_idx >= from_s[:, None]) & (s_idx < (from_s + length)[:, None])
    on_hand = np.where(
        in_spell, np.round(max_stock[:, None] * rng.uniform(1.3, 2.0, shape)), on_hand
    )
    last = _last_issue(rng, issued, snaps)

    # phased-out items: issues stop, the rest of the stock stays (obsolete after 180 days)
    stop = m.item_stop[il_item]
    after = snaps[None, :] >= stop[:, None]
    left = 1.0 - np.clip((snaps[None, :] - stop[:, None]) / 90.0, 0.0, 1.0)
    issued = np.where(after, np.round(issued * left), issued)
    last = np.where(after, np.minimum(last, (stop - rng.integers(1, 6, n_il))[:, None]), last)
    stranded = safety + np.round(order * rng.uniform(0.8, 2.5, n_il)) + 1
    stranded = np.where(il_item % 2 == 0, safety, stranded)  # half left at safety level
    on_hand = np.where(after, stranded[:, None], on_hand)

    # story 3: critical spares rarely move, and sit at (or just below) their safety stock
    events = _spare_issues(rng, n_il)
    sp_last, sp_issued, sp_short = _spare_history(events, snaps, m.item_lead[il_item])
    extra = np.where(rng.random(n_il) < 0.2, rng.integers(1, 4, n_il), 0)  # a few overstocked
    sp_on_hand = np.maximum(safety[:, None] - sp_short + extra[:, None], 0)
    issued = np.where(spare[:, None], sp_issued, issued)
    last = np.where(spare[:, None], sp_last, last)
    on_hand = np.where(spare[:, None], sp_on_hand, on_hand)
    max_stock = np.where(spare, safety + 1, max_stock)

    cost = _unit_cost_eur(m, plan, fx, il_item, snaps)
    flat = np.arange(n_il * n_s)
    il, s = flat // n_s, flat % n_s
    frame = pl.DataFrame(
        {
            "snapshot_date": date_series(snaps[s]),
            "item_id": pl.Series(m.item_id).gather(il_item[il]),
            "location": pl.Series(LOCATIONS).gather(il_loc[il]),
            "on_hand_qty": np.round(on_hand.ravel() * 1000).astype(np.int64),
            "unit_cost": cost.ravel(),
            "currency": np.full(len(flat), "EUR"),
            "safety_stock_qty": np.round(safety[il] * 1000).astype(np.int64),
            "max_stock_qty": np.round(max_stock[il] * 1000).astype(np.int64),
            "last_issue_date": date_series(last.ravel()),
            "issued_qty_90d": np.round(issued.ravel() * 1000).astype(np.int64),
        }
    )
    safety_milli = np.where(safety_of >= 0, np.round(safety_of * 1000), -1).astype(np.int64)
    return frame, safety_milli


def _last_issue(rng: np.random.Generator, issued: np.ndarray, snaps: np.ndarray) -> np.ndarray:
    """Day of the last issue at each snapshot: days ago when stock moved, else carried on."""
    n_il, n_s = issued.shape
    last = np.empty(issued.shape, dtype=np.int64)
    prev = snaps[0] - rng.integers(20, 200, n_il)
    for s in range(n_s):  # one step per month, all locations at once
        recent = back_to_weekday(snaps[s] - rng.integers(0, 12, n_il))
        prev = np.where(issued[:, s] > 0, recent, prev)
        last[:, s] = prev
    return last


def _spare_issues(rng: np.random.Generator, n: int) -> np.ndarray:
    """Up to two issue days per location (2023-2025), and one in 2021-2022 before them."""
    early = rng.integers(day_number(date(2021, 1, 1)), day_number(date(2022, 12, 31)), n)
    later = rng.integers(day_number(date(2023, 3, 1)), day_number(date(2025, 12, 31)), (n, 2))
    later = np.where(rng.random((n, 2)) < 0.45, later, early[:, None])
    return back_to_weekday(np.c_[early, later])


def _spare_history(
    events: np.ndarray, snaps: np.ndarray, lead: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Last issue, issues in the last 90 days and units short (awaiting replenishment)."""
    ev = events[:, :, None]
    sn = snaps[None, None, :]
    seen = ev <= sn
    last = np.where(seen, ev, 0).max(axis=1)
    recent = (seen & (sn - ev < 90)).sum(axis=1)
    short = (seen & (sn - ev < lead[:, None, None])).any(axis=1).astype(int)
    return last, recent, short


def _unit_cost_eur(
    m: Master, plan: Plan, fx: Fx, il_item: np.ndarray, snaps: np.ndarray
) -> np.ndarray:
    """Stock valued at the main supplier's price of the day, in EUR (1/10,000)."""
    main = np.full(len(m.item_id), -1)
    main[m.pair_item[m.pair_main]] = np.flatnonzero(m.pair_main)
    pair = main[il_item][:, None]
    year = np.clip(year_of(snaps) - 2023, 0, 3)[None, :]
    price = np.where(
        snaps[None, :] >= plan.price_from[pair], plan.price_new[pair], m.pair_price[pair, year]
    )
    rate = fx.daily[m.sup_cur[m.pair_sup[pair]], snaps[None, :] - fx.first_day]
    return np.round(price * rate).astype(np.int64)


# ---- the savings-initiative ledger -----------------------------------------------------------
def savings_table(m: Master, ln: Lines, plan: Plan, usage: np.ndarray) -> pl.DataFrame:
    """The initiatives, with the volume they were sized on (the year before they start)."""
    order = np.argsort(ln.pair, kind="stable")
    pairs = ln.pair[order]
    days = ln.doc_day[ln.doc][order]
    qty = ln.qty[order]
    volume = np.zeros(len(plan.pair))
    for j, (p, s) in enumerate(zip(plan.pair, plan.start, strict=True)):
        lo, hi = np.searchsorted(pairs, p, "left"), np.searchsorted(pairs, p, "right")
        d = days[lo:hi]
        seen = np.minimum(s, AS_OF_DAY)
        volume[j] = qty[lo:hi][(d < seen) & (d >= seen - 365)].sum() / 1000
    fallback = usage[m.pair_item[plan.pair]] * 365
    unit = np.where(m.item_qdec[m.pair_item[plan.pair]] > 0, 0.001, 1.0)
    volume = np.where(volume > 0, volume, np.maximum(unit, np.round(fallback / unit) * unit))
    volume = np.where(
        plan.kind == "demand_reduction", np.round(volume * 0.75 / unit) * unit, volume
    )
    numbers, rank = document_numbers("SI", plan.start, plan.pair, width=3)
    ids = numbers.gather(rank)
    sup = m.pair_sup[plan.pair]
    item = m.pair_item[plan.pair]
    frame = pl.DataFrame(
        {
            "initiative_id": ids,
            "title": plan.title,
            "kind": plan.kind,
            "category": pl.Series(m.cat_names).gather(m.item_cat[item]),
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "item_id": pl.Series(m.item_id).gather(item),
            "baseline_unit_price": plan.baseline,
            "quoted_unit_price": plan.quoted,
            "negotiated_unit_price": plan.negotiated,
            "expected_volume": np.round(volume * 1000).astype(np.int64),
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[sup]),
            "start_date": date_series(plan.start),
            "end_date": date_series(np.maximum(plan.end, 0), plan.end < 0),
            "owner": plan.owner,
            "stage": plan.stage,
            "finance_status": plan.status,
            "finance_note": pl.Series(plan.note, dtype=pl.String),
        }
    )
    # the category-wide initiative (kpi.demo.initiatives): sized on its pairs' spend the
    # year before it starts
    wide = np.isin(ln.pair[order], plan.wide["pairs"]) & (days < plan.wide["start"])
    wide &= days >= plan.wide["start"] - 365
    spend_before = ln.cents[order][wide].sum() / 100
    extra = pl.DataFrame([category_wide_row(m, plan, spend_before)])
    return pl.concat([frame, extra], how="diagonal_relaxed").sort("initiative_id")
