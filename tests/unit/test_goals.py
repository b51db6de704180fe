"""The quarterly goals: history, forecasts and the spend outlook by hand, and the meeting's rules.

The store is tests/hand_fixture.py (FY2026-Q1 and a started FY2026-Q2) with eight earlier
quarters of our own, FY2024-Q1 to FY2025-Q4, all in EUR: each quarter one Packaging line
(S1, item I1, at 10.00) and one IT hardware line (S2, item I2, 1 at 900.00).

    quarter     Packaging qty  Packaging  IT hardware  total_spend
    FY2024-Q1   100            1000.00    900.00       1900.00
    FY2024-Q2   120            1200.00    900.00       2100.00
    FY2024-Q3   110            1100.00    900.00       2000.00
    FY2024-Q4   130            1300.00    900.00       2200.00
    FY2025-Q1   110            1100.00    900.00       2000.00
    FY2025-Q2   132            1320.00    900.00       2220.00
    FY2025-Q3   121            1210.00    900.00       2110.00
    FY2025-Q4   143            1430.00    900.00       2330.00
    FY2026-Q1   160            1650.00    900.00       2550.00   (hand fixture: INV1, INV4;
                                                                  INV2 1000 USD x 0.9)
    FY2026-Q2   -              -          800.00       800.00    (INV3 1000 USD x 0.8 on
                                                                  2026-04-05: a started quarter)

The data end on 2026-04-05, so FY2026-Q1 is the last complete quarter.
"""

from __future__ import annotations

import inspect
import types
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest

import kpi.workflows
from kpi.analyses import goal_history, spend_outlook
from kpi.core.people import Person
from kpi.core.permissions import NOBODY, PermissionDenied
from kpi.semantic.definitions import load_definitions
from kpi.semantic.engine import select_definitions
from kpi.store.database import Store
from kpi.store.schema import TABLES
from kpi.workflows import definition_saves, definition_versions, goals
from kpi.workflows.definition_writer import ConflictError
from tests import hand_fixture

CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
FINANCE = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
PROCUREMENT = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
PROCUREMENT_2 = Person("ana.ruiz@example.org", "Ana Ruiz", "procurement", "member")
VIEWER = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
PROCUREMENT_VIEWER = Person("vi.ewer@example.org", "Vi Ewer", "procurement", "viewer")
PEOPLE = [CFO, FINANCE, PROCUREMENT, PROCUREMENT_2, VIEWER]  # as in config/people.yaml

PACKAGING_QTY = [100, 120, 110, 130, 110, 132, 121, 143]  # FY2024-Q1 .. FY2025-Q4


def _earlier_invoices() -> list[tuple]:
    rows = []
    for i, qty in enumerate(PACKAGING_QTY):
        year, month = 2024 + i // 4, 3 * (i % 4) + 1
        day = f"{year}-{month:02d}-15"
        rows.append(
            (f"P{i}", 1, "S1", None, day, None, None, "I1", "Packaging", "CC1", qty, 10.00,
             qty * 10.00, "EUR", 0)
        )  # fmt: skip
        rows.append(
            (f"T{i}", 1, "S2", None, day, None, None, "I2", "IT hardware", "CC2", 1, 900.00,
             900.00, "EUR", 0)
        )  # fmt: skip
    return rows


def build_history_store(path: Path, supplier_name: str | None = None) -> Store:
    """The hand fixture plus eight earlier quarters; optionally another name for S1."""
    rows = {table: list(values) for table, values in hand_fixture.ROWS.items()}
    rows["invoices"] = rows["invoices"] + _earlier_invoices()
    if supplier_name is not None:
        s1 = rows["suppliers"][0]
        rows["suppliers"][0] = (s1[0], supplier_name, *s1[2:])
    store = Store(path)
    with store.write(fresh=True) as con:
        for table, values in rows.items():
            # the rows give the table's first columns; columns added later stay empty
            names = ", ".join(TABLES[table].column_names[: len(values[0])])
            marks = ", ".join("?" for _ in values[0])
            con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return build_history_store(tmp_path_factory.mktemp("goals") / "kpi.duckdb")


@pytest.fixture
def fresh(tmp_path) -> Store:
    """A store the test may write to."""
    return build_history_store(tmp_path / "kpi.duckdb")


@pytest.fixture(scope="module")
def total_spend():
    (kpi_def,) = select_definitions(load_definitions(), ["total_spend"])
    return [kpi_def.model_copy(update={"targets": {"FY2025-Q4": 2300.0, "FY2026-Q3": 2400.0}})]


# ---- history --------------------------------------------------------------------------------


def test_history_has_the_quarters_before_the_planned_one(store, total_spend):
    frame = goal_history.quarter_history(store, total_spend, "FY2026-Q3")
    assert frame.columns == [
        "kpi", "name", "unit", "direction", "period", "value", "target", "complete"
    ]  # fmt: skip
    assert frame["period"].to_list() == [
        "FY2024-Q3", "FY2024-Q4", "FY2025-Q1", "FY2025-Q2",
        "FY2025-Q3", "FY2025-Q4", "FY2026-Q1", "FY2026-Q2",
    ]  # fmt: skip
    assert frame["value"].to_list() == pytest.approx(
        [2000, 2200, 2000, 2220, 2110, 2330, 2550, 800]
    )
    assert frame["target"].to_list() == [None] * 5 + [2300.0, None, None]
    assert frame["complete"].to_list() == [True] * 7 + [False]  # FY2026-Q2 has only begun


