"""Editing KPI definitions from the app: the round trip keeps the rest of the file byte for
byte, invalid or stale saves are refused, concurrent saves lose nothing, permissions and
the two-key approval hold, and every save is in the history."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.core.kept import Kept
from kpi.core.people import Person
from kpi.core.permissions import (
    PermissionDenied,
    approver_refusal,
    definition_writer_refusal,
    kpi_edit_refusal,
    require_kpi_editor,
)
from kpi.semantic.definitions import check_file, load_definitions
from kpi.semantic.kpi_definition import get
from kpi.workflows.definition_saves import (
    add_kpi,
    approve_kpi,
    edit_kpi,
    set_target,
)
from kpi.workflows.definition_versions import (
    approvals_state,
    effective_status,
    entry_version,
    file_version,
    kpi_history,
    read_entry,
)
from kpi.workflows.definition_writer import ConflictError, EditError, InvalidEdit
from kpi.workflows.yaml_splice import BrokenFile

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kpis_edit"

CFO = Person("claire.dubois@example.org", "Claire Dubois", "finance", "cfo")
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
PRO = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
PRO2 = Person("ana.ruiz@example.org", "Ana Ruiz", "procurement", "member")
VIEWER = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
OPS = Person("olu.ade@example.org", "Olu Ade", "operations", "member")
FIN_VIEWER = Person("fin.viewer@example.org", "Fay Viewer", "finance", "viewer")
PEOPLE = [CFO, FIN, PRO, PRO2, VIEWER]  # as in config/people.yaml

NEW_KPI = {
    "id": "invoice_count",
    "name": "Invoice lines",
    "owner": "joint",
    "theme": "spend",
    "raci": {"responsible": "finance", "accountable": "cfo", "consulted": ["procurement"]},
    "description": "Number of invoice lines, by invoice date.",
    "readings": {"finance": "Work for accounts payable.", "procurement": "Order fragmentation."},
    "source": "spend",
    "period_by": "invoice_date",
    "formula": "count(*)",
    "unit": "count",
    "direction": "lower_is_better",
    "dimensions": ["category", "supplier"],
    "targets": {"FY2027-Q1": 5000},
}


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "kpis.yaml"
    shutil.copyfile(FIXTURES / "small.yaml", path)
    return path


@pytest.fixture
def real(tmp_path: Path) -> Path:
    path = tmp_path / "kpis.yaml"
    shutil.copyfile(ROOT / "config" / "kpis.yaml", path)
    return path


def _edit(path: Path, person: Person, kpi_id: str, changes: dict, why: str = "test"):
    return edit_kpi(path, person, kpi_id, changes, why, file_version(path))


def _entry_range(lines: list[bytes], kpi_id: str) -> tuple[int, int]:
    """The entry's lines: from its '- id:' to its last value (not the comments after)."""
    start = next(
        i for i, line in enumerate(lines) if re.match(rb"\s*- id: %s\s*$" % kpi_id.encode(), line)
    )
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(rb"\s*- id: ", lines[i])), len(lines)
    )
    while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(b"#")):
        end -= 1
    return start, end


def _assert_outside_kept(before: bytes, after: bytes, kpi_id: str) -> bytes:
    """Everything outside the entry is byte for byte the same; returns the entry's new bytes."""
    lines = before.splitlines(keepends=True)
    start, end = _entry_range(lines, kpi_id)
    prefix, suffix = b"".join(lines[:start]), b"".join(lines[end:])
    assert after.startswith(prefix)
    assert after.endswith(suffix)
    assert len(after) >= len(prefix) + len(suffix)
    return after[len(prefix) : len(after) - len(suffix)]


def _ids(data: bytes) -> list[bytes]:
    return re.findall(rb"(?m)^\s*- id: (\w+)", data)


def _comments(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if line.lstrip().startswith(b"#")]


# ---- the round trip ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kpi_id", "changes", "expected"),
    [
        (
            "total_spend",
            {"description": "Every invoice line."},
            b"    description: Every invoice line.\n",
        ),
        ("late_payment_rate_sme", {"name": "Late SME payments"}, b"    name: Late SME payments\n"),
        (
            "supplier_otd",
            {"description": "Received PO lines delivered by the promised date."},
            b"    description: >-\n      Received PO lines delivered by the promised date.\n",
        ),
        (
            "late_payment_rate_sme",
            {"formula": "sum(amount) filter (where paid_late) / sum(amount)"},
            b"    formula: >-\n      sum(amount) filter (where paid_late) / sum(amount)\n",
        ),
        (
            "supplier_concentration_top5",
            {"dimensions": ["category"]},
            b"    dimensions: [category]\n",
        ),
        (
            "days_to_pay",
            {"targets": {"FY2026-Q1": 27.0, "FY2027-Q1": 26.5}},
            b"      FY2027-Q1: 26.5\n",
        ),
    ],
)
def test_round_trip_keeps_the_rest_of_the_real_file_byte_for_byte(
    real: Path, kpi_id: str, changes: dict, expected: bytes
) -> None:
    before = real.read_bytes()
    result = _edit(real, CFO, kpi_id, changes)
    after = real.read_bytes()
    assert result.changed and result.version == file_version(real)
    entry = _assert_outside_kept(before, after, kpi_id)
    assert expected in entry
    assert _comments(after) == _comments(before)
    assert _ids(after) == _ids(before)
    assert check_file(real) == []


def test_an_unchanged_form_writes_nothing(real: Path) -> None:
    entry, version = read_entry(real, "po_compliance")
    assert version == file_version(real)
    before = real.read_bytes()
    result = edit_kpi(real, PRO, "po_compliance", entry, "saved the form as it was", version)
    assert not result.changed and result.diff == ""
    assert real.read_bytes() == before
    assert kpi_history(real) == []


