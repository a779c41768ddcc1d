"""RECORDING-RULES.md's transfer table, row by row, for both record sides, end to end: a call on
the simulator, A answers, a supervisor transfers it to B through the API, the WAVs measured."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ari_recorder.domain.policy import InteractionId, Level, drawn
from ari_recorder.settings import AgentSettings, QueueSettings
from tests.support.audio import duration, tone_runs
from tests.support.world import ADMIN_TOKEN, SLACK, connected, world

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True),
    "1003": AgentSettings(endpoint="Local/1003@agent-phone", permit_recordings=False, record_percent=100),
    "1004": AgentSettings(endpoint="Local/1004@agent-phone", permit_recordings=True, record_percent=30),
}
A_TALKS, B_TALKS = 1.5, 1.5  # seconds, from the agent's answer and its recording confirmed


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
        live = (await connected(w, a)).id
        a_since = time.monotonic()
        await asyncio.sleep(A_TALKS)  # A and the customer talk: the scenario
        async with w.http.post(
            f"{w.api_url}/api/v1/calls/{live}/transfer",
            json={"agent": b},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as r:
            assert r.status == 202, await r.text()
        await connected(w, b)
        b_since = time.monotonic()
        await asyncio.sleep(B_TALKS)
        await w.control("hangup", {"customer": "15550300"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        # Upper bounds on the files: the time the test saw pass, however loaded the machine.
        took = {a: b_since - a_since, b: time.monotonic() - b_since}
        both = time.monotonic() - a_since
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
        for segment in (first, second):
            if segment.recording:
                path = files[segment.recording]
                assert 1.4 < duration(path) < took[segment.agent] + SLACK
                assert {440, 1000} in [r.tones for r in tone_runs(path)]
    else:
        # One recording, from the first recorded agent's answer, across the transfer, until the
        # customer leaves -- or, when B is not permitted, until B answers, for good.
        (path,) = files.values()
        assert len(stored) == 1
        if a == "1002":
            assert second.recording is not None and first.recording is None
            assert 1.4 < duration(path) < took[b] + SLACK, "from B's answer on"
        elif b == "1003":
            assert second.recording is None
            assert 1.4 < duration(path) < took[a] + SLACK, "stopped when B answered"
        else:
            assert first.recording == second.recording
            assert 2.9 < duration(path) < both + SLACK, "on across the transfer"