def test_history_is_as_long_as_the_data_allows(store, total_spend):
    frame = goal_history.quarter_history(store, total_spend, "FY2026-Q2", quarters=20)
    assert frame["period"].to_list()[0] == "FY2024-Q1"  # the first quarter with data
    assert len(frame) == 9
    assert goal_history.quarter_history(store, total_spend, "FY2024-Q1").is_empty()


# ---- forecasts ------------------------------------------------------------------------------


def test_forecast_next_quarter_seasonal(store, total_spend):
    (row,) = goal_history.kpi_forecasts(store, total_spend, "FY2026-Q2").iter_rows(named=True)
    # nine complete quarters, FY2024-Q1 .. FY2026-Q1: same quarter a year earlier FY2025-Q2
    # (2220) x (2220 + 2110 + 2330 + 2550) / (2100 + 2000 + 2200 + 2000) = 2220 x 9210 / 8300
    assert row["based_on"] == "FY2026-Q1"
    assert row["method"] == "seasonal_growth"
    assert row["forecast"] == pytest.approx(2220 * 9210 / 8300)
    # back-test: FY2026-Q1 from the eight before it: 2000 x (2000+2220+2110+2330) /
    # (1900+2100+2000+2200) = 2000 x 8660 / 8200; it came in at 2550
    miss = 2550 - 2000 * 8660 / 8200
    assert row["high"] - row["forecast"] == pytest.approx(miss)
    assert row["forecast"] - row["low"] == pytest.approx(miss)
    assert row["method_text"].startswith("FY2026-Q2 forecast €2,463.40.")
    assert "FY2025-Q2: €2,220.00" in row["method_text"]


def test_forecast_skips_the_started_quarter(store, total_spend):
    (row,) = goal_history.kpi_forecasts(store, total_spend, "FY2026-Q3").iter_rows(named=True)
    # FY2026-Q2 has only begun: from FY2026-Q1, two quarters ahead; the year-earlier twin
    # is FY2025-Q3 (2110): 2110 x 9210 / 8300. No back-test at that lead with nine
    # quarters: ± the mean move (200+100+200+200+220+110+220+220) / 8 = 183.75
    assert row["based_on"] == "FY2026-Q1"
    assert row["forecast"] == pytest.approx(2110 * 9210 / 8300)
    assert row["high"] - row["forecast"] == pytest.approx(183.75)
    assert row["target"] == 2400.0
    assert "2 quarters after FY2026-Q1" in row["method_text"]


def test_forecast_with_little_history_is_a_line(store, total_spend):
    (row,) = goal_history.kpi_forecasts(store, total_spend, "FY2024-Q4").iter_rows(named=True)
    # FY2024-Q1..Q3: 1900, 2100, 2000: slope 50, intercept 1950, at x = 3: 2100
    assert (row["method"], row["based_on"]) == ("trend", "FY2024-Q3")
    assert row["forecast"] == pytest.approx(2100.0)


def test_no_forecast_before_the_data(store, total_spend):
    (row,) = goal_history.kpi_forecasts(store, total_spend, "FY2023-Q4").iter_rows(named=True)
    assert (row["forecast"], row["method"]) == (None, "none")
    assert "no forecast" in row["method_text"]


def test_every_kpi_gets_a_row(store):
    definitions = load_definitions()
    frame = goal_history.kpi_forecasts(store, definitions, "FY2026-Q2")
    assert frame["kpi"].to_list() == [k.id for k in definitions]
    assert frame["method_text"].null_count() == 0


# ---- spend outlook ----------------------------------------------------------------------------


def test_spend_outlook_by_hand(store):
    frame = spend_outlook.spend_outlook(store, "FY2026-Q3")
    rows = {r["category"]: r for r in frame.iter_rows(named=True)}
    assert list(rows) == ["IT hardware", "Packaging", "Total"]
    # base: FY2025-Q3. Volume trend: FY2025-Q2..FY2026-Q1 against FY2024-Q2..FY2025-Q1.
    # Packaging (one item, I1): Q0 = 120+110+130+110 = 470 at 10.00 (S0 4700.00);
    # Q1 = 132+121+143+160 = 556 for 5610.00; price effect = 5610 - 10 x 556 = 50.00;
    # volume trend = (5610 - 4700 - 50) / 4700 = 86 / 470
    pack = rows["Packaging"]
    assert pack["base_spend"] == D("1210.00")
    assert pack["volume_trend"] == pytest.approx(86 / 470)
    assert pack["expected_change_pct"] == pytest.approx(3.5)
    assert pack["price_note"] == "Paper prices rising"
    forecast = round(1210 * (1 + 86 / 470) * 1.035, 2)  # 1481.58
    assert pack["spend_forecast"] == D(str(forecast))
    # IT hardware: four docks at 900.00 both years (INV2: 1000 USD x 0.9): no change, and no
    # outlook: the price change stays empty and counts 0
    it = rows["IT hardware"]
    assert (it["base_spend"], it["volume_trend"], it["expected_change_pct"]) == (
        D("900.00"),
        0.0,
        None,
    )
    assert it["spend_forecast"] == D("900.00")
    total = rows["Total"]
    assert total["is_total"] and total["base_quarter"] == "FY2025-Q3"
    assert total["base_spend"] == D("2110.00")
    assert total["spend_forecast"] == D(str(forecast)) + D("900.00")
    # the total row obeys the same formula with its weighted trend and price change
    implied = 2110 * (1 + total["volume_trend"]) * (1 + total["expected_change_pct"] / 100)
    assert implied == pytest.approx(float(total["spend_forecast"]))


