"""The store before a declared load is asked on a thread of its own (rollups._Before.both),
beside the same question to the store now: each connection is used by one thread at a
time, and a failure on either side is the caller's, raised once both sides are done."""

from __future__ import annotations

import threading
import time

import pytest

from kpi.core.settings import Settings
from kpi.semantic import rollups

OLD = object()  # stands for the connection to the store before


@pytest.fixture
def before():
    b = rollups._Before(None, Settings())
    b._con = OLD  # opened already: both() hands it to the worker
    yield b
    b._con = None  # nothing of ours to close
    b.close()


def test_both_sides_run_at_once_on_two_threads(before):
    here = threading.get_ident()
    met = threading.Barrier(2, timeout=10)  # each side waits for the other: they overlap

    def now() -> int:
        met.wait()
        return threading.get_ident()

    def then(old: object) -> tuple[int, object]:
        met.wait()
        return threading.get_ident(), old

    first, (worker, old) = before.both(now, then)
    assert first == here and worker != here and old is OLD


def test_a_failure_here_waits_for_the_other_side_then_is_raised(before):
    done = threading.Event()

    def then(old: object) -> None:
        time.sleep(0.2)
        done.set()

    def now() -> None:
        raise ValueError("the store now refused")

    with pytest.raises(ValueError, match="store now"):
        before.both(now, then)
    assert done.is_set()  # the connection before was free again before the raise


def test_a_failure_on_the_store_before_is_raised_here(before):
    def then(old: object) -> None:
        raise RuntimeError("the store before refused")

    with pytest.raises(RuntimeError, match="store before"):
        before.both(lambda: 1, then)
    assert before.both(lambda: 2, lambda old: 3) == (2, 3)  # the next pair is asked as usual


def test_the_store_before_opened_ahead_is_the_one_asked(monkeypatch):
    opened: list[int] = []

    def open_here(self: rollups._Before) -> object:
        opened.append(threading.get_ident())
        return OLD

    monkeypatch.setattr(rollups._Before, "_open", open_here)
    b = rollups._Before(rollups._Change(old=None, invoice_ids=("INV-1",)), Settings())
    b.open_soon()
    b.open_soon()  # asked twice: opened once
    try:
        assert b.both(lambda: 1, lambda old: old) == (1, OLD)
        assert b.con() is OLD
        assert len(opened) == 1 and opened[0] != threading.get_ident()
    finally:
        b._con = None
        b.close()


def test_both_sides_are_asked_while_the_interpreter_exits(before, monkeypatch):
    """An app's background refresh may run while the interpreter exits (it is joined then),
    when concurrent.futures refuses new work: the store before is asked all the same."""
    import concurrent.futures.thread as executor_threads

    monkeypatch.setattr(executor_threads, "_shutdown", True)
    assert before.both(lambda: "now", lambda old: old) == ("now", OLD)
