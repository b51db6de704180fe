"""Suppliers: a scorecard per supplier, concentration per category and one supplier's history.

The scorecard puts procurement's view of a supplier (spend and share, on-time delivery
from goods receipts, price variance against contract, invoices without PO) beside
finance's (how punctually we pay them, their payment terms and discount). Concentration
per category gives the top supplier's share and the Herfindahl–Hirschman index (the sum
of the squared percentage shares: 10,000 for a single source, above 2,500 is highly
concentrated); a category with one supplier is single-source. The SQL is in
kpi/store/queries/spend.py; money is exact DECIMAL in the display currency.
"""

from __future__ import annotations

import polars as pl

from kpi.analyses.spend import BUDGET_FILTERS, SPEND_FILTERS, _spend
from kpi.core.scope import Scope
from kpi.store.database import Store
from kpi.store.queries import spend as q
from kpi.store.query import run

SCORECARD_FILTERS = SPEND_FILTERS
# one supplier's deliveries come from purchase orders, which know no item
HISTORY_FILTERS = BUDGET_FILTERS

HHI_HIGH = 2500.0  # above: highly concentrated (the usual competition-authority thresholds)
HHI_MODERATE = 1500.0


def scorecard(store: Store, scope: Scope) -> pl.DataFrame:
    """One row per supplier with spend in the period, largest first.

    Columns: supplier_id, supplier, country, size, preferred, spend, spend_share,
    on_contract_share, received_lines, on_time_lines, on_time_delivery (PO lines promised
    in the period), price_variance, invoices_without_po, spend_without_po, paid_lines,
    paid_on_time_lines, we_paid_on_time, avg_days_to_pay, payment_terms_days, discount_pct,
    discount_days.
    """
    return _spend(store, q.SUPPLIER_SCORECARD, scope)


def concentration(store: Store, scope: Scope) -> pl.DataFrame:
    """Per category: spend, suppliers, top_supplier, top_supplier_share, top5_share,
    herfindahl (0–10,000), single_source and level (high / moderate / low)."""
    frame = _spend(store, q.CONCENTRATION, scope)
    hhi = pl.col("herfindahl")
    level = (
        pl.when(hhi > HHI_HIGH)
        .then(pl.lit("high"))
        .when(hhi > HHI_MODERATE)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("low"))
    )
    return frame.with_columns(level.alias("level"))


def supplier_history(store: Store, scope: Scope, supplier_id: str) -> dict[str, pl.DataFrame]:
    """One supplier over the period: 'monthly' spend (amount, no_po_amount, price_variance),
    the 'items' bought (quantity, amount, price range, contract price, variance) and
    'deliveries' per month promised (received, on time, mean days late)."""
    params = scope.params(HISTORY_FILTERS) | scope.period_params() | {"supplier_id": supplier_id}
    spend_params = params | {"supplier": None, "item_id": None}
    return {
        "monthly": run(store, q.SUPPLIER_MONTHLY, spend_params, scope.currency),
        "items": run(store, q.SUPPLIER_ITEMS, spend_params, scope.currency),
        "deliveries": run(store, q.SUPPLIER_DELIVERIES, params),
    }
