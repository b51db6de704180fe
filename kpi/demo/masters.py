"""The demo's master data: exchange rates, items, suppliers and what each supplier sells
at what price; and the master tables (suppliers, items, price outlook) drawn from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from kpi.demo.arrays import AS_OF_DAY, date_series, day_number, nullable, round_price, weekday
from kpi.demo.reference import (
    CATEGORIES,
    CC_AFFINITY,
    CC_DEPARTMENTS,
    CC_OWNERS,
    COST_CENTRES,
    COUNTRY_CURRENCY,
    COUNTRY_MIX,
    CURRENCIES,
    FX_FROM,
    HORIZON,
    LEGAL_FORMS,
    PACKAGING,
    PRICE_OUTLOOK,
    REFERENCE_RATE,
    SURNAMES,
    USD_MOVE,
)


# ---- exchange rates -----------------------------------------------------------------------
@dataclass
class Fx:
    """Daily exchange rates (EUR per unit) and the published table."""

    first_day: int
    daily: np.ndarray  # [currency, day]: EUR per unit, rounded as published, weekends filled
    table: pl.DataFrame


def fx_rates(rng: np.random.Generator) -> Fx:
    """USD and GBP drifting along a trend with a mean-reverting wobble, published on weekdays."""
    first, last = day_number(FX_FROM), day_number(HORIZON)
    days = np.arange(first, last + 1)
    t = np.linspace(0.0, 1.0, len(days))
    daily = np.ones((len(CURRENCIES), len(days)))
    for i, (start, end) in ((1, (0.94, 0.87)), (2, (1.13, 1.165))):
        trend = np.log(start) + (np.log(end) - np.log(start)) * t
        shocks = rng.normal(0.0, 0.0035, len(days))
        dev = np.zeros(len(days))
        for k in range(1, len(days)):  # a mean-reverting wobble around the trend
            dev[k] = 0.985 * dev[k - 1] + shocks[k]
        if CURRENCIES[i] == "USD":  # the planted FY2026 move (USD_MOVE)
            frm, to, level = USD_MOVE
            ramp = np.clip((days - day_number(frm)) / (day_number(to) - day_number(frm)), 0, 1)
            trend = trend + np.log(level) * ramp
        daily[i] = np.round(np.exp(trend + dev), 6)
    business = (weekday(days) < 5) & (days <= AS_OF_DAY)
    for k in np.flatnonzero(~business):  # weekends (and the future) use the last rate
        daily[:, k] = daily[:, k - 1] if k > 0 else daily[:, k]
    pub = np.flatnonzero(business)
    n = len(pub)
    table = pl.DataFrame(
        {
            "date": date_series(np.tile(days[pub], len(CURRENCIES))),
            "currency": np.repeat(np.array(CURRENCIES), n),
            "rate": np.round(daily[:, pub].ravel() * 10**8).astype(np.int64),
        }
    )
    return Fx(first, daily, table)


def to_eur(fx: Fx, cents: np.ndarray, currency: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Amounts in cents of their currency as EUR at each day's rate."""
    col = np.clip(days - fx.first_day, 0, fx.daily.shape[1] - 1)
    return cents * fx.daily[currency, col] / 100.0


# ---- master data: items, suppliers, what each supplier sells at what price ----------------
@dataclass
class Master:
    """Items, suppliers, who sells what at what price, and which cost centres buy what."""

    cat_names: list[str]
    # items
    item_id: list[str]
    item_cat: np.ndarray
    item_desc: list[str]
    item_unit: list[str]
    item_price: np.ndarray  # EUR
    item_q0: np.ndarray
    item_qdec: np.ndarray
    item_pdec: np.ndarray
    item_lead: np.ndarray
    item_crit: np.ndarray
    item_spare: np.ndarray
    item_stocked: np.ndarray
    # suppliers
    sup_id: list[str]
    sup_name: list[str]
    sup_country: np.ndarray
    sup_cat: np.ndarray
    sup_cur: np.ndarray
    sup_large: np.ndarray
    sup_pref: np.ndarray
    sup_terms: np.ndarray
    sup_disc: np.ndarray  # percent, e.g. 2.0
    sup_disc_days: np.ndarray
    sup_strategic: np.ndarray
    sup_single: np.ndarray
    sup_weight: np.ndarray
    sup_late_delivery: np.ndarray
    sup_late_payment: np.ndarray
    # supplier-item pairs
    pair_sup: np.ndarray
    pair_item: np.ndarray
    pair_w: np.ndarray
    pair_main: np.ndarray
    pair_price: np.ndarray  # [pair, year]: list price in 1/10,000 of the supplier's currency
    pair_contract: np.ndarray
    # cost centres: weight of each (category, cost centre)
    cc_weight: np.ndarray
    # discontinued items: from this day, lines move to a successor pair of the same supplier
    item_stop: np.ndarray
    pair_successor: np.ndarray


