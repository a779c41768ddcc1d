"""The agent page (/agent) in a real browser (Debian's chromium, driven by Playwright) against the
controller on the simulator, and its refusals over plain HTTP.

The browser test follows one agent through a call: login, the call shown, a pause by the button
and a resume by the keyboard, a pause by Alt+P that resumes by itself, each pause measured as
silence in the recording the simulator wrote; a second agent who sees none of it; the page at
320 px; the token revoked and the page back at the login form. Screenshots of each state go to
var/screenshots/agent-page/ (ARI_RECORDER_SCREENSHOTS elsewhere).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from ari_recorder.api.pages import agent as pages
from ari_recorder.domain.access import Role
from ari_recorder.settings import AgentSettings, ApiSettings, QueueSettings
from ari_recorder.storage.tokens import issue_token, revoke_token
from tests.api.test_tls import self_signed, tls_api
from tests.support.audio import summary, tone_runs
from tests.support.browser import PageClient, Watched, needs_chromium, open_page
from tests.support.world import ADMIN_TOKEN, world

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("ARI_RECORDER_SCREENSHOTS", ROOT / "var" / "screenshots" / "agent-page"))
AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=False),
}
QUEUES = {"support": QueueSettings(agents=["1001"]), "billing": QueueSettings(agents=["1002"])}
MAX_PAUSE = 3  # seconds: the second pause ends by itself
TOLERANCE = 0.3  # seconds between what the test's clicks measured and the silence in the file


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def log_in(watched: Watched, token: str, shot: str | None = None) -> None:
    page = watched.page
    await page.goto("/agent")
    await expect(page).to_have_url(re.compile(r"/agent/login$"))
    await expect(page.get_by_label("Your agent token")).to_be_focused()
    if shot:
        await page.screenshot(path=SHOTS / shot)
    await page.get_by_label("Your agent token").fill(token)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/agent$"))
    await expect(page.locator("#status")).not_to_have_attribute("data-state", "connecting")


async def shoot(watched: Watched, name: str) -> None:
    await watched.page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def silences(path: Path) -> list[float]:
    """The lengths of the silent stretches longer than half a second, in order."""
    return [round(r.end - r.start, 3) for r in tone_runs(path) if not r.tones and r.end - r.start > 0.5]


@pytest.mark.timing  # the clicks' pauses within 0.3 s: run apart
@needs_chromium
async def test_an_agent_pauses_and_resumes_from_the_page(
    tmp_path: Path, browser: Browser, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "HEARTBEAT_SECONDS", 0.5)  # a revoked token noticed within it
    async with world(tmp_path, QUEUES, AGENTS, max_pause_seconds=MAX_PAUSE) as w:
        first = await issue_token(w.store, "1001")
        second = await issue_token(w.store, "1002")
        context, watched = await open_page(browser, w)
        page, status = watched.page, watched.page.locator("#status")
        await log_in(watched, first.token, "login.png")
        await expect(status).to_have_text("No call")
        await expect(page.locator("#no-call")).to_be_visible()
        await expect(page.locator("#toggle")).to_be_disabled()
        await shoot(watched, "idle")

        await w.control("calls", {"queue": "support", "caller": "15550700"})
        await expect(status).to_have_text("Recording")
        await expect(page.locator("#customer")).to_have_text("15550700")
        await expect(page.locator("#queue")).to_have_text("support")
        await expect(page.locator("#since")).to_have_text(re.compile(r"\d"))
        await expect(page.locator("#toggle")).to_have_text("Pause recording")
        await shoot(watched, "recording")

        # Pause with the mouse; the timer runs; resume with the keyboard alone (Tab, Enter).
        paused = time.monotonic()
        await page.locator("#toggle").click()
        await expect(status).to_have_text("Recording paused")
        await expect(page.locator("#timers")).to_be_visible()
        await expect(page.locator("#countdown")).to_have_text(re.compile(r"^0:0[1-3]$"))
        await expect(page.locator("#elapsed")).to_have_text("0:01")
        await shoot(watched, "paused")
        for _ in range(5):
            if await page.evaluate("document.activeElement.id") == "toggle":
                break
            await page.keyboard.press("Tab")
        await expect(page.locator("#toggle")).to_be_focused()
        await expect(page.locator("#toggle")).to_have_text("Resume recording")
        resumed = time.monotonic()
        await page.keyboard.press("Enter")
        await expect(status).to_have_text("Recording")
        await expect(page.locator("#timers")).to_be_hidden()
        manual = resumed - paused

        # Alt+P pauses; the countdown runs out and the recording resumes by itself.
        await expect(page.locator("#toggle")).to_be_enabled()  # the resume's answer is in
        await page.keyboard.press("Alt+P")
        await expect(status).to_have_text("Recording paused")
        await shoot(watched, "paused-shortcut")
        await expect(page.locator("#countdown")).to_have_text("0:01", timeout=(MAX_PAUSE + 2) * 1000)
        await expect(status).to_have_text("Recording", timeout=(MAX_PAUSE + 2) * 1000)

        # 320 px wide: nothing scrolls sideways.
        await page.set_viewport_size({"width": 320, "height": 700})
        assert await page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), "the page scrolls sideways at 320 px"
        await shoot(watched, "recording-320px")
        await page.set_viewport_size({"width": 480, "height": 760})

        # Another agent sees nothing of it; then its own call, which is not recorded, and why.
        other_context, other = await open_page(browser, w)
        await log_in(other, second.token)
        await expect(other.page.locator("#status")).to_have_text("No call")
        assert "15550700" not in await other.page.content()
        seen = await other.page.evaluate("fetch('/agent/state').then(r => r.json())")
        assert (seen["agent"], seen["call"], seen["state"]) == ("1002", None, "idle")
        await other.page.keyboard.press("Alt+P")  # nothing to pause: the button is disabled
        refused = await other.page.evaluate(
            """fetch('/agent/pause', {method: 'POST', headers: {
                'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})
               .then(async r => [r.status, await r.json()])"""
        )
        assert refused == [409, {"error": "agent 1002 is on no call", "id": "not-now", "detail": None}]
        await w.control("calls", {"queue": "billing", "caller": "15550701"})
        await expect(other.page.locator("#status")).to_have_text("This call is not recorded")
        await expect(other.page.locator("#reason")).to_have_text(re.compile(r"^Why: .+"))
        await expect(other.page.locator("#toggle")).to_be_disabled()
        await shoot(other, "not-recorded")
        await expect(status).to_have_text("Recording")  # 1001's page is still its own call
        await expect(page.locator("#customer")).to_have_text("15550700")

        # The token revoked: the live stream notices, and the page is the login form again.
        await revoke_token(w.store, first.id)
        await expect(page).to_have_url(re.compile(r"/agent/login\?why=ended$"))
        await expect(page.locator("#message")).to_contain_text("session has ended")
        await shoot(watched, "revoked")

        # Logging out ends the session; the page is gone with it.
        await other.page.get_by_role("button", name="Log out").click()
        await expect(other.page).to_have_url(re.compile(r"/agent/login\?why=logout$"))
        await other.page.goto("/agent")
        await expect(other.page).to_have_url(re.compile(r"/agent/login$"))

        problems = watched.problems + other.problems
        await context.close()
        await other_context.close()
        for caller in ("15550700", "15550701"):
            await w.control("hangup", {"customer": caller})
        reports = [await asyncio.wait_for(w.reports.get(), 15) for _ in range(2)]
        (call,) = [r.call for r in reports if r.call.interaction.queue == "support"]
        (segment,) = call.segments
        assert segment.recording is not None
        wav = await w.fetch(segment.recording)
        recording_audit = await w.store.audit(segment.recording)
        page_audit = await w.store.audit("agent/1001")
    assert not [p for p in problems if "Content Security Policy" in p or "Error" in p], problems
    gaps = silences(wav)
    assert len(gaps) == 2, summary(tone_runs(wav))
    assert abs(gaps[0] - manual) <= TOLERANCE, (gaps, manual)
    assert abs(gaps[1] - MAX_PAUSE) <= TOLERANCE, gaps
    assert [(a.action, a.actor) for a in recording_audit] == [
        ("pause", "1001"),
        ("pause-ended", "1001"),
        ("pause", "1001"),
        ("pause-ended", "controller"),
    ]
    actions = [a.action for a in page_audit]
    for action in ("agent-page-login", "agent-page-opened", "agent-page-pause", "agent-page-resume"):
        assert action in actions, actions
    assert actions[-1] == "agent-page-ended" and page_audit[-1].detail["why"] == "revoked"
    shutil.copy(SHOTS / "paused.png", SHOTS / "agent-page.png")


# ----- over plain HTTP: what the page refuses, and the headers it answers with -----


class Client(PageClient):
    async def log_in(self, token: str) -> str:
        """Logged in; the page's CSRF token."""
        status, csrf = await self.try_log_in(token, "agent")
        assert status == 303, csrf
        return csrf


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[Client]:
    api = ApiSettings(port=0, admin_token=ADMIN_TOKEN, page_frame_ancestors="'self' https://desk.example.com")
    async with (
        world(tmp_path, QUEUES, AGENTS, api=api) as w,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        yield Client(w, http)


async def test_the_session_cookie_and_the_pages_headers(plain: Client) -> None:
    token = (await issue_token(plain.w.store, "1001")).token
    status, headers, body = await plain.ask("GET", "/agent/login")
    assert status == 200 and 'type="password"' in body
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert policy.endswith("frame-ancestors 'self' https://desk.example.com")
    assert "ari-agent-login=" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', body)
    assert csrf is not None
    async with plain.http.post(
        f"{plain.w.api_url}/agent/login",
        data={"token": token, "csrf": csrf[1]},
        headers={"Origin": plain.w.api_url},
        allow_redirects=False,
    ) as r:
        assert (r.status, r.headers["Location"]) == (303, "/agent")
        cookie = r.headers.getall("Set-Cookie")
    (session,) = [c for c in cookie if c.startswith("ari-agent=")]
    attributes = {part.strip().split("=")[0].lower() for part in session.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes and "secure" not in attributes
    assert "SameSite=Strict" in session and "Path=/;" in session + ";"
    assert token not in session
    status, _, state = await plain.ask("GET", "/agent/state")
    assert status == 200 and '"agent":"1001"' in state.replace(" ", "")


async def test_only_an_agents_token_logs_in(plain: Client) -> None:
    tokens = {
        role.value: (await issue_token(plain.w.store, None, role=role, **scope)).token  # type: ignore[arg-type]
        for role, scope in [
            (Role.SUPERVISOR, {"partitions": ["emea"]}),
            (Role.COMPLIANCE, {}),
            (Role.CHAT_PLATFORM, {}),
            (Role.ADMINISTRATOR, {}),
        ]
    }
    tokens["api.admin_token"] = ADMIN_TOKEN
    for whose, token in tokens.items():
        _, _, form = await plain.ask("GET", "/agent/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        status, headers, body = await plain.ask(
            "POST",
            "/agent/login",
            data={"token": token, "csrf": csrf[1]},
            headers={"Origin": plain.w.api_url},
        )
        assert status == 401 and "Location" not in headers, whose
        assert "Only an agent" in body or "(malformed)" in body, (whose, body)
        assert (await plain.ask("GET", "/agent/state"))[0] == 401, whose
    await plain.log_in((await issue_token(plain.w.store, "1001")).token)


async def test_state_changes_come_from_the_page_only(plain: Client) -> None:
    token = (await issue_token(plain.w.store, "1001")).token
    # The login form: without its CSRF token, or from another origin, it is refused.
    _, _, form = await plain.ask("GET", "/agent/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    for data, origin in [
        ({"token": token}, plain.w.api_url),
        ({"token": token, "csrf": csrf[1]}, "https://evil.example"),
    ]:
        status, headers, body = await plain.ask("POST", "/agent/login", data=data, headers={"Origin": origin})
        assert (status, "Location" in headers) == (403, False), body
        assert token not in body
    page_csrf = await plain.log_in(token)
    own = {"Origin": plain.w.api_url}
    for headers in [
        own,
        {**own, "X-CSRF-Token": "wrong"},
        {"Origin": "https://evil.example", "X-CSRF-Token": page_csrf},
        {"X-CSRF-Token": page_csrf},
    ]:
        status, _, body = await plain.ask("POST", "/agent/pause", headers=headers)
        assert (status, body.count("did not come from the agent page")) == (403, 1), (headers, body)
    status, _, body = await plain.ask("POST", "/agent/pause", headers={**own, "X-CSRF-Token": page_csrf})
    assert (status, "is on no call" in body) == (409, True), body
    status, _, _ = await plain.ask("POST", "/agent/logout", data={"csrf": "wrong"}, headers=own)
    assert status == 403
    status, headers, _ = await plain.ask("POST", "/agent/logout", data={"csrf": page_csrf}, headers=own)
    assert (status, headers["Location"]) == (303, "/agent/login?why=logout")
    for path in ("/agent/state", "/agent/events"):
        status, _, body = await plain.ask("GET", path)
        assert status == 401, (path, body)
    status, headers, _ = await plain.ask("GET", "/agent")
    assert (status, headers["Location"]) == (303, "/agent/login")
    # The page's own rows (the token's issue and the seeded device login are on the subject too).
    rows = await plain.w.store.audit("agent/1001")
    actions = [a.action for a in rows if a.action.startswith("agent-page-")]
    assert actions == ["agent-page-login", "agent-page-opened", "agent-page-pause", "agent-page-logout"]


async def test_the_live_stream_says_each_change_and_ends_with_the_token(
    plain: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "HEARTBEAT_SECONDS", 0.3)
    issued = await issue_token(plain.w.store, "1001")
    await plain.log_in(issued.token)
    async with plain.http.get(f"{plain.w.api_url}/agent/events") as stream:
        assert stream.content_type == "text/event-stream"
        events: list[tuple[str, str]] = []

        async def next_event() -> tuple[str, str]:
            name = data = ""
            while True:
                line = (await stream.content.readline()).decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == ": heartbeat":
                    events.append(("heartbeat", ""))
                elif not line and name:
                    return name, data

        assert (await next_event())[0] == "state"
        await plain.w.control("calls", {"queue": "support", "caller": "15550702"})
        while '"state":"recording"' not in (event := await next_event())[1]:
            assert event[0] == "state", event
        await revoke_token(plain.w.store, issued.id)
        while (event := await next_event())[0] == "state":
            pass
        assert event == ("ended", '{"why":"revoked"}')
        assert ("heartbeat", "") in events
    await plain.w.control("hangup", {"customer": "15550702"})
    await asyncio.wait_for(plain.w.reports.get(), 15)


async def test_over_tls_the_session_cookie_is_secure_and_host_only(tmp_path: Path) -> None:
    certificate, key = self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(certificate))
    async with (
        world(tmp_path, QUEUES, AGENTS, api=tls_api(certificate, key)) as w,
        aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(ssl=trusted)
        ) as http,
    ):
        assert w.api_url.startswith("https://")
        client = Client(w, http)
        token = (await issue_token(w.store, "1001")).token
        _, headers, form = await client.ask("GET", "/agent/login")
        assert "Secure" in headers["Set-Cookie"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        async with http.post(
            f"{w.api_url}/agent/login",
            data={"token": token, "csrf": csrf[1]},
            headers={"Origin": w.api_url},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
            (session,) = [c for c in r.headers.getall("Set-Cookie") if c.startswith("__Host-ari-agent=")]
        assert "Secure" in session and "HttpOnly" in session and "Path=/;" in session + ";"
        status, _, _ = await client.ask("GET", "/agent/state")
        assert status == 200
