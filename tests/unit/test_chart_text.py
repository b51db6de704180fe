"""Text from data shows as text in every plotly chart, never as HTML (issue 8).

Plotly reads a few HTML tags in any text it draws (tick labels, legend entries, hovers,
treemap labels, titles, annotations), so every figure builder in kpi/ hands its data text
through kpi.reporting.charts.safe_figure. Each builder here is fed a tiny frame whose names and
titles are HOSTILE; every string of the figure's JSON that carries the text must carry it
escaped exactly once, and no raw tag may appear anywhere.

The browser test at the end runs the app on a demo store whose largest supplier carries
the hostile name: the Spend and Suppliers pages draw it literally, and a click on its
treemap box still drills down to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest

from kpi.analyses import spend as sp
from kpi.reporting import charts, meeting_pack
from kpi.reporting import charts_spend as spend_charts
from kpi.reporting import charts_working_capital as wc
from tests.browser.support import (
    ARTIFACTS,
    browser_marks,
    expect_text,
    problems,
    running_app,
    wait_rendered,
)

HOSTILE = "<b>x</b> & <script>alert(1)</script>"
# html.escape(HOSTILE, quote=False), written out by hand: '&' first, then '<' and '>'
ESCAPED = "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"
SEP = " › "


def strings(node: Any) -> Iterator[str]:
    """Every string anywhere in a figure's JSON (keys are ours, values may be data)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from strings(value)
    elif hasattr(node, "tolist"):  # numpy arrays
        yield from strings(node.tolist())


def assert_literal(fig: go.Figure, at_least: int = 1) -> list[str]:
    """No raw tag of HOSTILE anywhere, no double escaping, and the escaped text present
    (at least `at_least` strings carry it). Returns the strings that carry it."""
    found = list(strings(fig.to_plotly_json()))
    for text in found:
        assert "<b>" not in text and "<script" not in text and "</b>" not in text, text
        assert "&amp;lt;" not in text and "&amp;amp;" not in text, text  # escaped once only
    carrying = [t for t in found if ESCAPED in t]
    assert len(carrying) >= at_least, found
    return carrying


# ---- kpi/reporting/charts.py -------------------------------------------------------------------


def test_plot_text_writes_tags_as_entities() -> None:
    assert charts.plot_text(HOSTILE) == ESCAPED
    assert charts.plot_text("Müller & Söhne") == "Müller &amp; Söhne"
    assert charts.plot_text(None) == ""
    assert charts.plot_text('say "hi"') == 'say "hi"'  # quotes stay: plotly shows them as is


def test_the_page_helper_is_the_kpi_escaper() -> None:
    from ui import widgets

    assert widgets.plot_text is charts.plot_text  # one escaper, re-exported for pages


def test_savings_by_meaning_escapes_legend_names() -> None:
    frame = pl.DataFrame(
        {"meaning": [HOSTILE, HOSTILE, "Finance"], "period": ["P1", "P2", "P1"],
         "value": [1.0, 2.0, 3.0]}
    )  # fmt: skip
    fig = charts.savings_by_meaning(frame, "EUR")
    assert [t.name for t in fig.data] == [ESCAPED, "Finance"]
    assert fig.data[0].y == (1.0, 2.0)  # the values are untouched
    assert_literal(fig)


def test_kpi_trend_escapes_the_name_in_title_and_legend() -> None:
    frame = pl.DataFrame({"period": ["2026-Q1", "2026-Q2"], "value": [0.25, 0.5]})
    fig = charts.kpi_trend(frame, HOSTILE, "percent", {"2026-Q2": 0.4})
    assert fig.layout.title.text == ESCAPED and fig.data[0].name == ESCAPED
    assert fig.data[0].y == (25.0, 50.0)  # 0.25 and 0.5 as percent
    assert fig.data[1].y == (40.0,)  # the target 0.4 of 2026-Q2
    assert_literal(fig, at_least=2)


def test_bridge_waterfall_escapes_a_title_made_of_a_name() -> None:
    row = {
        **{"base": 100, "price": 5, "fx": -3, "volume": -10, "mix": 0, "unquantified": 3},
        **{"new": 20, "lost": -15, "current": 100},
    }
    fig = charts.bridge_waterfall(row, "EUR", f"{HOSTILE}, 2025 → 2026")
    assert fig.layout.title.text == f"{ESCAPED}, 2025 → 2026"
    # 100 + 5 − 3 − 10 + 0 + 3 + 20 − 15 = 100: the total bar is drawn by plotly (y 0)
    assert fig.data[0].y == (100.0, 5.0, -3.0, -10.0, 0.0, 3.0, 20.0, -15.0, 0.0)
    assert_literal(fig)


