"""The rows behind a figure in the app (issue 16, point 3): a tile's "Rows behind" button and
a scorecard value open the dialog once per click, with the row count and the sum explain
gives, which equal the tile's value; the rows page and sort in the store; a filter change
does not bring the dialog back; a viewer opens it too; a refusal is one sentence.

The demo store (seed 7, scale 0.1) has about 1,300 invoice lines a quarter, enough for
several pages. AppTest cannot click a dataframe cell nor rerun a dialog alone (a fragment),
so the paging and sorting tests draw the dialog's content (`rows_behind`) on a page of
their own, whose widgets rerun it whole; the browser test clicks for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.core.formatting import format_value
from kpi.core.settings import load_settings
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import compute
from kpi.semantic.explain import explain, explain_rows
from kpi.store.database import Store
from tests.app.conftest import CFO, acting
from ui.rows_behind import ASKED, DESCENDING, PAGE, SORT

ROOT = Path(__file__).resolve().parents[2]
VIEWER = "Lee Chen (operations, viewer)"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, demo_copy) -> Path:
    """The demo store, seed 7, scale 0.1 (built once per run, copied)."""
    return demo_copy(0.1, tmp_path_factory.mktemp("rows_behind") / "kpi.duckdb")


@pytest.fixture()
def demo(demo_db, monkeypatch) -> Store:
    """The demo store as the app's store (read only by these tests)."""
    monkeypatch.setenv("KPI_DB", str(demo_db))
    return Store(demo_db, load_settings())


def _kpi(kpi_id: str):
    return next(k for k in load_definitions(None, load_settings()) if k.id == kpi_id)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _overview(who: str = CFO) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=240)
    return _run(acting(at, who))


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _dialog_shown(at: AppTest) -> bool:
    return "Rows" in _metrics(at)  # the row count: a metric only the dialog shows


def _texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


def test_a_tile_opens_the_rows_behind_its_value(demo):
    at = _overview()
    period = at.session_state["_ctx"].period
    assert not _dialog_shown(at)
    next(b for b in at.button if b.key == "ov_rows_total_spend").click()
    _run(at)
    assert _dialog_shown(at)
    assert "Total spend" in [h.value for h in at.subheader]

    e = explain(demo, _kpi("total_spend"), period, (), currency="EUR")
    engine = compute(demo, [_kpi("total_spend")], "quarter", (), None, None, {}, "EUR").frame
    value = engine.filter(engine["period"] == period)["value"][0]
    assert e.value == pytest.approx(value, abs=0.005)  # explain's value is the engine's
    rows = explain_rows(demo, e, 0, e.row_count, currency="EUR")
    assert rows.height == e.row_count > 50
    assert sum(rows["amount"]) == e.numerator  # the rows add up to it, to the cent
    assert float(e.numerator) == pytest.approx(value, abs=0.005)

    metrics = _metrics(at)
    assert metrics["Rows"] == f"{e.row_count:,}"
    assert metrics["Figure"] == format_value(e.value, "currency", "EUR")
    # the tile shows the same value, compact
    assert metrics["Total spend"] == format_value(value, "currency", "EUR", compact=True)
    said = f"**{e.row_count:,} rows** add up to **{format_value(e.numerator, 'currency', 'EUR')}**."
    assert said in _texts(at)
    assert at.dataframe[-1].value.shape[0] == 50  # one page, not every row
    assert ASKED not in at.session_state


def test_the_sidebar_filter_narrows_the_rows_as_it_narrows_the_tile(demo):
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=240)
    at.session_state["f_cat"] = ["IT hardware"]
    _run(acting(at))
    period = at.session_state["_ctx"].period
    next(b for b in at.button if b.key == "ov_rows_total_spend").click()
    _run(at)
    e = explain(demo, _kpi("total_spend"), period, ("category = 'IT hardware'",), currency="EUR")
    everything = explain(demo, _kpi("total_spend"), period, (), currency="EUR")
    assert 0 < e.row_count < everything.row_count
    metrics = _metrics(at)
    assert metrics["Rows"] == f"{e.row_count:,}"
    assert metrics["Total spend"] == format_value(e.value, "currency", "EUR", compact=True)
    assert any("IT hardware" in c.value for c in at.caption)