def _items(rng: np.random.Generator) -> dict[str, np.ndarray | list]:
    rows: list[tuple] = []
    for c, cat in enumerate(CATEGORIES):
        combos = [(g, f"{b} {v}") for g in cat.groups for b in g.bases for v in g.variants]
        keep = np.sort(rng.permutation(len(combos))[: cat.n_items])
        for k in keep:
            g, desc = combos[k]
            rows.append((c, desc, g))
    n = len(rows)
    cat = np.array([r[0] for r in rows])
    groups = [r[2] for r in rows]
    lo = np.array([g.price[0] for g in groups])
    hi = np.array([g.price[1] for g in groups])
    where = rng.random(n)  # position in the group's price range, on a log scale
    price = np.exp(np.log(lo) + where * np.log(hi / lo))
    qlo = np.array([g.qty[0] for g in groups], dtype=float)
    qhi = np.array([g.qty[1] for g in groups], dtype=float)
    # cheap items are ordered in bulk, dear ones a few at a time
    bulk = np.clip(1 - where + rng.uniform(-0.25, 0.25, n), 0, 1)
    q0 = np.exp(np.log(qlo) + bulk * np.log(qhi / qlo))
    spare = np.array([g.critical_spares for g in groups])
    lead_lo = np.array([CATEGORIES[c].lead_days[0] for c in cat])
    lead_hi = np.array([CATEGORIES[c].lead_days[1] for c in cat])
    lead = np.where(spare, rng.integers(90, 201, n), rng.integers(lead_lo, lead_hi + 1))
    crit_p = np.array([CATEGORIES[c].criticality for c in cat])
    u = rng.random(n)
    medium_or_low = np.where(u < crit_p[:, 0] + crit_p[:, 1], "medium", "low")
    crit = np.where(spare | (u < crit_p[:, 0]), "high", medium_or_low)
    crit = np.where(spare, "critical", crit)  # a line stops without them
    stocked = spare | (rng.random(n) < np.array([CATEGORIES[c].stocked_share for c in cat]))
    return {
        "cat": cat,
        "desc": [r[1] for r in rows],
        "unit": [g.unit for g in groups],
        "price": price,
        "q0": q0,
        "qdec": np.array([g.decimals for g in groups]),
        "pdec": np.where(price < 1.0, 4, 2),
        "lead": lead,
        "crit": crit,
        "spare": spare,
        "stocked": stocked,
    }


