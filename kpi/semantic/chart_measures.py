"""The aggregate formulas the overview's charts draw besides KPIs, named once here so that
the rollups store their measures too (kpi.semantic.rollups plans them with the KPIs) and
the charts open as fast as the scorecard. Each is (view, period column, {name: formula});
the formulas pass the same guard as a KPI's."""

from __future__ import annotations

# stock value per class, averaged over a location's snapshots in the period (as the
# inventory KPIs count it): with one snapshot a month, the month's stock
_PER_SNAPSHOT = " / location_snapshots)"

CHART_MEASURES: dict[str, tuple[str, str, dict[str, str]]] = {
    "spend_vs_budget": (
        "budget_vs_actual",
        "month_start",
        {
            "actual": "sum(actual_amount)",
            "budget": "sum(budget_amount)",
            "maverick": "sum(maverick_amount)",
        },
    ),
    "payment_terms": (
        "payments",
        "paid_date",
        {
            "terms": "sum(amount * contract_terms_days)"
            " filter (where contract_terms_days is not null)"
            " / nullif(sum(amount) filter (where contract_terms_days is not null), 0)",
            "late_share": "sum(amount) filter (where paid_late) / nullif(sum(amount), 0)",
        },
    ),
    "inventory_by_class": (
        "inventory_position",
        "snapshot_date",
        {
            "safety": "sum(safety_value" + _PER_SNAPSHOT,
            "cycle": "sum(cycle_value" + _PER_SNAPSHOT,
            "excess": "sum(excess_value" + _PER_SNAPSHOT,
            "obsolete": "sum(obsolete_value" + _PER_SNAPSHOT,
        },
    ),
}
