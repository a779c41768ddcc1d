"""Pausing end to end on the simulator: by the agent's keys and by the agent desktop API, in both
behaviours, the WAV measured against the times the test asked; auto-resume, transfer, hangup.

The customer's phone goes quiet a little before the pause and speaks again a little after the
resume: those landmarks place the pause in the file without trusting the controller's own clocks.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.settings import AgentSettings, QueueSettings
from tests.support.audio import Run, read_wav, strength, summary, tone_runs
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, connected, world

# Pause edges within 40 ms of the requests: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True, record_percent=100),
}
QUEUES = {"support": QueueSettings(agents=["1001"])}
KEY_MS, GAP_MS = 120, 250  # the simulator's key length and gap (/sim/dtmf)
TOLERANCE = 0.04  # seconds: the issue's bound between a request and the file


async def api(w: World, method: str, path: str, token: str = ADMIN_TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with w.http.request(method, f"{w.api_url}/api/v1/{path}", headers=headers) as r:
        return r.status, await r.json()


async def call_connected(w: World, caller: str, queue: str = "support") -> None:
    await w.control("calls", {"queue": queue, "caller": caller})
    await connected(w)  # after the announcement, the agent answered and recorded
    await asyncio.sleep(0.8)  # both talk: something in the file before what the test does


def _paused(w: World, agent: str) -> bool | None:
    """Whether the agent's call is paused, as the controller holds it (None: no such call)."""
    calls = w.controller.live_calls() if w.controller else []
    call = next((c for c in calls if c.segment is not None and c.segment.agent == agent), None)
    return None if call is None else call.pause is not None


async def customer_talks(w: World, caller: str, talking: bool) -> float:
    await w.control("talk", {"customer": caller, "talking": talking})
    return time.monotonic()


async def ask(w: World, verb: str, source: str, agent: str = "1001", heeded: bool = True) -> float:
    """Pause or resume by the API or the agent's keys; when the controller is asked. `heeded`:
    the controller pauses or resumes (keys to be ignored have nothing to wait on but their time)."""
    if source == "api":
        asked = time.monotonic()
        status, body = await api(w, "POST", f"agents/{agent}/recording/{verb}")
        assert status == 200, body
        return asked
    digits = "*7" if verb == "pause" else "*8"
    await w.control("dtmf", {"agent": agent, "digits": digits, "duration_ms": KEY_MS, "gap_ms": GAP_MS})
    pressed = time.monotonic()
    # The second key's event comes when it is released: that is when the controller hears it.
    if heeded:
        wanted = verb == "pause"
        await until(
            lambda: _paused(w, agent) is wanted, what=f"agent {agent}'s keys heard: {verb}", timeout=5
        )
    else:
        await asyncio.sleep((2 * KEY_MS + GAP_MS) / 1000 + 0.05)  # the keys' own time, and a margin
    return pressed + (2 * KEY_MS + GAP_MS) / 1000


def first(runs: list[Run], tones: frozenset[int], after: float = 0.0, longer: float = 0.0) -> Run:
    return next(r for r in runs if r.tones == tones and r.start >= after - 1e-9 and r.end - r.start >= longer)


def heard(path: Path, hz: int, threshold: float = 1000.0) -> bool:
    rate, samples = read_wav(path)
    size = int(rate * 0.02)
    return any(strength(samples, i, size, hz, rate) > threshold for i in range(0, len(samples) - size, size))


