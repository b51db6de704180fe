"""The pages' main figures open the rows behind them (issue 16, point 3): a spend box and
table row, a budget line, a supplier's scorecard row, an initiative's realised savings, a
terms segment and an inventory class each ask the dialog for the right KPI, period and
filters, and the dialog's figure equals the number on the page (on the demo store).

AppTest cannot click a table row: a test sets the selection a click leaves (as
tests/app/test_app_dialog.py does) and runs the page. What was asked is recorded by
wrapping the request function; the figure is checked against explain's value and the
dialog's "Figure" metric, and that against the page's own cell or box.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.core.formatting import format_value
from kpi.core.settings import load_settings
from kpi.semantic.definitions import load_definitions
from kpi.semantic.explain import ENGINE, explain
from kpi.store.database import Store

ROOT = Path(__file__).resolve().parents[2]
# the sidebar's range: two quarters, so the pages' figures cover a range of dates, not one period
RANGE = ("FY2026-Q1", "FY2026-Q2")
PERIOD = "2026-01-01..2026-06-30"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, demo_copy) -> Path:
    """The demo store, seed 7, scale 0.1 (built once per run, copied)."""
    return demo_copy(0.1, tmp_path_factory.mktemp("figure_rows") / "kpi.duckdb")


@pytest.fixture()
def demo(demo_db, monkeypatch) -> Store:
    """The demo store as the app's store (read only by these tests)."""
    monkeypatch.setenv("KPI_DB", str(demo_db))
    return Store(demo_db, load_settings())


@pytest.fixture()
def asked(monkeypatch) -> list[tuple]:
    """Every (kpi id, period, where) a page asks the dialog for, in order."""
    import ui.figure_rows
    import ui.rows_behind

    calls: list[tuple] = []
    real = ui.rows_behind.request_rows_behind

    def record(kpi_id, period, where=(), table=None, value=ENGINE):
        calls.append((kpi_id, period, tuple(where)))
        real(kpi_id, period, where, table, value)

    monkeypatch.setattr(ui.rows_behind, "request_rows_behind", record)
    monkeypatch.setattr(ui.figure_rows, "request_rows_behind", record)
    return calls


def _kpi(kpi_id: str):
    return next(k for k in load_definitions(None, load_settings()) if k.id == kpi_id)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page(name: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=240)
    at.session_state["periods"] = RANGE
    for key, value in state.items():
        at.session_state[key] = value
    return _run(at)


def _select(at: AppTest, table: str, row: int = 0) -> AppTest:
    at.session_state[table] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return _run(at)


def _table(at: AppTest, *columns: str):
    """The first table on the page holding these columns (a pandas frame)."""
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _shown(demo: Store, at: AppTest, asked: list, want: tuple) -> object:
    """The dialog is open for `want` (kpi, period, where); its figure is explain's value,
    which is returned for the comparison with the page."""
    assert asked[-1] == want
    kpi_id, period, where = want
    assert "Rows" in _metrics(at)  # a metric only the dialog shows
    e = explain(demo, _kpi(kpi_id), period, where, currency="EUR")
    assert e.row_count > 0
    assert _metrics(at)["Figure"] == format_value(e.value, e.unit, "EUR")
    return e.value


def test_a_spend_drill_down_row_and_the_spend_box(demo, asked):
    at = _page("spend")
    level = _table(at, "category", "amount", "share")
    category, amount = level["category"][0], Decimal(str(level["amount"][0]))
    _select(at, "drill_All spend")
    value = _shown(demo, at, asked, ("total_spend", PERIOD, (f"category = '{category}'",)))
    assert Decimal(str(value)).quantize(Decimal("0.01")) == amount

    # the box above the table: all spend in the drill-down's scope
    at = _page("spend", drill_category=category)
    next(b for b in at.button if b.key == "rows_scope").click()
    _run(at)
    value = _shown(demo, at, asked, ("total_spend", PERIOD, (f"category = '{category}'",)))
    assert _metrics(at)["Spend in scope"] == format_value(value, "currency", "EUR")


def test_a_cost_centre_row_opens_its_spend(demo, asked):
    at = _page("spend")
    totals = _table(at, "cost_centre", "cost_centre_name", "amount")
    code, amount = totals["cost_centre"][0], Decimal(str(totals["amount"][0]))
    _select(at, "by_cc_All spend")
    value = _shown(demo, at, asked, ("total_spend", PERIOD, (f"cost_centre = '{code}'",)))
    assert Decimal(str(value)).quantize(Decimal("0.01")) == amount


