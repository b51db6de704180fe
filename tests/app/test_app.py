"""Every page under Streamlit's AppTest, on the hand-computed fixture store."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.store.database import Store
from tests.app.conftest import acting

ROOT = Path(__file__).resolve().parents[2]


def run_page(page: str = "app.py", **state) -> AppTest:
    """One run of a page (or of app.py) with widget values set beforehand.

    Streamlit's AppTest re-runs only the page script after the first run of an app that
    uses st.navigation, so each test sets its widgets' values before a single run; pages
    draw the shared sidebar themselves when app.py did not run.
    """
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _cells(at: AppTest) -> list[str]:
    return [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]


def test_overview_shows_the_scorecard(store):
    at = run_page()
    assert [t.value for t in at.title] == ["CFO overview"]
    cells = _cells(at)
    # FY2026-Q1 is the latest complete quarter of the fixture: €2,550.00 spend, 64.7 % PO.
    assert "€2,550.00" in cells and "64.7 %" in cells
    assert "Total spend" in cells and "Days to pay" in cells
    assert not at.error


def test_overview_filters_narrow_every_kpi(store):
    at = run_page("pages/overview.py", f_cc=["CC2"])
    cells = _cells(at)
    assert "€900.00" in cells  # only INV2 (1000 USD x 0.9) is on CC2 in Q1
    assert "€2,550.00" not in cells


def test_overview_charts_say_which_filters_they_ignore(store):
    def notes(at: AppTest) -> list[str]:
        return [c.value for c in at.caption if "not apply to this chart" in c.value]

    assert notes(run_page("pages/overview.py")) == []
    # stock has no cost centre: the inventory chart says it is not narrowed by one
    filtered = notes(run_page("pages/overview.py", f_cc=["CC2"]))
    assert any("The cost centre filter does not apply to this chart" in n for n in filtered)


def test_overview_in_another_reporting_currency(store):
    at = run_page("pages/overview.py", currency="USD")
    cells = _cells(at)
    # FY2026-Q1 total spend in dollars: the euro lines converted at 0.9 EUR per USD, each
    # to the cent (1,050 / 0.9 = 1,166.67; 100 / 0.9 = 111.11; 500 / 0.9 = 555.56), plus
    # INV2's 1,000.00 USD as it is: $2,833.34. The euro figure is gone.
    assert "$2,833.34" in cells
    assert "€2,550.00" not in cells and not any("€" in c for c in cells)
    assert any("amounts in **USD**" in c.value for c in at.caption)


def test_overview_marks_kpis_not_agreed(store):
    at = run_page()
    assert any("Not yet agreed" in w.value for w in at.warning)


def test_overview_on_an_empty_store_says_what_to_do(tmp_path, monkeypatch):
    store = Store(tmp_path / "empty.duckdb")
    store.initialise()
    monkeypatch.setenv("KPI_DB", str(store.path))
    at = run_page()
    assert any("No spend in the store" in i.value for i in at.info)


def test_broken_definitions_show_the_line_and_keep_the_app_up(store, tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("KPI_CONFIG", str(config))
    text = (config / "kpis.yaml").read_text()
    (config / "kpis.yaml").write_text(
        text.replace("formula: sum(amount)\n", "formula: sum(amount\n", 1)
    )
    at = run_page()
    assert any("kpis.yaml" in e.value and "formula" in e.value for e in at.error)


def test_data_page_lists_tables_and_loads(store):
    at = run_page("pages/data.py")
    assert [t.value for t in at.title] == ["Data"]
    cells = _cells(at)
    assert "invoices" in cells and "fx_rates" in cells


def test_data_page_upload_loads_a_file(store, tmp_path):
    csv = "date,currency,rate\n2026-05-01,USD,0.85\n2026-05-02,USD,bad\n"
    at = acting(AppTest.from_file(str(ROOT / "pages/data.py"), default_timeout=120))
    at.session_state["up_table"] = "fx_rates"
    at.run()
    at.file_uploader(key="up_file").upload("rates.csv", csv.encode(), "text/csv")
    at.run()
    at.button(key="up_go").click().run()
    assert not at.exception
    # issue 15: the result says what happened, the rejected row among it (was "Loaded")
    assert [w.value for w in at.warning][0].startswith(
        "rates\\.csv: 1 row loaded into fx_rates, 1 rejected."  # the name escaped, as typed
    ), [e.value for e in at.error]
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 1


def test_data_page_upload_is_not_offered_to_viewers(store):
    """A viewer is told why and sees the form disabled (issue 15: shown, not hidden; the
    library refuses them anyway: tests/trust/test_hostile.py)."""
    at = AppTest.from_file(str(ROOT / "pages/data.py"), default_timeout=120)
    at.session_state["acting_as"] = "Lee Chen (operations, viewer)"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(
        i.value.startswith("Lee Chen (operations, viewer) may not load data") for i in at.info
    ), [i.value for i in at.info]
    assert at.selectbox(key="up_table").disabled
    assert at.file_uploader(key="up_file").proto.disabled
    assert at.button(key="up_go").disabled
