"""The Data page under AppTest on the hand fixture: which tables a person is offered to load,
what an upload of initiatives says about finance's verdict, and what the load list shows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.analyses.data_status import store_summary
from kpi.core.settings import lake_path
from kpi.store.database import Store
from kpi.store.schema import TABLES
from kpi.workflows.initiatives import get_initiative
from ui.widgets import literal  # the page escapes the file's name and values: shown as typed

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "data.py")
FINANCE = "Sam Okafor (finance, member)"
PROCUREMENT = "Jonas Berg (procurement, member)"
INITIATIVE = (
    "initiative_id,title,kind,category,supplier_id,item_id,baseline_unit_price,"
    "negotiated_unit_price,expected_volume,currency,finance_status\n"
    "SI-2026-0100,Seal re-source,price_reduction,MRO spares,S1,I3,120.00,105.00,40,EUR,accepted\n"
)


def page(acting_as: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["acting_as"] = acting_as
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_finance_is_offered_the_tables_it_may_load_and_told_why_not_the_others(store):
    at = page(FINANCE)
    offered = at.selectbox(key="up_table").options
    procurement_only = {"price_outlook", "savings_initiatives"}
    assert {o.split(" — ")[0] for o in offered} == set(TABLES) - procurement_only
    captions = [c.value for c in at.caption if c.value.startswith("Not offered:")]
    assert captions == [
        f"Not offered: Sam Okafor (finance, member) may not load {t}: only procurement "
        "members and the CFO may; ask one of them to load the file."
        for t in ("savings_initiatives", "price_outlook")
    ]


def test_procurement_uploads_initiatives_the_verdict_is_ignored_and_the_file_listed(store):
    at = page(PROCUREMENT)
    assert len(at.selectbox(key="up_table").options) == len(TABLES)
    at.selectbox(key="up_table").set_value("savings_initiatives").run()
    at.file_uploader(key="up_file").upload("June initiatives.csv", INITIATIVE.encode(), "text/csv")
    at.run()
    at.button(key="up_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [w.value for w in at.warning] == [
        literal(
            "June initiatives.csv: finance_status ignored for 1 row: finance gives verdicts on "
            "the Savings page"
        )
    ]
    assert get_initiative(store, "SI-2026-0100").finance_status == "pending"
    at.run()  # the load list, read again
    loads = at.dataframe[1].value  # freshness first, then the loads
    row = loads.iloc[0]
    assert (row["file_name"], row["loaded_by_name"], row["identity_mode"]) == (
        "June initiatives.csv",
        "Jonas Berg",
        "local",
    )
    assert len(row["short_hash"]) == 12 and row["content_hash"].startswith(row["short_hash"])


# ---- what an upload says (issue 15, point 4) ------------------------------------------------

VIEWER = "Lee Chen (operations, viewer)"
# two good invoice lines and one with 30 February (the third data row, line 4 of the file)
INVOICES = (
    "invoice_id,invoice_line,supplier_id,invoice_date,due_date,item_id,quantity,unit_price,"
    "amount,currency\n"
    "N-1,1,S1,2026-05-02,2026-06-01,I1,10,10.00,100.00,EUR\n"
    "N-2,1,S1,2026-05-30,2026-06-29,I1,5,10.00,50.00,EUR\n"
    "N-3,1,S1,2026-02-30,2026-04-01,I1,1,10.00,10.00,EUR\n"
)
REASON = "row 3 (line 4): invoice_date '2026-02-30' is not a date (expected YYYY-MM-DD)"


def upload(at: AppTest, table: str, name: str, content: str) -> AppTest:
    at.selectbox(key="up_table").set_value(table).run()
    at.file_uploader(key="up_file").upload(name, content.encode(), "text/csv")
    at.run()
    at.button(key="up_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_corrected_file_says_how_many_rows_it_replaced(store):
    """The same two invoice lines uploaded again with a corrected amount: both replace the
    lines already there (same invoice and line), and the message says so."""
    at = page(FINANCE)
    upload(at, "invoices", "invoices_2026-11.csv", INVOICES)
    corrected = INVOICES.replace("I1,5,10.00,50.00,EUR", "I1,5,10.00,55.00,EUR")
    assert corrected != INVOICES
    upload(at, "invoices", "invoices_2026-11b.csv", corrected)
    assert [w.value for w in at.tabs[2].warning][0].startswith(
        literal("invoices_2026-11b.csv") + ": 2 rows loaded into invoices (2 of them replacing "
        "rows already there with the same key), 1 rejected."
    )
    with store.read() as con:
        amounts = con.execute(
            "SELECT invoice_id, amount FROM invoices WHERE invoice_id IN ('N-1', 'N-2') ORDER BY 1"
        ).fetchall()
    assert [(i, str(a)) for i, a in amounts] == [("N-1", "100.00"), ("N-2", "55.00")]


def test_an_upload_with_a_bad_row_shows_the_reject_its_reason_and_the_files_own_name(store):
    at = page(FINANCE)
    assert [i.value for i in at.tabs[1].info] == [
        "**No loads yet.** Rejected rows appear here after a load."
    ]
    upload(at, "invoices", "invoices_2026-11.csv", INVOICES)
    assert not at.error, [e.value for e in at.error]
    result = at.tabs[2]
    assert [w.value for w in result.warning] == [
        literal("invoices_2026-11.csv") + ": 2 rows loaded into invoices, 1 rejected. The "
        "rejected rows are "
        "below with their reasons; correct them in the file and load it again (rows with the "
        "same key are replaced)."
    ]
    (shown,) = [d.value for d in result.dataframe]
    assert shown.to_dict("records") == [
        {
            "load_id": 1,  # the hand fixture is built without load records
            "table_name": "invoices",
            "file_name": "invoices_2026-11.csv",
            "row_number": 3,
            "columns": "invoice_date",
            "reason": REASON,
            "values": "invoice_id: N-3 · invoice_line: 1 · supplier_id: S1 · invoice_date: "
            "2026-02-30 · due_date: 2026-04-01 · item_id: I1 · quantity: 1 · unit_price: "
            "10.00 · amount: 10.00 · currency: EUR",
        }
    ]
    # the same run, no reload: the load list and the Rejected rows tab already hold the load
    loads = at.tabs[0].dataframe[1].value
    newest = loads.iloc[0]
    assert (newest["file_name"], newest["source"], newest["loaded_by_name"]) == (
        "invoices_2026-11.csv",
        "invoices_2026-11.csv",
        "Sam Okafor",
    )
    assert (newest["rows_in"], newest["rows_loaded"], newest["rows_rejected"]) == (3, 2, 1)
    assert [r["reason"] for r in at.tabs[1].dataframe[0].value.to_dict("records")] == [REASON]
    assert (
        "#1 invoices_2026-11.csv into invoices (1 rejected)"
        in at.selectbox(key="reject_load").options
    )
    at.run()  # any later rerun: the result stays in view
    assert [w.value for w in at.tabs[2].warning][0].startswith(
        literal("invoices_2026-11.csv") + ": 2 rows"
    )


def test_the_rejected_rows_view_follows_each_load_of_the_session(store):
    at = page(FINANCE)
    upload(at, "invoices", "invoices_2026-11.csv", INVOICES)
    assert len(at.tabs[1].dataframe[0].value) == 1
    second = INVOICES.replace("N-", "M-").replace("2026-05-02", "2026-05-32")
    upload(at, "invoices", "invoices_2026-12.csv", second)
    rejected = at.tabs[1].dataframe[0].value  # all loads, newest first
    assert list(zip(rejected["file_name"], rejected["row_number"], strict=True)) == [
        ("invoices_2026-12.csv", 1),
        ("invoices_2026-12.csv", 3),
        ("invoices_2026-11.csv", 3),
    ]
    assert rejected["reason"][0] == (
        "row 1 (line 2): invoice_date '2026-05-32' is not a date (expected YYYY-MM-DD)"
    )
    assert at.tabs[0].dataframe[1].value["file_name"].tolist()[:2] == [
        "invoices_2026-12.csv",
        "invoices_2026-11.csv",
    ]


def test_a_file_refused_whole_is_named_as_uploaded_with_the_line_and_column(store):
    at = page(FINANCE)
    upload(at, "invoices", "invoices_short.csv", "invoice_id,supplier_id\nN-1,S1\n")
    assert [e.value for e in at.error] == [
        literal(
            "Refused, nothing was loaded: invoices_short.csv, header (line 1): missing "
            "required columns invoice_date, amount, currency; columns found: 'invoice_id', "
            "'supplier_id'"
        )
    ]
    assert "**No loads yet.**" in at.tabs[0].info[0].value  # nothing of the file landed
    assert "/tmp" not in at.error[0].value


def test_a_viewer_sees_the_upload_form_disabled_with_the_reason(store):
    at = page(VIEWER)
    assert [i.value for i in at.tabs[2].info] == [
        "Lee Chen (operations, viewer) may not load data: finance and procurement members "
        "and the CFO load files (the price outlook and savings initiatives: procurement "
        "members and the CFO). Ask one of them to load the file."
    ]
    assert at.selectbox(key="up_table").disabled
    assert at.selectbox(key="up_mapping").disabled
    assert at.button(key="up_go").disabled
    assert at.file_uploader(key="up_file").proto.disabled


def test_nobody_chosen_is_told_to_choose_who_acts(store):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.tabs[2].info] == [
        'Nobody is chosen: choose who you act as ("Acting as") in the sidebar to load a '
        "file; finance and procurement members and the CFO may."
    ]
    assert at.button(key="up_go").disabled


def test_the_page_says_which_store_it_reads_and_which_engine_computes(store):
    size = store.path.stat().st_size / 1e6
    line = f"Read from the store file {store.path} ({size:,.1f} MB); figures computed by DuckDB."
    assert line in [c.value for c in page(VIEWER).caption]
    on_spark = Store(store.path, replace(store.settings, engine="spark", spark="sc://sp:15002"))
    lake = lake_path(on_spark.settings)
    assert store_summary(on_spark) == line.replace(
        "DuckDB.", f"Spark (sc://sp:15002) from the lake {lake}, every one live."
    )


def _sums(at: AppTest) -> str:
    """The Pre-computed sums section's sentence (the markdown under its heading)."""
    heads = ("**Up to date with the data**", "**Not used now**")
    said = [m.value for m in at.tabs[0].markdown if m.value.startswith(heads)]
    assert len(said) == 1, [m.value for m in at.tabs[0].markdown]
    return said[0]


