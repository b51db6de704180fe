"""The Quarterly goals page's parts, one function each: the meeting pack button, the
facts of the planned quarter, and the tabs (all KPIs, KPI by KPI with its two forms, the
spend outlook with procurement's price outlook, the decision log). The texts, checks and
saving come from kpi.reporting.goals_view."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import streamlit as st

from kpi.analyses.data_status import dimension_values
from kpi.analyses.spend_outlook import OUTLOOK_FILTERS, SPEND_OUTLOOK_EXPLAINED, spend_outlook
from kpi.reporting import charts
from kpi.reporting import goals_view as view
from kpi.reporting.filters_text import active_filters
from kpi.reporting.meeting_pack import meeting_pack_html
from kpi.store.stores import open_store
from kpi.workflows.goals import goals_overview
from ui.cache import DEFINITIONS, cached, figure
from ui.context import Context
from ui.widgets import downloads, honoured_scope, named, no_data, show_table

FLASH, RESET, SEEN = "_goals_flash", "_goals_reset", "_goals_seen_version"
SENT = "_goals_sent"  # the last proposal saved in this session (see goals_kpi)

# ---- cached figures --------------------------------------------------------------------------


def quarters(ctx: Context) -> list[str]:
    """The quarters the meeting can plan."""
    return cached(view.quarters_to_plan, ctx)


# ---- above the tabs --------------------------------------------------------------------------


def pack_button(ctx: Context, column, plan: str, currency: str) -> None:
    """The meeting pack's download, made only when the button is clicked."""

    def _pack() -> bytes:
        """The meeting pack, made when the button is clicked (about two seconds)."""
        store = open_store(ctx.store.location, ctx.settings)
        html = meeting_pack_html(store, ctx.definitions, plan, dict(ctx.filters), currency)
        return html.encode("utf-8")

    column.download_button(
        "⬇ Meeting pack (HTML)",
        _pack,
        file_name=f"meeting_pack_{plan}.html",
        mime="text/html",
        key="goals_pack",
        type="primary",
        help="One self-contained HTML file: the decisions and open items, the scorecard by "
        "theme, the savings picture, the spend outlook and each KPI's history, forecast, "
        "proposals and decisions. It opens offline; print it from the browser, or make an A4 "
        "PDF with `python -m kpi pack --format pdf`. Takes a few seconds.",
    )


def scope_notes(ctx: Context, currency: str) -> None:
    """Warn when the sidebar filters the view, and say which currency targets are in."""
    filtered = view.filtered_warning(active_filters(ctx.filters))
    if filtered:
        st.warning(filtered, icon="⚠️")
    if ctx.currency != currency:
        st.caption(
            f"Targets are kept in the reporting currency, so this page shows **{currency}**."
        )


@dataclass(frozen=True)
class Meeting:
    """What the meeting looks at for the planned quarter: each KPI's history and forecast,
    the proposals and decisions, and the logs of both."""

    plan: str
    currency: str  # the reporting currency: the definitions' targets are in it
    history: pl.DataFrame
    forecasts: pl.DataFrame
    proposed: pl.DataFrame
    decisions: pl.DataFrame
    proposal_log: pl.DataFrame
    outlook_log: pl.DataFrame
    names: dict[str, str]

    @property
    def decided(self) -> pl.DataFrame:
        """The decisions taken for the planned quarter."""
        return self.decisions.filter(pl.col("quarter") == self.plan)


def meeting(ctx: Context, plan: str) -> Meeting:
    """Read the planned quarter's facts and records (cached)."""
    history, forecasts = cached(
        view.kpi_facts,
        ctx,
        DEFINITIONS,
        plan,
        ctx.scope.as_dict(),
        ctx.settings.reporting_currency,
        spinner="Computing the history and forecasts…",
    )
    records = cached(view.meeting_records, ctx, plan, DEFINITIONS)
    proposed, decisions, proposal_log, outlook_log = records
    return Meeting(
        plan,
        ctx.settings.reporting_currency,
        history,
        forecasts,
        proposed,
        decisions,
        proposal_log,
        outlook_log,
        {k.id: k.name for k in ctx.definitions},
    )


# ---- all KPIs --------------------------------------------------------------------------------


def overview_tab(m: Meeting) -> None:
    """Every KPI's last value, forecast, both proposals and the target, one row each."""
    table = goals_overview(m.history, m.forecasts, m.proposed, m.decided)
    one_quarter = view.single_quarter(table)
    st.caption(view.overview_caption(m.forecasts, m.plan))
    shown = view.overview_shown(table, m.currency)
    st.dataframe(
        shown.select(
            "name",
            *([] if one_quarter else ["last_quarter"]),
            "last",
            "forecast",
            "range",
            "finance_value",
            "procurement_value",
            "target",
            "signed_by",
        ),
        hide_index=True,
        width="stretch",
        key="goals_overview",
        height="content",
        column_config={
            "name": st.column_config.TextColumn("KPI", width="medium"),
            "last_quarter": "Quarter",
            "last": one_quarter or "Last value",
            "forecast": "Forecast",
            "range": "Range",
            "finance_value": "Finance",
            "procurement_value": "Procurement",
            "target": "Target",
            "signed_by": "Agreed by",
        },
    )
    downloads(table, f"goals_{m.plan}", "goals_overview")


# ---- spend outlook ---------------------------------------------------------------------------