@pytest.mark.parametrize("variant", ["lf", "crlf", "bom"])
def test_round_trip_follows_a_hand_written_layout(tmp_path: Path, variant: str) -> None:
    data = (FIXTURES / "odd_layout.yaml").read_bytes()
    if variant == "crlf":
        data = data.replace(b"\n", b"\r\n")
    if variant == "bom":
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "kpis.yaml"
    path.write_bytes(data)
    changes = {"formula": "sum(amount) * 2", "dimensions": ["category"], "notes": "Shorter."}
    _edit(path, FIN, "total_spend", changes)
    after = path.read_bytes()
    entry = _assert_outside_kept(data, after, "total_spend")
    newline = b"\r\n" if variant == "crlf" else b"\n"
    assert b"  formula: sum(amount) * 2" + newline in entry
    assert b"  dimensions:" + newline + b"  - category" + newline + b"  targets:" in entry
    assert b"# what the CFO watches" + newline in entry  # a comment inside the entry stays
    _edit(path, PRO, "po_compliance", {"status": "proposed"})
    _assert_outside_kept(after, path.read_bytes(), "po_compliance")
    assert check_file(path) == []
    if variant == "crlf":
        assert path.read_bytes().count(b"\n") == path.read_bytes().count(b"\r\n")
    if variant == "bom":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")


@settings(max_examples=12, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
        | st.sampled_from("\n:#'\"-{}[]>|&*!%@`"),
        min_size=1,
        max_size=50,
    ).filter(lambda s: s.strip())
)
def test_any_text_round_trips_and_leaves_the_rest_alone(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("any") / "kpis.yaml"
    shutil.copyfile(FIXTURES / "small.yaml", path)
    before = path.read_bytes()
    _edit(
        path,
        FIN,
        "po_compliance",
        {"description": text, "readings": {"finance": text, "procurement": "P."}},
    )
    entry, _ = read_entry(path, "po_compliance")
    assert entry["description"] == text and entry["readings"]["finance"] == text
    _assert_outside_kept(before, path.read_bytes(), "po_compliance")


def test_a_layout_the_splice_cannot_follow_is_still_saved_correctly(tmp_path: Path) -> None:
    one = (ROOT / "tests" / "fixtures" / "kpis" / "one_kpi.yaml").read_text()
    path = tmp_path / "kpis.yaml"
    path.write_text(one.replace("  - id: total_spend\n", "  -\n    id: total_spend\n"))
    result = _edit(path, FIN, "total_spend", {"name": "Spend"})
    assert check_file(path) == [] and get(load_definitions(path), "total_spend").name == "Spend"
    assert path.read_text().startswith(one.splitlines(keepends=True)[0])  # comments kept
    assert "+    name: Spend\n" in result.diff


def test_the_first_kpi_of_an_empty_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text("# KPIs to come\nversion: 1\nkpis:\n")
    result = add_kpi(path, CFO, NEW_KPI, "first one", file_version(path))
    assert result.changed and "+  - id: invoice_count\n" in result.diff
    assert path.read_text().startswith("# KPIs to come\nversion: 1\nkpis:\n  - id: invoice_count\n")
    assert [d.id for d in load_definitions(path)] == ["invoice_count"]


def test_add_appends_at_the_end_in_the_layout_of_the_others(real: Path) -> None:
    before = real.read_bytes()
    result = add_kpi(real, PRO, NEW_KPI, "the AP team asked for it", file_version(real))
    after = real.read_bytes()
    assert result.action == "added" and result.status == "draft"
    assert after.startswith(before)
    added = after[len(before) :].decode()
    assert added.startswith("\n  - id: invoice_count\n    name: Invoice lines\n")
    assert "    raci: {responsible: finance, accountable: cfo, consulted: [procurement]}\n" in added
    assert "    readings:\n      finance: Work for accounts payable.\n" in added
    assert "    dimensions: [category, supplier]\n" in added
    assert "    targets:\n      FY2027-Q1: 5000\n    status: draft\n" in added
    definitions = load_definitions(real)
    assert definitions[-1].id == "invoice_count" and definitions[-1].owner == "joint"
    assert "+  - id: invoice_count" in result.diff


def test_add_keeps_a_trailing_comment_last(small: Path) -> None:
    add_kpi(small, FIN, {**NEW_KPI, "status": "proposed"}, "new", file_version(small))
    text = small.read_text()
    assert text.endswith("    status: proposed\n# end of the KPIs; add new ones above this line\n")
    assert get(load_definitions(small), "invoice_count").status == "proposed"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "total_spend"}, "already exists"),
        ({"status": "agreed"}, "cannot start agreed"),
        ({"approvals": {"finance": {"by": "x@example.org", "on": "2026-01-01"}}}, "approvals"),
    ],
)
def test_add_refuses_what_is_not_a_new_proposal(small: Path, entry: dict, message: str) -> None:
    before = small.read_bytes()
    with pytest.raises(EditError, match=message):
        add_kpi(small, FIN, {**NEW_KPI, **entry}, "new", file_version(small))
    assert small.read_bytes() == before


