"""A real browser for the pages' tests: Debian's chromium, headless, driven by Playwright
(tests/api/conftest.py's `browser` fixture), and a page that keeps what its console said."""

from __future__ import annotations

import os
import re
from typing import Any

import aiohttp
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


class PageClient:
    """A page's visitor over plain HTTP (no browser): its cookies in `http`'s jar."""

    def __init__(self, w: World, http: aiohttp.ClientSession) -> None:
        self.w, self.http = w, http

    async def ask(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], str]:
        async with self.http.request(method, f"{self.w.api_url}{path}", allow_redirects=False, **kwargs) as r:
            return r.status, dict(r.headers), await r.text()

    async def try_log_in(self, token: str, page: str) -> tuple[int, str]:
        """The login's status, and the page's CSRF token when it let in (else the form's text)."""
        _, _, form = await self.ask("GET", f"/{page}/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None, form
        data = {"token": token, "csrf": csrf[1]}
        status, headers, body = await self.ask(
            "POST", f"/{page}/login", data=data, headers={"Origin": self.w.api_url}
        )
        if status != 303:
            return status, body
        assert headers.get("Location") == f"/{page}", headers
        _, _, html = await self.ask("GET", f"/{page}")
        found = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert found is not None, html
        return status, found[1]
