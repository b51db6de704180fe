"""The lake (kpi.store.lake): a store file moved into Delta tables keeps every row and cent;
the engine, loads and workflows give the same answers on it as on the file store; a write
lands whole or not at all, and a reader only reads the lake's files.

Expected figures come from an independent path: the store file read by DuckDB directly and
the lake's Delta tables read by `deltalake` (never through LakeStore's reader), or the same
operation run on the file store.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable
from sqlglot import exp

from kpi.cli import main
from kpi.core import lease
from kpi.core.people import Person
from kpi.core.settings import Settings
from kpi.ingest.pipelines import load_files
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import compute
from kpi.store.database import Store, StoreError
from kpi.store.lake import LakeStore, lake_tables, read_manifest, written_tables
from kpi.store.lake_migrate import MigrateError, migrate_to_lake
from kpi.store.stores import open_store
from kpi.workflows.threads import post_comment, thread

SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
LAKE = Settings(store="lake")


@pytest.fixture(autouse=True)
def _no_rollups(monkeypatch):
    """Writes here do not rebuild the rollups (each test says what it compares)."""
    monkeypatch.setenv("KPI_ROLLUPS", "off")


@pytest.fixture()
def stores(demo_copy, tmp_path) -> tuple[Store, LakeStore]:
    """A demo store file (scale 0.05) and the same data moved into a lake."""
    db = demo_copy(0.05, tmp_path / "kpi.duckdb")
    lake = LakeStore(tmp_path / "lake", LAKE)
    report = migrate_to_lake(db, lake)
    assert report.ok, report.as_table()
    return Store(db, Settings()), lake


def _delta_rows(lake: Path, table: str) -> list[dict]:
    """A lake table's rows as deltalake itself reads them at the manifest's version."""
    version = read_manifest(lake / "_kpi" / "manifest.json").tables[table]
    if version is None:
        return []
    return DeltaTable(str(lake / table), version=version).to_pyarrow_table().to_pylist()


# ---- migrate ------------------------------------------------------------------------------
def test_migrate_keeps_every_row_and_every_cent(stores):
    store, lake = stores
    raw = duckdb.connect(str(store.path), read_only=True)
    try:
        for name in ("invoices", "payments", "purchase_orders", "budgets", "loads", "suppliers"):
            if name not in lake_tables():
                continue
            rows = _delta_rows(lake.path, name)
            assert len(rows) == raw.execute(f"SELECT count(*) FROM {name}").fetchone()[0], name
        money = raw.execute("SELECT sum(amount), count(*) FROM invoices").fetchone()
        lines = _delta_rows(lake.path, "invoices")
        assert sum((r["amount"] for r in lines), Decimal(0)) == money[0]
        assert all(isinstance(r["amount"], Decimal) for r in lines[:10])  # exact, not float
        assert len(lines) == money[1] > 1000
    finally:
        raw.close()


def test_a_lakes_size_is_its_current_files(stores, tmp_path):
    """What `kpi rollups` sets the rollups beside: the Parquet files the manifest's
    versions read (every one on disk after a migration), not the folder's own entry."""
    _, lake = stores
    on_disk = sum(p.stat().st_size for p in lake.path.rglob("*.parquet"))
    assert lake.disk_bytes() == on_disk > 100_000
    assert LakeStore(tmp_path / "none", LAKE).disk_bytes() == 0


