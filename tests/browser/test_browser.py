"""Every page in a real browser (Debian's Chromium via Playwright), with its main actions.

Screenshots land in tests/artifacts/ (not committed): they are how a reviewer sees the app.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.browser.support import (
    ARTIFACTS,
    CFO_EMAIL,
    ROOT,
    browser_marks,
    expect_text,
    open_page,
    pick_filter,
    problems,
    running_app,
    wait_idle,
)

pytestmark = browser_marks()


def test_overview_renders_scorecard_and_charts(page, app_url):
    open_page(page, app_url, wait_for=".js-plotly-plot")
    assert page.locator("h1").first.inner_text() == "CFO overview"
    assert page.locator(".js-plotly-plot").count() == 4
    assert page.locator('[data-testid="stDataFrame"]').count() >= 6
    assert "Not yet agreed" in page.inner_text("body")
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_overview.png"))


def test_clicking_a_kpi_opens_its_definition(page, app_url):
    open_page(page, app_url, wait_for=".js-plotly-plot")
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's selection cell
    dialog = page.locator('[role="dialog"]')
    dialog.wait_for(timeout=30_000)
    text = dialog.inner_text()
    assert "Finance reads it as" in text and "Procurement reads it as" in text
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser_definition.png"))
    assert "Total spend" in text and "Formula" in text
    assert "sum(amount)" in dialog.locator("pre").first.inner_text()
    assert problems(page) == []


def test_a_category_filter_changes_the_figures(page, app_url):
    open_page(page, app_url, wait_for=".js-plotly-plot")
    spend_shown = "() => document.querySelectorAll('.js-plotly-plot')[0].data[0].y"
    before = page.evaluate(spend_shown)
    pick_filter(page, "Category", "Packaging", shows="category: Packaging")
    # the chart redraws after the caption: wait until its total falls below the unfiltered one
    page.wait_for_function(
        "total => { const p = document.querySelectorAll('.js-plotly-plot')[0];"
        " return p && p.data && p.data[0].y.reduce((a, b) => a + b, 0) < total; }",
        arg=sum(before),
        timeout=60_000,
    )
    wait_idle(page)
    after = page.evaluate(spend_shown)
    assert len(after) == len(before) and sum(after) < sum(before)  # Packaging is a part
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_overview_packaging.png"))
    # the filter is in the URL: a reload and a page switch keep the slice
    page.wait_for_function("() => location.search.includes('f_cat=Packaging')", timeout=30_000)
    page.reload()
    expect_text(page, "category: Packaging")
    wait_idle(page)
    page.get_by_role("link", name="Spend & budgets").click()
    page.wait_for_function("() => location.pathname.endsWith('/spend')", timeout=30_000)
    wait_idle(page)
    chips = page.locator('[data-testid="stMultiSelect"] [data-tag]')
    assert "Packaging" in [c.get_attribute("aria-label") for c in chips.all()]
    assert "f_cat=Packaging" in page.url
    assert problems(page) == []


def test_data_page_shows_loads_and_uploads_a_file(page, app_url, tmp_path):
    open_page(page, f"{app_url}/data", CFO_EMAIL, wait_for="h1")
    assert page.locator("h1").first.inner_text() == "Data"
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_data.png"))
    page.get_by_role("tab", name="Upload a file").click()
    page.get_by_role("combobox", name="Table").click()
    page.get_by_role("option", name="fx_rates").click()
    upload = tmp_path / "rates.csv"
    upload.write_text("date,currency,rate\n2026-11-02,USD,0.87\n2026-11-03,USD,0.86x\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    page.locator('[data-testid="stFileUploader"]').get_by_text("rates.csv").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Load the file").click()
    # issue 15: the result names the file and counts its rows (was "Loaded. The dashboard ...")
    page.get_by_text("rates.csv: 1 row loaded into fx_rates, 1 rejected").wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser_upload.png"))
    body = page.inner_text("body")
    assert "rates.csv" in body
    page.screenshot(path=str(ARTIFACTS / "browser_upload.png"))


HOLD_WRITE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from kpi.store.database import Store
    with Store({db!r}).write() as con:
        con.execute("INSERT INTO fx_rates (date, currency, rate) VALUES ('2026-12-01', 'GBP', 1.1)")
        print("writing", flush=True)
        sys.stdin.readline()  # held until the test has seen the page render
    """
)


def test_app_keeps_serving_while_a_load_writes(page, app_url, demo_db):
    code = HOLD_WRITE.format(root=str(ROOT), db=str(demo_db))
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        open_page(page, f"{app_url}/data", wait_for="h1")
        assert problems(page) == []
        assert writer.poll() is None  # the load was still running while the page rendered
    finally:
        writer.communicate("done\n", timeout=60)  # the load ends now: no fixed sleep waited out
        assert writer.returncode == 0


