"""CFO overview: the scorecard of every KPI by theme and the four headline charts."""

from __future__ import annotations

import polars as pl
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from kpi.analyses import freshness, overview
from kpi.analyses.scorecard import THEMES, scorecard
from kpi.core.formatting import delta_words, format_delta, format_value
from kpi.core.scope import Scope, ignored_text
from kpi.reporting import charts
from kpi.reporting.filters_text import active_filters
from kpi.reporting.scorecard_view import (
    STATUS_LABELS,
    STATUS_RULE,
    TARGETS_RULE,
    for_display,
    ignored_by,
    scorecard_export,
    status_tally,
    with_agreement,
)
from kpi.semantic.engine import compute
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.semantic.where_text import kpi_where
from kpi.store.database import Store
from ui.cache import DEFINITIONS, cached
from ui.context import current
from ui.definition_dialog import asked, on_pick
from ui.kpi_strip import as_of_note
from ui.rows_behind import on_value_pick, rows_behind_button, show_rows_behind
from ui.widgets import (
    chart_with_data,
    definition_dialog,
    downloads,
    empty_slice,
    honoured_scope,
    known_people,
    literal,
    no_data,
)

ctx = current()
st.title("CFO overview")

if ctx.period is None:
    no_data(
        "spend in the store",
        "Load invoices on the **Data** page, or run `python -m kpi demo` to explore the demo data.",
    )
    st.stop()

# how old the data is: judged on today's date, which is part of the cache key
fresh = cached(freshness.data_freshness, ctx, freshness.today())
st.caption(freshness.freshness_line(fresh))
stale = freshness.stale_warning(fresh)
if stale:
    st.warning(stale, icon=":material/update:")


def _trend(store: Store, scope: Scope, definitions: list[KpiDefinition], kpi_id: str):
    kpi = next(k for k in definitions if k.id == kpi_id)
    return compute(
        store, [kpi], "quarter", (), scope.start, scope.end, scope.as_dict(), scope.currency
    ).frame


# the scorecard's period is its own (the range's last quarter): the range is no part of it
card = cached(
    scorecard,
    ctx,
    ctx.scope.with_period(None, None),
    DEFINITIONS,
    ctx.period,
    spinner="Computing the scorecard…",
)
card = with_agreement(card, ctx.definitions, known_people())

active = active_filters(ctx.filters)
st.caption(
    f"Scorecard for **{ctx.period}**, compared with the quarter before · amounts in "
    f"**{ctx.currency}** · " + ("; ".join(active) if active else "all cost centres and categories")
)


def _where(kpi_id: str) -> tuple[str, ...]:
    """The sidebar's filters as the filter texts of `kpi_id`'s rows (those its data honours,
    as the scorecard's value does)."""
    kpi = next((k for k in ctx.definitions if k.id == kpi_id), None)
    return () if kpi is None else kpi_where(kpi, ctx.filters, ctx.settings).texts


HEADLINES = ("total_spend", "po_compliance", "days_to_pay", "savings_realised")


# The tiles and the scorecard are fragments: a click on a tile's button or in a scorecard
# table (a definition, the rows behind a value) redraws that part and opens its dialog; the
# headline charts and the rest stay as drawn. The sidebar's filters rerun the whole page.
@st.fragment(key="overview_tiles")
def _tiles() -> None:
    """The headline tiles, each with the button for the rows behind its value."""
    for tile, kpi_id in zip(st.columns(len(HEADLINES)), HEADLINES, strict=True):
        _tile(tile, kpi_id)


def _tile(tile: DeltaGenerator, kpi_id: str) -> None:
    """One headline tile: the scorecard's value, its change and its rows behind."""
    row = card.filter(pl.col("id") == kpi_id)
    if row.is_empty():
        return
    r = row.row(0, named=True)
    tile.metric(
        literal(r["name"]),  # a metric's label is markdown; a KPI name is data
        format_value(r["value"], r["unit"], ctx.currency, compact=r["unit"] == "currency"),
        delta=format_delta(r["delta"], r["unit"], ctx.currency) or None,
        delta_color={"lower_is_better": "inverse", "higher_is_better": "normal"}.get(
            r["direction"], "off"
        ),
        help=(
            "No target set"
            if r["target"] is None
            else f"Target {format_value(r['target'], r['unit'], ctx.currency)}"
        )
        + f" · {STATUS_LABELS[r['status']]} · "
        + " ".join(filter(None, ["change against the quarter before", delta_words(r["unit"])])),
        border=True,
    )
    with tile:
        rows_behind_button(
            kpi_id, r["period"], _where(kpi_id), key=f"ov_rows_{kpi_id}", value=r["value"]
        )


_tiles()

st.markdown(status_tally(card) + f" KPIs in {ctx.period}", help=STATUS_RULE)

not_agreed = card.filter(pl.col("definition_status") != "agreed")["name"].to_list()
if not_agreed:
    st.warning("Not yet agreed by both departments: " + literal(", ".join(not_agreed)), icon="⚠️")

shown = for_display(card, ctx.currency)


