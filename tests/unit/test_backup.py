"""Backing up and restoring what the company entered: threads, initiatives and their audit
log, the price outlook, goal decisions, saved scenarios, payment-terms proposals, stock
marks and the KPI definitions round-trip
through `python -m kpi backup` / `restore`; a damaged backup changes nothing.

Runs on tests/hand_fixture.py with a copy of config/kpis.yaml.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from kpi.analyses.terms import save_scenario, simulate_terms
from kpi.cli import main
from kpi.core.people import Person
from kpi.store.database import Store
from kpi.store.schema import COMPANY_RECORDS
from kpi.workflows import terms_proposals
from kpi.workflows.backup import BackupError, backup, restore
from kpi.workflows.goal_decisions import record_decision
from kpi.workflows.initiatives import get_initiative, save_initiative
from kpi.workflows.stock_marks import mark_stock
from kpi.workflows.threads import post_comment, resolve_thread, thread, thread_resolved
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
PEOPLE = [SAM, JONAS]


def records(store: Store) -> dict[str, list[tuple]]:
    """Every row of every company record table present, sorted (equal dumps, equal records)."""
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        present = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {
            t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
            for t in COMPANY_RECORDS
            if t in present
        }
    finally:
        con.close()


@pytest.fixture()
def entered(tmp_path) -> tuple[Store, Path]:
    """A store where both departments entered something of every kind, and its definitions."""
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    kpis = tmp_path / "config" / "kpis.yaml"
    kpis.parent.mkdir()
    shutil.copyfile(ROOT / "config" / "kpis.yaml", kpis)
    (kpis.parent / "kpis.history.jsonl").write_text('{"line": 1}\n', encoding="utf-8")
    first = post_comment(store, SAM, "kpi:days_to_pay", "<b>Why</b> =1+1? @Jonas", people=PEOPLE)
    post_comment(store, JONAS, "kpi:days_to_pay", "Year end.", first.comment_id, people=PEOPLE)
    resolve_thread(store, SAM, "kpi:days_to_pay", "Explained")
    post_comment(store, JONAS, "stock_item:I1", "Safety stock, keep it.", people=PEOPLE)
    si2 = get_initiative(store, "SI2")
    save_initiative(store, JONAS, si2.model_copy(update={"title": "Dock, renegotiated"}), "typo")
    record_decision(
        store,
        {
            "quarter": "FY2027-Q1",
            "kpi_id": "days_to_pay",
            "value": 45.0,
            "rationale": "Agreed in the meeting",
            "finance_by": SAM.email,
            "finance_name": SAM.name,
            "procurement_by": JONAS.email,
            "procurement_name": JONAS.name,
            "decided_at": datetime(2026, 12, 1, 10, 0),
            "kpis_version": "abc",
        },
    )
    scenario = save_scenario(store, SAM, simulate_terms(store, 60), "Sixty days for all")
    terms_proposals.propose(
        store, SAM, scenario, "S1 to sixty days", "cash", supplier_ids=["S1"],
        effective_from=date(2027, 1, 1),
    )  # fmt: skip
    mark_stock(store, JONAS, "I3", "strategic", "single source, long lead", date(2099, 12, 31))
    return store, kpis


def test_backup_and_restore_round_trip_everything_entered(entered, tmp_path):
    store, kpis = entered
    before, kpis_bytes = records(store), kpis.read_bytes()
    assert {t: len(rows) > 0 for t, rows in before.items()} == {
        "savings_initiatives": True,
        "initiative_changes": True,
        "price_outlook": True,
        "outlook_changes": False,
        "target_proposals": False,
        "goal_decisions": True,
        "terms_scenarios": True,
        "thread_comments": True,
        "thread_resolutions": True,
        "stock_mark_changes": True,
        "terms_proposals": True,
        "terms_proposal_versions": True,
        "terms_proposal_lines": True,
        "terms_proposal_signatures": False,
        "terms_proposal_events": True,
    }
    report = backup(store, tmp_path / "backup", kpis)
    assert report.tables["thread_comments"] == 3 and report.tables["terms_scenarios"] == 1
    assert report.files == ["definitions/kpis.yaml", "definitions/kpis.history.jsonl"]

    # disaster: the store is rebuilt from the ERP files and the definitions are edited
    hand_fixture.build(store.path)
    kpis.write_text(kpis_bytes.decode() + "\n# edited after the backup\n", encoding="utf-8")
    (kpis.parent / "kpis.history.jsonl").unlink()
    assert thread(store, "kpi:days_to_pay") == []

    restored = restore(store, tmp_path / "backup", kpis)
    assert restored.tables == report.tables
    assert records(store) == before
    assert kpis.read_bytes() == kpis_bytes
    assert (kpis.parent / "kpis.history.jsonl").read_text() == '{"line": 1}\n'
    (question, answer) = thread(store, "kpi:days_to_pay")
    assert question.text == "<b>Why</b> =1+1? @Jonas" and question.mentions == (JONAS.email,)
    assert answer.parent_id == question.comment_id and thread_resolved(store, "kpi:days_to_pay")
    con = duckdb.connect(str(store.path), read_only=True)
    try:  # money stays exact through the backup's files
        ((net,),) = con.execute("SELECT net_benefit FROM terms_scenarios").fetchall()
    finally:
        con.close()
    assert isinstance(net, Decimal)


def test_every_store_has_every_record_table_so_a_restore_needs_no_set_up(entered, tmp_path):
    """One registry (schema.COMPANY_RECORDS) names each record table with its DDL; a store's
    set-up runs it on every write, so a store made before a table existed (here: without the
    saved scenarios and the terms proposals) gains it on the restore's own write."""
    store, kpis = entered
    before = records(store)
    backup(store, tmp_path / "backup", kpis)
    newer = ("terms_scenarios", *(t for t in COMPANY_RECORDS if t.startswith("terms_proposal")))
    con = duckdb.connect(str(store.path))
    try:  # an older store: the tables added since are not there
        for table in newer:
            con.execute(f"DROP TABLE {table}")  # noqa: S608
    finally:
        con.close()
    assert set(records(store)) == set(COMPANY_RECORDS) - set(newer)

    restore(store, tmp_path / "backup", kpis)
    assert records(store) == before
    assert len(before["terms_proposal_versions"]) == 1 and len(before["terms_scenarios"]) == 1

    fresh = Store(tmp_path / "fresh.duckdb")
    with fresh.write(fresh=True):
        pass
    assert set(records(fresh)) == set(COMPANY_RECORDS)


