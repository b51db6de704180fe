"""The meeting pack on paper: the pack's own HTML printed to an A4 PDF by Chromium.

The PDF is Chromium's print of the very HTML the Quarterly goals page downloads
(kpi.reporting.meeting_pack), so the two never differ. Chromium is the system's Debian
package (/usr/bin/chromium, or KPI_CHROMIUM), driven by Playwright; nothing is downloaded.
The page is laid out at the printed width with print styles on before the charts are
drawn, so plotly sizes each chart (and its axis labels) for the paper, and the print waits
until every chart is drawn. Page numbers are in the footer.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path

CHROMIUM_ENV = "KPI_CHROMIUM"
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
# headless, no network chatter; the browser tests launch Chromium with the same flags
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A4 is 210 mm wide; with 12 mm side margins the text is 186 mm ≈ 703 CSS pixels wide
MARGIN = {"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"}
PRINT_WIDTH_PX = 703
DRAW_TIMEOUT_MS = 120_000
FOOTER = (
    "<div style='font-size:8px;color:#555;width:100%;padding:0 12mm;"
    "font-family:system-ui,sans-serif;display:flex;justify-content:space-between'>"
    "<span>{title}</span><span>Page <span class='pageNumber'></span> of "
    "<span class='totalPages'></span></span></div>"
)
# every plotly chart has drawn its SVG (Plotly.newPlot is asynchronous)
ALL_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
    .every(d => d._fullLayout && d.querySelector('svg.main-svg'))"""


class PackPrintError(Exception):
    """The PDF cannot be made; the message says why and what to do."""


def chromium_path() -> Path:
    """The Chromium that prints: KPI_CHROMIUM when set, else Debian's /usr/bin/chromium."""
    return Path(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)


def check_chromium() -> Path:
    """The Chromium to print with, or PackPrintError saying how to get one (checked before
    the pack is built, so a missing browser costs no wait)."""
    path = chromium_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise PackPrintError(
            f"Chromium is needed for the PDF and {path} is not there: install Debian's "
            "package (sudo apt-get install -y chromium), set KPI_CHROMIUM to another "
            "Chromium, or write the pack as HTML (--format html) and print it from a browser"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise PackPrintError(
            "The Python package playwright is needed for the PDF: pip install -r "
            "requirements.txt, or write the pack as HTML (--format html)"
        ) from None
    return path


def print_pdf(pack_html: str, out: Path, title: str) -> int:
    """Print `pack_html` to an A4 PDF at `out` (written whole or not at all); the page count.

    `title` goes in every page's footer, beside "Page n of m".
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    chromium = check_chromium()
    with tempfile.TemporaryDirectory(prefix="kpi-pack-") as work:
        source = Path(work) / "pack.html"
        source.write_text(pack_html, encoding="utf-8")
        printed = Path(work) / "pack.pdf"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1100})
                    page.emulate_media(media="print")
                    page.goto(source.as_uri(), wait_until="load")
                    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=DRAW_TIMEOUT_MS)
                    page.evaluate("document.fonts.ready.then(() => true)")
                    page.pdf(
                        path=str(printed),
                        format="A4",
                        margin=MARGIN,
                        print_background=True,
                        display_header_footer=True,
                        header_template="<span></span>",
                        footer_template=FOOTER.format(title=html.escape(title)),
                    )
                finally:
                    browser.close()
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PackPrintError(
                f"Chromium ({chromium}) could not print the pack: {first}. Write it as HTML "
                "(--format html) and print it from a browser, or check the Chromium install"
            ) from exc
        data = printed.read_bytes()
        write_whole(out, data)
    return page_count(data)


def page_count(pdf: bytes) -> int:
    """The pages of a PDF Chromium wrote (its page objects are plain, not in streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def write_whole(out: Path, data: bytes) -> None:
    """Write `data` to `out` through a file beside it, so `out` is never half written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
