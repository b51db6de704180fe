"""Cases planted in the demo's documents so every finance rule has something to show.

Real ledgers hold credit notes, invoices without a due date, POs raised after the invoice,
PO numbers that do not exist, POs nobody approved, services billed as a lump sum and stock
that arrived at a new location and has not moved yet. The drawn flow has none of these, so
they are planted here, after it, with their own random stream: the rest of the demo stays
as it was drawn. `reference.CASES` names them in plain words.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from kpi.demo.arrays import (
    AS_OF_DAY,
    LAST_WORKDAY,
    amount_cents,
    back_to_weekday,
    date_series,
    day_number,
    document_numbers,
    on_to_weekday,
)
from kpi.demo.masters import Master
from kpi.demo.reference import FIRST_DAY
from kpi.demo.transactions import Flow

# How often each case occurs (shares of the candidates; at least one a quarter where asked).
AFTER_THE_FACT_SHARE = 0.0012  # of the POs invoiced in a quarter: ~6 a quarter at scale 1
UNAPPROVED_SHARE = 0.0004  # of the POs invoiced in a quarter: ~2 a quarter
UNKNOWN_PO_SHARE = 0.004  # of the invoices with no PO in a quarter: ~3 a quarter
CREDIT_NOTE_SHARE = 0.004  # of the goods lines: ~0.2 % of spend comes back
MISSING_DUE_SHARE = 0.04  # of the two careless suppliers' invoices
GOODS = (
    "Raw materials",
    "Packaging",
    "MRO spares",
    "IT hardware",
    "Office supplies",
    "Lab consumables",
)
TERMS_CHANGE = day_number(date(2025, 1, 1))  # when the changed supplier terms took effect
_QUARTER = pl.col("invoice_date").dt.year() * 4 + (pl.col("invoice_date").dt.month() - 1) // 3


def plant_cases(rng: np.random.Generator, m: Master, flow: Flow, skip_items: set[str]) -> Flow:
    """The flow with every planted case; `skip_items` (those the savings initiatives price)
    keep their quantities."""
    po, inv = flow.purchase_orders, flow.invoices
    invoiced = _invoiced_pos(inv)
    po, chosen = _after_the_fact(rng, po, invoiced)
    po = _unapproved(rng, po, invoiced, chosen)
    inv = _unknown_po_numbers(rng, po, inv)
    inv = _lump_sum_services(rng, m, inv, skip_items)
    inv = _missing_due_dates(rng, inv)
    inv = pl.concat([inv, _credit_notes(rng, m, inv)])
    return Flow(po, flow.goods_receipts, inv)


def _some_per_quarter(
    rng: np.random.Generator, frame: pl.DataFrame, share: float, least: int
) -> pl.DataFrame:
    """About `share` of the rows of each quarter (column q), at least `least`, at random."""
    per_q = (
        frame.group_by("q")
        .len()
        .with_columns(
            k=pl.max_horizontal(pl.lit(least), (pl.col("len") * share).round().cast(pl.Int64))
        )
    )
    drawn = frame.with_columns(r=pl.Series(rng.random(frame.height)))
    return (
        drawn.join(per_q, on="q", how="left")
        .filter(pl.col("r").rank("ordinal").over("q") <= pl.col("k"))
        .drop("r", "len", "k")
    )


def _invoiced_pos(inv: pl.DataFrame) -> pl.DataFrame:
    """Each invoiced PO with its (first) invoice date and quarter, in PO order."""
    return (
        inv.filter(pl.col("po_id").is_not_null())
        .group_by("po_id")
        .agg(pl.col("invoice_date").min())
        .sort("po_id")
        .with_columns(q=_QUARTER)
    )


def _after_the_fact(
    rng: np.random.Generator, po: pl.DataFrame, invoiced: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A handful of POs a quarter raised 1-15 days after their invoice (and approved within
    two working days), as when a buyer papers over a purchase already made."""
    late_enough = pl.col("invoice_date") <= date_series(np.array([AS_OF_DAY - 20])).item()
    chosen = _some_per_quarter(rng, invoiced.filter(late_enough), AFTER_THE_FACT_SHARE, 2)
    inv_day = chosen["invoice_date"].cast(pl.Int32).to_numpy().astype(np.int64)
    raised = np.minimum(on_to_weekday(inv_day + rng.integers(1, 16, chosen.height)), LAST_WORKDAY)
    approved = np.minimum(
        on_to_weekday(raised + rng.choice([0, 0, 1, 2], chosen.height)), LAST_WORKDAY
    )
    dates = pl.DataFrame(
        {
            "po_id": chosen["po_id"],
            "raised": date_series(raised),
            "approved": date_series(approved),
        }
    )
    po = (
        po.join(dates, on="po_id", how="left", maintain_order="left")
        .with_columns(
            po_date=pl.coalesce("raised", "po_date"),
            approved_date=pl.coalesce("approved", "approved_date"),
        )
        .drop("raised", "approved")
    )
    return po, chosen


