"""One cached call for every page: an analysis run on the store, cached on what it reads.

The key is the store's path and version (a new load shows up on the next rerun), the
settings, the analysis's name, the scope and the other arguments; and, for a call that
takes the KPI definitions (`DEFINITIONS` among its arguments), the definitions' key, so a
saved definition shows up at once. Pages call e.g. `cached(spend.spend_tree, ctx, ctx.scope)`.

The store's version (`Store.version()`: the file's inode, time and size, which every write
changes, from this app or another process) is read on every call, not once per page: a
section that reruns alone (a fragment, after a widget in it changed) reads the figures of
the data as it is, and is served from the cache while the data has not changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import polars as pl
import streamlit as st

from kpi.core.kept import Kept
from kpi.core.settings import Settings, db_path
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store
from kpi.store.lake import LakeStore
from kpi.store.views import CuratedConnection

if TYPE_CHECKING:
    from ui.context import Context

T = TypeVar("T")
F = TypeVar("F")


# stands for the context's KPI definitions among a cached call's arguments
DEFINITIONS = "<the context's KPI definitions>"


def definitions_key(definitions: Sequence[KpiDefinition]) -> str:
    """A digest of every field of every definition: a change to any of them recomputes (one
    short string for st.cache_data to hash, not the fields' text)."""
    held = _KEYS.get(tuple(map(id, definitions)))
    if held is not None and all(a is b for a, b in zip(held[0], definitions, strict=True)):
        return held[1]
    dumped = json.dumps([k.model_dump_json() for k in definitions])
    key = hashlib.sha256(dumped.encode("utf-8")).hexdigest()
    if len(_KEYS) > 64:
        _KEYS.clear()
    _KEYS[tuple(map(id, definitions))] = (tuple(definitions), key)
    return key


# The key of the definitions in use, by the ids of their (frozen) objects: the same file
# gives the same objects on every run (kpi.semantic.definitions keeps them), and every
# cached call of a page asks for the key. The objects are held beside it, so that an id is
# never reused while its entry lives.
_KEYS: dict[tuple[int, ...], tuple[tuple[KpiDefinition, ...], str]] = {}


# ---- one read connection per script run ---------------------------------------------------

_RUN = threading.local()


def begin_run_reads() -> None:
    """From here until `end_run_reads` (or the next `begin_run_reads`) on this thread, reads of
    a `RunStore` share one connection per store version, settings and display currency.

    Why: each read attaches the store afresh (tens of milliseconds each, a dozen on the
    overview); one script run is one thread (Streamlit runs a session's script on its own
    thread), so its reads can take turns on one connection. Called by the shared sidebar,
    which opens every full run of a page.
    """
    end_run_reads()
    _RUN.cons = {}


def end_run_reads() -> None:
    """Close this thread's shared connections; reads attach one each again."""
    cons: dict | None = getattr(_RUN, "cons", None)
    _RUN.cons = None
    for shared in (cons or {}).values():
        shared.close()


@contextmanager
def run_reads() -> Iterator[None]:
    """A script run whose reads share connections, all closed at its end (app.py)."""
    begin_run_reads()
    try:
        yield
    finally:
        end_run_reads()


class _Shared:
    """A connection kept for a run, and whether a read holds it now (a read inside another
    read gets a connection of its own: the outer one may hold an unread result)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, curated: CuratedConnection):
        self.con, self.curated, self.busy = con, curated, False

    def close(self) -> None:
        self.con.close()


class RunStore(Store):
    """A Store whose reads share one connection within a script run (see `begin_run_reads`);
    outside one (a fragment's rerun, another thread) each read attaches its own, as Store's.

    The connection is keyed by the store's version, so a write that lands in the middle of
    a run (the file replaced) is read on a new connection, as with a read of its own."""

    @contextmanager
    def read(self, display_currency: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        cons: dict | None = getattr(_RUN, "cons", None)
        if cons is None or not self.path.exists():
            with super().read(display_currency) as con:
                yield con
            return
        currency = (display_currency or self.settings.reporting_currency).upper()
        key = (str(self.location), self.version(), self.settings, currency)
        shared = cons.get(key)
        if shared is None or shared.busy:
            con = self._connect_read_only()
            fresh = _Shared(con, CuratedConnection(con, self.settings, display_currency))
            if shared is not None:  # nested: this read's own, closed after it
                try:
                    yield fresh.curated  # type: ignore[misc]
                finally:
                    fresh.close()
                return
            cons[key] = shared = fresh
        shared.busy = True
        try:
            yield shared.curated  # type: ignore[misc]
        finally:
            try:  # a result left half read (fetchone) would refuse the next read's statement
                shared.con.abort()
                shared.busy = False
            except duckdb.Error:  # not fit to be shared any more: the next read attaches anew
                cons.pop(key, None)
                shared.close()


class RunLakeStore(RunStore, LakeStore):
    """The lake (kpi.store.lake) with a run's shared reads: RunStore's `read` over the
    lake's reader (LakeStore's `_connect_read_only`), keyed by the manifest's version."""


def run_store(path: str | Path | None, settings: Settings) -> Store:
    """The store the settings name (the file, or the lake: `store: lake`), sharing a run's
    reads; `path` None: the settings' own (KPI_DB, or the lake's folder)."""
    if settings.store == "lake":
        return RunLakeStore(path, settings)
    return RunStore(path or db_path(), settings)


@st.cache_data(show_spinner=False)
def _call(
    name: str,
    path: str,
    version: tuple,
    settings: Settings,
    defs_key: str | None,
    args: tuple,
    kwargs: dict[str, Any],
    _fn: Callable[..., Any],
    _definitions: Sequence[KpiDefinition],
) -> Any:
    store = run_store(path, settings)
    real = [_definitions if isinstance(a, str) and a == DEFINITIONS else a for a in args]
    return _fn(store, *real, **kwargs)


def cached(
    fn: Callable[..., T], ctx: Context, *args: Any, spinner: str | None = None, **kwargs: Any
) -> T:
    """`fn(store, *args, **kwargs)` on the context's store, cached (see the module docstring).

    The arguments must be hashable by Streamlit (a Scope, dates, strings, tuples).
    """
    # a page's own function is named by its file: two pages may both have a `_values`
    name = f"{fn.__code__.co_filename}:{fn.__qualname__}"
    uses_definitions = any(isinstance(a, str) and a == DEFINITIONS for a in args)
    key = definitions_key(ctx.definitions) if uses_definitions else None

    def call() -> T:
        return _call(
            name,
            str(ctx.store.location),
            ctx.version,
            ctx.settings,
            key,
            args,
            kwargs,
            fn,
            ctx.definitions,
        )

    if spinner is None:
        return call()
    with st.spinner(spinner):
        return call()


# ---- built charts ----------------------------------------------------------------------------

_FIGURES: Kept[tuple, Any] = Kept(64)


def figure(builder: Callable[..., F], frame: pl.DataFrame, *args: Hashable) -> F:
    """`builder(frame, *args)`, built once per frame content and arguments in the process.

    A chart's figure is a pure function of its frame (and the currency or title passed with
    it), yet plotly checks every property as the figure is built: the overview's four
    charts took about 60 ms of each run, a reload's whole server time being about 0.17 s.
    The frame is compared by content (its serialized bytes), so the same figures of the
    same data, in any session, are built once. The figure returned is shared: draw it,
    never change it (st.plotly_chart copies it). `builder` must read nothing but its
    arguments: a closure (a lambda over the page's currency, say) is refused, as its figure
    would be kept under arguments that do not say what it drew."""
    if getattr(builder, "__closure__", None):
        raise TypeError(f"{builder.__qualname__} reads variables around it: pass them as args")
    key = (
        builder.__module__,
        builder.__qualname__,
        getattr(builder, "__code__", None),  # two lambdas of one function share a qualname
        args,
        hashlib.blake2b(frame.serialize(), digest_size=16).digest(),
    )
    held = _FIGURES.get(key)
    if held is None:
        held = builder(frame, *args)
        _FIGURES.put(key, held)
    return held
