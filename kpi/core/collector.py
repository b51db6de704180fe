"""Python's cycle collector, kept out of the way while the libraries are imported.

Why: importing DuckDB, polars, sqlglot, pydantic (and, in the app, pandas and plotly)
creates a few hundred thousand objects that live as long as the process. The collector
runs whenever enough new objects pile up, and each of its older-generation passes walks all
of them again: on this project's 2-core machine a tenth of a second or more of each `kpi`
command, and as much again when the interpreter collects once more on its way out. Modules
imported with the collector paused and then frozen (gc.freeze: out of its sight for good,
as they never become garbage) cost it nothing, on the way out too; objects made afterwards
are collected as usual.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Only in a process of its own (`python -m kpi` sets it): a long-lived process that uses the
# library (the app's server, a test run) must not freeze its other objects, which may still
# become garbage.
COMMAND_PROCESS = False


@contextmanager
def importing() -> Iterator[None]:
    """In a command's own process, pause the collector while the block imports modules,
    then freeze what they made; elsewhere nothing. Nests: only the outermost block resumes
    the collector (if it was on)."""
    if not COMMAND_PROCESS:
        yield
        return
    with _paused_then_frozen():
        yield


_FIRST = threading.Lock()
_first_done = False


@contextmanager
def first_run() -> Iterator[None]:
    """In a long-lived process (the app's server), the same for the first run of the block
    only: that run imports the libraries the pages need and fills the caches kept for the
    process (a fresh server's first page waits for it). What the first session holds is
    frozen with them and never collected when it ends: one session's objects, once. Every
    later run: nothing."""
    global _first_done
    first = False
    if not _first_done:
        with _FIRST:
            first, _first_done = not _first_done, True
    if not first:
        yield
        return
    with _paused_then_frozen():
        yield


@contextmanager
def _paused_then_frozen() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_on:
            gc.enable()
