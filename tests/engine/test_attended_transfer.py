"""An agent's attended transfer from a SIP phone, carried out by Asterisk, end to end on the
simulator's model of it (Asterisk's testsuite order; no recorded trace exists): the Local channel
that takes the agent's place is recorded by the rules for the target agent."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from ari_recorder.settings import QueueSettings
from tests.engine.test_inbound_calls import SIP_AGENTS
from tests.support.audio import duration, summary, tone_runs
from tests.support.waiting import until
from tests.support.world import SLACK, World, connected, world


@pytest.mark.parametrize(("target", "recorded"), [("3002", True), ("3003", False)])
@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_an_attended_transfer_records_the_target_by_the_rules(
    tmp_path: Path, side: str, target: str, recorded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    queues = {"support": QueueSettings(agents=["3001"], record_side=side)}  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS, phone_transfers="asterisk") as w:
        await w.control("calls", {"queue": "support", "caller": "15550700", "via": "sip"})
        await connected(w, "3001")
        await asyncio.sleep(1.5)  # A and the customer talk: the scenario
        await w.control("attended_transfer", {"agent": "3001", "to": target})
        await connected(w, target, timeout=30)  # A consults B 1 s, completes
        await asyncio.sleep(2.0)  # B and the customer talk
        live = w.controller.live_calls() if w.controller else []
        await w.control("hangup", {"customer": "15550700"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        files = {s.recording: await w.fetch(s.recording) for s in report.call.segments if s.recording}
        left = await _until_empty(w)  # the Local pair and the target go down a moment after the call
    assert [(c.phase.value, c.segment.agent if c.segment else None) for c in live] == [("connected", target)]
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []
    a, b = report.call.segments
    assert (a.agent, b.agent) == ("3001", target)
    if side == "agent":
        assert a.recording is not None and (b.recording is not None) == recorded
        assert 1.4 < duration(files[a.recording]) < 5.0
        if b.recording is not None:
            runs = tone_runs(files[b.recording])
            assert {440, 1000} in [r.tones for r in runs], summary(runs)
    elif recorded:
        assert a.recording == b.recording, "one recording across the transfer"
    else:
        assert b.recording is None, "stopped for good when a non-permitted agent took the call"


# ----- the application's mode: the consultation placed by the controller (dialplan 7XXXX) -----
CALLER = "15550800"


async def _until_empty(w: World) -> dict[str, list[object]]:
    """Asterisk's state once every channel has gone (the last go a moment after the call)."""

    async def empty() -> dict[str, list[object]] | None:
        left = await w.state()
        return None if left["channels"] else left

    return await until(empty, what="every channel gone", timeout=5)


async def _consulting(w: World) -> dict[str, list[object]]:
    """The simulator's state once the consultation is answered: its bridge holds both calls."""

    async def answered() -> dict[str, list[object]] | None:
        state = await w.state()
        bridges = _consultations(state)
        return state if bridges and len(bridges[0]["channels"]) == 2 else None  # type: ignore[arg-type]

    return await until(answered, what="the consultation answered", timeout=10)


async def _back_to_the_call(w: World) -> dict[str, list[object]]:
    """The simulator's state once only the customer's call and the agent's first are left."""

    async def back() -> dict[str, list[object]] | None:
        state = await w.state()
        return state if len(_calls(state)) == 2 and not _consultations(state) else None

    return await until(back, what="the consultation's calls gone", timeout=5)


async def _logged(caplog: pytest.LogCaptureFixture, line: str) -> None:
    await until(lambda: line in caplog.text, what=f"the controller to log {line!r}", timeout=10)


def _calls(state: dict[str, list[object]]) -> list[str]:
    """The live channels' names, but the snoops'."""
    names = [str(c["name"]) for c in state["channels"] if isinstance(c, dict)]
    return [n for n in names if not n.startswith("Snoop/")]


def _consultations(state: dict[str, list[object]]) -> list[dict[str, object]]:
    return [b for b in state["bridges"] if isinstance(b, dict) and "-consult-" in str(b["id"])]


