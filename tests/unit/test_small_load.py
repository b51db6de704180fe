"""A small `kpi load` pays only for what it uses: no curated views to ask whether the file
was loaded before, no rollups module when the rollups are off, no child for a small CSV;
and with the rollups on, the write still refreshes them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from kpi import cli
from kpi.ingest import loading
from kpi.store import database, views
from kpi.store.database import Store, StoreError, StoreMissing
from kpi.store.schema import TABLES

ROOT = Path(__file__).resolve().parents[2]

# A command-line load in a fresh interpreter: which modules it imported, and its exit code.
LOAD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {root!r})
    from kpi import cli
    code = cli.main(["load", "fx_rates", {csv!r}, "--db", {db!r}])
    wanted = ("kpi.semantic.rollups", "kpi.store.views")
    print(json.dumps({{"code": code, "imported": [m for m in wanted if m in sys.modules]}}))
    """
)


def _load(store: Store, csv: Path, rollups: str) -> tuple[dict, str]:
    env = {"KPI_ROLLUPS": rollups, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD.format(root=str(ROOT), csv=str(csv), db=str(store.path))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_a_load_with_the_rollups_off_imports_neither_them_nor_the_views(store, tmp_path):
    csv = tmp_path / "rates.csv"
    csv.write_text("date,currency,rate\n2026-05-01,USD,0.85\n")
    result, _said = _load(store, csv, "off")
    assert result == {"code": 0, "imported": []}  # neither module imported
    assert not store.rollups_stamp_path.exists()
    with store.read_tables() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 2


def test_a_load_with_the_rollups_on_refreshes_them_once(store, tmp_path):
    csv = tmp_path / "rates.csv"
    csv.write_text("date,currency,rate\n2026-05-01,USD,0.85\n")
    result, said = _load(store, csv, "on")
    assert result["code"] == 0 and "kpi.semantic.rollups" in result["imported"]
    assert said.count("Refreshing the KPI rollups") == 1
    stamp = json.loads(store.rollups_stamp_path.read_text())
    assert str(store.version()[0]) in json.dumps(stamp) or stamp  # a stamp for the new store


def test_a_refused_load_exits_only_once_the_rollups_import_is_done(store, tmp_path):
    """The rollups' modules are imported on a thread beside the load; a load refused at once
    still waits for that thread (an interpreter leaving mid-import may hang), in a fresh
    interpreter where the import is slow."""
    bad = tmp_path / "rates.csv"
    bad.write_text("day,money\n2026-05-01,USD\n")  # no column a rate is read from
    script = textwrap.dedent(
        f"""
        import json, sys, threading
        sys.path.insert(0, {str(ROOT)!r})
        from kpi import cli
        code = cli.main(["load", "fx_rates", {str(bad)!r}, "--db", {str(store.path)!r}])
        alive = [t.name for t in threading.enumerate() if t.name == "rollups-import"]
        print(json.dumps({{"code": code, "alive": alive,
                          "imported": "kpi.semantic.rollups" in sys.modules}}))
        """
    )
    env = {"KPI_ROLLUPS": "on", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "code": 1,
        "alive": [],
        "imported": True,
    }, done.stderr
    assert "Refused, nothing was loaded" in done.stderr


@pytest.mark.parametrize("value", ["off", "OFF", " 0 ", "false", "no", "on", "1", "yes", ""])
def test_the_command_lines_switch_reads_the_rollups_variable_as_they_do(monkeypatch, value):
    from kpi.semantic import rollups

    monkeypatch.setenv("KPI_ROLLUPS", value)
    assert cli.rollups_on() == rollups.enabled()
    monkeypatch.delenv("KPI_ROLLUPS")
    assert cli.rollups_on() == rollups.enabled()


def test_read_tables_reads_the_tables_without_the_views(store, tmp_path, monkeypatch):
    def no_views(*_args, **_kwargs):
        raise AssertionError("the curated views were built")

    monkeypatch.setattr(views.CuratedConnection, "__init__", no_views)
    with store.read_tables() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 1
        for query in (
            f"SELECT * FROM read_csv('{tmp_path / 'x.csv'}')",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS o",
            "SET enable_external_access = true",
            "DELETE FROM fx_rates",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(query)
    with pytest.raises(StoreMissing), Store(tmp_path / "none.duckdb").read_tables():
        pass
    assert loading.loaded_hashes(store, TABLES["fx_rates"], []) == {}


def _old_copies(store: Store) -> list[Path]:
    return list(store.path.parent.glob(f"{store.path.name}.old-*"))


def test_the_replaced_store_is_freed_after_the_swap(store):
    """The swap frees nothing itself (freeing 574 MB took 0.2 s): a detached `rm` removes
    the replaced file; one that never finished is removed by the next writer."""
    with store.read() as reader:  # a reader of the store about to be replaced
        with store.write() as con:
            con.execute(
                "INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)"
            )
        assert reader.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 1  # its own
    for _ in range(100):
        if not _old_copies(store):
            break
        time.sleep(0.05)
    assert _old_copies(store) == []
    stale = store.path.with_name(store.path.name + ".old-1")
    stale.write_bytes(b"left by a removal cut short")
    # and a name a background refresh kept (Store.keep_replaced) in a process that died
    kept = store.path.with_name(store.path.name + ".kept-1-1")
    kept.write_bytes(b"left by a refresh cut short")
    with store.write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-03-01', 'USD', 1)")
    assert not stale.exists() and not kept.exists()
    with store.read_tables() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 3


def test_a_swap_that_fails_keeps_the_store_and_leaves_no_second_name(store, monkeypatch):
    before = store.path.read_bytes()

    def refuse(*_args):
        raise PermissionError(13, "Permission denied", str(store.path))

    monkeypatch.setattr(database.os, "replace", refuse)
    with pytest.raises(StoreError), store.write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)")
    assert store.path.read_bytes() == before
    assert _old_copies(store) == []


def test_a_write_takes_the_copy_begun_ahead(store):
    with store.copy_ahead() as ahead, store.write(ahead=ahead) as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)")
    with store.read_tables() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 2
    assert not list(store.path.parent.glob(f"{store.path.name}.tmp-*"))