# ---- refusals: invalid, broken, stale --------------------------------------------------------


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_an_invalid_edit_is_refused_with_the_check_file_issues(small: Path, tmp_path: Path) -> None:
    before = small.read_bytes()
    with pytest.raises(InvalidEdit) as refused:
        _edit(small, FIN, "total_spend", {"formula": "sum(amont)", "unit": "euros"})
    assert small.read_bytes() == before
    assert kpi_history(small) == [] and _leftovers(small.parent) == []
    by_hand = tmp_path / "by_hand.yaml"
    text = before.decode().replace("    formula: sum(amount)\n", "    formula: sum(amont)\n", 1)
    by_hand.write_text(text.replace("    unit: currency\n", "    unit: euros\n", 1))
    expected = [(i.line, i.kpi_id, i.field, i.message, i.hint) for i in check_file(by_hand)]
    got = [(i.line, i.kpi_id, i.field, i.message, i.hint) for i in refused.value.issues]
    assert got == expected and len(got) == 2
    assert all(i.path == str(small) for i in refused.value.issues)
    assert "sum(amont)" not in small.read_text()
    assert "kpi check" in str(refused.value) and "amont" in str(refused.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "spend_total"}, "cannot change"),
        ({"status": "agreed"}, "only when finance and procurement approve"),
        ({"approvals": {}}, "each department approves"),
    ],
)
def test_an_edit_cannot_rename_or_approve(small: Path, changes: dict, message: str) -> None:
    with pytest.raises(EditError, match=message):
        _edit(small, FIN, "po_compliance", changes)


def test_a_file_broken_by_hand_is_not_written_over(small: Path) -> None:
    shutil.copyfile(ROOT / "tests" / "fixtures" / "kpis" / "not_yaml.yaml", small)
    before = small.read_bytes()
    with pytest.raises(BrokenFile) as refused:
        _edit(small, FIN, "total_spend", {"name": "Spend"})
    issues = check_file(small)
    assert issues and refused.value.issues == issues
    assert issues[0].line is not None and f"{small}:{issues[0].line}" in str(refused.value)
    assert "Fix the file by hand first" in str(refused.value)
    assert small.read_bytes() == before


def test_a_semantic_mistake_elsewhere_is_reported_as_the_file_s_not_the_edit_s(small: Path) -> None:
    text = small.read_text().replace("    source: po_lines\n", "    source: po_line\n")
    small.write_text(text)
    with pytest.raises(BrokenFile, match="unknown view 'po_line'"):
        _edit(small, FIN, "total_spend", {"name": "Spend"})
    assert small.read_text() == text


def test_a_stale_version_is_refused_with_both_versions(small: Path) -> None:
    opened = file_version(small)
    edit_kpi(small, PRO, "po_compliance", {"name": "PO coverage"}, "theirs", opened)
    saved = small.read_bytes()
    with pytest.raises(ConflictError) as refused:
        edit_kpi(small, FIN, "po_compliance", {"description": "Mine."}, "mine", opened)
    conflict = refused.value
    assert small.read_bytes() == saved
    assert conflict.expected_version == opened
    assert conflict.current_version == file_version(small)
    assert conflict.current_text == saved.decode()
    assert conflict.current_entry["name"] == "PO coverage"
    assert conflict.current_entry["description"].startswith("Share of total spend")
    assert conflict.proposed_entry["name"] == "PO coverage"  # theirs kept, mine on top
    assert conflict.proposed_entry["description"] == "Mine."
    assert "description: Mine." in conflict.proposed_entry_yaml
    assert "name: PO coverage" in conflict.current_entry_yaml
    assert "changed by someone else" in str(conflict)
    assert [h["why"] for h in kpi_history(small)] == ["theirs"]


# ---- concurrent saves ------------------------------------------------------------------------


def _save_or_conflict(path: Path, person: Person, changes: dict, version: str) -> str:
    try:
        edit_kpi(path, person, "po_compliance", changes, "concurrent", version)
        return "saved"
    except ConflictError:
        return "conflict"


def test_two_threads_saving_the_same_version_one_wins_nothing_lost(small: Path) -> None:
    version = file_version(small)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    jobs = {"finance": (FIN, {"name": "PO coverage"}), "procurement": (PRO, {"description": "D."})}

    def run(name: str) -> None:
        person, changes = jobs[name]
        barrier.wait()
        outcomes[name] = _save_or_conflict(small, person, changes, version)

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    loser = next(name for name, outcome in outcomes.items() if outcome == "conflict")
    person, changes = jobs[loser]
    assert _save_or_conflict(small, person, changes, file_version(small)) == "saved"
    kpi = get(load_definitions(small), "po_compliance")
    assert kpi.name == "PO coverage" and kpi.description == "D."
    assert len(kpi_history(small, "po_compliance")) == 2


def _process_save(path: str, who: str, version: str, queue: multiprocessing.Queue) -> None:
    person, changes = (FIN, {"name": "PO coverage"}) if who == "fin" else (PRO, {"notes": "N."})
    queue.put((who, _save_or_conflict(Path(path), person, changes, version)))


def test_two_processes_saving_the_same_version_one_wins_nothing_lost(small: Path) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    version = file_version(small)
    procs = [
        context.Process(target=_process_save, args=(str(small), who, version, queue))
        for who in ("fin", "pro")
    ]
    for p in procs:
        p.start()
    outcomes = dict(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    loser = next(who for who, outcome in outcomes.items() if outcome == "conflict")
    _process_save(str(small), loser, file_version(small), queue)
    assert queue.get(timeout=10) == (loser, "saved")
    kpi = get(load_definitions(small), "po_compliance")
    assert kpi.name == "PO coverage" and kpi.notes == "N."
    assert len(kpi_history(small)) == 2 and _leftovers(small.parent) == []


# ---- permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "kpi_id", "allowed"),
    [
        (FIN, "total_spend", True),  # finance KPI, finance member
        (PRO, "total_spend", False),  # finance KPI, procurement member
        (PRO, "supplier_otd", True),
        (FIN, "supplier_otd", False),
        (FIN, "po_compliance", True),  # joint: either department
        (PRO, "po_compliance", True),
        (CFO, "supplier_otd", True),  # the CFO edits any
        (VIEWER, "po_compliance", False),
        (FIN_VIEWER, "total_spend", False),
        (OPS, "po_compliance", False),
    ],
)
def test_who_may_edit(small: Path, person: Person, kpi_id: str, allowed: bool) -> None:
    before = small.read_bytes()
    if allowed:
        assert _edit(small, person, kpi_id, {"name": "Renamed"}).changed
        assert get(load_definitions(small), kpi_id).name == "Renamed"
    else:
        with pytest.raises(PermissionDenied, match=r"only .*(members|CFO) may") as refused:
            _edit(small, person, kpi_id, {"name": "Renamed"})
        assert person.name in str(refused.value)
        assert small.read_bytes() == before


