"""Calls made of Local channels against a real Asterisk: the handsets speak tones (customer
440 Hz, agents 1000 Hz), so who is heard when can be read from the delivered file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.asterisk.controller import running_controller
from tests.asterisk.harness import Asterisk
from tests.support.audio import duration, seconds_of, summary, tone_runs

BOTH = frozenset({440, 1000})
AGENT_1001 = {"endpoint": "Local/1001@agent-phone", "permit_recordings": True, "record_percent": 100}


async def test_an_inbound_call_is_recorded_on_the_agent_side(asterisk: Asterisk, tmp_path: Path) -> None:
    async with running_controller(
        home=tmp_path / "controller",
        ari_url=asterisk.url,
        ari_password=asterisk.password,
        agents={"1001": AGENT_1001},
        queues={"support": {"agents": ["1001"], "announcement": "sim/announcement"}},
    ) as controller:
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(4)
        await asterisk.hang_up_local_customer()
        talked = time.monotonic() - connected
        [delivered] = await controller.deliveries(1)
        runs = tone_runs(delivered.audio)
        # From the agent's answer to the hangup, both voices; never the announcement (660 Hz).
        assert seconds_of(runs, BOTH) > 0.9 * duration(delivered.audio), summary(runs)
        assert not any(660 in r.tones for r in runs), summary(runs)
        assert abs(duration(delivered.audio) - talked) < 0.5, (duration(delivered.audio), talked)
        sidecar = delivered.sidecar
        assert (sidecar["agent"], sidecar["queue"], sidecar["side"], sidecar["segment"]) == (
            "1001",
            "support",
            "agent",
            1,
        )
        assert sidecar["levels"] == [{"level": "agent", "by": "1001"}]
        assert [a["subject"] for a in controller.audit("delivered")] == [sidecar["recording"]] * 2
    await asterisk.wait_empty()