def test_spend_outlook_filters_and_missing_base(store):
    frame = spend_outlook.spend_outlook(store, "FY2026-Q3", {"category": ["IT hardware"]})
    assert frame["category"].to_list() == ["IT hardware", "Total"]
    # a year before FY2024-Q3 is not in the store: no base, no forecast
    early = spend_outlook.spend_outlook(store, "FY2024-Q3")
    assert early["base_spend"].null_count() == len(early)
    assert early["spend_forecast"].null_count() == len(early)
    with pytest.raises(goal_history.GoalError, match="supplier"):
        spend_outlook.spend_outlook(store, "FY2026-Q3", {"supplier": ["x"]})
    assert "base × (1 + volume trend)" in spend_outlook.SPEND_OUTLOOK_EXPLAINED


# ---- the price outlook: who edits it ----------------------------------------------------------


def test_procurement_sets_the_price_outlook_with_an_audit_row(fresh):
    audit = goals.set_price_outlook(fresh, PROCUREMENT, "FY2026-Q3", "Packaging", 4.25, "Mill")
    assert (audit["old_change_pct"], audit["new_change_pct"]) == (D("3.5"), D("4.25"))
    goals.set_price_outlook(fresh, CFO, "FY2026-Q3", "Energy", "-2", None)  # the CFO may too
    frame = spend_outlook.spend_outlook(fresh, "FY2026-Q3")
    pct = dict(zip(frame["category"], frame["expected_change_pct"], strict=True))
    assert (pct["Packaging"], pct["Energy"]) == (4.25, -2.0)
    log = goals.outlook_changes(fresh, "FY2026-Q3")
    assert log["changed_by"].to_list() == ["claire.dubois@example.org", "jonas.berg@example.org"]
    last = log.row(1, named=True)
    assert (last["old_note"], last["new_note"]) == ("Paper prices rising", "Mill")
    with duckdb.connect(str(fresh.path), read_only=True) as con:
        rows = con.execute(
            "SELECT count(*) FROM price_outlook WHERE quarter = 'FY2026-Q3' "
            "AND category = 'Packaging'"
        ).fetchone()
    assert rows == (1,)  # replaced, not added


@pytest.mark.parametrize("person", [FINANCE, VIEWER, PROCUREMENT_VIEWER, None])
def test_others_may_not_edit_the_outlook(fresh, person):
    before = fresh.version()
    with pytest.raises(PermissionDenied, match="procurement members and the CFO"):
        goals.set_price_outlook(fresh, person, "FY2026-Q3", "Packaging", 9, "no")
    assert fresh.version() == before  # nothing written


@pytest.mark.parametrize(
    "quarter,category,pct,field",
    [
        ("FY2026", "Packaging", 1, "quarter"),
        ("FY2026-Q3", " ", 1, "category"),
        ("FY2026-Q3", "Packaging", "a lot", "expected_change_pct"),
        ("FY2026-Q3", "Packaging", -100, "expected_change_pct"),
        ("FY2026-Q3", "Packaging", "1.23456", "expected_change_pct"),
        ("FY2026-Q3", "Packaging", float("nan"), "expected_change_pct"),
    ],
)
def test_outlook_values_checked(fresh, quarter, category, pct, field):
    with pytest.raises(goal_history.GoalError) as err:
        goals.set_price_outlook(fresh, PROCUREMENT, quarter, category, pct)
    assert err.value.field == field


# ---- proposals ----------------------------------------------------------------------------------


def test_proposals_side_by_side_latest_wins(fresh, total_spend):
    goals.propose_target(fresh, FINANCE, "FY2026-Q3", "total_spend", 2300, "Budget says so")
    goals.propose_target(fresh, CFO, "FY2026-Q3", "total_spend", 2350, "Allow for prices")
    row = goals.propose_target(
        fresh, PROCUREMENT, "FY2026-Q3", "total_spend", 2450.5, "Paper +3.5 %"
    )
    assert row["department"] == "procurement"
    goals.propose_target(fresh, PROCUREMENT_2, "FY2026-Q4", "total_spend", 1, "other quarter")
    frame = goals.proposals(fresh, "FY2026-Q3")
    assert len(frame) == 1
    got = frame.row(0, named=True)
    assert (got["kpi"], got["finance_value"], got["procurement_value"]) == (
        "total_spend",
        2350.0,
        2450.5,
    )
    assert (got["finance_by"], got["finance_rationale"]) == (CFO.email, "Allow for prices")
    assert (got["procurement_name"], got["gap"], got["revisions"]) == ("Jonas Berg", 100.5, 3)
    history = goals.proposal_history(fresh, "FY2026-Q3")
    assert history["value"].to_list() == [2450.5, 2350.0, 2300.0]  # all kept, newest first
    assert history["department"].to_list() == ["procurement", "finance", "finance"]
    every = goals.proposals(fresh, "FY2026-Q3", load_definitions())
    assert every["kpi"].to_list()[0] == "total_spend" and every["name"][0] == "Total spend"
    assert every.filter(every["kpi"] == "po_compliance")["revisions"].to_list() == [0]