def test_a_department_cannot_hand_its_kpi_to_the_other(small: Path) -> None:
    with pytest.raises(PermissionDenied, match="procurement members and the CFO may"):
        _edit(small, FIN, "total_spend", {"owner": "procurement"})
    assert _edit(small, CFO, "total_spend", {"owner": "joint"}).changed


@pytest.mark.parametrize(
    ("person", "owner", "allowed"),
    [
        (FIN, "finance", True),
        (FIN, "procurement", False),
        (PRO, "finance", False),
        (PRO, "joint", True),
        (CFO, "procurement", True),
        (VIEWER, "joint", False),
        (OPS, "joint", False),
    ],
)
def test_who_may_add(small: Path, person: Person, owner: str, allowed: bool) -> None:
    entry = {**NEW_KPI, "owner": owner}
    if allowed:
        assert add_kpi(small, person, entry, "new", file_version(small)).changed
    else:
        with pytest.raises(PermissionDenied, match="may"):
            add_kpi(small, person, entry, "new", file_version(small))


# ---- two-key approval ------------------------------------------------------------------------


def _state(path: Path, kpi_id: str) -> tuple[str, dict[str, str]]:
    entry, _ = read_entry(path, kpi_id)
    return entry["status"], approvals_state(entry, PEOPLE)


def test_two_key_approval(small: Path) -> None:
    assert _state(small, "total_spend") == (
        "agreed",
        {"finance": "approved", "procurement": "approved"},
    )

    edited = _edit(small, FIN, "total_spend", {"formula": "sum(amount) * 1"}, "typo")
    assert edited.status == "proposed" and edited.status_reset
    assert set(edited.cleared_approvals) == {"finance", "procurement"}
    assert _state(small, "total_spend") == (
        "proposed",
        {"finance": "missing", "procurement": "missing"},
    )

    first = approve_kpi(small, FIN, "total_spend", file_version(small))
    assert first.status == "proposed"
    entry, _ = read_entry(small, "total_spend")
    assert entry["approvals"]["finance"]["by"] == FIN.email
    assert entry["approvals"]["finance"]["version"] == entry_version(entry)
    assert approvals_state(entry, PEOPLE) == {"finance": "approved", "procurement": "missing"}

    history = len(kpi_history(small))
    assert not approve_kpi(small, FIN, "total_spend", file_version(small)).changed
    assert not approve_kpi(small, CFO, "total_spend", file_version(small)).changed  # finance too
    assert len(kpi_history(small)) == history
    for outsider in (VIEWER, OPS, FIN_VIEWER):
        with pytest.raises(PermissionDenied, match="may not approve"):
            approve_kpi(small, outsider, "total_spend", file_version(small))

    second = approve_kpi(small, PRO, "total_spend", file_version(small))
    assert second.status == "agreed" and "agreed" in second.message
    assert get(load_definitions(small), "total_spend").status == "agreed"
    assert effective_status(get(load_definitions(small), "total_spend"), PEOPLE) == "agreed"

    kept = _edit(small, FIN, "total_spend", {"description": "All invoiced spend."})
    assert kept.status == "agreed" and not kept.status_reset and not kept.cleared_approvals
    assert _state(small, "total_spend")[0] == "agreed"

    reset = _edit(
        small, FIN, "total_spend", {"targets": {"FY2026-Q1": 990000, "FY2026-Q3": 1100000}}
    )
    assert reset.status == "proposed" and set(reset.cleared_approvals) == {"finance", "procurement"}


def test_approvals_of_another_version_are_void(small: Path) -> None:
    _edit(small, FIN, "total_spend", {"formula": "sum(amount) * 1"})
    approve_kpi(small, FIN, "total_spend", file_version(small))
    approve_kpi(small, PRO, "total_spend", file_version(small))
    small.write_text(small.read_text().replace("sum(amount) * 1", "sum(amount) * 2"))  # by hand
    entry, _ = read_entry(small, "total_spend")
    assert approvals_state(entry, PEOPLE) == {"finance": "void", "procurement": "void"}
    assert effective_status(entry, PEOPLE) == "proposed"
    assert effective_status(get(load_definitions(small), "total_spend"), PEOPLE) == "proposed"

    half = approve_kpi(small, PRO, "total_spend", file_version(small))
    assert half.status == "proposed" and set(half.cleared_approvals) == {"finance"}
    assert _state(small, "total_spend") == (
        "proposed",
        {"finance": "missing", "procurement": "approved"},
    )
    assert approve_kpi(small, CFO, "total_spend", file_version(small)).status == "agreed"


def test_an_approval_of_the_current_content_waits_for_the_other(small: Path) -> None:
    # supplier_otd is proposed with procurement's approval of its current content
    assert _state(small, "supplier_otd") == (
        "proposed",
        {"finance": "missing", "procurement": "approved"},
    )
    assert approve_kpi(small, CFO, "supplier_otd", file_version(small)).status == "agreed"


# ---- history ---------------------------------------------------------------------------------


