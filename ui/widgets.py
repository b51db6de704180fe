"""Small pieces every page uses: downloads, the KPI definition dialog, empty states."""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import streamlit as st
import yaml

from kpi.core import periods
from kpi.core.formatting import format_time, format_value
from kpi.core.output import (
    PERCENT_MARK,
    PERCENT_SUFFIXES,
    download_name,
    for_spreadsheet,
    header,
    is_percent,
    named_periods,
    to_csv_bytes,
    to_xlsx_bytes,
)
from kpi.core.people import Person, display_name, load_people
from kpi.core.scope import FILTER_NAMES, Scope, ignored_text
from kpi.core.settings import FiscalCalendar, SettingsError, config_dir, load_settings
from kpi.reporting import charts
from kpi.reporting.charts import plot_text  # noqa: F401  (re-exported: one escaper, kept in kpi.reporting.charts)
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.workflows.definition_versions import approval_checks, effective_status
from ui.cache import figure
from ui.definition_dialog import dismissed

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def literal(text: object) -> str:
    """Text from data (supplier names, notes, titles, descriptions), escaped so that
    st.markdown, st.caption, st.info and the like show it exactly as typed: every ASCII
    punctuation mark gets a backslash, so no link, emphasis, HTML, colour directive, icon
    or formula can come out of it."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", "" if text is None else str(text))


# Columns that record who did something (an e-mail address): pages and downloads show the
# person's name from people.yaml instead (issue 15: people by name, not e-mail). Any other
# column whose name ends in "_by" is one too (created_by, signed_by, ...).
WHO_COLUMNS = (
    "who",
    "by",
    "owner",
    "person",
    "signer",
    "author",
    "reviewer",
    "proposer",
    "approver",
    "changed_by",
    "proposed_by",
    "finance_by",
    "procurement_by",
    "loaded_by",
    "decided_by",
    "created_by",
    "signed_by",
)


def _is_who(column: str) -> bool:
    return column in WHO_COLUMNS or column.endswith("_by")


@st.cache_data(show_spinner=False)
def _people(path: str, stamp: tuple[int, int, int] | None) -> list[Person]:
    return load_people(Path(path))


def known_people() -> list[Person]:
    """config/people.yaml (re-read when the file changes); none when it cannot be read
    (the sidebar says why)."""
    path = config_dir() / "people.yaml"
    try:
        st_ = path.stat()
        return _people(str(path), (st_.st_ino, st_.st_mtime_ns, st_.st_size))
    except (OSError, ValueError, yaml.YAMLError):
        return []


def person_name(who: object) -> str:
    """Who did something, by name (people.yaml), never by e-mail address."""
    return display_name(who, known_people())


def time_zone() -> str:
    """The zone tables show times in: settings.yaml's `timezone` (the page's context holds
    the settings; a page without one reads the file; a broken file means UTC, named)."""
    ctx = st.session_state.get("_ctx")
    if ctx is not None:
        return ctx.settings.timezone
    try:
        return load_settings().timezone
    except SettingsError:
        return "UTC"


def _for_people(frame: pl.DataFrame) -> pl.DataFrame:
    """People by name and moments as text in the configured zone (format_time), the one
    rule for tables and downloads alike; a datetime column of whole days shows dates."""
    people = known_people()
    who = [c for c, t in frame.schema.items() if _is_who(c) and t == pl.String]
    zone = time_zone()
    moments = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
    return frame.with_columns(
        *(
            pl.col(c).replace({v: display_name(v, people) for v in frame[c].drop_nulls().unique()})
            for c in who
        ),
        *(
            pl.col(c).dt.date().cast(pl.String)
            if _days_only(frame[c])
            else pl.col(c).map_elements(lambda m: format_time(m, zone), return_dtype=pl.String)
            for c in moments
        ),
    )


def _days_only(column: pl.Series) -> bool:
    """A datetime column that holds days (every value at midnight: a month's or a day's
    start), shown as dates: moving it into a zone would show a time nobody recorded."""
    values = column.drop_nulls()
    return not values.is_empty() and bool((values.dt.truncate("1d") == values).all())


def named(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as a table shows it to people: every who-column (WHO_COLUMNS, any "_by")
    by name instead of address, times in the configured zone with the zone named
    ("2026-12-01 14:03 CET"), and empty text empty (st.dataframe writes "None" in a text
    column; an empty number already shows empty). Column names stay: headers come from
    `table_columns`, so a page's own column settings keep matching."""
    shown = _for_people(frame)
    return shown.with_columns(
        pl.col(c).fill_null("") for c, t in shown.schema.items() if t == pl.String
    )