@pytest.mark.parametrize("person", [VIEWER, PROCUREMENT_VIEWER, None])
def test_viewers_may_not_propose(fresh, person):
    with pytest.raises(PermissionDenied, match="may not propose"):
        goals.propose_target(fresh, person, "FY2026-Q3", "total_spend", 1, "x")
    assert goals.proposals(fresh, "FY2026-Q3").is_empty()


def test_proposal_checks(fresh, total_spend):
    with pytest.raises(goal_history.GoalError, match="no KPI 'nope'"):
        goals.propose_target(fresh, FINANCE, "FY2026-Q3", "nope", 1, None, total_spend)
    with pytest.raises(goal_history.GoalError, match="not a number"):
        goals.propose_target(fresh, FINANCE, "FY2026-Q3", "total_spend", "lots")
    with pytest.raises(goal_history.GoalError, match="not a fiscal quarter"):
        goals.propose_target(fresh, FINANCE, "2026-07", "total_spend", 1)


# ---- agreed targets ----------------------------------------------------------------------------


def _meeting_file(tmp_path: Path) -> tuple[Path, str]:
    """A copy of config/kpis.yaml (total_spend agreed by Claire and Jonas) and its version."""
    source = Path(kpi.__file__).parent.parent / "config" / "kpis.yaml"
    yaml_path = tmp_path / "kpis.yaml"
    yaml_path.write_bytes(source.read_bytes())
    return yaml_path, definition_versions.file_version(yaml_path)


def _sign(store, path, person, value, why="Prices up 3.5 %", quarter="FY2026-Q3"):
    version = definition_versions.file_version(path)
    return goals.sign_target(
        store, path, person, quarter, "total_spend", value, why, version, people=PEOPLE
    )


def _approvals(path: Path) -> dict[str, str]:
    entry, _ = definition_versions.read_entry(path, "total_spend")
    return {dept: a["by"] for dept, a in (entry.get("approvals") or {}).items()}


def test_an_agreed_target_is_two_signatures_by_two_people(fresh, tmp_path):
    path, _ = _meeting_file(tmp_path)
    first = _sign(fresh, path, FINANCE, 2400)
    # the new target voids both earlier approvals; only Sam's own signature is written
    assert first.status == "proposed" and first.action == "target signed"
    assert set(first.cleared_approvals) == {"finance", "procurement"}
    assert _approvals(path) == {"finance": FINANCE.email}
    assert goals.decision_log(fresh).is_empty()

    second = _sign(fresh, path, PROCUREMENT, 2400, "Volumes flat")
    assert second.status == "agreed" and second.action == "target agreed"
    assert _approvals(path) == {"finance": FINANCE.email, "procurement": PROCUREMENT.email}
    (agreed,) = select_definitions(load_definitions(path), ["total_spend"])
    assert agreed.targets["FY2026-Q3"] == 2400
    assert definition_versions.effective_status(agreed, PEOPLE) == "agreed"
    log = goals.decision_log(fresh)
    assert len(log) == 1
    row = log.row(0, named=True)
    assert (row["kpi"], row["quarter"], row["value"], row["rationale"]) == (
        "total_spend",
        "FY2026-Q3",
        2400.0,
        "Volumes flat",
    )
    assert (row["finance_by"], row["finance_name"]) == (FINANCE.email, "Sam Okafor")
    assert (row["procurement_by"], row["procurement_name"]) == (PROCUREMENT.email, "Jonas Berg")
    assert row["kpis_version"] == definition_versions.file_version(path)
    # each history line names only the person who acted
    lines = definition_versions.kpi_history(path, "total_spend")
    assert [(h["who"], h["action"], h["signers"]) for h in lines] == [
        (PROCUREMENT.email, "target agreed", [PROCUREMENT.email]),
        (FINANCE.email, "target signed", [FINANCE.email]),
    ]
    # signing the agreed value again changes nothing and logs nothing twice
    assert not _sign(fresh, path, PROCUREMENT, 2400).changed
    assert len(goals.decision_log(fresh)) == 1


def test_a_second_signature_on_another_value_voids_the_first(fresh, tmp_path):
    path, _ = _meeting_file(tmp_path)
    _sign(fresh, path, CFO, 2400)
    other = _sign(fresh, path, PROCUREMENT_2, 2500, "Prices up 5 %")
    assert other.status == "proposed"
    assert set(other.cleared_approvals) == {"finance"}
    assert _approvals(path) == {"procurement": PROCUREMENT_2.email}
    assert goals.decision_log(fresh).is_empty()
    agreed = _sign(fresh, path, FINANCE, 2500, "Fine")
    assert agreed.status == "agreed"
    row = goals.decision_log(fresh).row(0, named=True)
    assert (row["value"], row["finance_name"], row["procurement_name"]) == (
        2500.0,
        "Sam Okafor",
        "Ana Ruiz",
    )


