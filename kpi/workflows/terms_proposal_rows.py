"""A terms proposal's rows inside the caller's write or read: versions, lines, signatures voided,
the audit log.

kpi.workflows.terms_proposals holds the rules (who may, what a change does); this module
holds how each step lands in the store, always on a connection the caller opened, so a
change and its audit row are one transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from kpi.core.people import Person
from kpi.store.queries import terms_proposals as q
from kpi.store.query import fetch_frame


class ProposalError(ValueError):
    """A proposal write that cannot be made; the message says why and what to do."""


def new_version(
    con: duckdb.DuckDBPyConnection,
    proposal_id: int,
    current: int,
    person: Person,
    change: str,
    now: datetime,
    lines: dict[str, dict[str, Any]],
    *,
    reason: str | None = None,
    effective_from: date | None = None,
) -> int:
    """Write the next version with `lines` and void the signatures on the earlier ones."""
    version = current + 1
    versions = fetch_frame(con, q.VERSIONS, {"proposal_id": proposal_id})
    start = effective_from or versions.filter(pl.col("version") == current)["effective_from"][0]
    why = reason or "procurement answered"
    add_version(con, proposal_id, version, start, person, change, why, now)
    for line in lines.values():
        insert_line(con, proposal_id, version, line)
    void = f"version {version} replaced it ({change} by {person.name})"
    params = {"at": now, "by": person.email, "reason": void}
    con.execute(q.VOID_SIGNATURES, params | {"proposal_id": proposal_id, "version": version})
    return version


def add_version(con, proposal_id, version, start, person, change, reason, now) -> None:  # type: ignore[no-untyped-def]
    """One row of terms_proposal_versions: who made the version, when, why, from when."""
    con.execute(
        q.INSERT_VERSION,
        {
            "proposal_id": proposal_id,
            "version": version,
            "effective_from": start,
            "created_at": now,
            "created_by": person.email,
            "created_by_name": person.name,
            "change": change,
            "reason": reason,
        },
    )


def insert_line(con: duckdb.DuckDBPyConnection, proposal_id: int, version: int, line: dict) -> None:
    """One supplier of a version; every version carries all its suppliers' lines."""
    row = {c: line.get(c) for c in q.LINE_COLUMNS} | {
        "proposal_id": proposal_id,
        "version": version,
    }
    row["supplier_name"] = row["supplier_name"] or line.get("supplier_name")
    con.execute(q.INSERT_LINE, row)


def version_lines(con: duckdb.DuckDBPyConnection, proposal_id: int, version: int) -> list[dict]:
    """The suppliers of one version, as rows."""
    params = {"proposal_id": proposal_id, "version": version}
    return list(fetch_frame(con, q.LINES, params).iter_rows(named=True))


def proposal_record(con: duckdb.DuckDBPyConnection, proposal_id: int) -> dict[str, Any]:
    """The terms_proposals row; ProposalError when there is none."""
    rows = fetch_frame(con, q.PROPOSAL, {"proposal_id": int(proposal_id)})
    if rows.is_empty():
        raise ProposalError(f"there is no terms proposal {proposal_id}")
    return rows.row(0, named=True)


def current_version(con: duckdb.DuckDBPyConnection, proposal_id: int) -> int:
    """The latest version: the one a signature must name to count."""
    versions = fetch_frame(con, q.VERSIONS, {"proposal_id": int(proposal_id)})
    return int(versions["version"].max())


def require_open(record: dict[str, Any]) -> None:
    """Refuse a change to an agreed, refused or withdrawn proposal: those stay as they are."""
    if record["status"] != "open":
        raise ProposalError(
            f"proposal {record['proposal_id']} is {record['status']}: it stays on record as it "
            "is; make a new proposal from a scenario to start again"
        )


def open_current(con: duckdb.DuckDBPyConnection, proposal_id: int, expected: int) -> int:
    """The current version of an open proposal, refused when someone changed it meanwhile."""
    require_open(proposal_record(con, proposal_id))
    current = current_version(con, proposal_id)
    if int(expected) != current:
        raise ProposalError(
            f"proposal {proposal_id} changed while you were reading it (now version {current}, "
            f"you read version {expected}): read it again, then change it"
        )
    return current


def close_proposal(con, proposal_id, status, person, reason, now, agreed_version) -> None:  # type: ignore[no-untyped-def]
    """Set the final status (agreed, refused, withdrawn) with who, when and why."""
    con.execute(
        q.CLOSE_PROPOSAL,
        {
            "proposal_id": proposal_id,
            "status": status,
            "at": now,
            "by": person.email,
            "by_name": person.name,
            "reason": reason,
            "agreed_version": agreed_version,
        },
    )


def log_event(con, proposal_id, version, person, action, supplier_id, detail, reason, now) -> None:  # type: ignore[no-untyped-def]
    """One audit row (who, when, what, why), written in the same transaction as the change."""
    con.execute(
        q.INSERT_EVENT,
        {
            "event_id": one(con, q.NEXT_EVENT),
            "proposal_id": proposal_id,
            "version": version,
            "at": now,
            "by_email": person.email,
            "by_name": person.name,
            "action": action,
            "supplier_id": supplier_id,
            "detail": detail,
            "reason": reason,
        },
    )


def one(con: duckdb.DuckDBPyConnection, query: str) -> Any:
    """The single value a query returns (the next id)."""
    return con.execute(query).fetchall()[0][0]
