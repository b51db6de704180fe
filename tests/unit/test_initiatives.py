"""The savings-initiative ledger: who may add, edit and judge; the audit log; the model's rules.

Runs on tests/hand_fixture.py: SI1 (price reduction, carton I1 from S1, accepted, owned by
Jonas Berg) and SI2 (cost avoidance, dock I2 from S2, pending, owned by Ana Ruiz).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pydantic import ValidationError

from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied
from kpi.store.database import Store
from kpi.store.schema import TABLES, create_table_sql
from kpi.workflows import initiatives
from kpi.workflows.initiative_model import (
    Initiative,
    InitiativeError,
    field_problems,
    numbers_hash,
)
from kpi.workflows.initiatives import (
    get_initiative,
    history,
    list_initiatives,
    save_initiative,
    validate_initiative,
)
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]

JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")  # owns SI1
ANA = Person("ana.ruiz@example.org", "Ana Ruiz", "procurement", "member")  # owns SI2
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
CLAIRE = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
FIN_VIEWER = Person("fin.viewer@example.org", "Fin Viewer", "finance", "viewer")
PROC_VIEWER = Person("proc.viewer@example.org", "Proc Viewer", "procurement", "viewer")


@pytest.fixture()
def store(tmp_path) -> Store:
    return hand_fixture.build(tmp_path / "kpi.duckdb")


def carton_deal(**changes) -> Initiative:
    # a second source: S2, not SI1's supplier S1 (the same supplier and item in the same
    # days would overlap SI1 and be refused)
    fields = {
        "title": "Carton second source",
        "kind": "price_reduction",
        "category": "Packaging",
        "supplier_id": "S2",
        "item_id": "I1",
        "baseline_unit_price": "10.50",
        "negotiated_unit_price": "9.90",
        "expected_volume": "300",
        "currency": "EUR",
        "start_date": "2026-02-01",
        "end_date": "2026-12-31",
    }
    return Initiative(**(fields | changes))


def seen(store: Store, initiative_id: str) -> str:
    """The fingerprint of the numbers a reviewer opening the initiative now is shown."""
    return numbers_hash(get_initiative(store, initiative_id))


def status(store: Store, initiative_id: str) -> tuple[str, str | None]:
    got = get_initiative(store, initiative_id)
    return got.finance_status, got.finance_note


# ---- who may do what (table-driven) -----------------------------------------------------------


def _add(store: Store, person: Person) -> None:
    save_initiative(store, person, carton_deal(), reason="second source found")


def _edit(store: Store, person: Person) -> None:
    si2 = get_initiative(store, "SI2")
    save_initiative(store, person, si2.model_copy(update={"title": "Dock price held"}))


def _accept_si2(store: Store, person: Person) -> None:
    validate_initiative(
        store,
        person,
        "SI2",
        "accepted",
        "quote on file, invoices match",
        numbers_seen=seen(store, "SI2"),
    )


def _reject_si1(store: Store, person: Person) -> None:
    validate_initiative(
        store, person, "SI1", "rejected", "baseline not evidenced", numbers_seen=seen(store, "SI1")
    )


ROLE_RULES = [
    # (who, action, allowed, who the refusal names as allowed)
    (JONAS, _add, True, None),
    (JONAS, _edit, True, None),  # SI2 is Ana's: any procurement member may edit
    (ANA, _edit, True, None),
    (CLAIRE, _add, True, None),
    (CLAIRE, _edit, True, None),
    (SAM, _add, False, "procurement members and the CFO"),
    (SAM, _edit, False, "procurement members and the CFO"),
    (LEE, _add, False, "procurement members and the CFO"),
    (LEE, _edit, False, "procurement members and the CFO"),
    (LEE, _accept_si2, False, "finance members and the CFO"),
    (FIN_VIEWER, _edit, False, "procurement members and the CFO"),
    (FIN_VIEWER, _accept_si2, False, "finance members and the CFO"),
    (PROC_VIEWER, _add, False, "procurement members and the CFO"),
    (SAM, _accept_si2, True, None),
    (SAM, _reject_si1, True, None),
    (CLAIRE, _accept_si2, True, None),
    (ANA, _accept_si2, False, "finance members and the CFO"),  # her own initiative
    (JONAS, _accept_si2, False, "finance members and the CFO"),  # not his own: still no
    (JONAS, _reject_si1, False, "finance members and the CFO"),
]


@pytest.mark.parametrize(
    "person,action,allowed,who",
    ROLE_RULES,
    ids=[f"{p.department}-{p.role}-{a.__name__.strip('_')}" for p, a, _, _ in ROLE_RULES],
)
def test_role_rules(store, person, action, allowed, who):
    before = store.version()
    if allowed:
        action(store, person)
        assert len(history(store)) > 0
        assert history(store)["changed_by"][0] == person.email
    else:
        with pytest.raises(PermissionDenied) as refused:
            action(store, person)
        assert person.name in str(refused.value)
        assert f"only {who} may" in str(refused.value)
        assert store.version() == before  # nothing written, not even an audit row


def test_nobody_signed_in_may_not_write(store):
    with pytest.raises(PermissionDenied, match="not signed in"):
        save_initiative(store, None, carton_deal())  # type: ignore[arg-type]


def test_nobody_judges_an_initiative_they_created_whoever_the_owner_field_names(store):
    """The CFO adds an initiative naming Jonas as its owner: the log says she created it."""
    created = save_initiative(store, CLAIRE, carton_deal(owner=JONAS.email))
    before = store.version()
    with pytest.raises(PermissionDenied) as refused:
        validate_initiative(
            store, CLAIRE, created, "accepted", "looks right", numbers_seen=seen(store, created)
        )
    assert str(refused.value) == (
        f"Claire Dubois (finance, cfo) created {created} and may not judge it: another of "
        "the finance members and the CFO must."
    )
    assert store.version() == before
    validate_initiative(
        store, SAM, created, "accepted", "looks right", numbers_seen=seen(store, created)
    )
    assert status(store, created) == ("accepted", "looks right")


def test_the_owner_field_alone_does_not_bar_a_reviewer(store):
    """SI1 names Jonas as owner, but the CFO set nothing of it: she may judge it."""
    si1 = get_initiative(store, "SI1")
    save_initiative(store, JONAS, si1.model_copy(update={"owner": CLAIRE.email}))
    validate_initiative(
        store, CLAIRE, "SI1", "rejected", "not evidenced", numbers_seen=seen(store, "SI1")
    )
    assert status(store, "SI1") == ("rejected", "not evidenced")


def test_who_changed_a_money_field_since_the_last_verdict_may_not_judge(store):
    """The CFO edits SI1's baseline price (accepted before): it goes back to pending, and
    she may not judge it; Sam may. After Sam's verdict, a later title edit by her does not
    bar her from the next verdict, a later price edit does."""
    si1 = get_initiative(store, "SI1")
    save_initiative(store, CLAIRE, si1.model_copy(update={"baseline_unit_price": "11.50"}))
    with pytest.raises(PermissionDenied) as refused:
        validate_initiative(store, CLAIRE, "SI1", "accepted", "ok", numbers_seen=seen(store, "SI1"))
    assert str(refused.value) == (
        "Claire Dubois (finance, cfo) changed baseline_unit_price of SI1 since finance's last "
        "verdict and may not judge it: another of the finance members and the CFO must."
    )
    validate_initiative(
        store, SAM, "SI1", "accepted", "11.50 on the old invoices", numbers_seen=seen(store, "SI1")
    )
    si1 = get_initiative(store, "SI1")
    save_initiative(store, CLAIRE, si1.model_copy(update={"title": "Carton re-tender 2026"}))
    validate_initiative(
        store, CLAIRE, "SI1", "accepted", "title only", numbers_seen=seen(store, "SI1")
    )
    si1 = get_initiative(store, "SI1")
    save_initiative(store, CLAIRE, si1.model_copy(update={"expected_volume": "250"}))
    with pytest.raises(PermissionDenied, match="changed expected_volume of SI1"):
        validate_initiative(store, CLAIRE, "SI1", "accepted", "ok", numbers_seen=seen(store, "SI1"))


def test_a_verdict_on_numbers_that_changed_since_the_review_opened_is_refused(store):
    """Sam opens SI2's review; Ana then changes its negotiated price. Sam's verdict on what
    he saw is refused; after looking again it is recorded with the new fingerprint."""
    opened = seen(store, "SI2")
    si2 = get_initiative(store, "SI2")
    save_initiative(store, ANA, si2.model_copy(update={"negotiated_unit_price": "990"}))
    before = store.version()
    with pytest.raises(InitiativeError) as refused:
        validate_initiative(store, SAM, "SI2", "accepted", "quote on file", numbers_seen=opened)
    assert str(refused.value).startswith(
        "The numbers changed since you opened the review: SI2 now reads kind cost_avoidance, "
        "category IT hardware, supplier_id S2, item_id I2, quoted_unit_price 1100.00, "
        "negotiated_unit_price 990.00, expected_volume 5, currency USD, start_date 2026-01-01, "
        "end_date 2026-12-31; look again"
    )
    assert store.version() == before
    again = seen(store, "SI2")
    assert again != opened
    validate_initiative(store, SAM, "SI2", "accepted", "quote on file", numbers_seen=again)
    verdict = history(store, "SI2").filter(pl.col("action") == "accepted")
    assert verdict.height == 2  # finance_status and finance_note
    with store.read() as con:
        kept = con.execute(
            "SELECT DISTINCT numbers_seen FROM initiative_changes WHERE action = 'accepted'"
        ).fetchall()
    assert kept == [(again,)]


def test_the_fingerprint_reads_values_as_shown(store):
    """11.0000 from the store and 11 typed on a form are the same number."""
    stored = get_initiative(store, "SI1")
    typed = stored.model_dump() | {"baseline_unit_price": Decimal("11"), "expected_volume": 200}
    assert numbers_hash(typed) == numbers_hash(stored)
    assert numbers_hash(typed | {"baseline_unit_price": Decimal("11.01")}) != numbers_hash(stored)


# ---- finance's verdict --------------------------------------------------------------------------


def test_finance_accepts_with_a_reason(store):
    before = datetime.now(UTC).replace(tzinfo=None)
    validate_initiative(
        store,
        SAM,
        "SI2",
        "accepted",
        "  supplier's quote of 1,100 on file ",
        numbers_seen=seen(store, "SI2"),
    )
    after = datetime.now(UTC).replace(tzinfo=None)
    assert status(store, "SI2") == ("accepted", "supplier's quote of 1,100 on file")
    rows = history(store, "SI2").sort("change_id").to_dicts()
    assert [(r["action"], r["field"], r["old_value"], r["new_value"]) for r in rows] == [
        ("accepted", "finance_status", "pending", "accepted"),
        ("accepted", "finance_note", None, "supplier's quote of 1,100 on file"),
    ]
    for r in rows:
        assert r["changed_by"] == SAM.email
        assert before <= r["changed_at"] <= after
        assert r["reason"] == "supplier's quote of 1,100 on file"
    assert list_initiatives(store, finance_status="accepted")["initiative_id"].to_list() == [
        "SI1",
        "SI2",
    ]


@pytest.mark.parametrize("reason", ["", "   ", None])
@pytest.mark.parametrize("decision", ["accepted", "rejected"])
def test_a_verdict_without_a_reason_is_refused(store, decision, reason):
    before = store.version()
    with pytest.raises(InitiativeError, match="Say why") as refused:
        validate_initiative(store, SAM, "SI2", decision, reason, numbers_seen=seen(store, "SI2"))  # type: ignore[arg-type]
    assert refused.value.field == "finance_note"
    assert store.version() == before


@pytest.mark.parametrize(
    "initiative_id,decision,message",
    [
        ("SI2", "approved", "'approved' is not a verdict"),
        ("SI2", "pending", "'pending' is not a verdict"),
        ("SI9", "accepted", "There is no initiative 'SI9'"),
    ],
)
def test_verdict_mistakes(store, initiative_id, decision, message):
    with pytest.raises(InitiativeError, match=message):
        validate_initiative(store, SAM, initiative_id, decision, "a reason", numbers_seen="")


# ---- adding and editing ------------------------------------------------------------------


def test_add_numbers_the_initiative_and_audits_every_field(store):
    saved = save_initiative(store, JONAS, carton_deal(), reason="second source found")
    assert saved == "SI-2026-0001" and saved.created and not saved.finance_reset
    assert "pending finance's review" in saved.message
    got = get_initiative(store, saved)
    assert got.owner == JONAS.email  # defaults to who added it
    assert (got.finance_status, got.stage) == ("pending", "identified")
    rows = {r["field"]: r for r in history(store, saved).to_dicts()}
    assert rows["negotiated_unit_price"]["new_value"] == "9.90"
    assert rows["expected_volume"]["new_value"] == "300"
    assert rows["start_date"]["new_value"] == "2026-02-01"
    assert {r["action"] for r in rows.values()} == {"created"}
    assert {r["old_value"] for r in rows.values()} == {None}
    assert {r["reason"] for r in rows.values()} == {"second source found"}
    # other items or days than the first: the same scope in the same days is refused
    assert save_initiative(store, ANA, carton_deal(item_id="I3", category=None)) == "SI-2026-0002"
    # the year is the start year; the number follows the highest of that year, any width
    with store.write() as con:
        con.execute(
            "UPDATE savings_initiatives SET initiative_id = 'SI-2025-017' WHERE "
            "initiative_id = 'SI1'"
        )
    earlier = carton_deal(start_date="2025-06-01", end_date="2026-01-31")
    assert save_initiative(store, ANA, earlier) == "SI-2025-0018"
    other_item = carton_deal(
        initiative_id="PK-7", item_id="I3", category=None, start_date="2027-01-01", end_date=None
    )
    assert save_initiative(store, ANA, other_item) == "PK-7"


def test_edit_of_accepted_price_sends_it_back_to_pending(store):
    si1 = get_initiative(store, "SI1")
    assert si1.finance_status == "accepted"
    edited = si1.model_copy(update={"negotiated_unit_price": Decimal("9.80")})
    saved = save_initiative(store, ANA, edited, reason="renegotiated in March", based_on=si1)
    assert saved == "SI1" and saved.finance_reset and saved.changed == ("negotiated_unit_price",)
    assert "Finance had accepted it" in saved.message and "pending" in saved.message
    got = get_initiative(store, "SI1")
    assert got.finance_status == "pending"
    assert got.negotiated_unit_price == Decimal("9.80")
    assert "negotiated_unit_price changed after finance accepted it" in got.finance_note
    rows = history(store, "SI1").sort("change_id").to_dicts()
    assert [(r["action"], r["field"], r["old_value"], r["new_value"]) for r in rows] == [
        ("edited", "negotiated_unit_price", "10.00", "9.80"),
        ("finance_reset", "finance_status", "accepted", "pending"),
        ("finance_reset", "finance_note", "Baseline agreed", got.finance_note),
    ]
    assert {r["changed_by"] for r in rows} == {ANA.email}
    assert rows[0]["reason"] == "renegotiated in March"
    assert "money-relevant fields changed" in rows[1]["reason"]
    assert len({r["changed_at"] for r in rows}) == 1  # one change, one moment


@pytest.mark.parametrize(
    "update,resets",
    [
        ({"baseline_unit_price": Decimal("11.50")}, True),
        ({"expected_volume": Decimal("250")}, True),
        ({"end_date": date(2026, 6, 30)}, True),
        ({"category": None}, True),
        ({"title": "Carton re-tender 2026"}, False),
        ({"stage": "implemented"}, False),
        ({"owner": "ana.ruiz@example.org"}, False),
    ],
)
def test_only_money_fields_reset_a_verdict(store, update, resets):
    saved = save_initiative(store, JONAS, get_initiative(store, "SI1").model_copy(update=update))
    assert saved.finance_reset is resets
    assert status(store, "SI1")[0] == ("pending" if resets else "accepted")


def test_edit_of_rejected_initiative_also_goes_back_to_pending(store):
    validate_initiative(
        store, SAM, "SI2", "rejected", "quote not evidenced", numbers_seen=seen(store, "SI2")
    )
    si2 = get_initiative(store, "SI2")
    saved = save_initiative(store, ANA, si2.model_copy(update={"quoted_unit_price": "1080"}))
    assert saved.finance_reset and "Finance had rejected it" in saved.message
    assert status(store, "SI2")[0] == "pending"


def test_procurement_cannot_set_finance_fields_by_editing(store):
    si2 = get_initiative(store, "SI2")
    sneaky = si2.model_copy(update={"finance_status": "accepted", "finance_note": "fine"})
    saved = save_initiative(store, ANA, sneaky.model_copy(update={"title": "Dock hold"}))
    assert "were not taken" in saved.message
    assert status(store, "SI2") == ("pending", None)
    with pytest.raises(InitiativeError, match="starts pending"):
        save_initiative(store, ANA, carton_deal(finance_status="accepted"))


def test_an_edit_that_changes_nothing_writes_nothing(store):
    before = store.version()
    saved = save_initiative(store, JONAS, get_initiative(store, "SI1"))
    assert "Nothing changed" in saved.message and saved.changed == ()
    assert store.version() == before


def test_an_edit_on_a_stale_copy_is_refused(store):
    opened = get_initiative(store, "SI2")
    save_initiative(store, JONAS, opened.model_copy(update={"title": "Jonas was first"}))
    late = opened.model_copy(update={"expected_volume": Decimal("6")})
    with pytest.raises(InitiativeError, match="changed by someone else"):
        save_initiative(store, ANA, late, based_on=opened)
    assert get_initiative(store, "SI2").title == "Jonas was first"


def test_change_and_audit_rows_land_together_or_not_at_all(store, monkeypatch):
    def broken_audit(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(initiatives, "_audit", broken_audit)
    si1 = get_initiative(store, "SI1")
    with pytest.raises(RuntimeError):
        save_initiative(store, JONAS, si1.model_copy(update={"negotiated_unit_price": "9"}))
    assert get_initiative(store, "SI1").negotiated_unit_price == Decimal("10")
    assert status(store, "SI1")[0] == "accepted"


@pytest.mark.parametrize(
    "update,field,message",
    [
        ({"supplier_id": "S9"}, "supplier_id", "There is no supplier 'S9'"),
        ({"item_id": "I9"}, "item_id", "There is no item 'I9'"),
        ({"category": "IT hardware"}, "category", "is in the category 'Packaging'"),
    ],
)
def test_references_are_checked_against_the_store(store, update, field, message):
    before = store.version()
    with pytest.raises(InitiativeError, match=message) as refused:
        save_initiative(store, JONAS, carton_deal(**update))
    assert refused.value.field == field
    assert store.version() == before


# ---- the model's rules (table-driven) -------------------------------------------------------


MODEL_RULES = [
    # (changes to a good carton deal, field at fault, words of the message)
    ({"title": "  "}, "title", "give the initiative a title"),
    ({"kind": "discount"}, "kind", "'discount' is not one of price_reduction"),
    ({"kind": " "}, "kind", "choose the kind: one of price_reduction"),
    ({"currency": "EURO"}, "currency", "'EURO' is not an ISO 4217"),
    ({"currency": ""}, "currency", "give the currency"),
    ({"baseline_unit_price": "-1"}, "baseline_unit_price", "cannot be negative"),
    ({"negotiated_unit_price": "9.12345"}, "negotiated_unit_price", "more than 4 decimals"),
    ({"expected_volume": "1.0005"}, "expected_volume", "more than 3 decimals"),
    ({"expected_volume": "ten"}, "expected_volume", "valid decimal"),
    ({"baseline_unit_price": None}, "baseline_unit_price", "needs the baseline unit price"),
    ({"negotiated_unit_price": ""}, "negotiated_unit_price", "needs the negotiated unit price"),
    ({"negotiated_unit_price": "11"}, "negotiated_unit_price", "above the baseline price"),
    ({"supplier_id": None}, "supplier_id", "needs the supplier"),
    ({"item_id": None, "category": None}, "item_id", "needs the item (or at least"),
    ({"end_date": "2026-01-31"}, "end_date", "is before the start date 2026-02-01"),
    ({"start_date": "01/02/2026"}, "start_date", "'01/02/2026' is not a date (use YYYY-MM-DD)"),
    ({"stage": "won"}, "stage", "'won' is not one of identified"),
    ({"kind": "cost_avoidance"}, "quoted_unit_price", "needs the quoted unit price"),
    (
        {"kind": "cost_avoidance", "quoted_unit_price": "9.50"},
        "negotiated_unit_price",
        "above the quoted price",
    ),
    ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize("changes,field,message", MODEL_RULES, ids=[r[1] for r in MODEL_RULES])
def test_model_rules_name_the_field(changes, field, message):
    with pytest.raises(ValidationError) as refused:
        carton_deal(**changes)
    problems = field_problems(refused.value)
    assert field in problems, problems
    assert message in problems[field]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationError) as refused:
        Initiative(
            kind="price_reduction", currency="XXX", end_date="2026-01-01", start_date="2026-03-01"
        )
    assert set(field_problems(refused.value)) == {
        "title",
        "currency",
        "supplier_id",
        "item_id",
        "baseline_unit_price",
        "negotiated_unit_price",
        "end_date",
    }


def test_other_kinds_need_no_prices():
    demand = Initiative(title="Fewer print runs", kind="Demand_Reduction", currency="eur")
    assert (demand.kind, demand.currency, demand.stage) == ("demand_reduction", "EUR", "identified")


def test_a_model_built_without_checks_is_checked_on_save(store):
    unchecked = carton_deal().model_copy(update={"negotiated_unit_price": Decimal("-5")})
    with pytest.raises(InitiativeError, match="negotiated_unit_price: a price cannot be neg"):
        save_initiative(store, JONAS, unchecked)


# ---- listing, history, bulk load ------------------------------------------------------------


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({}, ["SI1", "SI2"]),
        ({"kind": "cost_avoidance"}, ["SI2"]),
        ({"kind": ["cost_avoidance", "price_reduction"]}, ["SI1", "SI2"]),
        ({"finance_status": "pending"}, ["SI2"]),
        ({"stage": "identified"}, []),
        ({"category": "Packaging"}, ["SI1"]),
        ({"owner": "ana.ruiz@example.org"}, ["SI2"]),
        ({"search": "KARTON"}, ["SI1"]),  # the supplier's name, case ignored
        ({"search": "dock"}, ["SI2"]),  # the title and the item
        ({"search": "'; DROP TABLE savings_initiatives; --"}, []),
        ({"kind": []}, ["SI1", "SI2"]),  # an empty choice is no filter
    ],
)
def test_list_filters(store, filters, expected):
    assert list_initiatives(store, **filters)["initiative_id"].to_list() == expected


def test_list_columns(store):
    frame = list_initiatives(store)
    assert frame.columns == [
        *TABLES["savings_initiatives"].column_names,
        "supplier_name",
        "item_description",
    ]
    assert frame.row(0, named=True)["supplier_name"] == "Kartonwerk GmbH"


def test_category_falls_back_to_the_item(store):
    save_initiative(store, JONAS, carton_deal(category=None))
    assert list_initiatives(store, category="Packaging")["initiative_id"].to_list() == [
        "SI-2026-0001",
        "SI1",
    ]


def test_history_is_newest_first_and_per_initiative(store):
    validate_initiative(store, SAM, "SI2", "rejected", "no quote", numbers_seen=seen(store, "SI2"))
    save_initiative(store, JONAS, get_initiative(store, "SI1").model_copy(update={"title": "T"}))
    log = history(store)
    assert log.columns == [
        "change_id",
        "initiative_id",
        "title",
        "changed_at",
        "changed_by",
        "action",
        "field",
        "old_value",
        "new_value",
        "reason",
    ]
    assert log["initiative_id"].to_list() == ["SI1", "SI2", "SI2"]
    assert log["change_id"].to_list() == [3, 2, 1]
    assert history(store, "SI2")["action"].to_list() == ["rejected", "rejected"]
    assert history(store, "SI7").is_empty()


def test_history_of_a_store_from_before_the_log(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("\n".join(create_table_sql(t) for t in TABLES.values()))
    con.close()
    assert history(Store(path)).is_empty()


def test_bulk_loaded_initiative_shows_in_the_list_and_can_be_edited(store, tmp_path):
    csv = tmp_path / "initiatives.csv"
    csv.write_text(
        "initiative_id,title,kind,category,supplier_id,item_id,baseline_unit_price,"
        "negotiated_unit_price,expected_volume,currency,start_date,end_date,owner,stage,"
        "finance_status\n"
        "SI-2026-0100,Seal re-source,price_reduction,MRO spares,S1,I3,120.00,105.00,40,EUR,"
        "2026-05-01,2027-04-30,ana.ruiz@example.org,negotiating,\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpi",
            "load",
            "savings_initiatives",
            str(csv),
            "--db",
            str(store.path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = list_initiatives(store, search="seal")
    assert listed["initiative_id"].to_list() == ["SI-2026-0100"]
    assert listed.row(0, named=True)["finance_status"] == "pending"  # unset reads pending
    assert listed.row(0, named=True)["baseline_unit_price"] == Decimal("120")
    loaded = get_initiative(store, "SI-2026-0100")
    saved = save_initiative(
        store, JONAS, loaded.model_copy(update={"stage": "contracted"}), based_on=loaded
    )
    assert saved.changed == ("stage",)
    assert save_initiative(store, JONAS, carton_deal(start_date="2026-03-01")) == "SI-2026-0101"


def test_a_verdict_without_the_numbers_seen_is_refused(store):
    before = store.version()
    with pytest.raises(InitiativeError) as refused:
        validate_initiative(store, SAM, "SI2", "accepted", "quote on file", numbers_seen=" ")
    assert str(refused.value) == (
        "A verdict on SI2 needs the numbers you reviewed (their fingerprint, numbers_hash): "
        "open the review, look at the numbers, then decide."
    )
    assert store.version() == before


# ---- twins: a second click on Save adds nothing ----------------------------------------------


def test_an_identical_initiative_just_added_by_the_same_person_is_refused_as_a_twin(
    store, monkeypatch
):
    first = save_initiative(store, JONAS, carton_deal())
    count = list_initiatives(store).height
    with pytest.raises(InitiativeError) as twin:
        save_initiative(store, JONAS, carton_deal(), reason="clicked twice")
    at = datetime.now(UTC).strftime("%H:")  # the minute may turn; the hour is checked
    message = str(twin.value)
    assert message.startswith(f"You added this same initiative as {first} at {at}")
    assert message.endswith(
        "UTC: it was not added twice. To add a second one on purpose, change one of its "
        f"fields (the title, say); to change {first}, open it in the form."
    )
    assert list_initiatives(store).height == count  # nothing added, no audit row either
    assert set(history(store)["initiative_id"]) == {first}
    # undated initiatives overlap nothing: the twin check alone keeps them single
    undated = carton_deal(title="Carton draft", start_date=None, end_date=None)
    draft = save_initiative(store, JONAS, undated)
    with pytest.raises(InitiativeError, match=f"same initiative as {draft}"):
        save_initiative(store, JONAS, undated)
    # not a twin: another title, or another person (the owner defaults to who adds it)
    assert save_initiative(store, JONAS, undated.model_copy(update={"title": "Carton 2"}))
    assert save_initiative(store, ANA, undated)
    # after TWIN_MINUTES the same initiative again is a deliberate second one
    later = datetime.now(UTC).replace(tzinfo=None) + initiatives.timedelta(
        minutes=initiatives.TWIN_MINUTES + 1
    )
    monkeypatch.setattr(initiatives, "_now", lambda: later)
    assert save_initiative(store, JONAS, undated) != draft
