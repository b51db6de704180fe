"""The demo's savings initiatives (planned before the lines: they set the prices paid) and
the contracts in force, item contracts and framework agreements.

Besides the random initiatives, quarterly renegotiation waves (drawn from their own seed,
so the rest of the demo keeps its draws) keep price savings running in every quarter at
about 1-3 % of addressable spend a year; a third of them have no end date (their savings
count for `savings_window_months` from the start). One category-wide price reduction
(Lab consumables of one supplier, items in packs and pieces) states its change in percent
(price_change_pct), and one entry that overlaps a tender initiative is refused by the
ledger (`refused_overlap`; the demo records the refusal as a rejected row of its load)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from kpi.demo.arrays import (
    AS_OF_DAY,
    date_series,
    day_number,
    month_starts,
    nullable,
    one_year_on,
    round_price,
    year_of,
)
from kpi.demo.masters import Master
from kpi.demo.reference import (
    BUYERS,
    CURRENCIES,
    INITIATIVE_NOTES,
    PACKAGING,
    PACKAGING_TENDER_START,
    STATUS_ODDS,
    VALUE_ADD,
    YEARS,
)


# ---- savings initiatives (planned before the lines: they set the prices paid) -------------
@dataclass
class Plan:
    """The savings initiatives, and per supplier-item pair when its price or demand moves."""

    pair: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray  # -1 = open-ended
    baseline: np.ndarray
    quoted: np.ndarray
    negotiated: np.ndarray
    stage: np.ndarray
    status: np.ndarray
    note: list[str | None]
    title: list[str]
    owner: list[str]
    # per pair, for pricing the lines
    price_from: np.ndarray  # day the negotiated price applies from (huge = never)
    price_new: np.ndarray
    price_old: np.ndarray
    less_from: np.ndarray  # day a demand reduction starts (huge = never)
    # the category-wide price reduction: supplier, category, start day, percent change, pairs
    wide: dict[str, Any] = field(default_factory=dict)


def plan_initiatives(rng: np.random.Generator, m: Master) -> Plan:
    """The packaging tender (story 1) and the other initiatives, with their prices and status."""
    cat_of_pair = m.item_cat[m.pair_item]
    cat = {n: i for i, n in enumerate(m.cat_names)}
    usable = m.pair_main & (m.item_stop[m.pair_item] > 10**5) & ~m.item_spare[m.pair_item]
    taken = np.zeros(len(m.pair_sup), dtype=bool)

    def choose(cats: list[str], n: int, by_weight: bool = True) -> np.ndarray:
        ok = np.flatnonzero(usable & ~taken & np.isin(cat_of_pair, [cat[c] for c in cats]))
        w = m.pair_w[ok] / m.pair_w[ok].sum() if by_weight else None
        out = rng.choice(ok, size=min(n, len(ok)), replace=False, p=w)
        taken[out] = True
        return out

    # story 1: the packaging tender covers the biggest packaging items from 2025-04-01
    pk = np.flatnonzero(usable & (cat_of_pair == cat[PACKAGING]))
    tender = pk[np.argsort(-m.pair_w[pk], kind="stable")][:30]
    taken[tender] = True
    pr = choose(
        list(WAVE_CATEGORIES),  # the categories whose prices procurement negotiates
        50,
    )
    ca = choose(
        [
            "Raw materials",
            "Energy",
            "Logistics",
            "Software",
            "IT hardware",
            "Lab consumables",
            "Professional services",
        ],
        25,
    )
    dr = choose(["Office supplies", "Lab consumables", "Energy", "Facilities"], 10, False)
    va = choose(["MRO spares", "IT hardware", "Logistics", "Facilities"], 10, False)
    pair = np.r_[tender, pr, ca, dr, va]
    kind = np.array(
        ["price_reduction"] * (len(tender) + len(pr))
        + ["cost_avoidance"] * len(ca)
        + ["demand_reduction"] * len(dr)
        + ["value_add"] * len(va)
    )
    n = len(pair)
    months = month_starts(52)  # month starts 2023-01 .. 2027-04
    start = months[rng.integers(3, 51, n)]
    start[: len(tender)] = day_number(PACKAGING_TENDER_START)
    end = np.where(kind == "value_add", -1, one_year_on(start))

    year_before = np.clip(year_of(start - 1) - 2023, 0, 3)
    baseline = m.pair_price[pair, year_before]
    pdec = m.item_pdec[m.pair_item[pair]]
    cut = np.where(
        np.arange(n) < len(tender), rng.uniform(0.065, 0.10, n), rng.uniform(0.03, 0.12, n)
    )
    rise = rng.uniform(0.06, 0.15, n)
    negotiated = np.select(
        [kind == "price_reduction", kind == "cost_avoidance"],
        [
            round_price(baseline * (1 - cut) / 10_000, pdec),
            round_price(baseline * (1 + rng.uniform(0.0, 0.04, n)) / 10_000, pdec),
        ],
        baseline,
    )
    quoted = np.select(
        [kind == "price_reduction", kind == "cost_avoidance"],
        [
            round_price(baseline * (1 - cut * rng.uniform(0.2, 0.6, n)) / 10_000, pdec),
            round_price(baseline * (1 + rise) / 10_000, pdec),
        ],
        baseline,
    )
    started = start <= AS_OF_DAY
    stage = np.where(
        started,
        np.where(start <= AS_OF_DAY - 365, "realised", "implemented"),
        np.where(
            start <= AS_OF_DAY + 60,
            "contracted",
            np.where(rng.random(n) < 0.5, "negotiating", "identified"),
        ),
    )
    u = rng.random(n)
    odds = np.array([STATUS_ODDS[k] for k in kind])
    status = np.where(
        u < odds[:, 0], "accepted", np.where(u < odds[:, 0] + odds[:, 1], "pending", "rejected")
    )
    status = np.where(started, status, "pending")
    note = [INITIATIVE_NOTES.get((k, s)) for k, s in zip(kind, status, strict=True)]
    titles = []
    va_kind = rng.integers(0, len(VALUE_ADD), n)
    for j in range(n):
        desc = m.item_desc[m.pair_item[pair[j]]]
        supplier = m.sup_name[m.pair_sup[pair[j]]].split(" ")[0]
        titles.append(
            {
                "price_reduction": f"Renegotiate {desc} with {supplier}"
                if j >= len(tender)
                else f"Packaging tender 2025: {desc}",
                "cost_avoidance": f"Resist announced increase on {desc} ({supplier})",
                "demand_reduction": f"Use less {desc}",
                "value_add": f"{VALUE_ADD[va_kind[j]]}: {desc} ({supplier})",
            }[kind[j]]
        )
    owners = []
    for j in range(n):
        buyers = BUYERS[m.cat_names[cat_of_pair[pair[j]]]]
        owners.append(f"{buyers[int(rng.integers(0, len(buyers)))]}@example.org")

    waves = _waves(m, usable & ~taken & np.isin(cat_of_pair, [cat[c] for c in WAVE_CATEGORIES]))
    taken[waves["pair"]] = True
    pair, kind, start, end = (
        np.r_[pair, waves["pair"]],
        np.r_[kind, waves["kind"]],
        np.r_[start, waves["start"]],
        np.r_[end, waves["end"]],
    )
    baseline, quoted = np.r_[baseline, waves["baseline"]], np.r_[quoted, waves["quoted"]]
    negotiated, stage = np.r_[negotiated, waves["negotiated"]], np.r_[stage, waves["stage"]]
    status = np.r_[status, waves["status"]]
    note += waves["note"]
    titles += waves["title"]
    owners += waves["owner"]
    started = start <= AS_OF_DAY

    never = 10**6
    n_pairs = len(m.pair_sup)
    price_from = np.full(n_pairs, never, dtype=np.int64)
    price_new = np.zeros(n_pairs, dtype=np.int64)
    price_old = np.zeros(n_pairs, dtype=np.int64)
    moves = started & np.isin(kind, ["price_reduction", "cost_avoidance"])
    price_from[pair[moves]] = start[moves]
    price_new[pair[moves]] = negotiated[moves]
    price_old[pair[moves]] = baseline[moves]
    wide = _category_wide(m, usable & ~taken, cat["Lab consumables"])
    price_from[wide["pairs"]] = wide["start"]
    year = np.clip(year_of(np.array([wide["start"]]))[0] - 2023, 0, 3)
    price_old[wide["pairs"]] = m.pair_price[wide["pairs"], year]
    price_new[wide["pairs"]] = round_price(
        m.pair_price[wide["pairs"], year] * (1 + wide["pct"] / 100) / 10_000,
        m.item_pdec[m.pair_item[wide["pairs"]]],
    )
    less_from = np.full(n_pairs, never, dtype=np.int64)
    less = started & (kind == "demand_reduction")
    less_from[pair[less]] = start[less]
    return Plan(
        pair=pair,
        kind=kind,
        start=start,
        end=end,
        baseline=baseline,
        quoted=quoted,
        negotiated=negotiated,
        stage=stage,
        status=status,
        note=note,
        title=titles,
        owner=owners,
        price_from=price_from,
        price_new=price_new,
        price_old=price_old,
        less_from=less_from,
        wide=wide,
    )


# ---- renegotiation waves, the category-wide initiative, the refused overlap ---------------
WAVE_CATEGORIES = (
    "Raw materials",
    "MRO spares",
    "IT hardware",
    "Software",
    "Logistics",
    "Lab consumables",
    "Office supplies",
    "Facilities",
)
WAVE_SHARE = 0.95  # the share of the free pairs' buying the waves renegotiate, in all
WAVE_SEED = 1414  # the waves' own draws: the rest of the demo keeps its random sequence


def _waves(m: Master, free: np.ndarray) -> dict[str, Any]:
    """A renegotiation wave each quarter from 2022-Q1 to 2026-Q4: price reductions of
    7-12 % on the heaviest free supplier-item pairs, for 12 months; every third has no end
    date (the savings window of the settings closes it)."""
    side = np.random.default_rng(WAVE_SEED)
    # from 2022 on, so that the first data year already has four waves running
    starts = [day_number(date(y, mo, 1)) for y in (2022, *YEARS) for mo in (1, 4, 7, 10)]
    starts = [d for d in starts if d <= AS_OF_DAY]
    # the heaviest free pairs (buying frequency x price x typical quantity: about their
    # spend) that make up WAVE_SHARE of it, in a random order, cut into one chunk per wave
    # of equal weight
    ok = np.flatnonzero(free)
    weight = m.pair_w[ok] * m.pair_price[ok, 2] * m.item_q0[m.pair_item[ok]]
    heavy = np.argsort(-weight, kind="stable")
    keep = heavy[: int(np.searchsorted(np.cumsum(weight[heavy]) / weight.sum(), WAVE_SHARE)) + 1]
    order = ok[side.permutation(keep)]
    spend = m.pair_w[order] * m.pair_price[order, 2] * m.item_q0[m.pair_item[order]]
    reach = np.cumsum(spend) / spend.sum()
    wave = np.minimum(np.floor(reach * len(starts)).astype(np.int64), len(starts) - 1)
    pairs = [order[wave == k] for k in range(len(starts))]
    days = [np.full(len(p), d) for p, d in zip(pairs, starts, strict=True)]
    pair, start = np.concatenate(pairs), np.concatenate(days)
    n = len(pair)
    year_before = np.clip(year_of(start - 1) - 2023, 0, 3)
    baseline = m.pair_price[pair, year_before]
    pdec = m.item_pdec[m.pair_item[pair]]
    cut = side.uniform(0.07, 0.12, n)
    negotiated = round_price(baseline * (1 - cut) / 10_000, pdec)
    end = np.where(np.arange(n) % 3 == 2, -1, one_year_on(start))
    stage = np.where(start <= AS_OF_DAY - 365, "realised", "implemented")
    odds = STATUS_ODDS["price_reduction"]
    u = side.random(n)
    status = np.where(
        u < odds[0], "accepted", np.where(u < odds[0] + odds[1], "pending", "rejected")
    )
    owners = []
    for j in range(n):
        buyers = BUYERS[m.cat_names[m.item_cat[m.pair_item[pair[j]]]]]
        owners.append(f"{buyers[int(side.integers(0, len(buyers)))]}@example.org")
    iso = [str(np.datetime64(int(d), "D")) for d in start]
    quarter = [f"{d[:4]}-Q{(int(d[5:7]) + 2) // 3}" for d in iso]
    return {
        "pair": pair,
        "kind": np.full(n, "price_reduction"),
        "start": start,
        "end": end,
        "baseline": baseline,
        "quoted": baseline,
        "negotiated": negotiated,
        "stage": stage,
        "status": status,
        "note": [INITIATIVE_NOTES.get(("price_reduction", str(x))) for x in status],
        "title": [
            f"Renegotiation wave {q}: {m.item_desc[m.pair_item[p]]}"
            for q, p in zip(quarter, pair, strict=True)
        ],
        "owner": owners,
    }


def _category_wide(m: Master, free: np.ndarray, category: int) -> dict[str, Any]:
    """One supplier's Lab consumables (sold in packs and in pieces) 6 % cheaper from
    2026-01-01, with no end date: one percent for every item, never one price for all."""
    in_cat = free & (m.item_cat[m.pair_item] == category)
    units = np.array(m.item_unit)[m.pair_item]
    best, best_w = -1, -1.0
    for sup in np.unique(m.pair_sup[in_cat]):
        mine = in_cat & (m.pair_sup == sup)
        if len(set(units[mine])) > 1 and m.pair_w[mine].sum() > best_w:
            best, best_w = int(sup), float(m.pair_w[mine].sum())
    pairs = np.flatnonzero(in_cat & (m.pair_sup == best))
    return {
        "sup": best,
        "category": m.cat_names[category],
        "start": day_number(date(2026, 1, 1)),
        "pct": -6.0,
        "pairs": pairs,
    }


def category_wide_row(m: Master, plan: Plan, spend_before: float) -> dict[str, Any]:
    """The category-wide initiative as a savings_initiatives row (decimals as the demo's
    scaled integers); `spend_before` is what its pairs cost in the year before it started,
    in the supplier's currency: its expected spend at the new prices sizes the plan."""
    w = plan.wide
    expected = spend_before * (1 + w["pct"] / 100)
    return {
        "initiative_id": "SI-2026-901",
        "title": f"{w['category']} price list -6 % ({m.sup_name[w['sup']].split(' ')[0]})",
        "kind": "price_reduction",
        "category": w["category"],
        "supplier_id": m.sup_id[w["sup"]],
        "item_id": None,
        "expected_volume": int(round(expected * 1000)),  # spend: money, for a category
        "currency": CURRENCIES[int(m.sup_cur[w["sup"]])],
        "start_date": date(2026, 1, 1),
        "end_date": None,
        "owner": f"{BUYERS[w['category']][0]}@example.org",
        "stage": "implemented",
        "finance_status": "pending",
        "finance_note": None,
        "price_change_pct": int(round(w["pct"] * 10_000)),
    }


