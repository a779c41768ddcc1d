"""RECORDING-RULES.md's transfer table, row by row, for both record sides, end to end: a call on
the simulator, A answers, a supervisor transfers it to B through the API, the WAVs measured."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ari_recorder.domain.policy import InteractionId, Level, drawn
from ari_recorder.settings import AgentSettings, QueueSettings
from tests.support.audio import duration, tone_runs
from tests.support.world import ADMIN_TOKEN, world

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True),
    "1003": AgentSettings(endpoint="Local/1003@agent-phone", permit_recordings=False, record_percent=100),
    "1004": AgentSettings(endpoint="Local/1004@agent-phone", permit_recordings=True, record_percent=30),
}
A_TALKS, B_TALKS = 1.5, 1.5  # seconds; the agents' phones answer at once


@pytest.mark.parametrize("side", ["agent", "customer"])
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1001", "1004"),  # A recorded (100%) -> B at 30%
        ("1001", "1002"),  # A recorded -> B at 0 or blank
        ("1002", "1001"),  # A at 0 or blank -> B above 0
        ("1001", "1003"),  # A recorded -> B not permitted
    ],
)
async def test_a_row_of_the_transfer_table(tmp_path: Path, side: str, a: str, b: str) -> None:
    queues = {"support": QueueSettings(agents=[a], record_side=side)}  # type: ignore[arg-type]
    async with world(tmp_path, queues, AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": "15550300"})
        await asyncio.sleep(1.5 + A_TALKS)  # the announcement, then A and the customer
        assert w.controller is not None
        (live,) = [c.id for c in w.controller.live_calls()]
        async with w.http.post(
            f"{w.api_url}/api/v1/calls/{live}/transfer",
            json={"agent": b},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as r:
            assert r.status == 202, await r.text()
        await asyncio.sleep(B_TALKS)
        await w.control("hangup", {"customer": "15550300"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        first, second = report.call.segments
        files = {s.recording: await w.fetch(s.recording) for s in (first, second) if s.recording}
        stored = (await w.state())["stored_recordings"]
    assert (first.agent, second.agent) == (a, b)
    b_drawn = drawn(InteractionId(report.call.id), Level.AGENT, "1004", 30)
    if side == "agent":
        # Each agent's file holds that agent's time with the customer, and only if selected.
        expected = {"1001": True, "1002": False, "1003": False, "1004": b_drawn}
        recorded = {s.agent for s in (first, second) if s.recording}
        assert recorded == {agent for agent in (a, b) if expected[agent]}
        assert len(files) == len(recorded) == len(stored)
        for path in files.values():
            assert 1.3 < duration(path) < 2.0
            assert {440, 1000} in [r.tones for r in tone_runs(path)]
    else:
        # One recording, from the first recorded agent's answer, across the transfer, until the
        # customer leaves -- or, when B is not permitted, until B answers, for good.
        (path,) = files.values()
        assert len(stored) == 1
        if a == "1002":
            assert second.recording is not None and first.recording is None
            assert 1.3 < duration(path) < 2.0, "from B's answer on"
        elif b == "1003":
            assert second.recording is None
            assert 1.3 < duration(path) < 2.0, "stopped when B answered"
        else:
            assert first.recording == second.recording
            assert 2.8 < duration(path) < 3.6, "on across the transfer"
