"""Loads respect the pages' rules: who may load which table, finance's verdict never from a
file, audit rows for the audited tables, and who/what/how recorded for every load.

Runs on tests/hand_fixture.py: SI1 (price reduction, baseline 11.00, negotiated 10.00,
volume 200, accepted "Baseline agreed"), SI2 (cost avoidance, pending), and the price
outlook FY2026-Q3 Packaging +3.5 % "Paper prices rising".
"""

from __future__ import annotations

import getpass
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from kpi import cli
from kpi.core.people import Person
from kpi.core.permissions import NOBODY, PermissionDenied
from kpi.demo.build import DEMO_REVIEWER
from kpi.ingest.pipelines import load_files
from kpi.ingest.upload import load_upload
from kpi.store.database import Store
from kpi.workflows.initiative_model import numbers_hash
from kpi.workflows.initiatives import get_initiative, history, validate_initiative
from tests import hand_fixture

JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
CLAIRE = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")

HEADER = (
    "initiative_id,title,kind,category,supplier_id,item_id,baseline_unit_price,"
    "negotiated_unit_price,expected_volume,currency,start_date,end_date,owner,stage,"
    "finance_status,finance_note\n"
)
# SI1 again with a new baseline (12.00 instead of 11.00) and a verdict typed into the file;
# SI-2026-0100 new, "accepted" by the file; SI-2026-0101 new, no verdict given (a second
# source: supplier S2, else it would overlap SI-2026-0100 and the load would be refused).
INITIATIVES = HEADER + (
    "SI1,Carton re-tender,price_reduction,Packaging,S1,I1,12.00,10.00,200,EUR,2026-01-01,"
    "2026-12-31,jonas.berg@example.org,realised,accepted,fine by me\n"
    "SI-2026-0100,Seal re-source,price_reduction,MRO spares,S1,I3,120.00,105.00,40,EUR,"
    "2026-05-01,2027-04-30,jonas.berg@example.org,negotiating,accepted,\n"
    "SI-2026-0101,Seal second source,price_reduction,MRO spares,S2,I3,120.00,110.00,10,EUR,"
    "2026-06-01,2027-05-31,ana.ruiz@example.org,identified,,\n"
)
OUTLOOK = (
    "quarter,category,expected_change_pct,note\n"
    "FY2026-Q3,Packaging,4.0,Paper prices rising faster\n"
    "FY2026-Q4,Packaging,1.5,Tender prices hold\n"
)


@pytest.fixture()
def store(tmp_path) -> Store:
    return hand_fixture.build(tmp_path / "kpi.duckdb")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def loads(store: Store) -> list[dict]:
    with store.read() as con:
        found = con.execute(
            "SELECT table_name, source, file_name, content_hash, loaded_by, loaded_by_name, "
            "identity_mode, message FROM loads ORDER BY load_id"
        )
        names = [d[0] for d in found.description]
        return [dict(zip(names, r, strict=True)) for r in found.fetchall()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- who may load which table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "table", "message"),
    [
        (
            SAM,
            "price_outlook",
            "Sam Okafor (finance, member) may not load price_outlook: only procurement "
            "members and the CFO may; ask one of them to load the file.",
        ),
        (
            SAM,
            "savings_initiatives",
            "Sam Okafor (finance, member) may not load savings_initiatives: only procurement "
            "members and the CFO may; ask one of them to load the file.",
        ),
        (
            LEE,
            "suppliers",
            "Lee Chen (operations, viewer) may not load suppliers: only finance and "
            "procurement members and the CFO may; ask one of them to load the file.",
        ),
        (
            None,
            "fx_rates",
            f"{NOBODY} may not load fx_rates: only finance and procurement members "
            "and the CFO may; ask one of them to load the file.",
        ),
    ],
)
def test_refused_loads_name_who_may_and_change_nothing(store, tmp_path, person, table, message):
    before = store.path.read_bytes()
    path = write(tmp_path / "outlook.csv", OUTLOOK)
    with pytest.raises(PermissionDenied) as refused:
        load_upload(store, person, table, [path])
    assert str(refused.value) == message
    assert store.path.read_bytes() == before


