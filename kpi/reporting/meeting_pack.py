"""The meeting pack: one self-contained HTML file for the quarterly goal-setting meeting.

It opens with what the meeting settles: the targets already agreed (who signed) and the
open items (targets not agreed yet, goal decisions still under discussion and whom each
waits for, KPIs off target). Then the scorecard of the last
complete quarter before the planned one, grouped by theme, the savings picture (both
departments' lenses and the initiatives behind them), procurement's spend outlook, and per
KPI, theme by theme, its quarterly history, the forecast with its method, both
departments' proposals and the agreed target. plotly.js is embedded once, with the first
chart; nothing is fetched from anywhere, so the file opens offline and can be mailed or
archived as it is. The Quarterly goals page downloads it and `python -m kpi pack` writes
it (kpi.reporting.pack_pdf prints the same HTML to an A4 PDF): its print CSS keeps charts,
tables and cards whole on a page.

Every text that comes from data or configuration (supplier and category names, notes,
rationales, KPI names) is HTML-escaped: none of it is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from kpi.analyses import goal_history, spend_outlook
from kpi.analyses.scorecard import THEMES, data_window, scorecard
from kpi.core import people
from kpi.core.formatting import format_value
from kpi.core.scope import FilterValues, Scope
from kpi.reporting import charts
from kpi.reporting.pack_agenda import agenda_section
from kpi.reporting.pack_html import e as _e
from kpi.reporting.pack_html import money as _money
from kpi.reporting.pack_html import share as _share
from kpi.reporting.pack_html import signer as _signer
from kpi.reporting.pack_html import table as _table
from kpi.reporting.scorecard_view import for_display
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.workflows import goals, threads

SAVINGS_KPIS = ("savings_realised", "savings_recognised", "cost_avoidance", "expense_change_yoy")
TOP_INITIATIVES = 10
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
KPI_CHART_HEIGHT = 240  # px: with its history table beside it; two KPIs to an A4 page

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #0072B2; padding-bottom: 0.2rem;
     margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1.6rem 0 0.4rem; }
h4 { font-size: 0.95rem; margin: 1rem 0 0.3rem; }
table { border-collapse: collapse; width: 100%; margin: 0.4rem 0 1rem; font-size: 0.88rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.45rem; text-align: left;
         vertical-align: top; }
th { background: #f3f6f9; }
td.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: 600; background: #fafafa; }
.meta, .note { color: #555; font-size: 0.88rem; }
.cards { display: flex; gap: 0.8rem; flex-wrap: wrap; margin: 0.6rem 0 1rem; }
.card { flex: 1 1 10rem; box-sizing: border-box; border: 1px solid #ddd;
        border-top: 4px solid #0072B2; padding: 0.4rem 0.7rem; }
.card .figure { font-size: 1.5rem; font-weight: 600; }
.card.warn { border-top-color: #D55E00; } .card.done { border-top-color: #009E73; }
.status-green { color: #009E73; } .status-amber { color: #B07800; }
.status-red { color: #D55E00; } .status-none, .status-no_data { color: #7F7F7F; }
.agreed { background: #eef7f2; border-left: 4px solid #009E73; padding: 0.4rem 0.7rem; }
.kpi { border-top: 1px solid #ccc; margin-top: 1rem; }
.kpi-body { display: flex; gap: 1rem; align-items: flex-start; }
.kpi-body table.history { width: auto; flex: 0 0 auto; }
.kpi-body .chart { flex: 1 1 0; min-width: 0; }
.kpi p { margin: 0.35rem 0; } .kpi h4 { margin-top: 0.6rem; }
.method { font-size: 0.88rem; }
/* on paper: a chart, a table or a card is never cut across two pages when it fits on one;
   a KPI's name, description, history and chart stay together; a heading stays with what
   follows it; each part starts on a new page; KPIs follow each other (two to a page) */
.kpi-head, .block, .card, .cards, table, .plotly-graph-div, .agreed, .kpi p {
  break-inside: avoid; page-break-inside: avoid; }
tr { break-inside: avoid; }
thead { display: table-header-group; }
h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
@page { size: A4; }
@media print {
  /* 2px inside the paper's edge, so the borders of full-width tables and cards show */
  body { margin: 0; padding: 0 2px; max-width: none; font-size: 10pt; }
  h2 { break-before: page; margin-top: 0; }
  h2.first { break-before: auto; margin-top: 1rem; }
  table { font-size: 8pt; }
  th, td { padding: 0.15rem 0.3rem; }
}
"""


