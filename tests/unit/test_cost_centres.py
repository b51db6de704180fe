"""The cost_centres reference table: loaded like the other master tables (code unique, name
required), filled by the demo for every code it uses, and its names beside the codes in the
spend analyses; a code it lacks is a warning in the load's report, never a rejected row.

Runs on tests/hand_fixture.py, whose invoices, orders and budgets use CC1 and CC2 (no
cost_centres rows): FY2026 budgets CC1 Packaging 1,000.00 (Jan) + 600.00 (Mar) = 1,600.00,
CC2 IT hardware 1,000.00 (Feb).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpi.analyses import cost_centres as cc
from kpi.analyses import spend as sp
from kpi.core.people import Person
from kpi.core.permissions import load_refusal, may_load
from kpi.core.scope import Scope
from kpi.demo.build import build_demo
from kpi.demo.reference import COST_CENTRES
from kpi.ingest.pipelines import LoadRefused, load_files
from kpi.store.database import Store
from kpi.store.query import run
from kpi.store.schema import TABLES
from tests import hand_fixture

HEADER = "cost_centre,cost_centre_name,owner,department\n"
GOOD = HEADER + (
    "CC1,Packaging Line,lena.hoffmann@example.org,Operations\n"
    "CC2,IT Services,sophie.martin@example.org,Administration\n"
)
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
FY2026 = Scope.of(None, None, {}, "EUR")


@pytest.fixture()
def store(tmp_path) -> Store:
    return hand_fixture.build(tmp_path / "kpi.duckdb")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rejects(store: Store) -> list[tuple[int, str]]:
    frame = run(store, "SELECT row_number, reason FROM rejects ORDER BY row_number")
    return list(frame.iter_rows())


# ---- the table and its loads ----------------------------------------------------------------
def test_the_table_is_canonical_with_a_unique_code_and_a_required_name():
    table = TABLES["cost_centres"]
    assert table.column_names == ["cost_centre", "cost_centre_name", "owner", "department"]
    assert table.key == ("cost_centre",)
    assert table.required_columns == ["cost_centre", "cost_centre_name"]


def test_a_good_file_loads_and_names_the_codes(store, tmp_path):
    report = load_files(store, "cost_centres", [write(tmp_path / "cc.csv", GOOD)])
    assert (report.rows_in, report.rows_loaded, report.rows_rejected) == (2, 2, 0)
    assert cc.cost_centre_names(store) == {"CC1": "Packaging Line", "CC2": "IT Services"}
    owners = run(store, "SELECT owner, department FROM cost_centres ORDER BY cost_centre")
    assert owners.rows() == [
        ("lena.hoffmann@example.org", "Operations"),
        ("sophie.martin@example.org", "Administration"),
    ]
    assert report.files[0].unknown_cost_centres == ""  # CC1 and CC2 are all the codes in use


def test_a_duplicate_code_is_refused_with_its_row_and_column(store, tmp_path):
    text = GOOD + "CC1,Packaging Line 2,,Operations\n"
    report = load_files(store, "cost_centres", [write(tmp_path / "cc_dup.csv", text)])
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert rejects(store) == [(3, "row 3 (line 4): duplicate of row 1 (same cost_centre)")]
    assert cc.cost_centre_names(store)["CC1"] == "Packaging Line"  # the first row wins
    assert "cc_dup.csv" in report.as_table()


def test_a_row_without_a_name_is_refused_and_a_file_without_the_column_whole(store, tmp_path):
    text = HEADER + "CC1,,lena.hoffmann@example.org,Operations\nCC2,IT Services,,\n"
    report = load_files(store, "cost_centres", [write(tmp_path / "cc_noname.csv", text)])
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert rejects(store) == [(1, "row 1 (line 2): cost_centre_name is missing")]
    headless = write(tmp_path / "cc_codes.csv", "cost_centre,owner\nCC1,x@example.org\n")
    with pytest.raises(LoadRefused, match="missing required column cost_centre_name"):
        load_files(store, "cost_centres", [headless])


def test_master_data_loaders_may_load_it_and_a_viewer_may_not():
    assert may_load(JONAS, "cost_centres") and may_load(SAM, "cost_centres")
    assert not may_load(LEE, "cost_centres")
    assert load_refusal(LEE, "cost_centres") == (
        "Lee Chen (operations, viewer) may not load cost_centres: only finance and procurement "
        "members and the CFO may; ask one of them to load the file."
    )


def test_an_unknown_code_in_invoices_is_loaded_and_listed_as_a_warning(store, tmp_path):
    load_files(store, "cost_centres", [write(tmp_path / "cc.csv", GOOD)])
    invoices = (
        "invoice_id,invoice_line,supplier_id,invoice_date,cost_centre,amount,currency\n"
        "INV9,1,S1,2026-03-01,CC9,10.00,EUR\n"
        "INV9,2,S1,2026-03-01,CC9,5.00,EUR\n"
        "INV9,3,S1,2026-03-01,CC1,1.00,EUR\n"
    )
    report = load_files(store, "invoices", [write(tmp_path / "inv.csv", invoices)])
    assert (report.rows_loaded, report.rows_rejected) == (3, 0)  # nothing dropped
    note = (
        "2 row(s) name cost centre code(s) not in the cost_centres table: CC9. They are "
        "loaded and counted; load these codes into cost_centres to show their names."
    )
    assert report.files[0].unknown_cost_centres == note
    assert f"inv.csv: {note}" in report.as_table()
    assert note in run(store, "SELECT message FROM loads ORDER BY load_id DESC LIMIT 1").item()
    unknown = cc.unknown_cost_centres(store)
    assert unknown.rows() == [("CC9", "invoices", 2)]
    assert cc.unknown_cost_centres_note(unknown).startswith(
        "1 cost centre code(s) used in 2 row(s) of invoices, purchase orders or budgets are "
        "not in the cost_centres table: CC9."
    )


def test_a_cost_centres_file_says_which_codes_in_use_it_still_lacks(store, tmp_path):
    only_cc1 = HEADER + "CC1,Packaging Line,,Operations\n"
    report = load_files(store, "cost_centres", [write(tmp_path / "cc1.csv", only_cc1)])
    assert report.files[0].unknown_cost_centres == (
        "1 cost centre code(s) used by invoices, purchase orders or budgets are still not in "
        "cost_centres: CC2; they show without a name until a file names them."
    )


def test_before_any_cost_centre_is_loaded_no_code_is_judged(store):
    assert cc.unknown_cost_centres(store).is_empty()
    assert cc.unknown_cost_centres_note(cc.unknown_cost_centres(store)) is None


# ---- the names beside the codes -----------------------------------------------------------
def test_budget_status_and_spend_show_the_name_beside_the_code(store, tmp_path):
    load_files(
        store, "cost_centres", [write(tmp_path / "cc.csv", HEADER + "CC1,Packaging Line,,\n")]
    )
    year = sp.budget_year(store, "FY2026")
    status = sp.budget_status(store, FY2026, year, "cost_centre")
    assert status.columns[:3] == ["cost_centre", "cost_centre_name", "budget_year"]
    rows = {
        r[0]: (r[1], r[2])
        for r in status.select("cost_centre", "cost_centre_name", "budget_year").rows()
    }
    # CC1: 1,000.00 + 600.00; CC2 is not in cost_centres: its row stays, without a name
    assert rows["CC1"][0] == "Packaging Line" and str(rows["CC1"][1]) == "1600.00"
    assert rows["CC2"][0] is None and str(rows["CC2"][1]) == "1000.00"
    by_category = sp.budget_status(store, FY2026, year, "category")
    assert "cost_centre_name" not in by_category.columns
    spend = sp.spend_by_cost_centre(store, Scope.of(date(2026, 1, 1), date(2026, 6, 30), {}, "EUR"))
    assert spend.columns[:2] == ["cost_centre", "cost_centre_name"]
    named = dict(spend.select("cost_centre", "cost_centre_name").unique().rows())
    assert named["CC1"] == "Packaging Line" and named["CC2"] is None


def test_the_filter_label_puts_the_name_beside_the_code():
    names = {"CC-3030": "Marketing & Events"}
    assert cc.cost_centre_label("CC-3030", names) == "CC-3030 · Marketing & Events"
    assert cc.cost_centre_label("CC-9999", names) == "CC-9999"


def test_a_store_written_before_the_table_reads_it_as_empty(store):
    con = duckdb.connect(str(store.path))
    con.execute("DROP TABLE cost_centres")
    con.close()
    assert cc.cost_centre_names(store) == {}
    year = sp.budget_year(store, "FY2026")
    status = sp.budget_status(store, FY2026, year, "cost_centre")
    assert status["cost_centre_name"].null_count() == status.height == 2


# ---- the demo -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Store:
    path = tmp_path_factory.mktemp("cc_demo") / "demo.duckdb"
    build_demo(path, seed=42, scale=0.01)
    return Store(path)


def test_the_demo_names_every_cost_centre_it_uses(demo):
    used = run(
        demo,
        "SELECT DISTINCT cost_centre FROM (SELECT cost_centre FROM invoices UNION ALL "
        "SELECT cost_centre FROM purchase_orders UNION ALL SELECT cost_centre FROM budgets) "
        "WHERE cost_centre IS NOT NULL",
    )
    names = cc.cost_centre_names(demo)
    assert set(used["cost_centre"].to_list()) <= set(names)
    assert cc.unknown_cost_centres(demo).is_empty()
    assert names == dict(COST_CENTRES)
    assert names["CC-3030"] == "Marketing & Events"
    owners = run(demo, "SELECT count(*) FROM cost_centres WHERE owner LIKE '%@example.org'")
    assert owners.item() == len(COST_CENTRES)
