"""KPI definitions: a valid file loads; every mistake is reported at its line, with the KPI
id and the field; several mistakes are all reported; `python -m kpi check` says so."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlglot import exp

from kpi.semantic.definitions import check_file, load_definitions
from kpi.semantic.kpi_definition import DefinitionsError, Issue, KpiDefinition, UnknownKpi, get

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kpis"
ROOT = Path(__file__).resolve().parents[2]
ONE_KPI = (FIXTURES / "one_kpi.yaml").read_text(encoding="utf-8")


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    """one_kpi.yaml with one line changed (the line numbers of the rest stay put)."""
    assert ONE_KPI.count(old) == 1, old
    path = tmp_path / "kpis.yaml"
    path.write_text(ONE_KPI.replace(old, new), encoding="utf-8")
    return path


# ---- a valid file -------------------------------------------------------------------------


def test_valid_fixture_loads() -> None:
    path = FIXTURES / "valid.yaml"
    assert check_file(path) == []
    defs = load_definitions(path)
    assert [d.id for d in defs] == [
        "total_spend",
        "spend_under_management",
        "days_to_pay",
        "on_time_delivery",
        "excess_stock_value",
    ]
    assert [d.line for d in defs] == [5, 26, 46, 67, 84]
    sum_ = get(defs, "spend_under_management")
    assert sum_.owner == "procurement" and sum_.unit == "percent"
    assert sum_.targets == {"FY2026-Q1": 0.70, "FY2026-Q2": 0.72, "2026-07": 0.73, "FY2027": 0.75}
    assert sum_.approvals.finance is None
    assert sum_.approvals.procurement is not None
    assert sum_.approvals.procurement.on == date(2026, 1, 10)
    assert isinstance(sum_.formula_tree, exp.Expression)
    assert sum_.formula_tree.sql("duckdb").startswith("SUM(amount) FILTER(WHERE preferred")


def test_minimal_fixture_loads_with_its_fields() -> None:
    (kpi,) = load_definitions(FIXTURES / "one_kpi.yaml")
    assert kpi.id == "total_spend" and kpi.line == 4
    assert kpi.raci.consulted == ["procurement"] and kpi.raci.informed == ["board"]
    assert kpi.dimensions == ["category", "cost_centre", "supplier"]
    assert kpi.status == "agreed"
    assert kpi.approvals.finance and kpi.approvals.finance.by == "cfo@example.org"


def test_serialisation_leaves_out_line_and_tree() -> None:
    (kpi,) = load_definitions(FIXTURES / "one_kpi.yaml")
    dumped = kpi.model_dump()
    assert "formula_tree" not in dumped and "line" not in dumped
    assert dumped["formula"] == "sum(amount)"
    assert KpiDefinition.model_validate(dumped).id == "total_spend"
    assert "formula_tree" not in kpi.model_dump_json()


def test_get_unknown_kpi_lists_the_known_ones() -> None:
    defs = load_definitions(FIXTURES / "valid.yaml")
    with pytest.raises(UnknownKpi) as unknown:
        get(defs, "days_to_payy")
    message = str(unknown.value)
    assert "unknown KPI 'days_to_payy'" in message
    assert "Did you mean 'days_to_pay'?" in message
    assert "excess_stock_value, on_time_delivery, spend_under_management" in message
    assert isinstance(unknown.value, ValueError)


def test_default_path_comes_from_kpi_config(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "kpis.yaml").write_text(ONE_KPI, encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(tmp_path))
    assert [d.id for d in load_definitions()] == ["total_spend"]


# ---- one mistake at a time: (case, old line, new line, [(line, field, fragment), ...]) ----

MISTAKES = [
    (
        "unknown field",
        "    unit: currency",
        "    units: currency",
        [
            (20, "units", "unknown field 'units' (did you mean 'unit'"),
            (4, "unit", "required field 'unit' is missing"),
        ],
    ),
    (
        "missing required field",
        "    name: Total spend",
        "    # name left out",
        [(4, "name", "required field 'name' is missing")],
    ),
    (
        "empty name",
        "    name: Total spend",
        "    name: ''",
        [(5, "name", "should be text, not empty, got ''")],
    ),
    (
        "wrong type",
        "    name: Total spend",
        "    name: [Total, spend]",
        [(5, "name", "should be text, got a list")],
    ),
    (
        "bad enum value",
        "    owner: finance",
        "    owner: financ",
        [
            (
                6,
                "owner",
                "'financ' is not one of: finance, procurement, joint (did you mean 'finance'?)",
            )
        ],
    ),
    (
        "bad theme",
        "    theme: spend",
        "    theme: money",
        [(7, "theme", "'money' is not one of: spend, compliance, savings")],
    ),
    (
        "id not snake_case",
        "  - id: total_spend",
        "  - id: Total Spend",
        [(4, "id", "id 'Total Spend' is not snake_case")],
    ),
    (
        "raci not a list",
        "      consulted: [procurement]",
        "      consulted: procurement",
        [(11, "raci.consulted", "should be a list, got 'procurement'")],
    ),
    (
        "raci unknown key",
        "      responsible: finance",
        "      responsable: finance",
        [
            (9, "raci.responsable", "unknown field 'responsable' (did you mean 'responsible'?)"),
            (8, "raci.responsible", "required field 'responsible' is missing"),
        ],
    ),
    (
        "reading missing",
        "      procurement: The base that savings are measured on.",
        "      # procurement has not written its reading yet",
        [(14, "readings.procurement", "required field 'procurement' is missing")],
    ),
    (
        "unknown source view",
        "    source: spend",
        "    source: spnd",
        [(17, "source", "unknown view 'spnd' (did you mean 'spend'")],
    ),
    (
        "period_by unknown",
        "    period_by: invoice_date",
        "    period_by: invoice_dte",
        [
            (
                18,
                "period_by",
                "unknown column 'invoice_dte' in view 'spend' (did you mean 'invoice_date'",
            )
        ],
    ),
    (
        "period_by not a date",
        "    period_by: invoice_date",
        "    period_by: amount",
        [(18, "period_by", "'amount' in view 'spend' is DECIMAL(18,2), not a date (date columns")],
    ),
    (
        "unknown dimension",
        "    dimensions: [category, cost_centre, supplier]",
        "    dimensions: [category, cost_center, supplier]",
        [
            (
                22,
                "dimensions",
                "unknown column 'cost_center' in view 'spend' (did you mean 'cost_centre'",
            )
        ],
    ),
    (
        "formula refused",
        "    formula: sum(amount)",
        "    formula: read_csv('/etc/passwd')",
        [(19, "formula", "function read_csv() at character 1 is not allowed")],
    ),
    (
        "formula unknown column",
        "    formula: sum(amount)",
        "    formula: sum(amont)",
        [
            (
                19,
                "formula",
                "unknown column 'amont' in view 'spend' at character 5 (did you mean 'amount'?)",
            )
        ],
    ),
    (
        "formula stacked statement",
        "    formula: sum(amount)",
        "    formula: sum(amount); ATTACH 'x.db'",
        [
            (19, "formula", "';' at character 12 is not allowed"),
            (19, "formula", "ATTACH is a SQL statement"),
        ],
    ),
    (
        "formula not a string",
        "    formula: sum(amount)",
        "    formula: 42",
        [(19, "formula", "should be text, got 42")],
    ),
    (
        "target key not a period",
        "    targets: {FY2026-Q1: 1000000}",
        "    targets: {FY2026-Q5: 1000000}",
        [(23, "targets.FY2026-Q5", "'FY2026-Q5' is not a period label")],
    ),
    (
        "target key a day",
        "    targets: {FY2026-Q1: 1000000}",
        "    targets: {2026-01-01: 1000000}",
        [(23, "targets.2026-01-01", "'2026-01-01' is a day; targets are set per period")],
    ),
    (
        "target key month 13",
        "    targets: {FY2026-Q1: 1000000}",
        "    targets: {2026-13: 1000000}",
        [(23, "targets.2026-13", "'2026-13' is not a period label")],
    ),
    (
        "target value not a number",
        "    targets: {FY2026-Q1: 1000000}",
        "    targets: {FY2026-Q1: lots}",
        [(23, "targets.FY2026-Q1", "a target is a number, got 'lots'")],
    ),
    (
        "target value a boolean",
        "    targets: {FY2026-Q1: 1000000}",
        "    targets: {FY2026-Q1: true}",
        [(23, "targets.FY2026-Q1", "a target is a number, got True")],
    ),
    (
        "bad status",
        "    status: agreed",
        "    status: signed",
        [(24, "status", "'signed' is not one of: draft, proposed, agreed")],
    ),
    (
        "agreed without procurement approval",
        "      procurement: {by: head.procurement@example.org, on: 2026-01-10}",
        "      # procurement has not approved yet",
        [(24, "status", "status is 'agreed' but procurement has not approved")],
    ),
    (
        "approval date impossible",
        "      finance: {by: cfo@example.org, on: 2026-01-12}",
        "      finance: {by: cfo@example.org, on: 2026-02-30}",
        [(26, "approvals.finance.on", "should be a date YYYY-MM-DD, got '2026-02-30'")],
    ),
    (
        "approval without who",
        "      finance: {by: cfo@example.org, on: 2026-01-12}",
        "      finance: {on: 2026-01-12}",
        [(26, "approvals.finance.by", "required field 'by' is missing")],
    ),
    (
        "approval with an unknown key",
        "      finance: {by: cfo@example.org, on: 2026-01-12}",
        "      finance: {by: cfo@example.org, on: 2026-01-12, at: noon}",
        [(26, "approvals.finance.at", "unknown field 'at'")],
    ),
    (
        "approval of a third department",
        "      finance: {by: cfo@example.org, on: 2026-01-12}",
        "      legal: {by: cfo@example.org, on: 2026-01-12}",
        [
            (26, "approvals.legal", "unknown field 'legal'"),
            (24, "status", "status is 'agreed' but finance has not approved"),
        ],
    ),
    (
        "key written twice",
        "    direction: target_is_best",
        "    unit: percent",
        [
            (21, "unit", "'unit' is written twice in one mapping (lines 20 and 21)"),
            (4, "direction", "required field 'direction' is missing"),
        ],
    ),
    (
        "bookkeeping name used as a field",
        "    unit: currency",
        "    unit: currency\n    line: 3",
        [(21, "line", "unknown field 'line'")],
    ),
    (
        "version not a number",
        "version: 1",
        "version: one",
        [(2, "version", "version is a whole number, got 'one'")],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [pytest.param(old, new, expected, id=case) for case, old, new, expected in MISTAKES],
)
def test_each_mistake_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, expected: list[tuple[int, str, str]]
) -> None:
    path = _variant(tmp_path, old, new)
    issues = check_file(path)
    found = [(i.line, i.field, str(i)) for i in issues]
    assert len(issues) == len(expected), found
    for line, field, fragment in expected:
        assert any(i.line == line and i.field == field and fragment in str(i) for i in issues), (
            line,
            field,
            fragment,
            found,
        )
    kpi_id = "Total Spend" if "Total Spend" in new else "total_spend"
    for issue in issues:
        assert issue.kpi_id == (None if issue.field == "version" else kpi_id)
        assert str(issue).startswith(f"{path}:{issue.line}: ")
    with pytest.raises(DefinitionsError) as refused:
        load_definitions(path)
    assert refused.value.issues == issues
    assert all(str(i) in str(refused.value) for i in issues)


def test_issue_reads_like_the_contract() -> None:
    issue = Issue(
        "config/kpis.yaml",
        42,
        "days_to_pay",
        "formula",
        "unknown column 'paid_dte' in view 'payments' (did you mean 'paid_date'?)",
    )
    assert str(issue) == (
        "config/kpis.yaml:42: kpi 'days_to_pay', field 'formula': unknown column 'paid_dte' "
        "in view 'payments' (did you mean 'paid_date'?)"
    )
    with_hint = Issue(
        "k.yaml", 3, None, "kpi", "unknown top-level key 'kpi'", "did you mean 'kpis'?"
    )
    assert (
        str(with_hint)
        == "k.yaml:3: field 'kpi': unknown top-level key 'kpi' (did you mean 'kpis'?)"
    )


# ---- several mistakes in one file ----------------------------------------------------------


def test_every_mistake_in_a_file_is_reported() -> None:
    issues = check_file(FIXTURES / "many_mistakes.yaml")
    got = [(i.line, i.kpi_id, i.field) for i in issues]
    assert got == [
        (13, "days_to_pay", "formula"),
        (15, "days_to_pay", "direction"),
        (17, "days_to_pay", "targets.FY2026-Q5"),
        (18, "days_to_pay", "status"),
        (21, "days_to_pay", "id"),
        (28, "days_to_pay", "source"),
        (30, "days_to_pay", "formula"),
        (30, "days_to_pay", "formula"),
        (34, "days_to_pay", "formla"),
    ]
    text = "\n".join(map(str, issues))
    assert "unknown column 'paid_dte' in view 'payments'" in text
    assert "did you mean 'paid_date'" in text
    assert "id 'days_to_pay' is used twice (lines 4 and 21)" in text
    assert "unknown view 'paymnts' (did you mean 'payments'?)" in text
    assert "ATTACH is a SQL statement" in text


# ---- the file's shape ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", None, "the file is empty"),
        ("- id: total_spend\n", 1, "the list of KPIs must sit under a 'kpis:' key"),
        ("kpi:\n  - id: x\n", 1, "unknown top-level key 'kpi' (did you mean 'kpis'?)"),
        ("kpi:\n  - id: x\n", 1, "no 'kpis:' list in the file"),
        ("version: 1\nkpis: total_spend\n", 2, "'kpis' must be a list of KPIs"),
        ("kpis:\n  - id: a\n    name: A\n  - just text\n", 4, "KPI #2 must be a mapping"),
        ("kpis:\n  - id: a\n    name: [A\n", 4, "not valid YAML"),
        ("kpis:\n  - id: a\n\tname: A\n", 3, "not valid YAML at column 1"),
    ],
)
def test_file_shape_mistakes(tmp_path: Path, text: str, line: int | None, fragment: str) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text(text, encoding="utf-8")
    issues = check_file(path)
    assert any(i.line == line and fragment in str(i) for i in issues), [str(i) for i in issues]


def test_yaml_syntax_error_gives_the_parsers_line() -> None:
    (issue,) = check_file(FIXTURES / "not_yaml.yaml")
    assert issue.line == 5
    assert "not valid YAML at column 10" in str(issue)
    assert "flow mapping started at line 4" in str(issue)


def test_missing_file_is_one_issue(tmp_path: Path) -> None:
    (issue,) = check_file(tmp_path / "nope.yaml")
    assert "file not found" in str(issue)


def test_keys_left_empty_mean_none(tmp_path: Path) -> None:
    text = ONE_KPI.replace("    dimensions: [category, cost_centre, supplier]", "    dimensions:")
    text = text.replace("    targets: {FY2026-Q1: 1000000}", "    targets:")
    text = text.replace("    status: agreed", "    status: draft")
    text = text.split("    approvals:")[0] + "    approvals:\n"
    path = tmp_path / "kpis.yaml"
    path.write_text(text, encoding="utf-8")
    (kpi,) = load_definitions(path)
    assert kpi.dimensions == [] and kpi.targets == {} and kpi.approvals.finance is None


def test_empty_kpis_list_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text("version: 1\nkpis: []\n", encoding="utf-8")
    assert check_file(path) == [] and load_definitions(path) == []


# ---- the command line ----------------------------------------------------------------------


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpi", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_check_good_file_exits_0() -> None:
    done = _check(FIXTURES / "valid.yaml")
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


@pytest.mark.parametrize("name", ["many_mistakes.yaml", "not_yaml.yaml", "list_at_top.yaml"])
def test_cli_check_bad_file_exits_1_with_messages(name: str) -> None:
    done = _check(FIXTURES / name)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{FIXTURES / name}:" in done.stderr
    assert "problem(s)" in done.stderr


def test_cli_check_lists_every_problem() -> None:
    done = _check(FIXTURES / "many_mistakes.yaml")
    assert (
        "many_mistakes.yaml:13: kpi 'days_to_pay', field 'formula': unknown column 'paid_dte'"
        in (done.stderr)
    )
    assert "9 problem(s)" in done.stderr


def test_cli_check_missing_file_exits_1(tmp_path: Path) -> None:
    done = _check(tmp_path / "nope.yaml")
    assert done.returncode == 1
    assert "file not found" in done.stderr and "Traceback" not in done.stderr
