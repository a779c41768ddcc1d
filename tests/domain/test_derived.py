"""What the engine reads off a call's state (deadlines, aliases), as tables: a call resumed from
the store is armed and routed from these alone."""

from __future__ import annotations

from ari_recorder.domain import call as c
from ari_recorder.domain import consult
from ari_recorder.domain.derived import aliases, deadlines
from ari_recorder.domain.pausing import Source
from ari_recorder.domain.policy import AgentId
from tests.domain.test_call import agent, connected, new_call

LOCAL = "Local/_attended@transfer-1;1"
PHONE = "9.5"  # an agent's phone's consultation call


def waiting(at: float) -> c.Call:
    call, _ = c.start(new_call(agent("1001")))
    return c.step(call, c.AnnouncementFinished(), at)[0]


def test_the_wait_limit_runs_from_the_first_wait() -> None:
    call = waiting(100.0)
    assert call.waiting_since == 100.0
    assert deadlines(call) == [(100.0 + call.wait_limit, c.WaitLimitReached())]
    # Connected, then waiting again after a phone transfer: the same deadline, told once.
    call, _ = c.step(call, c.AgentAnswered("7.1-agent-1"), 101.0)
    call, _ = c.step(call, c.AgentReplaced("7.1-agent-1", "L;1", "1002", agent("1002")), 150.0)
    assert call.phase is c.Phase.WAITING
    assert (100.0 + call.wait_limit, c.WaitLimitReached()) in deadlines(call)
    assert c.step(waiting(100.0), c.CustomerLeft("7.1"), 101.0)[0].phase is c.Phase.ENDED
    assert deadlines(c.step(waiting(100.0), c.CustomerLeft("7.1"), 101.0)[0]) == []


def test_a_pause_and_a_recording_not_yet_started_have_their_deadlines() -> None:
    call, _ = c.step(waiting(100.0), c.AgentAnswered("7.1-agent-1"), 101.0)
    (start,) = call.starting
    record = (101.0 + call.record_deadline, c.RecordDeadline(start.name))
    assert record in deadlines(call)
    call, _ = c.step(call, c.RecordingBegan(start.name), 101.1)
    assert record not in deadlines(call)
    call, _ = c.step(call, c.PauseRequested("1001", Source.API), 110.0)
    assert (110.0 + call.pausing.max_seconds, c.PauseExpired(1)) in deadlines(call)
    call, _ = c.step(call, c.ResumeRequested("1001", Source.API), 111.0)
    assert [event for _, event in deadlines(call)] == [c.WaitLimitReached()], "the pause's is gone"


def test_a_recording_deadline_outlives_the_call() -> None:
    call, _ = c.step(waiting(100.0), c.AgentAnswered("7.1-agent-1"), 101.0)
    call, _ = c.step(call, c.CustomerLeft("7.1"), 101.5)
    assert call.phase is c.Phase.ENDED
    assert [type(event) for _, event in deadlines(call)] == [c.RecordDeadline], "the drain still says it"


def test_the_channels_that_joined_a_call_are_its_aliases() -> None:
    call = connected(agent("3001"))
    assert aliases(call) == frozenset(), "the call's own ids name it"
    handed, _ = c.step(call, c.AgentSwapped("7.1-agent-1", LOCAL, None))
    assert aliases(handed) == {LOCAL}
    swapped, _ = c.step(call, c.AgentSwapped("7.1-agent-1", LOCAL, agent("3002")))
    assert swapped.segment is not None and swapped.segment.channel == LOCAL
    assert aliases(swapped) == {LOCAL}
    ask = consult.ConsultRequested(PHONE, AgentId("3001"), "3002", agent("3002"))
    consulting, _ = consult.step(call, ask)
    assert aliases(consulting) == {PHONE}
