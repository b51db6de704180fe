"""The supplier scorecard, concentration and history on tests/spend_fixture.py, by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from kpi.analyses import suppliers as su
from kpi.core.scope import Scope
from kpi.reporting import charts_spend as spend_charts
from tests import spend_fixture

H1 = (date(2026, 1, 1), date(2026, 6, 30))
H1_SCOPE = Scope.of(*H1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return spend_fixture.build(tmp_path_factory.mktemp("suppliers") / "kpi.duckdb")


@pytest.fixture(scope="module")
def card(store):
    return {r["supplier_id"]: r for r in su.scorecard(store, H1_SCOPE).iter_rows(named=True)}


def test_spend_and_share(store, card):
    # Beta 250 + 300 + 600 = 1,150; Gamma 950; Alpha 210 + 200 = 410; of 2,510
    assert su.scorecard(store, H1_SCOPE)["supplier_id"].to_list() == ["B", "C", "A"]
    assert {k: r["spend"] for k, r in card.items()} == {
        "A": D("410.00"),
        "B": D("1150.00"),
        "C": D("950.00"),
    }
    assert card["B"]["spend_share"] == pytest.approx(1150 / 2510)
    # Alpha: INV1 210 on K1 of its 410; Gamma all on K2
    assert card["A"]["on_contract_share"] == pytest.approx(210 / 410)
    assert card["C"]["on_contract_share"] == 1.0


def test_on_time_delivery_from_goods_receipts(card):
    # Alpha: PO1 received 01-10 (promised 01-12), PO4/1 04-07 (promised 04-08): 2 of 2;
    # PO4/2 not received yet does not count
    assert (card["A"]["received_lines"], card["A"]["on_time_lines"]) == (2, 2)
    # on time in full (supplier_otd, issue 14): PO4/2, promised in April and not received by
    # the last data day, counts as late: 2 of 3
    assert card["A"]["on_time_delivery"] == 2 / 3
    # Beta: PO2 received 02-09, promised 02-08: late. Gamma: PO3 03-04 against 03-01: late
    assert card["B"]["on_time_delivery"] == 0.0
    assert card["C"]["on_time_delivery"] == 0.0


def test_price_variance_and_invoices_without_po(card):
    # Alpha INV1 (2.10 - 2.00) x 100 = 10.00; Gamma INV4 (950 - 900) x 1 = 50.00
    assert (card["A"]["price_variance"], card["C"]["price_variance"]) == (
        D("10.00"),
        D("50.00"),
    )
    # Beta: INV3 300 and INV6 600 had no PO
    assert (card["B"]["invoices_without_po"], card["B"]["spend_without_po"]) == (2, D("900.00"))
    assert card["A"]["invoices_without_po"] == 0


def test_our_payment_punctuality_and_terms(card):
    # Alpha: INV1 210.00 paid 02-10, due 02-14 (on time, 26 days); INV5 200.00 paid 05-20,
    # due 05-10 (late, 40 days): 1 of 2 lines on time; terms 30, 2 % in 10 days. We paid on
    # time and days to pay are the KPIs on_time_payment_rate and days_to_pay (by amount, by
    # paid date): 210 / 410 = 0.5122 on time; (210 x 26 + 200 x 40) / 410 = 13,460 / 410
    a = card["A"]
    assert (a["paid_lines"], a["paid_on_time_lines"]) == (2, 1)
    assert a["we_paid_on_time"] == pytest.approx(210 / 410, abs=1e-12)
    assert a["avg_days_to_pay"] == pytest.approx(13460 / 410, abs=1e-12)
    assert (a["payment_terms_days"], a["discount_pct"], a["discount_days"]) == (30, 2, 10)
    # Beta: INV2 250.00 paid 69 days after its invoice, 9 days late; INV3 300.00 in 9 days;
    # INV6 unpaid: 300 / 550 on time; (250 x 69 + 300 x 9) / 550 = 19,950 / 550 days
    assert card["B"]["we_paid_on_time"] == pytest.approx(300 / 550, abs=1e-12)
    assert card["B"]["avg_days_to_pay"] == pytest.approx(19950 / 550, abs=1e-12)
    # Gamma: INV4 is unpaid: no punctuality to show
    assert card["C"]["paid_lines"] == 0 and card["C"]["we_paid_on_time"] is None


def test_scorecard_follows_the_filters(store):
    only = su.scorecard(store, Scope.of(*H1, {"cost_centre": ["CC-M"]}))
    # CC-M bought only Beta's flyers: 900.00, 100 % of the filtered spend
    assert only.select("supplier_id", "spend", "spend_share").rows() == [("B", D("900.00"), 1.0)]


def test_concentration_per_category(store):
    conc = {r["category"]: r for r in su.concentration(store, H1_SCOPE).iter_rows(named=True)}
    pack = conc["Packaging"]
    # Alpha 410 and Beta 250 of 660: HHI = 62.12² + 37.88² = 10,000 x (410² + 250²) / 660²
    assert pack["herfindahl"] == pytest.approx(10_000 * (410**2 + 250**2) / 660**2)
    assert pack["herfindahl"] == pytest.approx(5293.85, abs=0.01)
    assert (pack["top_supplier"], pack["suppliers"]) == ("Alpha Pack", 2)
    assert pack["top_supplier_share"] == pytest.approx(410 / 660)
    assert (pack["single_source"], pack["level"]) == (False, "high")
    # Marketing (Beta) and IT (Gamma) have one supplier each: single source, HHI 10,000
    assert conc["Marketing"]["single_source"] and conc["IT"]["single_source"]
    assert conc["IT"]["herfindahl"] == pytest.approx(10_000)


def test_supplier_history(store):
    h = su.supplier_history(store, H1_SCOPE, "A")
    assert h["monthly"].select("month", "amount", "price_variance").rows() == [
        ("2026-01", D("210.00"), D("10.00")),
        # April's INV5 (P2) has no contract price: the KPI purchase_price_variance has no
        # line to sum, so no variance (not 0.00, which would claim the price was honoured)
        ("2026-04", D("200.00"), None),
    ]
    items = {r["item_id"]: r for r in h["items"].iter_rows(named=True)}
    assert items["P1"]["contract_unit_price"] == D("2.0000")
    assert items["P2"]["contract_unit_price"] is None
    # deliveries by month promised: January PO1 on time; April PO4/1 on time and PO4/2,
    # promised in April and not received by the last data day, late (on time in full): 1 of 2
    assert h["deliveries"].select("month", "received_lines", "on_time_delivery").rows() == [
        ("2026-01", 1, 1.0),
        ("2026-04", 1, 0.5),
    ]
    # Beta's February delivery was a day late
    late = su.supplier_history(store, H1_SCOPE, "B")["deliveries"]
    assert late.select("month", "avg_days_late").rows()[0] == ("2026-02", 1.0)


def test_charts_draw_from_the_frames(store):
    conc = su.concentration(store, H1_SCOPE)
    fig = spend_charts.concentration_chart(conc)
    assert {t.name for t in fig.data} == {"High concentration"}
    h = su.supplier_history(store, H1_SCOPE, "A")
    fig = spend_charts.history_chart(h["monthly"], h["deliveries"], "Alpha Pack", "EUR")
    assert [t.name for t in fig.data] == [
        "Spend with PO",
        "Spend without PO",
        "On-time delivery (%)",
    ]
    assert list(fig.data[0].y) == [210.0, 200.0]
