"""The demo's documents and lines (who bought what, when, from whom, at what price) and
their flow: purchase orders, goods receipts, invoices and payments."""

from __future__ import annotations

from dataclasses import dataclass
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
    month_index,
    month_starts,
    nearest_weekday,
    on_to_weekday,
    pick,
    round_price,
    segment_rank,
    workdays,
    year_of,
)
from kpi.demo.initiatives import Plan, contract_in_force
from kpi.demo.masters import Master
from kpi.demo.reference import (
    CATEGORIES,
    COST_CENTRES,
    CURRENCIES,
    LINES_AT_SCALE_1,
    MAVERICK_COST_CENTRE,
    N_MONTHS,
    PACKAGING,
    PO_STATUSES,
    QTY_SIGMA,
)


# ---- documents and lines: who bought what, when, from whom, at what price ----------------
@dataclass
class Lines:
    # documents (one PO and its invoice, or an invoice with no PO)
    """Documents (one PO and its invoice, or an invoice with no PO) and their lines."""

    doc_day: np.ndarray  # invoice date (virtual past AS_OF)
    doc_cat: np.ndarray
    doc_cc: np.ndarray
    doc_sup: np.ndarray
    doc_mav: np.ndarray
    doc_surge: np.ndarray
    doc_n: np.ndarray
    # lines
    doc: np.ndarray
    line_no: np.ndarray
    pair: np.ndarray
    qty: np.ndarray  # 1/1000 units
    price: np.ndarray  # 1/10,000 of the currency
    cents: np.ndarray
    scale: float


def seasonality(cat_name: str) -> np.ndarray:
    """Relative buying per month of the year (Energy follows the heating season)."""
    moy = np.arange(12)
    if cat_name == "Energy":
        return 1 + 0.3 * np.cos(2 * np.pi * moy / 12)
    return np.array([0.95, 1.0, 1.05, 1.0, 1.02, 1.0, 0.95, 0.78, 1.02, 1.05, 1.02, 0.86])


def _growth(cat_name: str) -> np.ndarray:
    if cat_name == PACKAGING:  # story 1: volume +25 % in FY2025
        return np.array([1.0, 1.03, 1.03 * 1.25, 1.03 * 1.25 * 1.07])
    return 1.03 ** np.arange(4)


