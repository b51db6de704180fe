"""Suppliers: a scorecard per supplier, concentration per category and one supplier's history.

The scorecard puts procurement's view of a supplier (spend and share, on-time delivery
from goods receipts, price variance against contract, invoices without PO) beside
finance's (how punctually we pay them, their payment terms and discount). Concentration
per category gives the top supplier's share and the Herfindahl–Hirschman index (the sum
of the squared percentage shares: 10,000 for a single source, above 2,500 is highly
concentrated); a category with one supplier is single-source. The SQL is in
kpi/store/queries/spend.py; money is exact DECIMAL in the display currency.

A figure a KPI defines (on-time delivery, days to pay, we paid on time, price variance, top-5
share) is that KPI by the engine, split by supplier or category over the same scope
(kpi.analyses.kpi_figures): the SQL here gives only what no KPI defines (spend, counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from kpi.analyses.kpi_figures import kpi_columns
from kpi.analyses.spend import BUDGET_FILTERS, SPEND_FILTERS, _spend
from kpi.core.scope import Scope
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.queries import spend as q
from kpi.store.query import run

SCORECARD_FILTERS = SPEND_FILTERS
# one supplier's deliveries come from purchase orders, which know no item
HISTORY_FILTERS = BUDGET_FILTERS

HHI_HIGH = 2500.0  # above: highly concentrated (the usual competition-authority thresholds)
HHI_MODERATE = 1500.0

# the page's columns that a KPI defines: {column: KPI id}, computed by the engine
SCORECARD_KPIS = {
    "on_time_delivery": "supplier_otd",
    "we_paid_on_time": "on_time_payment_rate",
    "avg_days_to_pay": "days_to_pay",
    "price_variance": "purchase_price_variance",
}
SCORECARD_MONEY = ("price_variance",)
# herfindahl: supplier_hhi (0–1) shown on the competition authorities' 0–10,000 scale
CONCENTRATION_KPIS = {"top5_share": "supplier_concentration_top5", "herfindahl": "supplier_hhi"}
HISTORY_KPIS = {"price_variance": "purchase_price_variance"}  # one supplier, per month
DELIVERY_KPIS = {"on_time_delivery": "supplier_otd"}  # one supplier, per month promised


# the tables' columns in the order people read them: the KPI columns beside the counts
# they summarise (the queries give the other columns; the engine the KPIs)
SCORECARD_COLUMNS = (
    "supplier_id", "supplier", "country", "size", "preferred", "spend", "spend_share",
    "on_contract_share", "received_lines", "on_time_lines", "on_time_delivery",
    "price_variance", "invoices_without_po", "spend_without_po", "paid_lines",
    "paid_on_time_lines", "we_paid_on_time", "avg_days_to_pay", "payment_terms_days",
    "discount_pct", "discount_days",
)  # fmt: skip
CONCENTRATION_COLUMNS = (
    "category", "spend", "suppliers", "top_supplier", "top_supplier_share", "top5_share",
    "herfindahl", "single_source",
)  # fmt: skip
MONTHLY_COLUMNS = ("month", "amount", "no_po_amount", "price_variance")
DELIVERY_COLUMNS = ("month", "received_lines", "on_time_lines", "on_time_delivery", "avg_days_late")


def _with_kpis(
    frame: pl.DataFrame,
    kpis: pl.DataFrame,
    on: str,
    columns: Sequence[str],
    order: Sequence[str],
) -> pl.DataFrame:
    """`frame` with `columns` from the engine's `kpis` joined on `on`, in table `order`."""
    return frame.join(kpis.select(on, *columns), on=on, how="left").select(order)


def scorecard(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition] | None = None
) -> pl.DataFrame:
    """One row per supplier with spend in the period, largest first.

    Columns: supplier_id, supplier, country, size, preferred, spend, spend_share,
    on_contract_share, received_lines, on_time_lines, on_time_delivery (supplier_otd),
    price_variance (purchase_price_variance), invoices_without_po, spend_without_po,
    paid_lines, paid_on_time_lines, we_paid_on_time (on_time_payment_rate), avg_days_to_pay
    (days_to_pay), payment_terms_days, discount_pct, discount_days. The KPIs' columns are
    the KPIs by the engine split by supplier, each by its own period column over the scope.
    """
    frame = _spend(store, q.SUPPLIER_SCORECARD, scope)
    kpis = kpi_columns(store, scope, SCORECARD_KPIS, "supplier", definitions, money=SCORECARD_MONEY)
    return _with_kpis(frame, kpis, "supplier", list(SCORECARD_KPIS), SCORECARD_COLUMNS)


def concentration(
    store: Store, scope: Scope, definitions: Sequence[KpiDefinition] | None = None
) -> pl.DataFrame:
    """Per category: spend, suppliers, top_supplier, top_supplier_share, top5_share
    (supplier_concentration_top5 by the engine), herfindahl (supplier_hhi by the engine, on
    the 0–10,000 scale), single_source and
    level (high / moderate / low)."""
    frame = _spend(store, q.CONCENTRATION, scope)
    kpis = kpi_columns(store, scope, CONCENTRATION_KPIS, "category", definitions)
    # the page names lines without a category '(no category)'; the engine leaves it null
    kpis = kpis.with_columns(pl.col("category").fill_null("(no category)"))
    frame = _with_kpis(frame, kpis, "category", list(CONCENTRATION_KPIS), CONCENTRATION_COLUMNS)
    frame = frame.with_columns(pl.col("herfindahl") * 10_000).sort(
        "herfindahl", "category", descending=[True, False], nulls_last=True
    )
    hhi = pl.col("herfindahl")
    level = (
        pl.when(hhi > HHI_HIGH)
        .then(pl.lit("high"))
        .when(hhi > HHI_MODERATE)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("low"))
    )
    return frame.with_columns(level.alias("level"))


def supplier_history(
    store: Store,
    scope: Scope,
    supplier_id: str,
    definitions: Sequence[KpiDefinition] | None = None,
) -> dict[str, pl.DataFrame]:
    """One supplier over the period: 'monthly' spend (amount, no_po_amount, price_variance),
    the 'items' bought (quantity, amount, price range, contract price, variance) and
    'deliveries' per month promised (received, on time, mean days late). The monthly price
    variance and on-time delivery are the KPIs by the engine for this supplier per month."""
    params = scope.params(HISTORY_FILTERS) | scope.period_params() | {"supplier_id": supplier_id}
    spend_params = params | {"supplier": None, "item_id": None}
    monthly = run(store, q.SUPPLIER_MONTHLY, spend_params, scope.currency)
    deliveries = run(store, q.SUPPLIER_DELIVERIES, params)
    with store.read() as con:
        row = con.execute(q.SUPPLIER_NAME, {"supplier_id": supplier_id}).fetchone()
    one = scope.only(HISTORY_FILTERS).narrowed(supplier=row[0] if row else supplier_id)
    money = list(HISTORY_KPIS)
    spend_kpis = kpi_columns(store, one, HISTORY_KPIS, None, definitions, "month", money)
    delivery_kpis = kpi_columns(store, one, DELIVERY_KPIS, None, definitions, "month")
    return {
        "monthly": _with_kpis(monthly, spend_kpis, "month", list(HISTORY_KPIS), MONTHLY_COLUMNS),
        "items": run(store, q.SUPPLIER_ITEMS, spend_params, scope.currency),
        "deliveries": _with_kpis(
            deliveries, delivery_kpis, "month", list(DELIVERY_KPIS), DELIVERY_COLUMNS
        ),
    }
