"""The app draws only what changed, in a real browser (issue 18): a pick in the spend
drill-down redraws the drill-down, not the rest of the page.

Three witnesses, taken across the pick: the server's messages (every element it sends
belongs to a fragment, none to the page itself, while the page's first load did send the
page's own elements), the page's other elements (the title, a KPI tile, the sidebar's
period box and the budget tab's year box keep a mark set on them by script, and none of
them turns stale, as every element of a page does while the whole page reruns) and the
drill-down itself, which shows the category picked. The mark alone would not tell: the
browser keeps an element's node through a whole rerun too. The messages and the stale
watcher do: on the code before the fragments both failed (every element sent again, with
no fragment; the title, tile, sidebar and budget box all turned stale).

Screenshot: tests/artifacts/browser_fragments_spend.png (not committed).
"""

from __future__ import annotations

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

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

# elements outside the drill-down's fragment: each keeps a mark and its DOM node, and a
# watcher notes if its element container ever turns stale (a whole-page rerun does that)
_MARK_OUTSIDE = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const kept = {
        title: main.querySelector('h1'),
        tile: main.querySelector('[data-testid="stMetric"]'),
        sidebar: document.querySelector('[data-testid="stSidebar"] [data-testid="stSlider"]')
            || document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]'),
        budget_year: [...main.querySelectorAll('[data-testid="stSelectbox"]')]
            .find(b => b.innerText.includes('Fiscal year')),
    };
    window.__kept = kept;
    window.__stale = [];
    const watcher = new MutationObserver(changes => {
        for (const c of changes) {
            if (c.target.getAttribute('data-stale') === 'true') {
                for (const [name, el] of Object.entries(kept)) {
                    if (el && c.target.contains(el)) window.__stale.push(name);
                }
            }
        }
    });
    for (const [name, el] of Object.entries(kept)) {
        if (!el) throw new Error('nothing to mark: ' + name);
        el.dataset.fragmentMark = 'set before the pick';
        const box = el.closest('[data-testid="stElementContainer"]');
        if (box) watcher.observe(box, {attributes: true, attributeFilter: ['data-stale']});
    }
    return Object.keys(kept);
}"""

_STILL_THERE = """() => Object.fromEntries(Object.entries(window.__kept).map(([name, el]) => [
    name, el.isConnected && el.dataset.fragmentMark === 'set before the pick'
]))"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_copy):
    db = demo_copy(0.05, tmp_path_factory.mktemp("browser_fragments") / "kpi.duckdb")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(db, wait_stopped=False) as url:
        yield url


def _deltas(frames: list[bytes]) -> list[ForwardMsg]:
    """The element messages (deltas) among the server's websocket frames."""
    out = []
    for frame in frames:
        if not isinstance(frame, bytes):
            continue
        msg = ForwardMsg()
        try:
            msg.ParseFromString(frame)
        except Exception:  # noqa: BLE001 (a frame that is no ForwardMsg is not ours)
            continue
        if msg.WhichOneof("type") == "delta":
            out.append(msg)
    return out


def test_a_drill_down_pick_redraws_the_drill_down_only(page, app_url):
    frames: list[bytes] = []

    def keep(frame: bytes) -> None:
        frames.append(frame)

    page.on("websocket", lambda ws: ws.on("framereceived", keep))
    open_page(page, f"{app_url}/spend", wait_for=".js-plotly-plot")
    wait_idle(page)
    assert problems(page) == []
    first = _deltas(frames)
    # the control: the page's load sent the page's own elements and the fragments' elements
    assert any(not m.delta.fragment_id for m in first)
    assert any(m.delta.fragment_id for m in first)
    assert sorted(page.evaluate(_MARK_OUTSIDE)) == ["budget_year", "sidebar", "tile", "title"]
    frames.clear()

    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("combobox", name="Category").click()
    choice = page.get_by_role("option").nth(1)  # the largest category
    category = choice.inner_text().strip()
    choice.click()
    expect_text(page, f"All spend › {category}")
    wait_idle(page)
    expect_text(page, f"Suppliers in All spend › {category}")  # the table went a level down
    treemap_root = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')]"
        ".find(p => p.data[0].type === 'treemap').data[0].ids[0]"
    )
    assert treemap_root == category  # the chart follows the pick

    sent = _deltas(frames)
    assert sent, "the pick sent nothing"
    fragments = {m.delta.fragment_id for m in sent}
    assert "" not in fragments, "the pick sent elements of the page itself: a whole rerun"
    assert len(fragments) == 1  # one fragment: the drill-down
    # the rest of the page stayed as it was drawn: same nodes, marks kept, never stale
    assert page.evaluate(_STILL_THERE) == dict.fromkeys(
        ["title", "tile", "sidebar", "budget_year"], True
    )
    assert page.evaluate("() => window.__stale") == []
    assert problems(page) == []
    page.screenshot(path=str(ARTIFACTS / "browser_fragments_spend.png"))
