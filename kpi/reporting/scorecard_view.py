"""The scorecard as people read it: status labels, formatted values, the heading's tally and
the download's columns (the overview page, the meeting pack and the golden check share them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from kpi.core.formatting import format_delta, format_value
from kpi.core.people import Person
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.workflows.definition_versions import effective_status

STATUS_LABELS = {
    "green": "● On target",
    "amber": "▲ Near target",
    "red": "■ Off target",
    "none": "○ No target",
    "no_slice_target": "○ No target for this slice",
    "no_data": "◌ No data",
}
# statuses the heading's tally names only when some KPI has them
RARE_STATUSES = ("no_slice_target", "no_data")

# What the statuses and the change column mean (the overview's tile help and scorecard).
STATUS_RULE = (
    "“No data”: the KPI has no value for the quarter; “no target”: it has a value but no "
    "target is set. A utilisation (best at 100 %) above 100 % is off target: 100 % is a "
    "ceiling. The change of a percent KPI is in percentage points (pp): 80 % to 82 % is "
    "+2.0 pp."
)

# What the scorecard's caption says of its targets when filters are on (the rule of
# kpi.analyses.scorecard, in plain words).
TARGETS_RULE = (
    "With filters on, a KPI is judged against a target set for that slice (its "
    "`slice_targets`), else it shows “no target for this slice”; company-wide targets judge "
    "the unfiltered figures only. Money targets are set in the reporting currency and "
    "converted, like the values, to the currency shown at the quarter's mean rate."
)

EXPORT_COLUMNS = (
    "id",
    "name",
    "theme",
    "owner",
    "unit",
    "period",
    "value",
    "target",
    "status",
    "previous",
    "delta",
    "definition_status",
)


def for_display(card: pl.DataFrame, currency: str) -> pl.DataFrame:
    """The scorecard with Value, Target, Change and Status as people read them."""

    def fmt(column: str, how) -> pl.Expr:
        return pl.struct(column, "unit").map_elements(
            lambda r: how(r[column], r["unit"], currency), return_dtype=pl.String
        )

    return card.with_columns(
        fmt("value", format_value).alias("Value"),
        fmt("target", format_value).alias("Target"),
        fmt("delta", format_delta).alias("Change"),
        pl.col("status").replace_strict(STATUS_LABELS).alias("Status"),
        pl.col("trend").list.drop_nulls().alias("trend"),
        pl.col("definition_status").alias("Definition"),
    )


def status_tally(card: pl.DataFrame) -> str:
    """'● On target: 7 · ▲ Near target: 5 · ...' for the scorecard's heading."""
    counts = dict(card["status"].value_counts().iter_rows())
    shown = [s for s in STATUS_LABELS if s not in RARE_STATUSES or counts.get(s)]
    return " · ".join(f"{STATUS_LABELS[s]}: **{counts.get(s, 0)}**" for s in shown)


def with_agreement(
    card: pl.DataFrame, definitions: Sequence[KpiDefinition], people: Sequence[Person]
) -> pl.DataFrame:
    """The card with each KPI's agreement as of now (both departments' approvals of the
    current version, by signers in `people`), not the status the card was computed with:
    an approval or a change shows as soon as the file does, even on a cached card."""
    agreement = {k.id: effective_status(k, people) for k in definitions}
    return card.with_columns(
        pl.col("id").replace_strict(agreement, default="draft").alias("definition_status")
    )


def scorecard_export(card: pl.DataFrame) -> pl.DataFrame:
    """The columns of the scorecard download (CSV / Excel)."""
    return card.select(EXPORT_COLUMNS)


def ignored_by(card: pl.DataFrame, ids: Iterable[str]) -> tuple[str, ...]:
    """The filters at least one of these KPIs cannot honour (their `filters_ignored`)."""
    rows = card.filter(pl.col("id").is_in(list(ids)))["filters_ignored"].to_list()
    return tuple(sorted({f for text in rows for f in (text or "").split(", ") if f}))
