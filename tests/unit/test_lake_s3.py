"""The lake in an object store (`lake: s3://bucket/prefix`, kpi.store.object_lake), against a
real S3 server in-process (moto's): the same rows and cents as the store file, loads equal to
the file store's, the manifest replaced only if nobody else replaced it first, the writer's
lock held and broken across machines by objects, and the rollups kept per machine.

Expected figures come from the store file read directly, or from the same operation on the
file store; the bucket's objects are listed with boto3, not through the lake's own code.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from decimal import Decimal

import pytest

from kpi.cli import main
from kpi.core.settings import Settings, SettingsError, lake_path
from kpi.ingest.pipelines import load_files
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import compute
from kpi.store import object_lake
from kpi.store.database import Store, StoreError
from kpi.store.lake import LakeStore
from kpi.store.lake_migrate import migrate_to_lake
from kpi.store.stores import open_store, store_as_replaced, with_settings
from tests.unit.test_lake import BAD_AND_GOOD, _close, backup_restores_onto

pytestmark = pytest.mark.objectstore  # scripts/test.sh runs them beside the browser tests

LAKE = Settings(store="lake")
BUCKET = "kpi-lake"
COMMENT = "INSERT INTO thread_comments VALUES (?, 'kpi:x', NULL, 'a', 'A', 't', now(), [])"


@pytest.fixture(scope="module")
def s3_server():
    """A local S3 (moto's server on a free port) with one bucket; its URL."""
    moto_server = pytest.importorskip("moto.server")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    yield url, client
    server.stop()


@pytest.fixture()
def s3(s3_server, monkeypatch, tmp_path):
    """The environment a deployment sets for its lake (credentials, endpoint), a cache
    folder of this test's own, and a fresh lake URL."""
    url, client = s3_server
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "KPI_LAKE_CACHE": str(tmp_path / "cache"),
        "KPI_ROLLUPS": "off",
    }.items():
        monkeypatch.setenv(name, value)
    object_lake._store_for.cache_clear()
    yield f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}/lake", client


def _keys(client, url: str) -> list[str]:
    prefix = url.split(f"{BUCKET}/", 1)[1] + "/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", [])]


_MIGRATED: dict[str, str] = {}  # the module's one migrated lake (its URL), copied per test


@pytest.fixture()
def stores(demo_copy, tmp_path, s3) -> tuple[Store, LakeStore]:
    """A demo store file (scale 0.05) and the same data moved into a lake in the bucket:
    migrated once per module, then each test gets a copy of its objects (a Delta table's
    log names its files relative to the table, so a copied prefix is the same lake)."""
    url, client = s3
    db = demo_copy(0.05, tmp_path / "kpi.duckdb")
    if "url" not in _MIGRATED:
        template = f"s3://{BUCKET}/template-{uuid.uuid4().hex[:8]}/lake"
        report = migrate_to_lake(db, LakeStore(template, LAKE))
        assert report.ok, report.as_table()
        _MIGRATED["url"] = template
    source = _MIGRATED["url"].split(f"{BUCKET}/", 1)[1]
    target = url.split(f"{BUCKET}/", 1)[1]
    for key in _keys(client, _MIGRATED["url"]):
        client.copy_object(
            Bucket=BUCKET, Key=f"{target}/{key}", CopySource=f"{BUCKET}/{source}/{key}"
        )
    return Store(db, Settings()), LakeStore(url, LAKE)


def test_settings_take_an_s3_url_and_refuse_what_cannot_be_written(monkeypatch):
    monkeypatch.setenv("KPI_LAKE", "s3://bucket/group/lake/")
    assert lake_path() == "s3://bucket/group/lake"
    monkeypatch.setenv("KPI_LAKE", "gs://bucket/lake")
    with pytest.raises(SettingsError, match="KPI_LAKE: .* must be an s3:// URL"):
        lake_path()
    monkeypatch.setenv("KPI_LAKE", "s3:///lake")
    with pytest.raises(SettingsError, match="names no bucket"):
        lake_path()


