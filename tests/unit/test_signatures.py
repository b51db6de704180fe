"""A signature is an act of the signer: what a KPI approval binds (the content hash, the
person) and when it counts, and that nobody can write the other department's signature."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied, same_address, signature_problem
from kpi.semantic.definitions import load_definitions
from kpi.semantic.kpi_definition import get
from kpi.workflows.definition_saves import approve_kpi, edit_kpi, sign_target
from kpi.workflows.definition_versions import (
    approval_checks,
    approvals_state,
    catalogue,
    effective_status,
    entry_version,
    file_version,
    read_entry,
    still_to_sign,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kpis_edit"
CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
PRO = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
VIEWER = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
PEOPLE = [CFO, FIN, PRO, VIEWER]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "kpis.yaml"
    shutil.copyfile(FIXTURES / "small.yaml", path)
    return path


def _agreed() -> dict:
    """total_spend as small.yaml holds it: agreed by Claire and Jonas on its content."""
    entry, _ = read_entry(FIXTURES / "small.yaml", "total_spend")
    return entry


def _with(entry: dict, dept: str, **approval) -> dict:
    approvals = {**entry["approvals"], dept: {**entry["approvals"][dept], **approval}}
    return {**entry, "approvals": approvals}


def test_the_signed_content_covers_direction_unit_and_owner() -> None:
    entry = _agreed()
    assert approvals_state(entry, PEOPLE) == {"finance": "approved", "procurement": "approved"}
    for field, value in (
        ("direction", "lower_is_better"),
        ("unit", "count"),
        ("owner", "joint"),
        ("formula", "sum(amount) * 2"),
        ("targets", {"FY2026-Q1": 1}),
    ):
        changed = {**entry, field: value}
        assert entry_version(changed) != entry_version(entry), field
        assert approvals_state(changed, PEOPLE) == {"finance": "void", "procurement": "void"}
        assert effective_status(changed, PEOPLE) == "proposed"
        check = approval_checks(changed, PEOPLE)["finance"]
        assert check.kind == "older content"
        assert check.reason == (
            f"it signed an older content (4113e5bff896); the current content is "
            f"{entry_version(changed)}"
        )
    # what is not signed (the name, the description) leaves the approvals standing
    assert entry_version({**entry, "name": "Spend"}) == entry_version(entry)


def test_flipping_direction_in_the_app_voids_both_signatures(small: Path) -> None:
    result = edit_kpi(
        small, FIN, "total_spend", {"direction": "higher_is_better"}, "flip", file_version(small)
    )
    assert result.status == "proposed" and result.status_reset
    assert set(result.cleared_approvals) == {"finance", "procurement"}
    assert effective_status(get(load_definitions(small), "total_spend"), PEOPLE) == "proposed"


@pytest.mark.parametrize(
    ("dept", "approval", "kind", "reason"),
    [
        (
            "finance",
            {"version": None},
            "no hash",
            "it names no content hash (written by hand?): approve it again in the app",
        ),
        (
            "procurement",
            {"by": "someone@example.org"},
            "unknown signer",
            "someone@example.org is not in people.yaml",
        ),
        (
            "procurement",
            {"by": FIN.email},  # a finance member "signing" for procurement
            "wrong department",
            "Sam Okafor (finance, member) may not sign for procurement: a procurement member "
            "signs for it",
        ),
        (
            "finance",
            {"by": PRO.email},
            "wrong department",
            "Jonas Berg (procurement, member) may not sign for finance: a finance member or the "
            "CFO signs for it",
        ),
        (
            "finance",
            {"by": VIEWER.email},
            "wrong department",
            "Lee Chen (operations, viewer) may not sign for finance: a finance member or the CFO "
            "signs for it",
        ),
        (
            "procurement",
            {"by": "jonas.berg@example.org".replace("o", "\u043e")},  # Cyrillic look-alike
            "unknown signer",
            "j\u043enas.berg@example.\u043erg is not in people.yaml",
        ),
    ],
)
def test_an_approval_that_does_not_count_is_no_approval(dept, approval, kind, reason) -> None:
    entry = _with(_agreed(), dept, **approval)
    if approval.get("version", "") is None:
        del entry["approvals"][dept]["version"]
    check = approval_checks(entry, PEOPLE)[dept]
    assert (check.state, check.kind, check.reason) == ("void", kind, reason)
    assert effective_status(entry, PEOPLE) == "proposed"
    assert still_to_sign(entry, PEOPLE) == [dept]


def test_addresses_match_exactly_up_to_ascii_case() -> None:
    assert same_address(" Jonas.Berg@Example.org ", "jonas.berg@example.org")
    assert not same_address("jonas.berg@example.org", "jonas.berg@example.or\u212a")  # Kelvin K
    assert signature_problem("JONAS.BERG@example.org", "procurement", PEOPLE) is None
    entry = _with(_agreed(), "procurement", by="JONAS.BERG@example.org")
    assert approval_checks(entry, PEOPLE)["procurement"].signer == PRO


def test_nobody_counts_without_people() -> None:
    """people.yaml unreadable or empty: no approval counts (closed, never open)."""
    assert approvals_state(_agreed(), []) == {"finance": "void", "procurement": "void"}
    assert effective_status(_agreed(), []) == "proposed"


def test_the_catalogue_says_who_still_signs_and_why(small: Path) -> None:
    text = small.read_text(encoding="utf-8")
    small.write_text(text.replace(", version: bf9da50f6478}", "}"), encoding="utf-8")
    table = catalogue(load_definitions(small), PEOPLE)
    rows = {r["id"]: r for r in table.iter_rows(named=True)}
    assert (rows["total_spend"]["finance_approval"], rows["total_spend"]["to_sign"]) == (
        "✓ Claire Dubois, 2026-01-12",
        "",
    )
    otd = rows["supplier_otd"]  # procurement's approval lost its hash
    assert (otd["finance_approval"], otd["procurement_approval"], otd["to_sign"]) == (
        "– not yet",
        "✗ void: no hash",
        "finance, procurement",
    )


def test_a_finance_member_cannot_produce_a_procurement_approval(small: Path) -> None:
    edit_kpi(small, FIN, "total_spend", {"formula": "sum(amount) * 1"}, "x", file_version(small))
    for person in (FIN, CFO):
        approve_kpi(small, person, "total_spend", file_version(small), people=PEOPLE)
        sign_target(
            small, person, "total_spend", "FY2026-Q4", 5, "x", file_version(small), people=PEOPLE
        )
        entry, _ = read_entry(small, "total_spend")
        assert list(entry["approvals"]) == ["finance"] and entry["status"] == "proposed"
    with pytest.raises(PermissionDenied, match="Lee Chen .* may not sign targets"):
        sign_target(
            small, VIEWER, "total_spend", "FY2026-Q4", 5, "x", file_version(small), people=PEOPLE
        )


def test_a_forged_approval_is_cleared_by_the_real_signer(small: Path) -> None:
    """A finance member writes procurement's approval by hand, with the right hash: it does
    not count, and procurement's real signature replaces it."""
    edit_kpi(small, FIN, "total_spend", {"formula": "sum(amount) * 1"}, "x", file_version(small))
    approve_kpi(small, FIN, "total_spend", file_version(small), people=PEOPLE)
    entry, _ = read_entry(small, "total_spend")
    forged = (
        f"      procurement: {{by: {FIN.email}, on: 2026-12-01, version: {entry_version(entry)}}}\n"
    )
    text = small.read_text(encoding="utf-8").replace(
        "    approvals:\n      finance:", "    approvals:\n" + forged + "      finance:", 1
    )
    small.write_text(text.replace("status: proposed", "status: agreed", 1), encoding="utf-8")
    kpi = get(load_definitions(small), "total_spend")
    assert approvals_state(kpi, PEOPLE) == {"finance": "approved", "procurement": "void"}
    assert effective_status(kpi, PEOPLE) == "proposed"
    # the next approval drops the forgery (kept in the history); Jonas's signature agrees it
    cleared = approve_kpi(small, CFO, "total_spend", file_version(small), people=PEOPLE)
    assert cleared.status == "proposed"
    assert cleared.cleared_approvals["procurement"]["by"] == FIN.email
    result = approve_kpi(small, PRO, "total_spend", file_version(small), people=PEOPLE)
    assert result.status == "agreed"
    entry, _ = read_entry(small, "total_spend")
    assert entry["approvals"]["procurement"]["by"] == PRO.email


