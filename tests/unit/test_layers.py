"""The layers of kpi/ hold: a lower layer never imports a higher one, no import cycles,
and the library never imports streamlit or the app's ui/ package.

The rule is read from the code itself (every import statement, also those inside
functions), so a change that breaks it fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KPI = Path(__file__).resolve().parents[2] / "kpi"

# Top to bottom. Packages on one line are siblings: neither imports the other.
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("commands",),
    ("demo",),
    ("reporting",),
    ("workflows",),
    ("analyses",),
    ("semantic", "ingest"),
    ("store",),
    ("core",),
]
RANK = {pkg: rank for rank, names in enumerate(LAYERS) for pkg in names}
FORBIDDEN = ("streamlit", "ui")


def _module_name(path: Path) -> str:
    parts = path.relative_to(KPI.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, absolute names (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in sorted(KPI.rglob("*.py"))}
GRAPH = {
    name: {m for m in _imports(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_subpackage_has_a_layer():
    packages = {_layer(m) for m in MODULES} - {None}
    assert packages <= set(RANK), f"put {sorted(packages - set(RANK))} in LAYERS"


def test_every_subpackage_says_what_it_holds():
    for init in KPI.glob("*/__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} needs a first line"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_or_sideways_import(module):
    own = _layer(module)
    if own is None:
        return
    for target in GRAPH[module]:
        other = _layer(target)
        if other is None or other == own:
            continue
        assert RANK[other] > RANK[own], (
            f"{module} imports {target}: layer '{other}' is not below '{own}' "
            "(docs/architecture.md, 'The rule')"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_library_never_imports_streamlit_or_ui(module):
    bad = {m for m in _imports(MODULES[module]) if m.split(".")[0] in FORBIDDEN}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_no_import_cycle():
    """Depth-first search over the module graph; a back edge is a cycle."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if nxt.endswith("__init__") or nxt == node.rpartition(".")[0]:
                continue  # a module importing its own package's docstring-only __init__
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checker_sees_a_violation(tmp_path):
    """The checks are not vacuous: an upward import in a sample file is found."""
    sample = KPI / "core" / "settings.py"
    assert "kpi.store.database" not in _imports(sample)
    assert any(_layer(t) == "store" for t in GRAPH["kpi.analyses.spend"])
    assert RANK["reporting"] < RANK["analyses"]  # so analyses -> reporting would fail
