"""The quarterly goal-setting meeting's record: the price outlook, proposals, agreed targets.

Finance and procurement meet once a quarter to agree the next quarter's targets. Its facts
(history, forecasts, the spend outlook) are read in kpi.analyses.goal_history and
kpi.analyses.spend_outlook; this module keeps its record. The rules (kpi.core.permissions)
hold whatever the page shows or hides:

- procurement members and the CFO set procurement's price outlook (`price_outlook`); each
  change is audited in `outlook_changes` (who, when, old, new) in the same write;
- a finance member or the CFO proposes finance's target, a procurement member
  procurement's; viewers propose nothing. Every proposal is kept (`target_proposals`); the
  latest of each department is the one on the table;
- an agreed target is two acts by two people: a finance member or the CFO signs it for
  finance, a procurement member for procurement, each on their own (`sign_target` takes
  only the acting person). Each signature writes the target into the KPI's `targets` in
  config/kpis.yaml and that department's approval of the KPI's content; a different value
  voids the other's signature. The second signature on the same content agrees it: its
  row in `goal_decisions` names both signers and is written with the file as one unit of
  work: a refused save (someone saved the file in between) records nothing, and a save
  cut short between the file and the row is completed or dropped on the next start
  (kpi.workflows.definition_writer).

Values are in the KPI's own unit as kpis.yaml holds it: a percent KPI's target is a share
(0.72 for 72 %), a currency KPI's an amount in the reporting currency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from kpi.analyses.goal_history import GoalError, check_quarter, kpi_frame
from kpi.core.people import Person
from kpi.core.permissions import proposing_department, require_outlook_editor, require_signer
from kpi.semantic.definitions import KpiDefinition
from kpi.store.database import Store
from kpi.store.queries import goals as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.store.query import fetch_frame
from kpi.workflows import definition_saves

_KPI_ID = re.compile(r"^[a-z][a-z0-9_]*$")


# ---------------------------------------------------------------------------------------
# Price outlook editing
# ---------------------------------------------------------------------------------------


def set_price_outlook(
    store: Store,
    person: Person | None,
    quarter: str,
    category: str,
    expected_change_pct: float | Decimal | str,
    note: str | None = None,
) -> dict[str, Any]:
    """Set procurement's expected price change for a quarter and category, with an audit row.

    `expected_change_pct` is in percent points (3.5 = prices 3.5 % up). The row replaces
    the quarter's row for the category, or is added; the audit row (who, when, old, new)
    lands in the same write. Returns the audit row. PermissionDenied unless the person is
    a procurement member or the CFO; GoalError for a value the store cannot keep.
    """
    person = require_outlook_editor(person)
    quarter = check_quarter(quarter)
    category = _text(category, "category", 100, required="name the category")
    pct = _pct(expected_change_pct)
    note = _text(note, "note", 500)
    now = _now()
    with store.write() as con:
        found = con.execute(q.GET_OUTLOOK, {"quarter": quarter, "category": category}).fetchall()
        old = found[0] if found else None
        params = {"quarter": quarter, "category": category}
        con.execute(q.DELETE_OUTLOOK, params)
        con.execute(q.INSERT_OUTLOOK, {**params, "expected_change_pct": pct, "note": note})
        change_id = _one(con, q.NEXT_OUTLOOK_CHANGE)
        audit = {
            **params,
            "change_id": change_id,
            "changed_at": now,
            "changed_by": person.email,
            "changed_by_name": person.name,
            "old_change_pct": old[0] if old else None,
            "new_change_pct": pct,
            "old_note": old[1] if old else None,
            "new_note": note,
        }
        con.execute(q.INSERT_OUTLOOK_CHANGE, audit)
    return audit


OUTLOOK_CHANGES_SCHEMA = {
    "changed_at": pl.Datetime("us"),
    "quarter": pl.String,
    "category": pl.String,
    "changed_by": pl.String,
    "changed_by_name": pl.String,
    "old_change_pct": pl.Float64,
    "new_change_pct": pl.Float64,
    "old_note": pl.String,
    "new_note": pl.String,
}


def outlook_changes(store: Store, quarter: str | None = None) -> pl.DataFrame:
    """The price outlook's audit log, newest first (one quarter, or all).

    Columns: changed_at (UTC), quarter, category, changed_by, changed_by_name,
    old_change_pct, new_change_pct, old_note, new_note.
    """
    params = {"quarter": None if quarter is None else check_quarter(quarter)}
    return _read_log(store, "outlook_changes", q.OUTLOOK_CHANGES, params, OUTLOOK_CHANGES_SCHEMA)


# ---------------------------------------------------------------------------------------
# Proposals
# ---------------------------------------------------------------------------------------


def propose_target(
    store: Store,
    person: Person | None,
    quarter: str,
    kpi_id: str,
    value: float,
    rationale: str | None = None,
    definitions: Sequence[KpiDefinition] | None = None,
) -> dict[str, Any]:
    """Record the person's department's proposed target for a KPI and quarter.

    The department comes from the person (proposing_department). Earlier proposals are kept;
    the latest of each department is the one `proposals` shows. With `definitions`, the
    KPI must be one of them. Returns the stored row.
    """
    department = proposing_department(person)
    assert person is not None
    row = {
        "quarter": check_quarter(quarter),
        "kpi_id": _kpi_id(kpi_id, definitions),
        "department": department,
        "value": _target_value(value),
        "rationale": _text(rationale, "rationale", 2000),
        "proposed_by": person.email,
        "proposer_name": person.name,
        "proposed_at": _now(),
    }
    with store.write() as con:
        row["proposal_id"] = _one(con, q.NEXT_PROPOSAL)
        con.execute(q.INSERT_PROPOSAL, row)
    return row


PROPOSALS_SCHEMA = {
    "kpi": pl.String,
    "finance_value": pl.Float64,
    "finance_rationale": pl.String,
    "finance_by": pl.String,
    "finance_name": pl.String,
    "finance_at": pl.Datetime("us"),
    "procurement_value": pl.Float64,
    "procurement_rationale": pl.String,
    "procurement_by": pl.String,
    "procurement_name": pl.String,
    "procurement_at": pl.Datetime("us"),
    "gap": pl.Float64,
    "revisions": pl.Int64,
}


def proposals(
    store: Store, quarter: str, definitions: Sequence[KpiDefinition] | None = None
) -> pl.DataFrame:
    """Finance's and procurement's latest proposed targets side by side, one row per KPI.

    Columns: kpi, finance_value, finance_rationale, finance_by (email), finance_name,
    finance_at, the same five for procurement, gap (procurement − finance), revisions (all
    proposals for the KPI and quarter). Without `definitions`, only KPIs with a proposal,
    by id; with them, every KPI in their order, plus its `name` second.
    """
    params = {"quarter": check_quarter(quarter)}
    frame = _read_log(store, "target_proposals", q.PROPOSALS_SIDE_BY_SIDE, params, PROPOSALS_SCHEMA)
    if definitions is None:
        return frame
    kpis = kpi_frame(definitions).select("kpi", "name", "_order")
    return (
        kpis.join(frame, on="kpi", how="left")
        .with_columns(pl.col("revisions").fill_null(0))
        .sort("_order")
        .drop("_order")
    )


HISTORY_LOG_SCHEMA = {
    "proposed_at": pl.Datetime("us"),
    "quarter": pl.String,
    "kpi": pl.String,
    "department": pl.String,
    "value": pl.Float64,
    "rationale": pl.String,
    "proposed_by": pl.String,
    "proposer_name": pl.String,
}


def proposal_history(store: Store, quarter: str, kpi_id: str | None = None) -> pl.DataFrame:
    """Every proposal for the quarter (one KPI, or all), newest first.

    Columns: proposed_at (UTC), quarter, kpi, department, value, rationale, proposed_by,
    proposer_name.
    """
    params = {"quarter": check_quarter(quarter), "kpi_id": kpi_id}
    return _read_log(store, "target_proposals", q.PROPOSAL_HISTORY, params, HISTORY_LOG_SCHEMA)


# ---------------------------------------------------------------------------------------
# Agreed targets
# ---------------------------------------------------------------------------------------


def sign_target(
    store: Store,
    kpis_path: str | Path,
    person: Person | None,
    quarter: str,
    kpi_id: str,
    value: float,
    rationale: str,
    expected_version: Any,
    *,
    people: Sequence[Person] | None = None,
) -> Any:
    """The acting person signs a target for their own department; the other signs apart.

    definition_saves.sign_target writes targets[quarter] = value and only this person's
    department's approval of the KPI's new content (refusing if the file changed since
    `expected_version`). A different value than the one the other department signed voids
    their signature. When the other department's approval counts for exactly this content,
    the target is agreed: its `goal_decisions` row, naming the two real signers (names from
    people.yaml: `people`, loaded once by the caller, or read here), is written in the same
    unit of work as the file (kpi.workflows.definition_writer). PermissionDenied unless the
    person signs for finance (a finance member or the CFO) or procurement (a procurement
    member). Returns what definition_saves.sign_target returns.
    """
    require_signer(person, "sign targets")
    assert person is not None
    quarter = check_quarter(quarter)
    kpi_id = _kpi_id(kpi_id, None)
    value = _target_value(value)
    rationale = _text(rationale, "rationale", 2000, required="say why you sign this target")
    assert rationale is not None

    def decision(signers: dict[str, Person]) -> dict[str, Any]:
        """The decision row: the target and the two people whose approvals agree it."""
        finance, procurement = signers["finance"], signers["procurement"]
        return {
            "quarter": quarter,
            "kpi_id": kpi_id,
            "value": value,
            "rationale": rationale,
            "finance_by": finance.email,
            "finance_name": finance.name,
            "procurement_by": procurement.email,
            "procurement_name": procurement.name,
            "decided_at": _now(),
        }

    return definition_saves.sign_target(
        Path(kpis_path),
        person,
        kpi_id,
        quarter,
        value,
        rationale,
        expected_version,
        people=people,
        decision=decision,
        store=store,
    )


DECISIONS_SCHEMA = {
    "decided_at": pl.Datetime("us"),
    "quarter": pl.String,
    "kpi": pl.String,
    "value": pl.Float64,
    "rationale": pl.String,
    "finance_by": pl.String,
    "finance_name": pl.String,
    "procurement_by": pl.String,
    "procurement_name": pl.String,
    "kpis_version": pl.String,
}


def decision_log(store: Store, quarter: str | None = None) -> pl.DataFrame:
    """Agreed targets, newest first (one quarter, or all).

    Columns: decided_at (UTC), quarter, kpi, value, rationale, finance_by, finance_name,
    procurement_by, procurement_name, kpis_version (the file's version after the save).
    """
    params = {"quarter": None if quarter is None else check_quarter(quarter)}
    return _read_log(store, "goal_decisions", q.DECISIONS, params, DECISIONS_SCHEMA)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _read_log(
    store: Store, table: str, query: str, params: dict[str, Any], schema: dict[str, Any]
) -> pl.DataFrame:
    """Run a read of one of the meeting's tables; a store that predates it reads as empty."""
    with store.read() as con:
        if _one(con, HAS_TABLE, {"name": table}):
            return fetch_frame(con, query, params).cast(schema)
    return pl.DataFrame(schema=schema)


def _one(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> Any:
    """The single value a query returns (read to the end, as DuckDB wants)."""
    return con.execute(query, params).fetchall()[0][0]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _text(value: object, field: str, limit: int, required: str | None = None) -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        if required:
            raise GoalError(f"{required}: the {field} is empty", field)
        return None
    if len(text) > limit:
        raise GoalError(f"the {field} is {len(text)} characters long; keep it to {limit}", field)
    return text


def _pct(value: object) -> Decimal:
    try:
        pct = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise GoalError(
            f"the expected price change '{value}' is not a number (percent points: 3.5 for +3.5 %)",
            "expected_change_pct",
        ) from None
    if not pct.is_finite():
        raise GoalError("the expected price change must be a number", "expected_change_pct")
    pct = pct.normalize()
    if -pct.as_tuple().exponent > 4:  # type: ignore[operator]
        raise GoalError(
            f"the expected price change {value} has more than 4 decimals", "expected_change_pct"
        )
    if not Decimal(-100) < pct <= Decimal(1000):
        raise GoalError(
            f"an expected price change of {value} % is not plausible: give one above -100 "
            "and at most 1000 percent points",
            "expected_change_pct",
        )
    return pct


def _target_value(value: object) -> float:
    if isinstance(value, bool):
        raise GoalError("a target is a number", "value")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GoalError(f"the target '{value}' is not a number", "value") from None
    if not math.isfinite(number):
        raise GoalError("a target is a finite number", "value")
    return number


def _kpi_id(kpi_id: str, definitions: Sequence[KpiDefinition] | None) -> str:
    text = str(kpi_id or "").strip()
    if not _KPI_ID.match(text):
        raise GoalError(f"'{text}' is not a KPI id", "kpi_id")
    if definitions is not None and text not in {k.id for k in definitions}:
        raise GoalError(f"there is no KPI '{text}' in the definitions", "kpi_id")
    return text


# ---- for the page: the all-KPIs table and values as people type them -------------------------


def goals_overview(history, forecasts, proposed, decided) -> pl.DataFrame:
    """One row per KPI: last value, forecast and range, both proposals, target, signatures."""
    last = (
        history.filter(pl.col("complete") & pl.col("value").is_not_null())
        .group_by("kpi", maintain_order=True)
        .agg(pl.col("period").last().alias("last_quarter"), pl.col("value").last().alias("last"))
    )
    signed = decided.group_by("kpi", maintain_order=True).agg(
        pl.col("value").first().alias("agreed"),
        (pl.col("finance_name").first() + " & " + pl.col("procurement_name").first()).alias(
            "signed_by"
        ),
    )
    return (
        forecasts.select("kpi", "name", "unit", "forecast", "low", "high", "target")
        .join(last, on="kpi", how="left", maintain_order="left")
        .join(
            proposed.select("kpi", "finance_value", "procurement_value"),
            on="kpi",
            how="left",
            maintain_order="left",
        )
        .join(signed, on="kpi", how="left", maintain_order="left")
        .select(
            "kpi",
            "name",
            "unit",
            "last_quarter",
            "last",
            "forecast",
            "low",
            "high",
            "finance_value",
            "procurement_value",
            "target",
            "agreed",
            "signed_by",
        )
    )
