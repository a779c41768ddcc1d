"""The transfer gaps, end to end on the simulator: a call transferred to a queue is decided by
that queue's settings from the new agent's answer (its segment row and metadata name it), and an
outbound call is transferred as an inbound one, each segment decided and recorded by the rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ari_recorder.settings import AgentSettings, QueueSettings
from ari_recorder.storage.recordings import facts
from ari_recorder.storage.tables import SegmentRow
from tests.support.audio import duration, tone_runs
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, SLACK, World, connected, world

AGENTS = {
    # Both consent, neither records at agent level: only the queue (or a rule) selects them.
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True),
    "1004": AgentSettings(endpoint="Local/1004@agent-phone", permit_recordings=True),
    "1005": AgentSettings(endpoint="Local/1005@agent-phone", permit_recordings=True, record_percent=100),
    "3001": AgentSettings(endpoint="PJSIP/3001", permit_recordings=True, record_percent=100),
}
TALK = 1.5  # seconds each agent talks with the customer: the scenario


def queues(support: int, sales: int) -> dict[str, QueueSettings]:
    return {
        "support": QueueSettings(agents=["1002"], record_percent=support),
        "sales": QueueSettings(agents=["1004"], record_percent=sales, pause_allowed=False),
    }


async def transfer(w: World, call: str, body: dict[str, str]) -> Any:
    async with w.http.post(
        f"{w.api_url}/api/v1/calls/{call}/transfer",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as r:
        assert r.status == 202, await r.text()
        return await r.json()


async def segment_rows(w: World, call: str) -> list[tuple[int, str, str | None, bool]]:
    async with w.store.sessions() as session:
        rows = await session.scalars(select(SegmentRow).where(SegmentRow.interaction_id == call))
        return sorted((r.number, r.agent, r.queue, r.recorded) for r in rows)


async def test_a_call_transferred_from_support_at_0_to_sales_at_100_is_recorded_by_sales(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, queues(support=0, sales=100), AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": "15550700"})
        live = (await connected(w, "1002")).id
        await asyncio.sleep(TALK)
        assert (await transfer(w, live, {"queue": "sales"}))["dialling"] == "1004"
        now = await connected(w, "1004")
        since = time.monotonic()
        await asyncio.sleep(TALK)
        await w.control("hangup", {"customer": "15550700"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        took = time.monotonic() - since
        first, second = report.call.segments
        assert second.recording is not None
        wav = await w.fetch(second.recording)
        rows = await segment_rows(w, live)
        metadata = await facts(w.store, second.recording)
    assert now.queue is not None and now.queue.queue == "sales" and not now.pausing.allowed
    assert first.recording is None and first.decision.reason.startswith("not drawn")
    assert second.decision.levels_json() == [{"level": "queue", "by": "sales"}]
    assert rows == [(1, "1002", "support", False), (2, "1004", "sales", True)]
    assert metadata is not None and metadata.queue == "sales", "the new segment's metadata names sales"
    assert 1.4 < duration(wav) < took + SLACK, "from the new agent's answer"
    assert {440, 1000} in [r.tones for r in tone_runs(wav)]


async def test_a_call_transferred_from_support_at_100_to_sales_at_0_stops_being_recorded(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, queues(support=100, sales=0), AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": "15550701"})
        live = (await connected(w, "1002")).id
        since = time.monotonic()
        await asyncio.sleep(TALK)
        await transfer(w, live, {"queue": "sales"})
        await connected(w, "1004")
        took = time.monotonic() - since
        await asyncio.sleep(TALK)
        await w.control("hangup", {"customer": "15550701"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        first, second = report.call.segments
        assert first.recording is not None
        wav = await w.fetch(first.recording)
        rows = await segment_rows(w, live)
        stored = (await w.state())["stored_recordings"]
    assert first.decision.levels_json() == [{"level": "queue", "by": "support"}]
    assert second.recording is None and "queue sales at 0%" in second.decision.reason
    assert rows == [(1, "1002", "support", True), (2, "1004", "sales", False)]
    assert len(stored) == 1
    assert 1.4 < duration(wav) < took + SLACK, "support's recording ends when the sales agent answers"


async def test_an_outbound_call_is_transferred_and_each_segment_decided_by_the_rules(tmp_path: Path) -> None:
    async with world(tmp_path, queues(support=0, sales=0), AGENTS) as w:
        await w.control("outbound", {"agent": "3001", "to": "15550702"})
        live = (await connected(w, "3001")).id
        a_since = time.monotonic()
        await asyncio.sleep(TALK)
        assert (await transfer(w, live, {"agent": "1005"}))["dialling"] == "1005"
        await connected(w, "1005")
        b_since = time.monotonic()
        await asyncio.sleep(TALK)
        await w.control("hangup", {"customer": "15550702"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        took = {"3001": b_since - a_since, "1005": time.monotonic() - b_since}
        first, second = report.call.segments
        files = {s.agent: await w.fetch(s.recording) for s in (first, second) if s.recording}
        rows = await segment_rows(w, live)
        left = await w.state()
    assert report.call.interaction.direction.value == "outbound"
    assert (first.agent, second.agent) == ("3001", "1005")
    assert (
        first.decision.reason == "selected by agent 3001"
        and second.decision.reason == "selected by agent 1005"
    )
    assert rows == [(1, "3001", None, True), (2, "1005", None, True)]
    assert sorted(left["stored_recordings"]) == sorted([first.recording, second.recording])  # type: ignore[type-var]
    for agent, wav in files.items():
        assert 1.4 < duration(wav) < took[agent] + SLACK
        assert {440, 1000} in [r.tones for r in tone_runs(wav)]
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []


async def test_an_outbound_call_transferred_to_a_queue_is_that_queues(tmp_path: Path) -> None:
    async with world(tmp_path, queues(support=0, sales=100), AGENTS) as w:
        await w.control("outbound", {"agent": "3001", "to": "15550703"})
        live = (await connected(w, "3001")).id
        await transfer(w, live, {"queue": "sales"})
        await connected(w, "1004")
        await w.control("hangup", {"agent": "1004"})  # this time the new agent hangs up
        report = await asyncio.wait_for(w.reports.get(), 15)
        rows = await segment_rows(w, live)
    second = report.call.segments[1]
    assert second.decision.levels_json() == [{"level": "queue", "by": "sales"}]
    assert rows == [(1, "3001", None, True), (2, "1004", "sales", True)]


async def test_the_agent_of_an_outbound_call_transfers_it_from_the_phone(tmp_path: Path) -> None:
    """The agent's SIP phone sends a REFER (only reported, ari-only): the call dials the agent."""
    async with world(tmp_path, queues(support=0, sales=0), AGENTS) as w:
        await w.control("outbound", {"agent": "3001", "to": "15550704"})
        live = (await connected(w, "3001")).id
        await w.control("transfer", {"agent": "3001", "to": "1005"})
        await connected(w, "1005")
        await w.control("hangup", {"customer": "15550704"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        rows = await segment_rows(w, live)
        left = await w.state()
    assert [(s.agent, s.recording is not None) for s in report.call.segments] == [
        ("3001", True),
        ("1005", True),
    ]
    assert rows == [(1, "3001", None, True), (2, "1005", None, True)]
    assert left["channels"] == [] and left["bridges"] == []


async def test_the_agent_of_an_outbound_call_consults_then_transfers_it(tmp_path: Path) -> None:
    """3001's call out: a consultation with 3002 (7 3002 into Stasis), then REFER with Replaces:
    3002 takes 3001's place with the customer, recorded by the rules; nothing of the consultation."""
    agents = {
        **AGENTS,
        "3002": AgentSettings(endpoint="PJSIP/3002", permit_recordings=True, record_percent=100),
    }
    async with world(tmp_path, queues(support=0, sales=0), agents) as w:
        await w.control("outbound", {"agent": "3001", "to": "15550705"})
        live = (await connected(w, "3001")).id
        await w.control("consult", {"agent": "3001", "to": "3002"})
        await until(lambda: _consulting(w, live), what="3002 consulted")
        await w.control("transfer", {"agent": "3001", "replaces": True})
        await connected(w, "3002")
        await w.control("hangup", {"customer": "15550705"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        rows = await segment_rows(w, live)
        left = await _held_nothing(w)
    assert [(s.agent, s.recording is not None) for s in report.call.segments] == [
        ("3001", True),
        ("3002", True),
    ]
    assert rows == [(1, "3001", None, True), (2, "3002", None, True)]
    assert left["live_recordings"] == []


def _consulting(w: World, call: str) -> bool:
    controller = w.controller
    assert controller is not None
    live = next((c for c in controller.live_calls() if c.id == call), None)
    return live is not None and live.consultation is not None and live.consultation.answered


async def _held_nothing(w: World) -> dict[str, list[object]]:
    """The simulator's state once it holds no channel and no bridge."""

    async def empty() -> dict[str, list[object]] | None:
        left = await w.state()
        return None if left["channels"] or left["bridges"] else left

    return await until(empty, what="nothing held", timeout=5)


async def test_an_agent_ringing_for_a_transfer_is_busy_for_the_queues(tmp_path: Path) -> None:
    """1004 rings for a transfer of the first call: a second call, for a queue of 1004 and 1005,
    is not offered to 1004 meanwhile (it would ring twice) but to 1005."""
    queues = {
        "support": QueueSettings(agents=["1002"]),
        "sales": QueueSettings(agents=["1004", "1005"]),
    }
    async with world(tmp_path, queues, AGENTS) as w:
        await w.control("phones/1004", {"answer": "auto", "delay": 3.0}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550710"})
        first = (await connected(w, "1002")).id
        assert (await transfer(w, first, {"agent": "1004"}))["dialling"] == "1004"
        await w.control("calls", {"queue": "sales", "caller": "15550711"})
        second = await connected(w, "1005")
        ringing = w.controller.calls.get(first)
        assert ringing is not None and ringing.transfer_to is not None, "1004 still ringing for the transfer"
        await connected(w, "1004")
        for caller in ("15550710", "15550711"):
            await w.control("hangup", {"customer": caller})
        reports = [await asyncio.wait_for(w.reports.get(), 15) for _ in range(2)]
    assert second.segment is not None and second.segment.agent == "1005"
    by_id = {r.call.id: [s.agent for s in r.call.segments] for r in reports}
    assert by_id[first] == ["1002", "1004"]
