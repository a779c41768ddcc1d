"""Two `ari-recorder run` processes on one PostgreSQL against a real Asterisk: the leader is
SIGKILLed mid-call; the standby takes over, adopts the call, and takes a call placed 0.5 s after
the kill (the kit's dialplan retries Stasis() meanwhile). No call and no recording lost."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from tests.asterisk.controller import Controller
from tests.asterisk.harness import Asterisk
from tests.support.audio import duration, seconds_of, summary, tone_runs
from tests.test_leadership import postgres  # noqa: F401 (the fixture: a schema of its own)

BOTH = frozenset({440, 1000})


def agent(ext: str) -> dict[str, Any]:
    return {"endpoint": f"Local/{ext}@agent-phone", "permit_recordings": True, "record_percent": 100}


async def test_the_leader_killed_mid_call(
    asterisk: Asterisk,
    tmp_path: Path,
    postgres: dict[str, str],  # noqa: F811
) -> None:
    shared: dict[str, Any] = {
        "home": tmp_path / "controllers",
        "ari_url": asterisk.url,
        "ari_password": asterisk.password,
        "agents": {"1001": agent("1001"), "1002": agent("1002")},
        "queues": {"support": {"agents": ["1001", "1002"], "announcement": "sim/announcement"}},
        "postgres": postgres,
    }
    leader, standby = Controller(**shared), Controller(**shared)
    try:
        await leader.start()
        await standby.start(ready="leadership: standby")
        await asterisk.originate_local("support")
        await leader.said("action=connected record=yes")
        first_began = time.monotonic()
        await asyncio.sleep(1.5)
        since = len(standby.lines)
        assert leader.process is not None
        killed = time.monotonic()
        leader.process.send_signal(signal.SIGKILL)
        await asyncio.sleep(0.5)
        await asterisk.originate_local("support")  # while no controller is connected
        line = await standby.said("ari connected", seconds=10, since=since)
        took = standby.heard_at[standby.lines.index(line, since)] - killed
        print(f"\ntakeover after SIGKILL on a real Asterisk: {took:.3f} s")
        assert took < 3.0
        await standby.said("action=connected record=yes", since=since)
        second_began = time.monotonic()
        await asyncio.sleep(2)
        for customer in [
            c for c in await asterisk.channels("Local/support@inbound-") if c["name"].endswith(";1")
        ]:
            await asterisk.ari("DELETE", f"/channels/{customer['id']}")
        ended = time.monotonic()
        delivered = await standby.deliveries(2, seconds=60)
        assert sorted(d.agent for d in delivered) == ["1001", "1002"], [d.sidecar for d in delivered]
        for d, began in zip(delivered, (first_began, second_began), strict=True):
            runs = tone_runs(d.audio)
            # the first call's recording went on in Asterisk while no controller was there
            assert seconds_of(runs, BOTH) > (ended - began) - 0.7, (d.agent, summary(runs), ended - began)
            assert duration(d.audio) < (ended - began) + 0.7, (d.agent, duration(d.audio))
        await asterisk.wait_empty()
        assert not standby.errors(), standby.errors()
    finally:
        await standby.stop()
        await leader.stop()