def test_a_signature_on_changed_content_waits_for_the_other_department(fresh, tmp_path):
    path, _ = _meeting_file(tmp_path)
    # the formula changed by hand: both approvals name the older content now
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("formula: sum(amount)\n", "formula: sum(amount) * 2\n", 1))
    (before,) = select_definitions(load_definitions(path), ["total_spend"])
    assert definition_versions.approvals_state(before, PEOPLE) == {
        "finance": "void",
        "procurement": "void",
    }
    target = before.targets["FY2026-Q3"]  # the same value: only the formula changed
    result = _sign(fresh, path, FINANCE, target)
    assert result.status == "proposed" and set(result.cleared_approvals) == {"procurement"}
    assert _approvals(path) == {"finance": FINANCE.email}
    assert goals.decision_log(fresh).is_empty()
    assert _sign(fresh, path, PROCUREMENT, target).status == "agreed"
    assert len(goals.decision_log(fresh)) == 1


def test_a_refused_save_logs_nothing(fresh, tmp_path):
    path, version = _meeting_file(tmp_path)
    _sign(fresh, path, FINANCE, 2400)
    with pytest.raises(ConflictError, match="changed by someone else"):
        goals.sign_target(
            fresh, path, PROCUREMENT, "FY2026-Q3", "total_spend", 2400, "x", version,
            people=PEOPLE,
        )  # fmt: skip
    assert _approvals(path) == {"finance": FINANCE.email}
    assert goals.decision_log(fresh).is_empty()


@pytest.mark.parametrize("person", [VIEWER, PROCUREMENT_VIEWER, None])
def test_only_members_and_the_cfo_sign(fresh, tmp_path, person):
    path, version = _meeting_file(tmp_path)
    before = path.read_bytes()
    with pytest.raises(PermissionDenied, match="may not sign targets"):
        goals.sign_target(
            fresh, path, person, "FY2026-Q3", "total_spend", 1, "x", version, people=PEOPLE
        )
    assert path.read_bytes() == before and goals.decision_log(fresh).is_empty()


def test_nobody_signs_for_someone_else():
    """The acting person is the only person a signing call takes: there is no parameter to
    name another signer, so a finance member can only ever write finance's approval."""
    for call in (goals.sign_target, definition_saves.sign_target, definition_saves.approve_kpi):
        people_params = [
            name
            for name, p in inspect.signature(call).parameters.items()
            if str(p.annotation).startswith("Person")  # not `people`, not the row's maker
        ]
        assert people_params == ["person"], call.__name__


def test_a_signature_needs_a_rationale(fresh, tmp_path):
    path, version = _meeting_file(tmp_path)
    with pytest.raises(goal_history.GoalError, match="say why"):
        goals.sign_target(
            fresh, path, FINANCE, "FY2026-Q3", "total_spend", 1, "  ", version, people=PEOPLE
        )


# ---- stores and quarters ------------------------------------------------------------------------


def test_a_store_older_than_the_meeting_tables_reads_empty(fresh):
    with duckdb.connect(str(fresh.path)) as con:
        for table in ("goal_decisions", "target_proposals", "outlook_changes"):
            con.execute(f"DROP TABLE {table}")
    assert goals.decision_log(fresh).columns[:3] == ["decided_at", "quarter", "kpi"]
    assert goals.proposals(fresh, "FY2026-Q3").is_empty()
    assert goals.outlook_changes(fresh).is_empty()
    goals.propose_target(fresh, FINANCE, "FY2026-Q3", "total_spend", 5)  # the write adds them
    assert len(goals.proposals(fresh, "FY2026-Q3")) == 1


def test_quarters(store):
    assert goal_history.default_quarter_to_plan(store) == "FY2026-Q2"
    assert goal_history.scorecard_quarter(store, "FY2026-Q3") == "FY2026-Q1"
    assert goal_history.scorecard_quarter(store, "FY2024-Q1") is None
    assert goal_history.next_quarter("FY2026-Q4", store) == "FY2027-Q1"
    assert goal_history.quarters_before("FY2026-Q1", 2, store) == ["FY2025-Q3", "FY2025-Q4"]


def test_typed_and_stored_values_round_trip_percent_kpis():
    # the conversion moved to kpi.reporting.target_units (tests/unit/test_target_units.py)
    from kpi.reporting.goals_view import start_value
    from kpi.reporting.target_units import stored_target, typed_target

    assert typed_target(0.725, "percent") == 72.5
    assert stored_target(72.5, "percent") == 0.725
    assert start_value(None, 12.3456789, "days") == 12.3457
    assert stored_target(None, "percent") is None


# ---- the goals page's logic (kpi/reporting/goals_view.py) ----------------------------

from datetime import UTC, datetime  # noqa: E402

import polars as pl  # noqa: E402

from kpi.reporting import goals_view as view  # noqa: E402


