"""The meeting pack on paper: `python -m kpi pack --format pdf` printed by Debian's Chromium.

On the demo store (seed 7, scale 0.1): the PDF has pages, every page is A4, the footer
numbers them ("Page n of N"), the charts were drawn before the print (their legends are in
the text) and the decisions come first. The pages are also rendered to PNG under
tests/artifacts/i17-pack/ (with poppler's pdftoppm, when installed) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kpi.reporting.goals_view import quarters_to_plan
from kpi.reporting.pack_pdf import page_count
from kpi.store.database import Store
from tests.browser.support import ARTIFACTS, ROOT, browser_marks

pytestmark = browser_marks()

A4 = (595.28, 841.89)  # points; Chromium's A4 is 8.27 × 11.7 in, within a point of it
OUT = ARTIFACTS / "i17-pack"


@pytest.fixture(scope="module")
def printed(demo_db) -> tuple[Path, str, str]:
    """The pack of the first quarter the demo can plan, printed once for the module."""
    plan = quarters_to_plan(Store(demo_db))[0]
    OUT.mkdir(parents=True, exist_ok=True)
    pdf = OUT / f"meeting_pack_{plan}.pdf"
    done = subprocess.run(
        [sys.executable, "-m", "kpi", "pack", "--quarter", plan, "--format", "pdf",
         "--out", str(pdf), "--db", str(demo_db)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return pdf, plan, done.stdout


def test_the_pdf_has_a4_pages(printed):
    pdf, plan, said = printed
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = page_count(data)
    assert pages > 3
    assert said == f"Meeting pack for {plan} written to {pdf} (PDF, A4, {pages} pages)\n"
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert len(boxes) == pages
    for width, height in boxes:
        assert float(width) == pytest.approx(A4[0], abs=1.5)
        assert float(height) == pytest.approx(A4[1], abs=1.5)


@pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"
)
def test_the_pages_are_numbered_and_the_charts_printed(printed):
    pdf, plan, _ = printed
    pages = page_count(pdf.read_bytes())
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    sheets = text.split("\f")[:pages]
    for n, sheet in enumerate(sheets, start=1):
        assert f"Page {n} of {pages}" in sheet, f"page {n} has no page number"
        assert f"Quarterly goals {plan}: meeting pack" in sheet
    assert f"Decisions and open items for {plan}" in sheets[0]  # first, then the scorecard
    order = ["Agreed targets and who signed", "Open: targets still to agree", "Scorecard FY"]
    assert [text.index(t) for t in order] == sorted(text.index(t) for t in order)
    # plotly drew every chart before Chromium printed: their legends are text in the PDF
    assert text.count("Forecast (with range)") >= 20
    assert "Two lenses on the same transactions" in text
    if shutil.which("pdftoppm"):  # the pages as images, for a person to look at
        subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(OUT / "page")], check=True)