def test_migrate_refuses_a_missing_store_and_a_lake_already_there(stores, tmp_path, capsys):
    store, lake = stores
    with pytest.raises(MigrateError, match="no store"):
        migrate_to_lake(tmp_path / "absent.duckdb", LakeStore(tmp_path / "other", LAKE))
    before = lake.manifest_path.read_bytes()
    with pytest.raises(MigrateError, match="not empty"):
        migrate_to_lake(store.path, lake)
    assert lake.manifest_path.read_bytes() == before
    code = main(["migrate", "--to", "lake", "--db", str(store.path), "--lake", str(lake.path)])
    assert code == 1
    assert "--replace" in capsys.readouterr().err
    code = main(
        ["migrate", "--to", "lake", "--db", str(store.path), "--lake", str(lake.path), "--replace"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "sum(amount)" in out and "DIFFERENT" not in out
    assert read_manifest(lake.manifest_path).serial == 2


# ---- reads --------------------------------------------------------------------------------
def _close(a: float | None, b: float | None, unit: str) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return a is b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))
    if unit == "currency":
        return abs(a - b) <= 0.005  # to the cent
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def test_every_kpi_by_quarter_is_the_same_on_the_lake(stores):
    store, lake = stores
    definitions = load_definitions(None, store.settings)
    on_file = compute(store, definitions, "quarter", live=True)
    on_lake = compute(lake, definitions, "quarter", live=True)
    assert on_lake.skipped == on_file.skipped
    units = {k.id: k.unit for k in definitions}
    key = ["kpi", "period"]
    file_rows = {tuple(r[k] for k in key): r["value"] for r in on_file.frame.iter_rows(named=True)}
    lake_rows = {tuple(r[k] for k in key): r["value"] for r in on_lake.frame.iter_rows(named=True)}
    assert set(lake_rows) == set(file_rows) and len(file_rows) > 100
    different = [k for k, v in file_rows.items() if not _close(lake_rows[k], v, units[k[0]])]
    assert different == []