def refused_overlap(tender: dict[str, Any]) -> dict[str, Any]:
    """A buyer's second initiative on a tender item (same supplier, same item) from
    2025-10-01, while the tender's initiative still runs: the ledger refuses it, naming it.
    `tender` is the tender initiative as stored."""
    negotiated = tender["negotiated_unit_price"]
    return {
        "title": f"Second price cut: {tender['title'].split(': ', 1)[-1]}",
        "kind": "price_reduction",
        "supplier_id": tender["supplier_id"],
        "item_id": tender["item_id"],
        "baseline_unit_price": negotiated,
        "negotiated_unit_price": round(negotiated * Decimal("0.97"), 2),
        "currency": tender["currency"],
        "start_date": date(2025, 10, 1),
        "stage": "negotiating",
    }


# ---- contracts ----------------------------------------------------------------------------
def draw_contracts(m: Master, plan: Plan) -> pl.DataFrame:
    """Yearly item contracts at the list price, replaced by a new one when a negotiation
    lands; and framework agreements (no item, no price) for service categories."""
    pairs = np.flatnonzero(m.pair_contract | (plan.price_from < 10**6))
    rows_pair, rows_start, rows_end, rows_price = [], [], [], []
    year_starts = [day_number(date(y, 1, 1)) for y in YEARS]
    for y, ys in enumerate(year_starts):
        ye = day_number(date(YEARS[y], 12, 31))
        moved = plan.price_from[pairs]
        active = moved > ys  # the yearly contract runs until the negotiated price applies
        sel = pairs[active]
        rows_pair.append(sel)
        rows_start.append(np.full(len(sel), ys))
        rows_end.append(np.minimum(ye, moved[active] - 1))
        rows_price.append(m.pair_price[sel, y])
    moved = pairs[plan.price_from[pairs] < 10**6]
    rows_pair.append(moved)
    rows_start.append(plan.price_from[moved])
    rows_end.append(np.full(len(moved), day_number(date(2027, 12, 31))))
    rows_price.append(plan.price_new[moved])
    p = np.concatenate(rows_pair)
    item_level = pl.DataFrame(
        {
            "pair": p,
            "sup": m.pair_sup[p],
            "item": m.pair_item[p],
            "start": np.concatenate(rows_start),
            "end": np.concatenate(rows_end),
            "price": np.concatenate(rows_price),
        }
    ).filter(pl.col("end") >= pl.col("start"))
    # framework agreements: the two biggest suppliers of each service category
    frames = []
    for name in ("Logistics", "Facilities", "Marketing", "Professional services", "Energy"):
        c = m.cat_names.index(name)
        idx = np.flatnonzero(m.sup_cat == c)
        top = idx[np.argsort(-m.sup_weight[idx], kind="stable")][:2]
        frames.append(
            pl.DataFrame(
                {
                    "pair": np.full(len(top), -1),
                    "sup": top,
                    "item": np.full(len(top), -1),
                    "start": np.full(len(top), day_number(date(2023, 1, 1))),
                    "end": np.full(len(top), day_number(date(2026, 12, 31))),
                    "price": np.full(len(top), -1),
                }
            )
        )
    rows = pl.concat([item_level, *frames], how="vertical_relaxed").sort("sup", "item", "start")
    return rows.with_columns(
        contract_id=pl.format("CT-{}", (pl.int_range(pl.len()) + 1).cast(pl.String).str.zfill(5))
    )