def _lenses_frame(value_columns: tuple[str, ...]) -> pl.DataFrame:
    data: dict[str, list] = {"category": [HOSTILE, "Total"], "is_total": [False, True]}
    data.update({c: [D("10.50"), D("10.50")] for c in value_columns})
    return pl.DataFrame(data)


def test_two_lenses_escapes_categories_on_the_axis() -> None:
    cols = ("procurement_reported", "finance_recognised", "cost_avoidance", "expense_change")
    fig = charts.two_lenses(_lenses_frame(cols), "EUR")
    assert len(fig.data) == 4 and all(t.x == (ESCAPED,) for t in fig.data)  # total row left out
    assert fig.data[0].y == (10.5,)
    assert_literal(fig, at_least=4)


def test_two_lenses_draw_the_expense_change_on_its_own_panel_named_as_a_cost() -> None:
    frame = pl.DataFrame(
        {
            "category": ["Energy", "IT hardware", "Total"],
            "is_total": [False, False, True],
            "procurement_reported": [D("5000.00"), D("15000.00"), D("20000.00")],
            "finance_recognised": [D("4000.00"), D("9000.00"), D("13000.00")],
            "cost_avoidance": [D("0.00"), D("1224.26"), D("1224.26")],
            "expense_change": [D("3200000.00"), D("-1589.87"), D("3198410.13")],
        }
    )
    fig = charts.two_lenses(frame, "EUR")
    panels = {t.name: (t.xaxis, t.yaxis) for t in fig.data}
    assert panels == {
        "Procurement-reported savings": ("x", "y"),
        "Finance-recognised savings": ("x", "y"),
        "Cost avoidance (not P&amp;L)": ("x", "y"),  # plotly draws the entity as &
        "Expense up: a cost, not a saving": ("x2", "y2"),  # its own axis, not beside savings
        "Expense down": ("x2", "y2"),
    }
    up = next(t for t in fig.data if t.name.startswith("Expense up"))
    assert up.y == (3200000.0, None)  # Energy's rise; IT hardware's fall is in the other trace
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [
        "Price savings (procurement's lens)",
        "Change in expense vs last year (finance's lens)",
    ]
    assert fig.layout.yaxis2.title.text == "€ (+ = more expense)"
    assert fig.layout.xaxis.automargin and fig.layout.xaxis2.automargin  # labels not cut


def test_savings_by_meaning_puts_the_expense_change_on_its_own_panel() -> None:
    frame = pl.DataFrame(
        {
            "kpi": ["savings_realised", "expense_change_yoy", "expense_change_yoy"],
            "meaning": ["Price savings (procurement)", "Expense change", "Expense change"],
            "period": ["FY2026-Q1", "FY2026-Q1", "FY2026-Q2"],
            "value": [15000.0, -20000.0, 3200000.0],
        }
    )
    fig = charts.savings_by_meaning(frame, "EUR")
    assert [(t.name, t.yaxis, t.y) for t in fig.data] == [
        ("Price savings (procurement)", "y", (15000.0,)),
        ("Expense up: a cost, not a saving", "y2", (None, 3200000.0)),
        ("Expense down", "y2", (-20000.0, None)),
    ]


def test_spend_outlook_bars_escape_categories() -> None:
    frame = _lenses_frame(("base_spend", "spend_forecast")).with_columns(
        pl.lit("2025-Q3").alias("base_quarter")
    )
    fig = charts.spend_outlook_bars(frame, "EUR")
    assert [t.name for t in fig.data] == ["Spend 2025-Q3", "Forecast"]
    assert all(t.x == (ESCAPED,) for t in fig.data)
    assert_literal(fig, at_least=2)