def test_a_filter_the_kpi_cannot_honour_is_named_not_applied(demo):
    at = AppTest.from_function(
        _rows_page, default_timeout=240, args=("excess_inventory_value", None, ())
    )
    at.session_state["f_cc"] = ["CC-1010"]  # inventory has no cost centre
    _run(at)
    period = at.session_state["_ctx"].period
    e = explain(demo, _kpi("excess_inventory_value"), period, (), currency="EUR")
    assert _metrics(at)["Rows"] == f"{e.row_count:,}"
    assert any("Not narrowed by the cost centre filter" in c.value for c in at.caption)


def test_the_display_currency_is_passed_through(demo):
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=240)
    at.session_state["currency"] = "USD"
    _run(acting(at))
    period = at.session_state["_ctx"].period
    next(b for b in at.button if b.key == "ov_rows_total_spend").click()
    _run(at)
    e = explain(demo, _kpi("total_spend"), period, (), currency="USD")
    euros = explain(demo, _kpi("total_spend"), period, (), currency="EUR")
    assert e.value != euros.value
    metrics = _metrics(at)
    assert metrics["Figure"] == format_value(e.value, "currency", "USD")
    assert metrics["Total spend"] == format_value(e.value, "currency", "USD", compact=True)
    assert any("amounts in **USD**" in c.value for c in at.caption)


def test_a_filter_change_does_not_bring_the_dialog_back(demo):
    at = _overview()
    period = at.session_state["_ctx"].period
    next(b for b in at.button if b.key == "ov_rows_po_compliance").click()
    _run(at)
    assert _dialog_shown(at)
    # a ratio: its numerator over its denominator, equal to the percentage shown
    e = explain(demo, _kpi("po_compliance"), period, (), currency="EUR")
    assert e.denominator is not None and e.reconciles
    assert float(e.numerator) / float(e.denominator) == pytest.approx(e.value, abs=1e-9)
    ratio = [t for t in _texts(at) if t.startswith("Numerator **")]
    assert ratio and ratio[0].endswith(
        f"= **{format_value(e.value, 'percent', 'EUR')}** (over {e.row_count:,} rows)."
    )
    at.session_state["f_cat"] = ["IT"]
    _run(at)
    assert not _dialog_shown(at)
    _run(at)  # a download's or a tab's rerun
    assert not _dialog_shown(at)


def test_a_viewer_opens_the_rows_behind_a_tile(demo):
    at = _overview(VIEWER)
    next(b for b in at.button if b.key == "ov_rows_days_to_pay").click()
    _run(at)
    assert _dialog_shown(at)
    assert "Days to pay" in [h.value for h in at.subheader]
    assert int(_metrics(at)["Rows"].replace(",", "")) > 0


def _rows_page(kpi_id: str, period: str | None, where: tuple[str, ...]) -> None:
    """The dialog's content on a page of its own (widgets rerun it whole)."""
    from ui.context import current
    from ui.rows_behind import rows_behind

    ctx = current()
    kpi = next(k for k in ctx.definitions if k.id == kpi_id)
    rows_behind(kpi, period or ctx.period, where, ctx.currency)


def _content(kpi_id: str = "total_spend", period: str | None = None, where=()) -> AppTest:
    at = AppTest.from_function(_rows_page, default_timeout=240, args=(kpi_id, period, where))
    return _run(at)


