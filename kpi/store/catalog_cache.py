"""A small on-disk cache of what depends on the code and the settings only, never on data.

Why: the curated views' catalogue (each view's columns and types) is read off an empty
in-memory store after creating every view, about a second of a fresh process's first page
(filling 22 SQL templates, binding them in DuckDB). Its answer changes only with the view
SQL, the schema, the libraries that turn them into columns, and the settings: so it is kept
in a file named by a hash of all of those, computed once and read back by every later
process. A missing, unreadable or corrupt file is recomputed (and rewritten); a write goes
to a temporary file renamed into place, so a reader never sees half a file; a folder that
cannot be written leaves the value computed and unsaved.

The folder is `KPI_CACHE_DIR` if set, else `$XDG_CACHE_HOME/kpi-dashboard`, else
`~/.cache/kpi-dashboard`: the user's own, like the code itself (the plan kept there holds
the CREATE VIEW statements every read connection runs). Only the KEEP newest files of each
kind stay.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

KPI_CODE = Path(__file__).resolve().parents[1]
# the sources whose text may decide the views' columns: every module of the library (the
# view SQL, its filling, the schema, the period keys and the settings the views read), not
# only kpi/store, so an edit anywhere can never leave a stale catalogue (hashing all of
# them costs about 13 ms once per process)
_SOURCES = ("**/*.py",)


def cache_dir() -> Path:
    """Where the cache files live (see the module's docstring)."""
    explicit = os.environ.get("KPI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kpi-dashboard"


@lru_cache(maxsize=1)
def code_hash() -> str:
    """A hash of the store code's sources and the library versions that read them."""
    digest = hashlib.sha256()
    digest.update(f"duckdb {duckdb.__version__}; sqlglot {sqlglot.__version__}".encode())
    for pattern in _SOURCES:
        for path in sorted(KPI_CODE.glob(pattern)):
            digest.update(b"\0" + path.name.encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def key(kind: str, parts: Iterable[str]) -> str:
    """The file name of one cached value: its kind and a hash of the code and `parts`."""
    digest = hashlib.sha256(code_hash().encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return f"{kind}-{digest.hexdigest()[:32]}.json"


def remembered(
    kind: str,
    parts: Iterable[str],
    compute: Callable[[], Any],
    valid: Callable[[Any], bool],
    keep: int | None = None,
) -> Any:
    """The JSON value kept under (`kind`, code hash, `parts`), else `compute()`'s (saved).

    `valid` checks a value read back (its shape); one that fails it is recomputed (and the
    file rewritten). A `compute()` answering None is not kept: there is nothing to remember
    (the caller computes it again next time). `keep`: how many files of the kind stay (KEEP
    unless said: a kind keyed by more than the settings, such as the rollups' SQL per month
    range, needs more)."""
    path = cache_dir() / key(kind, parts)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if valid(value):
            return value
    except (OSError, ValueError):
        pass  # missing, unreadable or corrupt: computed again below
    value = compute()
    if value is not None:
        _save(path, value)
        _prune(path.parent, kind, KEEP if keep is None else keep)
    return value


KEEP = 32  # files kept per kind: a code or settings change leaves its old file behind


def _prune(folder: Path, kind: str, keep: int = KEEP) -> None:
    """Remove all but the `keep` most recent files of `kind` (older code, other settings)."""
    try:
        files = sorted(folder.glob(f"{kind}-*.json"), key=lambda p: p.stat().st_mtime)
        for old in files[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a file removed meanwhile by another process: nothing to do


def _save(path: Path, value: Any) -> None:
    """Write `value` as JSON to `path` atomically; a folder that cannot be written is no
    error (the value is simply computed again next time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(value, out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass
