"""The quarterly goals meeting in a real browser: propose, sign twice, see the target everywhere.

The app runs on its own demo store and on a copy of config/ (KPI_CONFIG), so the agreed
target is written into that copy. The demo's data end in October 2026: the page plans
FY2026-Q4, and the CFO overview shows FY2026-Q4 once the sidebar's period range reaches it.
Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from kpi.semantic.definitions import load_definitions
from tests.browser.support import (
    ARTIFACTS,
    ROOT,
    browser_marks,
    expect_text,
    focus_grid_cell,
    problems,
    running_app,
    wait_idle,
)

pytestmark = browser_marks()

PLAN = "FY2026-Q4"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, demo_copy):
    folder = tmp_path_factory.mktemp("browser_goals")
    demo_copy(0.1, folder / "kpi.duckdb")  # the demo, seed 7, scale 0.1
    shutil.copytree(ROOT / "config", folder / "config")
    return folder


@pytest.fixture(scope="module")
def app_url(workdir):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    db, config = workdir / "kpi.duckdb", workdir / "config"
    with running_app(db, config=config, wait_stopped=False) as url:
        yield url


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2400}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def settle(page) -> None:
    """Idle for a full second: with 350 ms the outlook test's "Save price outlook" was not
    found after choosing who acts (once, on a loaded machine); a second has held."""
    wait_idle(page, quiet=1000)


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def act_as(page, person: str) -> None:
    choose(page, "Acting as", person)


def cells(page, scope: str = "body") -> list[str]:
    """The text of every data-grid cell (the grids keep an accessible table of their cells)."""
    return page.locator(f'{scope} [data-testid="stDataFrame"] [role="gridcell"]').all_inner_texts()


def row_of(page, name: str) -> list[str]:
    """The cells of the first data-grid row whose first cell is `name`."""
    return page.evaluate(
        """name => {
            for (const tr of document.querySelectorAll('[data-testid="stDataFrame"] tr')) {
                const cells = [...tr.querySelectorAll('[role="gridcell"]')];
                const texts = cells.map(td => td.textContent);
                if (texts[0] === name) return texts;
            }
            return [];
        }""",
        name,
    )


def eventually(read, ok, seconds: float = 15.0):
    """What `read` returns once `ok` holds for it (grids redraw a moment after a rerun)."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            assert ok(value), value
            return value
        time.sleep(0.3)


def open_goals(page, app_url: str) -> None:
    """The goals page, once its overview of every KPI has drawn."""
    page.goto(f"{app_url}/goals")
    page.get_by_role("heading", name="Quarterly goals").wait_for(timeout=60_000)
    page.wait_for_selector(
        '[data-testid="stDataFrame"] [role="gridcell"]', state="attached", timeout=60_000
    )
    settle(page)


def open_kpi(page, name: str) -> None:
    page.get_by_role("tab", name="KPI by KPI").click()
    choose(page, "KPI", name)


def propose(page, department: str, value: str, why: str) -> None:
    page.get_by_label(f"{department}'s target for {PLAN} (%)").fill(value)
    page.get_by_label("Rationale", exact=True).fill(why)
    page.get_by_role("button", name="Propose target").click()
    page.get_by_text(f"{department} proposes {value} %", exact=False).first.wait_for()
    settle(page)


def sign(page, department: str, value: str, why: str) -> None:
    """The acting person signs a target for their own department."""
    page.get_by_label(f"Target for {PLAN} (%)", exact=True).fill(value)
    page.get_by_label("Rationale (kept in the decision log", exact=False).fill(why)
    page.get_by_role("button", name=f"Sign for {department}").click()
    page.get_by_text(f"signed for {department} by", exact=False).first.wait_for()
    settle(page)


def po_compliance(workdir: Path):
    path = workdir / "config" / "kpis.yaml"
    return next(k for k in load_definitions(path) if k.id == "po_compliance")