def test_procurement_loads_the_price_outlook_with_its_audit_rows(store, tmp_path):
    path = write(tmp_path / "upload.csv", OUTLOOK)
    report = load_upload(
        store, JONAS, "price_outlook", [path], file_names=["Outlook Q3.csv"], identity_mode="oidc"
    )
    assert (report.rows_loaded, report.replaced) == (2, 1)
    assert "2 change(s) recorded in outlook_changes" in report.as_table()
    with store.read() as con:
        changes = con.execute(
            "SELECT quarter, category, changed_by, changed_by_name, old_change_pct, "
            "new_change_pct, old_note, new_note, reason FROM outlook_changes ORDER BY change_id"
        ).fetchall()
    assert changes == [
        (
            "FY2026-Q3",
            "Packaging",
            "jonas.berg@example.org",
            "Jonas Berg",
            Decimal("3.5000"),
            Decimal("4.0000"),
            "Paper prices rising",
            "Paper prices rising faster",
            "loaded from Outlook Q3.csv",
        ),
        (
            "FY2026-Q4",
            "Packaging",
            "jonas.berg@example.org",
            "Jonas Berg",
            None,
            Decimal("1.5000"),
            None,
            "Tender prices hold",
            "loaded from Outlook Q3.csv",
        ),
    ]
    # the same outlook again, from another file with the same rows: nothing changed, no row
    again = write(tmp_path / "again.csv", OUTLOOK.replace("\n", "\r\n"))
    load_upload(store, JONAS, "price_outlook", [again])
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM outlook_changes").fetchone()[0] == 2


# ---- finance's verdict never comes from a file ------------------------------------------------


def test_a_file_setting_finance_status_lands_pending_and_says_so(store, tmp_path):
    path = write(tmp_path / "initiatives.csv", INITIATIVES)
    report = load_upload(store, JONAS, "savings_initiatives", [path])
    text = report.as_table()
    assert (
        "initiatives.csv: finance_status ignored for 2 rows, finance_note ignored for 1 row: "
        "finance gives verdicts on the Savings page" in text
    )
    # SI1's baseline changed after finance accepted it: back to pending, as on the page
    assert "initiatives.csv: 1 initiative finance had judged went back to pending" in text
    assert report.files[0].ignored_columns == []  # read, counted and ignored: not "unknown"
    si1, new, other = (get_initiative(store, i) for i in ("SI1", "SI-2026-0100", "SI-2026-0101"))
    assert (new.finance_status, new.finance_note) == ("pending", None)
    assert (other.finance_status, other.finance_note) == ("pending", None)
    assert si1.finance_status == "pending"
    assert si1.finance_note is not None and si1.finance_note.startswith("Back to pending on ")
    assert "baseline_unit_price changed (loaded from initiatives.csv)" in si1.finance_note
    (row,) = loads(store)
    assert row["message"] == (
        "finance_status ignored for 2 rows, finance_note ignored for 1 row: finance gives "
        "verdicts on the Savings page; 1 initiative finance had judged went back to pending: "
        "money fields changed"
    )


def test_a_reload_with_unchanged_numbers_keeps_finances_verdict(store, tmp_path):
    """SI1 loaded again with its numbers as stored and a new stage: the stored verdict
    stays (it is finance's, about these numbers), the file's 'rejected' is ignored."""
    row = (
        "SI1,Carton re-tender,price_reduction,Packaging,S1,I1,11.00,10.00,200,EUR,2026-01-01,"
        "2026-12-31,jonas.berg@example.org,implemented,rejected,\n"
    )
    load_upload(store, JONAS, "savings_initiatives", [write(tmp_path / "si1.csv", HEADER + row)])
    si1 = get_initiative(store, "SI1")
    assert (si1.finance_status, si1.finance_note, si1.stage) == (
        "accepted",
        "Baseline agreed",
        "implemented",
    )
    log = history(store, "SI1")
    assert log.select("action", "field", "old_value", "new_value").rows() == [
        ("edited", "stage", "realised", "implemented")
    ]


