"""The lake's dated tables partitioned by month (kpi.store.lake, MONTH_OF): the Hive layout on
disk, a load touching two months writing files under those two months' folders only, the
partition column never seen by readers, rows without a date kept, and a lake written before
partitions still read, written and, by `kpi compact`, partitioned.

The store is the hand fixture (tests/hand_fixture.py) and one invoice line without a date;
the expected figures are worked out from its rows below. Files are counted from the Delta
log (deltalake's own reading, or the log's add and remove actions), never through LakeStore.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from sqlglot import exp

from kpi.cli import main
from kpi.core.settings import Settings
from kpi.ingest.pipelines import load_files
from kpi.store import lake as lake_module
from kpi.store.database import Store
from kpi.store.lake import MONTH_OF, LakeStore, read_manifest
from kpi.store.lake_migrate import migrate_to_lake
from tests.hand_fixture import build

LAKE = Settings(store="lake")
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

# The fixture's invoice lines by month: INV1 (two lines, 1,050.00 + 100.00) in January 2026,
# INV2 (1,000.00) in February, INV4 (500.00) in March, INV3 (1,000.00) in April, and INV5
# (25.00), added here without a date.
BY_MONTH = [
    ("2026-01", 2, Decimal("1150.00")),
    ("2026-02", 1, Decimal("1000.00")),
    ("2026-03", 1, Decimal("500.00")),
    ("2026-04", 1, Decimal("1000.00")),
    (None, 1, Decimal("25.00")),
]
PER_MONTH = (
    "SELECT strftime(invoice_date, '%Y-%m') AS m, count(*), sum(amount) FROM invoices "
    "GROUP BY m ORDER BY m NULLS LAST"
)
HEAD = (
    "invoice_id,invoice_line,supplier_id,invoice_date,item_id,quantity,unit_price,amount,currency"
)


@pytest.fixture(autouse=True)
def _no_rollups(monkeypatch):
    monkeypatch.setenv("KPI_ROLLUPS", "off")


def _hand_store(path: Path) -> Store:
    store = build(path)
    with store.write() as con:  # a line the file store holds without its date
        con.execute(
            "INSERT INTO invoices (invoice_id, invoice_line, supplier_id, amount, currency) "
            "VALUES ('INV5', 1, 'S1', 25.00, 'EUR')"
        )
    return store


@pytest.fixture()
def stores(tmp_path) -> tuple[Store, LakeStore]:
    store = _hand_store(tmp_path / "kpi.duckdb")
    lake = LakeStore(tmp_path / "lake", LAKE)
    report = migrate_to_lake(store.path, lake)
    assert report.ok, report.as_table()
    return store, lake


def _table(lake: LakeStore, name: str) -> DeltaTable:
    version = read_manifest(lake.manifest_path).tables[name]
    return DeltaTable(str(lake.path / name), version=version)


def _files_by_month(lake: LakeStore, name: str) -> dict[str | None, set[str]]:
    """The table's files at the manifest's version, by the month partition holding them."""
    actions = pa.table(_table(lake, name).get_add_actions(flatten=True)).to_pylist()
    out: dict[str | None, set[str]] = {}
    for action in actions:
        out.setdefault(action["partition.month"], set()).add(action["path"])
    return out


def _log_actions(lake: LakeStore, name: str, after: int) -> list[tuple[str, str]]:
    """(add | remove, path) of every commit to the table after version `after`."""
    out = []
    for commit in sorted((lake.path / name / "_delta_log").glob("*.json")):
        if int(commit.stem) <= after:
            continue
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            out += [(kind, action[kind]["path"]) for kind in ("add", "remove") if kind in action]
    return out


def _load(store: Store, tmp_path: Path, lines: list[str]) -> tuple[int, int]:
    path = tmp_path / "invoices_fix.csv"
    path.write_text("\n".join([HEAD, *lines]) + "\n")
    (done,) = load_files(store, "invoices", [path]).files
    return done.rows_loaded, done.replaced


# ---- layout -------------------------------------------------------------------------------
def test_the_dated_tables_lie_in_month_folders_and_the_small_ones_do_not(stores):
    _, lake = stores
    assert MONTH_OF == {
        "invoices": "invoice_date",
        "purchase_orders": "po_date",
        "goods_receipts": "receipt_date",
        "inventory": "snapshot_date",
    }
    folders = {p.name for p in (lake.path / "invoices").iterdir()}
    assert folders == {"_delta_log"} | {
        f"month={m}" for m in ("2026-01", "2026-02", "2026-03", "2026-04", NULL_PARTITION)
    }
    # by hand: POs on 2 Jan, 1 and 5 Mar; receipts on 5 and 9 Jan, 15 and 30 Mar;
    # stock snapshots on 31 Jan and 28 Feb
    for name, months in (
        ("purchase_orders", {"2026-01": 1, "2026-03": 2}),
        ("goods_receipts", {"2026-01": 2, "2026-03": 2}),
        ("inventory", {"2026-01": 2, "2026-02": 2}),
    ):
        table = _table(lake, name)
        assert table.metadata().partition_columns == ["month"], name
        actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        rows = Counter()
        for a in actions:
            rows[a["partition.month"]] += a["num_records"]
            assert a["path"].startswith(f"month={a['partition.month']}/"), a["path"]
        assert dict(rows) == months, name
    for name in ("suppliers", "fx_rates", "budgets", "loads"):
        table = _table(lake, name)
        assert table.metadata().partition_columns == [], name
        assert not any(p.name.startswith("month=") for p in (lake.path / name).iterdir())


def test_readers_see_the_stores_columns_rows_and_sums_never_the_month(stores):
    store, lake = stores
    with store.read_tables() as a, lake.read_tables() as b:
        assert b.execute(PER_MONTH).fetchall() == a.execute(PER_MONTH).fetchall() == BY_MONTH
        for name in MONTH_OF:
            describe = f"DESCRIBE {name}"
            assert [r[:2] for r in b.execute(describe).fetchall()] == [
                r[:2] for r in a.execute(describe).fetchall()
            ], name
            every = f"SELECT * FROM {name} ORDER BY ALL"
            assert b.execute(every).fetchall() == a.execute(every).fetchall(), name
    with lake.read() as con:  # the app's reader too
        assert "month" not in [r[0] for r in con.execute("DESCRIBE invoices").fetchall()]


# ---- writes -------------------------------------------------------------------------------
def test_a_load_of_two_months_writes_files_under_those_months_only(stores, tmp_path):
    store, lake = stores
    before = _files_by_month(lake, "invoices")
    version = read_manifest(lake.manifest_path).tables["invoices"]
    lines = [
        "INV1,2,S1,2026-01-10,I1,12,10.00,120.00,EUR",  # replaces 100.00 in January
        "INV4,1,S1,2026-03-20,I1,50,10.00,500.00,EUR",  # the same line again, in March
        "INV6,1,S1,2026-03-25,I1,3,10.00,30.00,EUR",  # a new line in March
    ]
    assert _load(lake, tmp_path, lines) == (3, 2) == _load(store, tmp_path, lines)
    after = _files_by_month(lake, "invoices")
    touched = {path.split("/")[0] for _, path in _log_actions(lake, "invoices", version)}
    assert touched == {"month=2026-01", "month=2026-03"}
    for month in ("2026-02", "2026-04", None):
        assert after[month] == before[month], month
    for month in ("2026-01", "2026-03"):  # the old file removed, new ones in its folder
        assert not before[month] & after[month], month
    # by hand: January 1,050.00 + 120.00; March 500.00 + 30.00; the rest as it was
    expected = [
        ("2026-01", 2, Decimal("1170.00")),
        ("2026-02", 1, Decimal("1000.00")),
        ("2026-03", 2, Decimal("530.00")),
        ("2026-04", 1, Decimal("1000.00")),
        (None, 1, Decimal("25.00")),
    ]
    with store.read_tables() as a, lake.read_tables() as b:
        assert b.execute(PER_MONTH).fetchall() == a.execute(PER_MONTH).fetchall() == expected
    history = DeltaTable(str(lake.path / "invoices")).history(3)  # newest first
    assert [h["operation"] for h in history] == ["WRITE", "MERGE", "MERGE"]
    assert all("month" in h["operationParameters"]["mergePredicate"] for h in history[1:])


def test_a_line_given_its_date_leaves_the_null_partition(stores, tmp_path):
    """INV5 had no date: reloaded with one, its row in the null partition is deleted (a
    null month matches a null month) and the new one lands in February's folder."""
    store, lake = stores
    before = _files_by_month(lake, "invoices")
    lines = ["INV5,1,S1,2026-02-10,I1,2,12.50,25.00,EUR"]
    assert _load(lake, tmp_path, lines) == (1, 1) == _load(store, tmp_path, lines)
    after = _files_by_month(lake, "invoices")
    assert None not in after and len(after["2026-02"]) == 2
    assert after["2026-02"] > before["2026-02"]
    expected = [
        ("2026-01", 2, Decimal("1150.00")),
        ("2026-02", 2, Decimal("1025.00")),
        ("2026-03", 1, Decimal("500.00")),
        ("2026-04", 1, Decimal("1000.00")),
    ]
    with store.read_tables() as a, lake.read_tables() as b:
        assert b.execute(PER_MONTH).fetchall() == a.execute(PER_MONTH).fetchall() == expected