def _line_rates() -> np.ndarray:
    """Expected invoice lines per (category, month), up to a constant."""
    month = np.arange(N_MONTHS)
    return np.array(
        [
            c.line_share * _growth(c.name)[month // 12] * seasonality(c.name)[month % 12]
            for c in CATEGORIES
        ]
    )


def expected_lines(scale: float) -> np.ndarray:
    """Expected lines per (category, month) at this scale: LINES_AT_SCALE_1 * scale of them
    are invoiced by AS_OF (the rest are orders still open in November and December)."""
    rate = _line_rates()
    invoiced_months = month_index(np.array([AS_OF_DAY]))[0] + 1
    return LINES_AT_SCALE_1 * scale * rate / rate[:, :invoiced_months].sum()


def _documents(rng: np.random.Generator, scale: float, m: Master) -> dict[str, np.ndarray]:
    # whole lines per (category, month): the expectation, rounded up or down at random, so
    # each category's volume follows its plan closely even at a small scale
    expected = expected_lines(scale).ravel()
    per_cell = np.floor(expected).astype(np.int64)
    per_cell += rng.random(expected.size) < expected - per_cell
    cell = np.repeat(np.arange(expected.size), per_cell)
    p = np.array([c.lines_p for c in CATEGORIES])[cell // N_MONTHS]
    # a line opens a new document with probability p: about 1/p lines per document
    opens = np.r_[True, cell[1:] != cell[:-1]] | (rng.random(len(cell)) < p)
    first = np.flatnonzero(opens)
    n_lines = np.diff(np.r_[first, len(cell)])
    n_docs = len(first)
    cat, month = cell[first] // N_MONTHS, cell[first] % N_MONTHS
    options = np.argwhere(m.cc_weight > 0)
    cc = options[pick(rng, options[:, 0], m.cc_weight[options[:, 0], options[:, 1]], cat), 1]
    mav = rng.random(n_docs) < np.array([c.maverick_share for c in CATEGORIES])[cat]

    # story 4: CC-3030 books ever more events and agencies without a PO through FY2026
    cc3030 = [c for c, _ in COST_CENTRES].index(MAVERICK_COST_CENTRE)
    n25 = int(np.sum(mav & (cc == cc3030) & (month // 12 == 2)))
    n_surge = max(12, round(1.8 * n25))
    ramp = np.arange(1, 13, dtype=float)
    s_month = 36 + rng.choice(12, size=n_surge, p=ramp / ramp.sum())
    s_cat = np.where(
        rng.random(n_surge) < 0.7,
        m.cat_names.index("Marketing"),
        m.cat_names.index("Professional services"),
    )
    cat = np.r_[cat, s_cat]
    month = np.r_[month, s_month]
    cc = np.r_[cc, np.full(n_surge, cc3030)]
    mav = np.r_[mav, np.ones(n_surge, dtype=bool)]
    surge = np.r_[np.zeros(n_docs, dtype=bool), np.ones(n_surge, dtype=bool)]

    starts = month_starts(N_MONTHS)
    length = np.diff(starts)
    day = nearest_weekday(starts[month] + (rng.random(len(month)) * length[month]).astype(int))
    # suppliers: invoices with no PO go more often to suppliers nobody prefers
    bias = np.where(m.sup_pref, 0.6, 1.8)
    sup = np.where(
        mav,
        pick(rng, m.sup_cat, m.sup_weight * bias, cat),
        pick(rng, m.sup_cat, m.sup_weight, cat),
    )
    n_lines = np.r_[n_lines, np.minimum(rng.geometric(0.7, n_surge), 4)]
    return {
        "day": day,
        "cat": cat,
        "cc": cc,
        "sup": sup,
        "mav": mav,
        "surge": surge,
        "n": n_lines,
    }


def draw_lines(rng: np.random.Generator, scale: float, m: Master, plan: Plan) -> Lines:
    """Every order line: which item from which supplier, how many, at what price."""
    d = _documents(rng, scale, m)
    n_lines = d["n"]
    doc = np.repeat(np.arange(len(n_lines)), n_lines)
    line_no = segment_rank(doc)
    day = d["day"][doc]
    pair = pick(rng, m.pair_sup, m.pair_w, d["sup"][doc])
    gone = day >= m.item_stop[m.pair_item[pair]]
    pair = np.where(gone, m.pair_successor[pair], pair)
    item = m.pair_item[pair]

    q0 = m.item_q0[item]
    q = q0 * rng.lognormal(0.0, QTY_SIGMA, len(doc))
    q = np.where(day >= plan.less_from[pair], q * 0.75, q)
    step = np.where(
        m.item_qdec[item] > 0, 0.001, np.where(q0 >= 100, 10 ** (np.floor(np.log10(q0)) - 1), 1)
    )
    qty = np.round(np.maximum(step, np.round(q / step) * step) * 1000).astype(np.int64)

    year = np.clip(year_of(day) - 2023, 0, 3)
    listed = m.pair_price[pair, year]
    pdec = m.item_pdec[item]
    moved = day >= plan.price_from[pair]
    u = rng.random(len(doc))
    leak = (u < 0.04) & (plan.price_old[pair] > plan.price_new[pair])  # old price paid again
    price = np.where(moved, np.where(leak, plan.price_old[pair], plan.price_new[pair]), listed)
    off_contract = ~moved & m.pair_contract[pair] & (u < 0.02)
    mav = d["mav"][doc]
    markup = np.where(mav, rng.uniform(1.03, 1.15, len(doc)), rng.uniform(1.03, 1.08, len(doc)))
    spot = round_price(listed * markup / 10_000, pdec)
    price = np.where(mav | off_contract, spot, price)
    return Lines(
        doc_day=d["day"],
        doc_cat=d["cat"],
        doc_cc=d["cc"],
        doc_sup=d["sup"],
        doc_mav=d["mav"],
        doc_surge=d["surge"],
        doc_n=n_lines,
        doc=doc,
        line_no=line_no,
        pair=pair,
        qty=qty,
        price=price,
        cents=amount_cents(qty, price),
        scale=scale,
    )


# ---- purchase orders, receipts, invoices, payments ---------------------------------------
@dataclass
class Flow:
    """The tables of the procure-to-pay flow."""

    purchase_orders: pl.DataFrame
    goods_receipts: pl.DataFrame
    invoices: pl.DataFrame


@dataclass
class DocDates:
    """Each document's dates, from order to invoice."""

    invoice: np.ndarray
    last_receipt: np.ndarray
    promised: np.ndarray
    ordered: np.ndarray
    approved: np.ndarray


def _po_dates(rng: np.random.Generator, m: Master, ln: Lines) -> DocDates:
    """Each document's PO dates, worked back from its invoice: delivered a few days before
    it, promised on or before delivery (well before, when late), ordered a lead time earlier
    and approved a few days after the order."""
    n = len(ln.doc_day)
    inv = ln.doc_day
    first_line = np.cumsum(ln.doc_n) - ln.doc_n
    lead = m.item_lead[m.pair_item[ln.pair[first_line]]]
    last_rcpt = workdays(inv, -rng.integers(0, 6, n))
    u = rng.random(n)
    p_late = m.sup_late_delivery[ln.doc_sup]
    gap = rng.geometric(1 / 6, n)
    early = -rng.integers(0, 3, n)
    late = u < p_late
    promised = workdays(last_rcpt, -np.where(late, np.minimum(gap, 40), early))  # working days
    lead_now = np.maximum(1, np.round(lead * rng.uniform(0.8, 1.2, n) * 5 / 7)).astype(np.int64)
    po_day = np.minimum(workdays(promised, -lead_now), workdays(last_rcpt, -1))
    po_day = np.maximum(po_day, day_number(date(2023, 1, 2)))  # the first orders of the data set
    approved = workdays(po_day, rng.choice([0, 1, 1, 1, 2, 2, 3, 4, 6], n))
    approved = np.maximum(np.minimum(approved, last_rcpt), po_day)
    # orders still open at AS_OF run late more often and longer than their order date
    # allowed for: overdue lines to chase (the order dates stay as drawn)
    still_open = (inv > AS_OF_DAY) & ~late & (u < np.minimum(2 * p_late, 0.5))
    still_open |= (inv > AS_OF_DAY) & late
    promised = np.where(still_open, workdays(last_rcpt, -np.minimum(3 * gap, 45)), promised)
    promised = np.maximum(promised, approved)
    last_rcpt = np.maximum(last_rcpt, approved)
    inv = np.where(ln.doc_mav, inv, np.maximum(inv, last_rcpt))
    return DocDates(inv, last_rcpt, promised, po_day, approved)


@dataclass
class Receipts:
    """Goods receipts of the PO lines."""

    line: np.ndarray  # index into the PO lines
    day: np.ndarray
    qty: np.ndarray
    received: np.ndarray  # per PO line, by AS_OF


def _receipts(
    rng: np.random.Generator, m: Master, ln: Lines, dd: DocDates, lines: np.ndarray
) -> Receipts:
    """Deliveries of the PO lines received by AS_OF: one, or a part first and the rest later.
    Of the lines promised by AS_OF and not delivered by then, about half arrived late before
    AS_OF and the rest are still outstanding (overdue open lines)."""
    n = len(lines)
    doc = ln.doc[lines]
    qty = ln.qty[lines]
    approved, promised = dd.approved[doc], dd.promised[doc]
    last = np.maximum(
        workdays(dd.last_receipt[doc], np.where(rng.random(n) < 0.2, -rng.integers(1, 3, n), 0)),
        approved,
    )
    first_qty = np.where(
        m.item_qdec[m.pair_item[ln.pair[lines]]] > 0,
        (qty * rng.uniform(0.3, 0.7, n)).astype(np.int64),
        (qty // 1000 * rng.uniform(0.3, 0.7, n)).astype(np.int64) * 1000,
    )
    first = workdays(last, -rng.integers(2, 11, n))
    split = (rng.random(n) < 0.12) & (first_qty > 0) & (first_qty < qty) & (first > approved)
    has_first = split & (first <= AS_OF_DAY)
    has_last = last <= AS_OF_DAY
    overdue = ~has_first & ~has_last & (promised <= AS_OF_DAY)
    when = rng.random(n)
    overdue &= when >= 0.45  # the others are still outstanding at AS_OF
    when = (when - 0.45) / 0.55
    arrived = promised + (when * (AS_OF_DAY - promised + 1)).astype(np.int64)
    arrived = np.maximum(np.minimum(back_to_weekday(arrived), LAST_WORKDAY), approved)
    last = np.where(overdue, arrived, last)
    last_qty = np.where(split & ~overdue, qty - first_qty, qty)
    has_last |= overdue
    line = np.r_[np.flatnonzero(has_first), np.flatnonzero(has_last)]
    day = np.r_[first[has_first], last[has_last]]
    rqty = np.r_[first_qty[has_first], last_qty[has_last]]
    order = np.lexsort((day, line))
    received = np.bincount(line, weights=rqty, minlength=n)
    return Receipts(line[order], day[order], rqty[order], received)


def draw_flow(rng: np.random.Generator, m: Master, ln: Lines, contracts: pl.DataFrame) -> Flow:
    """Purchase orders, goods receipts and invoices (with payments) from the lines."""
    dd = _po_dates(rng, m, ln)
    po = ~ln.doc_mav
    keep_po = po & (dd.ordered <= AS_OF_DAY)
    invoiced = dd.invoice <= AS_OF_DAY
    kept = np.flatnonzero(np.where(po, keep_po, invoiced)[ln.doc])

    # POs numbered by order date; their lines in number order
    po_docs = np.flatnonzero(keep_po)
    po_numbers, rank = document_numbers("PO", dd.ordered[po_docs], po_docs)
    po_seq = np.full(len(po), -1)
    po_seq[po_docs] = rank
    lines = kept[po[ln.doc[kept]]]
    lines = lines[np.lexsort((ln.line_no[lines], po_seq[ln.doc[lines]]))]
    doc = ln.doc[lines]
    rec = _receipts(rng, m, ln, dd, lines)
    status = np.select(  # index into PO_STATUSES
        [invoiced[doc], rec.received >= ln.qty[lines], rec.received > 0], [0, 1, 2], 3
    )
    po_id = po_numbers.gather(po_seq[doc])
    pair = ln.pair[lines]
    item = m.pair_item[pair]
    sup = ln.doc_sup[doc]
    purchase_orders = pl.DataFrame(
        {
            "po_id": po_id,
            "po_line": ln.line_no[lines],
            "po_date": date_series(dd.ordered[doc]),
            "approved_date": date_series(dd.approved[doc], dd.approved[doc] > AS_OF_DAY),
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "item_id": pl.Series(m.item_id).gather(item),
            "category": pl.Series(m.cat_names).gather(m.item_cat[item]),
            "cost_centre": pl.Series([c for c, _ in COST_CENTRES]).gather(ln.doc_cc[doc]),
            "quantity": ln.qty[lines],
            "unit_price": ln.price[lines],
            "amount": ln.cents[lines],
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[sup]),
            "contract_id": contract_in_force(m, contracts, pair, dd.invoice[doc]),
            "promised_date": date_series(dd.promised[doc]),
            "status": pl.Series(PO_STATUSES).gather(status),
        }
    )
    goods_receipts = pl.DataFrame(
        {
            "po_id": po_id.gather(rec.line),
            "po_line": ln.line_no[lines][rec.line],
            "receipt_date": date_series(rec.day),
            "quantity": rec.qty,
        }
    )
    billed = kept[invoiced[ln.doc[kept]]]
    invoices = _invoices(rng, m, ln, dd.invoice, billed, po_numbers, po_seq)
    return Flow(purchase_orders, goods_receipts, invoices)


def _invoices(
    rng: np.random.Generator,
    m: Master,
    ln: Lines,
    inv_day: np.ndarray,
    lines: np.ndarray,
    po_numbers: pl.Series,
    po_seq: np.ndarray,
) -> pl.DataFrame:
    """Invoice lines in invoice-number order, with due date, payment and discount taken."""
    docs = np.unique(ln.doc[lines])
    numbers, rank = document_numbers("INV", inv_day[docs], docs)
    pos = np.searchsorted(docs, ln.doc[lines])
    order = np.lexsort((ln.line_no[lines], rank[pos]))
    lines, pos = lines[order], pos[order]
    inv = inv_day[docs]
    sup = ln.doc_sup[docs]
    due = inv + m.sup_terms[sup]
    paid = _paid_days(rng, m, sup, inv, ln.doc_mav[docs])
    unpaid = paid > AS_OF_DAY
    captured = (m.sup_disc[sup] > 0) & ~unpaid & (paid - inv <= m.sup_disc_days[sup])
    cents = ln.cents[lines]
    disc_e4 = np.round(m.sup_disc[sup] * 10_000).astype(np.int64)[pos]
    taken = np.where(captured[pos], (cents * disc_e4 + 500_000) // 1_000_000, 0)
    item = m.pair_item[ln.pair[lines]]
    lsup = sup[pos]
    seq = po_seq[ln.doc[lines]]
    return pl.DataFrame(
        {
            "invoice_id": numbers.gather(rank[pos]),
            "invoice_line": ln.line_no[lines],
            "supplier_id": pl.Series(m.sup_id).gather(lsup),
            "po_id": po_numbers.gather(np.maximum(seq, 0)).scatter(np.flatnonzero(seq < 0), None),
            "invoice_date": date_series(inv[pos]),
            "due_date": date_series(due[pos]),
            "paid_date": date_series(paid[pos], unpaid[pos]),
            "item_id": pl.Series(m.item_id).gather(item),
            "category": pl.Series(m.cat_names).gather(m.item_cat[item]),
            "cost_centre": pl.Series([c for c, _ in COST_CENTRES]).gather(ln.doc_cc[ln.doc[lines]]),
            "quantity": ln.qty[lines],
            "unit_price": ln.price[lines],
            "amount": cents,
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[lsup]),
            "discount_taken": taken,
        }
    )


def _paid_days(
    rng: np.random.Generator, m: Master, sup: np.ndarray, inv: np.ndarray, no_po: np.ndarray
) -> np.ndarray:
    """When each invoice was paid (after AS_OF = still open). Large preferred suppliers are
    paid in ~20 days whatever their terms (story 2); discounts are taken about half the time
    they are offered; a share of invoices is paid late, more so without a PO."""
    k = len(inv)
    terms = m.sup_terms[sup]
    fast = m.sup_large[sup] & m.sup_pref[sup]
    disc_days = m.sup_disc_days[sup]
    takes_discount = (m.sup_disc[sup] > 0) & (rng.random(k) < 0.55)
    late = rng.random(k) < np.where(no_po, 0.4, m.sup_late_payment[sup])
    days = np.select(
        [fast, takes_discount, late],
        [
            np.clip(np.round(rng.normal(20, 3, k)), 12, 30).astype(np.int64),
            rng.integers(3, np.maximum(disc_days, 4) + 1),
            terms + 1 + np.minimum(rng.geometric(1 / 14, k), 90),
        ],
        terms + rng.integers(-5, 1, k),
    )
    paid = np.where(
        late & ~fast & ~takes_discount, on_to_weekday(inv + days), back_to_weekday(inv + days)
    )
    paid = np.maximum(paid, inv)
    # open at AS_OF: invoices not yet due or due in the last two weeks; older overdue ones
    # were caught up by the last payment runs
    due = inv + terms
    catch_up = (paid > AS_OF_DAY) & (due < AS_OF_DAY - 14) & (inv < AS_OF_DAY - 42)
    last_runs = back_to_weekday(LAST_WORKDAY - rng.integers(0, 6, k))
    return np.where(catch_up, np.maximum(due + 1, last_runs), paid)
