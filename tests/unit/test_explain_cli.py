"""`python -m kpi explain`: the JSON contract, CSV and table output, and bad input as one
sentence, on tests/hand_fixture.py (values worked out in tests/unit/test_explain.py)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from kpi.cli import main
from tests import hand_fixture


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("explain_cli") / "kpi.duckdb"
    hand_fixture.build(path)
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(db, capsys):
    code, out, err = run(
        capsys, "days_to_pay", "--period", "FY2026-Q1", "--format", "json", "--db", db
    )
    assert code == 0, err
    got = json.loads(out, parse_float=Decimal)
    for key in ("kpi", "period", "value", "numerator", "denominator", "reconciles", "row_count"):
        assert key in got
    assert (got["kpi"], got["period"]) == ("days_to_pay", "FY2026-Q1")
    # 1050 x 26 + 100 x 26 + 500 x 8 = 33900.00 over 1650.00, exact as written
    assert got["numerator"] == Decimal("33900.00") and got["denominator"] == Decimal("1650.00")
    assert got["reconciles"] is True and got["row_count"] == 3
    assert isinstance(got["rows"], list) and len(got["rows"]) == 3
    for row in got["rows"]:
        # lineage keys are there even while the store holds no lineage yet
        assert "source_file" in row and "source_row" in row
        assert {"paid_date", "amount", "days_to_pay", "part_1", "part_2"} <= set(row)


def test_json_value_equals_compute(db, capsys):
    main(["compute", "--kpi", "po_compliance", "--from", "FY2026-Q1", "--to", "FY2026-Q1"]
         + ["--format", "json", "--db", db])  # fmt: skip
    computed = json.loads(capsys.readouterr().out)
    code, out, _ = run(
        capsys, "po_compliance", "--period", "FY2026-Q1", "--format", "json", "--db", db
    )
    got = json.loads(out)
    assert code == 0 and got["value"] == computed[0]["value"]  # 1650 / 2550
    assert got["value"] == pytest.approx(1650 / 2550)
    assert got["denominator"] == 2550.0 and got["numerator"] == 1650.0


def test_a_sum_has_a_null_denominator_and_limit_caps_the_rows(db, capsys):
    args = ["total_spend", "--period", "FY2026-Q1", "--format", "json", "--limit", "2"]
    code, out, _ = run(capsys, *args, "--db", db)
    assert code == 0
    got = json.loads(out)
    assert got["denominator"] is None and got["numerator"] == 2550.0
    assert got["row_count"] == 4 and len(got["rows"]) == 2


def test_where_and_csv_keep_decimals_exact(db, capsys):
    code, out, err = run(
        capsys,
        "total_spend",
        "--period",
        "FY2026-Q1",
        "--where",
        "category = 'Packaging'",
        "--where",
        "amount >= 500",
        "--format",
        "csv",
        "--db",
        db,
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["amount"] for r in rows) == ["1050.00", "500.00"]


def test_table_says_the_value_and_the_reconciliation(db, capsys):
    code, out, _ = run(capsys, "budget_utilisation", "--period", "FY2026-Q1", "--db", db)
    assert code == 0
    head = out.splitlines()
    assert head[0] == "Budget utilisation (budget_utilisation), FY2026-Q1: 98.1 %"
    assert "  numerator      2,550.00" in head
    assert "  denominator    2,600.00" in head
    assert any(line.startswith("  reconciles: ") for line in head)
    assert "showing rows 1–3 of 3" in out


READ_FILE = "read_csv('/etc/passwd') IS NOT NULL"


@pytest.mark.parametrize(
    "args,said",
    [
        (["total_spnd", "--period", "FY2026-Q1"], "unknown KPI 'total_spnd'"),
        (["total_spend", "--period", "FY2026-Q7"], "'FY2026-Q7' is not a period"),
        (
            ["total_spend", "--period", "FY2026-Q1", "--where", "1=1; DROP TABLE invoices"],
            "refused: ';' at character 4 is not allowed",
        ),
        (
            ["total_spend", "--period", "FY2026-Q1", "--where", READ_FILE],
            "function read_csv() at character 1 is not allowed",
        ),
        (["total_spend", "--period", "FY2026-Q1", "--limit", "-1"], "--limit -1"),
    ],
)  # fmt: skip
def test_bad_input_is_one_sentence(db, capsys, args, said):
    code, out, err = run(capsys, *args, "--db", db)
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and said in err and "Traceback" not in err
