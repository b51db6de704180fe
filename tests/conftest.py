"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from tests.browser import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium for a module's browser tests (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
