"""`python -m kpi pack`: the meeting pack from the command line, and its refusals.

Every refusal is one sentence on stderr and exit code 1, before anything is built or
written. Built on the store of tests/unit/test_goals.py, which plans FY2026-Q2. The PDF
itself (Chromium's print) is tested in tests/browser/test_browser_pack.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kpi import cli
from kpi.reporting import pack_pdf
from tests.unit.test_goals import build_history_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pack_cli") / "kpi.duckdb"
    build_history_store(path)
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["pack", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_html_pack_is_written(capsys, db, tmp_path):
    out = tmp_path / "pack.html"
    code, said, err = run(capsys, "--quarter", "FY2026-Q2", "--out", str(out), "--db", str(db))
    assert (code, err) == (0, "")
    assert said == f"Meeting pack for FY2026-Q2 written to {out} (HTML, opens offline)\n"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert ">Decisions and open items for FY2026-Q2</h2>" in page
    assert [p.name for p in tmp_path.iterdir()] == ["pack.html"]  # no temporary file left


@pytest.mark.parametrize(
    ("quarter", "message"),
    [
        ("2026-Q2", "Error: '2026-Q2' is not a fiscal quarter: write it as FY2026-Q3\n"),
        (
            "FY2030-Q1",
            "Error: --quarter FY2030-Q1: no meeting can plan it and none has recorded anything "
            "for it; the quarters to plan are FY2026-Q2, FY2026-Q3, FY2026-Q4, FY2027-Q1\n",
        ),
    ],
)
def test_an_unknown_quarter_is_refused(capsys, db, tmp_path, quarter, message):
    out = tmp_path / "pack.html"
    code, said, err = run(capsys, "--quarter", quarter, "--out", str(out), "--db", str(db))
    assert (code, said, err) == (1, "", message)
    assert not out.exists()


def test_an_empty_store_has_no_quarter_to_plan(capsys, tmp_path):
    from kpi.store.database import Store

    Store(tmp_path / "kpi.duckdb").initialise()
    code, _, err = run(
        capsys, "--quarter", "FY2026-Q2", "--out", str(tmp_path / "p.html"),
        "--db", str(tmp_path / "kpi.duckdb"),
    )  # fmt: skip
    assert code == 1
    assert err == (
        "Error: --quarter FY2026-Q2: the store holds no complete quarter of data yet, so "
        "there is no quarter to plan; load invoices first (python -m kpi load ...)\n"
    )


def test_an_out_that_cannot_be_written_is_refused_before_the_pack_is_built(capsys, db, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    cases = {
        tmp_path / "missing" / "pack.html": (
            f"the folder {tmp_path / 'missing'} does not exist; create it or write elsewhere"
        ),
        tmp_path: f"is a folder: give a file name, e.g. {tmp_path / 'pack.pdf'}",
        a_file / "pack.html": f"the folder {a_file} does not exist",
    }
    for out, reason in cases.items():
        code, said, err = run(capsys, "--quarter", "FY2026-Q2", "--out", str(out), "--db", str(db))
        assert (code, said) == (1, "")
        assert err.startswith(f"Error: --out {out}") and reason in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_store_is_one_sentence(capsys, tmp_path):
    missing = tmp_path / "none.duckdb"
    code, _, err = run(
        capsys, "--quarter", "FY2026-Q2", "--out", str(tmp_path / "p.html"), "--db", str(missing)
    )
    assert code == 1
    assert err.startswith(f"Error: There is no store at {missing} yet.")


def test_without_chromium_the_pdf_is_refused_at_once(capsys, db, tmp_path, monkeypatch):
    monkeypatch.setenv(pack_pdf.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    out = tmp_path / "pack.pdf"
    code, said, err = run(
        capsys, "--quarter", "FY2026-Q2", "--format", "pdf", "--out", str(out), "--db", str(db)
    )
    assert (code, said) == (1, "")
    assert err == (
        f"Error: Chromium is needed for the PDF and {tmp_path / 'no-chromium'} is not there: "
        "install Debian's package (sudo apt-get install -y chromium), set KPI_CHROMIUM to "
        "another Chromium, or write the pack as HTML (--format html) and print it from a "
        "browser\n"
    )
    assert not out.exists()


def test_a_real_process_ends_with_one_sentence_and_no_traceback(db, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "kpi", "pack", "--quarter", "next", "--out",
         str(tmp_path / "p.html"), "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "Error: 'next' is not a fiscal quarter: write it as FY2026-Q3\n"
    assert done.stdout == ""


def test_the_page_count_reads_chromiums_page_objects():
    pdf = (
        b"%PDF-1.4\n1 0 obj <</Type /Pages /Count 2>>\n2 0 obj <</Type /Page>>\n"
        b"3 0 obj <</Type/Page /MediaBox [0 0 594.96 841.92]>>\n"
    )
    assert pack_pdf.page_count(pdf) == 2  # /Pages (the tree) is not a page