def test_quarters_to_plan_start_after_the_last_complete_one(store):
    # FY2026-Q1 is the last complete quarter: plan FY2026-Q2 and the three after it
    assert view.quarters_to_plan(store) == ["FY2026-Q2", "FY2026-Q3", "FY2026-Q4", "FY2027-Q1"]
    assert view.quarters_to_plan(store, 2) == ["FY2026-Q2", "FY2026-Q3"]


def test_target_input_per_unit():
    from kpi.reporting.target_units import target_input  # shared with the definitions form

    assert target_input("currency", "USD") == ("USD", 1000.0, "%.2f")
    assert target_input("percent", "USD") == ("%", 0.1, "%.2f")
    assert target_input("days", "EUR") == ("days", 0.5, "%.1f")
    assert target_input("widgets", "EUR") == ("widgets", 1.0, "%.2f")  # an unknown unit


def test_kpi_facts_last_value_and_forecast_delta(store, total_spend):
    history, forecasts = view.kpi_facts(store, total_spend, "FY2026-Q3", {}, "EUR")
    assert history.equals(
        goal_history.quarter_history(store, total_spend, "FY2026-Q3", 8, {}, "EUR")
    )
    assert forecasts["kpi"].to_list() == ["total_spend"]
    last = view.last_complete(history)
    # FY2026-Q2 is started, not complete: the last complete value is FY2026-Q1's 2550.00
    assert (last["period"], last["value"]) == ("FY2026-Q1", pytest.approx(2550.0))
    assert view.last_complete(history.head(0)) is None
    # 2700 - 2550 = +150 (compact money: no cents)
    assert view.forecast_delta(2700.0, {"value": 2550.0}, "currency", "EUR") == "+€150"
    assert view.forecast_delta(0.75, {"value": 0.70}, "percent", "EUR") == "+5.0 pp"
    assert view.forecast_delta(None, {"value": 2550.0}, "currency", "EUR") is None
    assert view.forecast_delta(2700.0, None, "currency", "EUR") is None
    packaging, _ = view.kpi_facts(
        store, total_spend, "FY2026-Q3", {"category": ["Packaging"]}, "EUR"
    )
    # Packaging alone in FY2026-Q1: 160 cartons, 1050 + 100 + 500 = 1650.00
    assert view.last_complete(packaging)["value"] == pytest.approx(1650.0)


def test_meeting_records(fresh, total_spend):
    goals.propose_target(fresh, FINANCE, "FY2026-Q3", "total_spend", 2300, "Budget")
    proposed, decided, every, outlook_log = view.meeting_records(fresh, "FY2026-Q3", total_spend)
    assert proposed["finance_value"].to_list() == [2300.0]
    assert decided.is_empty() and outlook_log.is_empty()
    assert every["value"].to_list() == [2300.0]


OVERVIEW = pl.DataFrame(
    {
        "kpi": ["total_spend", "po_compliance"],
        "name": ["Total spend", "PO compliance"],
        "unit": ["currency", "percent"],
        "last_quarter": ["FY2026-Q1", "FY2026-Q1"],
        "last": [2550.0, 0.8],
        "forecast": [2700.0, None],
        "low": [2500.0, None],
        "high": [2900.0, None],
        "finance_value": [2300.0, 0.9],
        "procurement_value": [None, 0.85],
        "target": [2400.0, None],
        "agreed": [2400.0, None],
        "signed_by": ["Sam Okafor & Jonas Berg", None],
    }
)


def test_overview_shown_formats_each_row_in_its_unit():
    shown = view.overview_shown(OVERVIEW, "EUR")
    spend, compliance = shown.iter_rows(named=True)
    # compact money: thousands as k with one decimal (2550 -> 2.55 k, stored as 2.5499… -> 2.5)
    assert (spend["last"], spend["forecast"], spend["range"]) == (
        "€2.5 k",
        "€2.7 k",
        "€2.5 k to €2.9 k",
    )
    assert (spend["finance_value"], spend["procurement_value"]) == ("€2.3 k", "–")
    assert (spend["target"], spend["signed_by"]) == ("€2.4 k", "✓ Sam Okafor & Jonas Berg")
    # 0.8 -> 80.0 %; no forecast: no range; nothing agreed: no signers
    assert (compliance["last"], compliance["forecast"], compliance["range"]) == ("80.0 %", "–", "")
    assert (compliance["procurement_value"], compliance["signed_by"]) == ("85.0 %", "")
    assert view.single_quarter(OVERVIEW) == "FY2026-Q1"
    mixed = OVERVIEW.with_columns(pl.Series("last_quarter", ["FY2026-Q1", "FY2025-Q4"]))
    assert view.single_quarter(mixed) is None