def test_a_reader_reads_the_lakes_files_only(stores, tmp_path):
    _, lake = stores
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    with lake.read() as con:
        assert con.execute("SELECT count(*) FROM invoices").fetchone()[0] > 1000
        for statement in (
            f"SELECT * FROM read_csv('{outside}')",
            "SELECT * FROM read_text('/etc/passwd')",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(statement)


def test_the_lakes_tables_have_the_stores_types(stores):
    store, lake = stores
    with store.read_tables() as a, lake.read_tables() as b:
        for name in ("invoices", "loads", "thread_comments", "savings_initiatives"):
            sql = f"DESCRIBE {name}"
            assert [r[:2] for r in b.execute(sql).fetchall()] == [
                r[:2] for r in a.execute(sql).fetchall()
            ], name


# ---- writes -------------------------------------------------------------------------------
BAD_AND_GOOD = (
    "invoice_id,invoice_line,supplier_id,invoice_date,item_id,quantity,unit_price,amount,currency\n"
    "L-1,1,{s},2026-05-02,{i},10,10.00,100.00,EUR\n"
    "L-2,1,{s},2026-02-30,{i},1,10.00,10.00,EUR\n"  # no 30 February: rejected
    "L-3,1,{s},2026-05-03,{i},2,20.00,40.00,EUR\n"
    "L-4,1,{s},2026-05-03,{i},2,20.00,40.001,EUR\n"  # a tenth of a cent: rejected
)


def test_a_load_on_the_lake_equals_the_same_load_on_the_file_store(stores, tmp_path):
    store, lake = stores
    with store.read_tables() as con:
        supplier, item = con.execute(
            "SELECT supplier_id, item_id FROM invoices ORDER BY invoice_id LIMIT 1"
        ).fetchone()
    path = tmp_path / "invoices_may.csv"
    path.write_text(BAD_AND_GOOD.format(s=supplier, i=item))
    got = [load_files(s, "invoices", [path]) for s in (store, lake)]
    assert [(f.rows_loaded, f.rows_rejected) for r in got for f in r.files] == [(2, 2), (2, 2)]
    queries = (
        "SELECT invoice_id, amount, load_id, source_file, source_row FROM invoices "
        "WHERE invoice_id LIKE 'L-%' ORDER BY 1",
        "SELECT r.row_number, r.reason FROM rejects r JOIN loads l USING (load_id) "
        "WHERE l.file_name = 'invoices_may.csv' ORDER BY 1",
        "SELECT table_name, rows_in, rows_loaded, rows_rejected, amount_loaded FROM loads "
        "ORDER BY load_id DESC LIMIT 1",
        "SELECT count(*), sum(amount) FROM invoices",
    )
    for sql in queries:
        with store.read() as a, lake.read() as b:
            assert b.execute(sql).fetchall() == a.execute(sql).fetchall(), sql
    # by hand: lines 2 and 4 of the file loaded, 140.00 in all; 3 and 5 rejected
    lines = [r for r in _delta_rows(lake.path, "invoices") if r["invoice_id"].startswith("L-")]
    assert sorted((r["invoice_id"], r["amount"], r["source_row"]) for r in lines) == [
        ("L-1", Decimal("100.00"), 2),
        ("L-3", Decimal("40.00"), 4),
    ]
    rejects = _delta_rows(lake.path, "rejects")
    assert len([r for r in rejects if r["load_id"] == lines[0]["load_id"]]) == 2


def test_a_reload_replacing_lines_appends_and_deletes_keys_like_the_file_store(stores, tmp_path):
    store, lake = stores
    with store.read_tables() as con:
        old = con.execute(
            "SELECT invoice_id, invoice_line, supplier_id, invoice_date, item_id, quantity, "
            "unit_price, amount, currency FROM invoices ORDER BY invoice_id, invoice_line LIMIT 2"
        ).fetchall()
        total, count = con.execute("SELECT sum(amount), count(*) FROM invoices").fetchone()
    head = BAD_AND_GOOD.splitlines()[0]
    cells = [(*r[:5], "1", "7.00", "7.00", r[8]) for r in old]
    lines = [head] + [",".join("" if v is None else str(v) for v in c) for c in cells]
    lines.append(f"R-1,1,{old[0][2]},2026-05-02,{old[0][4]},1,3.00,3.00,EUR")
    path = tmp_path / "corrections.csv"
    path.write_text("\n".join(lines) + "\n")
    got = [load_files(s, "invoices", [path]) for s in (store, lake)]
    assert [(f.rows_loaded, f.replaced) for r in got for f in r.files] == [(3, 2), (3, 2)]
    # by hand: two lines now 7.00 each instead of their old amounts, one new line of 3.00
    expected = total - old[0][7] - old[1][7] + Decimal("17.00")
    sql = "SELECT sum(amount), count(*) FROM invoices"
    with store.read_tables() as a, lake.read_tables() as b:
        assert a.execute(sql).fetchone() == b.execute(sql).fetchone() == (expected, count + 1)
        sql = (
            "SELECT invoice_id, invoice_line, amount, load_id, source_row FROM invoices "
            "WHERE invoice_id IN (?, ?, 'R-1') ORDER BY ALL"
        )
        keys = [old[0][0], old[1][0]]
        assert b.execute(sql, keys).fetchall() == a.execute(sql, keys).fetchall()
    history = DeltaTable(str(lake.path / "invoices")).history(2)  # newest first
    assert [h["operation"] for h in history] == ["WRITE", "MERGE"]
    assert history[0]["operationParameters"]["mode"] == "Append"  # not the table rewritten
    assert len(_delta_rows(lake.path, "invoices")) == count + 1


def test_a_comment_lands_on_the_lake_and_only_its_table_is_written(stores):
    _, lake = stores
    before = read_manifest(lake.manifest_path)
    version = lake.version()
    comment = post_comment(lake, SAM, "kpi:days_to_pay", "Why did this jump?", people=[SAM])
    assert [c.text for c in thread(lake, "kpi:days_to_pay")] == ["Why did this jump?"]
    after = read_manifest(lake.manifest_path)
    assert after.serial == before.serial + 1 and lake.version() != version
    changed = {t for t in after.tables if after.tables[t] != before.tables.get(t)}
    assert changed == {"thread_comments"}
    rows = _delta_rows(lake.path, "thread_comments")
    assert [(r["comment_id"], r["text"]) for r in rows] == [(comment.comment_id, comment.text)]


def test_a_failed_write_leaves_the_lake_as_it_was(stores):
    _, lake = stores
    before = lake.manifest_path.read_bytes()
    with lake.read_tables() as con:
        count = con.execute("SELECT count(*), sum(amount) FROM invoices").fetchone()
    with pytest.raises(RuntimeError), lake.write() as con:
        con.execute("DELETE FROM invoices")
        con.execute(
            "INSERT INTO thread_comments VALUES (1, 'kpi:x', NULL, 'a', 'A', 't', now(), [])"
        )
        raise RuntimeError("the load failed half way")
    assert lake.manifest_path.read_bytes() == before
    with lake.read_tables() as con:
        assert con.execute("SELECT count(*), sum(amount) FROM invoices").fetchone() == count
        assert con.execute("SELECT count(*) FROM thread_comments").fetchone() == (0,)


def test_a_writer_whose_lease_was_taken_over_publishes_nothing(stores, monkeypatch):
    """A writer that stalled past the stale bound (another machine broke its lease and took
    the lake) must not publish its manifest over the other writer's."""
    _, lake = stores
    before = lake.manifest_path.read_bytes()

    def lost(self) -> None:
        raise lease.LeaseLost("the lock on writer was taken over by another writer")

    monkeypatch.setattr(lease.Lease, "check", lost)
    with pytest.raises(StoreError, match="Nothing was written"), lake.write() as con:
        con.execute(
            "INSERT INTO thread_comments VALUES (1, 'kpi:x', NULL, 'a', 'A', 't', now(), [])"
        )
    assert lake.manifest_path.read_bytes() == before
    with lake.read_tables() as con:
        assert con.execute("SELECT count(*) FROM thread_comments").fetchone() == (0,)


def test_readers_see_a_write_whole_or_not_at_all(stores):
    _, lake = stores
    with lake.read_tables() as old:
        with lake.write() as con:
            con.execute("UPDATE suppliers SET supplier_name = 'renamed'")
            con.execute("DELETE FROM items")
        # a reader opened before the write still reads the manifest it opened
        assert old.execute("SELECT count(*) FROM items").fetchone()[0] > 0
        assert old.execute(
            "SELECT count(*) FROM suppliers WHERE supplier_name = 'renamed'"
        ).fetchone() == (0,)
    with lake.read_tables() as new:
        assert new.execute("SELECT count(*) FROM items").fetchone() == (0,)
        assert new.execute(
            "SELECT count(*) = count(*) FILTER (supplier_name = 'renamed') FROM suppliers"
        ).fetchone() == (True,)
    manifest = json.loads(lake.manifest_path.read_text())
    for name in ("items", "suppliers"):  # each names the Delta table's latest version
        assert manifest["tables"][name] == DeltaTable(str(lake.path / name)).version()


def test_which_tables_a_statement_writes():
    assert written_tables("SELECT * FROM invoices") == frozenset()
    assert written_tables("INSERT INTO loads (load_id) VALUES (1)") == {"loads"}
    assert written_tables("DELETE FROM invoices WHERE invoice_id IN (SELECT 1)") == {"invoices"}
    assert written_tables("UPDATE a SET x = b.x FROM b WHERE a.k = b.k") == {"a"}
    assert written_tables("SET preserve_insertion_order = false") == frozenset()
    assert written_tables("CHECKPOINT") is None  # unknown: every table is taken as written


def test_open_store_follows_the_settings(tmp_path):
    assert type(open_store(tmp_path / "kpi.duckdb", Settings())) is Store
    lake = open_store(tmp_path / "lake", LAKE)
    assert isinstance(lake, LakeStore) and not lake.exists()
    with pytest.raises(StoreError, match="no lake"), lake.read():
        pass


# ---- rollups ------------------------------------------------------------------------------
def _rollups_equal_live(lake: LakeStore, definitions) -> None:
    """Every KPI by quarter answered from the rollups, and equal to the live engine's."""
    fast = compute(lake, definitions, "quarter")
    live = compute(lake, definitions, "quarter", live=True)
    assert fast.from_rollups  # answered from the rollups
    units = {k.id: k.unit for k in definitions}
    pairs = zip(
        fast.frame.sort(["kpi", "period"]).iter_rows(),
        live.frame.sort(["kpi", "period"]).iter_rows(),
        strict=True,
    )
    assert all(a[:2] == b[:2] and _close(a[-1], b[-1], units[a[0]]) for a, b in pairs)


def test_rollups_live_in_the_lake_and_stale_ones_are_never_read(stores, monkeypatch):
    from kpi.semantic import rollups

    store, lake = stores
    monkeypatch.setenv("KPI_ROLLUPS", "on")
    definitions = load_definitions(None, store.settings)
    assert rollups.refresh(lake) is not None
    assert lake.rollups_path.parent == lake.path / "_kpi" and lake.rollups_path.is_file()
    _rollups_equal_live(lake, definitions)
    # a write while the rollups are off: they no longer match the lake and are not read
    monkeypatch.setenv("KPI_ROLLUPS", "off")
    with lake.write() as con:
        con.execute("DELETE FROM invoices WHERE invoice_date < DATE '2025-01-01'")
    monkeypatch.setenv("KPI_ROLLUPS", "on")
    stale = compute(lake, definitions, "quarter")
    assert not stale.from_rollups
    # the next write (rollups on) refreshes them after it lands: read again, and right
    with lake.write() as con:
        con.execute("DELETE FROM invoices WHERE invoice_date < DATE '2025-02-01'")
    _rollups_equal_live(lake, definitions)


def test_a_load_on_the_lake_gives_the_rollups_its_difference(stores, monkeypatch, tmp_path):
    """The refresh after a load reads the lake as it was from the replaced manifest and
    adds the loaded lines' difference; the figures then equal the live ones."""
    from kpi.semantic import rollups

    store, lake = stores
    monkeypatch.setenv("KPI_ROLLUPS", "on")
    definitions = load_definitions(None, store.settings)
    rollups.refresh(lake)
    said: list[str] = []
    monkeypatch.setattr(rollups.AFTER_WRITE, "say", said.append)
    with lake.read_tables() as con:
        supplier, item = con.execute("SELECT supplier_id, item_id FROM invoices LIMIT 1").fetchone()
    path = tmp_path / "invoices_may.csv"
    path.write_text(BAD_AND_GOOD.format(s=supplier, i=item))
    load_files(lake, "invoices", [path])
    report = next(m for m in said if m.startswith("Rollups:"))
    assert " 0 given the lines loaded" not in report, report
    assert not list(lake.side.glob("manifest.json.*"))  # the replaced manifest's name is gone
    _rollups_equal_live(lake, definitions)


def test_versions_a_killed_write_left_are_never_read_nor_built_on(stores):
    """A write killed after writing a Delta version but before the manifest: the version is
    never read, and the next write to that table writes over it, not on top of it."""
    from deltalake import write_deltalake

    _, lake = stores
    folder = str(lake.path / "thread_comments")
    with lake.write() as con:
        con.execute(
            "INSERT INTO thread_comments VALUES (1, 'kpi:x', NULL, 'a', 'A', 'kept', now(), [])"
        )
    with lake.read_tables() as con:
        orphan = con.sql("SELECT * REPLACE ('orphan' AS text) FROM thread_comments")
        write_deltalake(folder, orphan, mode="append")  # as a killed writer would leave it
    with lake.read_tables() as con:
        assert con.execute("SELECT text FROM thread_comments").fetchall() == [("kept",)]
    with lake.write() as con:
        con.execute(
            "INSERT INTO thread_comments VALUES (2, 'kpi:x', NULL, 'a', 'A', 'new', now(), [])"
        )
    with lake.read_tables() as con:
        texts = con.execute("SELECT text FROM thread_comments ORDER BY comment_id").fetchall()
    assert texts == [("kept",), ("new",)]
    assert sorted(r["text"] for r in _delta_rows(lake.path, "thread_comments")) == ["kept", "new"]


def test_readers_never_see_half_a_write_while_writes_land(stores):
    """A writer adds a comment and its resolution in each write (two tables); readers
    opened meanwhile always find as many resolutions as comments."""
    import threading

    _, lake = stores
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(1, 9):
                with lake.write() as con:
                    con.execute(
                        "INSERT INTO thread_comments VALUES (?, 'kpi:x', NULL, 'a', 'A', 't', "
                        "now(), [])",
                        [n],
                    )
                    con.execute(
                        "INSERT INTO thread_resolutions VALUES (?, 'kpi:x', ?, 'a', 'A', now(), "
                        "NULL)",
                        [n, n],
                    )
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failures.append(exc)
        finally:
            stop.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = set()
    while not stop.is_set():
        with lake.read_tables() as con:
            comments = con.execute("SELECT count(*) FROM thread_comments").fetchone()[0]
            resolutions = con.execute("SELECT count(*) FROM thread_resolutions").fetchone()[0]
        assert comments == resolutions
        seen.add(comments)
    writer.join()
    assert failures == []
    with lake.read_tables() as con:
        assert con.execute("SELECT count(*) FROM thread_resolutions").fetchone() == (8,)
    assert len(seen) > 1  # the readers did read while writes landed


def test_a_load_killed_before_the_manifest_leaves_the_lake_and_the_next_load_works(
    stores, tmp_path
):
    import os
    import subprocess
    import sys

    _, lake = stores
    path = tmp_path / "invoices_may.csv"
    with lake.read_tables() as con:
        supplier, item = con.execute("SELECT supplier_id, item_id FROM invoices LIMIT 1").fetchone()
    path.write_text(BAD_AND_GOOD.format(s=supplier, i=item))
    sql = "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM loads)"
    with lake.read_tables() as con:
        before = con.execute(sql).fetchone()
    manifest = lake.manifest_path.read_bytes()
    env = {**os.environ, "KPI_STORE": "lake", "KPI_ROLLUPS": "off", "PYTHONPATH": "."}
    command = [sys.executable, "-m", "kpi", "load", "invoices", str(path), "--db", str(lake.path)]
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        command, env={**env, "KPI_FAULT_POINT": "before_swap"}, cwd=root, stderr=subprocess.PIPE
    ) as killed:
        for line in killed.stderr:  # the Delta versions are written: stop it there
            if b"fault point before_swap" in line:
                break
        killed.kill()
    assert lake.manifest_path.read_bytes() == manifest
    with lake.read_tables() as con:
        assert con.execute(sql).fetchone() == before
    subprocess.run(command, env=env, cwd=root, check=True, capture_output=True)
    with lake.read_tables() as con:
        assert con.execute(sql).fetchone() == (before[0] + 2, before[1] + 1)