def _unapproved(
    rng: np.random.Generator, po: pl.DataFrame, invoiced: pl.DataFrame, taken: pl.DataFrame
) -> pl.DataFrame:
    """A couple of invoiced POs a quarter that nobody approved: approved_date empty."""
    pos = invoiced.filter(~pl.col("po_id").is_in(taken["po_id"].implode()))
    chosen = _some_per_quarter(rng, pos, UNAPPROVED_SHARE, 1)["po_id"]
    return po.with_columns(
        approved_date=pl.when(pl.col("po_id").is_in(chosen.implode()))
        .then(None)
        .otherwise(pl.col("approved_date"))
    )


def _unknown_po_numbers(
    rng: np.random.Generator, po: pl.DataFrame, inv: pl.DataFrame
) -> pl.DataFrame:
    """A few invoices with no PO quote a PO number that was never issued (beyond the last
    number of their year), as a supplier's mistyped reference would."""
    no_po = (
        inv.filter(pl.col("po_id").is_null())
        .group_by("invoice_id")
        .agg(pl.col("invoice_date").first())
        .sort("invoice_id")
        .with_columns(q=_QUARTER)
    )
    chosen = _some_per_quarter(rng, no_po, UNKNOWN_PO_SHARE, 1).sort("invoice_id")
    last = (
        po.select(
            year=pl.col("po_id").str.slice(3, 4).cast(pl.Int32),
            seq=pl.col("po_id").str.slice(8).cast(pl.Int64),
        )
        .group_by("year")
        .agg(pl.col("seq").max())
    )
    ghosts = (
        chosen.with_columns(year=pl.col("invoice_date").dt.year().cast(pl.Int32))
        .join(last, on="year", how="left", maintain_order="left")
        .with_columns(
            seq=pl.col("seq").fill_null(0)
            + pl.Series(rng.integers(150, 900, chosen.height))
            + pl.int_range(pl.len()) * 1000
        )
        .select(
            "invoice_id",
            ghost=pl.format("PO-{}-{}", "year", pl.col("seq").cast(pl.String).str.zfill(6)),
        )
    )
    return (
        inv.join(ghosts, on="invoice_id", how="left", maintain_order="left")
        .with_columns(po_id=pl.coalesce("po_id", "ghost"))
        .drop("ghost")
    )


def _lump_sum_services(
    rng: np.random.Generator, m: Master, inv: pl.DataFrame, skip: set[str]
) -> pl.DataFrame:
    """Fee-based professional services and about half the facility services are invoiced
    as a lump sum: the amount only, no quantity or unit price."""
    unit = np.array(m.item_unit)
    ids = np.array(m.item_id)
    facility = (unit == "service") & (rng.random(len(ids)) < 0.5)
    lump = [i for i in ids[(unit == "fee") | facility] if i not in skip]
    is_lump = pl.col("item_id").is_in(lump)
    return inv.with_columns(
        quantity=pl.when(is_lump).then(None).otherwise(pl.col("quantity")),
        unit_price=pl.when(is_lump).then(None).otherwise(pl.col("unit_price")),
    )