def meeting_pack_html(
    store: Store,
    definitions: Sequence[KpiDefinition],
    quarter: str,
    filters: FilterValues | None = None,
    currency: str | None = None,
) -> str:
    """The whole pack for planning `quarter` as one HTML document (a str, UTF-8 when saved)."""
    plan = goal_history.check_quarter(quarter)
    display = (currency or store.settings.reporting_currency).upper()
    filters = {k: list(v) for k, v in (filters or {}).items() if v}
    window = data_window(store)
    card_quarter = goal_history.scorecard_quarter(store, plan)
    charts_out = _Charts()
    card = None
    if card_quarter is not None:
        card = scorecard(
            store, Scope.of(filters=filters, currency=currency), definitions, card_quarter
        )
    history = goal_history.quarter_history(store, definitions, plan, 8, filters, currency)
    forecast_rows = goal_history.kpi_forecasts(store, definitions, plan, filters, currency)
    forecasts = {r["kpi"]: r for r in forecast_rows.iter_rows(named=True)}
    proposed = {r["kpi"]: r for r in goals.proposals(store, plan).iter_rows(named=True)}
    decided = goals.decision_log(store, plan)
    parts = [
        _header(plan, card_quarter, window, filters, display),
        agenda_section(
            plan,
            definitions,
            decided,
            proposed,
            forecasts,
            card,
            display,
            threads.open_threads(store, "goal_decision", f"{plan}/"),
        ),
    ]
    if card is None or card_quarter is None:
        parts.append("<h2>Scorecard</h2>")
        parts.append("<p>The store holds no complete quarter before this one yet.</p>")
    else:
        parts.append(_scorecard_section(card, card_quarter, display))
        parts.append(
            _savings_section(store, card, card_quarter, filters, currency, display, charts_out)
        )
    parts.append(_outlook_section(store, plan, filters, currency, display))
    parts.append(
        _kpi_sections(definitions, plan, history, forecasts, proposed, decided, display, charts_out)
    )
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{_e(f'Quarterly goals {plan}: meeting pack')}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def history_forecast_chart(
    history: pl.DataFrame,
    forecast: Mapping[str, Any] | None,
    name: str,
    unit: str,
    targets: Mapping[str, float],
    currency: str,
) -> go.Figure:
    """A KPI's quarterly values and targets (charts.kpi_trend), plus the forecast and its range.

    `history` has period and value; `forecast` is a row of goal_history.kpi_forecasts (quarter,
    forecast, low, high) or None.
    """
    fig = charts.kpi_trend(history.select("period", "value"), name, unit, dict(targets), currency)
    if forecast and forecast.get("forecast") is not None:
        scale = 100 if unit == "percent" else 1
        value = forecast["forecast"] * scale
        low, high = forecast.get("low"), forecast.get("high")
        error = None
        if low is not None and high is not None:
            error = {
                "type": "data",
                "symmetric": False,
                "array": [high * scale - value],
                "arrayminus": [value - low * scale],
                "color": charts.PALETTE["orange"],
            }
        fig.add_scatter(
            x=[charts.plot_text(forecast["quarter"])],  # as kpi_trend's escaped periods
            y=[value],
            name="Forecast (with range)",
            mode="markers",
            marker={"symbol": "diamond", "size": 11, "color": charts.PALETTE["orange"]},
            error_y=error,
        )
        target = targets.get(forecast["quarter"])
        if target is not None:
            fig.add_scatter(
                x=[charts.plot_text(forecast["quarter"])],  # as kpi_trend's escaped periods
                y=[target * scale],
                name="Target",
                mode="markers",
                marker={"symbol": "line-ew-open", "size": 18, "color": "#222"},
                showlegend=False,
            )
    return fig


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