def test_time_series_charts_escape_their_periods() -> None:
    """Periods come from the calendar, yet a period label still goes through the escaper."""
    period = ["2026-01", HOSTILE]
    figs = [
        charts.spend_vs_budget(
            pl.DataFrame({"period": period, "actual": [3.0, 4.0], "maverick": [1.0, 0.0],
                          "budget": [5.0, 5.0]}), "EUR"),
        charts.days_to_pay_vs_terms(
            pl.DataFrame({"period": period, "days_to_pay": [31.0, 29.0], "terms": [30, 30]})),
        charts.inventory_by_class(
            pl.DataFrame({"period": period, "safety": [1.0, 1.0], "cycle": [2.0, 2.0],
                          "excess": [0.0, 1.0], "obsolete": [0.0, 0.0]}), "EUR"),
        charts.realised_vs_expected(
            pl.DataFrame({"month": period, "realised_saving": [D("1.00"), D("2.00")],
                          "expected_saving": [D("2.00"), D("2.00")],
                          "leakage": [D("0.50"), D("0")]}), "EUR"),
        charts.avoidance_by_status(
            pl.DataFrame({"month": period, "finance_status": ["accepted", "pending"],
                          "avoided_cost": [D("1.00"), D("2.00")]}), "EUR"),
    ]  # fmt: skip
    for fig in figs:
        assert_literal(fig)
    # spend with PO = actual − maverick: 3 − 1 = 2 and 4 − 0 = 4
    assert figs[0].data[0].y == (2.0, 4.0)


def test_sparkline_and_proposals() -> None:
    spark = charts.sparkline([1.0, None, 2.0], "green")
    assert spark.data[0].y == (1.0, None, 2.0)
    fig = charts.kpi_trend(pl.DataFrame({"period": [HOSTILE], "value": [1.0]}), "n", "count", {})
    charts.add_proposals(fig, HOSTILE, 0.5, 0.6, "percent")
    # both proposals land on the same (escaped) category as the history: 0.5 → 50, 0.6 → 60
    assert [(t.x, t.y) for t in fig.data[1:]] == [((ESCAPED,), (50.0,)), ((ESCAPED,), (60.0,))]
    assert_literal(fig, at_least=3)


# ---- kpi/reporting/charts_working_capital.py -----------------------------------------------


def test_working_capital_charts_escape_segments_and_periods() -> None:
    seg = pl.DataFrame(
        {"segment": [HOSTILE, None], "contract_terms_days": [D("30"), D("60")],
         "days_to_pay": [D("35"), D("58")]}
    )  # fmt: skip
    fig = wc.terms_by_segment(seg, "supplier_size")
    assert fig.data[0].x == (ESCAPED, "(none)")
    assert fig.layout.title.text == "Terms and days to pay by supplier size (amount-weighted)"
    assert_literal(fig, at_least=2)
    period = [HOSTILE]
    for fig in (
        wc.late_payments(
            pl.DataFrame({"period": period, "late_amount_sme": [D("1")],
                          "late_amount_other": [D("2")]}), "EUR"),
        wc.discounts(
            pl.DataFrame({"period": period, "discounts_taken": [D("1")],
                          "discounts_missed": [D("2")], "discounts_offered": [D("3")]}), "EUR"),
        wc.days_and_turns(
            pl.DataFrame({"period": period, "days_inventory": [73.0], "turns": [5.0]})),
    ):  # fmt: skip
        assert_literal(fig)
    summary = {"annual_financing_benefit": 10, "discounts_forgone": 3,
               "supplier_price_passthrough": 2, "net_benefit": 5}  # fmt: skip
    water = wc.scenario_waterfall(summary, "<b>EUR</b>")
    # 10 − 3 − 2 = 5; a currency that reaches the axis title is escaped like any text
    assert water.data[0].y == (10.0, -3.0, -2.0, 5.0)
    assert water.layout.yaxis.title.text == "&lt;b&gt;EUR&lt;/b&gt;"


# ---- kpi/reporting/charts_spend.py -------------------------------------------------------------


def _tree() -> pl.DataFrame:
    """Two items of the hostile supplier in the hostile category, one other line."""
    return pl.DataFrame(
        {"category": [HOSTILE, HOSTILE, "Office"], "supplier": [HOSTILE, HOSTILE, "Acme"],
         "item_id": [HOSTILE, "I2", "I3"], "item": [HOSTILE, "Toner", "Paper"],
         "amount": [D("10.00"), D("20.00"), D("5.00")]}
    )  # fmt: skip


