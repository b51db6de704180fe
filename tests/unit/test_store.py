"""The store: readers never blocked by a writer, writes all-or-nothing, clear errors."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from kpi.store.database import Store, StoreError, StoreMissing

ROOT = Path(__file__).resolve().parents[2]

# The writer holds its write open until the test lets it go (a line on its stdin), not for
# a fixed time: on a busy machine the reads below could outlast any fixed hold.
HOLD_WRITE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from kpi.store.database import Store
    with Store({db!r}).write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 0.5)")
        print("writing", flush=True)
        sys.stdin.readline()
    print("done", flush=True)
    """
)


def _count(store: Store) -> int:
    with store.read() as con:
        return con.execute("SELECT count(*) FROM fx_rates").fetchone()[0]


def _writer(store: Store) -> subprocess.Popen:
    """A writer in another process, inside its write until a line arrives on its stdin."""
    code = HOLD_WRITE.format(root=str(ROOT), db=str(store.path))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    return proc


def test_readers_keep_working_while_another_process_writes(store):
    proc = _writer(store)
    for _ in range(5):  # the app's reads during the load: old data, never a lock error
        assert _count(store) == 1
        time.sleep(0.1)
    proc.stdin.write("commit\n")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert _count(store) == 2


def test_a_killed_writer_leaves_the_store_as_it_was(store):
    before = store.path.read_bytes()
    proc = _writer(store)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdin.close()
    assert store.path.read_bytes() == before
    assert _count(store) == 1
    with store.write() as con:  # the next write cleans up and works
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-03-01', 'USD', 0.7)")
    assert _count(store) == 2
    assert not list(store.path.parent.glob("*.tmp-*"))


def test_an_error_inside_a_write_changes_nothing(store):
    version = store.version()
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-02-01', 'USD', 0.5)")
        raise RuntimeError("boom")
    assert store.version() == version and _count(store) == 1


def test_readers_cannot_touch_the_file_system(store, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with store.read() as con:
        for query in (
            f"SELECT * FROM read_csv('{secret}')",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS o",
            f"COPY fx_rates TO '{tmp_path / 'out.csv'}'",
            "SET enable_external_access = true",
            "INSTALL httpfs",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(query)
        with pytest.raises(duckdb.Error):  # read-only: no writes either
            con.execute("DELETE FROM fx_rates")


def test_missing_store_says_what_to_do(tmp_path):
    with (
        pytest.raises(StoreMissing, match="python -m kpi demo"),
        Store(tmp_path / "no.duckdb").read(),
    ):
        pass


@pytest.mark.parametrize(
    "err,message",
    [(errno.ENOSPC, "disk holding .* is full"), (errno.EROFS, "read-only")],
)
def test_full_or_read_only_disk_gives_a_clear_error(store, monkeypatch, err, message):
    def fail(*_a, **_k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr("kpi.store.database.shutil.copyfile", fail)
    with pytest.raises(StoreError, match=message), store.write():
        pass
    assert _count(store) == 1