def test_the_meeting_proposes_agrees_and_the_target_shows_everywhere(page, app_url, workdir):
    open_goals(page, app_url)
    assert page.locator("h1").first.inner_text() == "Quarterly goals"
    assert problems(page) == []
    assert "PO compliance" in cells(page)  # the overview of every KPI
    page.screenshot(path=str(ARTIFACTS / "browser_goals_overview.png"), full_page=True)

    # Finance proposes, then procurement: both proposals side by side.
    act_as(page, "Sam Okafor (finance, member)")
    open_kpi(page, "PO compliance")
    assert page.locator(".js-plotly-plot").count() >= 1  # history, forecast and its range
    expect_text(page, "Forecast method.")
    propose(page, "Finance", "93.8", "Back to the best quarter of last year")
    expect_text(page, "Finance proposes 93.8 % for PO compliance")
    act_as(page, "Jonas Berg (procurement, member)")
    open_kpi(page, "PO compliance")
    propose(page, "Procurement", "92.5", "Two new suppliers without catalogues yet")
    expect_text(page, "Two new suppliers without catalogues yet")  # the rerun after saving
    body = page.inner_text("body")
    assert "93.8 %" in body and "92.5 %" in body
    assert "Two new suppliers without catalogues yet" in body
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_goals_proposals.png"), full_page=True)

    # The meeting agrees: two signatures by two people. Jonas signs for procurement first.
    sign(page, "procurement", "93.2", "Between both proposals: catalogues come in November")
    expect_text(page, "93.2 % for FY2026-Q4 signed for procurement by Jonas Berg")
    expect_text(page, "It is agreed once finance signs the same value.")
    kpi = po_compliance(workdir)
    assert kpi.status == "proposed" and kpi.approvals.finance is None
    assert kpi.approvals.procurement.by == "jonas.berg@example.org"
    page.screenshot(path=str(ARTIFACTS / "browser_goals_signed_once.png"), full_page=True)

    # Sam sees who signed what, and what signing another value would do; he signs the same.
    act_as(page, "Sam Okafor (finance, member)")
    open_kpi(page, "PO compliance")
    expect_text(page, "Finance has still to sign; procurement signed 93.2 % (Jonas Berg, ")
    expect_text(page, "signing a different value voids procurement's signature")
    sign(page, "finance", "93.2", "Agreed in the meeting")
    expect_text(page, "Both departments signed it: agreed")
    body = page.inner_text("body")
    assert "93.2 % for FY2026-Q4 signed for finance by Sam Okafor" in body, body[:2000]
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_goals_agreed.png"), full_page=True)

    # Written into the copy of kpis.yaml with both people's own signatures.
    kpi = po_compliance(workdir)
    assert kpi.targets[PLAN] == pytest.approx(0.932)
    assert kpi.status == "agreed"
    assert kpi.approvals.finance.by == "sam.okafor@example.org"
    assert kpi.approvals.procurement.by == "jonas.berg@example.org"

    # The overview of all KPIs and the decision log show it, with who signed.
    page.get_by_role("tab", name="All KPIs").click()
    row = eventually(
        lambda: row_of(page, "PO compliance"),
        lambda r: "93.2 %" in r and "✓ Sam Okafor & Jonas Berg" in r,
    )
    assert "93.8 %" in row and "92.5 %" in row, row  # both proposals beside the target
    page.get_by_role("tab", name="Decision log").click()
    logged = eventually(lambda: cells(page), lambda c: "Jonas Berg" in c)
    assert "Sam Okafor" in logged and "@example.org" not in logged  # names, never addresses
    page.screenshot(path=str(ARTIFACTS / "browser_goals_decision_log.png"), full_page=True)

    # The meeting pack: one self-contained HTML file with the decision and who signed.
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Meeting pack (HTML)").click()
    pack = download.value
    assert pack.suggested_filename == f"meeting_pack_{PLAN}.html"
    html = Path(pack.path()).read_text(encoding="utf-8")
    assert "Quarterly goals for FY2026-Q4" in html and "Agreed target: 93.2 %" in html
    assert "Sam Okafor" in html and "Jonas Berg" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js inside

    # The CFO overview's scorecard for FY2026-Q4 shows the agreed target.
    page.get_by_role("link", name="CFO overview").click()
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    settle(page)
    upper = page.get_by_role("slider").last  # the period range's end: FY2026-Q3 → FY2026-Q4
    upper.focus()
    upper.press("ArrowRight")
    settle(page)
    expect_text(page, f"Scorecard for {PLAN}")
    eventually(lambda: row_of(page, "PO compliance"), lambda r: "93.2 %" in r)  # the target
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_goals_on_overview.png"), full_page=True)


def test_procurement_edits_the_price_outlook_in_the_browser(page, app_url):
    open_goals(page, app_url)
    act_as(page, "Ana Ruiz (procurement, member)")
    page.get_by_role("tab", name="Spend outlook").click()
    wait_idle(page)
    assert page.locator(".js-plotly-plot").count() >= 1
    assert "Total" in cells(page)
    editor = page.locator(f'.st-key-outlook_edit_{PLAN} [data-testid="stDataFrame"]')
    first = editor.locator('[role="gridcell"]').first.text_content()
    assert first == "Energy"  # the editor's first row
    settle(page)  # the chart above the editor has its height: the editor stays put
    focus_grid_cell(page, editor, 30, 35 + 17)  # Energy's category cell
    page.keyboard.press("ArrowRight")  # its expected price change
    page.keyboard.press("Enter")  # opens the cell's editor
    page.wait_for_timeout(300)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("1.5", delay=50)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    page.get_by_role("button", name="Save price outlook").click(timeout=90_000)  # a loaded CI box
    page.get_by_text(f"Price outlook for {PLAN} saved", exact=False).wait_for()
    settle(page)
    expect_text(page, f"Price outlook for {PLAN} saved: Energy")
    row = eventually(lambda: row_of(page, "Energy"), lambda r: r[3] == "1.5")
    assert float(row[4]) > 661_482.78, row  # the forecast follows (grids keep raw numbers)
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_goals_outlook.png"), full_page=True)