def test_spend_treemap_escapes_labels_ids_and_title_and_keeps_the_drill_down() -> None:
    fig = spend_charts.spend_treemap(_tree(), "EUR", f"All spend{SEP}{HOSTILE}")
    trace = fig.data[0]
    ids = dict(zip(trace.ids, trace.values, strict=True))
    # the category holds 10 + 20 = 30, the supplier inside it the same 30, its items 10 and 20
    assert ids[ESCAPED] == 30.0
    assert ids[f"{ESCAPED}{SEP}{ESCAPED}"] == 30.0
    assert ids[f"{ESCAPED}{SEP}{ESCAPED}{SEP}{ESCAPED}"] == 10.0
    assert ids[f"{ESCAPED}{SEP}{ESCAPED}{SEP}I2"] == 20.0
    assert set(trace.parents) == {"", ESCAPED, f"{ESCAPED}{SEP}{ESCAPED}", "Office",
                                  f"Office{SEP}Acme"}  # fmt: skip
    assert fig.layout.title.text == f"All spend{SEP}{ESCAPED}"
    assert trace.hovertemplate == "%{id}<br>%{value:,.2f} EUR<extra></extra>"  # ours, kept
    assert_literal(fig, at_least=4)
    # every box a click can report maps back to the real names for the select boxes
    nodes = spend_charts.treemap_nodes(_tree())
    assert set(nodes) == set(trace.ids)
    assert nodes[f"{ESCAPED}{SEP}{ESCAPED}"] == (HOSTILE, HOSTILE, None)
    assert nodes[f"{ESCAPED}{SEP}{ESCAPED}{SEP}{ESCAPED}"] == (HOSTILE, HOSTILE, HOSTILE)


def test_spend_sunburst_escapes_cost_centres_and_categories() -> None:
    by_cc = pl.DataFrame(
        {"cost_centre": [HOSTILE, HOSTILE], "category": [HOSTILE, "Office"],
         "amount": [D("1.25"), D("2.50")]}
    )  # fmt: skip
    trace = spend_charts.cost_centre_sunburst(by_cc, "EUR").data[0]
    # the centre holds 1.25 + 2.50 = 3.75
    assert dict(zip(trace.ids, trace.values, strict=True)) == {
        ESCAPED: 3.75, f"{ESCAPED}{SEP}{ESCAPED}": 1.25, f"{ESCAPED}{SEP}Office": 2.5
    }  # fmt: skip
    assert_literal(spend_charts.cost_centre_sunburst(by_cc, "EUR"), at_least=3)


def test_pareto_and_status_charts_escape_names_on_the_axis() -> None:
    pareto = pl.DataFrame(
        {"supplier": [HOSTILE, "Acme"], "amount": [D("75"), D("25")],
         "cumulative_share": [0.75, 1.0]}
    )  # fmt: skip
    fig = spend_charts.pareto_chart(pareto, "EUR")
    assert fig.data[0].x == (ESCAPED, "Acme") and fig.data[1].y == (75.0, 100.0)
    assert_literal(fig, at_least=2)
    status = pl.DataFrame(
        {"cost_centre": [HOSTILE, "CC-A"], "heading_over_budget": [True, False],
         "budget_year": [D("100"), D("50")], "actual": [D("90"), D("10")],
         "committed": [D("20"), D("0")], "forecast_year_end": [D("120"), D("20")]}
    )  # fmt: skip
    fig = spend_charts.status_chart(status, "cost_centre", "EUR")
    assert fig.data[0].x == (f"⚠ {ESCAPED}", "CC-A")  # 90 + 20 committed > 100: flagged
    assert_literal(fig, at_least=4)


def test_trend_and_burn_charts_escape_names_and_titles() -> None:
    month = ["2026-01", "2026-02"]
    monthly = pl.DataFrame(
        {"month": month, "amount": [D("10"), D("12")], "no_po_amount": [D("4"), D("0")]}
    )
    trend = spend_charts.spend_trend_chart(monthly, "EUR")
    assert trend.data[0].y == (6.0, 12.0)  # with PO: 10 − 4 and 12 − 0
    lines = spend_charts.trend_lines(
        pl.DataFrame({"month": month, "rate": [0.1, 0.2]}), {"rate": HOSTILE}, HOSTILE, "%", True
    )
    assert lines.data[0].y == (10.0, 20.0) and lines.data[0].name == ESCAPED
    assert_literal(lines, at_least=2)
    year = sp.BudgetYear(HOSTILE, date(2026, 1, 1), date(2026, 12, 31), date(2026, 2, 28), 12, 2)
    burn = spend_charts.burn_chart(
        pl.DataFrame({"month": month, "cum_budget": [D("10"), D("20")],
                      "cum_actual": [D("8"), D("20")]}),
        year, {"committed": D("5"), "forecast_year_end": D("120")}, "EUR",
    )  # fmt: skip
    assert burn.layout.title.text == f"{ESCAPED}: budget burn"
    assert burn.data[2].y == (25.0,)  # actual to date 20 + committed 5
    assert_literal(burn)