def test_every_save_is_in_the_history_with_a_diff(small: Path) -> None:
    _edit(small, FIN, "total_spend", {"formula": "sum(amount) * 1"}, "rounding check")
    approve_kpi(small, FIN, "total_spend", file_version(small))
    _edit(small, PRO, "supplier_otd", {"name": "OTD"}, "shorter")
    lines = kpi_history(small, "total_spend")
    assert [h["action"] for h in lines] == ["approved", "edited"]  # newest first
    edit = lines[1]
    assert edit["who"] == FIN.email and edit["why"] == "rounding check"
    assert edit["kpi_id"] == "total_spend" and edit["status_reset"] is True
    assert (edit["status_from"], edit["status_to"]) == ("agreed", "proposed")
    assert edit["cleared_approvals"]["finance"] == {
        "by": "claire.dubois@example.org",
        "on": "2026-01-12",
        "version": "4113e5bff896",
    }
    assert datetime.fromisoformat(edit["when"]).tzinfo == UTC
    assert "-    formula: sum(amount)\n" in edit["diff"]
    assert "+    formula: sum(amount) * 1\n" in edit["diff"]
    assert "-    approvals:\n" in edit["diff"]
    assert "+      finance: {by: sam.okafor@example.org" in lines[0]["diff"]
    assert [h["kpi_id"] for h in kpi_history(small)] == [
        "supplier_otd",
        "total_spend",
        "total_spend",
    ]
    assert (small.parent / "kpis.history.jsonl").exists()


def test_a_reason_is_required_and_the_history_path_is_configurable(small: Path) -> None:
    with pytest.raises(EditError, match="Say why"):
        _edit(small, FIN, "total_spend", {"name": "Spend"}, why="  ")
    log = small.parent / "audit" / "kpis.jsonl"
    log.parent.mkdir()
    edit_kpi(
        small, FIN, "total_spend", {"name": "Spend"}, "why", file_version(small), history_path=log
    )
    assert kpi_history(small, history_path=log)[0]["action"] == "edited"
    assert kpi_history(small) == []


# ---- targets and the goals meeting ---------------------------------------------------------


def test_set_target_keeps_the_targets_style_and_resets_agreement(small: Path) -> None:
    result = set_target(
        small, FIN, "total_spend", "FY2026-Q2", 1050000.0, "plan", file_version(small)
    )
    assert result.status == "proposed" and result.status_reset
    assert (
        "      FY2026-Q1: 1000000\n      FY2026-Q2: 1050000\n      FY2026-Q3: 1100000\n"
        in small.read_text()
    )
    set_target(small, PRO, "po_compliance", "FY2026-Q3", 0.94, "plan", file_version(small))
    assert "    targets: {FY2026-Q1: 0.92, FY2026-Q2: 0.93, FY2026-Q3: 0.94}\n" in small.read_text()
    with pytest.raises(PermissionDenied):
        set_target(small, PRO, "total_spend", "FY2026-Q4", 1.0, "plan", file_version(small))
    with pytest.raises(EditError, match="number"):
        set_target(small, FIN, "total_spend", "FY2026-Q4", True, "plan", file_version(small))
    with pytest.raises(InvalidEdit, match="not a period label"):
        set_target(small, FIN, "total_spend", "Q4 2026", 1.0, "plan", file_version(small))
    assert kpi_history(small, "total_spend")[0]["action"] == "target set"


# ---- the definitions page's logic (kpi/reporting/definitions_form.py) -------------------

from datetime import date  # noqa: E402

import polars as pl  # noqa: E402

from kpi.core.scope import Scope  # noqa: E402
from kpi.reporting import definitions_form as form  # noqa: E402
from kpi.reporting.filters_text import active_filters  # noqa: E402
from kpi.semantic.kpi_definition import Issue  # noqa: E402
from kpi.workflows.definition_versions import catalogue, entry_text  # noqa: E402
from tests import hand_fixture  # noqa: E402


def test_form_values_turn_an_entry_into_widget_values():
    values = form.form_values(NEW_KPI)
    assert values["consulted"] == "procurement"  # a list becomes the text people type
    assert values["informed"] == ""  # absent: empty, not "None"
    assert values["reading_finance"] == "Work for accounts payable."
    assert values["responsible"] == "finance"
    assert values["dimensions"] == ["category", "supplier"]
    assert values["period_by"] == "invoice_date"
    assert set(values) == set(form.FORM_FIELDS)
    # an empty entry gets the defaults the selectboxes can show
    blank = form.form_values({})
    assert (blank["owner"], blank["theme"], blank["status"], blank["unit"]) == (
        "joint",
        "spend",
        "draft",
        "currency",
    )
    assert (blank["source"], blank["direction"], blank["period_by"]) == (
        "spend",
        "higher_is_better",
        "",
    )


def test_form_entry_round_trips_an_entry_and_strips_blanks():
    values = form.form_values(NEW_KPI)
    entry = form.form_entry(values, {"FY2027-Q1": 5000.0}, new=True)
    # the form describes the same entry (ids and owners only for a new KPI), plus what the
    # widgets always hold: a status (draft by default) and an empty list of people informed
    raci = {**NEW_KPI["raci"], "informed": []}
    assert entry == {**NEW_KPI, "raci": raci, "targets": {"FY2027-Q1": 5000.0}, "status": "draft"}
    assert list(entry)[:2] == ["id", "owner"]
    edited = form.form_entry(
        {**values, "name": "  Lines ", "reading_procurement": " ", "informed": "a, ,b ,"},
        {},
        new=False,
    )
    assert "id" not in edited and "owner" not in edited
    assert edited["name"] == "Lines"
    assert edited["readings"] == {"finance": "Work for accounts payable."}
    assert edited["raci"]["informed"] == ["a", "b"]
    assert form.form_entry({**values, "period_by": ""}, {}, new=False)["period_by"] is None