def outlook_tab(ctx: Context, m: Meeting) -> None:
    """The planned quarter's spend forecast per category and procurement's price outlook."""
    filters = honoured_scope(ctx.scope, OUTLOOK_FILTERS, "the spend outlook").as_dict()
    outlook = cached(spend_outlook, ctx, m.plan, filters)
    categories = cached(dimension_values, ctx, "spend", "category")
    _outlook_table(m, outlook)
    st.subheader(f"Procurement's price outlook for {m.plan}")
    blocked = view.outlook_blocked(ctx.person)
    if blocked:
        st.info(blocked, icon=":material/lock:")
    _outlook_editor(ctx, m.plan, view.outlook_editable(outlook, categories), blocked)
    with st.expander(f"Changes to the price outlook for {m.plan} ({m.outlook_log.height})"):
        if m.outlook_log.is_empty():
            st.write("No change recorded for this quarter yet.")
        else:
            st.dataframe(m.outlook_log, hide_index=True, width="stretch")
            downloads(m.outlook_log, f"price_outlook_changes_{m.plan}", "goals_outlook_log")


def _outlook_table(m: Meeting, outlook: pl.DataFrame) -> None:
    plan = m.plan
    base_q = outlook["base_quarter"][0]
    st.caption(view.outlook_caption(plan, base_q, m.currency))
    if not view.outlook_has_base(outlook):
        no_data(
            f"base for {plan}",
            f"The forecast starts from the spend of {base_q}, the same quarter a year earlier, "
            "and the store does not hold all of it. Load that quarter's invoices, or plan a "
            "later quarter.",
        )
    else:
        st.plotly_chart(figure(charts.spend_outlook_bars, outlook, m.currency), key="c_outlook")
    st.dataframe(
        outlook.select(
            "category",
            "base_spend",
            # a share (0.05); shown as a percent with one decimal, as its neighbour
            (pl.col("volume_trend") * 100).alias("volume_trend"),
            "expected_change_pct",
            "spend_forecast",
            pl.col("price_note").fill_null(""),
        ),
        hide_index=True,
        width="stretch",
        height="content",
        key="goals_outlook",
        column_config={
            "category": "Category",
            "base_spend": st.column_config.NumberColumn(f"Spend {base_q}", format="accounting"),
            "volume_trend": st.column_config.NumberColumn("Volume trend", format="%+.1f %%"),
            "expected_change_pct": st.column_config.NumberColumn(
                "Expected price change", format="%+.1f %%"
            ),
            "price_note": st.column_config.TextColumn("Procurement's note", width="large"),
            "spend_forecast": st.column_config.NumberColumn(
                f"Forecast {plan}", format="accounting"
            ),
        },
    )
    downloads(outlook, f"spend_outlook_{plan}", "goals_outlook")
    with st.expander("How the spend outlook is computed"):
        st.markdown(SPEND_OUTLOOK_EXPLAINED)


def _outlook_editor(ctx: Context, plan: str, editable: pl.DataFrame, blocked: str | None) -> None:
    """Procurement's expected price change and note per category, edited and saved at once;
    disabled for someone who may not change it (`blocked` says why; kpi/ refuses anyway)."""
    with st.form(f"outlook_form_{plan}"):
        edited = st.data_editor(
            editable,
            hide_index=True,
            width="stretch",
            height="content",
            disabled=True if blocked else ["category"],
            key=f"outlook_edit_{plan}",
            column_config={
                "category": "Category",
                "expected_change_pct": st.column_config.NumberColumn(
                    "Expected price change (%)",
                    help="In percent of the price in the same quarter a year earlier: 3.5 "
                    "means prices 3.5 % higher.",
                    format="%+.1f",
                    min_value=-99.9,
                    max_value=1000.0,
                    step=0.1,
                ),
                "note": st.column_config.TextColumn("Note", width="large", max_chars=500),
            },
        )
        save = st.form_submit_button(
            "Save price outlook",
            type="primary",
            key=f"outlook_save_{plan}",
            disabled=blocked is not None,
        )
    if not save:
        return
    changed = view.outlook_edits(pl.DataFrame(edited), editable)
    saved, failed = view.save_outlook_edits(ctx.store, ctx.person, plan, changed)
    for problem in failed:
        st.error(problem)
    if not saved and not failed:
        st.info("Nothing changed: edit a price change or a note, then save.")
    if saved and not failed:
        st.session_state[FLASH] = view.outlook_saved_message(plan, saved)
        st.session_state.pop(f"outlook_edit_{plan}", None)
        st.rerun()
    elif saved:
        st.success(view.outlook_partly_saved(saved))


# ---- decision log ----------------------------------------------------------------------------


def decision_log_tab(m: Meeting) -> None:
    """Every agreed target, and every proposal for the planned quarter."""
    st.subheader("Agreed targets")
    if m.decisions.is_empty():
        no_data(
            "agreed targets",
            "In **KPI by KPI**, finance and procurement each sign the same target for their "
            "own department.",
        )
    else:
        # the signers by name (finance_name, procurement_name), not by address
        log = view.decisions_table(m.decisions, m.names).drop("finance_by", "procurement_by")
        st.dataframe(
            named(log),
            hide_index=True,
            width="stretch",
            key="goals_decisions",
            column_config={
                "decided_at": "Decided",  # named(): in settings.timezone, the zone named
                "rationale": st.column_config.TextColumn("Rationale", width="large"),
            },
        )
        downloads(log, "goal_decisions", "goals_decisions")
    st.subheader(f"Every proposal for {m.plan}")
    if m.proposal_log.is_empty():
        no_data(f"proposals for {m.plan}", "Propose a target in **KPI by KPI**.")
    else:
        show_table(m.proposal_log, key="goals_proposals")
        downloads(m.proposal_log, f"target_proposals_{m.plan}", "goals_proposals")
