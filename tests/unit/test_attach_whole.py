"""A reader attaches one whole store file even when a write lands during the attach.

DuckDB opens the file twice (header, then blocks); a swap between the two once gave a
reader the header of one file and the blocks of another. The reader now pins the file it
opened and attaches again when the path names another file afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from kpi.store import database
from kpi.store.database import Store


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "kpi.duckdb")
    store.initialise()
    with store.write() as con:
        con.execute(
            "INSERT INTO fx_rates (date, currency, rate) VALUES (DATE '2026-01-01', 'SEK', 0.1)"
        )
    return store


def test_a_swap_during_the_attach_makes_the_reader_attach_again(tmp_path, monkeypatch):
    store = _store(tmp_path)
    attaches: list[int] = []
    real = Store._attach_once

    def attach_then_swap(self: Store, *args: bool):
        con = real(self, *args)
        attaches.append(os.stat(self.path).st_ino)
        if len(attaches) == 1:  # a write lands while the first attach runs
            with store.write() as w:
                w.execute(
                    "INSERT INTO fx_rates (date, currency, rate) "
                    "VALUES (DATE '2026-01-02', 'SEK', 0.1)"
                )
        return con

    monkeypatch.setattr(Store, "_attach_once", attach_then_swap)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 2
    assert len(attaches) == 2 and attaches[0] != attaches[1]


def test_no_swap_means_one_attach(tmp_path, monkeypatch):
    store = _store(tmp_path)
    calls: list[None] = []
    real = Store._attach_once
    monkeypatch.setattr(
        Store, "_attach_once", lambda self, *a: calls.append(None) or real(self, *a)
    )
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 1
    assert len(calls) == 1


def test_writes_that_never_stop_still_give_an_answer(tmp_path, monkeypatch):
    """Every check sees a new file: the last attempt is taken as it is, not refused."""
    store = _store(tmp_path)
    real = Store._attach_once
    calls: list[None] = []

    def attach_then_swap(self: Store, *args: bool):
        con = real(self, *args)
        calls.append(None)
        with store.write() as w:
            w.execute(
                "INSERT INTO fx_rates (date, currency, rate) "
                "VALUES (DATE '2027-01-01' + ?::INTEGER, 'SEK', 1)",
                [len(calls)],
            )
        return con

    monkeypatch.setattr(Store, "_attach_once", attach_then_swap)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] >= 1
    assert len(calls) == database.ATTACH_ATTEMPTS