def _missing_due_dates(rng: np.random.Generator, inv: pl.DataFrame) -> pl.DataFrame:
    """Two mid-sized suppliers leave the due date off a few % of their invoices."""
    by_size = inv.group_by("supplier_id").len().sort("len", "supplier_id", descending=True)
    middle = by_size["supplier_id"][by_size.height // 4 : by_size.height // 2]
    careless = middle.gather(np.sort(rng.choice(len(middle), size=2, replace=False)))
    blank: list[str] = []
    for supplier in careless:  # each leaves it off at least one invoice
        theirs = inv.filter(pl.col("supplier_id") == supplier)["invoice_id"].unique().sort()
        k = max(1, round(MISSING_DUE_SHARE * len(theirs)))
        blank += theirs.gather(np.sort(rng.permutation(len(theirs))[:k])).to_list()
    return inv.with_columns(
        due_date=pl.when(pl.col("invoice_id").is_in(blank)).then(None).otherwise(pl.col("due_date"))
    )


def _credit_notes(rng: np.random.Generator, m: Master, inv: pl.DataFrame) -> pl.DataFrame:
    """Credit notes for goods sent back: one line crediting 5-100 % of an invoice line's
    quantity at its price, 1-8 weeks after it; most name the original PO; settled in a later
    payment run, except about a third of the last two months' that are still open."""
    cutoff = date_series(np.array([AS_OF_DAY - 10])).item()
    goods = inv.filter(
        pl.col("category").is_in(GOODS)
        & pl.col("quantity").is_not_null()
        & (pl.col("amount") > 0)
        & (pl.col("invoice_date") <= cutoff)
    )
    src = goods.filter(pl.Series(rng.random(goods.height) < CREDIT_NOTE_SHARE))
    n = src.height
    orig = src["invoice_date"].cast(pl.Int32).to_numpy().astype(np.int64)
    day = np.minimum(back_to_weekday(orig + rng.integers(7, 57, n)), LAST_WORKDAY)
    day = np.maximum(day, orig + 1)
    qdec = np.asarray(m.item_qdec)[_index(m.item_id, src["item_id"])]
    qty = src["quantity"].to_numpy().astype(np.int64)  # milli-units
    share = rng.uniform(0.05, 1.0, n)
    back = np.where(
        qdec > 0,
        np.maximum(np.round(qty * share), 1),
        np.maximum(np.floor(qty / 1000 * share), 1) * 1000,
    ).astype(np.int64)
    back = np.minimum(back, qty)
    price = src["unit_price"].to_numpy().astype(np.int64)
    terms = np.asarray(m.sup_terms)[_index(m.sup_id, src["supplier_id"])]
    settled = rng.random(n) < 0.65
    paid = back_to_weekday(day + rng.integers(10, 46, n))
    open_ = (paid > AS_OF_DAY) | (~settled & (day > AS_OF_DAY - 60))  # recent ones wait
    if n:
        open_[np.argmax(day)] = True  # the latest waits for the next payment run
    numbers, rank = document_numbers("CN", day, np.arange(n))
    names_po = rng.random(n) < 0.7
    return pl.DataFrame(
        {
            "invoice_id": numbers.gather(rank),
            "invoice_line": np.ones(n, dtype=np.int64),
            "supplier_id": src["supplier_id"],
            "po_id": src["po_id"].scatter(np.flatnonzero(~names_po), None),
            "invoice_date": date_series(day),
            "due_date": date_series(day + terms),
            "paid_date": date_series(paid, open_),
            "item_id": src["item_id"],
            "category": src["category"],
            "cost_centre": src["cost_centre"],
            "quantity": -back,
            "unit_price": price,
            "amount": -amount_cents(back, price),
            "currency": src["currency"],
            "discount_taken": np.zeros(n, dtype=np.int64),
        },
        schema=inv.schema,
    ).sort("invoice_id")


def _index(ids: list[str], values: pl.Series) -> np.ndarray:
    """Position of each value in the master's list of ids."""
    where = {v: k for k, v in enumerate(ids)}
    return values.replace_strict(where, return_dtype=pl.Int64).to_numpy()


def stock_new_at_location(
    rng: np.random.Generator, m: Master, inventory: pl.DataFrame
) -> pl.DataFrame:
    """Six items held at a third location only since one of the last three month-ends and
    not issued there yet: their history there starts on arrival, with no last issue."""
    last = inventory["snapshot_date"].max()
    phased_out = [i for i, stop in zip(m.item_id, m.item_stop, strict=True) if stop < 10**6]
    three = (
        inventory.filter((pl.col("snapshot_date") == last) & ~pl.col("item_id").is_in(phased_out))
        .group_by("item_id")
        .agg(pl.col("location").sort().last(), pl.len())
        .filter(pl.col("len") >= 3)
        .sort("item_id")
    )
    chosen = three[np.sort(rng.choice(three.height, size=min(6, three.height), replace=False))]
    month_ends = inventory["snapshot_date"].unique().sort().tail(3)
    arrivals = chosen.select(
        "item_id", "location", arrived=month_ends.gather(rng.integers(0, 3, chosen.height))
    )
    new = pl.col("arrived").is_not_null()
    return (
        inventory.join(arrivals, on=["item_id", "location"], how="left", maintain_order="left")
        .filter(~new | (pl.col("snapshot_date") >= pl.col("arrived")))
        .with_columns(
            last_issue_date=pl.when(new).then(None).otherwise(pl.col("last_issue_date")),
            issued_qty_90d=pl.when(new).then(0).otherwise(pl.col("issued_qty_90d")),
        )
        .drop("arrived")
    )


def terms_history(
    rng: np.random.Generator, m: Master, inv: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Supplier terms that changed on 1 January 2025 (rows for the optional supplier_terms
    table), and the invoices made to agree with them: four fast-paid suppliers moved from
    45 to today's 60 days (their invoices before were due at 45 days), and three suppliers
    began offering today's early-payment discount (before, nothing was taken)."""
    change = date_series(np.array([TERMS_CHANGE])).item()
    start = date_series(np.array([day_number(FIRST_DAY)])).item()
    fast = np.flatnonzero(m.sup_large & m.sup_pref & (m.sup_terms == 60))
    offers = np.flatnonzero(m.sup_disc > 0)
    longer = np.sort(rng.choice(fast, size=min(4, len(fast)), replace=False))
    discount = np.sort(rng.choice(offers, size=min(3, len(offers)), replace=False))
    sup = np.r_[longer, longer, discount, discount]
    before = np.r_[np.ones(len(longer), bool), np.zeros(len(longer), bool)]
    before = np.r_[before, np.ones(len(discount), bool), np.zeros(len(discount), bool)]
    terms = np.where(before & np.isin(sup, longer), 45, m.sup_terms[sup])
    offered = ~(before & np.isin(sup, discount))
    history = pl.DataFrame(
        {
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "valid_from": pl.Series([start, change]).gather(np.where(before, 0, 1)),
            "payment_terms_days": terms,
            "discount_pct": np.where(offered, np.round(m.sup_disc[sup] * 10_000), 0).astype(
                np.int64
            ),
            "discount_days": np.where(offered, m.sup_disc_days[sup], 0),
        }
    ).sort("supplier_id", "valid_from")
    early = pl.col("invoice_date") < change
    was_45 = early & pl.col("supplier_id").is_in(pl.Series(m.sup_id).gather(longer).implode())
    no_offer = early & pl.col("supplier_id").is_in(pl.Series(m.sup_id).gather(discount).implode())
    inv = inv.with_columns(
        due_date=pl.when(was_45 & pl.col("due_date").is_not_null())
        .then(pl.col("invoice_date") + pl.duration(days=45))
        .otherwise(pl.col("due_date")),
        discount_taken=pl.when(no_offer).then(0).otherwise(pl.col("discount_taken")),
    )
    return history, inv