def test_migrate_keeps_every_row_and_every_cent_in_the_bucket(stores, s3):
    store, lake = stores
    url, client = s3
    keys = _keys(client, url)
    assert "_kpi/manifest.json" in keys
    assert any(k.startswith("invoices/month=2025-") and k.endswith(".parquet") for k in keys)
    assert not (lake.path / "invoices").exists()  # nothing of the data in the local cache
    manifest = json.loads(client.get_object(Bucket=BUCKET, Key=url.split(f"{BUCKET}/")[1]
                                            + "/_kpi/manifest.json")["Body"].read())  # fmt: skip
    assert manifest["serial"] == 1 and manifest["tables"]["invoices"] is not None
    sql = "SELECT count(*), sum(amount), sum(amount) FILTER (amount < 0) FROM invoices"
    with store.read() as a, lake.read() as b:
        on_file, on_lake = a.execute(sql).fetchone(), b.execute(sql).fetchone()
    assert on_lake == on_file and on_file[0] > 1000 and isinstance(on_lake[1], Decimal)
    # DuckDB read local copies of the month files, fetched once into this machine's cache
    copies = list((lake.path / "files" / "invoices").rglob("*.parquet"))
    assert copies and all(k.removeprefix("invoices/") for k in keys if k.startswith("invoices/"))
    assert {p.name for p in copies} == {
        k.rsplit("/", 1)[1] for k in keys if k.startswith("invoices/") and k.endswith(".parquet")
    }
    sizes = {
        o["Key"]: o["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
        if o["Key"].endswith(".parquet") and o["Key"].startswith(url.split(f"{BUCKET}/")[1])
    }
    assert lake.disk_bytes() == sum(sizes.values()) > 100_000
    assert open_store(None, Settings(store="lake", lake=url)).location == url


def test_every_kpi_by_quarter_is_the_same_on_the_s3_lake(stores):
    """Every KPI computed live over the bucket's files (DuckDB through fsspec) equals the
    file store's, money to the cent."""
    store, lake = stores
    definitions = load_definitions(None, store.settings)
    on_file = compute(store, definitions, "quarter", live=True)
    on_lake = compute(lake, definitions, "quarter", live=True)
    units = {k.id: k.unit for k in definitions}
    file_rows = {(r["kpi"], r["period"]): r["value"] for r in on_file.frame.iter_rows(named=True)}
    lake_rows = {(r["kpi"], r["period"]): r["value"] for r in on_lake.frame.iter_rows(named=True)}
    assert set(lake_rows) == set(file_rows) and len(file_rows) > 100
    assert [k for k, v in file_rows.items() if not _close(lake_rows[k], v, units[k[0]])] == []


def test_a_load_on_the_s3_lake_equals_the_same_load_on_the_file_store(stores, tmp_path):
    store, lake = stores
    with store.read_tables() as con:
        supplier, item = con.execute(
            "SELECT supplier_id, item_id FROM invoices ORDER BY invoice_id LIMIT 1"
        ).fetchone()
    path = tmp_path / "invoices_may.csv"
    path.write_text(BAD_AND_GOOD.format(s=supplier, i=item))
    got = [load_files(s, "invoices", [path]) for s in (store, lake)]
    assert [(f.rows_loaded, f.rows_rejected) for r in got for f in r.files] == [(2, 2), (2, 2)]
    for sql in (
        "SELECT invoice_id, amount, source_row FROM invoices WHERE invoice_id LIKE 'L-%' "
        "ORDER BY 1",
        "SELECT r.row_number, r.reason FROM rejects r JOIN loads l USING (load_id) "
        "WHERE l.file_name = 'invoices_may.csv' ORDER BY 1",
        "SELECT count(*), sum(amount) FROM invoices",
    ):
        with store.read() as a, lake.read() as b:
            assert b.execute(sql).fetchall() == a.execute(sql).fetchall(), sql
    with lake.read() as con:  # by hand: lines 2 and 4 of the file, 140.00 in all
        assert con.execute(
            "SELECT sum(amount), count(*) FROM invoices WHERE invoice_id LIKE 'L-%'"
        ).fetchone() == (Decimal("140.00"), 2)
    assert lake.manifest().serial == 2


def test_file_lists_are_kept_per_commit_and_a_lake_made_again_is_read_afresh(stores, s3):
    """A new process reads each table's file list from the local cache, not from the Delta
    log; a lake deleted and migrated again at the same URL has the same version numbers
    but another identity (and other files), and is read afresh, in the same process too."""
    from kpi.store import lake as lake_module

    store, lake = stores
    url, client = s3
    lake_module._FILES.clear()
    with lake.read() as con:  # as a new process: the lists kept on disk
        assert con.execute("SELECT count(*) FROM invoices").fetchone()[0] > 1000
    manifest = lake.manifest()
    kept = list((lake.path / "listings" / manifest.lake_id / "invoices").glob("*.json"))
    assert [p.stem for p in kept] == [str(manifest.tables["invoices"])] and manifest.lake_id
    prefix = url.split(f"{BUCKET}/", 1)[1] + "/"
    for key in _keys(client, url):
        client.delete_object(Bucket=BUCKET, Key=prefix + key)
    with store.write() as con:  # other data, so that a stale list could not pass unseen
        con.execute("DELETE FROM invoices WHERE invoice_date >= DATE '2025-01-01'")
    again = LakeStore(url, LAKE)
    assert migrate_to_lake(store.path, again).ok
    assert again.manifest().lake_id != manifest.lake_id
    sql = "SELECT count(*), sum(amount) FROM invoices"
    with store.read() as a, LakeStore(url, LAKE).read() as b:
        assert b.execute(sql).fetchone() == a.execute(sql).fetchone()


def test_the_store_version_asks_the_bucket_at_most_once_a_second(stores, s3, monkeypatch):
    """A page asks for the store's version at every read: the manifest's HEAD is kept for a
    second; another machine's write is seen after it, this process's own at once."""
    from kpi.store import lake as lake_module

    _, lake = stores
    url, client = s3
    heads = []
    real_head = object_lake.ObjectLake.head
    monkeypatch.setattr(
        object_lake.ObjectLake, "head", lambda self, key: heads.append(key) or real_head(self, key)
    )
    first = lake.version()
    assert [lake.version() for _ in range(20)] == [first] * 20 and len(heads) == 1
    key = url.split(f"{BUCKET}/", 1)[1] + "/_kpi/manifest.json"
    bumped = lake.manifest().then(dict(lake.manifest().tables)).as_json()
    client.put_object(Bucket=BUCKET, Key=key, Body=bumped)  # another machine's write
    assert lake.version() == first  # within the second
    monkeypatch.setattr(lake_module, "MANIFEST_HEAD_TTL_S", 0.0)
    second = lake.version()
    assert second != first
    monkeypatch.setattr(lake_module, "MANIFEST_HEAD_TTL_S", 60.0)
    with lake.write() as con:  # this process's own write: seen at once
        con.execute(COMMENT, [5])
    assert lake.version() not in (first, second)


def test_a_writer_that_lost_the_race_publishes_nothing(stores):
    """Two replicas write the same lake: one reads the manifest, the other lands a write
    meanwhile; the first's manifest is refused (its ETag is stale), never written over."""
    _, lake = stores
    other = LakeStore(lake.location, LAKE)
    current, token = lake.current()
    with other.write() as con:
        con.execute(
            "INSERT INTO thread_comments VALUES (1, 'kpi:x', NULL, 'a', 'A', 't', now(), [])"
        )
    landed = other.manifest()
    assert landed.serial == current.serial + 1
    with pytest.raises(StoreError, match="another writer changed the lake"):
        lake.publish(current, token)
    assert lake.manifest() == landed
    with lake.read_tables() as con:
        assert con.execute("SELECT count(*) FROM thread_comments").fetchone() == (1,)


def test_the_writers_lock_is_an_object_every_replica_sees(stores, monkeypatch):
    _, lake = stores
    other = LakeStore(lake.location, LAKE)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with lake._writer_lock():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        busy = pytest.raises(StoreError, match="Another load is writing s3://")
        with busy, other._writer_lock(timeout_s=0.5):
            pass
    finally:
        release.set()
        holder.join()
    with other._writer_lock(timeout_s=2):  # given back: the other replica takes it
        pass


def test_a_stale_lease_is_broken_and_its_stalled_holder_publishes_nothing(stores, monkeypatch):
    """A holder that stopped rewriting its lease (a machine that died, a process frozen) is
    broken after STALE_AFTER_S; if it wakes, its manifest is refused."""
    _, lake = stores
    monkeypatch.setattr(object_lake, "STALE_AFTER_S", 0.0)
    monkeypatch.setattr(object_lake.ObjectLease, "beat", lambda self, stop, every: None)
    before = lake.manifest()
    other = LakeStore(lake.location, LAKE)
    with pytest.raises(StoreError, match="Nothing was written"), lake.write() as con:
        con.execute(
            "INSERT INTO thread_comments VALUES (9, 'kpi:x', NULL, 'a', 'A', 't', now(), [])"
        )
        with other.write() as theirs:  # breaks the stale lease, lands its write
            theirs.execute("DELETE FROM items WHERE false")
    assert lake.manifest().serial == before.serial + 1  # the other's write, not this one's
    with lake.read_tables() as con:
        assert con.execute("SELECT count(*) FROM thread_comments").fetchone() == (0,)


def test_rollups_are_kept_per_machine_and_stale_ones_are_never_read(stores, monkeypatch):
    """The rollups of a lake in a bucket live in this machine's cache folder; their figures
    equal the file store's live ones; another replica's write makes them stale (not read);
    this replica's next write refreshes them."""
    from kpi.semantic import rollups

    store, lake = stores
    monkeypatch.setenv("KPI_ROLLUPS", "on")
    definitions = load_definitions(None, store.settings)
    assert rollups.refresh(lake) is not None
    assert lake.rollups_path.is_file()
    assert lake.rollups_path.is_relative_to(object_lake.cache_root())
    fast = compute(lake, definitions, "quarter")
    on_file = compute(store, definitions, "quarter", live=True)
    assert fast.from_rollups
    units = {k.id: k.unit for k in definitions}
    pairs = zip(
        fast.frame.sort(["kpi", "period"]).iter_rows(),
        on_file.frame.sort(["kpi", "period"]).iter_rows(),
        strict=True,
    )
    assert all(a[:2] == b[:2] and _close(a[-1], b[-1], units[a[0]]) for a, b in pairs)
    # another replica (a cache of its own) writes: this machine's rollups no longer match
    monkeypatch.setenv("KPI_ROLLUPS", "off")
    monkeypatch.setenv("KPI_LAKE_CACHE", str(lake.path.parent / "replica-2"))
    other = LakeStore(lake.location, LAKE)
    assert other.path != lake.path
    with other.write() as con:
        con.execute("DELETE FROM invoices WHERE invoice_date < DATE '2025-01-01'")
    monkeypatch.setenv("KPI_ROLLUPS", "on")
    assert not rollups.status(lake).fresh
    # this replica's next write refreshes them (from the replaced manifest kept locally)
    with lake.write() as con:
        con.execute(COMMENT, [3])
    assert rollups.status(lake).fresh


def test_the_store_as_it_was_before_a_write_reads_the_old_manifest(stores):
    """What the rollups read while a write's after-write hooks run: the replaced manifest,
    kept in the local cache, names the lake's URL."""
    _, lake = stores
    before = lake.manifest()
    with lake.read_tables() as con:
        items = con.execute("SELECT count(*) FROM items").fetchone()[0]
    with lake.write() as con:
        con.execute("DELETE FROM items")
    kept = lake.path / "_kpi" / "manifest.json.kept-test"
    kept.write_bytes(before.as_json())
    as_was = store_as_replaced(kept, LAKE)
    assert isinstance(as_was, LakeStore) and as_was.location == lake.location
    assert as_was.manifest() == before and lake.manifest().serial == before.serial + 1
    with as_was.read_tables() as old, lake.read_tables() as new:
        assert old.execute("SELECT count(*) FROM items").fetchone()[0] == items > 0
        assert new.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert with_settings(lake, Settings(store="lake")).location == lake.location


def test_a_backup_of_the_s3_lake_restores_onto_it(stores, tmp_path):
    """The company's records (comments, initiatives) backed up from the bucket and
    restored onto it, as on a folder (test_lake's own steps and checks)."""
    backup_restores_onto(stores[1], tmp_path)


def test_the_command_line_migrates_and_compacts_an_s3_lake(stores, s3, capsys):
    store, lake = stores
    url, client = s3
    code = main(["migrate", "--to", "lake", "--db", str(store.path), "--lake", url])
    assert code == 1 and "--replace" in capsys.readouterr().err
    target = url + "-2"
    code = main(["migrate", "--to", "lake", "--db", str(store.path), "--lake", target])
    out = capsys.readouterr().out
    assert code == 0 and f"to the lake {target}" in out and "DIFFERENT" not in out
    assert main(["compact", "--lake", target]) == 0
    assert "the data is unchanged" in capsys.readouterr().out
    code = main(["migrate", "--to", "lake", "--db", str(store.path), "--lake", "gs://b/x"])
    assert code != 0 and "s3:// URL" in capsys.readouterr().err


def test_spark_over_an_s3_lake_is_refused_by_the_settings(s3, tmp_path, monkeypatch):
    """Spark reads the lake's files itself and has no S3 connector here: the pair is a
    broken setting, named, not a failure on the first figure (nor a JVM started for it)."""
    from kpi.core.settings import load_settings
    from kpi.semantic.spark_engine import SparkEngineError, register_lake

    url, _ = s3
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"store: lake\nlake: {url}\nengine: spark\n")
    with pytest.raises(SettingsError, match="engine spark reads .*hadoop-aws"):
        load_settings(settings)
    monkeypatch.setenv("KPI_ENGINE", "spark")
    monkeypatch.setenv("KPI_LAKE", url)
    with pytest.raises(SettingsError, match="the environment: engine spark"):
        load_settings(tmp_path / "absent.yaml")
    with pytest.raises(SparkEngineError, match="object store .*hadoop-aws"):
        register_lake(None, Settings(store="lake", lake=url, engine="spark"))  # type: ignore[arg-type]