def table_columns(frame: pl.DataFrame, percent: tuple[str, ...] = PERCENT_SUFFIXES) -> dict:
    """st.dataframe column settings every page shares: headers in words (`header`: e.g.
    supplier_id → "Supplier ID"); money (DECIMAL) with thousands separators and two
    decimals, negatives in brackets as finance reads them; fractions whose name ends in
    one of `percent` as percentages (92.10%)."""
    config: dict = {}
    for column, dtype in frame.schema.items():
        label = header(column)
        if isinstance(dtype, pl.Decimal):
            config[column] = st.column_config.NumberColumn(label, format="accounting")
        elif is_percent(column, dtype, percent):
            config[column] = st.column_config.NumberColumn(label, format="percent")
        else:
            config[column] = label
    return config


def show_table(
    frame: pl.DataFrame,
    *,
    column_config: dict | None = None,
    percent: tuple[str, ...] = PERCENT_SUFFIXES,
    **options,
):
    """A table for people in one call: `named` values under `table_columns` headers (the
    page's own `column_config` entries win), full width, no index. Returns what
    st.dataframe returns (the selection when `on_select` is given)."""
    options = {"hide_index": True, "width": "stretch", **options}
    config = {**table_columns(frame, percent), **(column_config or {})}
    return st.dataframe(named(frame), column_config=config, **options)


# `downloads(..., scope=SIDEBAR)`: the scope the sidebar chose (the page's Context).
SIDEBAR = "sidebar"


def scope_lines(scope: Scope | None, name: str) -> list[tuple[str, str]]:
    """What a download covers, line by line (the Excel copy's Scope sheet): the table, the
    periods, each filter (or "all"), the currency, when and in which zone it was made."""
    zone = time_zone()
    lines = [("Table", name.replace("_", " "))]
    if scope is not None:
        own = named_periods(name)
        if own:  # the table is of its own period(s): say them, and the sidebar's range apart
            lines.append(("Period", " to ".join(dict.fromkeys(own))))
        if scope.start and scope.end:
            what = "Sidebar periods" if own else "Periods"
            lines.append((what, f"{_period_text(scope)} ({scope.start} to {scope.end})"))
        chosen = dict(scope.filters)
        for column in (
            "cost_centre",
            "category",
            *[c for c in chosen if c not in ("cost_centre", "category")],
        ):
            what = FILTER_NAMES.get(column, column.replace("_", " "))
            values = chosen.get(column)
            lines.append(
                (what.capitalize(), ", ".join(values) if values else f"all ({what} not filtered)")
            )
        if scope.currency:
            lines.append(("Currency", scope.currency))
    else:
        lines.append(("Scope", "the whole table (the sidebar's filters do not apply to it)"))
    lines.append(("Downloaded", format_time(datetime.now(UTC), zone)))
    lines.append(
        ("Percentages", f"columns marked {PERCENT_MARK.strip()} hold percent: 92.1 means 92.1 %")
    )
    return lines


def _period_text(scope: Scope) -> str:
    """'FY2025-Q4 to FY2026-Q3' (fiscal quarters of the context's calendar)."""
    ctx = st.session_state.get("_ctx")
    cal = ctx.settings.fiscal if ctx is not None else FiscalCalendar()
    first = periods.label(scope.start, "quarter", cal)
    last = periods.label(scope.end, "quarter", cal)
    return first if first == last else f"{first} to {last}"


def _name_parts(scope: Scope | None) -> list[str]:
    """The scope in a file name: periods, currency, then each filter (category-IT)."""
    if scope is None:
        return []
    parts = []
    if scope.start and scope.end:
        parts.append(_period_text(scope).replace(" to ", "_"))
    if scope.currency:
        parts.append(scope.currency)
    for column, values in scope.filters:
        shown = "+".join(values) if len(values) <= 3 else f"{len(values)}-values"
        parts.append(f"{column.replace('_', '-')}-{shown}")
    return parts


