"""The meeting pack: one self-contained, escaped HTML file with every KPI and who signed.

Built on the store of tests/unit/test_goals.py (the hand fixture plus eight earlier quarters),
with a hostile supplier name, price-outlook note and rationales.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from kpi.core.settings import kpis_path
from kpi.reporting import meeting_pack
from kpi.semantic.definitions import load_definitions
from kpi.store.database import Store
from kpi.workflows import goals
from kpi.workflows.definition_versions import file_version
from tests.unit.test_goals import CFO, FINANCE, PROCUREMENT, build_history_store

HOSTILE = "<script>alert(1)</script>"
NOTE = "<img src=x onerror=alert(2)>"
RATIONALE = '"><iframe src="https://evil.example">'


class _Refs(HTMLParser):
    """Every tag and every attribute that could load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "data", "srcset")]


@pytest.fixture(scope="module")
def definitions():
    return load_definitions()


@pytest.fixture(scope="module")
def pack(tmp_path_factory, definitions) -> str:
    store = build_history_store(tmp_path_factory.mktemp("pack") / "kpi.duckdb", HOSTILE)
    goals.set_price_outlook(store, PROCUREMENT, "FY2026-Q2", "Packaging", 2, NOTE)
    goals.propose_target(store, FINANCE, "FY2026-Q2", "total_spend", 2400, RATIONALE)
    goals.propose_target(store, PROCUREMENT, "FY2026-Q2", "total_spend", 2500, "Paper up")
    return meeting_pack.meeting_pack_html(store, definitions, "FY2026-Q2")


def test_the_pack_is_self_contained(pack):
    refs = _Refs()
    refs.feed(pack)
    assert refs.refs == []  # no src or href at all: nothing is loaded from anywhere
    assert "script" in refs.tags and "link" not in refs.tags
    assert re.search(r"<script[^>]*\bsrc\s*=", pack) is None
    assert pack.count("window.PlotlyConfig") == 1  # plotly.js embedded once
    assert pack.count("Plotly.newPlot(") >= 22  # a chart per KPI, plus the savings chart


def test_hostile_text_is_escaped(pack):
    for text in (HOSTILE, NOTE, RATIONALE):
        assert text not in pack
    assert html.escape(HOSTILE) in pack  # the supplier, in the initiatives table
    assert html.escape(NOTE) in pack  # procurement's note in the spend outlook
    assert html.escape(RATIONALE) in pack  # finance's rationale


def test_every_kpi_and_the_sections(pack, definitions):
    for k in definitions:
        assert html.escape(k.name) in pack
    for heading in (
        "Scorecard FY2026-Q1",
        "Savings picture FY2026-Q1",
        "Spend outlook FY2026-Q2",
        "KPIs: history, forecast and targets for FY2026-Q2",
        "Who signed",
    ):
        assert f">{heading}</h2>" in pack
    assert "FY2026-Q2 forecast €2,463.40." in pack  # tests/unit/test_goals.py works it out
    assert "Paper up" in pack and "€2,500.00" in pack  # procurement's proposal


def test_who_signed(tmp_path, definitions):
    store = build_history_store(tmp_path / "kpi.duckdb")
    kpis = tmp_path / "kpis.yaml"
    kpis.write_bytes(kpis_path().read_bytes())
    for person in (CFO, PROCUREMENT):  # two signatures by two people agree the target
        goals.sign_target(
            store, kpis, person, "FY2026-Q2", "total_spend", 2450, "Between both proposals",
            file_version(kpis),
        )  # fmt: skip
    page = meeting_pack.meeting_pack_html(store, definitions, "FY2026-Q2", currency="EUR")
    signed = page[page.index(">Who signed</h2>") :]
    assert "Claire Dubois &lt;claire.dubois@example.org&gt;" in signed
    assert "Jonas Berg &lt;jonas.berg@example.org&gt;" in signed
    assert "Agreed target: €2,450.00. Between both proposals" in page


def test_an_empty_store_still_makes_a_pack(tmp_path, definitions):
    store = Store(tmp_path / "kpi.duckdb")
    store.initialise()
    page = meeting_pack.meeting_pack_html(store, definitions, "FY2026-Q2")
    assert "no complete quarter before this one" in page
    assert "Who signed" in page
    for k in definitions:
        assert html.escape(k.name) in page
