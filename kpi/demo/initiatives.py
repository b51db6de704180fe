"""The demo's savings initiatives (planned before the lines: they set the prices paid) and
the contracts in force, item contracts and framework agreements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
        [
            "Raw materials",
            "MRO spares",
            "IT hardware",
            "Software",
            "Logistics",
            "Lab consumables",
            "Office supplies",
            "Facilities",
        ],
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

    never = 10**6
    n_pairs = len(m.pair_sup)
    price_from = np.full(n_pairs, never, dtype=np.int64)
    price_new = np.zeros(n_pairs, dtype=np.int64)
    price_old = np.zeros(n_pairs, dtype=np.int64)
    moves = started & np.isin(kind, ["price_reduction", "cost_avoidance"])
    price_from[pair[moves]] = start[moves]
    price_new[pair[moves]] = negotiated[moves]
    price_old[pair[moves]] = baseline[moves]
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
    )


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
