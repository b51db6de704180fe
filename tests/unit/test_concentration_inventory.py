"""Supplier concentration, the Herfindahl index and the inventory rules, by hand.

Issue 14, point 8: the top five are exactly five suppliers, ranked within the reported
period (not the fiscal year) and on the whole company's spend (filters apply after
ranking); the HHI of a category is the sum of its suppliers' squared shares; obsolete
stock ignores the safety level unless the item is critical, and stock received less than
obsolete_after_days ago (180 by default) is never obsolete; inventory averages take each
location's own snapshots. Every figure below is worked out in a comment from ROWS.
Q1 = January–March 2026 (FY2026-Q1), Q2 = April–June 2026; everything in EUR.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.core.settings import Settings
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.store.schema import TABLES

ROOT = Path(__file__).resolve().parents[2]


def _invoice(n: int, supplier: str, day: str, category: str, cc: str, amount: float) -> tuple:
    return (f"INV{n}", 1, supplier, None, day, None, None, None, category, cc, 1, amount,
            amount, "EUR", 0)  # fmt: skip


def _stock(day, item, location, on_hand, safety, max_qty, last_issue, cost=5.00, issued=0):
    return (day, item, location, on_hand, cost, "EUR", safety, max_qty, last_issue, issued)


def _po(po: str, item: str, day: str) -> tuple:
    """An order of 8 units of `item` at 5.00, placed and approved on `day`."""
    return (po, 1, day, day, "S1", item, None, "CC1", 8, 5.00, 40.00, "EUR", None, day, "closed")


ROWS = {
    "invoices": [
        # Packaging, Q1: S1 600 (cost centre CC2), S2 500, S3 400, S4 300, S5 100, S6 100
        # (CC1). S5 and S6 tie at 100: S5 wins on its id.
        _invoice(1, "S1", "2026-01-10", "Packaging", "CC2", 600.00),
        _invoice(2, "S2", "2026-01-11", "Packaging", "CC1", 500.00),
        _invoice(3, "S3", "2026-01-12", "Packaging", "CC1", 400.00),
        _invoice(4, "S4", "2026-02-10", "Packaging", "CC1", 300.00),
        _invoice(5, "S5", "2026-02-11", "Packaging", "CC1", 100.00),
        _invoice(6, "S6", "2026-03-12", "Packaging", "CC1", 100.00),
        # Packaging, Q2: S6 1000, S5 10
        _invoice(7, "S6", "2026-04-15", "Packaging", "CC1", 1000.00),
        _invoice(8, "S5", "2026-05-15", "Packaging", "CC1", 10.00),
        # IT, Q1: two suppliers, 60 % and 40 %
        _invoice(9, "T1", "2026-01-20", "IT", "CC1", 600.00),
        _invoice(10, "T2", "2026-02-20", "IT", "CC1", 400.00),
    ],
    "items": [
        # id, description, category, unit, safety, lead time, criticality
        ("X", "Carton", "Averaging", "pcs", 20, 5, "low"),
        ("A", "Idle, not critical", "A-idle", "pcs", 10, 5, "low"),
        ("B", "Idle, critical", "B-idle-critical", "pcs", 6, 90, "high"),
        ("C", "New, never issued", "C-new", "pcs", 0, 5, "low"),
        ("D", "Idle, restocked", "D-restocked", "pcs", 0, 5, "low"),
        ("E", "Never issued, received long ago", "E-never-old", "pcs", 0, 5, "low"),
        ("F", "Never issued, no receipt", "F-never-unknown", "pcs", 0, 5, "low"),
    ],
    "purchase_orders": [
        _po("POC", "C", "2026-05-20"),
        _po("POD", "D", "2026-05-20"),
        _po("POE", "E", "2024-01-20"),
    ],
    "goods_receipts": [
        ("POC", 1, "2026-06-01", 8),
        ("POD", 1, "2026-06-01", 8),
        ("POE", 1, "2024-02-01", 8),
    ],
    "inventory": [
        # Averaging, Q1 (unit cost 1, safety 20, max 100, issued the day before, 90 units
        # issued in 90 days: 1.00 a day): WH1 has three snapshots, WH2 one, on another date
        _stock("2026-01-31", "X", "WH1", 130, 20, 100, "2026-01-30", 1.00, 90),  # excess 30
        _stock("2026-02-28", "X", "WH1", 100, 20, 100, "2026-02-27", 1.00, 90),  # excess 0
        _stock("2026-03-31", "X", "WH1", 100, 20, 100, "2026-03-30", 1.00, 90),  # excess 0
        _stock("2026-03-15", "X", "WH2", 140, 20, 100, "2026-03-14", 1.00, 90),  # excess 40
        # Obsolete cases, one snapshot 2026-06-30 at WH3, unit cost 5
        _stock("2026-06-30", "A", "WH3", 10, 10, None, "2024-01-01"),  # idle 911 days
        _stock("2026-06-30", "B", "WH3", 10, 6, None, "2024-01-01"),  # idle, critical
        _stock("2026-06-30", "C", "WH3", 8, 0, None, None),  # received 2026-06-01
        _stock("2026-06-30", "D", "WH3", 8, 0, None, "2024-01-01"),  # received 2026-06-01
        _stock("2026-06-30", "E", "WH3", 8, 0, None, None),  # received 2024-02-01
        _stock("2026-06-30", "F", "WH3", 8, 0, None, None),  # first seen 2026-06-30
    ],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    settings = Settings()
    assert settings.obsolete_after_days == 180  # the comments below count on it
    store = Store(tmp_path_factory.mktemp("ranks") / "kpi.duckdb", settings)
    with store.write(fresh=True) as con:
        for table, rows in ROWS.items():
            marks = ", ".join("?" for _ in rows[0])
            names = ", ".join(TABLES[table].column_names)  # the table's own columns, in order
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return store


@pytest.fixture(scope="module")
def definitions(store):
    return load_definitions(ROOT / "config" / "kpis.yaml", store.settings)


def values(store, definitions, kpi, grain="quarter", by=(), filters=None) -> dict:
    chosen = engine.select_definitions(definitions, [kpi])
    frame = engine.compute(store, chosen, grain, by, filters=filters).frame
    return {tuple(r[c] for c in ("period", *by)): r["value"] for r in frame.iter_rows(named=True)}


def test_top_five_are_exactly_five_on_a_tie(store, definitions):
    got = values(store, definitions, "supplier_concentration_top5", by=["category"])
    # Q1 Packaging: S1..S5 (S5 beats S6 on the tie by id): (600+500+400+300+100) / 2000;
    # a dense rank gave S5 and S6 both rank 5, six suppliers and 100 %
    assert got[("FY2026-Q1", "Packaging")] == pytest.approx(1900 / 2000)
    # IT has two suppliers: all of its spend is with its top five
    assert got[("FY2026-Q1", "IT")] == pytest.approx(1.0)


def test_rank_is_taken_within_the_reported_period(store, definitions):
    quarter = values(store, definitions, "supplier_concentration_top5", by=["category"])
    year = values(store, definitions, "supplier_concentration_top5", "year", by=["category"])
    # Q2 Packaging ranked within Q2: S6 1000 and S5 10 are both in the top five: 100 %.
    # Ranked within the year (S6 1100, S1 600, S2 500, S3 400, S4 300, S5 110), S5 would be
    # sixth and Q2 would read 1000 / 1010
    assert quarter[("FY2026-Q2", "Packaging")] == pytest.approx(1.0)
    # FY2026 Packaging, ranked within the year: all but S5, (1100+600+500+400+300) / 3010
    assert year[("FY2026", "Packaging")] == pytest.approx(2900 / 3010)


def test_filters_apply_after_ranking(store, definitions):
    got = values(
        store,
        definitions,
        "supplier_concentration_top5",
        by=["category"],
        filters={"cost_centre": ["CC1"]},
    )
    # CC1 buys Packaging from S2..S6 (1400 in Q1); the category's top five (company-wide)
    # are S1..S5, so S6's 100 is outside: (500+400+300+100) / 1400. Ranked within CC1 alone
    # S2..S6 would be five and read 100 %.
    assert got[("FY2026-Q1", "Packaging")] == pytest.approx(1300 / 1400)


def test_herfindahl_index_per_category_and_overall(store, definitions):
    by_cat = values(store, definitions, "supplier_hhi", by=["category"])
    # IT: 0.6² + 0.4² = 0.36 + 0.16
    assert by_cat[("FY2026-Q1", "IT")] == pytest.approx(0.52)
    # Packaging Q1: shares .30 .25 .20 .15 .05 .05 -> .09+.0625+.04+.0225+.0025+.0025
    assert by_cat[("FY2026-Q1", "Packaging")] == pytest.approx(0.22)
    # Packaging Q2: 1000/1010 and 10/1010 -> (1000² + 10²) / 1010²
    assert by_cat[("FY2026-Q2", "Packaging")] == pytest.approx((1000**2 + 10**2) / 1010**2)
    total = values(store, definitions, "supplier_hhi")
    # both categories in Q1: the spend-weighted mean (2000 x 0.22 + 1000 x 0.52) / 3000
    assert total[("FY2026-Q1",)] == pytest.approx(0.32)


def test_obsolete_stock_by_case(store, definitions):
    got = values(store, definitions, "obsolete_stock_value", by=["category"])
    q2 = {cat: v for (period, cat), v in got.items() if period == "FY2026-Q2"}
    # A: not critical, idle 911 days: all 10 units obsolete although at its safety level
    # of 10 (the old rule protected it): 10 x 5
    assert q2["A-idle"] == pytest.approx(50.00)
    # B: critical, idle: the safety level of 6 is kept, the 4 above it obsolete: 4 x 5
    assert q2["B-idle-critical"] == pytest.approx(20.00)
    # C: never issued, received 2026-06-01 (29 days): not obsolete (the old rule: 40)
    assert q2["C-new"] == pytest.approx(0.0)
    # D: last issued 2024-01-01 but received 2026-06-01: not obsolete
    assert q2["D-restocked"] == pytest.approx(0.0)
    # E: never issued, last receipt 2024-02-01 (880 days): obsolete, 8 x 5
    assert q2["E-never-old"] == pytest.approx(40.00)
    # F: never issued, no receipt on record: first seen 2026-06-30, 0 days: not obsolete
    assert q2["F-never-unknown"] == pytest.approx(0.0)


def test_safety_stock_of_obsolete_items(store, definitions):
    got = values(store, definitions, "safety_stock_value", by=["category"])
    # A is obsolete and not critical: it holds no safety stock; B keeps its 6 x 5
    assert got[("FY2026-Q2", "A-idle")] == pytest.approx(0.0)
    assert got[("FY2026-Q2", "B-idle-critical")] == pytest.approx(30.00)


def test_averages_take_each_locations_own_snapshots(store, definitions):
    excess = values(store, definitions, "excess_inventory_value", by=["location"])
    # WH1: (30 + 0 + 0) / its 3 snapshots = 10; WH2: 40 / its 1 snapshot = 40
    assert excess[("FY2026-Q1", "WH1")] == pytest.approx(10.00)
    assert excess[("FY2026-Q1", "WH2")] == pytest.approx(40.00)
    total = values(store, definitions, "excess_inventory_value")
    # summed over locations: 10 + 40 (dividing by the 4 dates of both: 70 / 4 = 17.50)
    assert total[("FY2026-Q1",)] == pytest.approx(50.00)
    safety = values(store, definitions, "safety_stock_value")
    # 20 units x 1 at every snapshot: WH1 60 / 3 + WH2 20 / 1 (not 80 / 4 = 20)
    assert safety[("FY2026-Q1",)] == pytest.approx(40.00)


def test_days_inventory_weighs_locations_alike(store, definitions):
    got = values(store, definitions, "days_inventory", by=["location"])
    # WH1: stock (130 + 100 + 100) / 3 = 110 over usage (1 + 1 + 1) / 3 = 1 a day: 110 days
    assert got[("FY2026-Q1", "WH1")] == pytest.approx(110.0)
    total = values(store, definitions, "days_inventory")
    # both: (110 + 140 / 1) / (1 + 1) = 125 days; over every row alike, WH1 counting three
    # times: (130 + 100 + 100 + 140) / 4 = 117.5
    assert total[("FY2026-Q1",)] == pytest.approx(125.0)


def test_a_month_ranks_within_the_month(store, definitions):
    got = values(store, definitions, "supplier_concentration_top5", "month", by=["category"])
    # March 2026, Packaging: only S6's 100: its own top five, 100 %
    assert got[("2026-03", "Packaging")] == pytest.approx(1.0)