def test_overview_caption_and_history_table():
    forecasts = pl.DataFrame({"based_on": [None, "FY2026-Q1"]}, schema={"based_on": pl.String})
    caption = view.overview_caption(forecasts, "FY2026-Q3")
    assert caption.startswith(
        "Per KPI: the value of the last complete quarter (FY2026-Q1), the forecast for "
        "**FY2026-Q3** and its range"
    )
    none = view.overview_caption(forecasts.head(1), "FY2026-Q3")
    assert none.startswith("Per KPI: the value of the last complete quarter, the forecast")
    history = pl.DataFrame(
        {
            "period": ["FY2026-Q1", "FY2026-Q2"],
            "unit": ["percent", "percent"],
            "value": [0.725, 0.7],
            "target": [0.7, None],
            "complete": [True, False],
        }
    )
    assert view.history_shown(history, "EUR").rows() == [
        ("FY2026-Q1", "72.5 %", "70.0 %", "complete"),
        ("FY2026-Q2", "70.0 %", "–", "part of the quarter"),
    ]


def test_decisions_table_names_each_kpi():
    when = datetime(2026, 6, 1, 10, 0)
    decisions = pl.DataFrame(
        {
            "quarter": ["FY2026-Q3", "FY2026-Q3"],
            "kpi": ["total_spend", "gone_kpi"],
            "value": [2400.0, 1.0],
            "decided_at": [when, when],
        }
    )
    table = view.decisions_table(decisions, {"total_spend": "Total spend"})
    assert table.columns == ["decided_at", "quarter", "kpi", "name", "value"]
    assert table["name"].to_list() == ["Total spend", "gone_kpi"]  # an unknown id stays


def test_goals_texts():
    assert view.filtered_warning([]) is None
    assert view.filtered_warning(["category: Packaging", "cost centre: CC1"]).startswith(
        "Filtered (category: Packaging; cost centre: CC1): the history, forecasts"
    )
    row = {
        "finance_name": "Sam Okafor",
        "finance_by": FINANCE.email,
        "finance_at": datetime(2026, 5, 4, 9, 30, 12),
        "procurement_name": None,
        "procurement_by": None,
        "procurement_at": None,
    }
    assert view.proposal_signature(row, "finance") == ("Sam Okafor · 2026-05-04 09:30 UTC")
    proposal = {"department": "procurement", "value": 0.725}
    assert view.proposed_message(proposal, "OTD", "FY2026-Q3", "percent", "EUR") == (
        "Procurement proposes 72.5 % for OTD in FY2026-Q3."
    )
    decision = {
        "value": 2400.0,
        "rationale": "Prices up 3.5 %. ",
        "finance_name": "Sam Okafor",
        "procurement_name": "Jonas Berg",
        "decided_at": datetime(2026, 6, 1, 10, 5),
    }
    assert view.agreed_text(decision, "FY2026-Q3", "currency", "EUR") == (
        "**Agreed for FY2026-Q3: €2,400.00.** Prices up 3.5 %. Signed for finance by Sam "
        "Okafor and for procurement by Jonas Berg, 2026-06-01 10:05 UTC."
    )


def test_the_page_says_who_signed_what_and_who_still_has_to(fresh, tmp_path):
    path, _ = _meeting_file(tmp_path)
    today = datetime.now(UTC).date()
    _sign(fresh, path, FINANCE, 2400)
    (kpi,) = select_definitions(load_definitions(path), ["total_spend"])
    assert view.signatures_text(kpi, "FY2026-Q3", PEOPLE, "EUR") == (
        f"Finance signed €2,400.00 (Sam Okafor, {today}); procurement has still to sign."
    )
    assert view.sign_note(kpi, "FY2026-Q3", "procurement", PEOPLE, "EUR") == (
        f"Finance signed €2,400.00 (Sam Okafor, {today}). Sign the same value to agree the "
        "target; signing a different value voids finance's signature, and finance has to sign "
        "again."
    )
    assert view.sign_note(kpi, "FY2026-Q3", "finance", PEOPLE, "EUR") is None
    # a signer people.yaml does not know: the approval does not count, and the page says why
    assert view.signatures_text(kpi, "FY2026-Q3", [PROCUREMENT], "EUR") == (
        "Finance has still to sign (its approval does not count: sam.okafor@example.org is not "
        "in people.yaml); procurement has still to sign."
    )
    result = _sign(fresh, path, PROCUREMENT, 2400)
    (kpi,) = select_definitions(load_definitions(path), ["total_spend"])
    assert view.signatures_text(kpi, "FY2026-Q3", PEOPLE, "EUR") == (
        f"Finance signed €2,400.00 (Sam Okafor, {today}); procurement signed €2,400.00 "
        f"(Jonas Berg, {today}). Both departments signed it: €2,400.00 is agreed for FY2026-Q3."
    )
    assert view.sign_note(kpi, "FY2026-Q3", "finance", PEOPLE, "EUR") == (
        "Both departments signed €2,400.00: it is agreed. Signing a different value voids both "
        "signatures (procurement's and finance's), and both have to sign again."
    )
    assert view.kpi_caption(kpi, PEOPLE).startswith(
        "`total_spend` · owner **finance** · currency · target is best · definition agreed."
    )
    assert view.kpi_caption(kpi, []).startswith(  # nobody known: nothing counts
        "`total_spend` · owner **finance** · currency · target is best · definition proposed."
    )
    args = ("Spend", 2400.0, "currency", "EUR", "FY2026-Q3")
    assert view.signed_message(result, *args, "procurement", "Jonas Berg") == (
        "Spend: €2,400.00 for FY2026-Q3 signed for procurement by Jonas Berg. Both departments "
        "signed it: agreed, written into the shared KPI definitions and the decision log."
    )
    waiting = types.SimpleNamespace(status="proposed", cleared_approvals={"procurement": {}})
    assert view.signed_message(waiting, *args, "finance", "Sam Okafor") == (
        "Spend: €2,400.00 for FY2026-Q3 signed for finance by Sam Okafor and written into the "
        "shared KPI definitions. It is agreed once procurement signs the same value. "
        "Procurement's earlier signature was of another content: it is void."
    )