def test_changes_compare_numbers_and_text_as_people_mean_them():
    saved = {"name": "Spend", "targets": {"FY2026-Q1": 1000000}, "raci": {"consulted": []}}
    # 1000000 and 1000000.0 are the same target; an empty list is no RACI field at all
    same = {"name": "Spend ", "targets": {"FY2026-Q1": 1000000.0}, "raci": {}}
    assert form.changed_fields(same, saved) == {}
    changed = {"name": "Spend", "targets": {"FY2026-Q1": 1100000.0}, "unit": "currency"}
    assert form.changed_fields(changed, saved) == {
        "targets": {"FY2026-Q1": 1100000.0},
        "unit": "currency",
    }
    assert form.normalised({"a": [" x ", 2], "b": "", "c": True}) == {"a": ["x", 2.0], "c": True}
    # a cleared field leaves the candidate; the rest is the saved entry
    assert form.candidate_entry({"name": "A", "notes": "n"}, {"notes": None, "unit": "count"}) == {
        "name": "A",
        "unit": "count",
    }
    assert form.new_entry({"id": "x", "raci": {}, "dimensions": [], "notes": None}) == {"id": "x"}


def test_start_entry_gives_the_new_kpi_to_the_persons_department():
    owners = ("finance", "procurement", "joint")
    assert form.start_entry("procurement", owners)["owner"] == "procurement"
    assert form.start_entry("procurement", owners)["raci"] == {
        "accountable": "cfo",
        "responsible": "procurement",
    }
    assert form.start_entry("operations", owners)["owner"] == "joint"
    assert form.start_entry(None, owners)["raci"]["responsible"] == "joint"
    assert form.NEW_ENTRY["raci"] == {"accountable": "cfo"}  # the default is not changed


def test_options_keep_the_current_value_and_numbers_are_numbers():
    assert form.with_current(["a", "b"], "c") == ["a", "b", "c"]
    assert form.with_current(["a", "b"], "a") == ["a", "b"]
    assert form.with_current(("a",), "") == ["a"]
    assert form.split_names(" cfo, ,board,ops ") == ["cfo", "board", "ops"]
    assert [form.as_number(v) for v in (2, 0.5, True, "3", None)] == [2.0, 0.5, None, None, None]
    frame = form.targets_frame({"FY2026-Q1": 1000000, 2026: "a lot"}, "currency")
    assert frame.rows() == [("FY2026-Q1", 1000000.0), ("2026", None)]
    # a percent KPI's targets are typed in percent, as on the goals page, and kept as shares
    frame = form.targets_frame({"FY2026-Q1": 0.921, "FY2026-Q2": None}, "percent")
    assert frame.rows() == [("FY2026-Q1", 92.1), ("FY2026-Q2", None)]
    kept = form.stored_targets({"FY2026-Q1": 92.1, "FY2026-Q2": None}, "percent")
    assert kept == {"FY2026-Q1": 0.921, "FY2026-Q2": None}
    assert form.stored_targets({"FY2026": 12.5}, "days") == {"FY2026": 12.5}


def test_form_issues_name_twice_written_periods_and_taken_ids():
    issues = form.form_issues("kpis.yaml", "total_spend", ["FY2026-Q1"], ["total_spend"])
    assert [(i.field, i.kpi_id, i.message) for i in issues] == [
        ("targets", "total_spend", "FY2026-Q1 is written twice"),
        ("id", "total_spend", "the id 'total_spend' is taken"),
    ]
    assert form.form_issues("kpis.yaml", None, [], ["total_spend"]) == []
    assert form.form_issues("kpis.yaml", "new_one", [], ["total_spend"]) == []


def test_form_keys_are_the_open_forms_only():
    keys = [
        "ed_x_name",
        "ed_x_opened",
        "ed_x_targets",
        "ed_x_targets_0123abcd",
        "ed_x_targets_nothex!",
        "ed_xy_name",
        "def_pick",
    ]
    assert form.form_keys("ed_x", keys) == [
        "ed_x_name",
        "ed_x_opened",
        "ed_x_targets",
        "ed_x_targets_0123abcd",
    ]


def test_a_new_view_keeps_what_it_has():
    columns = {"po_date": "DATE", "promised_date": "DATE", "supplier": "VARCHAR",
               "on_time": "BOOLEAN", "amount": "DECIMAL(18,2)"}  # fmt: skip
    assert form.date_columns(columns) == ["po_date", "promised_date"]
    assert form.split_columns(columns, ["cost_centre"]) == ["supplier", "on_time", "cost_centre"]
    # invoice_date is not in the new view: the first date column; cost_centre goes
    assert form.after_source_change(columns, "invoice_date", ["supplier", "cost_centre"]) == (
        "po_date",
        ["supplier"],
    )
    assert form.after_source_change(columns, "promised_date", []) == ("promised_date", [])
    assert form.after_source_change({"x": "VARCHAR"}, "invoice_date", []) == ("invoice_date", [])


def test_texts_for_people():
    assert form.check_message([]) is None
    issues = [
        Issue("k.yaml", 3, "x", "unit", "'euros' is not a unit", "use currency"),
        Issue("k.yaml", None, "x", None, "no formula"),
    ]
    assert form.check_message(issues) == (
        "**2 problem(s) to fix before saving** (the same checks as `python -m kpi check`):\n\n"
        "- **unit**: 'euros' is not a unit — *use currency*\n- **entry**: no formula"
    )
    assert form.issue_line(issues[0]) == "- **line 3**: 'euros' is not a unit — use currency"
    assert form.issue_line(issues[1]) == "- **the file**: no formula"
    table = form.issues_table(issues)
    assert table.rows() == [
        (3, "x", "unit", "'euros' is not a unit", "use currency"),
        (None, "x", "", "no formula", ""),
    ]
    assert form.first_line(ValueError("Binder Error: no\nLINE 1: ...")) == "Binder Error: no"
    assert form.first_line(ValueError("  ")) == "ValueError"
    assert form.approved_message("k", "finance", "Sam", "agreed") == (
        "'k' approved for finance by Sam. Both departments approved this version: it is agreed."
    )
    assert form.approved_message("k", "procurement", "Jo", "proposed") == (
        "'k' approved for procurement by Jo. It stays proposed until finance approves this "
        "version too."
    )
    record = {"when": "2026-03-01T10:15:42+00:00", "who": "Sam", "action": "edit"}
    assert form.history_heading(record) == "2026-03-01 10:15 · Sam · edit"
    assert "(2 KPIs, shown below)" in form.broken_file_message("kpis.yaml", 2)
    assert "none are shown" in form.broken_file_message("kpis.yaml", 0)
    assert active_filters({"cost_centre": ["CC1", "CC2"], "category": []}) == [
        "cost centre: CC1, CC2"
    ]


