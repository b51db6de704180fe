"""The Data page under AppTest on the hand fixture: which tables a person is offered to load,
what an upload of initiatives says about finance's verdict, and what the load list shows."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.store.schema import TABLES
from kpi.workflows.initiatives import get_initiative

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
        "June initiatives.csv: finance_status ignored for 1 row: finance gives verdicts on "
        "the Savings page"
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
