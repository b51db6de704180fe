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
    headings = [
        "Decisions and open items for FY2026-Q2",  # first: what the meeting settles
        "Scorecard FY2026-Q1",
        "Savings picture FY2026-Q1",
        "Spend outlook FY2026-Q2",
        "KPIs: history, forecast and targets for FY2026-Q2",
    ]
    found = [m.group(1) for m in re.finditer(r"<h2[^>]*>([^<]+)</h2>", pack)]
    assert found == headings  # in this order
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
    first = page[: page.index(">Scorecard FY2026-Q1</h2>")]  # the decisions come first
    signed = first[first.index(">Agreed targets and who signed</h3>") :]
    assert "<td>Total spend</td><td class='num'>€2,450.00</td>" in signed
    assert "Claire Dubois &lt;claire.dubois@example.org&gt;" in signed
    assert "Jonas Berg &lt;jonas.berg@example.org&gt;" in signed
    assert "Agreed target: €2,450.00. Between both proposals" in page


def test_an_empty_store_still_makes_a_pack(tmp_path, definitions):
    store = Store(tmp_path / "kpi.duckdb")
    store.initialise()
    page = meeting_pack.meeting_pack_html(store, definitions, "FY2026-Q2")
    assert "no complete quarter before this one" in page
    assert "No target has been agreed for this quarter yet." in page
    assert f"Targets still open</div><div class='figure'>{len(definitions)}</div>" in page
    for k in definitions:
        assert html.escape(k.name) in page


# ---- on paper: decisions and open items first, the scorecard by theme (issue 17, point 8) ----


def _between(page: str, start: str, end: str | None = None) -> str:
    """The part of the page from `start` up to `end` (or to the end)."""
    i = page.index(start)
    return page[i : page.index(end, i) if end else len(page)]