def test_conflict_diff_shows_what_differs():
    diff = form.conflict_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n")
    assert diff.splitlines() == [
        "--- theirs",
        "+++ yours",
        "@@ -1,2 +1,2 @@",
        " a: 1",
        "-b: 2",
        "+b: 3",
    ]
    assert form.conflict_diff("a: 1\n", "a: 1\n") == ""


def test_approval_step_says_why_not(small):
    defs = {k.id: k for k in load_definitions(small)}
    otd = defs["supplier_otd"]  # proposed, approved by procurement (by hand)
    state = approvals_state(otd, PEOPLE)
    assert state == {"finance": "missing", "procurement": "approved"}
    assert form.approval_step(state, "proposed", "finance", None, "Sam") is None  # may approve
    kind, text = form.approval_step(state, "proposed", "procurement", None, "Jo")
    assert (kind, text) == ("info", "Procurement approved this version; it waits for finance.")
    assert form.approval_step(state, "proposed", "finance", "kpis.yaml", None) == (
        "info",
        "Approving is off until the definitions file (kpis.yaml) is fixed by hand (see above).",
    )
    refusal = approver_refusal(VIEWER)
    assert form.approval_step(state, "proposed", None, None, refusal) == (
        "info",
        "Lee Chen (operations, viewer) may not approve KPIs: finance members and the CFO "
        "approve for finance, procurement members for procurement. Pick someone else under "
        "**Acting as** to approve.",
    )
    assert form.approval_step(state, "agreed", "finance", None, "Sam")[0] == "success"
    assert "draft is not up" in form.approval_step(state, "draft", "finance", None, "Sam")[1]


def test_tables_of_one_kpi(small):
    defs = {k.id: k for k in load_definitions(small)}
    spend, otd = defs["total_spend"], defs["supplier_otd"]
    assert form.targets_table(spend, "EUR").rows() == [
        ("FY2026-Q1", "€1,000,000.00", 1000000),
        ("FY2026-Q3", "€1,100,000.00", 1100000),
    ]
    assert form.targets_table(otd, "EUR").rows() == [("FY2026-Q1", "90.0 %", 0.9)]
    table = form.approvals_table(otd, PEOPLE)
    assert table.rows() == [
        ("finance", "– not yet", "", "", "", ""),
        (
            "procurement",
            "✓ approved",
            "Jonas Berg <jonas.berg@example.org>",
            "2026-10-02",
            entry_version(otd),
            "",
        ),
    ]
    assert form.summary_line(otd) == (
        "**Unit** percent · **direction** higher is better · **can be split by** category, supplier"
    )
    # a new formula changes the signed content; a draft has no signatures to clear
    saved = {"status": "agreed", "formula": "sum(amount)", "source": "spend"}
    assert form.clears_approvals(saved, {**saved, "formula": "count(*)"})
    assert not form.clears_approvals(saved, {**saved, "name": "Other name"})
    assert not form.clears_approvals({**saved, "status": "draft"}, {**saved, "formula": "x"})


def test_history_table_and_catalogue_filter(small):
    records = [
        {"when": "2026-03-01T10:15:42", "who": "Sam", "action": "edit", "why": "typo",
         "status_from": "agreed", "status_to": "proposed"},
        {"when": "2026-02-01T09:00:00", "who": "Jo", "action": "add", "status_to": "draft"},
    ]  # fmt: skip
    assert form.history_table(records).rows() == [
        ("2026-03-01 10:15:42", "Sam", "edit", "typo", "agreed → proposed"),
        ("2026-02-01 09:00:00", "Jo", "add", "", "– → draft"),
    ]
    table = catalogue(load_definitions(small), PEOPLE)
    assert form.filter_catalogue(table, "")["id"].to_list() == [
        "total_spend",
        "supplier_otd",
        "po_compliance",
    ]
    # 'PURCHASE' is in po_compliance's and supplier_otd's descriptions, in any case
    assert form.filter_catalogue(table, " PURCHASE ")["id"].to_list() == [
        "supplier_otd",
        "po_compliance",
    ]
    assert form.filter_catalogue(table, "purchase", owners=["joint"])["id"].to_list() == [
        "po_compliance"
    ]
    assert form.filter_catalogue(table, "", statuses=["agreed", "draft"], themes=["spend"])[
        "id"
    ].to_list() == ["total_spend"]
    assert form.filter_catalogue(table, "(").is_empty()  # taken literally, not as a pattern


def test_preview_computes_the_edited_entry_by_quarter(tmp_path):
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    entry = {**NEW_KPI, "formula": "sum(amount)", "unit": "currency", "status": "draft"}
    h1 = (date(2026, 1, 1), date(2026, 6, 30))
    values = form.preview_values(store, entry_text(entry), Scope.of(*h1, currency="EUR"))
    # FY2026-Q1: 1050 + 100 + 500 EUR + 1000 USD x 0.9 = 2550; FY2026-Q2: 1000 USD x 0.8 = 800
    assert [(p, round(v, 2)) for p, v in values.rows()] == [
        ("FY2026-Q1", 2550.0),
        ("FY2026-Q2", 800.0),
    ]
    packaging = form.preview_values(
        store, entry_text(entry), Scope.of(*h1, {"category": ["Packaging"]}, "EUR")
    )
    assert [(p, round(v, 2)) for p, v in packaging.rows()] == [
        ("FY2026-Q1", 1650.0)
    ]  # 1050+100+500


