"""The definitions page's presenter: the texts the page moved out of its tabs and forms."""

from __future__ import annotations

from pathlib import Path

from kpi.core.people import load_people
from kpi.reporting import definitions_form as defs
from kpi.semantic.definitions import load_definitions
from kpi.semantic.kpi_definition import get
from kpi.workflows.definition_versions import entry_version
from kpi.workflows.definition_writer import ConflictError

KPIS = Path(__file__).resolve().parents[2] / "config" / "kpis.yaml"
PEOPLE = load_people(KPIS.parent / "people.yaml")


def _kpi():
    return get(load_definitions(KPIS), "total_spend")


def test_theme_label_and_kpi_caption():
    assert defs.theme_label("no_such_theme") == "no_such_theme"
    kpi = _kpi()
    caption = defs.kpi_caption(kpi, PEOPLE)
    assert caption.startswith(f"`total_spend` · owner **{kpi.owner}** · ")
    assert defs.theme_label(kpi.theme) in caption
    assert caption.endswith("✓ agreed")
    assert defs.kpi_caption(kpi, []).endswith("proposed, awaiting approval")


def test_status_line_carries_the_signed_version_and_who_still_signs():
    kpi = _kpi()
    assert defs.status_line(kpi, PEOPLE) == (
        f"Status **✓ agreed** · version of the signed content `{entry_version(kpi)}` (view, "
        "period column, formula, targets, direction, unit and owner) · both departments "
        "signed this content"
    )
    otd = get(load_definitions(KPIS), "supplier_concentration_top5")  # procurement approved
    assert defs.to_sign_text(otd, PEOPLE) == "still to sign: finance"
    # Jonas left people.yaml: procurement's approval no longer counts, and the line says why
    assert defs.to_sign_text(otd, PEOPLE[:2]) == (
        "still to sign: finance and procurement (its approval does not count: "
        "jonas.berg@example.org is not in people.yaml)"
    )


def test_changed_line_and_messages():
    assert defs.changed_line(["formula", "targets"]) == "**Changed:** `formula`, `targets`"
    assert defs.does_not_run_message(ValueError("bad type\nmore")).startswith(
        "The formula passes the checks but does not run on the data: bad type. Check that"
    )
    # said in words: the page never names the file to the people who approve
    assert defs.approve_conflict_message("otd") == (
        "Not approved: the KPI definitions were saved by someone else since you looked at "
        "'otd'. Read the definition again, then approve it."
    )
    assert defs.add_conflict_message().startswith(
        "Not added yet: the KPI definitions were saved by someone else meanwhile."
    )


def test_conflict_record_keeps_message_and_both_versions():
    theirs = {"id": "otd", "name": "Theirs"}
    exc = ConflictError(KPIS, "otd", "v1", "v2", "", theirs, None)
    record = defs.conflict_record(exc)
    assert record["message"] == str(exc)
    assert "Theirs" in record["theirs"]
    assert record["yours"] == ""


def test_preview_title_and_caption():
    assert defs.preview_title("Spend", "total_spend", True) == "Spend: as edited and as saved"
    assert defs.preview_title(None, "new", False) == "new: as edited"
    assert defs.preview_caption("EUR", []) == (
        "By quarter over the sidebar's periods, amounts in EUR"
    )
    assert defs.preview_caption("USD", ["category: IT", "cost centre: CC1"]) == (
        "By quarter over the sidebar's periods, amounts in USD · category: IT; cost centre: CC1"
    )
