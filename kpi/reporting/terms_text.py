"""A terms simulation as the command line prints it: the summary as JSON, or a table with
the suppliers at risk."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl

from kpi.analyses.terms import SUMMARY_KEYS, TermsScenario


def render_scenario(scenario: TermsScenario, fmt: str) -> str:
    """`terms-sim` output: the summary as JSON, or a table with the suppliers at risk."""
    data = scenario.as_dict()
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    width = max(len(k) for k in data)
    lines = [
        f"Terms simulation: move {data['suppliers_affected']} supplier(s) to "
        f"{scenario.new_terms_days} days"
        + (f" (where {scenario.where})" if scenario.where else ""),
        f"Spend window {data['window_start']} to {data['window_end']}, in {scenario.currency}",
        "",
    ]
    for key in SUMMARY_KEYS:
        value = scenario.summary[key]
        shown = f"{value:,.2f}" if isinstance(value, Decimal) else f"{value:,}"
        lines.append(f"{key:<{width}}  {shown:>18}")
    risky = scenario.suppliers.filter(pl.col("risk_flags") != "")
    if risky.height:
        lines += ["", "Suppliers at risk:"]
        for r in risky.head(20).iter_rows(named=True):
            lines.append(
                f"  {r['supplier_id']:<10} {r['supplier_name'][:32]:<32} {r['risk_flags']}"
            )
        if risky.height > 20:
            lines.append(f"  ... and {risky.height - 20} more (use --format json)")
    return "\n".join(lines) + "\n"
