"""Hot-desking end to end on the simulator: agents log in on a shared desk's phone; the queue
dials the agent where it is logged in, the segment is decided by that agent's consent, and keys
pressed on that phone pause that agent's recording."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.settings import AgentSettings, QueueSettings
from ari_recorder.storage import logins
from ari_recorder.storage.tokens import issue_token
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, connected, world

DESK = "Local/1001@agent-phone"  # 1001's phone, the shared desk; the simulator's phone "1001"


async def api(w: World, path: str, body: Any = None, token: str = ADMIN_TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with w.http.post(f"{w.api_url}/api/v1/{path}", json=body, headers=headers) as r:
        return r.status, await r.json()


def paused(w: World, agent: str) -> bool | None:
    calls = w.controller.live_calls() if w.controller else []
    call = next((c for c in calls if c.segment is not None and c.segment.agent == agent), None)
    return None if call is None else call.pause is not None


async def test_the_desk_rings_for_the_agent_logged_in_on_it_with_its_consent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    agents = {
        "1001": AgentSettings(endpoint=DESK, permit_recordings=True, record_percent=100),
        "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=False),
    }
    queues = {"support": QueueSettings(agents=["1001", "1002"], record_percent=100)}
    async with world(tmp_path, queues, agents, compliance_all=True) as w:
        issued = await issue_token(w.store, "1002")
        # An agent's token acts for its own agent only; an endpoint must look like one.
        status, body = await api(w, "agents/1001/logout", token=issued.token)
        assert status == 403, body
        status, body = await api(w, "agents/1002/login", {"endpoint": "desk 7"}, token=issued.token)
        assert (status, body["id"]) == (422, "bad-endpoint") and body["error"].startswith("endpoint:"), body
        status, body = await api(w, "agents/1002/login", {"endpoint": DESK}, token=issued.token)
        assert (status, body) == (
            200,
            {"agent": "1002", "endpoint": DESK, "before": "Local/1002@agent-phone", "displaced": "1001"},
        )
        status, body = await api(w, "agents/1001/logout")  # logged out already: nothing changes
        assert (status, body["endpoint"], body["before"]) == (200, None, None)
        await w.control("calls", {"queue": "support", "caller": "15550100"})
        call = await connected(w, "1002")
        assert call.agents[1].endpoint == DESK
        # Nobody dials an agent logged in nowhere: no transfer to it, no call placed for it.
        status, body = await api(w, f"calls/{call.id}/transfer", {"agent": "1001"})
        assert (status, body["error"]) == (409, "agent 1001 is logged in nowhere"), body
        status, body = await api(w, "calls", {"agent": "1001", "to": "15550199"})
        assert (status, body["error"]) == (409, "agent 1001 is logged in nowhere"), body
        await asyncio.sleep(0.5)
        await w.control("hangup", {"customer": "15550100"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        left = await w.state()
        # Read while the store is open: read after the world closed it, the store opened a
        # connection nobody closed (aiosqlite's "Connection.__del__" warning, in whichever test
        # ran when it was collected).
        trail = await w.store.audit("agent/1001")
    (segment,) = report.call.segments
    assert (segment.agent, segment.recording) == ("1002", None)  # 1002's refusal, not 1001's consent
    assert left["stored_recordings"] == []
    assert 'agent=1001 action=skip why="logged in nowhere"' in caplog.text
    assert f"agent=1002 action=dial endpoint={DESK}" in caplog.text
    actions = [(r.action, r.actor, r.detail["after"]) for r in trail]
    assert actions == [("agent-login", "seed", DESK), ("agent-logout", "1002", None)]


async def test_keys_on_the_desk_pause_the_recording_of_the_agent_logged_in_on_it(tmp_path: Path) -> None:
    agents = {
        "1001": AgentSettings(endpoint=DESK, permit_recordings=False),
        "1002": AgentSettings(permit_recordings=True, record_percent=100),  # no default device
    }
    async with world(tmp_path, {"support": QueueSettings(agents=["1002"])}, agents) as w:
        assert w.controller is not None
        # As another controller or the CLI would: straight into the database; seen within ~1 s.
        await logins.login(w.store, "1002", DESK, by="cli")
        await until(lambda: w.controller.logins.where("1002") == DESK, what="the login seen", timeout=5)  # type: ignore[union-attr]
        assert w.controller.logins.where("1001") is None
        await w.control("calls", {"queue": "support", "caller": "15550101"})
        call = await connected(w, "1002")
        assert call.segment is not None and call.segment.recording is not None
        await asyncio.sleep(0.3)
        await w.control("dtmf", {"agent": "1001", "digits": "*7", "duration_ms": 120, "gap_ms": 250})
        await until(
            lambda: paused(w, "1002") is True, what="1002's recording paused by the desk's keys", timeout=5
        )
        await w.control("dtmf", {"agent": "1001", "digits": "*8", "duration_ms": 120, "gap_ms": 250})
        await until(lambda: paused(w, "1002") is False, what="1002's recording resumed", timeout=5)
        await w.control("hangup", {"customer": "15550101"})
        report = await asyncio.wait_for(w.reports.get(), 15)
    (segment,) = report.call.segments
    assert segment.agent == "1002" and segment.recording is not None and "1002" in segment.recording
    assert [p.by for p in report.call.pauses] == ["1002"]