def _rows(part: str) -> list[list[str]]:
    """The body rows of the tables in `part`, each as its cells' text (unescaped)."""
    body = "".join(re.findall(r"<tbody>(.*?)</tbody>", part, re.S))
    return [
        [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_open_items_say_what_each_kpi_still_needs(pack, definitions):
    open_part = _between(pack, ">Open: targets still to agree</h3>", "</table>")
    rows = {r[0]: r[1:] for r in _rows(open_part)}
    assert len(rows) == len(definitions)  # nothing agreed yet: every KPI is open
    # forecast worked out in tests/unit/test_goals.py; both proposals from the fixture
    assert rows["Total spend"] == [
        "€2,463.40",
        "€2,400.00",
        "€2,500.00",
        "Agree one target between the two proposals, then both to sign",
    ]
    assert rows["PO compliance"][1:] == ["–", "–", "Both departments to propose a target"]
    assert "Targets agreed</div><div class='figure'>0 of " in pack


def test_a_one_sided_proposal_and_an_agreed_target(tmp_path, definitions):
    store = build_history_store(tmp_path / "kpi.duckdb")
    kpis = tmp_path / "kpis.yaml"
    kpis.write_bytes(kpis_path().read_bytes())
    goals.propose_target(store, FINANCE, "FY2026-Q2", "po_compliance", 0.95, "Close the gap")
    for person in (CFO, PROCUREMENT):
        goals.sign_target(
            store, kpis, person, "FY2026-Q2", "total_spend", 2450, "Between both proposals",
            file_version(kpis),
        )  # fmt: skip
    page = meeting_pack.meeting_pack_html(store, definitions, "FY2026-Q2")
    rows = {r[0]: r[1:] for r in _rows(_between(page, ">Open: targets still", "</table>"))}
    assert "Total spend" not in rows  # agreed: no longer open
    assert rows["PO compliance"][1:] == [
        "95.0 %",
        "–",
        "Procurement to propose, then both to sign",
    ]
    n = len(definitions)
    assert f"Targets agreed</div><div class='figure'>1 of {n}</div>" in page
    assert f"Targets still open</div><div class='figure'>{n - 1}</div>" in page


def test_off_target_kpis_are_the_scorecards_red_ones(tmp_path_factory, pack, definitions):
    from kpi.analyses.scorecard import scorecard
    from kpi.core.scope import Scope

    store = build_history_store(tmp_path_factory.mktemp("red") / "kpi.duckdb", HOSTILE)
    card = scorecard(store, Scope.of(), definitions, "FY2026-Q1")
    red = card.filter(card["status"] == "red")["name"].to_list()
    assert red, "the fixture has off-target KPIs in FY2026-Q1"
    part = _between(pack, ">Open: off target last quarter</h3>", "</table>")
    assert [r[0] for r in _rows(part)] == red
    assert f"Off target last quarter</div><div class='figure'>{len(red)}</div>" in pack


def test_the_scorecard_is_grouped_by_theme(pack, definitions):
    from kpi.analyses.scorecard import THEMES

    part = _between(pack, ">Scorecard FY2026-Q1</h2>", ">Savings picture")
    blocks = re.findall(r"<div class='block'><h3>([^<]+)</h3>\s*(<table>.*?</table>)", part, re.S)
    expected = [t for t in THEMES if any(k.theme == t for k in definitions)]
    assert [html.unescape(title) for title, _ in blocks] == [THEMES[t] for t in expected]
    for (_, table), theme in zip(blocks, expected, strict=True):
        names = [r[0] for r in _rows(table)]
        assert names == [k.name for k in definitions if k.theme == theme]
    spend = {r[0]: r[1:] for r in _rows(blocks[0][1])}
    assert spend["Total spend"][0] == "€2,550.00"  # 1050 + 100 + 1000 USD × 0.9 + 500


def test_a_kpis_history_is_a_row_per_quarter_beside_its_chart(pack):
    part = _between(pack, ">Total spend <span class='meta'>(total_spend)</span>", "</section>")
    head = part[: part.index("</div></div>")]  # the name, description, table and chart
    assert "<table class='history'>" in head and "Plotly.newPlot(" in head
    rows = {r[0]: r[1] for r in _rows(head)}
    assert rows["FY2025-Q1"] == "€2,000.00"  # 110 cartons × €10 + a €900 dock
    assert rows["FY2025-Q2"] == "€2,220.00"  # 132 × €10 + €900
    assert rows["FY2026-Q1"] == "€2,550.00"  # 1050 + 100 + 1000 USD × 0.9 + 500
    assert len(rows) == 8


def test_the_print_rules_keep_charts_tables_and_cards_whole():
    css = meeting_pack.CSS
    avoid = re.search(r"([^}]*)\{\s*break-inside: avoid;", css)
    assert avoid is not None
    for selector in (".plotly-graph-div", "table", ".card", ".kpi-head", ".block"):
        assert selector in avoid.group(1)
    assert "@page { size: A4; }" in css
    assert "thead { display: table-header-group; }" in css  # a long table repeats its head


def test_open_goal_decision_threads_are_listed_with_whom_they_wait_for(tmp_path, definitions):
    from kpi.workflows.threads import post_comment, resolve_thread, thread

    store = build_history_store(tmp_path / "kpi.duckdb")
    spend = "goal_decision:FY2026-Q2/total_spend"
    post_comment(store, FINANCE, spend, "@procurement can you live with <b>2,400</b>?")
    post_comment(store, FINANCE, "goal_decision:FY2026-Q2/days_to_pay", "@Jonas Berg 45?")
    resolve_thread(store, CFO, "goal_decision:FY2026-Q2/days_to_pay", "Settled")
    post_comment(store, PROCUREMENT, "goal_decision:FY2026-Q3/total_spend", "@finance next")
    page = meeting_pack.meeting_pack_html(store, definitions, "FY2026-Q2")
    part = _between(page, ">Open: goal decisions still under discussion</h3>", "</table>")
    ((kpi, waiting, asked, last, comments),) = _rows(part)  # resolved and Q3's: not listed
    (comment,) = thread(store, spend)
    assert (kpi, asked, comments) == ("Total spend", "Sam Okafor", "1")
    assert waiting == f"procurement (since {comment.created_at:%Y-%m-%d})"
    when = f"{comment.created_at:%Y-%m-%d %H:%M}"
    assert last == f"Sam Okafor, {when} UTC: “@procurement can you live with <b>2,400</b>?”"
    assert "&lt;b&gt;2,400&lt;/b&gt;" in part  # the comment is text, never markup
    assert "Discussions open</div><div class='figure'>1</div>" in page
    # the meeting starts from it: before the long list of open targets (page one on paper)
    assert page.index(">Open: goal decisions still") < page.index(">Open: targets still")


def test_no_open_goal_decision_thread_says_so(pack):
    part = _between(pack, ">Open: goal decisions still under discussion</h3>", "</p>")
    assert "No goal-decision thread of this quarter is waiting" in part
    assert "Discussions open</div><div class='figure'>0</div>" in pack