# ---- the suppliers' charts (kpi/reporting/charts_spend.py) and kpi/reporting/meeting_pack.py ---


def test_concentration_chart_escapes_categories_and_the_top_supplier() -> None:
    conc = pl.DataFrame(
        {"category": [HOSTILE, "Office"], "level": ["high", "low"],
         "herfindahl": [10000.0, 1200.0], "top_supplier": [HOSTILE, "Acme"],
         "top_supplier_share": [1.0, 0.3]}
    )  # fmt: skip
    fig = spend_charts.concentration_chart(conc)
    high = fig.data[0]
    assert high.x == (ESCAPED,) and high.customdata[0][0] == ESCAPED
    assert high.customdata[0][1] == 1.0  # the share stays a number for %{customdata[1]:.1%}
    assert "%{customdata[0]}" in high.hovertemplate  # the template is ours and kept
    assert_literal(fig, at_least=2)


def test_supplier_history_escapes_the_name_in_the_title() -> None:
    monthly = pl.DataFrame(
        {"month": ["2026-01"], "amount": [D("10.00")], "no_po_amount": [D("2.50")]}
    )
    deliveries = pl.DataFrame({"month": ["2026-01"], "on_time_delivery": [0.5]})
    fig = spend_charts.history_chart(monthly, deliveries, HOSTILE, "EUR")
    assert fig.layout.title.text == f"{ESCAPED}: spend and on-time delivery"
    assert fig.data[0].y == (7.5,) and fig.data[2].y == (50.0,)  # 10 − 2.50; 0.5 as percent
    assert_literal(fig)


def test_meeting_pack_history_chart_and_its_html() -> None:
    history = pl.DataFrame({"period": ["2026-Q1", "2026-Q2"], "value": [1.0, 2.0]})
    forecast = {"quarter": "2026-Q3", "forecast": 3.0, "low": 2.0, "high": 4.5}
    fig = meeting_pack.history_forecast_chart(
        history, forecast, HOSTILE, "count", {"2026-Q3": 2.5}, "EUR"
    )
    assert fig.layout.title.text == ESCAPED
    forecast_trace = next(t for t in fig.data if t.name == "Forecast (with range)")
    # the range 2.0 to 4.5 around 3.0: 1.5 above, 1.0 below
    assert forecast_trace.error_y.array == (1.5,) and forecast_trace.error_y.arrayminus == (1.0,)
    assert_literal(fig, at_least=2)
    page = meeting_pack._Charts().html(fig)
    assert HOSTILE not in page and "<script>alert" not in page


# ---- in the browser --------------------------------------------------------------------------

