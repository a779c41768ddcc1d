"""Inbound calls end to end: the controller against the simulator, over ARI, WAVs checked."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from ari_recorder.settings import AgentSettings, QueueSettings
from tests.support.audio import duration, tone_runs
from tests.support.waiting import until
from tests.support.world import SLACK, connected, nothing_held, talk_then_hang_up, world


@pytest.mark.timing  # 2 s of talk, a file under 2.3 s: run apart
async def test_a_consenting_agent_is_recorded_from_the_answer_on(tmp_path: Path) -> None:
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        report = await talk_then_hang_up(w, "15550001", "support", 2.0)
        left = await w.state()
        (segment,) = report.call.segments
        assert segment.agent == "1001"
        assert segment.recording is not None
        wav = await w.fetch(segment.recording)
    runs = tone_runs(wav)
    # Nothing of the announcement (660 Hz) or the wait: the agent and the customer, throughout.
    assert [sorted(r.tones) for r in runs if r.end - r.start > 0.05] == [[440, 1000]], runs
    assert 1.9 < duration(wav) < 2.3
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []


async def test_an_agent_without_consent_leaves_no_file(tmp_path: Path) -> None:
    queues = {"sales": QueueSettings(agents=["1003"], record_percent=100)}
    async with world(tmp_path, queues, compliance_all=True) as w:
        report = await talk_then_hang_up(w, "15550002", "sales", 1.0)
        left = await w.state()
    (segment,) = report.call.segments
    assert segment.recording is None
    assert left["stored_recordings"] == []


async def test_the_next_agent_is_dialled_when_one_does_not_answer(tmp_path: Path) -> None:
    queues = {"support": QueueSettings(agents=["1002", "1001"], ring_timeout=1)}
    async with world(tmp_path, queues) as w:
        await w.control("phones/1002", {"answer": "never"}, method="PUT")
        report = await talk_then_hang_up(w, "15550003", "support", 2.5)
    assert [s.agent for s in report.call.segments] == ["1001"]
    assert report.call.tried == 2


async def test_a_call_for_an_unknown_queue_is_hung_up_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        await w.control("calls", {"queue": "nosuchqueue"})
        await until(lambda: nothing_held(w), what="the call for no queue hung up", timeout=5)
    assert "action=refuse how=hangup why=\"no queue named 'nosuchqueue'" in caplog.text


async def test_round_robin_turns_the_queue_and_busy_agents_are_skipped(tmp_path: Path) -> None:
    queues = {
        "rr": QueueSettings(agents=["1001", "1002"], strategy="round-robin"),
        "ordered": QueueSettings(agents=["1001", "1002"]),
    }
    async with world(tmp_path, queues) as w:
        first = await talk_then_hang_up(w, "15550010", "rr", 0.5)
        second = await talk_then_hang_up(w, "15550011", "rr", 0.5)
        # Two calls at once, in order: the second finds 1001 on the first call and gets 1002.
        await w.control("calls", {"queue": "ordered", "caller": "15550012"})
        await connected(w, "1001")
        await w.control("calls", {"queue": "ordered", "caller": "15550013"})
        await connected(w, "1002")
        for caller in ("15550012", "15550013"):
            await w.control("hangup", {"customer": caller})
        both = [await asyncio.wait_for(w.reports.get(), 15) for _ in range(2)]
    assert [s.agent for s in first.call.segments] == ["1001"]
    assert [s.agent for s in second.call.segments] == ["1002"]
    assert sorted(s.agent for r in both for s in r.call.segments) == ["1001", "1002"]


async def test_no_agent_within_the_wait_limit_sends_the_customer_back_to_the_dialplan(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    queues = {"support": QueueSettings(agents=["1001"], ring_timeout=30, wait_limit=1, fallback="continue")}
    async with world(tmp_path, queues) as w:
        await w.control("phones/1001", {"answer": "never"}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550020"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        # The customer, back in the dialplan, hangs up there: the simulator's doing, after the report.
        await until(lambda: nothing_held(w), what="the customer's channel and the bridge gone", timeout=5)
    assert report.call.segments == ()
    assert 'action=fallback why="no agent answered within 1 s" to=dialplan' in caplog.text


SIP_AGENTS = {
    "3001": AgentSettings(endpoint="PJSIP/3001", permit_recordings=True, record_percent=100),
    "3002": AgentSettings(endpoint="PJSIP/3002", permit_recordings=True, record_percent=100),
    "3003": AgentSettings(endpoint="PJSIP/3003", permit_recordings=False),
}


@pytest.mark.parametrize("handling", ["application", "asterisk"])
@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_a_phone_transfer_to_a_recorded_agent(
    tmp_path: Path, side: str, handling: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SIP REFER from 3001 to 3002: carried out by the application (ari-only handling), or by
    Asterisk (its default: a Local channel replaces the agent and comes back from the dialplan)."""
    queues = {"support": QueueSettings(agents=["3001"], record_side=side)}  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS, phone_transfers=handling) as w:
        await w.control("calls", {"queue": "support", "caller": "15550030", "via": "sip"})
        await connected(w, "3001")
        a_since = time.monotonic()
        await asyncio.sleep(2.0)  # A and the customer talk 2 s: the scenario
        await w.control("transfer", {"agent": "3001", "to": "3002"})
        await connected(w, "3002")  # 3002 rings 0.3 s first
        b_since = time.monotonic()
        a_took = b_since - a_since
        await asyncio.sleep(2.0)  # B and the customer talk 2 s
        await w.control("hangup", {"customer": "15550030"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        b_took, took = time.monotonic() - b_since, time.monotonic() - a_since
        files = {s.recording: await w.fetch(s.recording) for s in report.call.segments if s.recording}
        left = await w.state()
    a, b = report.call.segments
    assert (a.agent, b.agent) == ("3001", "3002")
    assert left["channels"] == [] and left["bridges"] == []
    carried_out_by_asterisk = "agent=3001 action=phone-transfer to=3002" in caplog.text
    assert carried_out_by_asterisk == (handling == "asterisk")
    if side == "agent":
        # A's file holds only A's time with the customer; B's starts when B answered.
        # Upper bounds: the time the test saw pass, whatever the machine's load.
        assert 1.9 < duration(files[a.recording]) < a_took + SLACK  # type: ignore[index]
        assert 1.9 < duration(files[b.recording]) < b_took + SLACK  # type: ignore[index]
    else:
        assert a.recording == b.recording, "one recording across the transfer"
        (only,) = files.values()
        assert 4.1 < duration(only) < took + SLACK


async def test_a_hangup_while_the_event_socket_was_down_is_found_on_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        await w.control("calls", {"queue": "support", "caller": "15550040"})
        await connected(w, "1001")
        await asyncio.sleep(1.0)  # the conversation: a recording with something in it
        # The socket drops, and the customer hangs up before the controller is back (its backoff
        # waits at least 0.25 s): Asterisk sends the StasisEnd to nobody.
        await w.control("drop-websockets", {})
        await w.control("hangup", {"customer": "15550040"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        left = await w.state()
        ready = [r.name for r in await w.store.recordings("ready")]
    assert "action=reconcile missed=CustomerLeft" in caplog.text
    (segment,) = report.call.segments
    assert ready == [segment.recording]
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []


async def test_a_call_in_a_language_hears_the_notice_named_for_it(tmp_path: Path) -> None:
    """The Stasis argument lang= (else the channel's language) picks the queue's notice in that
    language; a call in another language hears the queue's (here the company's) notice."""
    queues = {"support": QueueSettings(agents=["1001"], announcements={"fr": "sim/annonce"})}
    async with world(tmp_path, queues) as w:
        reports = []
        for caller, args in (("15550020", ["lang=fr"]), ("15550021", [])):
            await w.control("calls", {"queue": "support", "caller": caller, "args": args})
            await connected(w, "1001")
            await w.control("hangup", {"customer": caller})
            reports.append(await asyncio.wait_for(w.reports.get(), 15))
    french, other = (report.call for report in reports)
    assert (french.announcement, french.language, french.announced) == ("sound:sim/annonce", "fr", "played")
    assert (other.announcement, other.language, other.announced) == ("sound:sim/announcement", "en", "played")
    assert all(s.recording for s in french.segments + other.segments)
