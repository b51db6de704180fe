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
        "Discussion",  # issue 17: the KPI's thread (and its values' per quarter)
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


def test_every_run_tells_the_browser_the_forms_texts(kpis):
    """A browser that draws the Edit tab's fields late (hidden tab, a fragment's rerun under
    load) starts them from what the run's message says: every run says each field's current
    text (the saved one, or what the person typed), never only the run that first set it.
    Without it the saved description, formula and readings once came back empty in CI."""
    at = page(acting_as=FINANCE, def_pick="total_spend")
    saved = entry(kpis, "total_spend")
    typed = "Typed, not saved yet."
    at.text_area(key="ed_total_spend_description").input(typed)
    at.run()
    at.text_input(key="def_search").input("total").run()  # later runs, nothing typed in them
    at.run()
    assert not at.exception and not errors(at), errors(at)
    told = {
        key: (w.proto.set_value, w.proto.value)
        for key in ("description", "formula", "reading_finance", "reading_procurement")
        for w in [at.text_area(key=f"ed_total_spend_{key}")]
    }
    assert told == {
        "description": (True, typed),
        "formula": (True, saved["formula"]),
        "reading_finance": (True, saved["readings"]["finance"]),
        "reading_procurement": (True, saved["readings"]["procurement"]),
    }
    name = at.text_input(key="ed_total_spend_name")
    assert (name.proto.set_value, name.proto.value) == (True, saved["name"])


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
    assert at.button(key="approve_total_spend").disabled
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
    assert at.button(key="ed_total_spend_save").disabled  # shown, disabled, with why
    assert at.text_area(key="ed_total_spend_formula").disabled
    assert any(
        "Jonas Berg (procurement, member) may not edit 'total_spend': only finance members "
        "and the CFO may (the KPI's owner is finance)." in i.value
        for i in at.info
    ), [i.value for i in at.info]
    at = page(acting_as=VIEWER, def_pick="po_compliance")  # joint: still not a viewer
    assert at.button(key="ed_po_compliance_save").disabled
    assert at.button(key="add_save").disabled
    at = page(acting_as=PROCUREMENT, def_pick="po_compliance")  # joint: procurement edits
    assert not at.text_area(key="ed_po_compliance_formula").disabled
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
    approve = [b for b in at.button if str(b.key).startswith("approve_")]
    assert approve and all(b.disabled for b in approve)  # shown, disabled, with why


# ---- issue 15: forms shown disabled with the reason, one unit for targets, no file names ----

NOBODY_CHOSEN = "Someone who is not signed in (or has not chosen who they act as)"


def up_for_approval(kpis: Path, kpi_id: str) -> None:
    """Make an agreed KPI proposed, without approvals: both departments may approve it."""
    text = kpis.read_text(encoding="utf-8")
    start = text.index(f"  - id: {kpi_id}\n")
    end = text.index("\n  - id: ", start + 1)
    entry_text = text[start:end].replace("status: agreed", "status: proposed", 1)
    entry_text = entry_text[: entry_text.index("    approvals:")].rstrip("\n")
    kpis.write_text(text[:start] + entry_text + text[end:], encoding="utf-8")


def stale_click(button) -> None:
    """The second click of a double click: sent while the button was still enabled, it
    arrives after the first click's run drew it disabled (AppTest refuses a click on a
    disabled button, so the click is set as the browser sent it)."""
    button._value = True


@pytest.mark.parametrize(
    ("who", "edit", "add", "approve"),
    [
        # po_compliance is joint: finance and procurement members and the CFO edit it
        ("Claire Dubois (finance, cfo)", None, None, "for finance"),
        (FINANCE, None, None, "for finance"),
        (PROCUREMENT, None, None, "for procurement"),
        (VIEWER, "Lee Chen (operations, viewer) may not edit", "may not add KPIs", "approve KPIs"),
        (None, f"{NOBODY_CHOSEN} may not edit", "may not add KPIs", "approve KPIs"),
    ],
)
def test_each_role_sees_which_forms_it_may_use_and_why_not(kpis, who, edit, add, approve):
    """Forms a person may not use are drawn disabled under the reason kpi/ gives (the save
    itself still asks kpi/: kpi.core.permissions)."""
    up_for_approval(kpis, "po_compliance")
    state = {"def_pick": "po_compliance"} | ({"acting_as": who} if who else {})
    at = page(**state)
    infos = " ".join(i.value for i in at.info)
    save = at.button(key="ed_po_compliance_save")
    approve_button = at.button(key="approve_po_compliance")
    if edit is None:
        assert not at.text_area(key="ed_po_compliance_formula").disabled
        assert save.disabled and save.help == "Nothing changed yet"  # nothing typed yet
    else:
        assert edit in infos and "Pick someone else under **Acting as** to edit it." in infos
        assert at.text_area(key="ed_po_compliance_formula").disabled and save.disabled
    if add is None:
        assert not at.text_input(key="add_id").disabled
    else:
        assert add in infos and at.text_input(key="add_id").disabled
        assert at.button(key="add_save").disabled
    if approve.startswith("for "):
        assert not approve_button.disabled and approve_button.label.endswith(approve)
    else:
        assert approve_button.disabled and f"may not {approve}" in approve_button.help
        assert approve_button.label == "Approve this version for your department"


