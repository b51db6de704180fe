"""Inventory: stock split into safety, cycle, excess and obsolete, and the items to question.

Finance sees idle stock as cash on a shelf; procurement holds some of it on purpose. Each
snapshot's stock is split by the levels procurement set (safety, max) and by movement
(view `inventory_position`): stock with no issue and no goods receipt of the item for
`obsolete_after_days` is obsolete (new stock never issued counts from its receipt, or its
first snapshot when no receipt is on record); the safety level protects only a critical
item's stock (criticality critical or high). Stock of an item procurement marked as safety or
strategic stock (kpi.workflows.stock_marks) is neither excess nor obsolete in the snapshots
its mark covers (up to and including its review date). Each class is valued, and every item
finance would question is listed with procurement's reasons beside it, its mark first. The
KPIs average each location over its own snapshot dates; the chart here shows the stock of
each snapshot date as is.
"""

from __future__ import annotations

import polars as pl

from kpi.core.scope import Scope
from kpi.semantic.engine import run_view_query
from kpi.store.database import Store
from kpi.store.queries import working_capital as q

CLASSES = ("safety", "cycle", "excess", "obsolete")
# stock is held per item and location: it has a category, but no cost centre
INVENTORY_FILTERS = ("category",)


def _stock(store: Store, built: tuple[str, dict], scope: Scope) -> pl.DataFrame:
    query, params = built
    # on the engine of the settings (DuckDB's store or Spark's lake), as the KPIs are
    return run_view_query(store, query, {**params, **scope.period_params()}, scope.currency)


def stock_by_snapshot(store: Store, scope: Scope) -> pl.DataFrame:
    """Per snapshot: the value of each class, the total, days of inventory and turns.

    Days of inventory = stock value / value issued per day (last 90 days); turns = 365 /
    days. The four classes add up to the stock value to the cent.
    """
    scope.params(INVENTORY_FILTERS)  # refuses a filter stock cannot honour
    frame = _stock(store, q.stock_by_snapshot(scope.as_dict()), scope)
    usage = pl.col("usage_value_per_day").cast(pl.Float64)
    days = pl.col("stock_value").cast(pl.Float64) / pl.when(usage > 0).then(usage)
    return frame.with_columns(
        pl.col("snapshot_date").dt.strftime("%Y-%m-%d").alias("period"),
        days.round(1).alias("days_inventory"),
        (365 / days).round(2).alias("turns"),
    ).drop("usage_value_per_day")


def items_to_question(store: Store, scope: Scope) -> pl.DataFrame:
    """Stock lines of each location's last snapshot in range that finance would question,
    with procurement's reasons: idle (no issue and no receipt for longer than the obsolete
    limit; obsolete, or a critical item's safety stock held on purpose), or above max.

    `value_questioned` is the whole stock of an idle line (finance asks why it is held at
    all) and the excess of a line that moves but sits above its max.
    """
    scope.params(INVENTORY_FILTERS)
    frame = _stock(store, q.stock_at(scope.as_dict()), scope)
    limit = store.settings.obsolete_after_days
    idle = pl.col("days_since_movement") > limit
    excess = pl.col("excess_value") > 0
    frame = frame.filter(idle | excess | (pl.col("obsolete_value") > 0))
    qty = _qty_text
    question = (
        pl.when(pl.col("obsolete_value") > 0)
        .then(pl.format("No issue for {} days: obsolete?", _days_idle()))
        .when(idle)
        .then(pl.format("No issue for {} days", _days_idle()))
        .otherwise(
            pl.format("{} units above the max of {}", qty("excess_qty"), qty("max_stock_qty"))
        )
    )
    review = pl.col("mark_review_date").dt.strftime("%Y-%m-%d")
    kind, why = pl.col("stock_mark"), pl.col("mark_reason")
    mark = (
        pl.when(pl.col("held_on_purpose"))
        .then(pl.format("marked {} stock until {}: {}", kind, review, why))
        .otherwise(pl.format("marked {} stock, review passed on {}: {}", kind, review, why))
    )
    reason = pl.concat_str(
        [
            pl.when(pl.col("stock_mark").is_not_null()).then(mark),
            pl.when(pl.col("safety_stock_qty") > 0)
            .then(pl.format("safety level {} units", qty("safety_stock_qty")))
            .otherwise(pl.lit("no safety level set")),
            pl.format("lead time {} days", pl.col("lead_time_days").cast(pl.String).fill_null("?")),
            pl.format("criticality {}", pl.col("criticality").fill_null("not set")),
            pl.when(pl.col("max_stock_qty").is_not_null()).then(
                pl.format("max {} units", qty("max_stock_qty"))
            ),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    value = pl.when(idle).then(pl.col("stock_value")).otherwise(pl.col("excess_value"))
    return (
        frame.with_columns(
            question.alias("finance_question"),
            reason.alias("procurement_reason"),
            value.alias("value_questioned"),
        )
        .select(
            "item_id",
            "description",
            "category",
            "location",
            "value_questioned",
            "finance_question",
            "procurement_reason",
            "on_hand_qty",
            "safety_stock_qty",
            "max_stock_qty",
            "lead_time_days",
            "criticality",
            "days_since_issue",
            "stock_value",
            "safety_value",
            "excess_value",
            "obsolete_value",
            "stock_mark",
            "mark_review_date",
        )
        .sort(["value_questioned", "item_id", "location"], descending=[True, False, False])
    )


def _days_idle() -> pl.Expr:
    return pl.col("days_since_issue").cast(pl.String).fill_null("ever (never issued)")


def _qty_text(column: str) -> pl.Expr:
    """A quantity without trailing zeros: 5.000 -> '5', 2.500 -> '2.5'."""
    text = pl.col(column).cast(pl.String)
    return (
        pl.when(text.str.contains(r"\."))
        .then(text.str.strip_chars_end("0").str.strip_chars_end("."))
        .otherwise(text)
        .fill_null("–")
    )