def test_a_budget_line_opens_its_utilisation_to_date_and_committed(demo, asked):
    at = _page("spend")
    status = _table(at, "status", "cost_centre", "used_to_date", "committed_utilisation")
    line = status.iloc[0]
    _select(at, "budget_FY2026_cost_centre")
    cc = line["cost_centre"]
    where = (f"cost_centre = '{cc}'",)
    next(b for b in at.button if b.key == f"budget_rows_{cc}_budget_utilisation").click()
    _run(at)
    to_date = asked[-1][1]
    assert to_date.startswith("2026-01-01..")  # the year's months up to the latest invoice's
    value = _shown(demo, at, asked, ("budget_utilisation", to_date, where))
    assert value == pytest.approx(line["used_to_date"], abs=1e-9)

    next(b for b in at.button if b.key == f"budget_rows_{cc}_committed_budget_utilisation").click()
    _run(at)
    value = _shown(demo, at, asked, ("committed_budget_utilisation", "FY2026", where))
    assert value == pytest.approx(line["committed_utilisation"], abs=1e-9)


def test_a_supplier_row_opens_its_spend_and_its_kpis(demo, asked):
    at = _page("suppliers")
    card = _table(at, "supplier_id", "supplier", "spend", "on_time_delivery")
    row = card.iloc[0]
    sid, name = row["supplier_id"], row["supplier"]
    _select(at, "scorecard")
    next(b for b in at.button if b.key == f"sup_rows_{sid}_total_spend").click()
    _run(at)
    value = _shown(demo, at, asked, ("total_spend", PERIOD, (f"supplier_id = '{sid}'",)))
    assert Decimal(str(value)).quantize(Decimal("0.01")) == Decimal(str(row["spend"]))

    quoted = name.replace("'", "''")
    for kpi_id, column in (
        ("supplier_otd", "on_time_delivery"),
        ("days_to_pay", "avg_days_to_pay"),
    ):
        next(b for b in at.button if b.key == f"sup_rows_{sid}_{kpi_id}").click()
        _run(at)
        value = _shown(demo, at, asked, (kpi_id, PERIOD, (f"supplier = '{quoted}'",)))
        assert value == pytest.approx(row[column], abs=1e-9)


def test_an_initiative_row_opens_its_realised_savings(demo, asked):
    at = _page("savings", savings_tab="Realised vs expected")
    per = _table(at, "initiative_id", "realised_saving", "expected_saving")
    initiative, realised = per["initiative_id"][0], Decimal(str(per["realised_saving"][0]))
    assert realised > 0
    _select(at, "realised_initiatives")
    # only its invoice lines, as the page sums them (not the months' expected savings)
    where = (f"initiative_id = '{initiative}'", "NOT invoice_id IS NULL")
    want = ("savings_realised", PERIOD, where)
    value = _shown(demo, at, asked, want)
    assert Decimal(str(value)).quantize(Decimal("0.01")) == realised


def test_a_terms_segment_opens_its_days_to_pay(demo, asked):
    at = _page("terms")
    seg = _table(at, "segment", "suppliers", "paid_amount", "days_to_pay")
    shown, days = seg["segment"][0], seg["days_to_pay"][0]
    _select(at, "terms_segment_supplier_size")
    code = {"SME": "sme", "Large": "large"}[shown]  # the page shows the words, not the codes
    value = _shown(demo, at, asked, ("days_to_pay", PERIOD, (f"supplier_size = '{code}'",)))
    assert round(value, 1) == pytest.approx(days)  # the page shows one decimal


@pytest.mark.parametrize(
    ("column", "label", "kpi_id"),
    [
        ("excess", "Excess (above max)", "excess_inventory_value"),
        ("safety", "Safety stock", "safety_stock_value"),
        ("obsolete", "Obsolete", "obsolete_stock_value"),
    ],
)
def test_an_inventory_class_opens_its_stock_rows(demo, asked, column, label, kpi_id):
    at = _page("inventory")
    snapshot = [s.value for s in at.subheader if s.value.startswith("Stock on ")][0]
    month = snapshot.removeprefix("Stock on ")[:7]  # the last snapshot's month
    boxed = _metrics(at)[label]
    next(b for b in at.button if b.key == f"inv_rows_{column}").click()
    _run(at)
    value = _shown(demo, at, asked, (kpi_id, month, ()))
    assert format_value(value, "currency", "EUR", True) == boxed
    classes = _table(at, "period", "safety", "excess", "obsolete")
    last = classes.sort_values("period").iloc[-1]
    assert value == pytest.approx(float(last[column]), abs=0.005)  # to the cent


@pytest.mark.parametrize(
    ("key", "kpi_id", "label", "unit"),
    [
        (
            "terms_rows_late_sme",
            "late_payment_rate_sme",
            "Share of SME amount paid late",
            "percent",
        ),
        ("terms_rows_early", "early_payment_without_discount", "Paid early without discount", None),
    ],
)
def test_a_terms_box_opens_its_kpi_rows(demo, asked, key, kpi_id, label, unit):
    at = _page("terms")
    boxed = _metrics(at)[label]
    next(b for b in at.button if b.key == key).click()
    _run(at)
    value = _shown(demo, at, asked, (kpi_id, PERIOD, ()))
    shown = format_value(value, "percent") if unit else format_value(value, "currency", "EUR", True)
    assert shown == boxed
