"""The goals meeting's decision rows (`goal_decisions`): written once, whatever happens.

The signature that agrees a target (the second of two, by the other department: see
kpi.workflows.goals.sign_target) is two writes: the target and the signer's approval into
config/kpis.yaml, then its decision row, naming both signers, into the store. The
definitions writer (kpi.workflows.definition_writer) journals the row before it replaces
the file and calls `record_decision` after; a journal left by a crash or a full disk calls
it again on the next start. So the row is written only for a file
that holds the target, and never twice: a row for the same KPI, quarter and file version
is already the decision.
"""

from __future__ import annotations

from typing import Any

from kpi.store.database import Store
from kpi.store.queries import goals as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.store.query import fetch_frame


def record_decision(store: Store, row: dict[str, Any]) -> bool:
    """Insert the decision row (its id is the next one) unless it is already there; True
    when it was written now."""
    if decision_logged(store, row):
        return False
    with store.write() as con:
        decision_id = con.execute(q.NEXT_DECISION).fetchall()[0][0]
        con.execute(q.INSERT_DECISION, {**row, "decision_id": decision_id})
    return True


def decision_logged(store: Store, row: dict[str, Any]) -> bool:
    """A row for the same KPI, quarter and file version is in the store already."""
    if not store.exists():
        return False
    with store.read() as con:
        if not con.execute(HAS_TABLE, {"name": "goal_decisions"}).fetchall()[0][0]:
            return False
        logged = fetch_frame(con, q.DECISIONS, {"quarter": row["quarter"]})
    pairs = zip(logged["kpi"], logged["kpis_version"], strict=True)
    return (row["kpi_id"], row["kpis_version"]) in set(pairs)