class _Charts:
    """plotly figures as HTML: the first one carries plotly.js, the others reuse it."""

    def __init__(self) -> None:
        self.embedded = False

    def html(self, fig: go.Figure) -> str:
        out = pio.to_html(
            fig, include_plotlyjs=not self.embedded, full_html=False, config=PLOTLY_CONFIG
        )
        self.embedded = True
        return out


def _header(
    plan: str, card_quarter: str | None, window: Any, filters: FilterValues, display: str
) -> str:
    shown = "; ".join(f"{k.replace('_', ' ')}: {', '.join(v)}" for k, v in filters.items())
    data = f"{window.first} to {window.last}" if window else "none yet"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = (
        f"Meeting pack of finance and procurement. Scorecard quarter: {card_quarter or 'none'}. "
        f"Data: {data}. Amounts in {display}. Filters: {shown or 'none (all spend)'}. "
        f"Made {generated}."
    )
    return f"<h1>{_e('Quarterly goals for ' + plan)}</h1>\n<p class='meta'>{_e(meta)}</p>"


def _scorecard_section(card: pl.DataFrame, card_quarter: str, display: str) -> str:
    """One table per theme, in the themes' order, so a theme reads as one block on paper."""
    shown = for_display(card, display)
    head = ["KPI", "Value", "Target", "Status", "Change", "Definition"]
    parts = [f"<h2>{_e(f'Scorecard {card_quarter}')}</h2>"]
    for theme in _themes(shown["theme"].to_list()):
        rows = [
            [
                r["name"],
                r["Value"],
                r["Target"],
                (r["Status"], f"status-{r['status']}"),
                r["Change"],
                r["Definition"],
            ]
            for r in shown.filter(pl.col("theme") == theme).iter_rows(named=True)
        ]
        parts.append(
            f"<div class='block'><h3>{_e(THEMES.get(theme, theme))}</h3>\n"
            + _table(head, rows, numeric={1, 2, 4})
            + "</div>"
        )
    parts.append(
        "<p class='note'>● on target · ▲ near · ■ off · ○ no target · ◌ no data. "
        "Definition: agreed by both departments, or not yet.</p>"
    )
    return "\n".join(parts)


def _themes(present: Sequence[str]) -> list[str]:
    """The themes in `present`, in the scorecard's order (THEMES), unknown ones last."""
    known = [t for t in THEMES if t in present]
    return known + sorted({t for t in present if t not in THEMES})


def _savings_section(
    store: Store,
    card: pl.DataFrame,
    card_quarter: str,
    filters: FilterValues,
    currency: str | None,
    display: str,
    charts_out: _Charts,
) -> str:
    title = f"<h2>{_e(f'Savings picture {card_quarter}')}</h2>\n"
    try:
        from kpi.analyses import savings
    except ImportError:  # without the savings module: the four savings KPIs of the scorecard
        return title + _savings_from_kpis(card, display)
    scope = Scope.of(filters=filters, currency=currency).only(savings.LENS_FILTERS)
    lenses = savings.two_lenses(store, scope, card_quarter)
    money = [
        ("procurement_reported", "Procurement-reported savings"),
        ("finance_recognised", "Finance-recognised"),
        ("not_accepted", "Not accepted"),
        ("cost_avoidance", "Cost avoidance (not P&L)"),
        ("spend_prior", "Spend a year earlier"),
        ("spend_current", "Spend now"),
        ("expense_change", "Expense change"),
    ]
    rows = [
        [r["category"], *[_money(r[c], display) for c, _ in money]]
        for r in lenses.iter_rows(named=True)
    ]
    totals = {i for i, r in enumerate(lenses.iter_rows(named=True)) if r["is_total"]}
    parts = [
        title,
        "<p class='note'>Procurement counts a saving when it pays less than its baseline "
        "price; finance when the expense line goes down. Cost avoidance is shown apart: a "
        "price never paid never lowers the expense.</p>",
        _table(["Category", *[h for _, h in money]], rows, set(range(1, 8)), totals),
    ]
    if lenses.filter(~pl.col("is_total")).height:
        figure = charts.two_lenses(lenses, display)
        # the panels' titles at the app's 13 px run past the right edge of an A4 page
        figure.update_annotations(font={"size": 11}).update_xaxes(tickangle=-50)
        parts.append(charts_out.html(figure))
    parts.append(_initiatives(savings, store, card_quarter, filters, currency, display))
    return "\n".join(parts)