def test_a_mapping_constant_setting_finance_status_is_ignored_with_a_message(store, tmp_path):
    mapping = write(
        tmp_path / "sources.yaml",
        "sources:\n"
        "  erp_initiatives:\n"
        "    table: savings_initiatives\n"
        "    columns: {initiative_id: ID}\n"
        "    constants: {finance_status: accepted, currency: EUR}\n",
    )
    csv = write(
        tmp_path / "erp.csv",
        "ID,title,kind,category,supplier_id,item_id,baseline_unit_price,negotiated_unit_price\n"
        "SI-2026-0200,Seal,price_reduction,MRO spares,S1,I3,120.00,100.00\n"
        "SI-2026-0201,Gasket,price_reduction,MRO spares,S1,I3,50.00,45.00\n",
    )
    report = load_files(store, "savings_initiatives", [csv], mapping_file=mapping, loader=None)
    assert (
        "erp.csv: finance_status ignored for 2 rows (a constant of mapping 'erp_initiatives'): "
        "finance gives verdicts on the Savings page" in report.as_table()
    )
    assert {get_initiative(store, i).finance_status for i in ("SI-2026-0200", "SI-2026-0201")} == {
        "pending"
    }


# ---- audit rows of a savings_initiatives load -------------------------------------------------


def test_an_initiatives_load_writes_created_and_edited_rows_by_the_loader(store, tmp_path):
    path = write(tmp_path / "upload-tmp.csv", INITIATIVES)
    load_upload(store, JONAS, "savings_initiatives", [path], file_names=["Initiatives June.csv"])
    log = history(store).sort("change_id")
    assert set(log["changed_by"]) == {"jonas.berg@example.org"}
    assert set(log["reason"].drop_nulls()) >= {"loaded from Initiatives June.csv"}
    si1 = log.filter(log["initiative_id"] == "SI1")
    assert si1.select("action", "field", "old_value", "new_value").rows()[:2] == [
        ("edited", "baseline_unit_price", "11.00", "12.00"),
        ("finance_reset", "finance_status", "accepted", "pending"),
    ]
    created = log.filter(log["initiative_id"] == "SI-2026-0100")
    assert set(created["action"]) == {"created"}
    assert dict(created.select("field", "new_value").rows()) == {
        "title": "Seal re-source",
        "kind": "price_reduction",
        "category": "MRO spares",
        "supplier_id": "S1",
        "item_id": "I3",
        "baseline_unit_price": "120.00",
        "negotiated_unit_price": "105.00",
        "expected_volume": "40",
        "currency": "EUR",
        "start_date": "2026-05-01",
        "end_date": "2027-04-30",
        "owner": "jonas.berg@example.org",
        "stage": "negotiating",
    }  # no finance_status, no finance_note: the file's verdict was never taken


def test_whoever_loaded_the_numbers_may_not_judge_them(store, tmp_path):
    """The CFO loads a new initiative and a new price for SI2 from the command line as
    herself: she may judge neither; Sam may."""
    header = HEADER.replace("baseline_unit_price,", "baseline_unit_price,quoted_unit_price,")
    rows = header + (
        "SI2,Dock price hold,cost_avoidance,IT hardware,S2,I2,,1100.00,990.00,5,USD,"
        "2026-01-01,2026-12-31,ana.ruiz@example.org,realised,,\n"
        "SI-2026-0300,Seal,price_reduction,MRO spares,S1,I3,120.00,,100.00,10,EUR,"
        "2026-05-01,2027-04-30,jonas.berg@example.org,identified,,\n"
    )
    path = write(tmp_path / "cfo.csv", rows)
    argv = ["load", "savings_initiatives", str(path), "--db", str(store.path)]
    assert cli.main([*argv, "--as", CLAIRE.email]) == 0
    with pytest.raises(PermissionDenied, match="changed negotiated_unit_price of SI2"):
        validate_initiative(
            store,
            CLAIRE,
            "SI2",
            "accepted",
            "ok",
            numbers_seen=numbers_hash(get_initiative(store, "SI2")),
        )
    with pytest.raises(PermissionDenied, match="created SI-2026-0300"):
        validate_initiative(
            store,
            CLAIRE,
            "SI-2026-0300",
            "accepted",
            "ok",
            numbers_seen=numbers_hash(get_initiative(store, "SI-2026-0300")),
        )
    validate_initiative(
        store,
        SAM,
        "SI2",
        "accepted",
        "990 on file",
        numbers_seen=numbers_hash(get_initiative(store, "SI2")),
    )
    assert get_initiative(store, "SI2").finance_status == "accepted"


# ---- what every load records ----------------------------------------------------------------