# what plotly would have made of HOSTILE as markup: 'x' in a bold run (titles are bold
# anyway in Streamlit's theme, so the run's text tells), a script or a link element
MARKUP_IN_PLOTS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const bold = plots.flatMap(p => [...p.querySelectorAll('tspan')])
        .filter(t => /font-weight: *bold/.test(t.getAttribute('style') || ''))
        .filter(t => t.textContent === 'x');
    return {
        plots: plots.length,
        elements: plots.reduce((n, p) => n + p.querySelectorAll('b, script, a').length, 0),
        bold: bold.length,
        text: plots.map(p => p.textContent).join(' | '),
    };
}"""


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory, demo_copy):
    """The demo store with its largest supplier renamed to HOSTILE; yields (url, its id)."""
    from kpi.store.database import Store

    db = demo_copy(0.05, tmp_path_factory.mktemp("chart_text") / "kpi.duckdb")
    with Store(db).write() as con:
        (supplier_id,) = con.execute(
            "SELECT supplier_id FROM invoices GROUP BY 1 ORDER BY sum(amount) DESC LIMIT 1"
        ).fetchone()
        con.execute(
            "UPDATE suppliers SET supplier_name = ? WHERE supplier_id = ?", [HOSTILE, supplier_id]
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(db, wait_stopped=False) as url:
        yield url, supplier_id


def _assert_plots_literal(page) -> str:
    found = page.evaluate(MARKUP_IN_PLOTS)
    assert found["plots"] >= 1
    assert (found["elements"], found["bold"]) == (0, 0), found
    assert HOSTILE in found["text"]  # plotly turned the entities back: the name as typed
    return found["text"]


@browser_marks()[0]
@browser_marks()[1]
def test_hostile_names_show_as_text_in_the_charts_and_still_drill(browser, hostile_app) -> None:
    url, supplier_id = hostile_app
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    try:
        page.goto(f"{url}/spend")
        page.wait_for_selector(".js-plotly-plot g.slice", timeout=60_000)
        wait_rendered(page)
        text = _assert_plots_literal(page)
        assert ESCAPED not in text  # shown once unescaped, not as entities
        assert problems(page) == []
        page.screenshot(path=str(ARTIFACTS / "chart_text_spend.png"))

        # a click on the hostile supplier's box (its header, where its name is written)
        # drills to it: the escaped id maps back to the real name
        spot = page.evaluate(
            """name => {
                const box = [...document.querySelectorAll('.js-plotly-plot g.slice')]
                    .find(g => g.textContent.startsWith(name));
                const r = box.querySelector('text').getBoundingClientRect();
                return {x: r.x + r.width / 2, y: r.y + r.height / 2};
            }""",
            HOSTILE,
        )
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_function(
            "name => [...document.querySelectorAll('[data-testid=\"stMain\"] h3')]"
            ".some(h => h.innerText.includes(' › ' + name))",
            arg=HOSTILE,
            timeout=60_000,
        )
        wait_rendered(page)
        heading = page.locator('[data-testid="stMain"] h3').first.inner_text().strip()
        assert heading.split(" › ")[0] == "All spend" and heading.split(" › ")[2] == HOSTILE
        expect_text(page, f"in {heading}")  # the table below follows the pick
        _assert_plots_literal(page)  # the treemap of that supplier, its name as typed
        assert problems(page) == []
        page.screenshot(path=str(ARTIFACTS / "chart_text_spend_drill.png"))

        page.goto(f"{url}/suppliers")
        page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
        wait_rendered(page)
        page.get_by_role("tab", name="Supplier detail").click()
        main = page.locator('[data-testid="stMain"]')
        main.get_by_role("combobox", name="Supplier").click()
        page.get_by_role("option", name=f"{HOSTILE} ({supplier_id})", exact=True).click()
        wait_rendered(page)
        page.wait_for_function(
            "t => [...document.querySelectorAll('.js-plotly-plot')]"
            ".some(p => p.textContent.includes(t))",
            arg=f"{HOSTILE}: spend and on-time delivery",
            timeout=60_000,
        )
        _assert_plots_literal(page)
        assert problems(page) == []
        page.screenshot(path=str(ARTIFACTS / "chart_text_suppliers.png"))
    finally:
        context.close()
    assert alerts == []  # no alert() ran


def test_the_overviews_half_width_charts_are_given_their_margins() -> None:
    """Drawn half-width on the overview, each headline chart carries the margins plotly
    would work out for it (so the browser draws it once); elsewhere the house margins, which
    plotly grows as it needs."""
    period = ["FY2026-Q1", "FY2026-Q2"]
    built = {
        "spend_vs_budget": lambda half: charts.spend_vs_budget(
            pl.DataFrame({"period": period, "actual": [3.0, 4.0], "maverick": [1.0, 0.0],
                          "budget": [5.0, 5.0]}), "EUR", half),
        "savings_by_meaning": lambda half: charts.savings_by_meaning(
            pl.DataFrame({"kpi": ["savings_realised"] * 2, "meaning": ["Price savings"] * 2,
                          "period": period, "value": [1.0, 2.0]}), "EUR", half),
        "days_to_pay_vs_terms": lambda half: charts.days_to_pay_vs_terms(
            pl.DataFrame({"period": period, "days_to_pay": [31.0, 29.0], "terms": [30, 30]}),
            half),
        "inventory_by_class": lambda half: charts.inventory_by_class(
            pl.DataFrame({"period": period, "safety": [1.0, 1.0], "cycle": [2.0, 2.0],
                          "excess": [0.0, 1.0], "obsolete": [0.0, 0.0]}), "EUR", half),
    }  # fmt: skip
    assert set(built) == set(charts.HALF_WIDTH_MARGINS)
    for name, build in built.items():
        half, full = build(True), build(False)
        margin = half.layout.margin
        assert (margin.l, margin.r, margin.t, margin.b) == tuple(
            charts.HALF_WIDTH_MARGINS[name][k] for k in "lrtb"
        ), name
        assert full.layout.margin.l == 10 and full.layout.margin.b == 10, name
        assert half.layout.margin.autoexpand is not False  # a label needing more still gets it
        assert half.to_dict()["data"] == full.to_dict()["data"], name  # the same figure else