def test_a_copy_ahead_without_a_write_leaves_nothing(store, tmp_path):
    before = store.path.read_bytes()
    with store.copy_ahead():
        pass
    with (  # a write that fails
        pytest.raises(RuntimeError),
        store.copy_ahead() as ahead,
        store.write(ahead=ahead) as con,
    ):
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)")
        raise RuntimeError("boom")
    assert store.path.read_bytes() == before
    assert not list(store.path.parent.glob(f"{store.path.name}.tmp-*"))
    fresh = Store(tmp_path / "new" / "kpi.duckdb")  # no store yet: nothing to copy
    with fresh.copy_ahead() as ahead, fresh.write(ahead=ahead) as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)")
    with fresh.read_tables() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 1


def test_the_copy_ahead_stops_early_and_copies_whole(tmp_path, monkeypatch):
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 40_000)  # 10 MB, in chunks of 1 MB below
    monkeypatch.setattr(database.CopyAhead, "CHUNK", 1 << 20)
    stop = database.threading.Event()
    whole = tmp_path / "whole.bin"
    database._private_copy(source, whole, stop)
    assert whole.read_bytes() == source.read_bytes()
    assert whole.stat().st_mode & 0o777 == 0o600
    stop.set()
    cut = tmp_path / "cut.bin"
    database._private_copy(source, cut, stop)
    assert cut.stat().st_size == 0


def test_the_copy_ahead_is_synced_to_disk_without_holding_up_the_write(store, monkeypatch):
    """The copy goes to disk on the copy's thread as soon as it is made, so that the write's
    checkpoint does not wait for all of it; the write does not wait for that sync."""
    synced: list[Path] = []
    release = database.threading.Event()

    def slow_sync(path: Path) -> None:
        synced.append(path)
        assert release.wait(10)

    monkeypatch.setattr(database, "_fsync", slow_sync)
    try:
        with store.copy_ahead() as ahead:
            ahead.finish()  # the copy is made: this returns while its sync still runs
            deadline = time.monotonic() + 10
            while not synced and time.monotonic() < deadline:
                time.sleep(0.01)
            assert synced == [ahead.work]
            assert ahead.work.read_bytes() == store.path.read_bytes()
            release.set()
            with store.write(ahead=ahead) as con:
                con.execute(
                    "INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)"
                )
    finally:
        release.set()
    assert synced[-1] == ahead.work  # the write's own sync, before the swap, still runs
    with store.read_tables() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 2


def test_a_stopped_copy_is_not_synced(store, monkeypatch):
    synced: list[Path] = []
    monkeypatch.setattr(database, "_fsync", synced.append)
    monkeypatch.setattr(database, "_private_copy", lambda source, target, stop: stop.wait(10))
    with store.copy_ahead():
        pass  # no write: the copy is stopped (here, before it began) and removed
    assert synced == []


def test_an_unchanged_file_removes_the_copy_begun_ahead(store, tmp_path, capsys):
    csv = tmp_path / "rates.csv"
    csv.write_text("date,currency,rate\n2026-05-01,USD,0.85\n")
    db = ["--db", str(store.path)]
    assert cli.main(["load", "fx_rates", str(csv), *db]) == 0
    version = store.version()
    assert cli.main(["load", "fx_rates", str(csv), *db]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert store.version() == version
    assert not list(store.path.parent.glob(f"{store.path.name}.tmp-*"))


def test_the_after_write_hooks_see_the_replaced_store_and_what_was_declared(store, monkeypatch):
    """A hook (the rollups' refresh) may read the store as it was before the write and what
    the writer declared it changed; both are gone once the hooks ran, the old file too."""
    seen: list[tuple[Path | None, bool, dict]] = []

    def hook(s: Store) -> None:
        seen.append((s.replaced, s.replaced is not None and s.replaced.is_file(), dict(s.declared)))
        with duckdb.connect(str(s.replaced), read_only=True) as old:
            assert old.execute("SELECT count(*) FROM fx_rates").fetchall() == [(1,)]

    monkeypatch.setattr(database, "AFTER_WRITE", [hook])
    with store.write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 1)")
        store.declare("fx_rates", (7,))
        store.declare("fx_rates", (3, 7))
    ((replaced, existed, declared),) = seen
    assert existed and declared == {"fx_rates": (3, 7)}
    assert store.replaced is None and store.declared == {}
    for _ in range(100):
        if not replaced.exists():
            break
        time.sleep(0.05)
    assert not replaced.exists()
    with store.write() as con:  # a write that declares nothing
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-03-01', 'USD', 1)")
    assert seen[-1][2] == {}