def _savings_from_kpis(card: pl.DataFrame, display: str) -> str:
    rows = [
        [r["name"], format_value(r["value"], r["unit"], display)]
        for r in card.filter(pl.col("id").is_in(SAVINGS_KPIS)).iter_rows(named=True)
    ]
    return _table(["KPI", "Value"], rows, {1})


def _initiatives(
    savings: Any,
    store: Store,
    card_quarter: str,
    filters: FilterValues,
    currency: str | None,
    display: str,
) -> str:
    start, end = savings.period_bounds(card_quarter, card_quarter, store.settings.fiscal)
    scope = Scope.of(start, end, filters, currency).only(savings.MONTHLY_FILTERS)
    monthly = savings.realised_by_month(store, scope)
    if monthly.is_empty():
        return "<p class='note'>No price-reduction initiative covered this quarter.</p>"
    top = (
        monthly.group_by("initiative_id", "title", "supplier", "category", "finance_status")
        .agg(pl.col("realised_saving").sum(), pl.col("expected_saving").sum())
        .sort("realised_saving", "initiative_id", descending=[True, False])
        .head(TOP_INITIATIVES)
    )
    rows = [
        [
            r["initiative_id"],
            r["title"],
            r["supplier"],
            r["category"],
            r["finance_status"],
            _money(r["realised_saving"], display),
            _money(r["expected_saving"], display),
        ]
        for r in top.iter_rows(named=True)
    ]
    head = ["Initiative", "Title", "Supplier", "Category", "Finance", "Realised", "Expected"]
    return (
        f"<h3>{_e(f'Largest price-reduction initiatives (top {TOP_INITIATIVES})')}</h3>\n"
        + _table(head, rows, {5, 6})
    )


def _outlook_section(
    store: Store, plan: str, filters: FilterValues, currency: str | None, display: str
) -> str:
    outlook_filters = {k: v for k, v in filters.items() if k in spend_outlook.OUTLOOK_FILTERS}
    frame = spend_outlook.spend_outlook(store, plan, outlook_filters, currency)
    rows = [
        [
            r["category"],
            _money(r["base_spend"], display),
            _share(r["volume_trend"]),
            "–" if r["expected_change_pct"] is None else f"{r['expected_change_pct']:+.1f} %",
            r["price_note"] or "",
            _money(r["spend_forecast"], display),
        ]
        for r in frame.iter_rows(named=True)
    ]
    totals = {i for i, r in enumerate(frame.iter_rows(named=True)) if r["is_total"]}
    base_q = frame["base_quarter"][0] if frame.height else ""
    head = [
        "Category",
        f"Spend {base_q}",
        "Volume trend",
        "Expected price change",
        "Procurement's note",
        f"Forecast {plan}",
    ]
    return (
        f"<h2>{_e(f'Spend outlook {plan}')}</h2>\n"
        "<p class='note'>forecast = spend of the same quarter a year earlier × (1 + volume "
        "trend) × (1 + procurement's expected price change). The volume trend is the change "
        "in what was bought over the last four complete quarters against the four before "
        "them, at the earlier prices.</p>\n" + _table(head, rows, {1, 2, 3, 5}, totals)
    )


