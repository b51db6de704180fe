"""A terms proposal's figures: finance's first view beside procurement's, and after agreement
the agreed suppliers' actual days to pay and prices against the plan, month by month.

Both views come from the terms simulator (kpi.analyses.terms.simulate_terms) over the
proposal's own spend year: finance's is what the simulator gave when the proposal was made
(kept on the version's lines), procurement's is the simulator run again with procurement's
days (accepted: the proposed days; counter-offer: its days; refused: the supplier stays as
it is) and procurement's expected pass-through in place of the model's. Days to pay after
agreement are the days_to_pay KPI, computed by the engine per supplier with a supplier
filter: no second formula.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from kpi.analyses.terms import DAYS_TO_PAY_KPI, PaymentPolicy, simulate_terms
from kpi.semantic.definitions import DefinitionsError, load_definitions
from kpi.semantic.engine import compute
from kpi.store.database import Store
from kpi.store.queries import terms_proposals as q
from kpi.store.query import fetch_frame
from kpi.workflows.terms_proposals import Proposal

MONEY = (
    "cash_released",
    "annual_financing_benefit",
    "discounts_forgone",
    "supplier_price_passthrough",
    "net_benefit",
)
ZERO = Decimal("0.00")


def procurement_days(line: dict) -> int | None:
    """The days procurement's answer puts a supplier on (None: refused or not answered)."""
    if line["answer"] == "accept":
        return int(line["proposed_days"])
    if line["answer"] == "counter":
        return int(line["counter_days"])
    return None


def side_by_side(
    store: Store, proposal: Proposal, policy: PaymentPolicy | None = None
) -> tuple[pl.DataFrame, dict[str, dict[str, Decimal]]]:
    """One row per supplier with finance's first view and procurement's, and both totals.

    Procurement's columns are prefixed `procurement_`; a refused supplier stays on its
    terms (its money is 0.00), one not answered yet has none (null, left out of the total).
    """
    lines = list(proposal.lines.iter_rows(named=True))
    days = {r["supplier_id"]: d for r in lines if (d := procurement_days(r)) is not None}
    pct = {r["supplier_id"]: r["passthrough_pct"] for r in lines if r["supplier_id"] in days}
    recomputed: dict[str, dict] = {}
    if days:
        rec = proposal.record
        scenario = simulate_terms(
            store, next(iter(days.values())), as_of=rec["window_end"], policy=policy,
            currency=rec["currency"], days_by_supplier=days, passthrough_pct=pct,
        )  # fmt: skip
        recomputed = {r["supplier_id"]: r for r in scenario.suppliers.iter_rows(named=True)}
    rows = []
    totals = {"finance": dict.fromkeys(MONEY, ZERO), "procurement": dict.fromkeys(MONEY, ZERO)}
    for r in lines:
        row = {
            "supplier_id": r["supplier_id"],
            "supplier_name": r["supplier_name"],
            "payment_terms_days": r["payment_terms_days"],
            "today_days": r["today_days"],
            "proposed_days": r["proposed_days"],
            **{k: r[k] for k in MONEY},
            "answer": r["answer"],
            "procurement_days": days.get(r["supplier_id"]),
            "passthrough_pct": r["passthrough_pct"],
            "relationship_risk": r["relationship_risk"],
            "answer_reason": r["answer_reason"],
        }
        for k in MONEY:
            totals["finance"][k] += r[k] or ZERO
            if r["supplier_id"] in recomputed:
                value = recomputed[r["supplier_id"]][k]
            else:
                value = ZERO if r["answer"] == "refuse" else None
            row[f"procurement_{k}"] = value
            totals["procurement"][k] += value or ZERO
        rows.append(row)
    money = pl.Decimal(18, 2)
    schema = {
        "supplier_id": pl.String,
        "supplier_name": pl.String,
        "payment_terms_days": pl.Int64,
        "today_days": pl.Decimal(9, 1),
        "proposed_days": pl.Int64,
        **dict.fromkeys(MONEY, money),
        "answer": pl.String,
        "procurement_days": pl.Int64,
        "passthrough_pct": pl.Decimal(9, 4),
        "relationship_risk": pl.String,
        "answer_reason": pl.String,
        **{f"procurement_{k}": money for k in MONEY},
    }
    return pl.DataFrame(rows, schema=schema), totals