@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_a_consultation_the_application_placed_is_carried_out_on_the_replaces(
    tmp_path: Path, side: str, caplog: pytest.LogCaptureFixture
) -> None:
    """3001 consults 3002 (7 3002 into Stasis), then sends REFER with Replaces (ari-only):
    3002 takes 3001's place with the customer; nothing of the consultation is recorded."""
    queues = {"support": QueueSettings(agents=["3001"], record_side=side)}  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": CALLER, "via": "sip"})
        await connected(w, "3001")
        since = time.monotonic()
        await asyncio.sleep(1.5)  # A and the customer talk 1.5 s: the scenario
        await w.control("consult", {"agent": "3001", "to": "3002"})
        during = await _consulting(w)  # 3002 rang 0.3 s; the customer is on hold since the consult
        consulted = time.monotonic() - since
        await asyncio.sleep(1.2)  # A and B talk
        await w.control("transfer", {"agent": "3001", "replaces": True})
        await connected(w, "3002")
        transferred = time.monotonic() - since
        await asyncio.sleep(1.5)  # B and the customer talk
        live = w.controller.live_calls() if w.controller else []
        after = await w.state()
        await w.control("hangup", {"customer": CALLER})
        report = await asyncio.wait_for(w.reports.get(), 15)
        took = time.monotonic() - since
        files = {s.recording: await w.fetch(s.recording) for s in report.call.segments if s.recording}
        left = await _until_empty(w)
    (consultation,) = _consultations(during)
    assert len(consultation["channels"]) == 2  # type: ignore[arg-type]
    assert _consultations(after) == []
    assert [(c.phase.value, c.segment.agent if c.segment else None) for c in live] == [("connected", "3002")]
    assert "agent=3001 action=attended-transfer to=3002" in caplog.text
    assert left["channels"] == [] and left["bridges"] == [] and left["live_recordings"] == []
    a, b = report.call.segments
    assert (a.number, a.agent, b.number, b.agent) == (1, "3001", 2, "3002")
    if side == "agent":
        assert a.recording is not None and b.recording is not None and a.recording != b.recording
        first, second = files[a.recording], files[b.recording]
        # A's: from A's answer to the transfer; on hold the last 1.5 s, only the customer heard
        # (B's first frame may be there too: B joins the customer before A's call is hung up).
        runs = tone_runs(first)
        assert 2.9 < duration(first) < transferred + SLACK
        held = [r for r in runs if consulted < r.start < duration(first) - 0.1 and 1000 in r.tones]
        assert not held, summary(runs)
        # B's: from the transfer on, with the customer from its first moment.
        assert 1.4 < duration(second) < took - transferred + SLACK
        runs = tone_runs(second)
        assert runs[0].tones == {440, 1000} and runs[0].start < 0.1, summary(runs)
    else:
        assert a.recording == b.recording is not None, "one recording across the transfer"
        (only,) = files.values()
        assert 4.1 < duration(only) < took + SLACK
        # The consultation (from its answer to the transfer): the customer alone, on hold.
        runs = tone_runs(only)
        assert not [r for r in runs if consulted < r.start < consulted + 1.1 and 1000 in r.tones], summary(
            runs
        )
        after = [
            r
            for r in runs
            if r.start > transferred - 0.2 and r.tones == {440, 1000} and r.end - r.start > 1.0
        ]
        assert after, f"B with the customer after the transfer: {summary(runs)}"


