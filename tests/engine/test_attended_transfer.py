"""An agent's attended transfer from a SIP phone, carried out by Asterisk, end to end on the
simulator's model of it (Asterisk's testsuite order; no recorded trace exists): the Local channel
that takes the agent's place is recorded by the rules for the target agent."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ari_recorder.settings import QueueSettings
from tests.engine.test_inbound_calls import SIP_AGENTS
from tests.support.audio import duration, summary, tone_runs
from tests.support.world import world


@pytest.mark.parametrize(("target", "recorded"), [("3002", True), ("3003", False)])
@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_an_attended_transfer_records_the_target_by_the_rules(
    tmp_path: Path, side: str, target: str, recorded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    queues = {"support": QueueSettings(agents=["3001"], record_side=side)}  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS, phone_transfers="asterisk") as w:
        await w.control("calls", {"queue": "support", "caller": "15550700", "via": "sip"})
        await asyncio.sleep(1.5 + 1.5)  # announcement, then A and the customer talk
        await w.control("attended_transfer", {"agent": "3001", "to": target})
        await asyncio.sleep(2.5 + 2.0)  # A consults B, completes; B and the customer talk
        live = w.controller.live_calls() if w.controller else []
        await w.control("hangup", {"customer": "15550700"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        files = {s.recording: await w.fetch(s.recording) for s in report.call.segments if s.recording}
        for _ in range(100):  # the Local pair and the target go down a moment after the call
            left = await w.state()
            if not left["channels"]:
                break
            await asyncio.sleep(0.05)
    assert [(c.phase.value, c.segment.agent if c.segment else None) for c in live] == [("connected", target)]
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []
    a, b = report.call.segments
    assert (a.agent, b.agent) == ("3001", target)
    if side == "agent":
        assert a.recording is not None and (b.recording is not None) == recorded
        assert 1.3 < duration(files[a.recording]) < 5.0
        if b.recording is not None:
            runs = tone_runs(files[b.recording])
            assert {440, 1000} in [r.tones for r in runs], summary(runs)
    elif recorded:
        assert a.recording == b.recording, "one recording across the transfer"
    else:
        assert b.recording is None, "stopped for good when a non-permitted agent took the call"
