"""A recording's start confirmed, against the simulator behaving as a real Asterisk under load:
the snoop enters the application after its POST is answered, or never; records refused."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ari_recorder.engine.controller import CallReport
from ari_recorder.settings import AgentSettings, QueueSettings, RecordingSettings
from tests.support.world import World, all_connected, connected, world

# A start deadline's retries, bounded in seconds: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing

AGENTS = {
    str(1000 + i): AgentSettings(
        endpoint=f"Local/{1000 + i}@agent-phone", permit_recordings=True, record_percent=100
    )
    for i in range(30)
}


async def reports(w: World, count: int, timeout: float = 30) -> list[CallReport]:
    return [await asyncio.wait_for(w.reports.get(), timeout) for _ in range(count)]


async def test_with_the_snoop_race_forced_30_calls_100_ms_apart_are_all_recorded(tmp_path: Path) -> None:
    """Every snoop enters Stasis 30 ms after its POST's answer: a record sent at once would be
    refused every time (it was, before the start was confirmed)."""
    async with world(tmp_path, {"support": QueueSettings(agents=list(AGENTS))}, agents=AGENTS) as w:
        await w.control("config", {"snoop_stasis_delay_ms": 30}, method="PUT")
        for i in range(30):
            await w.control(
                "calls", {"queue": "support", "caller": f"1555{i:04d}", "args": [f"agent={1000 + i}"]}
            )
            await asyncio.sleep(0.1)  # the calls' pace: the scenario
        await all_connected(w, 30)
        for i in range(30):
            await w.control("hangup", {"customer": f"1555{i:04d}"})
        ended = await reports(w, 30)
        left = await w.state()
        stored = set(left["stored_recordings"])  # type: ignore[arg-type]
        rows = {r.name: r for r in await w.store.recordings()}
    segments = [s for r in ended for s in r.call.segments]
    assert len(segments) == 30 and all(s.recording is not None for s in segments)
    assert all(r.call.unrecorded == () for r in ended)
    assert {s.recording for s in segments} <= stored
    assert all(rows[s.recording].state == "ready" for s in segments if s.recording)
    offsets = [rows[s.recording].start_offset_seconds for s in segments if s.recording]
    # Confirmed by RecordingStarted: after the 30 ms the snoop takes to enter, well within the deadline.
    assert all(o is not None and 0.03 <= o < 1.0 for o in offsets), offsets
    assert left["channels"] == [] and left["live_recordings"] == []


@pytest.mark.parametrize("then", ["continue", "hangup"])
async def test_a_snoop_that_never_enters_is_selected_not_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, then: str
) -> None:
    caplog.set_level(logging.INFO)
    queues = {"support": QueueSettings(agents=["1001"], on_record_failure=then)}  # type: ignore[arg-type]
    deadline = RecordingSettings(start_deadline_ms=500)
    async with world(tmp_path, queues, recording=deadline) as w:
        await w.control("config", {"snoop_stasis_delay_ms": None}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550001"})
        if then == "continue":
            await connected(w, "1001")  # the recording given up at its deadline
            await w.control("hangup", {"customer": "15550001"})
        (report,) = await reports(w, 1)
        left = await w.state()
        (row,) = await w.store.recordings()
        audit = await w.store.audit(row.name)
    (segment,) = report.call.segments
    assert segment.recording == row.name and row.state == "unrecorded"
    why = "not started within 0.5 s: the snoop channel never entered the application"
    assert report.call.failure(segment.recording) == row.failure == why
    assert [(a.action, a.detail["why"], a.detail["then"]) for a in audit] == [("not-recorded", why, then)]
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and "action=not-recorded" in r.getMessage()
    ]
    assert len(errors) == 1 and f"selected, not recorded: {why}" in errors[0].getMessage()
    assert left["channels"] == [] and left["stored_recordings"] == []
    if then == "hangup":  # hung up at the deadline, the customer still talking
        assert report.seconds < 1.5 + 0.2 + 0.5 + 1.0


async def test_records_refused_are_retried_within_the_deadline(tmp_path: Path) -> None:
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        await w.control("config", {"refuse_records": 3}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550001"})
        await connected(w, "1001")  # the recording started, after the refusals
        await w.control("hangup", {"customer": "15550001"})
        (report,) = await reports(w, 1)
        (row,) = await w.store.recordings()
    assert report.call.unrecorded == () and row.state == "ready"
    # Three refusals, waits of 50, 100 and 200 ms before the fourth request: started after them,
    # and within the start deadline (recording.start_deadline_ms, 2 s), the rule itself.
    assert row.start_offset_seconds is not None and 0.35 <= row.start_offset_seconds < 2.0


async def test_records_always_refused_are_not_recorded_and_the_deadline_ends_the_retries(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        await w.control("config", {"refuse_records": -1}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550001"})
        await connected(w, "1001")  # the recording given up at its 2 s deadline
        await w.control("hangup", {"customer": "15550001"})
        (report,) = await reports(w, 1)
        (row,) = await w.store.recordings()
    assert row.state == "unrecorded"
    assert row.failure == "not started within 2 s: Asterisk refused it: Internal Server Error"
    assert report.call.phase.value == "ended"