def draw_master(rng: np.random.Generator) -> Master:
    """The master data: items, suppliers with their size, terms and prices, and cost centres."""
    it = _items(rng)
    n_items = len(it["cat"])
    cat_names = [c.name for c in CATEGORIES]
    # suppliers: a category each, a country, a Zipf-like share of their category
    sup_cat = np.repeat(np.arange(len(CATEGORIES)), [c.n_suppliers for c in CATEGORIES])
    n_sup = len(sup_cat)
    countries = np.empty(n_sup, dtype=object)
    zipf = np.empty(n_sup)
    for c, cat in enumerate(CATEGORIES):
        idx = np.flatnonzero(sup_cat == c)
        mix = COUNTRY_MIX[cat.countries]
        p = np.array(list(mix.values()))
        countries[idx] = rng.choice(list(mix), size=len(idx), p=p / p.sum())
        zipf[idx] = 1.0 / (rng.permutation(len(idx)) + 1.0)
    # pairs: every item has a main supplier and maybe alternates in its category
    pop = rng.lognormal(0.0, 0.8, n_items) * np.where(it["spare"], 0.03, 1.0)
    p_sup, p_item, p_main = [], [], []
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(sup_cat == c)
        items = np.flatnonzero(it["cat"] == c)
        main = rng.choice(idx, size=len(items), p=zipf[idx] / zipf[idx].sum())
        n_alt = rng.choice([0, 1, 2], size=len(items), p=[0.45, 0.4, 0.15])
        for i, m, k in zip(items, main, n_alt, strict=True):
            others = idx[idx != m]
            alts = rng.choice(others, size=min(k, len(others)), replace=False)
            p_sup += [m, *alts]
            p_item += [i] * (1 + len(alts))
            p_main += [True] + [False] * len(alts)
        used = set(p_sup)
        for s in (s for s in idx if s not in used):  # every supplier sells something
            p_sup.append(s)
            p_item.append(int(rng.choice(items)))
            p_main.append(False)
    pair_sup, pair_item = np.array(p_sup), np.array(p_item)
    pair_main = np.array(p_main)
    pair_w = pop[pair_item] * np.where(pair_main, 1.0, rng.uniform(0.1, 0.35, len(pair_sup)))
    sup_weight = np.bincount(pair_sup, weights=pair_w, minlength=n_sup)

    # size, preference, terms
    rank = np.empty(n_sup, dtype=np.int64)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(sup_cat == c)
        rank[idx[np.argsort(-sup_weight[idx], kind="stable")]] = np.arange(len(idx))
    n_in_cat = np.bincount(sup_cat)[sup_cat]
    top = rank < np.ceil(0.3 * n_in_cat)
    large = rng.random(n_sup) < np.where(top, 0.75, 0.12)
    pref = rng.random(n_sup) < np.where(large, 0.6, 0.3)
    fast = large & pref  # story 2: paid in ~20 days against 60-day terms
    terms = np.where(
        large,
        rng.choice([45, 60, 90, 30], size=n_sup, p=[0.3, 0.45, 0.1, 0.15]),
        rng.choice([30, 45, 60, 14], size=n_sup, p=[0.5, 0.25, 0.2, 0.05]),
    )
    terms = np.where(fast, 60, terms)
    offers = ~fast & (rng.random(n_sup) < np.where(large, 0.1, 0.3)) & (terms >= 30)
    kind = rng.choice(3, size=n_sup, p=[0.7, 0.1, 0.2])
    disc = np.where(offers, np.array([2.0, 3.0, 1.5])[kind], 0.0)
    disc_days = np.where(offers, np.array([10, 10, 14])[kind], 0)
    late_delivery = np.where(large, 0.08, 0.12)
    for c in (0, 2):  # the worst deliverers: the biggest non-fast supplier in two categories
        idx = np.flatnonzero((sup_cat == c) & ~fast)
        late_delivery[idx[np.argmax(sup_weight[idx])]] = 0.45
    late_payment = np.where(large, 0.12, 0.22)

    # single source: sole supplier of a high-criticality item
    n_sources = np.bincount(pair_item, minlength=n_items)
    sole = (n_sources[pair_item] == 1) & np.isin(it["crit"][pair_item], ["critical", "high"])
    single = np.bincount(pair_sup[sole], minlength=n_sup) > 0
    strategic = (fast & (rank < 2)) | (single & large)

    # prices: list price per pair and year, in the supplier's currency
    cur = np.array([CURRENCIES.index(COUNTRY_CURRENCY.get(c, "EUR")) for c in countries])
    pc = it["cat"][pair_item]
    infl = np.array([c.inflation for c in CATEGORIES])
    factor = np.cumprod(np.c_[np.ones(len(CATEGORIES)), 1 + infl], axis=1)[pc]
    noise = np.c_[np.ones(len(pc)), rng.uniform(0.985, 1.015, (len(pc), 3))]
    premium = np.where(pair_main, 1.0, rng.uniform(0.97, 1.10, len(pc)))
    ref = np.array(REFERENCE_RATE)[cur[pair_sup]]
    base = it["price"][pair_item] * premium / ref
    pair_price = round_price(base[:, None] * factor * noise, it["pdec"][pair_item][:, None])
    item_level = np.isin(
        pc,
        [
            cat_names.index(n)
            for n in (
                "Raw materials",
                PACKAGING,
                "MRO spares",
                "IT hardware",
                "Software",
                "Energy",
                "Office supplies",
                "Lab consumables",
            )
        ],
    )
    pair_contract = pair_main & item_level & (rng.random(len(pc)) < 0.7)

    cc_codes = [c for c, _ in COST_CENTRES]
    cc_weight = np.zeros((len(CATEGORIES), len(COST_CENTRES)))
    for c, name in enumerate(cat_names):
        for code, w in CC_AFFINITY[name].items():
            cc_weight[c, cc_codes.index(code)] = w

    item_stop, successor = _discontinued(rng, it, pair_sup, pair_item, pair_main)
    names = _supplier_names(rng, countries, sup_cat, large)
    return Master(
        cat_names=cat_names,
        item_id=[f"IT-{i + 10001}" for i in range(n_items)],
        item_cat=it["cat"],
        item_desc=it["desc"],
        item_unit=it["unit"],
        item_price=it["price"],
        item_q0=it["q0"],
        item_qdec=it["qdec"],
        item_pdec=it["pdec"],
        item_lead=it["lead"],
        item_crit=it["crit"],
        item_spare=it["spare"],
        item_stocked=it["stocked"],
        sup_id=[f"S{i + 1:04d}" for i in range(n_sup)],
        sup_name=names,
        sup_country=countries.astype(str),
        sup_cat=sup_cat,
        sup_cur=cur,
        sup_large=large,
        sup_pref=pref,
        sup_terms=terms,
        sup_disc=disc,
        sup_disc_days=disc_days,
        sup_strategic=strategic,
        sup_single=single,
        sup_weight=sup_weight,
        sup_late_delivery=late_delivery,
        sup_late_payment=late_payment,
        pair_sup=pair_sup,
        pair_item=pair_item,
        pair_w=pair_w,
        pair_main=pair_main,
        pair_price=pair_price,
        pair_contract=pair_contract,
        cc_weight=cc_weight,
        item_stop=item_stop,
        pair_successor=successor,
    )