def test_page_two_shows_the_next_rows(demo):
    at = _content()
    period = at.session_state["_ctx"].period
    e = explain(demo, _kpi("total_spend"), period, (), currency="EUR")
    first = at.dataframe[-1].value
    at.number_input(key=PAGE).set_value(2)
    _run(at)
    second = at.dataframe[-1].value
    expected = explain_rows(demo, e, 50, 50, currency="EUR")
    assert second.shape[0] == 50
    assert [str(v) for v in second["amount"]] == [str(v) for v in expected["amount"]]
    assert f"page 2 of {-(-e.row_count // 50)}" in " ".join(_texts(at))
    assert not first.equals(second)


def test_sorting_by_amount_descending_puts_the_largest_first(demo):
    at = _content()
    period = at.session_state["_ctx"].period
    e = explain(demo, _kpi("total_spend"), period, (), currency="EUR")
    assert at.toggle(key=DESCENDING).disabled  # no order yet: nothing to reverse
    at.selectbox(key=SORT).set_value("amount")
    _run(at)
    at.toggle(key=DESCENDING).set_value(True)
    _run(at)
    shown = at.dataframe[-1].value
    largest = max(explain_rows(demo, e, 0, e.row_count, currency="EUR")["amount"])
    assert float(shown["amount"].iloc[0]) == pytest.approx(float(largest))
    assert list(shown["amount"]) == sorted(shown["amount"], reverse=True)


def test_a_refused_filter_is_one_sentence(demo):
    at = _content(where=("1; DROP TABLE invoices",))
    assert len(at.error) == 1
    text = at.error[0].value
    assert text.startswith("The rows behind Total spend in ")
    assert text.endswith("change the period or the filters and open them again.")
    assert "\n" not in text and "Traceback" not in text
    assert not _dialog_table(at)


def test_no_rows_says_so_and_what_to_do(demo):
    at = _content(period="FY2019-Q1")
    assert _metrics(at)["Rows"] == "0"
    info = " ".join(i.value for i in at.info)
    assert "No rows behind this figure" in info and "Data" in info
    assert not _dialog_table(at)


def _dialog_table(at: AppTest) -> bool:
    return len(at.dataframe) > 0


def _value_click_app() -> None:
    """A scorecard table and a button standing in for its on_select (AppTest cannot click
    a cell): the button runs the callback the overview gives its table."""
    import streamlit as st

    from ui.definition_dialog import on_pick
    from ui.rows_behind import on_value_pick

    # the scorecard hands over each value as the engine gave it (the dialog checks the rows
    # against it rather than computing it again)
    figures = [("total_spend", "FY2026-Q1", ("category = 'IT'",), 1.0)]
    st.dataframe(
        {"name": ["Total spend"], "Value": ["€1.00"]},
        key="score_spend",
        on_select="rerun",
        selection_mode=["single-row", "single-cell"],
    )
    st.button(
        "click",
        on_click=on_value_pick(
            "score_spend", figures, then=on_pick("score_spend", ["total_spend"])
        ),
    )


@pytest.mark.parametrize(
    ("cells", "rows_asked", "definition_asked"),
    [
        ([[0, "Value"]], True, False),  # a value: the rows behind it
        ([[0, "name"]], False, True),  # the KPI's name: its definition, as before
    ],
)
def test_a_value_cell_asks_for_its_rows_and_a_name_for_the_definition(
    store, cells, rows_asked, definition_asked
):
    from ui.definition_dialog import ASKED as DEFINITION_ASKED

    at = AppTest.from_function(_value_click_app, default_timeout=60)
    at.session_state["score_spend"] = {"selection": {"rows": [], "columns": [], "cells": cells}}
    _run(at)
    at.button[0].click()
    _run(at)
    assert (ASKED in at.session_state) == rows_asked
    assert (DEFINITION_ASKED in at.session_state) == definition_asked
    if rows_asked:
        assert at.session_state[ASKED] == (
            "total_spend",
            "FY2026-Q1",
            ("category = 'IT'",),
            "score_spend",
            1.0,
        )