def test_kpi_check_notes_an_agreed_kpi_whose_approval_does_not_count(tmp_path, monkeypatch, capsys):
    """The file stays valid (exit 0) but `kpi check` says which agreed KPI the app shows as
    proposed, and why: here finance's approval names someone not in people.yaml."""
    from kpi.cli import main

    root = Path(__file__).resolve().parents[2] / "config"
    for name in ("kpis.yaml", "people.yaml", "settings.yaml"):
        (tmp_path / name).write_text((root / name).read_text(encoding="utf-8"), encoding="utf-8")
    text = (tmp_path / "kpis.yaml").read_text(encoding="utf-8")
    first = "finance: {by: claire.dubois@example.org, on: 2026-01-12, version:"
    assert first in text
    forged = text.replace(first, "finance: {by: mallory@example.org, on: 2026-01-12, version:", 1)
    (tmp_path / "kpis.yaml").write_text(forged, encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(tmp_path))
    assert main(["check", str(tmp_path / "kpis.yaml")]) == 0
    out = capsys.readouterr().out
    assert (
        "note: kpi 'total_spend' is marked agreed but counts as proposed: "
        "finance: mallory@example.org is not in people.yaml"
    ) in out
    assert out.count("note:") == 1  # every other agreed KPI's approvals count