@st.fragment(key="overview_scorecard")
def _scorecard() -> None:
    """The scorecard's tables by theme; a click in one opens the definition or the rows
    behind a value, redrawing only this part."""
    st.subheader("Scorecard")
    st.caption(
        "Click a KPI's name to see its definition, both departments' readings and its trend; "
        "click its value to see the rows behind it, with the file and line each came from. "
        + TARGETS_RULE
    )
    for theme, title in THEMES.items():
        part = shown.filter(pl.col("theme") == theme)
        if part.is_empty():
            continue
        st.markdown(f"**{title}**")
        columns = ["name", "Value", "Target", "Status", "Change", "trend", "owner", "Definition"]
        if active:
            columns.append("filters_ignored")
        table = f"score_{theme}"
        # a click (on a name, a definition status or a row's tick) asks for the dialog once;
        # the selection it leaves behind never reopens it (ui/definition_dialog.py); a click on
        # a value asks, the same way, for the rows behind it (ui/rows_behind.py)
        ids = part["id"].to_list()
        # each value as the engine gave it (the table shows it formatted): the rows are checked
        # against the figure clicked, not against a second computation of it
        values = dict(zip(card["id"].to_list(), card["value"].to_list(), strict=True))
        figures = [
            (i, p, _where(i), values.get(i))
            for i, p in zip(ids, part["period"].to_list(), strict=True)
        ]
        st.dataframe(
            part.select(columns),
            hide_index=True,
            width="stretch",
            on_select=on_value_pick(table, figures, then=on_pick(table, ids)),
            selection_mode=["single-row", "single-cell"],
            key=table,
            column_config={
                "name": st.column_config.TextColumn(
                    "KPI", width="medium", help="Click a KPI's name to see its definition"
                ),
                "Value": st.column_config.TextColumn(
                    "Value", help="Click a value to see the rows behind it"
                ),
                "trend": st.column_config.LineChartColumn("Last 8 quarters", width="small"),
                "owner": "Owner",
                "filters_ignored": st.column_config.TextColumn(
                    "Filter not applicable",
                    help="This KPI's data has no such column, so that filter does not narrow it.",
                ),
            },
        )
        for kpi in (k for k in ctx.definitions if k.id in ids and values.get(k.id) is None):
            note = as_of_note(ctx, kpi)
            if note:
                st.caption(f"{literal(kpi.name)}: {note[0].lower()}{note[1:]}")
    picked = asked()
    picked_kpi = next((k for k in ctx.definitions if k.id == picked), None)
    if picked_kpi is not None:
        definition_dialog(
            picked_kpi,
            cached(_trend, ctx, ctx.scope, DEFINITIONS, picked_kpi.id),
            ctx.currency,
        )
    show_rows_behind()

    # the buttons are drawn once the expander is opened (a rerun of this fragment only), so
    # that every load of the page does not send and build them
    with st.expander("Download the scorecard", key="scorecard_downloads", on_change="rerun") as box:
        if box.open:
            export = scorecard_export(card)
            downloads(export, f"scorecard_{ctx.period}", "scorecard")


_scorecard()

st.subheader("Headline charts")


def _chart_scope(chart: str) -> Scope:
    """The sidebar's scope as far as a headline chart can honour it (a note says the rest)."""
    return honoured_scope(ctx.scope, overview.chart_filters(ctx.settings, chart), "this chart")


def _chart(
    frame: pl.DataFrame,
    builder,  # noqa: ANN001 - the chart's builder (kpi.reporting.charts), given frame, *args
    name: str,
    key: str,
    scope: Scope,
    what: str,
    load: str,
    **kwargs: object,
) -> bool:
    """A headline chart, or its empty state: when the filters the chart honours are set,
    the slice is named and the filter to clear is said (loading more would not help);
    otherwise the period is empty and what to load is said."""
    if frame.is_empty() and scope.filters:
        empty_slice(scope, what)
        return False
    return chart_with_data(frame, builder, name, key, (f"{what} in this range", load), **kwargs)


left, right = st.columns(2)
with left:
    budget_scope = _chart_scope("spend_vs_budget")
    budget = cached(overview.spend_vs_budget, ctx, budget_scope)
    _chart(
        budget,
        charts.spend_vs_budget,
        "spend_vs_budget",
        "budget",
        budget_scope,
        "spend or budget",
        "Widen the period or load budgets.",
        args=(ctx.currency, True),  # drawn half-width: charts.HALF_WIDTH_MARGINS
    )
with right:
    savings = cached(overview.savings_by_meaning, ctx, ctx.scope, DEFINITIONS, "quarter")
    # KPIs: their scorecard rows say which filters they cannot honour
    ignored = ignored_by(card, overview.SAVINGS_MEANINGS)
    if ignored:
        verb = "filter does" if len(ignored) == 1 else "filters do"
        st.caption(
            f":material/filter_alt_off: The {ignored_text(ignored)} {verb} not apply to "
            "some of these savings."
        )
    if _chart(
        savings,
        charts.savings_by_meaning,
        "savings_by_meaning",
        "savings",
        ctx.scope,
        "savings",
        "Load savings initiatives and invoices.",
        table=savings.select("period", "meaning", "value"),
        args=(ctx.currency, True),  # drawn half-width: charts.HALF_WIDTH_MARGINS
    ):
        st.caption(
            "Procurement counts a lower price; finance counts a lower expense line. "
            "Cost avoidance never enters the P&L."
        )
left, right = st.columns(2)
with left:
    dtp_scope = _chart_scope("days_to_pay_vs_terms")
    dtp = cached(overview.days_to_pay_vs_terms, ctx, dtp_scope, DEFINITIONS)
    _chart(
        dtp,
        charts.days_to_pay_vs_terms,
        "days_to_pay_vs_terms",
        "dtp",
        dtp_scope,
        "payments",
        "Load invoices with paid dates.",
        args=(True,),  # drawn half-width: charts.HALF_WIDTH_MARGINS
    )
with right:
    stock_scope = _chart_scope("inventory_by_class")
    stock = cached(overview.inventory_by_class, ctx, stock_scope)
    _chart(
        stock,
        charts.inventory_by_class,
        "inventory_by_class",
        "stock",
        stock_scope,
        "inventory snapshots",
        "Load the inventory table.",
        args=(ctx.currency, True),  # drawn half-width: charts.HALF_WIDTH_MARGINS
    )