def downloads(
    frame: pl.DataFrame,
    name: str,
    key: str,
    scope: Scope | str | None = SIDEBAR,
    percent: tuple[str, ...] = PERCENT_SUFFIXES,
) -> None:
    """CSV and Excel downloads of what a table shows, for a spreadsheet: people by name
    (an e-mail address never leaves the app), times in the configured zone, headers in
    words, statuses in words, percentages ×100 under a "(%)" header, exact amounts. The
    file names carry the scope (periods, currency, filters); the Excel copy has a Scope
    sheet saying it. `scope`: the sidebar's (default), the one the table honours, or None
    for a table the sidebar does not filter (definitions, loads)."""
    if scope == SIDEBAR:
        ctx = st.session_state.get("_ctx")
        scope = ctx.scope if ctx is not None else None
    scope = scope if isinstance(scope, Scope) else None
    sheet = for_spreadsheet(_for_people(frame), percent)
    file = download_name(name, _name_parts(scope))
    left, right, _ = st.columns([1, 1, 4])
    # each file is made when its button is clicked (a deferred download), not on every run:
    # a table's CSV and workbook cost tens of milliseconds, and most are never downloaded
    left.download_button(
        "⬇ CSV",
        functools.partial(to_csv_bytes, sheet),
        file_name=f"{file}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        help="Comma-separated, UTF-8; opens in Excel. The file name says the scope.",
        on_click="ignore",  # a download changes nothing on the page: it reruns nothing
    )
    if not _temporary_folder_writable():  # openpyxl writes temporary files: a full disk
        right.caption("Excel unavailable: the temporary folder is full")  # costs Excel only
        return
    # the Scope sheet's lines are the run's: it says when the table was drawn
    right.download_button(
        "⬇ Excel",
        functools.partial(to_xlsx_bytes, sheet, name, scope_lines(scope, name)),
        file_name=f"{file}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"xlsx_{key}",
        help="The table, and a Scope sheet saying what it covers.",
        on_click="ignore",
    )


def _temporary_folder_writable() -> bool:
    """Whether the temporary folder takes a sheet's worth of bytes (openpyxl writes each
    sheet there): checked when the button is drawn, so a full disk is said beside it."""
    try:
        with tempfile.TemporaryFile() as probe:
            probe.write(bytes(_PROBE_BYTES))
            probe.flush()
    except OSError:
        return False
    return True


_PROBE_BYTES = 64 * 1024


def no_data(what: str, todo: str) -> None:
    """An empty state: what is missing and what to do (both written by us, in markdown)."""
    st.info(f"**No {what} yet.** {todo}", icon="ℹ️")


@st.dialog("KPI definition", width="large", on_dismiss=dismissed)
def definition_dialog(kpi: KpiDefinition, trend: pl.DataFrame | None, currency: str) -> None:
    """Everything both departments signed about one KPI, and its recent values. Shown on
    the run of a click only; closing it unselects the scorecard click (ui.definition_dialog)."""
    st.subheader(literal(kpi.name))
    people = known_people()
    status = effective_status(kpi, people)
    agreed = "✅ agreed by both departments" if status == "agreed" else f"⚠️ {status}"
    st.caption(
        f"`{kpi.id}` · owner **{literal(kpi.owner)}** · theme {literal(kpi.theme)} · {agreed}"
    )
    st.markdown(literal(kpi.description))
    left, right = st.columns(2)
    left.markdown("**Finance reads it as**")
    left.markdown(literal(kpi.readings.finance))
    right.markdown("**Procurement reads it as**")
    right.markdown(literal(kpi.readings.procurement))
    st.markdown(
        "**Formula** (over the view `" + kpi.source + "`, periods by `" + kpi.period_by + "`)"
    )
    st.code(kpi.formula, language="sql")
    st.markdown(
        f"**Unit** {kpi.unit} · **direction** {kpi.direction.replace('_', ' ')} · "
        f"**can be split by** {literal(', '.join(kpi.dimensions) or '–')}"
    )
    raci = kpi.raci
    st.markdown(
        f"**RACI** responsible {literal(raci.responsible)} · accountable "
        f"{literal(raci.accountable)} · consulted {literal(', '.join(raci.consulted) or '–')} · "
        f"informed {literal(', '.join(raci.informed) or '–')}"
    )
    signed = []
    for dept, a in approval_checks(kpi, people).items():
        void = f" (does not count: {literal(a.reason)})" if a.state == "void" else ""
        who = a.signer.name if a.signer else person_name(a.by)
        signed.append(f"{dept}: {literal(who)} on {a.on}{void}" if a.by else f"{dept}: not signed")
    st.markdown("**Approvals** " + " · ".join(signed))
    targets = {p: float(v) for p, v in kpi.targets.items()}
    if trend is not None and not trend.is_empty():
        st.plotly_chart(
            charts.kpi_trend(trend, kpi.name, kpi.unit, targets, currency), key=f"trend_{kpi.id}"
        )
    if targets:
        st.markdown("**Targets**")
        st.dataframe(
            pl.DataFrame(
                {
                    "period": list(targets),
                    "target": [format_value(v, kpi.unit, currency) for v in targets.values()],
                }
            ),
            hide_index=True,
        )


