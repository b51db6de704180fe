"""Small pieces every page uses: downloads, the KPI definition dialog, empty states."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import streamlit as st
import yaml

from kpi.core.formatting import format_value
from kpi.core.output import to_csv_bytes, to_xlsx_bytes
from kpi.core.people import Person, display_name, load_people
from kpi.core.scope import Scope, ignored_text
from kpi.core.settings import config_dir
from kpi.reporting import charts
from kpi.reporting.charts import plot_text  # noqa: F401  (re-exported: one escaper, kept in kpi.reporting.charts)
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.workflows.definition_versions import approval_checks, effective_status
from ui.definition_dialog import dismissed

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def literal(text: object) -> str:
    """Text from data (supplier names, notes, titles, descriptions), escaped so that
    st.markdown, st.caption, st.info and the like show it exactly as typed: every ASCII
    punctuation mark gets a backslash, so no link, emphasis, HTML, colour directive, icon
    or formula can come out of it."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", "" if text is None else str(text))


# Columns that record who did something (an e-mail address): pages and downloads show the
# person's name from people.yaml instead (issue 15: people by name, not e-mail).
WHO_COLUMNS = (
    "who",
    "by",
    "owner",
    "changed_by",
    "proposed_by",
    "finance_by",
    "procurement_by",
    "loaded_by",
    "decided_by",
)


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


def named(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every who-column (WHO_COLUMNS) showing names instead of addresses."""
    people = known_people()
    columns = [c for c in WHO_COLUMNS if c in frame.columns and frame[c].dtype == pl.String]
    return frame.with_columns(
        pl.col(c).replace({v: display_name(v, people) for v in frame[c].drop_nulls().unique()})
        for c in columns
    )


PERCENT_SUFFIXES = ("share", "rate", "utilisation", "_to_date", "delivery", "on_time")


def table_columns(frame: pl.DataFrame, percent: tuple[str, ...] = PERCENT_SUFFIXES) -> dict:
    """st.dataframe column settings every page shares: readable headers; money (DECIMAL)
    with thousands separators and two decimals, negatives in brackets as finance reads
    them; fractions whose name ends in one of `percent` as percentages."""
    config: dict = {}
    for column, dtype in frame.schema.items():
        label = column.replace("_", " ").capitalize()
        if isinstance(dtype, pl.Decimal):
            config[column] = st.column_config.NumberColumn(label, format="accounting")
        elif dtype == pl.Float64 and column.endswith(percent):
            config[column] = st.column_config.NumberColumn(label, format="percent")
        else:
            config[column] = label
    return config


def downloads(frame: pl.DataFrame, name: str, key: str) -> None:
    """CSV and Excel downloads of exactly what a table shows, people by name (an e-mail
    address never leaves the app in a download)."""
    frame = named(frame)
    left, right, _ = st.columns([1, 1, 4])
    left.download_button(
        "⬇ CSV",
        to_csv_bytes(frame),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        help="Comma-separated, UTF-8; opens in Excel",
    )
    try:
        workbook = to_xlsx_bytes(frame, name)
    except OSError:  # openpyxl writes temporary files: a full disk costs the Excel copy only
        right.caption("Excel unavailable: the temporary folder is full")
        return
    right.download_button(
        "⬇ Excel",
        workbook,
        file_name=f"{name}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"xlsx_{key}",
    )


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
    figure: Callable[[pl.DataFrame], object],
    name: str,
    key: str,
    empty: tuple[str, str],
    table: pl.DataFrame | None = None,
) -> bool:
    """A chart of `frame` with its data (or `table`) and downloads in an expander below, or
    the empty state (what is missing, what to do). True when the chart was drawn."""
    if frame.is_empty():
        no_data(*empty)
        return False
    st.plotly_chart(figure(frame), key=f"c_{key}")
    shown = named(frame if table is None else table)
    with st.expander("Data"):
        st.dataframe(shown, hide_index=True)
        downloads(shown, name, key)
    return True