def test_the_app_records_the_person_the_file_name_the_hash_and_the_mode(store, tmp_path):
    path = write(tmp_path / "tmp0a1b2c.csv", "date,currency,rate\n2026-05-01,USD,0.85\n")
    load_upload(store, SAM, "fx_rates", [path], file_names=["May rates.csv"], identity_mode="oidc")
    (row,) = loads(store)
    assert row == {
        "table_name": "fx_rates",
        "source": "May rates.csv",  # not the temporary copy's path: it is gone after the load
        "file_name": "May rates.csv",
        "content_hash": sha256(path),
        "loaded_by": "sam.okafor@example.org",
        "loaded_by_name": "Sam Okafor",
        "identity_mode": "oidc",
        "message": None,
    }


def test_the_command_line_records_its_operator_or_the_person_named(store, tmp_path, capsys):
    rates = write(tmp_path / "rates.csv", "date,currency,rate\n2026-05-01,USD,0.85\n")
    outlook = write(tmp_path / "outlook.csv", OUTLOOK)
    db = ["--db", str(store.path)]
    assert cli.main(["load", "fx_rates", str(rates), *db]) == 0
    assert cli.main(["load", "price_outlook", str(outlook), *db, "--as", JONAS.email]) == 0
    user = getpass.getuser()
    assert [
        (r["table_name"], r["file_name"], r["loaded_by"], r["loaded_by_name"], r["identity_mode"])
        for r in loads(store)
    ] == [
        ("fx_rates", "rates.csv", f"os:{user}", user, "command line"),
        ("price_outlook", "outlook.csv", JONAS.email, "Jonas Berg", "command line"),
    ]
    assert [r["content_hash"] for r in loads(store)] == [sha256(rates), sha256(outlook)]
    capsys.readouterr()
    before = store.path.read_bytes()
    assert cli.main(["load", "price_outlook", str(outlook), *db, "--as", SAM.email]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "Refused, nothing was loaded: Sam Okafor (finance, member) may not load price_outlook: "
        "only procurement members and the CFO may; ask one of them to load the file."
    )
    assert cli.main(["load", "fx_rates", str(rates), *db, "--as", "nobody@example.org"]) == 1
    assert "--as nobody@example.org: nobody with that e-mail is in config/people.yaml" in (
        capsys.readouterr().err
    )
    assert store.path.read_bytes() == before


def test_the_demo_records_itself_and_its_finance_members_verdicts(tmp_path, demo_copy):
    # a copy of build_demo(seed=7, scale=0.02), built once per run
    store = Store(demo_copy(0.02, tmp_path / "demo.duckdb"))
    rows = loads(store)
    assert {(r["loaded_by"], r["loaded_by_name"], r["identity_mode"]) for r in rows} == {
        ("demo", "demo builder", "demo")
    }
    with store.read() as con:
        judged = con.execute(
            "SELECT count(*) FROM savings_initiatives WHERE finance_status <> 'pending'"
        ).fetchone()[0]
        by = con.execute(
            "SELECT action, changed_by, count(DISTINCT initiative_id), count(numbers_seen) "
            "FROM initiative_changes GROUP BY ALL ORDER BY 1"
        ).fetchall()
        total = con.execute("SELECT count(*) FROM savings_initiatives").fetchone()[0]
    verdicts = {a: (who, n) for a, who, n, _ in by if a in ("accepted", "rejected")}
    assert sum(n for _, n in verdicts.values()) == judged > 0
    assert {who for who, _ in verdicts.values()} == {DEMO_REVIEWER.email}
    assert [(a, who, n) for a, who, n, _ in by if a == "created"] == [("created", "demo", total)]
    assert all(seen == 0 for a, _, _, seen in by if a == "created")


def test_an_upload_whose_identity_mode_is_unknown_is_refused(store, tmp_path):
    path = write(tmp_path / "rates.csv", "date,currency,rate\n2026-05-01,USD,0.85\n")
    before = store.path.read_bytes()
    with pytest.raises(PermissionDenied) as refused:
        load_upload(store, SAM, "fx_rates", [path], identity_mode="guess")
    assert str(refused.value) == (
        "The app could not tell how Sam Okafor (finance, member) was identified ('guess'); "
        "nothing was loaded: sign in again or use local mode."
    )
    assert store.path.read_bytes() == before
