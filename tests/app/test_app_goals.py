"""The Quarterly goals page under AppTest on the hand fixture, writing a copy of config/.

The hand fixture's last complete quarter is FY2026-Q1, so the page plans FY2026-Q2. Every
test works on its own copy of config/ (KPI_CONFIG), so signed targets land in that copy.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.workflows import goals
from kpi.workflows.definition_versions import kpi_history

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "goals.py")
PLAN = "FY2026-Q2"
KPI = "po_compliance"
SFX = f"{KPI}_{PLAN}"  # the page's form widgets are keyed per KPI and quarter
FINANCE = "Sam Okafor (finance, member)"
PROCUREMENT = "Jonas Berg (procurement, member)"
VIEWER = "Lee Chen (operations, viewer)"
SAM, JONAS = "sam.okafor@example.org", "jonas.berg@example.org"


@pytest.fixture()
def kpis_yaml(tmp_path, monkeypatch) -> Path:
    """A copy of config/ in tmp: the page's writes go there, never to the real file."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return config / "kpis.yaml"


def page(**state) -> AppTest:
    """One run of the page with widget values set beforehand (see tests/app/test_app.py)."""
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    ok(at)
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def cells(at: AppTest) -> list[str]:
    return [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def target(path: Path, kpi_id: str = KPI, quarter: str = PLAN) -> float | None:
    kpi = next(k for k in load_definitions(path) if k.id == kpi_id)
    return kpi.targets.get(quarter)


def test_the_page_shows_history_forecast_outlook_and_empty_logs(store, kpis_yaml):
    at = page(goals_kpi="total_spend")
    assert [t.value for t in at.title] == ["Quarterly goals"]
    assert [t.label for t in at.tabs] == ["All KPIs", "KPI by KPI", "Spend outlook", "Decision log"]
    assert at.selectbox(key="goals_quarter").value == PLAN
    assert at.selectbox(key="goals_quarter").options[:2] == [PLAN, "FY2026-Q3"]
    shown = metrics(at)
    assert shown["Last value (FY2026-Q1)"] == "€2,550.00"  # the engine tests' hand figure
    assert shown[f"Forecast {PLAN}"] == "€2,550.00"  # one quarter: carried forward
    assert any("carried forward" in m.value for m in at.markdown)  # the method, in words
    values = cells(at)
    assert "Total spend" in values and "PO compliance" in values  # the overview of all KPIs
    assert "64.7 %" in values  # PO compliance in FY2026-Q1
    assert any("No base for FY2026-Q2" in i.value for i in at.info)  # no FY2025-Q2 in store
    assert any("No agreed targets yet" in i.value for i in at.info)
    assert not errors(at)


def test_procurement_edits_the_price_outlook_and_finance_may_not(store, kpis_yaml):
    at = page(acting_as=PROCUREMENT)
    editor_key = f"outlook_edit_{PLAN}"
    categories = next(
        df.value["category"].tolist() for df in at.dataframe if "note" in df.value.columns
    )
    row = str(categories.index("Packaging"))
    at.session_state[editor_key] = {
        "edited_rows": {row: {"expected_change_pct": 4.5, "note": "Board prices up"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.button(key=f"outlook_save_{PLAN}").click().run()
    ok(at)
    assert not errors(at)
    assert any("Price outlook for FY2026-Q2 saved: Packaging" in s.value for s in at.success)
    log = goals.outlook_changes(store, PLAN)
    assert log.height == 1
    change = log.row(0, named=True)
    assert (change["category"], change["new_change_pct"], change["new_note"]) == (
        "Packaging",
        4.5,
        "Board prices up",
    )
    assert change["changed_by"] == JONAS
    assert "Board prices up" in cells(at)  # the outlook table and the change history show it

    at = page(acting_as=FINANCE)  # the form is shown disabled, under the reason
    assert at.button(key=f"outlook_save_{PLAN}").disabled
    assert any(
        "Sam Okafor (finance, member) may not change the price outlook" in i.value for i in at.info
    )
    at.session_state[editor_key] = {
        "edited_rows": {row: {"expected_change_pct": 0.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    stale_click(at.button(key=f"outlook_save_{PLAN}"))
    at.run()  # Streamlit drops a disabled button's click; kpi/ refuses it too (test_goals.py)
    assert goals.outlook_changes(store, PLAN).height == 1


def test_finance_and_procurement_propose_side_by_side(store, kpis_yaml):
    at = page(acting_as=FINANCE, goals_kpi=KPI)
    at.number_input(key=f"prop_value_{SFX}").set_value(93.5)
    at.text_area(key=f"prop_why_{SFX}").input("Back to the FY2025 level")
    at.button(key=f"prop_go_{SFX}").click().run()
    ok(at)
    assert not errors(at)
    assert any("Finance proposes 93.5 %" in s.value for s in at.success)

    at = page(acting_as=PROCUREMENT, goals_kpi=KPI)
    at.number_input(key=f"prop_value_{SFX}").set_value(90.0)
    at.text_area(key=f"prop_why_{SFX}").input("Two new suppliers without catalogues")
    at.button(key=f"prop_go_{SFX}").click().run()
    ok(at)
    assert not errors(at)
    shown = metrics(at)
    assert shown["Finance proposes"] == "93.5 %" and shown["Procurement proposes"] == "90.0 %"
    assert any("Two new suppliers" in m.value for m in at.markdown)

    side = goals.proposals(store, PLAN).row(0, named=True)
    assert side["kpi"] == KPI
    assert side["finance_value"] == pytest.approx(0.935)  # stored as a share
    assert side["procurement_value"] == pytest.approx(0.90)
    assert (side["finance_by"], side["procurement_by"]) == (SAM, JONAS)


def stale_click(button) -> None:
    """A click the page did not offer (the button is drawn disabled): set as a browser that
    still showed it enabled would send it (AppTest refuses clicks on disabled buttons)."""
    button._value = True


def test_a_viewer_cannot_propose(store, kpis_yaml):
    at = page(acting_as=VIEWER, goals_kpi=KPI)
    assert any("may not propose a target" in i.value for i in at.info)
    assert at.number_input(key=f"prop_value_{SFX}").disabled
    assert at.button(key=f"prop_go_{SFX}").disabled
    stale_click(at.button(key=f"prop_go_{SFX}"))
    at.run()  # Streamlit drops a disabled button's click; kpi/ refuses it too (test_goals.py)
    assert goals.proposals(store, PLAN).is_empty()


def sign(at: AppTest, value: float = 93.0) -> AppTest:
    """The acting person signs a target for their own department."""
    at.number_input(key=f"sign_value_{SFX}").set_value(value)
    at.text_area(key=f"sign_why_{SFX}").input("Between both proposals; two suppliers onboarded")
    at.button(key=f"sign_go_{SFX}").click().run()
    ok(at)
    return at


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_two_people_sign_the_same_target_and_it_is_agreed(store, kpis_yaml):
    today = datetime.now(UTC).date()
    at = page(acting_as=FINANCE, goals_kpi=KPI)
    assert at.button(key=f"sign_go_{SFX}").label == "Sign for finance"
    at = sign(at)
    assert not errors(at)
    assert any(
        "93.0 % for FY2026-Q2 signed for finance by Sam Okafor and written into the shared "
        "KPI definitions. It is agreed once procurement signs the same value." in s.value
        for s in at.success
    ), [s.value for s in at.success]
    kpi = next(k for k in load_definitions(kpis_yaml) if k.id == KPI)
    assert kpi.targets[PLAN] == pytest.approx(0.93)
    assert kpi.status == "proposed"  # the new target voided the earlier approvals
    assert (kpi.approvals.finance.by, kpi.approvals.procurement) == (SAM, None)
    assert goals.decision_log(store).is_empty()
    assert (ROOT / "config" / "kpis.yaml").read_text(encoding="utf-8") != kpis_yaml.read_text(
        encoding="utf-8"
    )  # the real file is untouched

    at = page(acting_as=PROCUREMENT, goals_kpi=KPI)  # Jonas, in his own session
    assert f"Finance signed 93.0 % (Sam Okafor, {today}); procurement has still to sign." in (
        texts(at)
    )
    assert any("signing a different value voids finance's signature" in w.value for w in at.warning)
    at = sign(at)
    assert not errors(at)
    assert any("Both departments signed it: agreed" in s.value for s in at.success)
    kpi = next(k for k in load_definitions(kpis_yaml) if k.id == KPI)
    assert kpi.status == "agreed"
    assert (kpi.approvals.finance.by, kpi.approvals.procurement.by) == (SAM, JONAS)
    log = goals.decision_log(store)
    assert log.height == 1
    row = log.row(0, named=True)
    assert (row["quarter"], row["kpi"], row["value"]) == (PLAN, KPI, pytest.approx(0.93))
    assert (row["finance_by"], row["procurement_by"]) == (SAM, JONAS)
    assert "✓ Sam Okafor & Jonas Berg" in cells(at)  # the overview shows who signed
    # The next run reads the new target (in the app, app.py reloads the definitions each
    # run; under AppTest only a new session does).
    at = page(acting_as=FINANCE, goals_kpi=KPI)
    assert metrics(at)[f"Target {PLAN}"] == "93.0 %"
    assert any(t.endswith(f"93.0 % is agreed for {PLAN}.") for t in texts(at)), texts(at)


def test_signing_another_value_voids_the_other_signature(store, kpis_yaml):
    sign(page(acting_as=FINANCE, goals_kpi=KPI))
    at = sign(page(acting_as="Ana Ruiz (procurement, member)", goals_kpi=KPI), value=94.0)
    assert any(
        "Finance's earlier signature was of another content: it is void." in s.value
        for s in at.success
    )
    kpi = next(k for k in load_definitions(kpis_yaml) if k.id == KPI)
    assert kpi.status == "proposed" and kpi.approvals.finance is None
    assert kpi.approvals.procurement.by == "ana.ruiz@example.org"
    assert goals.decision_log(store).is_empty()


def test_a_viewer_sees_the_signing_form_disabled_with_the_reason(store, kpis_yaml):
    at = page(acting_as=VIEWER, goals_kpi=KPI)
    assert at.button(key=f"sign_go_{SFX}").disabled
    assert at.number_input(key=f"sign_value_{SFX}").disabled
    assert any(
        i.value.startswith("Lee Chen (operations, viewer) may not sign targets") for i in at.info
    ), [i.value for i in at.info]


def test_a_save_in_between_is_refused_and_can_be_redone(store, kpis_yaml):
    at = page(acting_as=FINANCE, goals_kpi=KPI)
    with kpis_yaml.open("a", encoding="utf-8") as f:  # somebody saves the file meanwhile
        f.write("# edited by hand in between\n")
    at = sign(at)
    assert any("changed by someone else" in e for e in errors(at)), errors(at)
    assert len(at.code) == 2  # both versions of the entry, side by side
    assert target(kpis_yaml) != pytest.approx(0.93)

    at.button(key=f"sign_go_{SFX}").click().run()  # redo on the version now shown
    ok(at)
    assert not errors(at)
    assert target(kpis_yaml) == pytest.approx(0.93)
    assert goals.decision_log(store).is_empty()  # procurement has still to sign


def test_sidebar_filters_are_flagged_and_narrow_the_outlook(store, kpis_yaml):
    at = page(f_cat=["Packaging"])
    assert any("Filtered (category: Packaging)" in w.value for w in at.warning)
    editor = next(df.value for df in at.dataframe if "note" in df.value.columns)
    assert editor["category"].tolist() == ["IT hardware", "Packaging"]  # all can be edited
    assert not errors(at)


def test_an_empty_store_says_what_to_do(tmp_path, monkeypatch, kpis_yaml):
    empty = Store(tmp_path / "empty.duckdb")
    empty.initialise()
    monkeypatch.setenv("KPI_DB", str(empty.path))
    at = page()
    assert any("No spend in the store" in i.value for i in at.info)


# ---- issue 15: forms shown disabled with the reason, no preset verdict, one unit, words ----

NOBODY_CHOSEN = "Someone who is not signed in (or has not chosen who they act as)"


@pytest.mark.parametrize(
    ("who", "dept", "outlook"),
    [
        ("Claire Dubois (finance, cfo)", "finance", True),
        (FINANCE, "finance", False),
        (PROCUREMENT, "procurement", True),
        (VIEWER, None, False),
        (None, None, False),
    ],
)
def test_each_role_sees_which_forms_it_may_use_and_why_not(store, kpis_yaml, who, dept, outlook):
    state = {"goals_kpi": KPI} | ({"acting_as": who} if who else {})
    at = page(**state)
    infos = " ".join(i.value for i in at.info)
    label = who or NOBODY_CHOSEN
    propose, sign_button = at.button(key=f"prop_go_{SFX}"), at.button(key=f"sign_go_{SFX}")
    if dept:
        assert not propose.disabled and not sign_button.disabled
        assert sign_button.label == f"Sign for {dept}"
        assert "may not propose" not in infos and "may not sign" not in infos
    else:
        assert propose.disabled and at.number_input(key=f"prop_value_{SFX}").disabled
        assert sign_button.disabled and at.number_input(key=f"sign_value_{SFX}").disabled
        assert f"{label} may not propose a target" in infos
        assert f"{label} may not sign targets" in infos
    if outlook:
        assert not at.button(key=f"outlook_save_{PLAN}").disabled
    else:
        assert at.button(key=f"outlook_save_{PLAN}").disabled
        assert f"{label} may not change the price outlook" in infos


def test_the_signing_form_has_no_preset_target(store, kpis_yaml):
    """The target field starts empty (Enter never signs a value the form chose); sending it
    empty is refused with what to do, and nothing is written."""
    before = kpis_yaml.read_bytes()
    at = page(acting_as=FINANCE, goals_kpi=KPI)
    field = at.number_input(key=f"sign_value_{SFX}")
    assert field.value is None and field.placeholder.startswith("e.g. ")
    at.text_area(key=f"sign_why_{SFX}").input("Agreed in the room")
    at.button(key=f"sign_go_{SFX}").click().run()  # as Enter in the field would send it
    assert any("Enter the target you sign" in e for e in errors(at)), errors(at)
    assert kpis_yaml.read_bytes() == before


def test_a_percent_target_typed_on_the_goals_page_is_kept_as_the_definitions_form_keeps_it(
    store, kpis_yaml
):
    """92.1 typed here is 0.921 in the definitions, exactly what 92.1 typed in the
    definitions form keeps (tests/app/test_app_definitions.py), and that form shows 92.1."""
    from kpi.reporting.definitions_form import targets_frame

    sign(page(acting_as=FINANCE, goals_kpi=KPI), value=92.1)
    assert f"      {PLAN}: 0.921\n" in kpis_yaml.read_text(encoding="utf-8")
    assert target(kpis_yaml) == 0.921
    frame = targets_frame({PLAN: target(kpis_yaml)}, "percent")
    assert frame.rows() == [(PLAN, 92.1)]


def test_a_double_click_records_once_and_the_page_stays_on_its_tab(store, kpis_yaml):
    at = page(acting_as=FINANCE, goals_kpi=KPI, goals_tab="KPI by KPI")
    at.number_input(key=f"prop_value_{SFX}").set_value(93.5)
    at.button(key=f"prop_go_{SFX}").click().run()
    at.button(key=f"prop_go_{SFX}").click().run()  # the second click, same value
    ok(at)
    assert goals.proposal_history(store, PLAN).height == 1
    assert any("recorded already" in i.value for i in at.info)
    at = sign(at)
    assert any("signed for finance" in s.value for s in at.success)
    del at.session_state["_ctx"]  # app.py rereads the definitions on every run
    at.number_input(key=f"sign_value_{SFX}").set_value(93.0)
    at.button(key=f"sign_go_{SFX}").click().run()  # the second click of a double click
    ok(at)
    assert not errors(at), errors(at)
    assert any("Finance has signed 93.0 % already." in i.value for i in at.info)
    history = [r["action"] for r in kpi_history(kpis_yaml, KPI)]
    assert history == ["target signed"]
    assert at.session_state["goals_tab"] == "KPI by KPI"
    assert at.session_state["goals_kpi"] == KPI


def test_no_file_name_heads_the_page_and_percent_changes_are_in_points(store, kpis_yaml):
    at = page(acting_as=FINANCE, goals_kpi=KPI)
    heads = [t.value for t in (*at.title, *at.header, *at.subheader, *at.caption)]
    heads += [t.label for t in at.tabs] + [m.label for m in at.metric]
    assert not [h for h in heads if ".yaml" in h], heads
    forecast = next(m for m in at.metric if m.label.startswith("Forecast"))
    assert "percentage points" in forecast.help
