"""A lake in an object store (`lake: s3://bucket/prefix`): what a folder gives the lake for
free, done with an object store's own guarantees.

The Delta tables themselves need nothing of this: `deltalake` writes and reads `s3://` URIs
(its commits are conditional puts, so no lock service is needed). What the lake adds around
them is done here, with `obstore` (the Rust `object_store` crate delta-rs itself is built
on, so one set of credentials and the same `AWS_*` environment variables serve both):

- the manifest is one object, `<lake>/_kpi/manifest.json`. A PUT replaces an object whole
  (readers see the old or the new one, never half), and a write publishes its manifest
  only if the object is still the one it started from (`If-Match` on its ETag; a new lake:
  `If-None-Match: *`), so two writers can never both land, whatever their locks say;
- the writer's lock is an object too, `<lake>/_kpi/writer.lease`: taken by creating it
  (`If-None-Match: *`), held by rewriting it every quarter of STALE_AFTER_S (`If-Match`),
  broken when it has not been rewritten for STALE_AFTER_S (by the store's clock, not this
  machine's) by a conditional rewrite that only one breaker can win;
- DuckDB reads local copies of the Parquet files: a Delta version's files never change
  (each has a name of its own), so each is fetched once, in parallel, into this machine's
  cache (`files/`), and every later query reads it from local disk. Reading them from the
  store instead (DuckDB's S3 extension is not installable from the package registries; an
  fsspec file system works) costs a request per file opened and per range read, and made
  refreshing the rollups of the 0.05 demo 95 s instead of a few; `kpi compact` removes
  cached files no current version reads;
- what each machine keeps for itself (those copies, the rollups file, its stamp, the
  second name of a replaced manifest while a write's after-write hooks run) lives in a
  local cache folder, `data/lake-cache/<name of the URL>/`: the rollups are per replica,
  stamped with the manifest they were computed from, as beside a file store.

Credentials and the endpoint come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL for MinIO or another S3-compatible
store, AWS_ALLOW_HTTP=true for a plain-HTTP one): nothing secret goes in settings.yaml.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from kpi.core.lease import STALE_AFTER_S, Busy, LeaseLost
from kpi.core.settings import ROOT, lake_url_problem

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/]+)(/.*)?$")
LEASE = "writer.lease"


class ObjectLakeError(RuntimeError):
    """The object store cannot be reached or refuses a request; the message says which."""


class Conflict(ObjectLakeError):
    """A conditional write lost: the object changed since it was read."""


def is_url(text: str) -> bool:
    return bool(_URL.match(text.strip()))


def cache_root() -> Path:
    """Where this machine keeps its own files of lakes in object stores (KPI_LAKE_CACHE)."""
    return Path(os.environ.get("KPI_LAKE_CACHE") or ROOT / "data" / "lake-cache")


URL_FILE = "lake.url"  # in a lake's cache folder: the URL it is the cache of


class ObjectLake:
    """The lake at `url` (s3://bucket/prefix): its objects, its manifest, its writer's lease."""

    def __init__(self, url: str) -> None:
        problem = lake_url_problem(url.strip()) if is_url(url) else f"{url!r} is not a URL"
        if problem:
            raise ObjectLakeError(problem)
        self.url = url.strip().rstrip("/")
        name = re.sub(r"[^A-Za-z0-9.-]+", "-", self.url.split("://", 1)[1]).strip("-")
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:10]
        self.cache = cache_root() / f"{name[:60]}-{digest}"

    # ---- places ---------------------------------------------------------------------------
    def table(self, name: str) -> str:
        """The Delta table's URI."""
        return f"{self.url}/{name}"

    def ensure_cache(self) -> Path:
        """The local cache folder, made (with the file naming its URL) when missing."""
        marker = self.cache / URL_FILE
        if not marker.is_file():
            self.cache.mkdir(parents=True, exist_ok=True)
            marker.write_text(self.url + "\n", encoding="utf-8")
        return self.cache

    @property
    def _store(self) -> Any:
        return _store_for(self.url)

    # ---- objects --------------------------------------------------------------------------
    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, None when there is none."""
        import obstore

        try:
            got = obstore.get(self._store, key)
            return bytes(got.bytes()), str(got.meta.get("e_tag") or "")
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - obstore raises its own kinds
            raise ObjectLakeError(f"Cannot read {self.url}/{key}: {_short(exc)}") from exc

    def head(self, key: str) -> dict[str, Any] | None:
        import obstore

        try:
            return dict(obstore.head(self._store, key))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise ObjectLakeError(f"Cannot reach {self.url}/{key}: {_short(exc)}") from exc

    def put(self, key: str, data: bytes, expected: str | None) -> str:
        """Write the object only if it is still the one with ETag `expected` (None: only if
        there is none); its new ETag. Conflict when another write got there first."""
        import obstore

        mode: Any = "create" if expected is None else {"e_tag": expected}
        try:
            done = obstore.put(self._store, key, data, mode=mode)
        except (FileExistsError, obstore.exceptions.AlreadyExistsError) as exc:
            raise Conflict(f"{self.url}/{key} was written by another writer") from exc
        except obstore.exceptions.PreconditionError as exc:
            raise Conflict(f"{self.url}/{key} was changed by another writer") from exc
        except Exception as exc:  # noqa: BLE001
            raise ObjectLakeError(f"Cannot write {self.url}/{key}: {_short(exc)}") from exc
        return str(done.get("e_tag") or "")

    def delete(self, key: str) -> None:
        import obstore

        with contextlib.suppress(FileNotFoundError):
            obstore.delete(self._store, key)

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix` (a table's folder) with its size, by full URI."""
        import obstore

        out: dict[str, int] = {}
        try:
            for batch in obstore.list(self._store, prefix.rstrip("/") + "/"):
                for meta in batch:
                    out[f"{self.url}/{meta['path']}"] = int(meta["size"])
        except Exception as exc:  # noqa: BLE001
            raise ObjectLakeError(f"Cannot list {self.url}/{prefix}: {_short(exc)}") from exc
        return out

    def holds_something(self) -> bool:
        """Any object under the lake's URL."""
        import obstore

        try:
            for batch in obstore.list(self._store, chunk_size=1):
                if batch:
                    return True
        except Exception as exc:  # noqa: BLE001
            raise ObjectLakeError(f"Cannot list {self.url}: {_short(exc)}") from exc
        return False

    # ---- local copies of the Parquet files ---------------------------------------------
    def local_copies(self, uris: list[str]) -> dict[str, str]:
        """Each file (a URI under the lake) as a local path, fetched into the cache when it
        is not there yet (a temporary name renamed when complete: a copy is whole or
        absent, whichever process fetched it)."""
        out: dict[str, str] = {}
        missing: list[tuple[str, Path]] = []
        for uri in uris:
            local = self._copy_path(uri)
            out[uri] = str(local)
            if not local.is_file():
                missing.append((uri, local))
        if missing:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(16, len(missing))) as pool:
                list(pool.map(lambda pair: self._fetch(*pair), missing))
        return out

    def _copy_path(self, uri: str) -> Path:
        if not uri.startswith(self.url + "/"):
            raise ObjectLakeError(f"{uri} is not a file of the lake {self.url}")
        return self.cache / "files" / uri[len(self.url) + 1 :]

    def _fetch(self, uri: str, local: Path) -> None:
        import obstore

        key = uri[len(self.url) + 1 :]
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{secrets.token_hex(4)}.part")
        try:
            data = obstore.get(self._store, key).bytes()
            tmp.write_bytes(bytes(data))
            os.replace(tmp, local)
        except FileNotFoundError as exc:
            raise ObjectLakeError(f"{uri} is gone from the lake (removed by a compact?)") from exc
        except OSError as exc:
            raise ObjectLakeError(f"Cannot keep a copy of {uri} in {local}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - obstore raises its own kinds
            raise ObjectLakeError(f"Cannot read {uri}: {_short(exc)}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def prune_copies(self, keep: set[str]) -> int:
        """Remove cached copies of files that are not in `keep` (URIs); how many."""
        root = self.cache / "files"
        if not root.is_dir():
            return 0
        wanted = {self._copy_path(u) for u in keep}
        removed = 0
        for path in root.rglob("*"):
            if path.is_file() and path not in wanted:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # ---- file lists of Delta versions, kept --------------------------------------------
    # Reading a version's file list from the Delta log costs a listing of the log and a
    # request per commit file since the last checkpoint, per table, in every new process
    # (about 200 requests before a small load). A version's list never changes: it is kept
    # in the cache under the lake's identity (kpi.store.lake.Manifest.lake_id: a lake
    # deleted and made again at the same URL has the same version numbers, other files).
    def listing(self, table_uri: str, version: int, lake_id: str) -> dict[str, Any] | None:
        """The kept file list of the table at `version`, None when there is none."""
        path = self._listing_path(table_uri, version, lake_id)
        if path is None:
            return None
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def keep_listing(
        self, table_uri: str, version: int, lake_id: str, data: dict[str, Any]
    ) -> None:
        path = self._listing_path(table_uri, version, lake_id)
        if path is None:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, path)

    def _listing_path(self, table_uri: str, version: int, lake_id: str) -> Path | None:
        if not lake_id or not table_uri.startswith(self.url + "/"):
            return None  # a lake without an identity yet: read from its log every time
        table = table_uri[len(self.url) + 1 :]
        return self.cache / "listings" / lake_id / table / f"{version}.json"

    # ---- the writer's lease -------------------------------------------------------------
    @contextlib.contextmanager
    def leased(self, key: str, timeout_s: float) -> Iterator[ObjectLease]:
        """Hold the lease object `key` (see the module); Busy after `timeout_s`."""
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": secrets.token_hex(8),
        }
        data = json.dumps(holder).encode()
        deadline = time.monotonic() + timeout_s
        etag = None
        while etag is None:
            try:
                etag = self.put(key, data, None)
            except Conflict:
                etag = self._break_if_stale(key, data)
                if etag is None:
                    if time.monotonic() > deadline:
                        raise Busy(f"{self.url}/{key} is held by another writer") from None
                    time.sleep(0.2)
        lease = ObjectLease(self, key, data, etag)
        stop = threading.Event()
        beat = threading.Thread(target=lease.beat, args=(stop, STALE_AFTER_S / 4), daemon=True)
        beat.start()
        try:
            yield lease
        finally:
            stop.set()
            beat.join()
            if lease.held():
                self.delete(key)

    def _break_if_stale(self, key: str, data: bytes) -> str | None:
        """Take the lease over when it has not been rewritten for STALE_AFTER_S, measured
        against an object this process writes now (the store's clock on both sides); the
        new ETag, or None when it is live (or another breaker won)."""
        meta = self.head(key)
        if meta is None:
            return None  # given back meanwhile: the next try creates it
        probe = f"{key}.clock-{secrets.token_hex(4)}"
        self.put(probe, b"", None)
        try:
            now = (self.head(probe) or {}).get("last_modified")
        finally:
            self.delete(probe)
        age = (now - meta["last_modified"]).total_seconds() if now else 0.0
        if age < STALE_AFTER_S:
            return None
        try:
            return self.put(key, data, str(meta.get("e_tag") or ""))
        except Conflict:
            return None