@pytest.mark.parametrize("who", ["3001", "3002"])
async def test_a_consultation_abandoned_leaves_the_call_with_the_first_agent(
    tmp_path: Path, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    queues = {"support": QueueSettings(agents=["3001"])}
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": CALLER, "via": "sip"})
        await connected(w, "3001")
        since = time.monotonic()
        await asyncio.sleep(1.0)  # A and the customer talk: the scenario
        await w.control("consult", {"agent": "3001", "to": "3002"})
        await _consulting(w)
        await asyncio.sleep(0.8)  # A and B talk
        await w.control("hangup", {"agent": who})  # 3001's consultation call, or 3002
        await _logged(caplog, "action=consult-ended to=3002")
        await asyncio.sleep(1.0)  # A is back with the customer, and heard
        live = w.controller.live_calls() if w.controller else []
        during = await w.state()
        await w.control("hangup", {"customer": CALLER})
        report = await asyncio.wait_for(w.reports.get(), 15)
        took = time.monotonic() - since
        (segment,) = report.call.segments
        assert segment.recording is not None
        wav = await w.fetch(segment.recording)
        left = await _until_empty(w)
    assert [(c.phase.value, c.segment.agent if c.segment else None) for c in live] == [("connected", "3001")]
    assert "action=consult-ended to=3002" in caplog.text
    assert _consultations(during) == []
    assert len(_calls(during)) == 2, "the customer and 3001's first call"
    assert left["channels"] == [] and left["bridges"] == []
    runs = tone_runs(wav)
    assert 3.0 < duration(wav) < took + SLACK  # A answered 3.1 s before the customer hung up
    back = [r for r in runs if r.start > 2.0 and r.tones == {440, 1000} and r.end - r.start > 0.5]
    assert back, f"A is heard again after the consultation: {summary(runs)}"


async def test_a_consultation_nobody_answers_ends_for_the_consulting_agent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queues = {"support": QueueSettings(agents=["3001"], ring_timeout=1)}
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS) as w:
        await w.control("phones/3002", {"answer": "never"}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": CALLER, "via": "sip"})
        await connected(w, "3001")
        await w.control("consult", {"agent": "3001", "to": "3002"})
        await _logged(caplog, "action=consult-ended to=3002")  # after the ring timeout: 1 s
        during = await _back_to_the_call(w)
        live = w.controller.live_calls() if w.controller else []
        await w.control("hangup", {"customer": CALLER})
        report = await asyncio.wait_for(w.reports.get(), 15)
        left = await _until_empty(w)
    names = _calls(during)
    assert len(names) == 2 and not [n for n in names if n.startswith("PJSIP/3002")], names
    assert _consultations(during) == []
    assert 'action=consult-ended to=3002 why="agent 3002 did not answer (cause 19)"' in caplog.text
    assert [c.segment.agent if c.segment else None for c in live] == ["3001"]
    assert [s.agent for s in report.call.segments] == ["3001"]
    assert left["channels"] == [] and left["bridges"] == []


async def test_a_consultation_of_no_agent_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queues = {"support": QueueSettings(agents=["3001"])}
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": CALLER, "via": "sip"})
        await connected(w, "3001")
        await w.control("consult", {"agent": "3001", "to": "3009"})
        await _logged(caplog, "action=consult-refused to=3009")
        during = await _back_to_the_call(w)
        await w.control("hangup", {"customer": CALLER})
        report = await asyncio.wait_for(w.reports.get(), 15)
        left = await _until_empty(w)
    assert 'agent=3001 action=consult-refused to=3009 why="no agent 3009"' in caplog.text
    assert len(_calls(during)) == 2 and _consultations(during) == []
    assert [s.agent for s in report.call.segments] == ["3001"]
    assert left["channels"] == [] and left["bridges"] == []


async def test_a_consultation_ended_while_the_event_socket_was_down_is_found_on_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queues = {"support": QueueSettings(agents=["3001"])}
    caplog.set_level(logging.INFO)
    async with world(tmp_path, queues, SIP_AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": CALLER, "via": "sip"})
        await connected(w, "3001")
        await w.control("consult", {"agent": "3001", "to": "3002"})
        await _consulting(w)
        await w.control("drop-websockets", {})
        await w.control("hangup", {"agent": "3001"})  # the consultation, unheard
        await _logged(caplog, "action=consult-ended to=3002")  # the controller is back, reconciled
        during = await _back_to_the_call(w)
        await w.control("hangup", {"customer": CALLER})
        await asyncio.wait_for(w.reports.get(), 15)
        left = await _until_empty(w)
    assert "action=reconcile missed=AgentLeft" in caplog.text
    assert 'action=consult-ended to=3002 why="agent 3001 hung up the consultation"' in caplog.text
    assert len(_calls(during)) == 2 and _consultations(during) == []
    assert left["channels"] == [] and left["bridges"] == []
