"""Hot-desking against a real Asterisk: agent 3002 logs in on desk phone 3001 (PJSIP/3001),
displacing 3001; a queue call rings that SIP phone for 3002, whose consent decides the segment,
and the phone's keys (RFC 4733) pause 3002's recording."""

from __future__ import annotations

from pathlib import Path

from tests.asterisk.controller import the_keys_pause
from tests.asterisk.test_sip_calls import site


async def test_the_desk_phone_rings_for_the_agent_logged_in_on_it(tmp_path: Path) -> None:
    agents = {
        "3001": {"endpoint": "PJSIP/3001", "permit_recordings": False},
        "3002": {"endpoint": "PJSIP/3002", "permit_recordings": True, "record_percent": 100},
        "3003": {"endpoint": "PJSIP/3003", "permit_recordings": True, "record_percent": 100},
    }
    queues = {"support": {"agents": ["3001", "3002"], "announcement": "recording-notice"}}
    async with site(tmp_path, agents=agents, queues=queues) as s:
        status, body = await s.controller.http("POST", "/agents/3002/login", {"endpoint": "PJSIP/3001"})
        assert (status, body["displaced"]) == (200, "3001"), body
        keys = {"keys1": "*7", "keys1_at_ms": 1500, "keys2": "*8", "keys2_at_ms": 4000}
        async with s.phone("agent-answer.xml", "3001", **keys) as desk:
            async with s.phone("customer-call.xml", queue="support", hangup_after_ms=13000) as customer:
                await customer.check(30)
            await desk.check(10)
        [delivered] = await s.controller.deliveries(1)
        assert await s.controller.said('agent=3001 action=skip why="logged in nowhere"')
    assert delivered.agent == "3002" and delivered.sidecar["agent"] == "3002"
    the_keys_pause(delivered, "3002", "silence", seconds=(2.0, 3.0))
