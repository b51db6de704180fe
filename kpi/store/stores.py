"""Which store the settings name: the DuckDB file (the default) or the lake.

Every place that opens the store asks here, so `store: lake` in settings.yaml (or
`KPI_STORE=lake`) moves the app, the command line and the workflows together.
"""

from __future__ import annotations

from pathlib import Path

from kpi.core.settings import Settings, load_settings
from kpi.store.database import Store


def open_store(path: str | Path | None = None, settings: Settings | None = None) -> Store:
    """The store the settings name. `path`: the store file, or the lake's folder on a lake
    (None: KPI_DB / data/kpi.duckdb, or the settings' `lake`)."""
    settings = settings or load_settings()
    if settings.store == "lake":
        from kpi.store.lake import LakeStore  # deltalake only when a lake is used

        return LakeStore(path, settings)
    return Store(path, settings)


def store_as_replaced(path: Path, settings: Settings) -> Store:
    """The store as it was before a write, from the second name of what the write replaced
    (`Store.replaced`): the file store's old file, or a lake's old manifest."""
    from kpi.store.lake import MANIFEST, LakeStore

    if path.name.startswith(MANIFEST + "."):
        return LakeStore.as_of(path, settings)
    return Store(path, settings)


def with_settings(store: Store, settings: Settings) -> Store:
    """The same store (a file or a lake, at the same place) read with other settings: a
    file store stays a file store whatever the settings' `store` says."""
    return type(store)(store.location, settings)