def test_who_may_sign_on_the_page(fresh, tmp_path):
    assert view.sign_blocked(FINANCE) is None and view.sign_blocked(CFO) is None
    assert view.sign_blocked(PROCUREMENT) is None
    assert view.sign_blocked(VIEWER) == (
        "Lee Chen (operations, viewer) may not sign targets: a finance member or the CFO signs "
        "for finance, a procurement member for procurement. Each signs for themselves: pick one "
        "of them under **Acting as** to sign."
    )
    assert view.sign_blocked(None).startswith(f"{NOBODY} may not sign targets")
    path, version = _meeting_file(tmp_path)
    with pytest.raises(goal_history.GoalError, match="Enter the target you sign"):
        view.sign(fresh, path, FINANCE, "FY2026-Q3", "total_spend", None, "currency", "x",
                  version, PEOPLE)  # fmt: skip


def test_outlook_form_finds_and_saves_only_the_edits(fresh):
    outlook = spend_outlook.spend_outlook(fresh, "FY2026-Q3")
    editable = view.outlook_editable(outlook, ["Energy", "IT hardware", "Packaging"])
    # Energy has no spend and no outlook yet; Packaging has procurement's +3.5 %
    assert editable.rows() == [
        ("Energy", None, None),
        ("IT hardware", None, None),
        ("Packaging", 3.5, "Paper prices rising"),
    ]
    edited = editable.with_columns(
        pl.Series("expected_change_pct", [None, 2.0, 3.5]),
        pl.Series("note", ["  ", None, "Paper prices rising"]),
    )
    # a blank note is no note: only IT hardware's change is an edit
    changed = view.outlook_edits(edited, editable)
    assert changed.select("category", "expected_change_pct", "note").rows() == [
        ("IT hardware", 2.0, None)
    ]
    assert view.save_outlook_edits(fresh, PROCUREMENT, "FY2026-Q3", changed) == (
        ["IT hardware"],
        [],
    )
    after = spend_outlook.spend_outlook(fresh, "FY2026-Q3").filter(
        pl.col("category") == "IT hardware"
    )
    # 900.00 base, no volume change, +2 %: 900 x 1.02 = 918.00
    assert after["spend_forecast"].to_list() == [D("918.00")]
    cleared = edited.with_columns(pl.Series("expected_change_pct", [None, 2.0, None]))
    saved, failed = view.save_outlook_edits(
        fresh, PROCUREMENT, "FY2026-Q3", view.outlook_edits(cleared, editable)
    )
    assert (saved, failed) == (
        ["IT hardware"],
        ["Packaging: give an expected price change (0 for none)."],
    )
    before = fresh.version()
    saved, failed = view.save_outlook_edits(fresh, VIEWER, "FY2026-Q3", changed)
    assert saved == [] and len(failed) == 1 and "may not change the price outlook" in failed[0]
    assert fresh.version() == before  # nothing written


def test_one_kpi_and_what_the_target_forms_start_from(store, total_spend):
    history, forecasts = view.kpi_facts(store, total_spend, "FY2026-Q3", {}, "EUR")
    proposed = goals.proposals(store, "FY2026-Q3", total_spend)
    hist, fc, prop = view.one_kpi("total_spend", history, forecasts, proposed)
    assert hist["kpi"].unique().to_list() == ["total_spend"]
    assert (fc["kpi"], prop["kpi"], prop["finance_value"]) == ("total_spend", "total_spend", None)
    # a percent KPI's share is typed in percent: 0.725 -> 72.5; nothing given: the forecast
    assert view.start_value(0.725, 0.9, "percent") == 72.5
    assert view.start_value(None, 0.9, "percent") == 90.0
    assert view.start_value(None, 2550.0, "currency") == 2550.0
    assert view.start_value(None, None, "currency") is None


def test_propose_stores_the_typed_value(fresh):
    definitions = load_definitions()
    # 92.5 typed for a percent KPI is a share of 0.925 in the store
    row = view.propose(
        fresh, FINANCE, "FY2026-Q3", "po_compliance", 92.5, "percent", "Audit", definitions
    )
    assert (row["department"], row["value"]) == ("finance", pytest.approx(0.925))
    assert goals.proposals(fresh, "FY2026-Q3")["finance_value"].to_list() == [pytest.approx(0.925)]
    with pytest.raises(goal_history.GoalError, match="Enter the target you propose."):
        view.propose(fresh, FINANCE, "FY2026-Q3", "po_compliance", None, "percent", "", definitions)
    with pytest.raises(PermissionDenied):
        view.propose(fresh, VIEWER, "FY2026-Q3", "po_compliance", 90, "percent", "", definitions)