def _act_as(page, who: str) -> None:
    page.get_by_role("combobox", name="Acting as").click()
    page.get_by_role("option", name=who).click()
    wait_idle(page)


def test_savings_page_tabs_and_bridge(page, app_url):
    open_page(page, f"{app_url}/savings", wait_for=".js-plotly-plot")
    assert page.locator("h1").first.inner_text() == "Savings & cost avoidance"
    page.screenshot(path=str(ARTIFACTS / "browser_savings_lenses.png"))
    page.get_by_role("tab", name="Savings bridge").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')]"
        ".some(p => p.data && p.data[0].type === 'waterfall')",
        timeout=30_000,
    )
    kinds = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data[0].type)"
    )
    assert "waterfall" in kinds
    assert "How the bridge is computed" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "browser_savings_bridge.png"))
    for tab in ("Realised vs expected", "Cost avoidance"):
        page.get_by_role("tab", name=tab).click()
        wait_idle(page)
    assert problems(page) == []


def test_procurement_adds_an_initiative_and_finance_accepts_it(page, app_url):
    open_page(page, f"{app_url}/savings", wait_for="h1")
    _act_as(page, "Jonas Berg (procurement, member)")
    page.get_by_role("tab", name="Initiatives").click()
    # supplier, item and category sit above the form: the items follow the supplier
    page.get_by_role("combobox", name="Supplier").click()
    page.get_by_role("option").nth(1).click()
    wait_idle(page)
    page.get_by_role("textbox", name="Category").fill("Packaging")  # no item: a category
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_label("Title", exact=True).fill("Browser test: pallet wrap re-tender")
    # category-wide: a price change in percent, never one baseline price for every item
    form.get_by_label("Price change % (category-wide only)", exact=True).fill("-4.8")
    form.get_by_label("Expected volume", exact=True).fill("1000")
    form.get_by_role("button", name="Save initiative").click()
    expect_text(page, "; it is pending finance's review.")  # the save reruns the page
    wait_idle(page)
    body = page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "browser_savings_added.png"))
    assert "Saved" in body or "Added" in body or "added" in body, problems(page)
    assert problems(page) == []

    _act_as(page, "Sam Okafor (finance, member)")
    page.get_by_role("tab", name="Initiatives").click()
    # the pick sits above the review form: the page shows its numbers before the verdict
    page.get_by_role("combobox", name="Pending initiative").click()
    page.keyboard.type("pallet")
    page.get_by_role("option", name="pallet wrap").click()
    wait_idle(page)
    review = page.locator('[data-testid="stForm"]').nth(1)
    review.get_by_text("Accept", exact=True).click()  # no verdict is preselected
    review.get_by_label("Reason (required)").fill("Quotes on file")
    review.get_by_role("button", name="Record decision").click()
    wait_idle(page)
    expect_text(page, ": accepted")  # the decision's rerun reads the whole ledger again
    page.screenshot(path=str(ARTIFACTS / "browser_savings_accepted.png"))
    assert problems(page) == []


def test_a_deep_link_on_a_fresh_server_opens_the_page_with_the_app_navigation(browser, demo_db):
    with running_app(demo_db) as url:  # nobody has opened app.py on this server yet
        pg = browser.new_page(viewport={"width": 1400, "height": 1200})
        open_page(pg, f"{url}/savings", wait_for="h1")
        pg.wait_for_function(
            "() => document.querySelector('h1') && "
            "document.querySelector('h1').innerText.includes('Savings')",
            timeout=60_000,
        )
        nav = pg.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "CFO overview" in nav and "Savings & cost avoidance" in nav
        assert problems(pg) == []
        pg.close()


def _acting(page) -> str:
    """What the sidebar says about who acts."""
    return page.locator('[data-testid="stSidebar"]').inner_text()


def test_who_acts_starts_empty_and_survives_a_reload_and_a_page_switch(page, app_url):
    open_page(page, f"{app_url}/savings", wait_for="h1")
    assert "nobody chosen, so you can read but not change anything" in _acting(page)
    _act_as(page, "Jonas Berg (procurement, member)")
    page.wait_for_function("() => location.search.includes('as=jonas.berg')", timeout=30_000)
    page.reload()
    page.wait_for_selector("h1", timeout=60_000)
    wait_idle(page)
    assert "acting as Jonas Berg." in _acting(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Data", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('h1') && document.querySelector('h1').innerText == 'Data'",
        timeout=60_000,
    )
    wait_idle(page)
    assert "acting as Jonas Berg." in _acting(page)
    page.wait_for_function("() => location.search.includes('as=jonas.berg')", timeout=30_000)
    page.reload()
    page.wait_for_selector("h1", timeout=60_000)
    wait_idle(page)
    assert page.locator("h1").first.inner_text() == "Data"
    assert "acting as Jonas Berg." in _acting(page)
    assert problems(page) == []