def test_a_percent_target_is_typed_as_a_percent_and_kept_as_a_share(kpis):
    """92.1 typed in the form's targets is 0.921 in the file (as the goals page keeps it),
    and the targets show in percent with the unit on the column."""
    at = page(acting_as=FINANCE, def_pick="po_compliance")
    assert any("Type a percent KPI's target as a percent" in c.value for c in at.caption)
    periods = list(entry(kpis, "po_compliance")["targets"])
    row = periods.index("FY2026-Q3")
    editor = f"ed_po_compliance_targets_{file_version(kpis)[:8]}"
    at.session_state[editor] = {
        "edited_rows": {row: {"target": 92.1}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.text_input(key="ed_po_compliance_reason").input("Two suppliers lost their catalogues")
    at.run()
    assert any("`targets`" in m.value for m in at.markdown)  # only the one target changed
    at.button(key="ed_po_compliance_save").click().run()
    assert not errors(at), errors(at)
    saved = entry(kpis, "po_compliance")["targets"]
    assert saved["FY2026-Q3"] == 0.921  # exactly: not 0.9209999999999999
    assert "      FY2026-Q3: 0.921\n" in kpis.read_text(encoding="utf-8")
    assert saved["FY2026-Q4"] == 0.935  # untouched targets are written back as they were
    at = page(acting_as=FINANCE, def_pick="po_compliance", def_kpi_tab="Definition")
    shown = next(d.value for d in at.dataframe if list(d.value.columns) == ["period", "target"])
    assert shown.set_index("period").loc["FY2026-Q3", "target"] == "92.1 %"


def test_saving_twice_records_once_and_the_page_stays_on_its_tab(kpis):
    """A second click on Save after the save (a double click) saves nothing more, and the
    page stays on the Edit tab of the KPI chosen."""
    at = page(acting_as=FINANCE, def_pick="total_spend", def_kpi_tab="Edit")
    at.text_area(key="ed_total_spend_description").input("Invoice lines, credit notes included.")
    at.text_input(key="ed_total_spend_reason").input("Clearer")
    at.run()
    at.button(key="ed_total_spend_save").click().run()
    assert any("Saved 'total_spend'" in s.value for s in at.success)
    assert at.button(key="ed_total_spend_save").disabled  # nothing changed any more
    stale_click(at.button(key="ed_total_spend_save"))
    at.run()
    assert not errors(at), errors(at)
    assert len(kpi_history(kpis, "total_spend")) == 1
    assert at.session_state["def_kpi_tab"] == "Edit" and at.session_state["def_pick"] == (
        "total_spend"
    )
    # approving twice: one approval, and the page stays on the Approvals tab
    up_for_approval(kpis, "po_compliance")
    at = page(acting_as=FINANCE, def_pick="po_compliance", def_kpi_tab="Approvals")
    at.button(key="approve_po_compliance").click().run()
    assert any("approved for finance" in s.value for s in at.success)
    del at.session_state["_ctx"]  # app.py rereads the definitions on every run
    at.run()
    assert at.button(key="approve_po_compliance").disabled  # finance approved: waits
    stale_click(at.button(key="approve_po_compliance"))
    at.run()
    assert not errors(at), errors(at)
    assert [r["action"] for r in kpi_history(kpis, "po_compliance")] == ["approved"]
    assert at.session_state["def_kpi_tab"] == "Approvals"


def test_no_file_name_heads_the_page(kpis):
    at = page(acting_as=FINANCE)
    heads = [t.value for t in (*at.title, *at.header, *at.subheader)]
    heads += [t.label for t in at.tabs] + [c.value for c in at.caption]
    heads += [m.label for m in at.metric]
    assert not [h for h in heads if ".yaml" in h], heads