def contract_in_force(
    m: Master, rows: pl.DataFrame, pair: np.ndarray, days: np.ndarray
) -> pl.Series:
    """The contract in force for each line: its item contract, else its framework agreement."""
    ids = rows["contract_id"]
    c_pair = rows["pair"].to_numpy()
    item_rows = np.flatnonzero(c_pair >= 0)
    key = c_pair[item_rows] * 2**20 + rows["start"].to_numpy()[item_rows]
    order = np.argsort(key, kind="stable")
    key, item_rows = key[order], item_rows[order]
    pos = np.searchsorted(key, pair * 2**20 + days, side="right") - 1
    hit = item_rows[np.maximum(pos, 0)]
    found = (pos >= 0) & (c_pair[hit] == pair) & (days <= rows["end"].to_numpy()[hit])
    framework = np.full(len(m.sup_id), -1)
    frame_rows = np.flatnonzero(c_pair < 0)
    framework[rows["sup"].to_numpy()[frame_rows]] = frame_rows
    frame = framework[m.pair_sup[pair]]
    row = np.where(found, hit, frame)
    return ids.gather(np.maximum(row, 0)).scatter(np.flatnonzero(row < 0), None)


def contracts_table(m: Master, rows: pl.DataFrame) -> pl.DataFrame:
    """The contracts table from the contract rows."""
    sup = rows["sup"].to_numpy()
    item = rows["item"].to_numpy()
    is_item = item >= 0
    cat = np.where(is_item, m.item_cat[np.maximum(item, 0)], m.sup_cat[sup])
    return pl.DataFrame(
        {
            "contract_id": rows["contract_id"],
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "category": pl.Series(m.cat_names).gather(cat),
            "item_id": nullable(np.array(m.item_id)[np.maximum(item, 0)], ~is_item),
            "start_date": date_series(rows["start"].to_numpy()),
            "end_date": date_series(rows["end"].to_numpy()),
            "unit_price": nullable(rows["price"].to_numpy(), ~is_item),
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[sup]),
        }
    )
