"""Calls agents place: from the phone (dialplan) and through the API, recorded by the same rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ari_recorder.settings import AgentSettings, QueueSettings
from tests.support.audio import duration, tone_runs
from tests.support.world import ADMIN_TOKEN, SLACK, connected, world

AGENTS = {
    "3001": AgentSettings(endpoint="PJSIP/3001", permit_recordings=True, record_percent=100),
    "3003": AgentSettings(endpoint="PJSIP/3003", permit_recordings=False, record_percent=100),
}
QUEUES = {"outreach": QueueSettings(agents=["3001"], record_percent=100, record_side="customer")}


@pytest.mark.timing  # no stretch over 50 ms of one party alone at the ends: run apart
async def test_an_agent_calls_a_customer_and_is_recorded_from_the_answer(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, AGENTS) as w:
        await w.control("outbound", {"agent": "3001", "to": "15550200"})
        await connected(w, "3001")  # the customer's phone rang 0.3 s, and answered
        since = time.monotonic()
        await asyncio.sleep(2.0)  # they talk: the scenario
        await w.control("hangup", {"customer": "15550200"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        took = time.monotonic() - since
        (segment,) = report.call.segments
        assert segment.recording is not None
        wav = await w.fetch(segment.recording)
        left = await w.state()
    assert report.call.interaction.direction.value == "outbound"
    assert report.call.interaction.metadata["customer"] == "15550200"
    assert (segment.agent, segment.decision.reason) == ("3001", "selected by agent 3001")
    # Nothing of the ringing: the agent and the customer, from the answer on.
    assert [sorted(r.tones) for r in tone_runs(wav) if r.end - r.start > 0.05] == [[440, 1000]]
    assert 1.9 < duration(wav) < took + SLACK
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []


async def test_outbound_recording_off_records_nothing_and_consent_still_rules(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, AGENTS, outbound_recording=False, compliance_all=True) as w:
        await w.control("outbound", {"agent": "3001", "to": "15550201"})
        await connected(w, "3001")
        await w.control("hangup", {"agent": "3001"})  # this time the agent hangs up
        off = await asyncio.wait_for(w.reports.get(), 15)
    async with world(tmp_path / "2", QUEUES, AGENTS, compliance_all=True) as w:
        await w.control("outbound", {"agent": "3003", "to": "15550202"})
        await connected(w, "3003")
        await w.control("hangup", {"customer": "15550202"})
        refused = await asyncio.wait_for(w.reports.get(), 15)
        left = await w.state()
    (segment,) = off.call.segments
    assert (segment.recording, segment.decision.reason) == (None, "outbound recording is off")
    (segment,) = refused.call.segments
    assert segment.recording is None and "not consented" in segment.decision.reason
    assert left["stored_recordings"] == []


async def test_a_customer_who_does_not_answer_ends_the_call(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, AGENTS, outbound_ring_timeout=1) as w:
        async with w.http.put(f"{w.sim.base_url}/sim/phones/15550203", json={"answer": "never"}) as r:
            assert r.status == 200
        await w.control("outbound", {"agent": "3001", "to": "15550203"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        left = await w.state()
    assert report.call.segments == ()
    assert left["channels"] == [] and left["bridges"] == []


async def test_a_call_placed_through_the_api_names_its_queue(tmp_path: Path) -> None:
    """POST /api/v1/calls: the agent's phone rings first, then the customer's; customer side."""
    async with world(tmp_path, QUEUES, AGENTS) as w:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        body = {"agent": "3001", "to": "15550204", "queue": "outreach"}
        async with w.http.post(f"{w.api_url}/api/v1/calls", json=body, headers=headers) as r:
            placed = r.status, await r.json()
        async with w.http.post(
            f"{w.api_url}/api/v1/calls", json={"agent": "3001", "to": "1555;0204"}, headers=headers
        ) as r:
            bad_number = r.status, await r.json()
        await connected(w, "3001")
        since = time.monotonic()
        await asyncio.sleep(1.5)  # they talk: the scenario
        await w.control("hangup", {"customer": "15550204"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        took = time.monotonic() - since
        (segment,) = report.call.segments
        assert segment.recording is not None
        wav = await w.fetch(segment.recording)
    assert placed[0] == 202 and placed[1]["call"] == report.call.id
    assert bad_number[0] == 422 and "not a number" in bad_number[1]["error"]
    assert report.call.interaction.queue == "outreach"
    assert segment.decision.reason == "selected by agent 3001, queue outreach"
    assert 1.4 < duration(wav) < took + SLACK