def _kpi_sections(
    definitions: Sequence[KpiDefinition],
    plan: str,
    history: pl.DataFrame,
    forecasts: Mapping[str, Mapping[str, Any]],
    proposed: Mapping[str, Mapping[str, Any]],
    decided: pl.DataFrame,
    display: str,
    charts_out: _Charts,
) -> str:
    parts = [f"<h2>{_e(f'KPIs: history, forecast and targets for {plan}')}</h2>"]
    for theme in _themes([k.theme for k in definitions]):
        parts.append(f"<h3>{_e(THEMES.get(theme, theme))}</h3>")
        for k in (k for k in definitions if k.theme == theme):
            rows = history.filter(pl.col("kpi") == k.id)
            forecast = forecasts.get(k.id)
            parts.append("<section class='kpi'><div class='kpi-head'>")
            parts.append(f"<h4>{_e(k.name)} <span class='meta'>({_e(k.id)})</span></h4>")
            parts.append(f"<p class='note'>{_e(k.description)}</p>")
            # the table first: the chart, drawn as the page loads, then sizes to what is left
            parts.append("<div class='kpi-body'>" + _history_table(rows, k.unit, display))
            if rows.height or (forecast and forecast["forecast"] is not None):
                figure = history_forecast_chart(rows, forecast, k.name, k.unit, k.targets, display)
                # the heading above names the KPI: the chart's own title would only take room
                figure.update_layout(height=KPI_CHART_HEIGHT, title=None, margin={"t": 10})
                parts.append(f"<div class='chart'>{charts_out.html(figure)}</div>")
            parts.append("</div></div>")
            if forecast:
                parts.append(f"<p class='method'>{_e(forecast['method_text'])}</p>")
            kpi_decided = decided.filter(pl.col("kpi") == k.id)
            if k.id not in proposed and kpi_decided.is_empty():
                parts.append("<p class='note'>No target proposed or agreed yet.</p>")
            else:
                parts.append(_proposal_table(proposed.get(k.id), k.unit, display))
                parts.append(_decisions(kpi_decided, k.unit, display))
            parts.append("</section>")
    return "\n".join(parts)


def _history_table(rows: pl.DataFrame, unit: str, display: str) -> str:
    if rows.is_empty():
        return "<p class='note'>No quarter of data before the planned one.</p>"
    """A row per quarter (a column per quarter is wider than an A4 page for money)."""
    shown = [
        [
            r["period"] + ("" if r["complete"] else " (part)"),
            format_value(r["value"], unit, display),
            format_value(r["target"], unit, display),
        ]
        for r in rows.iter_rows(named=True)
    ]
    return _table(["Quarter", "Value", "Target"], shown, {1, 2}, css="history")


def _proposal_table(row: Mapping[str, Any] | None, unit: str, display: str) -> str:
    if row is None:
        return "<p class='note'>No target proposed yet.</p>"
    cells = []
    for dept in people.DEPARTMENTS:
        if row[f"{dept}_value"] is None:
            cells.append([dept.capitalize(), "–", "", ""])
            continue
        who = f"{row[f'{dept}_name'] or ''} <{row[f'{dept}_by']}>".strip()
        when = row[f"{dept}_at"].strftime("%Y-%m-%d %H:%M") if row[f"{dept}_at"] else ""
        cells.append(
            [
                dept.capitalize(),
                format_value(row[f"{dept}_value"], unit, display),
                row[f"{dept}_rationale"] or "",
                f"{who}, {when}",
            ]
        )
    return _table(["Proposed by", "Target", "Rationale", "Who, when (UTC)"], cells, {1})


def _decisions(rows: pl.DataFrame, unit: str, display: str) -> str:
    if rows.is_empty():
        return "<p class='note'>No target agreed yet.</p>"
    out = []
    for i, r in enumerate(rows.iter_rows(named=True)):
        label = "Agreed target" if i == 0 else "Earlier agreement"
        text = (
            f"{label}: {format_value(r['value'], unit, display)}. {r['rationale']} "
            f"Signed for finance by {_signer(r, 'finance')} and for procurement by "
            f"{_signer(r, 'procurement')}, {r['decided_at']:%Y-%m-%d %H:%M} UTC."
        )
        out.append(f"<p class='agreed'>{_e(text)}</p>")
    return "\n".join(out)