def test_a_damaged_backup_changes_nothing(entered, tmp_path):
    store, kpis = entered
    backup(store, tmp_path / "backup", kpis)
    post_comment(store, SAM, "kpi:days_to_pay", "After the backup", people=PEOPLE)
    now = records(store)
    damaged = tmp_path / "backup" / "records" / "thread_comments.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(BackupError, match="thread_comments.parquet differs from the backup's"):
        restore(store, tmp_path / "backup", kpis)
    damaged.unlink()
    with pytest.raises(BackupError, match="lacks records/thread_comments.parquet"):
        restore(store, tmp_path / "backup", kpis)
    assert records(store) == now
    with pytest.raises(BackupError, match="holds no manifest.json"):
        restore(store, tmp_path, kpis)


def test_a_backup_never_overwrites_another(entered, tmp_path):
    store, kpis = entered
    backup(store, tmp_path / "backup", kpis)
    with pytest.raises(BackupError, match="not an empty folder: name a new folder"):
        backup(store, tmp_path / "backup", kpis)


def test_the_command_line_pair(entered, tmp_path, capsys):
    store, kpis = entered
    out = tmp_path / "nightly"
    common = ["--db", str(store.path), "--kpis", str(kpis)]
    assert main(["backup", "--out", str(out), *common]) == 0
    said = capsys.readouterr().out
    assert f"Backed up into {out}:" in said
    assert "thread_comments                3 rows" in said
    assert "outlook_changes                0 rows" in said
    post_comment(store, SAM, "stock_item:I1", "Lost after restore", people=PEOPLE)
    assert main(["restore", str(out), *common]) == 0
    assert f"Restored from {out}:" in capsys.readouterr().out
    assert [c.text for c in thread(store, "stock_item:I1")] == ["Safety stock, keep it."]
    assert main(["restore", str(tmp_path / "nowhere"), *common]) == 1
    assert "holds no manifest.json" in capsys.readouterr().err
