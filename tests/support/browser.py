"""A real browser for the pages' tests: Debian's chromium, headless, driven by Playwright
(tests/api/conftest.py's `browser` fixture), and a page that keeps what its console said."""

from __future__ import annotations

import os

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.support.world import World

CHROMIUM = "/usr/bin/chromium"

# Skipped on a developer's machine without it; in CI (CI set) the test runs and fails saying so.
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"),
    reason=f"{CHROMIUM} missing: apt-get install chromium (./dev test does)",
)


class Watched:
    """A page, with what its console said that it should not have (CSP refusals, errors)."""

    def __init__(self, page: Page) -> None:
        self.page, self.problems = page, list[str]()
        page.on("console", lambda m: self.problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))


async def open_page(
    browser: Browser, w: World, width: int = 480, height: int = 760
) -> tuple[BrowserContext, Watched]:
    context = await browser.new_context(base_url=w.api_url, viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    return context, Watched(await context.new_page())