def honoured_scope(scope: Scope, honoured: Sequence[str], what: str) -> Scope:
    """The scope a figure can honour; when the sidebar chose a filter it cannot, a note
    names it (a filter is never dropped in silence)."""
    ignored = scope.ignored(honoured)
    if ignored:
        verb = "filter does" if len(ignored) == 1 else "filters do"
        note = f"The {ignored_text(ignored)} {verb} not apply to {what}."
        st.caption(":material/filter_alt_off: " + note)
    return scope.only(honoured)


def chart_with_data(
    frame: pl.DataFrame,
    builder: Callable[..., object],
    name: str,
    key: str,
    empty: tuple[str, str],
    table: pl.DataFrame | None = None,
    scope: Scope | str | None = SIDEBAR,
    args: tuple = (),
) -> bool:
    """A chart of `frame` (`builder(frame, *args)`, built once per content: ui.cache.figure)
    with its data (or `table`) and downloads in an expander below, or the empty state (what
    is missing, what to do). True when the chart was drawn. `scope`:
    what the chart honours, for the downloads (the sidebar's by default). The expander's
    table and buttons are drawn only once it is opened (its key `data_<key>`; opening it
    reruns the page), so that a page showing many charts does not send, and the browser
    does not build, tables nobody opened."""
    if frame.is_empty():
        no_data(*empty)
        return False
    st.plotly_chart(figure(builder, frame, *args), key=f"c_{key}")
    data = frame if table is None else table
    with st.expander("Data", key=f"data_{key}", on_change="rerun") as box:
        if box.open:
            st.dataframe(named(data), hide_index=True, column_config=table_columns(data))
            downloads(data, name, key, scope)
    return True


def empty_slice(
    scope: Scope,
    what: str,
    *,
    table_rows: int | None = None,
    load: str = "",
    period: str | None = None,
    widen: str = "Widen the period",
) -> None:
    """The empty state of a figure: when its table holds no rows at all (`table_rows` 0),
    what to load (`load`); else which slice the period and filters leave empty, in words,
    and which of them to widen or clear. `scope` is the scope the figure honoured (a filter
    it ignores is not blamed); `period` replaces the scope's range (a budget's fiscal year)
    and `widen` says how to change it there."""
    from kpi.core.settings import FiscalCalendar
    from kpi.reporting.filters_text import empty_slice_text, empty_table_text, period_text

    if table_rows == 0:
        st.info(empty_table_text(what, load), icon="ℹ️")
        return
    if period is None and scope.start and scope.end:
        ctx = st.session_state.get("_ctx")  # the sidebar's context: its fiscal calendar
        cal = ctx.settings.fiscal if ctx is not None else FiscalCalendar()
        period = period_text(scope.start, scope.end, cal)
    filters = {k: [literal(v) for v in values] for k, values in scope.filters}
    shown = literal(period or "this period")
    st.info(empty_slice_text(what, shown, filters, widen), icon="ℹ️")
