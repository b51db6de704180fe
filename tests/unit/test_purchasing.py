"""On time in full, PO compliance, price variance and three-way match on
tests/purchasing_fixture.py, every figure worked out by hand from its rows.

Q1 = January–March 2026, Q2 = April–June, Q3 = July–September (calendar fiscal year).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from kpi.analyses import savings
from kpi.core.scope import Scope
from kpi.core.settings import Settings, SettingsError, load_settings
from kpi.semantic import engine
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from tests import purchasing_fixture

ROOT = Path(__file__).resolve().parents[2]
KPIS = ROOT / "config" / "kpis.yaml"
EXEMPT = Settings(po_exempt_categories=("Utilities",))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return purchasing_fixture.build(tmp_path_factory.mktemp("purchasing") / "kpi.duckdb")


def values(store: Store, ids: list[str], grain: str = "quarter") -> dict:
    definitions = load_definitions(KPIS, store.settings)
    chosen = engine.select_definitions(definitions, ids)
    frame = engine.compute(store, chosen, grain).frame
    return {(r["kpi"], r["period"]): r["value"] for r in frame.iter_rows(named=True)}


def rows(store: Store, sql: str) -> list[tuple]:
    with store.read() as con:
        return con.execute(sql).fetchall()


# ---- on time in full ------------------------------------------------------------------------


def test_otif_line_by_line(store):
    got = rows(
        store,
        "SELECT po_id, po_line, otif_counted, on_time_in_full, received_by_promise_qty "
        "FROM po_lines ORDER BY po_id, po_line",
    )
    assert got == [
        ("PO1", 1, True, False, 60),  # 60 of 100 by 01-20 (40 more on 01-25): partial = late
        ("PO1", 2, True, True, 50),  # 50 of 50 on 01-14, promised 01-20
        ("PO10", 1, False, False, 0),  # no promised date: not counted
        ("PO2", 1, True, False, 0),  # nothing received, promised 02-10 < 08-14: late
        ("PO3", 1, True, False, 0),  # 20 of 20 on 04-05, promised 03-10: late
        ("PO4", 1, False, False, 0),  # promised 09-30 > last data day 08-14: not due yet
        ("PO5", 1, False, False, 0),  # cancelled
        ("PO7", 1, True, True, 0),  # a service (no quantity) received 05-09, promised 05-10
        ("PO8", 1, True, True, 10),  # 10 of 10 on the promised day
        ("PO9", 1, False, False, 0),  # no promised date: not counted, nothing "by" it
    ]
    # the last data day: INV8 paid 2026-08-14 is the latest order/approval/receipt/invoice/
    # payment date (PO4 promised 09-30 and due dates do not count)
    assert rows(store, "SELECT DISTINCT last_data_day FROM po_lines") == [(date(2026, 8, 14),)]


def test_supplier_otd_is_on_time_in_full(store):
    got = values(store, ["supplier_otd"])
    # Q1: counted PO1/1 (late), PO1/2 (on time), PO2/1 (late), PO3/1 (late) -> 1 / 4
    # (PO5 cancelled; PO9, PO10 without a promised date). The old rule (received lines
    # whose last receipt came by the promise) gave 1 / 3: PO2/1 vanished.
    assert got[("supplier_otd", "FY2026-Q1")] == pytest.approx(1 / 4)
    # Q2: PO7/1 and PO8/1 both on time in full -> 2 / 2
    assert got[("supplier_otd", "FY2026-Q2")] == pytest.approx(1.0)
    # Q3: only PO4/1, not due by the last data day: nothing to judge
    assert got.get(("supplier_otd", "FY2026-Q3")) is None


def test_a_later_receipt_does_not_change_a_closed_quarter(tmp_path):
    rows_later = dict(purchasing_fixture.ROWS)
    rows_later["goods_receipts"] = [
        *purchasing_fixture.ROWS["goods_receipts"],
        ("PO2", 1, "2026-07-01", 10),  # PO2/1 finally arrives, in full, in Q3
        ("PO1", 1, "2026-07-01", 5),  # and more of PO1/1
    ]
    later = purchasing_fixture.build(tmp_path / "kpi.duckdb", rows=rows_later)
    # Q1 is still 1 / 4: PO2/1 and PO1/1 were judged at their promised dates (02-10, 01-20)
    assert values(later, ["supplier_otd"])[("supplier_otd", "FY2026-Q1")] == pytest.approx(1 / 4)


# ---- PO compliance --------------------------------------------------------------------------


def test_compliance_columns_line_by_line(store):
    got = rows(
        store,
        "SELECT invoice_id, has_po, po_exists, po_approved, po_after_invoice, po_exempt, on_po "
        "FROM spend ORDER BY invoice_id",
    )
    assert got == [
        ("INV1", True, True, True, False, False, True),  # PO1 raised 01-05, invoice 01-16
        ("INV2", True, True, True, False, False, True),  # PO2 raised 02-01, invoice 02-12
        ("INV3", True, False, False, False, False, False),  # PO99 does not exist
        ("INV4", True, True, False, False, False, False),  # PO9 has no approval date
        ("INV5", True, True, True, True, False, False),  # PO10 raised 03-20 > invoice 03-10
        ("INV6", False, False, False, False, False, False),  # no PO (Utilities, not exempt)
        ("INV8", True, True, True, False, False, True),  # PO1 again, in Q2
    ]


def test_po_compliance_maverick_and_after_the_fact(store):
    got = values(store, ["po_compliance", "maverick_spend_rate", "after_the_fact_po_rate"])
    # Q1 spend: INV1 210 + INV2 95 + INV3 20 + INV4 110 + INV5 200 + INV6 500 = 1,135
    # on a valid PO: INV1 + INV2 = 305; off: 20 (no such PO) + 110 (not approved)
    # + 200 (after the fact) + 500 (no PO) = 830; after the fact: INV5 200
    assert got[("po_compliance", "FY2026-Q1")] == pytest.approx(305 / 1135)
    assert got[("maverick_spend_rate", "FY2026-Q1")] == pytest.approx(830 / 1135)
    assert got[("after_the_fact_po_rate", "FY2026-Q1")] == pytest.approx(200 / 1135)
    # Q2: INV8 126 on PO1 -> fully compliant, nothing after the fact
    assert got[("po_compliance", "FY2026-Q2")] == pytest.approx(1.0)
    assert got[("after_the_fact_po_rate", "FY2026-Q2")] == pytest.approx(0.0)


def test_exempt_categories_leave_both_sides(tmp_path):
    exempt = purchasing_fixture.build(tmp_path / "kpi.duckdb", settings=EXEMPT)
    got = values(exempt, ["po_compliance", "maverick_spend_rate", "after_the_fact_po_rate"])
    # Utilities (INV6, 500) leaves numerator and denominator: 1,135 - 500 = 635
    assert got[("po_compliance", "FY2026-Q1")] == pytest.approx(305 / 635)
    assert got[("maverick_spend_rate", "FY2026-Q1")] == pytest.approx(330 / 635)
    assert got[("after_the_fact_po_rate", "FY2026-Q1")] == pytest.approx(200 / 635)
    assert rows(exempt, "SELECT invoice_id FROM spend WHERE po_exempt") == [("INV6",)]


def test_po_exempt_categories_setting(tmp_path):
    assert Settings().po_exempt_categories == ()
    assert load_settings(ROOT / "config" / "settings.yaml").po_exempt_categories == ()
    path = tmp_path / "settings.yaml"
    path.write_text("compliance:\n  po_exempt_categories: [Utilities, ' Taxes ', Utilities]\n")
    assert load_settings(path).po_exempt_categories == ("Utilities", "Taxes")
    path.write_text("compliance:\n  po_exempt_categories: Utilities\n")
    with pytest.raises(SettingsError, match="must be a list of category names"):
        load_settings(path)
    path.write_text("compliance:\n  po_exempt_categories: [Utilities, 3]\n")
    with pytest.raises(SettingsError, match="3 is not a category name"):
        load_settings(path)
    path.write_text("compliance: [Utilities]\n")
    with pytest.raises(SettingsError, match="compliance must be a mapping"):
        load_settings(path)


# ---- price variance and contract overcharge -------------------------------------------------


def test_ppv_net_and_contract_overcharge(store):
    got = values(store, ["purchase_price_variance", "contract_overcharge"])
    # K1 prices P1 at 2.00: INV1 (2.10 - 2.00) x 100 = +10.00, INV2 (1.90 - 2.00) x 50
    # = -5.00, INV3 (2.00 - 2.00) x 10 = 0 -> net 5.00; overcharge only the +10.00
    assert got[("purchase_price_variance", "FY2026-Q1")] == pytest.approx(5.00)
    assert got[("contract_overcharge", "FY2026-Q1")] == pytest.approx(10.00)
    # Q2: INV8 (2.10 - 2.00) x 60 = 6.00 in both
    assert got[("purchase_price_variance", "FY2026-Q2")] == pytest.approx(6.00)
    assert got[("contract_overcharge", "FY2026-Q2")] == pytest.approx(6.00)


def test_contract_overcharge_equals_the_savings_ledgers_leakage(store):
    # SI1 negotiated 2.00 = K1's contract price on the same supplier and item, so its
    # leakage max(paid - 2.00, 0) x quantity is the overcharge, line by line, to the cent
    leakage = rows(
        store,
        # savings_lines holds every invoice line; the initiative's own lines carry leakage
        "SELECT invoice_id, invoice_line, leakage FROM savings_lines "
        "WHERE initiative_id IS NOT NULL AND invoice_id IS NOT NULL ORDER BY invoice_id",
    )
    overcharge = rows(
        store,
        "SELECT invoice_id, invoice_line, contract_overcharge FROM spend "
        "WHERE contract_unit_price IS NOT NULL ORDER BY invoice_id",
    )
    assert (
        leakage
        == overcharge
        == [
            ("INV1", 1, D("10.00")),
            ("INV2", 1, D("0.00")),
            ("INV3", 1, D("0.00")),
            ("INV8", 1, D("6.00")),
        ]
    )
    # and the savings ledger's monthly leakage adds up to the KPI for the year: 16.00
    monthly = savings.realised_by_month(store, Scope.of(date(2026, 1, 1), date(2026, 12, 31)))
    ledger = sum(monthly["leakage"].to_list(), D("0"))
    assert ledger == D("16.00")
    kpi = values(store, ["contract_overcharge"], grain="year")[("contract_overcharge", "FY2026")]
    assert D(str(kpi)).quantize(D("0.01")) == ledger


# ---- three-way match ------------------------------------------------------------------------


def test_three_way_match_line_by_line(store):
    got = rows(
        store,
        "SELECT invoice_id, po_unit_price, invoiced_qty_to_date, received_qty_at_invoice, "
        "price_above_po, quantity_above_received, match_exception FROM invoice_match "
        "ORDER BY invoice_id",
    )
    assert got == [
        # PO1 (P1 at 2.10): 100 invoiced, 60 + 50 received by 01-16
        ("INV1", D("2.1000"), 100, 110, False, False, False),
        # PO2: 50 invoiced on 02-12, nothing received
        ("INV2", D("1.9000"), 50, 0, False, True, True),
        ("INV3", None, None, None, False, False, False),  # PO99 does not exist
        # PO9: 1.10 invoiced against 1.00 ordered; 100 received on 03-01
        ("INV4", D("1.0000"), 100, 100, True, False, True),
        ("INV5", D("1.0000"), 200, 200, False, False, False),  # 200 received on 03-05
        ("INV6", None, None, None, False, False, False),  # no PO
        # PO1 again: 100 + 60 = 160 invoiced by 04-10, 60 + 40 + 50 = 150 received
        ("INV8", D("2.1000"), 160, 150, False, True, True),
    ]


def test_three_way_match_exceptions_by_amount(store):
    got = values(store, ["three_way_match_exceptions"])
    # Q1: INV2 95.00 (quantity) + INV4 110.00 (price): the whole invoice lines = 205.00
    assert got[("three_way_match_exceptions", "FY2026-Q1")] == pytest.approx(205.00)
    # Q2: INV8 126.00 (quantity)
    assert got[("three_way_match_exceptions", "FY2026-Q2")] == pytest.approx(126.00)


def test_new_kpis_sit_after_the_ones_they_extend():
    ids = [k.id for k in load_definitions(KPIS, replace(Settings()))]
    assert ids[ids.index("maverick_spend_rate") + 1] == "after_the_fact_po_rate"
    after_ppv = ids[ids.index("purchase_price_variance") + 1 :][:2]
    assert after_ppv == ["contract_overcharge", "three_way_match_exceptions"]
