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

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import streamlit as st

from kpi.core.settings import Settings
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import Store

if TYPE_CHECKING:
    from ui.context import Context

T = TypeVar("T")


# stands for the context's KPI definitions among a cached call's arguments
DEFINITIONS = "<the context's KPI definitions>"


def definitions_key(definitions: Sequence[KpiDefinition]) -> tuple[str, ...]:
    """Every field of every definition: a change to any of them recomputes."""
    return tuple(k.model_dump_json() for k in definitions)


@st.cache_data(show_spinner=False)
def _call(
    name: str,
    path: str,
    version: tuple,
    settings: Settings,
    defs_key: tuple | None,
    args: tuple,
    kwargs: dict[str, Any],
    _fn: Callable[..., Any],
    _definitions: Sequence[KpiDefinition],
) -> Any:
    store = Store(path, settings)
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
            str(ctx.store.path),
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