class ObjectLease:
    """A lease held on an object: `check()` before publishing (see kpi.core.lease.Lease)."""

    def __init__(self, lake: ObjectLake, key: str, data: bytes, etag: str) -> None:
        self.lake, self.key, self.data, self.etag = lake, key, data, etag
        self.lost = False

    def held(self) -> bool:
        if self.lost:
            return False
        try:
            meta = self.lake.head(self.key)
        except ObjectLakeError:
            return False
        return meta is not None and str(meta.get("e_tag") or "") == self.etag

    def check(self) -> None:
        if not self.held():
            raise LeaseLost(
                f"the lock on {self.lake.url} was taken over by another writer while this one "
                "waited"
            )

    def beat(self, stop: threading.Event, every_s: float) -> None:
        """Rewrite the lease (conditionally) until stopped, so it never looks stale; a
        rewrite refused means another writer broke it: lost."""
        while not stop.wait(every_s):
            try:
                self.etag = self.lake.put(self.key, self.data, self.etag)
            except Conflict:
                self.lost = True
                return
            except ObjectLakeError:
                continue  # a network blip: the next beat tries again


@lru_cache(maxsize=16)
def _store_for(url: str) -> Any:
    """One obstore client per lake URL (credentials and endpoint from the environment)."""
    from obstore.store import from_url

    return from_url(url)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


__all__ = ["Conflict", "ObjectLake", "ObjectLakeError", "is_url"]