def test_compact_merges_the_small_files_and_keeps_every_row(stores):
    _, lake = stores
    for n in range(1, 4):  # three writes: three small files of thread_comments
        with lake.write() as con:
            con.execute(
                "INSERT INTO thread_comments VALUES (?, 'kpi:x', NULL, 'a', 'A', 't', now(), [])",
                [n],
            )
    sql = "SELECT (SELECT sum(amount) FROM invoices), (SELECT count(*) FROM thread_comments)"
    with lake.read_tables() as con:
        before = con.execute(sql).fetchone()
    assert before[1] == 3
    assert len(DeltaTable(str(lake.path / "thread_comments")).file_uris()) == 3
    assert lake.compact()["thread_comments"] == (3, 1, False)
    with lake.read_tables() as con:
        assert con.execute(sql).fetchone() == before
    assert main(["compact", "--lake", str(lake.path)]) == 0  # nothing left to merge: fine


def test_a_backup_restores_onto_the_lake(stores, tmp_path):
    """Restore empties and refills the company's records (a DELETE of whole tables, keyed
    ones among them, then an INSERT from a registered frame on the same connection)."""
    backup_restores_onto(stores[1], tmp_path)


def backup_restores_onto(lake: LakeStore, tmp_path: Path) -> None:
    """Back the lake's records up, write after it, restore: what was written after the
    backup is gone, the rest is back (also run on a lake in S3, test_lake_s3)."""
    import shutil

    from kpi.workflows.backup import backup, restore

    kpis = tmp_path / "kpis.yaml"
    shutil.copyfile(Path(__file__).resolve().parents[2] / "config" / "kpis.yaml", kpis)
    post_comment(lake, SAM, "kpi:days_to_pay", "Kept in the backup", people=[SAM])
    with lake.read_tables() as con:
        initiatives = con.execute("SELECT count(*) FROM savings_initiatives").fetchone()[0]
    backup(lake, tmp_path / "backup", kpis)
    post_comment(lake, SAM, "kpi:days_to_pay", "Lost by the restore", people=[SAM])
    with lake.write() as con:
        con.execute("DELETE FROM savings_initiatives WHERE stage = 'identified'")
    report = restore(lake, tmp_path / "backup", kpis)
    assert report.tables["savings_initiatives"] == initiatives > 0
    assert [c.text for c in thread(lake, "kpi:days_to_pay")] == ["Kept in the backup"]
    with lake.read_tables() as con:
        assert con.execute("SELECT count(*) FROM savings_initiatives").fetchone() == (initiatives,)
    stamp = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert stamp["store"] == str(lake.location)