@pytest.mark.parametrize("behavior", ["silence", "skip"])
@pytest.mark.parametrize("source", ["keys", "api"])
async def test_a_pause_leaves_the_paused_time_silent_or_out(
    tmp_path: Path, behavior: str, source: str
) -> None:
    async with world(tmp_path, QUEUES, AGENTS, pause_behavior=behavior) as w:
        w.sim.asterisk.dtmf_audible = True  # the customer's keys are sound in the recording
        await call_connected(w, "15550400")
        # From here the sleeps are the scenario: who talks when, measured in the file below.
        await w.control("dtmf", {"customer": "15550400", "digits": "1"})  # heard: before the pause
        await asyncio.sleep(0.4)
        quiet = await customer_talks(w, "15550400", False)
        await asyncio.sleep(0.5 - (0.49 if source == "keys" else 0))
        paused = await ask(w, "pause", source)
        await customer_talks(w, "15550400", True)  # card digits, read out and keyed in
        await w.control("dtmf", {"customer": "15550400", "digits": "#"})
        await asyncio.sleep(1.0)
        await customer_talks(w, "15550400", False)
        # The keys take 0.49 s to press: begun that much earlier, they resume when the API would.
        await asyncio.sleep(0.8 - (0.49 if source == "keys" else 0))
        resumed = await ask(w, "resume", source)
        await asyncio.sleep(max(0.0, resumed + 0.5 - time.monotonic()))
        talks = await customer_talks(w, "15550400", True)
        await asyncio.sleep(1.0)
        await w.control("hangup", {"customer": "15550400"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        assert segment.recording is not None
        path = await w.fetch(segment.recording)
        (row,) = await w.store.recordings()
        audit = await w.store.audit(segment.recording)
    runs = tone_runs(path)
    shown = summary(runs)
    agent_alone = frozenset({1000})
    before = first(runs, agent_alone, longer=0.2)  # from the customer going quiet
    if behavior == "silence":
        gap = first(runs, frozenset(), after=before.start, longer=0.5)
        after = first(runs, frozenset({440, 1000}), after=gap.end)
        assert abs((gap.start - before.start) - (paused - quiet)) <= TOLERANCE, shown
        assert abs((gap.end - gap.start) - (resumed - paused)) <= TOLERANCE, shown
        assert abs((after.start - gap.end) - (talks - resumed)) <= TOLERANCE, shown
        offset = gap.start
    else:
        # Nothing of the pause is in the file: the agent alone before and after, back to back.
        assert not [r for r in runs if r.tones == frozenset() and r.end - r.start > 0.1], shown
        expected = (paused - quiet) + (talks - resumed)
        assert abs((before.end - before.start) - expected) <= TOLERANCE, shown
        offset = before.start + (paused - quiet)
    assert heard(path, 1209), "the customer's key before the pause is in the file (the check can see keys)"
    assert not heard(path, 1477), "the customer's key during the pause is not"
    (pause,) = row.pauses
    assert (pause["source"], pause["behavior"], pause["ended_by"]) == (source, behavior, "resume")
    assert pause["by"] == ("1001" if source == "keys" else "admin")
    assert abs(pause["offset_seconds"] - offset) <= 0.1
    assert abs(pause["seconds"] - (resumed - paused)) <= 0.1
    assert [a.action for a in audit] == ["pause", "pause-ended"]


async def test_a_pause_ends_by_itself_after_max_pause_seconds(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, AGENTS, max_pause_seconds=1) as w:
        await call_connected(w, "15550401")
        paused = await ask(w, "pause", "api")
        status, body = await api(w, "GET", "agents/1001/recording")
        assert (status, body["state"], body["pause"]["source"]) == (200, "muted", "api")

        async def resumed() -> Any:
            status, body = await api(w, "GET", "agents/1001/recording")
            return body if status == 200 and body["state"] == "recording" else None

        body = await until(resumed, what="the pause ended by itself", timeout=5)
        assert time.monotonic() - paused >= 1.0
        assert body["pause"] is None
        assert body["pause_count"] == 1
        status, page = await api(w, "GET", "agents/1001/recording/pauses")
        assert [p["ended_by"] for p in page["pauses"]] == ["timeout"]
        await w.control("hangup", {"customer": "15550401"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        assert segment.recording is not None
        runs = tone_runs(await w.fetch(segment.recording))
    gap = first(runs, frozenset(), longer=0.5)
    assert abs((gap.end - gap.start) - 1.0) <= TOLERANCE, summary(runs)


@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_a_transfer_ends_the_pause(tmp_path: Path, side: str) -> None:
    queues = {"support": QueueSettings(agents=["1001"], record_side=side)}  # type: ignore[arg-type]
    async with world(tmp_path, queues, AGENTS) as w:
        await call_connected(w, "15550402")
        await ask(w, "pause", "api")
        (live,) = w.controller.live_calls() if w.controller else []
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with w.http.post(
            f"{w.api_url}/api/v1/calls/{live.id}/transfer", json={"agent": "1002"}, headers=headers
        ) as r:
            assert r.status == 202
        await connected(w, "1002")  # a new segment, recorded, not paused
        await asyncio.sleep(1.0)  # 1002 and the customer talk: heard in the customer side's file
        status, body = await api(w, "GET", "agents/1002/recording")
        assert (status, body["state"], body["segment"]) == (200, "recording", 2)
        await w.control("hangup", {"customer": "15550402"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        rows = {r.name: r for r in await w.store.recordings()}
        first_recording = report.call.segments[0].recording
        assert first_recording is not None
        runs = tone_runs(await w.fetch(first_recording))
    (pause,) = rows[first_recording].pauses
    assert pause["ended_by"] == "transfer"
    if side == "customer":  # one recording across the transfer: resumed when 1002 answered
        last = [r for r in runs if r.end - r.start > 0.1][-1]  # not a last frame's edge
        assert last.tones == frozenset({440, 1000}) and last.end - last.start > 0.8, summary(runs)


async def test_a_hangup_ends_the_pause(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, AGENTS, pause_behavior="skip") as w:
        await call_connected(w, "15550403")
        await ask(w, "pause", "keys")
        await asyncio.sleep(0.5)  # the pause's length: the scenario
        await w.control("hangup", {"customer": "15550403"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (row,) = await w.store.recordings()
        state = await w.state()
    (pause,) = row.pauses
    assert (pause["source"], pause["ended_by"]) == ("keys", "hangup")
    assert report.call.pause is None
    assert not state["channels"] and not state["live_recordings"]


async def test_keys_are_ignored_where_pausing_is_not_allowed(tmp_path: Path) -> None:
    queues = {"support": QueueSettings(agents=["1001"], pause_allowed=False)}
    async with world(tmp_path, queues, AGENTS) as w:
        await call_connected(w, "15550404")
        await ask(w, "pause", "keys", heeded=False)
        status, body = await api(w, "GET", "agents/1001/recording")
        assert (status, body["state"], body["pause_allowed"]) == (200, "recording", False)
        refused, error = await api(w, "POST", "agents/1001/recording/pause")
        assert refused == 403 and "not allowed" in error["error"]
        await w.control("hangup", {"customer": "15550404"})
        await asyncio.wait_for(w.reports.get(), 15)
        (row,) = await w.store.recordings()
    assert row.pauses == []


async def test_the_agents_keys_never_reach_the_customer(tmp_path: Path) -> None:
    """The customer side records what the customer hears: the agent's voice, not its keys."""
    queues = {"support": QueueSettings(agents=["1001"], record_side="customer")}
    async with world(tmp_path, queues, AGENTS) as w:
        w.sim.asterisk.dtmf_audible = True
        await call_connected(w, "15550405")
        await w.control("dtmf", {"agent": "1001", "digits": "#", "duration_ms": 300})  # no sequence
        await w.control("dtmf", {"customer": "15550405", "digits": "1", "duration_ms": 300})
        await asyncio.sleep(0.6)  # the 300 ms keys sound, in the file, before the call ends
        await w.control("hangup", {"customer": "15550405"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        assert segment.recording is not None and report.call.pauses == ()
        path = await w.fetch(segment.recording)
        async with w.http.get(f"{w.api_url.rstrip('/')}/metrics") as r:
            metrics = await r.text()
    assert heard(path, 1209), "the customer's own key is in the file (the check can hear keys)"
    assert not heard(path, 1477), "the agent's key never reached the customer"
    for metric in ("pauses_total counter", "pause_seconds histogram", "pause_auto_resumes_total counter"):
        assert f"# TYPE ari_recorder_{metric}" in metrics, metrics


async def test_the_pause_after_max_pauses_per_segment_is_refused_and_audited(tmp_path: Path) -> None:
    """The issue's 1,007 pauses made every answer 290 KB: the segment's pauses are capped, answers
    carry the pause in force and a count, the list is paginated, the sidecar keeps them all."""
    async with world(tmp_path, QUEUES, AGENTS, max_pauses_per_segment=3) as w:
        await call_connected(w, "15550409")
        for _ in range(3):
            await ask(w, "pause", "api")
            await ask(w, "resume", "api")
        status, body = await api(w, "POST", "agents/1001/recording/pause")
        assert (status, body["error"].endswith("the most company.max_pauses_per_segment allows")) == (
            409,
            True,
        )
        await ask(w, "pause", "keys", heeded=False)  # ignored, as the API's
        status, body = await api(w, "GET", "agents/1001/recording")
        assert (status, body["state"], body["pause"], body["pause_count"], body["max_pauses"]) == (
            200,
            "recording",
            None,
            3,
            3,
        )
        assert "pauses" not in body
        status, page = await api(w, "GET", "agents/1001/recording/pauses?offset=1&limit=1")
        assert (status, page["total"], page["offset"], page["limit"]) == (200, 3, 1, 1)
        assert [p["number"] for p in page["pauses"]] == [2]
        bad, _ = await api(w, "GET", "agents/1001/recording/pauses?limit=1000")
        await w.control("hangup", {"customer": "15550409"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        audit = await w.store.audit(segment.recording)
        (row,) = await w.store.recordings()
    assert bad == 400
    assert [a.action for a in audit].count("pause") == 3
    (limit,) = [a for a in audit if a.action == "pause-refused"]
    assert (limit.detail["by"], limit.detail["source"], limit.detail["max_pauses_per_segment"]) == (
        "admin",
        "api",
        3,
    )
    assert len(row.pauses) == 3, "the recording's metadata keeps every pause"