TRACKING_SCHEMA = {
    "period": pl.String,
    "supplier_id": pl.String,
    "supplier_name": pl.String,
    "days_before": pl.Decimal(9, 1),
    "agreed_days": pl.Int64,
    "days_to_pay": pl.Float64,
    "days_gap": pl.Float64,
    "planned_price_change_pct": pl.Float64,
    "price_change_pct": pl.Float64,
    "spend": pl.Decimal(18, 2),
}


def tracking(store: Store, proposal: Proposal, currency: str | None = None) -> pl.DataFrame:
    """Per month from the day the agreed terms apply, per supplier moved by the agreement:
    days paid before, agreed days, the days_to_pay KPI that month (by the engine, filtered
    to those suppliers), the gap; the price change procurement expected (its pass-through)
    against the one paid: the month's invoice lines of the supplier's items against the
    same quantities at the item's mean price in the proposal's spend year. Empty unless
    the proposal is agreed; months with neither a payment nor a priced line are left out.
    """
    if proposal.status != "agreed":
        return pl.DataFrame(schema=TRACKING_SCHEMA)
    lines = list(proposal.lines.iter_rows(named=True))
    agreed = {r["supplier_id"]: r for r in lines if procurement_days(r) is not None}
    ids = sorted(agreed)
    currency = currency or proposal.record["currency"]
    days = _days_to_pay(store, ids, proposal, currency)
    params = {
        "supplier_ids": ids,
        "window_start": proposal.record["window_start"],
        "window_end": proposal.record["window_end"],
        "effective_from": proposal.effective_from,
    }
    with store.read(display_currency=currency) as con:
        prices = fetch_frame(con, q.PRICE_CHANGE_BY_MONTH, params)
    keys = sorted(
        {(p, s) for s, p in zip(days["supplier_id"], days["period"], strict=True)}
        | {(p, s) for s, p in zip(prices["supplier_id"], prices["period"], strict=True)}
    )
    by_days = {(r["period"], r["supplier_id"]): r["value"] for r in days.iter_rows(named=True)}
    by_price = {(r["period"], r["supplier_id"]): r for r in prices.iter_rows(named=True)}
    rows = []
    for period, supplier in keys:
        line = agreed[supplier]
        actual = by_days.get((period, supplier))
        target = procurement_days(line)
        price = by_price.get((period, supplier), {})
        change = price.get("price_change")
        rows.append(
            {
                "period": period,
                "supplier_id": supplier,
                "supplier_name": line["supplier_name"],
                "days_before": line["today_days"],
                "agreed_days": target,
                "days_to_pay": None if actual is None else round(actual, 1),
                "days_gap": None if actual is None else round(actual - target, 1),
                "planned_price_change_pct": float(line["passthrough_pct"] or 0),
                "price_change_pct": None if change is None else round(change * 100, 2),
                "spend": price.get("spend"),
            }
        )
    return pl.DataFrame(rows, schema=TRACKING_SCHEMA)


def _days_to_pay(
    store: Store, supplier_ids: list[str], proposal: Proposal, currency: str
) -> pl.DataFrame:
    """The days_to_pay KPI per month and supplier from the day the terms apply (engine)."""
    empty = pl.DataFrame(
        schema={"period": pl.String, "supplier_id": pl.String, "value": pl.Float64}
    )
    try:
        defs = [k for k in load_definitions(None, store.settings) if k.id == DAYS_TO_PAY_KPI]
    except DefinitionsError:
        return empty
    if not defs or not supplier_ids:
        return empty
    result = compute(
        store, defs, "month", ["supplier_id"], proposal.effective_from, None,
        {"supplier_id": supplier_ids}, currency,
    )  # fmt: skip
    frame = result.frame
    if frame.is_empty() or "supplier_id" not in frame.columns:
        return empty
    return frame.filter(pl.col("value").is_not_null()).select(
        "period", "supplier_id", pl.col("value").cast(pl.Float64)
    )