def test_preview_table_puts_saved_edited_and_target_side_by_side():
    edited = pl.DataFrame({"period": ["FY2026-Q2", "FY2026-Q1"], "value": [800.0, 2550.0]})
    saved = pl.DataFrame({"period": ["FY2026-Q1"], "value": [1650.0]})
    targets = form.preview_targets({"targets": {"FY2026-Q1": 2000, "FY2026-Q3": "n/a", 2026: 9}})
    assert targets == {"FY2026-Q1": 2000.0, "2026": 9.0}
    table = form.preview_table(edited, saved, targets)
    assert table.columns == ["period", "as saved", "as edited", "target"]
    assert table.rows() == [("FY2026-Q1", 1650.0, 2550.0, 2000.0), ("FY2026-Q2", None, 800.0, None)]
    alone = form.preview_table(edited, None, {})
    assert alone.columns == ["period", "as edited", "target"]
    shown = form.formatted_values(table, "currency", "EUR")
    assert shown.row(0) == ("FY2026-Q1", "€1,650.00", "€2,550.00", "€2,000.00")
    assert shown.row(1) == ("FY2026-Q2", None, "€800.00", None)  # no value: an empty cell
    assert form.scaled([0.5, None], "percent") == [50.0, None]
    assert form.scaled([2.5], "days") == [2.5]


def test_who_may_edit_and_add_from_the_page():
    # the reasons are kpi.core.permissions' own, the same the save raises
    assert kpi_edit_refusal(FIN, "finance", "edit 'x'") is None
    assert form.edit_blocked(None, None) is None
    refusal = kpi_edit_refusal(VIEWER, "finance", "edit 'total_spend'")
    assert form.edit_blocked(None, refusal) == (
        "info",
        "Lee Chen (operations, viewer) may not edit 'total_spend': only finance members and the "
        "CFO may (the KPI's owner is finance). Pick someone else under **Acting as** to edit it.",
    )
    with pytest.raises(PermissionDenied) as refused:
        require_kpi_editor(VIEWER, "finance", "edit 'total_spend'")
    assert str(refused.value) == refusal
    # a broken file comes first, even for someone who may edit
    assert form.edit_blocked("kpis.yaml", None)[0] == "warning"
    assert form.edit_blocked("kpis.yaml", None)[1].startswith(
        "Editing is off: the definitions file (kpis.yaml) is broken (see above)."
    )
    assert definition_writer_refusal(FIN, "add KPIs") is None
    assert form.add_blocked(None, None) is None
    assert form.add_blocked(None, definition_writer_refusal(VIEWER, "add KPIs")) == (
        "info",
        "Lee Chen (operations, viewer) may not add KPIs: only finance and procurement members "
        "and the CFO may. Pick someone else under **Acting as** to add one.",
    )
    assert form.add_blocked("kpis.yaml", None) == (
        "warning",
        "Adding is off until the definitions file (kpis.yaml) is fixed by hand (see above).",
    )


def test_a_read_of_the_file_is_kept_per_content_and_each_caller_gets_a_copy(
    real: Path, tmp_path: Path, monkeypatch
) -> None:
    """yaml_splice.read_file: the unchanged file is parsed once (the sidebar's inbox reads it
    on every page), under any name; a caller that changes its entries changes nobody
    else's; an edit of the file is read afresh."""
    from kpi.workflows import yaml_splice

    parses = []
    parse = yaml_splice.SourceFile.parse
    monkeypatch.setattr(yaml_splice.SourceFile, "parse", lambda *a: parses.append(1) or parse(*a))
    monkeypatch.setattr(yaml_splice, "_READS", Kept(8))
    first = yaml_splice.read_file(real)
    first.entries[0]["id"] = "changed_by_a_caller"
    second = yaml_splice.read_file(real)
    copy = tmp_path / "elsewhere.yaml"
    shutil.copyfile(real, copy)
    third = yaml_splice.read_file(copy)
    assert len(parses) == 1
    assert second.entries[0]["id"] != "changed_by_a_caller"
    assert third.entries == second.entries
    assert second.lines == tuple(real.read_text(encoding="utf-8").split("\n"))
    assert len(second.spans) == len(second.entries) == len(load_definitions(real))
    kpi_id = second.entries[0]["id"]
    real.write_text(real.read_text(encoding="utf-8").replace(f"id: {kpi_id}", "id: renamed", 1))
    assert yaml_splice.read_file(real).entries[0]["id"] == "renamed"
    assert len(parses) == 2


@pytest.mark.parametrize("where", ["kpis: *i", "kpis:\n  - id: bomb\n    name: *i"])
def test_a_file_whose_aliases_explode_is_refused_not_expanded(tmp_path: Path, where: str) -> None:
    """A "billion laughs" file (9^9 strings once expanded) is a broken file to every reader
    of the round-trip parse (the inbox, the edit form, a save), refused before any value is
    copied: expanding it took a test worker to 23 GB once."""
    from kpi.workflows import yaml_splice

    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [
        f"{x}: &{x} [{', '.join(['*' + p] * 9)}]"
        for p, x in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    path = tmp_path / "kpis.yaml"
    path.write_text("\n".join([*levels, where]) + "\n", encoding="utf-8")
    with pytest.raises(BrokenFile, match="too many values"):
        yaml_splice.read_file(path)
