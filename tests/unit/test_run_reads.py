"""One read connection per script run (ui.cache.RunStore): a run's reads take turns on one
attached connection; a read inside a read, a new store version or a read outside a run gets
its own; a result left half read never reaches the next read; the run's end closes it."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from kpi.core.settings import Settings
from kpi.store.schema import all_ddl
from ui import cache
from ui.cache import RunStore


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    path = tmp_path / "kpi.duckdb"
    con = duckdb.connect(str(path))
    con.execute(all_ddl())
    con.close()
    shop = RunStore(path, Settings())
    shop.attaches = 0  # type: ignore[attr-defined]
    attach = RunStore._connect_read_only

    def counted(self: RunStore) -> duckdb.DuckDBPyConnection:
        self.attaches += 1  # type: ignore[attr-defined]
        return attach(self)

    monkeypatch.setattr(RunStore, "_connect_read_only", counted)
    yield shop
    cache.end_run_reads()


def _one(store: RunStore, sql: str = "SELECT 1", currency: str | None = None) -> object:
    with store.read(currency) as con:
        return con.execute(sql).fetchall()[0][0]


def test_outside_a_run_each_read_attaches(store: RunStore) -> None:
    assert _one(store) == _one(store) == 1
    assert store.attaches == 2


def test_a_run_shares_one_connection(store: RunStore) -> None:
    with cache.run_reads():
        for _ in range(5):
            assert _one(store, "SELECT count(*) FROM spend") == 0  # the curated views too
        assert _one(store, currency="EUR") == 1  # the reporting currency by name: the same
    assert store.attaches == 1
    assert _one(store) == 1  # after the run: a read of its own again
    assert store.attaches == 2


def test_a_half_read_result_does_not_reach_the_next_read(store: RunStore) -> None:
    cache.begin_run_reads()
    with store.read() as con:
        con.execute("SELECT * FROM range(100000)").fetchone()
    assert _one(store, "SELECT 7") == 7
    assert store.attaches == 1


def test_a_read_inside_a_read_gets_its_own(store: RunStore) -> None:
    cache.begin_run_reads()
    with store.read() as outer:
        pending = outer.execute("SELECT * FROM range(3)")
        assert _one(store, "SELECT 9") == 9
        assert [r[0] for r in pending.fetchall()] == [0, 1, 2]
    assert store.attaches == 2
    assert _one(store) == 1
    assert store.attaches == 2  # the nested one was closed; the shared one serves again


def test_another_currency_or_a_new_version_attaches_anew(store: RunStore) -> None:
    cache.begin_run_reads()
    _one(store)
    _one(store, currency="USD")
    assert store.attaches == 2
    stat = store.path.stat()
    os.utime(store.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a write
    _one(store)
    assert store.attaches == 3


def test_a_new_run_and_the_end_close_the_connections(store: RunStore) -> None:
    cache.begin_run_reads()
    with store.read() as con:
        first = con
    cache.begin_run_reads()  # the next run: the last run's connection is closed
    with pytest.raises(duckdb.Error):
        first.execute("SELECT 1")
    _one(store)
    cache.end_run_reads()
    assert store.attaches == 2
