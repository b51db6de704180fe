"""kpi.core.collector: the cycle collector paused while a command imports its modules."""

from __future__ import annotations

import gc

import pytest

from kpi.core import collector


@pytest.fixture(autouse=True)
def _thawed(monkeypatch):
    monkeypatch.setattr(collector, "COMMAND_PROCESS", True)
    yield
    # the rest of the test process as tests/conftest.py left it: what is alive frozen (the
    # test's own objects were garbage by now, collected first)
    gc.unfreeze()
    gc.enable()
    gc.collect()
    gc.freeze()


@pytest.fixture
def freezes(monkeypatch) -> list[int]:
    """Each call of gc.freeze, counted (and made). The count of frozen objects itself is no
    witness: a frozen object that dies meanwhile (another thread's) leaves the count."""
    calls: list[int] = []
    real = gc.freeze

    def counted() -> None:
        calls.append(1)
        real()

    monkeypatch.setattr(gc, "freeze", counted)
    return calls


def test_paused_inside_frozen_after_and_resumed(freezes):
    gc.enable()
    with collector.importing():
        assert not gc.isenabled()
        assert not freezes
    assert gc.isenabled()
    assert len(freezes) == 1


def test_nested_blocks_resume_only_at_the_outermost_and_an_error_still_resumes():
    gc.enable()
    with pytest.raises(ImportError), collector.importing():
        with collector.importing():
            pass
        assert not gc.isenabled()  # the inner block left it paused
        raise ImportError("a module that fails to import")
    assert gc.isenabled()


def test_a_collector_switched_off_stays_off():
    gc.disable()
    with collector.importing():
        pass
    assert not gc.isenabled()


def test_a_process_that_only_uses_the_library_is_left_alone(monkeypatch, freezes):
    # the app's server, a test run: their other objects must stay collectable
    monkeypatch.setattr(collector, "COMMAND_PROCESS", False)
    gc.enable()
    with collector.importing():
        assert gc.isenabled()
    assert not freezes


def test_a_servers_first_run_only_is_paused_and_frozen(monkeypatch, freezes):
    monkeypatch.setattr(collector, "_first_done", False)
    gc.enable()
    with collector.first_run():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert len(freezes) == 1
    for _ in range(2):  # every later run: the collector as it is, nothing frozen
        with collector.first_run():
            assert gc.isenabled()
    assert len(freezes) == 1
