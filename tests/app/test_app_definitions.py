"""The KPI definitions page under AppTest on the hand fixture, with a copy of config/:
catalogue and filters, editing with live checks and a preview, conflicts, two-key approval,
permissions and a kpis.yaml broken by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from kpi.core.people import Person
from kpi.semantic.definitions import load_definitions
from kpi.workflows.definition_saves import edit_kpi
from kpi.workflows.definition_versions import file_version, kpi_history

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "definitions.py")
FINANCE = "Sam Okafor (finance, member)"
PROCUREMENT = "Jonas Berg (procurement, member)"
VIEWER = "Lee Chen (operations, viewer)"
CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")


@pytest.fixture()
def kpis(tmp_path, monkeypatch, store) -> Path:
    """A copy of config/ for this test; returns its kpis.yaml."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return config / "kpis.yaml"


def page(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def entry(path: Path, kpi_id: str) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return next(k for k in data["kpis"] if k["id"] == kpi_id)


def outside(text: str, kpi_id: str) -> tuple[str, str]:
    """The file's text before the entry and from the next entry on."""
    start = text.index(f"  - id: {kpi_id}\n")
    end = text.index("\n  - id: ", start + 1)
    return text[:start], text[end:]


def catalogue(at: AppTest):
    return next(d.value for d in at.dataframe if "finance_approval" in d.value.columns)


def catalogue_ids(at: AppTest) -> list[str]:
    return list(catalogue(at)["id"])


def not_agreed_on_the_overview() -> str:
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return " ".join(w.value for w in at.warning if "Not yet agreed" in w.value)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_the_page_renders_the_catalogue_and_a_definition(kpis):
    at = page()
    assert [t.value for t in at.title] == ["KPI definitions"]
    ids = catalogue_ids(at)
    assert ids == [k.id for k in load_definitions(kpis)] and ids[0] == "total_spend"
    table = catalogue(at)
    assert list(table.columns) == [
        "id",
        "name",
        "owner",
        "theme",
        "unit",
        "status",
        "finance_approval",
        "procurement_approval",
        "to_sign",
    ]
    top5 = table[table["id"] == "supplier_concentration_top5"].iloc[0]
    assert top5["status"] == "proposed" and top5["finance_approval"] == "– not yet"
    assert (top5["procurement_approval"], top5["to_sign"]) == (
        "✓ Jonas Berg, 2026-10-02",
        "finance",
    )
    spend = table[table["id"] == "total_spend"].iloc[0]
    assert (spend["status"], spend["to_sign"]) == ("agreed", "")
    assert [t.label for t in at.tabs] == [
        "Catalogue",
        "Definition",
        "Approvals",
        "Edit",
        "History",
        "Add a KPI",
    ]
    assert [s.value for s in at.subheader] == ["Total spend"]
    assert "sum(amount)" in [c.value for c in at.code]
    assert not errors(at)


def test_search_and_filters_narrow_the_table(kpis):
    at = page(def_search="PAYMENT")
    expected = [
        k.id
        for k in load_definitions(kpis)
        if "payment" in f"{k.id} {k.name} {k.description}".lower()
    ]
    assert catalogue_ids(at) == expected
    assert "on_time_payment_rate" in expected and "total_spend" not in expected
    at = page(def_owner=["procurement"], def_theme=["savings"])
    owners = set(catalogue(at)["owner"])
    assert owners == {"procurement"}
    assert set(catalogue_ids(at)) == {
        "savings_realised",
        "cost_avoidance",
        "purchase_price_variance",
        "contract_overcharge",  # issue 14: the positive part of the price variance
        "savings_share_of_addressable_spend",  # issue 14: realised ÷ addressable spend
    }
    at = page(def_status=["proposed"])
    proposed = [k.id for k in load_definitions(kpis) if k.status == "proposed"]
    assert "supplier_concentration_top5" in proposed
    assert catalogue_ids(at) == proposed
    assert at.selectbox(key="def_pick").value == proposed[0]
    at = page(def_search="no such kpi at all")
    assert any("No KPIs match" in i.value for i in at.info)


def test_finance_edits_a_description_and_the_rest_of_the_file_is_kept(kpis):
    before = kpis.read_text(encoding="utf-8")
    at = page(acting_as=FINANCE, def_pick="total_spend")
    new_text = "Sum of supplier invoice lines, credit notes included, in the reporting currency."
    at.text_area(key="ed_total_spend_description").input(new_text)
    at.text_input(key="ed_total_spend_reason").input("Credit notes were unclear")
    at.run()
    assert any("Changed:" in m.value and "description" in m.value for m in at.markdown)
    at.button(key="ed_total_spend_save").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert any("Saved 'total_spend'" in s.value for s in at.success)
    after = kpis.read_text(encoding="utf-8")
    assert outside(after, "total_spend") == outside(before, "total_spend")
    saved = entry(kpis, "total_spend")
    assert saved["description"] == new_text and saved["status"] == "agreed"
    record = kpi_history(kpis, "total_spend")[0]
    assert (
        record["who"] == "sam.okafor@example.org" and record["why"] == "Credit notes were unclear"
    )
    assert "+    description: Sum of supplier invoice lines, credit notes" in record["diff"]


def test_a_formula_change_previews_then_proposes_and_both_departments_agree(kpis):
    at = page(
        acting_as=FINANCE,
        def_pick="total_spend",
        ed_total_spend_formula="sum(amount) filter (where has_po)",
        ed_total_spend_reason="Count only spend with a purchase order",
    )
    assert any("Passes every check" in s.value for s in at.success)
    assert any("what both departments signed" in w.value for w in at.warning)
    assert at.get("plotly_chart"), "the preview chart is drawn before saving"
    preview = next(d.value for d in at.dataframe if "as edited" in d.value.columns)
    assert list(preview.columns) == ["period", "as saved", "as edited", "target"]
    q1 = preview[preview["period"] == "FY2026-Q1"].iloc[0]
    assert q1["as saved"] == "€2,550.00" and q1["as edited"] != q1["as saved"]
    at.button(key="ed_total_spend_save").click().run()
    assert not errors(at), errors(at)
    assert any("proposed again" in s.value for s in at.success)
    saved = entry(kpis, "total_spend")
    assert saved["formula"] == "sum(amount) filter (where has_po)"
    assert saved["status"] == "proposed" and "approvals" not in saved
    assert "Total spend" in not_agreed_on_the_overview()

    at = page(acting_as=FINANCE, def_pick="total_spend")
    at.button(key="approve_total_spend").click().run()
    assert not errors(at), errors(at)
    assert any("approved for finance" in s.value for s in at.success)
    saved = entry(kpis, "total_spend")
    assert saved["status"] == "proposed"
    assert saved["approvals"]["finance"]["by"] == "sam.okafor@example.org"

    at = page(acting_as=FINANCE, def_pick="total_spend")  # no second key from the same side
    assert "approve_total_spend" not in [b.key for b in at.button]
    assert any("waits for procurement" in i.value for i in at.info)

    at = page(acting_as=PROCUREMENT, def_pick="total_spend")
    at.button(key="approve_total_spend").click().run()
    assert any("it is agreed" in s.value for s in at.success)
    saved = entry(kpis, "total_spend")
    assert saved["status"] == "agreed"
    assert saved["approvals"]["procurement"]["by"] == "jonas.berg@example.org"
    at = page(acting_as=PROCUREMENT, def_pick="total_spend")
    table = catalogue(at)
    assert table[table["id"] == "total_spend"].iloc[0]["status"] == "agreed"
    assert "Total spend" not in not_agreed_on_the_overview()


def test_an_approval_that_does_not_count_is_shown_with_the_reason(kpis):
    """An approval written by hand without the content hash, and one by an address that is
    not in people.yaml, count as none: the KPI is not agreed, and the page says why."""
    text = kpis.read_text(encoding="utf-8")
    text = text.replace(
        "finance: {by: claire.dubois@example.org, on: 2026-01-12, version: '110669567610'}",
        "finance: {by: claire.dubois@example.org, on: 2026-01-12}",
        1,
    )
    kpis.write_text(
        text.replace(
            "procurement: {by: jonas.berg@example.org", "procurement: {by: x@evil.test", 1
        ),
        encoding="utf-8",
    )
    at = page(acting_as=FINANCE, def_pick="total_spend")
    assert not errors(at), errors(at)
    spend = catalogue(at).set_index("id").loc["total_spend"]
    assert (spend["status"], spend["finance_approval"], spend["procurement_approval"]) == (
        "proposed",
        "✗ void: no hash",
        "✗ void: unknown signer",
    )
    assert spend["to_sign"] == "finance, procurement"
    assert any(
        "still to sign: finance (its approval does not count: it names no content hash "
        "(written by hand?): approve it again in the app) and procurement (its approval does "
        "not count: x@evil.test is not in people.yaml)" in m.value
        for m in at.markdown
    ), [m.value for m in at.markdown]
    approvals = next(d.value for d in at.dataframe if "why it does not count" in d.value.columns)
    assert approvals["why it does not count"].tolist() == [
        "it names no content hash (written by hand?): approve it again in the app",
        "x@evil.test is not in people.yaml",
    ]
    assert "Total spend" in not_agreed_on_the_overview()
    # Sam's approval replaces the hand-written one; procurement still has to sign
    at.button(key="approve_total_spend").click().run()
    assert not errors(at), errors(at)
    saved = entry(kpis, "total_spend")
    assert saved["approvals"]["finance"]["by"] == "sam.okafor@example.org"
    assert "procurement" not in saved["approvals"] and saved["status"] == "proposed"


def test_procurement_may_not_edit_a_finance_kpi(kpis):
    before = kpis.read_bytes()
    at = page(acting_as=PROCUREMENT, def_pick="total_spend")
    assert "ed_total_spend_save" not in [b.key for b in at.button]
    assert any("Only finance members and the CFO edit this KPI" in i.value for i in at.info)
    at = page(acting_as=VIEWER, def_pick="po_compliance")  # joint: still not a viewer
    assert "ed_po_compliance_save" not in [b.key for b in at.button]
    assert "add_save" not in [b.key for b in at.button]
    at = page(acting_as=PROCUREMENT, def_pick="po_compliance")  # joint: procurement edits
    assert "ed_po_compliance_save" in [b.key for b in at.button]
    assert kpis.read_bytes() == before


def test_live_validation_names_an_unknown_column(kpis):
    at = page(acting_as=FINANCE, def_pick="total_spend", ed_total_spend_formula="sum(amountt)")
    shown = errors(at)
    assert any("formula" in e and "unknown column 'amountt'" in e for e in shown), shown
    assert at.button(key="ed_total_spend_save").disabled
    assert not at.get("plotly_chart")
    # Passes the checks but does not run (sum of text): no preview and no save either.
    at = page(acting_as=FINANCE, def_pick="total_spend", ed_total_spend_formula="sum(supplier)")
    assert any("does not run on the data" in e for e in errors(at)), errors(at)
    assert at.button(key="ed_total_spend_save").disabled


def test_a_save_over_a_newer_file_shows_both_versions_and_starts_again(kpis):
    at = page(acting_as=FINANCE, def_pick="total_spend")
    at.text_area(key="ed_total_spend_description").input("My clearer description.")
    at.text_input(key="ed_total_spend_reason").input("Clearer")
    at.run()
    # Meanwhile the CFO renames the KPI in another session.
    edit_kpi(
        kpis,
        CFO,
        "total_spend",
        {"name": "Total spend (all invoices)"},
        "Board wording",
        file_version(kpis),
    )
    at.button(key="ed_total_spend_save").click().run()
    assert any("changed by someone else" in e for e in errors(at)), errors(at)
    theirs, yours = [c.value for c in at.code if c.language == "yaml"]
    assert "Total spend (all invoices)" in theirs and "My clearer description." not in theirs
    assert "My clearer description." in yours and "Total spend (all invoices)" in yours
    assert entry(kpis, "total_spend")["description"] != "My clearer description."
    at.button(key="ed_total_spend_restart").click().run()
    assert at.text_input(key="ed_total_spend_name").value == "Total spend (all invoices)"
    at.text_area(key="ed_total_spend_description").input("My clearer description.")
    at.text_input(key="ed_total_spend_reason").input("Clearer, on their version")
    at.run()
    at.button(key="ed_total_spend_save").click().run()
    assert not errors(at), errors(at)
    saved = entry(kpis, "total_spend")
    assert saved["name"] == "Total spend (all invoices)"
    assert saved["description"] == "My clearer description."


def test_adding_a_kpi(kpis):
    before = kpis.read_text(encoding="utf-8")
    at = page(
        acting_as=PROCUREMENT,
        add_id="sme_spend",
        add_name="Spend with SMEs",
        add_description="Invoice spend with small and medium suppliers.",
        add_reading_finance="Cash goes out faster: SMEs get short terms.",
        add_reading_procurement="Diversity of the supply base.",
        add_formula="sum(amount) filter (where supplier_size = 'sme')",
        add_reason="Asked by the board",
    )
    assert at.selectbox(key="add_owner").options == ["procurement", "joint"]
    at.button(key="add_save").click().run()
    assert not errors(at), errors(at)
    added = entry(kpis, "sme_spend")
    assert added["owner"] == "procurement" and added["status"] == "draft"
    after = kpis.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n")) and "  - id: sme_spend\n" in after
    assert any("Saved 'sme_spend' (added)" in s.value for s in at.success)


def test_a_broken_file_shows_its_line_and_editing_is_off(kpis):
    at = page(acting_as=FINANCE)  # this session has read the good file once
    good_ids = [k.id for k in load_definitions(kpis)]
    text = kpis.read_text(encoding="utf-8")
    kpis.write_text(text.replace("name: Total spend\n", "name: [Total spend\n", 1))
    del at.session_state["_ctx"]  # app.py would refresh the context on every run
    at.run()
    assert not at.exception
    shown = errors(at)
    assert any("broken" in e and "last good definitions" in e for e in shown), shown
    assert any("line 13" in m.value for m in at.markdown), [m.value for m in at.markdown]
    # the last good definitions are still shown
    assert catalogue_ids(at) == good_ids
    assert any("Editing is off" in w.value and "by hand" in w.value for w in at.warning)
    keys = [b.key for b in at.button]
    assert "ed_total_spend_save" not in keys and "add_save" not in keys
    assert not any(str(k).startswith("approve_") for k in keys)