def test_a_big_table_is_written_in_key_order_and_a_merge_reads_only_the_files_it_needs(
    tmp_path, monkeypatch
):
    """Whole tables go out in commits of WRITE_CHUNK_ROWS in key order, so files do not
    overlap in key range; the keys a write removes are merged in groups between two files'
    largest keys, each merge's range narrow enough to skip every other file."""
    import pyarrow as pa

    from kpi.store import lake as lake_module

    monkeypatch.setattr(lake_module, "WRITE_CHUNK_ROWS", 1_000)
    con = duckdb.connect()
    rows = con.sql(
        "SELECT printf('%s-%06d', CASE WHEN i % 10 = 0 THEN 'CN' ELSE 'INV' END, i) AS k, "
        "i AS n FROM range(5000) t(i) ORDER BY k"
    )
    folder = tmp_path / "t"
    lake_module.write_whole(folder, rows)
    table = DeltaTable(str(folder))
    actions = pa.table(table.get_add_actions(flatten=True))
    ranges = sorted(zip(actions["min.k"].to_pylist(), actions["max.k"].to_pylist(), strict=True))
    assert len(ranges) >= 5 and sum(actions["num_records"].to_pylist()) == 5000
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False)), ranges
    # a credit note and two invoices far apart: three groups, one per file holding them
    con.execute("CREATE TABLE gone AS SELECT * FROM (VALUES ('CN-000010'), "
                "('INV-002001'), ('INV-004999')) v(k)")  # fmt: skip
    parts = lake_module._gone_by_file(con, folder, exp.to_table("gone"), "k")
    groups = sorted(sorted(r[0] for r in con.sql(p.sql("duckdb")).fetchall()) for p in parts)
    assert groups == [["CN-000010"], ["INV-002001"], ["INV-004999"]]
    # keys that are not text: one merge of them all
    con.execute("CREATE TABLE gone_n AS SELECT 1 AS n")
    assert len(lake_module._gone_by_file(con, folder, exp.to_table("gone_n"), "n")) == 1
