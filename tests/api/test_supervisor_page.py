"""The supervisor page (/supervisor) in a real browser (Debian's chromium, driven by Playwright)
against the controller on the simulator, and its refusals over plain HTTP; the pages' sessions
kept over a controller's restart.

The browser test follows a call through the page of a supervisor of team blue: it arrives, its
segment is recorded, the agent pauses and resumes, it is transferred to the other agent of the
team, it ends; a supervisor of team green sees none of it. A compliance officer opens its
timeline (lanes, the pause, the transfer; the agent's name, `<script>` and `&` in it, shown as
text); the administrator retries a dead delivery. Screenshots (supervisor-page.png, timeline.png)
and the picture itself (timeline.svg) in var/screenshots/supervisor-page/ (ARI_RECORDER_SCREENSHOTS
elsewhere); README shows copies of them from docs/.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from ari_recorder.api.pages import supervisor as pages
from ari_recorder.delivery import DeliverySettings, generate_keypair
from ari_recorder.domain.access import Privilege, Role, holds
from ari_recorder.settings import AgentSettings, ApiSettings, QueueSettings
from ari_recorder.storage.tokens import issue_token, revoke_token
from tests.support.browser import PageClient, Watched, needs_chromium, open_page
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, connected, world

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("ARI_RECORDER_SCREENSHOTS", ROOT / "var" / "screenshots" / "supervisor-page"))
HOSTILE = '<script>alert("x")</script> & Co'
AGENTS = {
    "1001": AgentSettings(
        endpoint="Local/1001@agent-phone",
        permit_recordings=True,
        record_percent=100,
        team="blue",
        name=f"Ann {HOSTILE}",
    ),
    "1002": AgentSettings(
        endpoint="Local/1002@agent-phone", permit_recordings=True, record_percent=100, team="blue", name="Bob"
    ),
    "2001": AgentSettings(endpoint="Local/2001@agent-phone", permit_recordings=True, team="green"),
}
QUEUES = {"support": QueueSettings(agents=["1001"]), "green": QueueSettings(agents=["2001"])}
CUSTOMER = "15550800"


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def log_in(watched: Watched, token: str) -> None:
    page = watched.page
    await page.goto("/supervisor")
    await expect(page).to_have_url(re.compile(r"/supervisor/login$"))
    await expect(page.get_by_label("Your token")).to_be_focused()
    await page.get_by_label("Your token").fill(token)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/supervisor$"))
    await expect(page.locator("#connection")).to_have_text("Live")


async def api(w: World, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with w.http.request(method, f"{w.api_url}{path}", json=body, headers=headers) as r:
        assert r.status < 300, await r.text()
        return await r.json()


@needs_chromium
async def test_a_supervisor_watches_a_call_and_its_transfer_live(
    tmp_path: Path, browser: Browser, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "HEARTBEAT_SECONDS", 0.5)  # a revoked token noticed within it
    delivery = DeliverySettings(
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
        age_recipients=[generate_keypair(tmp_path / "platform.key")],
    )
    async with world(tmp_path, QUEUES, AGENTS, delivery=delivery) as w:
        blue = await issue_token(w.store, None, role=Role.SUPERVISOR, teams=["blue"])
        green = await issue_token(w.store, None, role=Role.SUPERVISOR, teams=["green"])
        compliance = await issue_token(w.store, None, role=Role.COMPLIANCE)
        context, watched = await open_page(browser, w, width=1280, height=900)
        page = watched.page
        await log_in(watched, blue.token)
        await expect(page.locator("#who")).to_contain_text("teams blue")
        await expect(page.locator("#no-calls")).to_be_visible()
        # The parts its role holds are shown: the delivery queue (its scope's), not its retry.
        assert await page.locator("#deliveries").is_visible()
        timeline_shown = holds(Role.SUPERVISOR, Privilege.INTERACTIONS_READ)
        assert await page.locator("#timeline-section").is_hidden() != timeline_shown
        other_context, other = await open_page(browser, w, width=1280)
        await log_in(other, green.token)

        # A call arrives: who talks to whom, recorded.
        await w.control("calls", {"queue": "support", "caller": CUSTOMER})
        row = page.locator("#call-rows tr").first
        await expect(row).to_contain_text(CUSTOMER)
        await expect(row).to_contain_text(f"talking to Ann {HOSTILE} (1001)")
        await expect(row.locator(".badge")).to_have_text("Recording")
        await expect(row.locator("li[data-segment='1']")).to_have_text(f"Ann {HOSTILE} (1001): recorded")
        call = await connected(w, "1001")

        # The agent pauses (by the API, as its desktop does): paused, by whom, for how long.
        await api(w, "POST", "/api/v1/agents/1001/recording/pause")
        await expect(row.locator(".badge")).to_have_text(re.compile(r"^Paused"))
        await expect(row).to_contain_text("by admin from the desktop, for")
        await expect(row.locator(".pause-timer")).to_have_text("0:01")
        await page.screenshot(path=SHOTS / "supervisor-page.png", full_page=True)
        await api(w, "POST", "/api/v1/agents/1001/recording/resume")
        await expect(row.locator(".badge")).to_have_text("Recording")

        # A transfer, as it happens: the second segment, with the other agent.
        await api(w, "POST", f"/api/v1/calls/{call.id}/transfer", {"agent": "1002"})
        await expect(row.locator("li[data-segment='2']")).to_have_text("Bob (1002): recorded")
        await expect(row).to_contain_text("talking to Bob (1002)")
        await page.screenshot(path=shots / "transferred.png", full_page=True)

        # The supervisor of another team saw none of it.
        await expect(other.page.locator("#no-calls")).to_be_visible()
        assert CUSTOMER not in await other.page.content()
        seen = await other.page.evaluate("fetch('/supervisor/state').then(r => r.json())")
        assert seen == {"calls": []}

        await w.control("hangup", {"customer": CUSTOMER})
        await asyncio.wait_for(w.reports.get(), 15)
        await expect(row.locator(".badge")).to_have_text("Ended")
        await page.screenshot(path=shots / "ended.png", full_page=True)
        await expect(row).to_contain_text("(ended)")

        # The supervisor opens the call's timeline from its row; the other team's cannot have it.
        await row.get_by_role("button", name="Timeline").click()
        await expect(page.locator("#timeline svg g.segment")).to_have_count(2)
        await expect(page.locator("#timeline svg g.transfer-mark")).to_have_count(1)
        refused = await other.page.evaluate(f"fetch('/supervisor/timeline/{call.id}').then(r => r.status)")
        assert refused == 404

        # The token revoked: the live stream notices, and the page is the login form again.
        await revoke_token(w.store, blue.id)
        await expect(page).to_have_url(re.compile(r"/supervisor/login\?why=ended$"))
        await expect(page.locator("#message")).to_contain_text("session has ended")

        # A compliance officer opens the call's timeline, once its files are delivered: its lanes,
        # the pause, the transfer, the gap checks, the files.
        async def delivered() -> bool:
            page = await api(w, "GET", "/api/v1/deliveries?state=done")
            return len(page["items"]) == 4  # each segment's audio and metadata

        await until(delivered, what="both segments' files delivered", every=0.2)
        # A supervisor's delivery queue holds its scope's files only (the audio and metadata of
        # the call's two segments, both agents of team blue); team green's, none of them.
        for team, count in (("blue", 4), ("green", 0)):
            scoped = await issue_token(w.store, None, role=Role.SUPERVISOR, teams=[team])
            bearer = {"Authorization": f"Bearer {scoped.token}"}
            async with w.http.get(f"{w.api_url}/api/v1/deliveries?state=done", headers=bearer) as r:
                assert (r.status, len((await r.json())["items"])) == (200, count), team
        officer_context, officer = await open_page(browser, w, width=1280, height=900)
        await log_in(officer, compliance.token)
        await officer.page.get_by_label("Interaction id").fill(call.id)
        await officer.page.get_by_role("button", name="Show").click()
        picture = officer.page.locator("#timeline svg")
        await expect(picture.locator("g.segment")).to_have_count(2)
        await expect(picture.locator("rect.pause")).to_have_count(1)
        await expect(picture.locator("g.transfer-mark")).to_have_count(1)
        await expect(picture.locator("g.segment").first).to_contain_text(f"Ann {HOSTILE} (1001)")
        await expect(picture).to_contain_text("audio: done, delivered")
        await expect(picture).to_contain_text("no recording gap")
        await expect(picture).to_contain_text("transfer to Bob")
        assert await picture.locator("script").count() == 0
        await officer.page.locator("#timeline-section").screenshot(path=SHOTS / "timeline.png")
        async with officer.page.expect_download() as downloading:
            await officer.page.get_by_role("link", name="Download the timeline (SVG)").click()
        download = await downloading.value
        assert download.suggested_filename == f"timeline-{call.id}.svg"
        await download.save_as(SHOTS / "timeline.svg")
        problems = watched.problems + other.problems + officer.problems
        for opened in (context, other_context, officer_context):
            await opened.close()
        audit = await w.store.audit(f"token/{blue.id}")
        read = [a for a in await w.store.audit(call.id) if a.action == "interaction-read"]
    svg = (SHOTS / "timeline.svg").read_text()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in svg and "<script" not in svg
    assert not [p for p in problems if "Content Security Policy" in p or "Error" in p], problems
    actions = [a.action for a in audit]
    assert actions[:3] == ["token-issued", "supervisor-page-login", "supervisor-page-opened"], actions
    assert actions[-2:] == ["token-revoked", "supervisor-page-ended"], actions
    assert [a.actor for a in read] == [f"supervisor/{blue.id}", f"supervisor/{green.id}"] + [
        f"compliance/{compliance.id}"
    ] * 2, "the supervisors' (one out of its reach) and the officer's: the page's and the download's"


# ----- over plain HTTP -----


class Client(PageClient):
    async def log_in(self, token: str, page: str = "supervisor") -> tuple[int, str]:
        return await self.try_log_in(token, page)


def _api(frame_ancestors: str = "'self'") -> ApiSettings:
    return ApiSettings(port=0, admin_token=ADMIN_TOKEN, page_frame_ancestors=frame_ancestors)


async def test_only_supervisors_compliance_and_administrators_log_in(tmp_path: Path) -> None:
    async with (
        world(tmp_path, QUEUES, AGENTS, api=_api("'self' https://wall.example.com")) as w,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        client = Client(w, http)
        status, headers, _ = await client.ask("GET", "/supervisor/login")
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert policy.endswith("frame-ancestors 'self' https://wall.example.com")
        for role, agent in [(Role.AGENT, "1001"), (Role.CHAT_PLATFORM, None)]:
            token = (await issue_token(w.store, agent, role=role)).token
            status, body = await client.log_in(token)
            assert status == 401 and "Only a supervisor" in body, (role, body)
            assert (await client.ask("GET", "/supervisor/state"))[0] == 401
        status, _ = await client.log_in("ari_000000000000.nope")
        assert status == 401
        for token in [
            ADMIN_TOKEN,
            (await issue_token(w.store, None, role=Role.ADMINISTRATOR)).token,
            (await issue_token(w.store, None, role=Role.COMPLIANCE)).token,
            (await issue_token(w.store, None, role=Role.SUPERVISOR, partitions=["emea"])).token,
        ]:
            http.cookie_jar.clear()
            status, _ = await client.log_in(token)
            assert status == 303
            assert (await client.ask("GET", "/supervisor/state"))[0] == 200
        # A supervisor's session opens the supervisor page only: the agent page asks for its login.
        status, headers, _ = await client.ask("GET", "/agent")
        assert (status, headers["Location"]) == (303, "/agent/login")
        refused = [
            a for a in await w.store.audit("supervisor-page") if a.action == "supervisor-page-login-refused"
        ]
        assert [a.detail["why"] for a in refused] == ["not-supervisor", "not-supervisor", "unknown"]


async def test_the_delivery_queue_read_and_a_dead_file_retried_by_an_administrator_only(
    tmp_path: Path,
) -> None:
    async with (
        world(tmp_path, QUEUES, AGENTS, api=_api()) as w,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        dead = await _dead_delivery(w)
        compliance = Client(w, http)
        _, csrf = await compliance.log_in((await issue_token(w.store, None, role=Role.COMPLIANCE)).token)
        status, _, body = await compliance.ask("GET", "/supervisor/deliveries?state=dead")
        assert status == 200 and f'"id": "{dead}"' in body and "sftp: connection refused" in body
        status, _, body = await compliance.ask("GET", "/supervisor/deliveries?state=nonsense")
        assert status == 400 and "state must be one of" in body
        own = {"Origin": w.api_url, "X-CSRF-Token": csrf}
        status, _, body = await compliance.ask(
            "POST", "/supervisor/deliveries/retry", json={"id": dead}, headers=own
        )
        assert (status, '"forbidden-role"' in body) == (403, True), body

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            admin = Client(w, other)
            _, csrf = await admin.log_in(ADMIN_TOKEN)
            own = {"Origin": w.api_url, "X-CSRF-Token": csrf}
            for headers in [{**own, "X-CSRF-Token": "wrong"}, {**own, "Origin": "https://evil.example"}]:
                status, _, body = await admin.ask(
                    "POST", "/supervisor/deliveries/retry", json={"id": dead}, headers=headers
                )
                assert (status, "did not come from the supervisor page" in body) == (403, True), body
            status, _, body = await admin.ask(
                "POST", "/supervisor/deliveries/retry", json={"id": dead}, headers=own
            )
            assert status == 200 and '"previous_error": "sftp: connection refused"' in body, body
            status, _, body = await admin.ask(
                "POST", "/supervisor/deliveries/retry", json={"id": dead}, headers=own
            )
            assert (status, '"not-dead"' in body) == (409, True), body
        trail = await w.store.audit(dead.split("/")[0])
        assert [(a.action, a.actor) for a in trail if a.action == "delivery-retry"] == [
            ("delivery-retry", "admin")
        ]
        page_rows = [a for a in await w.store.audit("admin") if a.action == "supervisor-page-retry"]
        assert [a.detail["error"] for a in page_rows] == [None, "not-dead"]


async def _dead_delivery(w: World) -> str:
    """A dead row in the queue (its recording is a made-up one): what an outage leaves."""
    from datetime import UTC, datetime

    from ari_recorder.storage.tables import DeliveryRow

    now = datetime.now(UTC)
    async with w.store.sessions.begin() as session:
        session.add(
            DeliveryRow(
                id="rec-dead/audio",
                recording="rec-dead",
                kind="audio",
                state="dead",
                attempts=5,
                next_attempt_at=now,
                last_error="sftp: connection refused",
                remote_path="2026/rec-dead.wav.age",
                spool_path="rec-dead.wav.age",
                created_at=now,
            )
        )
    return "rec-dead/audio"


async def test_the_api_lists_and_retries_deliveries_and_draws_timelines(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, AGENTS, api=_api()) as w:
        dead = await _dead_delivery(w)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        url = f"{w.api_url}/api/v1/deliveries"
        async with w.http.get(f"{url}?state=failing", headers=admin) as r:
            assert (r.status, (await r.json())["items"]) == (200, [])
        async with w.http.get(f"{url}?state=dead&limit=1", headers=admin) as r:
            page = await r.json()
        assert [(i["id"], i["attempts"], i["last_error"]) for i in page["items"]] == [
            (dead, 5, "sftp: connection refused")
        ]
        assert page["more"] is False and page["limit"] == 1
        async with w.http.get(f"{url}?limit=0", headers=admin) as r:
            assert (r.status, (await r.json())["id"]) == (400, "invalid-query")
        async with w.http.post(f"{url}/retry", json={"id": "no-such/audio"}, headers=admin) as r:
            assert (r.status, (await r.json())["id"]) == (404, "no-such-delivery")
        async with w.http.post(f"{url}/retry", json={"id": dead}, headers=admin) as r:
            assert r.status == 200 and (await r.json())["state"] == "pending"

        await w.control("calls", {"queue": "support", "caller": CUSTOMER})
        call = await connected(w, "1001")
        await w.control("hangup", {"customer": CUSTOMER})
        await asyncio.wait_for(w.reports.get(), 15)
        async with w.http.get(f"{w.api_url}/api/v1/interactions/{call.id}/timeline.svg", headers=admin) as r:
            assert r.status == 200 and r.content_type == "image/svg+xml"
            assert r.headers["Content-Disposition"] == f'attachment; filename="timeline-{call.id}.svg"'
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
            svg = await r.text()
        assert "<title>Ann &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co (1001)</title>" in svg
        assert "<script" not in svg
        async with w.http.get(f"{w.api_url}/api/v1/interactions/nothing/timeline.svg", headers=admin) as r:
            assert (r.status, (await r.json())["id"]) == (404, "no-such-interaction")
        # A supervisor draws the timelines of its scope's interactions only; another's is unknown.
        for team, status in (("blue", 200), ("green", 404)):
            supervisor = await issue_token(w.store, None, role=Role.SUPERVISOR, teams=[team])
            bearer = {"Authorization": f"Bearer {supervisor.token}"}
            async with w.http.get(
                f"{w.api_url}/api/v1/interactions/{call.id}/timeline.svg", headers=bearer
            ) as r:
                assert r.status == status, team


async def test_a_restart_keeps_the_agents_page_session(tmp_path: Path) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with world(tmp_path, QUEUES, AGENTS) as w:
            token = await issue_token(w.store, "1001")
            status, csrf = await Client(w, http).log_in(token.token, "agent")
            assert status == 303
        async with world(tmp_path, QUEUES, AGENTS) as w:  # the same database, a new controller
            client = Client(w, http)
            status, _, state = await client.ask("GET", "/agent/state")
            assert status == 200 and '"agent": "1001"' in state
            status, _, body = await client.ask(
                "POST", "/agent/pause", headers={"Origin": w.api_url, "X-CSRF-Token": csrf}
            )
            assert (status, "is on no call" in body) == (409, True), "the same CSRF token: the same session"
            await revoke_token(w.store, token.id)
            assert (await client.ask("GET", "/agent/state"))[0] == 401
