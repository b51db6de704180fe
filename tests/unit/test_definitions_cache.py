"""The checked definitions file is kept in the process by its content: the same text (and
settings) is parsed once, a changed file is read anew, and no caller shares a list with
another; the YAML is composed once per check (the alias-bomb check runs on that node)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.core.settings import Settings
from kpi.semantic import definitions
from kpi.semantic.definitions import check_file, load_definitions
from kpi.semantic.kpi_definition import DefinitionsError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kpis"
VALID = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts actually checked (not served from the cache), in order."""
    definitions.clear_cache()
    seen: list[str] = []
    check = definitions._check_text

    def counted(text: str, shown: str, settings: Settings | None):
        seen.append(text)
        return check(text, shown, settings)

    monkeypatch.setattr(definitions, "_check_text", counted)
    return seen


def test_the_same_text_is_checked_once(tmp_path: Path, checks: list[str]) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID, encoding="utf-8")
    first = load_definitions(path, Settings())
    second = load_definitions(path, Settings())
    assert len(checks) == 1
    # the same frozen definitions (their formula trees too), in a list of the caller's own
    assert [id(k) for k in first] == [id(k) for k in second]
    assert first is not second
    first.pop()
    assert len(load_definitions(path, Settings())) == len(second) == 5


def test_a_changed_file_is_read_anew(tmp_path: Path, checks: list[str]) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID, encoding="utf-8")
    before = load_definitions(path, Settings())
    # same size, same second: only the content says it changed
    path.write_text(VALID.replace("name: Total spend", "name: Total spent"), encoding="utf-8")
    after = load_definitions(path, Settings())
    assert len(checks) == 2
    assert before[0].name == "Total spend" and after[0].name == "Total spent"
    path.write_text(VALID, encoding="utf-8")  # back to the first text: served again
    assert load_definitions(path, Settings())[0] is before[0]
    assert len(checks) == 2


def test_other_settings_are_another_check(tmp_path: Path, checks: list[str]) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID, encoding="utf-8")
    load_definitions(path, Settings())
    load_definitions(path, Settings(reporting_currency="USD"))
    load_definitions(path, Settings())
    assert len(checks) == 2


def test_issues_are_kept_and_raised_every_time(tmp_path: Path, checks: list[str]) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID.replace("owner: finance", "owner: finanse", 1), encoding="utf-8")
    issues = check_file(path, Settings())
    assert issues and issues == check_file(path, Settings())
    for _ in range(2):
        with pytest.raises(DefinitionsError):
            load_definitions(path, Settings())
    assert len(checks) == 1
    issues.clear()  # a caller's list: the next caller still gets every issue
    assert check_file(path, Settings())


def test_the_path_shown_is_part_of_the_key(tmp_path: Path, checks: list[str]) -> None:
    """Issues name the file they are in: a copy elsewhere is checked under its own name."""
    bad = VALID.replace("owner: finance", "owner: finanse", 1)
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(bad, encoding="utf-8")
    a = check_file(tmp_path / "a.yaml", Settings())
    b = check_file(tmp_path / "b.yaml", Settings())
    assert a[0].path.endswith("a.yaml") and b[0].path.endswith("b.yaml")


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "kpis.yaml"
    path.write_text("\n".join(lines) + "\nkpis: *a8\n", encoding="utf-8")
    (issue,) = check_file(path, Settings())
    assert "too many values" in issue.message


def test_duplicate_keys_are_found_on_the_one_parse(tmp_path: Path) -> None:
    path = tmp_path / "kpis.yaml"
    path.write_text(VALID.replace("  - id: total_spend\n", "  - id: total_spend\n    id: x\n"))
    messages = [i.message for i in check_file(path, Settings())]
    assert any("written twice" in m for m in messages), messages


# ---- the fast reading (libyaml) gives what the round-trip reading gives --------------------

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = {
    "config": (ROOT / "config" / "kpis.yaml").read_text(encoding="utf-8"),
    **{p.stem: p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.yaml"))},
    # YAML 1.2 typing (ruamel's), not libyaml's 1.1: `yes`, `on`, 010 and 1:30 are text or
    # a decimal number, as the round-trip reading has them
    "yaml_1_2": VALID.replace("name: Total spend", "name: yes")
    .replace("owner: finance", "owner: on", 1)
    .replace("  - id: total_spend\n", "  - id: total_spend\n    unit_note: 010\n"),
    "block_scalars": VALID.replace(
        "name: Total spend",
        "name: >-\n      Total\n      spend\n    description: |\n      a\n      b",
    ),
    "quoted": VALID.replace("name: Total spend", "name: '2026-01-01'"),
    "anchors": "x: &n Total spend\n" + VALID.replace("name: Total spend", "name: *n"),
    "tagged": VALID.replace("name: Total spend", "name: !!str 12"),
    "empty": "",
    "tabs": VALID.replace("name: Total spend", "name:\tTotal spend"),
}


def _seen(result: tuple[list, list]) -> tuple[list, list]:
    models = [
        (
            k.model_dump(mode="json"),
            k.line,
            k.formula_tree.sql("duckdb") if k.formula_tree else None,
        )
        for k in result[0]
    ]
    return models, [str(i) for i in result[1]]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_fast_reading_agrees_with_the_round_trip(name: str) -> None:
    text, settings = SAMPLES[name], Settings()
    slow = definitions._check_loaded(definitions._load_yaml(text, "k.yaml"), "k.yaml", settings)
    assert _seen(definitions._check_text(text, "k.yaml", settings)) == _seen(slow)
    fast = definitions._fast_load(text)
    if fast is not None:  # what it reads, before any check, is the round trip's document
        assert fast[0] == definitions._load_yaml(text, "k.yaml")[0]


def test_the_catalogue_is_read_the_fast_way() -> None:
    loaded = definitions._fast_load(SAMPLES["config"])
    assert loaded is not None
    found = definitions._check_loaded(loaded, "kpis.yaml", Settings())
    assert found[0] and not found[1]
