"""No SQL in kpi/ is assembled from strings: every f-string, `str.format` call and `%`
formatting whose constant text reads like SQL is refused, so dynamic SQL is built as
sqlglot expressions and the rest is constant SQL with bound parameters.

The scan reads the source (ast), so a new violation fails here, not in review.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KPI = ROOT / "kpi"

# SQL words, upper-case and whole (`IN (` with its parenthesis), as SQL in this code base is
# written; prose and error messages use lower case.
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|CREATE|DELETE|UPDATE|DROP|ATTACH|DESCRIBE|FROM|WHERE|JOIN)\b|\bIN \("
)

# Messages to people (the formula guard's refusals quote SQL words: "WHERE ... is allowed
# only in FILTER") are prose: they hold lower-case English words SQL here never has outside
# its `--` comments.
PROSE_WORDS = re.compile(r"\b(is|are|the|must|takes|allowed|cannot|only)\b")
SQL_COMMENT = re.compile(r"--[^\n]*")


def _constant_text(node: ast.AST) -> str:
    """The literal parts of an f-string, a string or a concatenation of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_constant_text(v) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant_text(node.left) + _constant_text(node.right)
    return ""


def _dynamic(node: ast.AST) -> bool:
    """A concatenation with a part that is not a string literal (a name, a call...)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _dynamic(node.left) or _dynamic(node.right)
    return not (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _prose(text: str) -> bool:
    return PROSE_WORDS.search(SQL_COMMENT.sub("", text)) is not None


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` builds SQL text by formatting: f-strings, .format(), % on a string."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        text, how = "", ""
        if isinstance(node, ast.JoinedStr):
            text, how = _constant_text(node), "f-string"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
        ):
            text, how = _constant_text(node.func.value), "str.format"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            text, how = _constant_text(node.left), "% formatting"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _dynamic(node):
            text, how = _constant_text(node), "+ concatenation"
        if text and SQL_WORDS.search(text) and not _prose(text):
            found.append(f"{filename}:{node.lineno}: SQL built with {how}")
    return found


FILES = sorted(KPI.rglob("*.py"))  # every module of kpi/, none exempt


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_sql_is_assembled_from_strings(path: Path) -> None:
    assert violations(path.read_text(), path.relative_to(ROOT).as_posix()) == []


def test_the_scan_finds_each_way_of_formatting_sql() -> None:
    source = '''
table = "invoices"
a = f"SELECT * FROM {table}"
b = "DELETE FROM {} WHERE id = 1".format(table)
c = "ATTACH '%s' AS store" % table
d = f"SELECT a" f" FROM {table}"
e = f"WHERE x IN ({table})"
g = f"""
-- the lines of the period
SELECT * FROM {table}
"""
h = "DESCRIBE " + table
'''
    found = violations(source)
    assert [line.split(": ", 1)[1] for line in found] == [
        "SQL built with f-string",
        "SQL built with str.format",
        "SQL built with % formatting",
        "SQL built with f-string",
        "SQL built with f-string",
        "SQL built with f-string",
        "SQL built with + concatenation",
    ]
    assert [int(line.split(":")[1]) for line in found] == [3, 4, 5, 6, 7, 8, 12]


def test_the_scan_lets_prose_and_constant_sql_through() -> None:
    source = """
name = "x"
message = f"unknown table '{name}': pick one from the list"
refusal = f"WHERE {name} is allowed only in FILTER (WHERE ...)"
query = "SELECT * FROM invoices WHERE invoice_id = $invoice_id"
percent = "%d%% done" % 5
"""
    assert violations(source) == []