def test_a_whole_table_write_keeps_the_null_date_row(stores):
    """An UPDATE makes the table whole and writes it again: still by month, INV5 kept."""
    _, lake = stores
    with lake.write() as con:
        con.execute("UPDATE invoices SET amount = amount * 2 WHERE invoice_id = 'INV3'")
    assert set(_files_by_month(lake, "invoices")) == {
        "2026-01", "2026-02", "2026-03", "2026-04", None
    }  # fmt: skip
    with lake.read_tables() as con:
        assert con.execute(PER_MONTH).fetchall()[3:] == [
            ("2026-04", 1, Decimal("2000.00")),
            (None, 1, Decimal("25.00")),
        ]


# ---- a lake written before partitions ------------------------------------------------------
def test_a_lake_written_before_partitions_reads_writes_and_compact_partitions_it(
    tmp_path, monkeypatch, capsys
):
    store = _hand_store(tmp_path / "kpi.duckdb")
    lake = LakeStore(tmp_path / "lake", LAKE)
    with monkeypatch.context() as old:  # the version before partitions: none
        old.setattr(lake_module, "MONTH_OF", {})
        assert migrate_to_lake(store.path, lake).ok
    assert _table(lake, "invoices").metadata().partition_columns == []
    with lake.read_tables() as con:
        assert con.execute(PER_MONTH).fetchall() == BY_MONTH
    # a load keeps the table as it is (keys merged without a month, lines appended)
    lines = ["INV1,2,S1,2026-01-10,I1,12,10.00,120.00,EUR"]
    assert _load(lake, tmp_path, lines) == (1, 1) == _load(store, tmp_path, lines)
    table = _table(lake, "invoices")
    assert table.metadata().partition_columns == []
    assert "month" not in [f.name for f in table.schema().fields]
    with store.read_tables() as a, lake.read_tables() as b:
        assert b.execute(PER_MONTH).fetchall() == a.execute(PER_MONTH).fetchall()
        assert b.execute(PER_MONTH).fetchall()[0] == ("2026-01", 2, Decimal("1170.00"))
    # `kpi compact` writes each dated table again, by month, and says so
    assert main(["compact", "--lake", str(lake.path)]) == 0
    out = capsys.readouterr().out
    for name in MONTH_OF:
        assert f"{name}" in out and _table(lake, name).metadata().partition_columns == ["month"]
    assert out.count("now partitioned by month") == len(MONTH_OF)
    assert set(_files_by_month(lake, "invoices")) == {
        "2026-01", "2026-02", "2026-03", "2026-04", None
    }  # fmt: skip
    with store.read_tables() as a, lake.read_tables() as b:
        for name in MONTH_OF:
            every = f"SELECT * FROM {name} ORDER BY ALL"
            assert b.execute(every).fetchall() == a.execute(every).fetchall(), name
    assert main(["compact", "--lake", str(lake.path)]) == 0  # once is enough
    assert "now partitioned" not in capsys.readouterr().out


