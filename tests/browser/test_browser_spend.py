"""Spend & budgets and Suppliers in a real browser on the demo store, with a drill-down.

Screenshots land in tests/artifacts/ (not committed): browser_spend*.png, browser_suppliers*.png.
"""

from __future__ import annotations

import pytest

from kpi.demo.reference import MAVERICK_COST_CENTRE
from tests.browser.support import (
    ARTIFACTS,
    browser_marks,
    expect_text,
    open_page,
    problems,
    running_app,
    wait_idle,
)

pytestmark = browser_marks()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_copy):
    db = demo_copy(0.05, tmp_path_factory.mktemp("browser_spend") / "kpi.duckdb")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(db, wait_stopped=False) as url:
        yield url


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2400})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _pick(page, label: str, option: str | None = None, nth: int = 1) -> str:
    """Open a select box of the page (not the sidebar) and pick `option`, or the nth option."""
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("combobox", name=label).click()
    choice = (
        page.get_by_role("option", name=option, exact=True)
        if option
        else page.get_by_role("option").nth(nth)
    )
    text = choice.inner_text().strip()
    choice.click()
    return text


def test_spend_page_drills_down_category_supplier_item(page, app_url):
    open_page(page, f"{app_url}/spend", wait_for=".js-plotly-plot")
    assert page.locator("h1").first.inner_text() == "Spend & budgets"
    expect_text(page, "Committed budget utilisation")
    # the treemap drew with every category
    kinds = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data[0].type)"
    )
    assert "treemap" in kinds
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_spend.png"))

    category = _pick(page, "Category", nth=1)  # the largest category
    expect_text(page, f"All spend › {category}")
    wait_idle(page)
    expect_text(page, f"Suppliers in All spend › {category}")  # the table lists its suppliers
    supplier = _pick(page, "Supplier", nth=1)
    expect_text(page, f"All spend › {category} › {supplier}")
    wait_idle(page)
    expect_text(page, f"Items in All spend › {category} › {supplier}")  # and then its items
    # the treemap follows: its root is the chosen category, its boxes the supplier's items
    ids = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')]"
        ".find(p => p.data[0].type === 'treemap').data[0].ids"
    )
    assert ids[0] == category and all(i.startswith(category) for i in ids)
    assert any(i.startswith(f"{category} › {supplier} › ") for i in ids)
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_spend_drilldown.png"))


def test_budgets_tab_flags_marketing_and_events(page, app_url):
    open_page(page, f"{app_url}/spend", wait_for=".js-plotly-plot")
    # the new KPI's definition is one click away
    page.get_by_role("button", name="Definition").nth(1).click()
    dialog = page.locator('[role="dialog"]')
    dialog.wait_for(timeout=30_000)
    expect_text(page, "Finance reads it as")
    assert "Committed budget utilisation" in dialog.inner_text()
    assert "committed_amount" in dialog.locator("pre").first.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=30_000)
    page.get_by_role("tab", name="Budgets").click()
    expect_text(page, "heading over budget in FY2026")
    warning = page.locator('[data-testid="stAlertContentWarning"]').first.inner_text()
    assert MAVERICK_COST_CENTRE in warning
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser_spend_budgets.png"))
    for tab in ("Approvals", "Compliance"):
        page.get_by_role("tab", name=tab).click()
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / f"browser_spend_{tab.lower()}.png"))
    expect_text(page, "What off-contract buying cost")
    assert problems(page) == []


def test_suppliers_page_scorecard_and_detail(page, app_url):
    open_page(page, f"{app_url}/suppliers", wait_for='[data-testid="stDataFrame"]')
    assert page.locator("h1").first.inner_text() == "Suppliers"
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_suppliers.png"))
    page.get_by_role("tab", name="Concentration").click()
    expect_text(page, "Single-source categories")
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser_suppliers_concentration.png"))
    page.get_by_role("tab", name="Supplier detail").click()
    picked = _pick(page, "Supplier", nth=2)
    name = picked.rsplit(" (", 1)[0]
    expect_text(page, f"{name}: spend and on-time delivery")
    wait_idle(page)
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_suppliers_detail.png"))


def test_clicking_a_treemap_box_drills_to_it(page, app_url):
    open_page(page, f"{app_url}/spend", wait_for=".js-plotly-plot g.slice")
    heading = page.locator('[data-testid="stMain"] h3').first
    assert heading.inner_text().strip() == "All spend"
    box = page.locator(".js-plotly-plot g.slice").nth(1).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMain\"] h3')]"
        ".some(h => h.innerText.startsWith('All spend › '))",
        timeout=60_000,
    )
    wait_idle(page)
    path = heading.inner_text().strip().split(" › ")
    # the select boxes now show the box clicked, and the figures follow them
    main = page.locator('[data-testid="stMain"]')
    shown = main.get_by_role("combobox", name="Category").evaluate(
        "e => e.value || e.closest('[data-testid=\"stSelectbox\"]').textContent"
    )
    assert path[1] in shown, shown
    expect_text(page, "in All spend › " + path[1])
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_spend_treemap_click.png"))


def test_selecting_a_scorecard_row_opens_that_supplier(page, app_url):
    open_page(page, f"{app_url}/suppliers", wait_for='[data-testid="stDataFrame"]')
    page.get_by_role("tab", name="Supplier detail").click()
    expect_text(page, "spend and on-time delivery")
    assert "Garnier Energy SARL: spend" not in page.inner_text("body")  # not the default
    page.get_by_role("tab", name="Scorecard").click()
    page.get_by_label("Find a supplier").fill("Garnier")
    page.keyboard.press("Enter")
    wait_idle(page)
    grid = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's selection cell
    wait_idle(page)
    page.get_by_role("tab", name="Supplier detail").click()
    expect_text(page, "Garnier Energy SARL: spend and on-time delivery")
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_suppliers_row_select.png"))