def _discontinued(
    rng: np.random.Generator,
    it: dict,
    pair_sup: np.ndarray,
    pair_item: np.ndarray,
    pair_main: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A dozen stocked items phased out in 2024-2025 (their stock turns obsolete); from then
    on, orders go to the supplier's most similar item (price and order size)."""
    stop = np.full(len(it["cat"]), 10**6, dtype=np.int64)
    successor = np.arange(len(pair_sup))
    candidates = np.flatnonzero(it["stocked"] & ~it["spare"])
    chosen = rng.choice(candidates, size=min(12, len(candidates)), replace=False)
    days = rng.integers(day_number(date(2024, 3, 1)), day_number(date(2025, 9, 30)), len(chosen))
    shape = np.c_[np.log(it["price"]), np.log(it["q0"])]
    for i, d in zip(chosen, days, strict=True):
        pairs = np.flatnonzero(pair_item == i)
        plans = []
        for p in pairs:
            same = np.flatnonzero(
                (pair_sup == pair_sup[p]) & pair_main & ~np.isin(pair_item, chosen)
            )
            if len(same) == 0:
                break
            gap = np.abs(shape[pair_item[same]] - shape[i]).sum(axis=1)
            plans.append(same[np.argmin(gap)])
        else:
            successor[pairs] = plans
            stop[i] = d
    return stop, successor


def _supplier_names(
    rng: np.random.Generator, countries: np.ndarray, sup_cat: np.ndarray, large: np.ndarray
) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for country, c, big in zip(countries, sup_cat, large, strict=True):
        surnames = SURNAMES[country].split("|")
        stems = CATEGORIES[c].stems
        forms = LEGAL_FORMS[country]
        form = forms[1] if big else forms[int(rng.integers(0, 2)) * 2]
        for k in rng.permutation(len(surnames) * len(stems)):
            name = f"{surnames[k % len(surnames)]} {stems[k // len(surnames)]} {form}"
            if name not in seen:
                break
        else:
            name = f"{name} {len(seen)}"
        seen.add(name)
        names.append(name)
    return names


def price_outlook(rng: np.random.Generator, m: Master) -> pl.DataFrame:
    """Procurement's expected price change per category and quarter, FY2026-FY2027."""
    quarters = [f"FY{y}-Q{q}" for y in (2026, 2027) for q in range(1, 5)]
    rows = []
    for name in m.cat_names:
        fy26, fy27, note26, note27 = PRICE_OUTLOOK[name]
        for k, quarter in enumerate(quarters):
            base = fy26 if k < 4 else fy27
            wobble = float(rng.choice([-0.5, 0.0, 0.0, 0.5]))
            rows.append(
                (quarter, name, round((base + wobble) * 10_000), note26 if k < 4 else note27)
            )
    return pl.DataFrame(
        rows, schema=["quarter", "category", "expected_change_pct", "note"], orient="row"
    )


def suppliers_table(m: Master) -> pl.DataFrame:
    """The suppliers table from the master data."""
    return pl.DataFrame(
        {
            "supplier_id": m.sup_id,
            "supplier_name": m.sup_name,
            "country": m.sup_country,
            "size": np.where(m.sup_large, "large", "sme"),
            "preferred": m.sup_pref,
            "payment_terms_days": m.sup_terms,
            "discount_pct": np.round(m.sup_disc * 10_000).astype(np.int64),
            "discount_days": m.sup_disc_days,
            "strategic": m.sup_strategic,
            "single_source": m.sup_single,
        }
    )


def cost_centres_table() -> pl.DataFrame:
    """Every cost centre the demo's budgets, orders and invoices use, with its name, owner
    and department (fixed reference data: nothing drawn, so the other tables stay as they
    were)."""
    codes = [code for code, _ in COST_CENTRES]
    return pl.DataFrame(
        {
            "cost_centre": codes,
            "cost_centre_name": [name for _, name in COST_CENTRES],
            "owner": [f"{CC_OWNERS[code]}@example.org" for code in codes],
            "department": [CC_DEPARTMENTS[code[3]] for code in codes],
        }
    )


def items_table(m: Master, safety_milli: np.ndarray) -> pl.DataFrame:
    """The items table from the master data, with the safety stock of stocked items."""
    return pl.DataFrame(
        {
            "item_id": m.item_id,
            "description": m.item_desc,
            "category": pl.Series(m.cat_names).gather(m.item_cat),
            "unit": m.item_unit,
            "safety_stock_qty": nullable(safety_milli, safety_milli < 0),
            "lead_time_days": m.item_lead,
            "criticality": m.item_crit,
        }
    )
