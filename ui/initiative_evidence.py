"""The evidence beside finance's verdict on a savings initiative: its prices (baseline,
quoted, negotiated), what was paid and bought month by month, the savings (or avoided cost)
realised to date against what was expected, and the invoice lines behind them.

Every figure comes from the savings analyses the page already shows (kpi.analyses.savings:
realised_by_month, cost_avoidance_by_month, per_initiative) over the initiative's own
window to the data's last day; the invoice lines open in the rows-behind dialog
(ui/rows_behind.py) through the realised-savings KPI, as the Realised tab does."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from kpi.analyses.savings import cost_avoidance_by_month, realised_by_month
from kpi.analyses.savings import per_initiative as initiative_totals
from kpi.analyses.scorecard import data_window
from kpi.core.formatting import format_money
from kpi.core.permissions import PermissionDenied
from kpi.core.scope import Scope
from kpi.reporting import savings_view as view
from kpi.reporting.figure_rows import initiative_figure
from kpi.store.database import StoreError
from kpi.workflows import inbox
from kpi.workflows.threads import ThreadError
from ui.cache import cached
from ui.context import Context
from ui.figure_rows import figure_button
from ui.widgets import literal, show_table

_LINKED = "_review_linked"  # the initiative a link opened already (it picks once)
MONTH_COLUMNS = {
    "price_reduction": (
        "month",
        "quantity",
        "avg_unit_price_paid",
        "baseline_unit_price",
        "negotiated_unit_price",
        "price_currency",
        "realised_saving",
        "expected_saving",
        "leakage",
    ),
    "cost_avoidance": (
        "month",
        "quantity",
        "avg_unit_price_paid",
        "quoted_unit_price",
        "negotiated_unit_price",
        "price_currency",
        "avoided_cost",
        "expected_avoidance",
        "leakage",
    ),
}
TOTALS = {
    "price_reduction": ("realised_saving", "expected_saving"),
    "cost_avoidance": ("avoided_cost", "expected_avoidance"),
}


def evidence_scope(ctx: Context, row: dict[str, Any]) -> Scope | None:
    """The initiative alone, from its start (else the data's first day) to the data's last
    day: 'to date'. None when the store holds no invoice yet."""
    window = cached(data_window, ctx)
    if window is None:
        return None
    start = row.get("start_date") or window.first
    if isinstance(start, str):
        start = date.fromisoformat(start)
    start = min(start, window.last)
    filters = {"initiative_id": [str(row["initiative_id"])]}
    return Scope.of(start, window.last, filters, ctx.currency)


def evidence(ctx: Context, row: dict[str, Any]) -> Any:
    """The evidence for one initiative (a row of the ledger) in a wide column; returns the
    column beside it, where the verdict's form goes."""
    left, right = st.columns([3, 2])
    with left:
        _evidence(ctx, row)
    return right


def _evidence(ctx: Context, row: dict[str, Any]) -> None:
    kind = str(row.get("kind") or "")
    st.markdown("**Evidence**")
    prices = [
        ("baseline", row.get("baseline_unit_price")),
        ("quoted", row.get("quoted_unit_price")),
        ("negotiated", row.get("negotiated_unit_price")),
    ]
    cur = str(row.get("currency") or ctx.currency)
    shown = " · ".join(
        f"{name} {format_money(value, cur)}" for name, value in prices if value is not None
    )
    volume = row.get("expected_volume")
    st.markdown(
        literal(f"Unit prices: {shown or 'none given'}")
        + "  \n"
        + literal(f"Expected volume: {volume if volume is not None else 'not given'}")
        + literal(f" · window {row.get('start_date') or '?'} to {row.get('end_date') or '?'}")
    )
    if kind not in MONTH_COLUMNS:
        st.info(
            f"A {kind.replace('_', ' ') or 'kind-less'} initiative has no invoice evidence: "
            "judge it on the documents procurement attached and ask in its thread."
        )
        return
    scope = evidence_scope(ctx, row)
    if scope is None:
        st.info("No invoices in the store yet: load them on the **Data** page.")
        return
    analysis = realised_by_month if kind == "price_reduction" else cost_avoidance_by_month
    try:
        monthly = cached(analysis, ctx, scope, spinner="Reading the invoices…")
    except StoreError as exc:
        st.error(f"The invoices cannot be read now: {exc} Try again in a moment.")
        return
    if monthly.is_empty():
        st.info(
            f"No invoice line counts for {literal(row['initiative_id'])} from "
            f"{scope.start} to {scope.end}: nothing is realised yet (it counts once it is "
            "implemented or realised, inside its window)."
        )
        return
    realised, expected = TOTALS[kind]
    totals = initiative_totals(monthly, [realised, expected, "leakage"]).row(0, named=True)
    what = "Realised savings" if kind == "price_reduction" else "Avoided cost"
    st.markdown(
        f"**{what} to date ({scope.start} to {scope.end}):** "
        f"{literal(format_money(totals[realised], ctx.currency))} against "
        f"{literal(format_money(totals[expected] or 0, ctx.currency))} expected; paid above the "
        f"negotiated price: {literal(format_money(totals['leakage'] or 0, ctx.currency))}."
    )
    columns = [c for c in MONTH_COLUMNS[kind] if c in monthly.columns]
    show_table(monthly.select(columns), key=f"evidence_{row['initiative_id']}")
    st.caption(view.REALISED_EXPLAINED if kind == "price_reduction" else view.AVOIDANCE_EXPLAINED)
    if kind == "price_reduction":
        fig = initiative_figure(str(row["initiative_id"]), scope, ctx.settings.fiscal)
        figure_button(fig, "Invoice lines behind it", f"evidence_rows_{row['initiative_id']}")


def opened_from_link(review_ids: list[str]) -> None:
    """A link with ?initiative=ID (the inbox's) picks that pending initiative for review,
    once: the reviewer's own pick afterwards stands."""
    wanted = st.query_params.get("initiative")
    if wanted and wanted in review_ids and st.session_state.get(_LINKED) != wanted:
        st.session_state["review_pick"] = wanted
        st.session_state[_LINKED] = wanted


def told(ctx: Context, initiative_id: str, decision: str, reason: str) -> str:
    """Tell procurement the verdict in the initiative's thread (@procurement); the words
    the flash adds: that it was told, or that it could not be and what to do."""
    assert ctx.person is not None  # the verdict was recorded by someone
    try:
        inbox.tell_verdict(ctx.store, ctx.person, initiative_id, decision, reason)
    except (PermissionDenied, ThreadError, StoreError, OSError) as exc:
        return (
            f" Procurement could not be told in the initiative's thread ({exc}): "
            "write to them there."
        )
    return " Procurement was told in the initiative's thread (@procurement)."