def test_a_merges_groups_count_only_the_files_of_the_gone_keys_months(tmp_path, monkeypatch):
    """January's keys lie in one file of January; February's three files interleave with
    its key range. Grouped by January's files only, the two keys are one merge (which reads
    that one file); counted with February's files too, they would be two."""
    monkeypatch.setattr(lake_module, "WRITE_CHUNK_ROWS", 1_000)
    con = duckdb.connect()
    rows = con.sql(
        "SELECT printf('INV-%05d', i) AS k, CASE WHEN i % 4 = 0 THEN '2026-01' ELSE '2026-02' "
        "END AS month FROM range(4000) t(i) ORDER BY month, k"
    )
    lake_module.write_whole(tmp_path / "t", rows, ("month",))
    months = pa.table(DeltaTable(str(tmp_path / "t")).get_add_actions(flatten=True))
    assert Counter(months["partition.month"].to_pylist()) == {"2026-01": 1, "2026-02": 3}
    con.execute(
        "CREATE TABLE gone AS SELECT * FROM (VALUES ('INV-00000', '2026-01'), "
        "('INV-03996', '2026-01')) v(k, month)"
    )
    gone = exp.to_table("gone")
    assert len(lake_module._gone_by_file(con, tmp_path / "t", gone, "k", by_month=True)) == 1
    assert len(lake_module._gone_by_file(con, tmp_path / "t", gone, "k", by_month=False)) == 2