def test_the_pre_computed_sums_say_whether_they_are_read_and_what_they_hold(store, monkeypatch):
    """Switched off (the tests' default); on but not built yet; built (up to date, with a
    table of what each holds: its rows are the table's own count); the data written since
    without a refresh (not read, the figures computed from the transactions); off again."""
    from kpi.semantic import rollups

    assert "switched off for this app" in _sums(page(VIEWER))  # the tests' default: off
    monkeypatch.setenv(rollups.ENV, "on")
    assert "they are not built yet" in _sums(page(VIEWER))
    assert rollups.refresh(store) is not None
    at = page(VIEWER)
    said = _sums(at)
    assert said.startswith("**Up to date with the data**: figures are read from the pre-computed")
    assert "Last table built" in said and "MB beside a store of" in said
    [box] = [e for e in at.tabs[0].expander if e.label == "What the sums hold"]
    [held] = box.dataframe
    shown = dict(
        zip(
            (f"{v}|{c}|{g}" for v, c, g in held.value[["view", "by_month_of", "grain"]].values),
            held.value["rows"].tolist(),
            strict=True,
        )
    )
    with store.read() as con:
        counted = con.execute("SELECT count(*) FROM rollups.r_spend__invoice_date__any").fetchall()
    assert shown["spend|invoice_date|any"] == counted[0][0] > 0
    assert len(shown) == len(rollups.plan(rollups._definitions(store.settings), store.settings))

    with rollups.paused(), store.write() as con:  # a write the sums have not seen
        con.execute("UPDATE fx_rates SET rate = rate + 0.01 WHERE rate IS NOT NULL")
    said = _sums(page(VIEWER))
    assert said.startswith("**Not used now**: the data changed since they were brought up")
    assert "Every figure is computed from the transactions meanwhile" in said

    monkeypatch.setenv(rollups.ENV, "off")
    assert "switched off for this app (`KPI_ROLLUPS=off`)" in _sums(page(VIEWER))


def test_sums_that_cannot_be_read_are_a_warning_not_a_traceback(store, monkeypatch):
    import duckdb

    from kpi.semantic import rollups

    def broken(_store: Store) -> None:
        raise duckdb.IOException("IO Error: Could not read enough bytes")

    monkeypatch.setattr(rollups, "status", broken)
    at = page(VIEWER)
    assert [w.value for w in at.tabs[0].warning] == [
        "The pre-computed sums cannot be read: IO Error: Could not read enough bytes"
    ]
    assert [s.value for s in at.tabs[0].subheader][-1] == "Loads"  # the page goes on
