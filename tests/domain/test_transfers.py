"""Transfers through a queue, and of outbound calls, as tables: no I/O, no event loop.

A call transferred to a queue is that queue's from the new agent's answer (not before: a transfer
nobody answers leaves the call with its queue): the new segment is decided by the queue's percent,
recorded on its side, paused by its rules, matched by rules on its name. An outbound call is
transferred as an inbound one; the agent who placed it leaves, the customer's leg stays.
"""

from __future__ import annotations

import pytest

from ari_recorder.domain import call as c
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Direction,
    Interaction,
    InteractionId,
    Level,
    QueueId,
    QueuePolicy,
    RecordSide,
    Rule,
)

SUPPORT, SALES = QueueId("support"), QueueId("sales")


def agent(ext: str, permit: bool = True, percent: int | None = None) -> c.Agent:
    return c.Agent(AgentPolicy(AgentId(ext), permit, percent), f"PJSIP/{ext}")


def queue(
    name: QueueId, percent: int | None, side: RecordSide = RecordSide.AGENT, pause: bool = True
) -> c.Queue:
    policy = QueuePolicy(name, percent, side, pause)
    return c.Queue(policy, c.PauseRules(allowed=pause), c.OnRecordFailure.HANGUP, f"moh-{name}", 33)


def inbound(first: c.Queue, company: CompanyPolicy | None = None) -> c.Call:
    """A call on `first`, its agent A (consenting, 0% of their own) with the customer."""
    call = c.Call(
        id="7.1",
        customer="7.1",
        interaction=Interaction(InteractionId("7.1"), queue=first.policy.queue),
        company=company or CompanyPolicy(),
        queue=first.policy,
        agents=(agent("A"),),
        announcement="sound:notice",
        ring_timeout=15,
        pausing=first.pausing,
        moh_class=first.moh_class,
    )
    call, _ = c.step(c.start(call)[0], c.AnnouncementFinished())
    return c.step(call, c.AgentAnswered("7.1-agent-1"))[0]


def outbound(company: CompanyPolicy | None = None) -> c.Call:
    """Agent A's call out, the customer answered."""
    call = c.Call(
        id="9.9",
        customer="9.9-customer",
        interaction=Interaction(InteractionId("9.9"), direction=Direction.OUTBOUND),
        company=company or CompanyPolicy(),
        queue=None,
        agents=(agent("A", percent=100),),
        announcement="",
        ring_timeout=45,
    )
    call, _ = c.start_outbound(call, "PJSIP/15550100@trunk")
    return c.step(call, c.CustomerAnswered("9.9-customer"))[0]


def recordings(actions: list[c.Action]) -> list[c.Action]:
    return [a for a in actions if isinstance(a, c.StartRecording | c.StopRecording)]


def through(call: c.Call, to: c.Agent, via: c.Queue | None, leg: int = 2) -> tuple[c.Call, list[c.Action]]:
    """Transferred to `to` (through `via`), who answers."""
    call, _ = c.step(call, c.TransferRequested(str(to.policy.agent), to, via))
    return c.step(call, c.AgentAnswered(f"{call.id}-agent-{leg}"))


@pytest.mark.parametrize(
    ("first", "second", "recorded", "levels"),
    [
        (queue(SUPPORT, 0), queue(SALES, 100), True, [{"level": "queue", "by": "sales"}]),
        (queue(SUPPORT, 100), queue(SALES, 0), False, []),
        (queue(SUPPORT, None), queue(SALES, None), False, []),
        (queue(SUPPORT, 100), queue(SALES, 100), True, [{"level": "queue", "by": "sales"}]),
    ],
    ids=["0-to-100", "100-to-0", "blank-to-blank", "100-to-100"],
)
def test_the_new_segment_is_decided_by_the_queue_it_was_transferred_to(
    first: c.Queue, second: c.Queue, recorded: bool, levels: list[dict[str, str]]
) -> None:
    call = inbound(first)
    assert call.segments[0].queue == SUPPORT
    call, actions = through(call, agent("B"), second)
    old, new = call.segments
    assert (old.queue, new.queue) == (SUPPORT, SALES), "each segment names the queue that decided it"
    assert (new.recording is not None, new.decision.levels_json()) == (recorded, levels)
    assert recordings(actions) == (
        [c.StartRecording("7.1-agent-2", "7.1-snoop-2", "7.1-seg2-B")] if recorded else []
    )
    assert (call.queue, call.interaction.queue) == (second.policy, SALES)
    assert (call.pausing, call.on_record_failure, call.moh_class, call.ring_timeout) == (
        second.pausing,
        c.OnRecordFailure.HANGUP,
        "moh-sales",
        33,
    )
    assert call.transfer_queue is None


def test_the_call_is_the_new_queues_only_from_the_new_agents_answer() -> None:
    call = inbound(queue(SUPPORT, 0))
    ringing, actions = c.step(call, c.TransferRequested("B", agent("B"), queue(SALES, 100, pause=False)))
    assert [a for a in actions if isinstance(a, c.DialAgent)] == [
        c.DialAgent("7.1-agent-2", AgentId("B"), "PJSIP/B", 33)
    ], "rung for the queue's ring time"
    assert ringing.queue == call.queue and ringing.pausing.allowed, "A's segment is still support's"
    assert ringing.transfer_queue is not None and ringing.transfer_queue.policy.queue == SALES
    failed, _ = c.step(ringing, c.AgentFailed("7.1-agent-2", 19))
    assert (failed.queue, failed.interaction.queue, failed.transfer_queue) == (call.queue, SUPPORT, None)
    assert failed.segment is not None and failed.segment.agent == "A"
    answered, _ = c.step(ringing, c.AgentAnswered("7.1-agent-2"))
    assert answered.queue is not None and answered.queue.queue == SALES and not answered.pausing.allowed


def test_a_transfer_to_an_agent_keeps_the_calls_queue() -> None:
    call, _ = through(inbound(queue(SUPPORT, 100)), agent("B"), None)
    assert call.queue is not None and call.queue.queue == SUPPORT
    assert call.segments[-1].recording is not None and call.segments[-1].queue == SUPPORT


def test_a_rule_on_the_queue_matches_the_queue_the_call_was_transferred_to() -> None:
    rules = CompanyPolicy(rules=(Rule("sales-all", {"queue": ("sales",)}, 100),))
    call = inbound(queue(SUPPORT, 0), rules)
    assert call.segments[0].recording is None
    call, _ = through(call, agent("B"), queue(SALES, 0))
    assert call.segments[1].decision.levels == (Level.RULE,)


def test_consent_still_overrides_the_new_queue() -> None:
    call, actions = through(inbound(queue(SUPPORT, 0)), agent("B", permit=False), queue(SALES, 100))
    assert recordings(actions) == [] and call.segments[1].recording is None


def test_from_a_customer_side_queue_to_an_agent_side_one_the_customer_recording_ends() -> None:
    call = inbound(queue(SUPPORT, 100, RecordSide.CUSTOMER))
    assert call.customer_recording == "7.1-seg1-A"
    call, actions = through(call, agent("B"), queue(SALES, 100, RecordSide.AGENT))
    assert recordings(actions) == [
        c.StartRecording("7.1-agent-2", "7.1-snoop-2", "7.1-seg2-B"),
        c.StopRecording("7.1-seg1-A"),
    ]
    assert call.customer_recording is None
    assert {w.recording for w in call.windows} == {"7.1-seg1-A"}, "its time ends with the new answer"


def test_from_an_agent_side_queue_to_a_customer_side_one_the_customer_is_recorded() -> None:
    call, actions = through(inbound(queue(SUPPORT, 0)), agent("B"), queue(SALES, 100, RecordSide.CUSTOMER))
    assert recordings(actions) == [c.StartRecording("7.1", "7.1-snoop-2", "7.1-seg2-B")]
    assert call.customer_recording == "7.1-seg2-B"


def test_an_outbound_call_is_transferred_to_an_agent_and_its_first_agent_leaves() -> None:
    call = outbound()
    assert call.segments[0].recording == "9.9-seg1-A"
    call, actions = through(call, agent("B", percent=100), None, leg=1)
    assert [a for a in actions if isinstance(a, c.Hangup)] == [c.Hangup("9.9")]
    assert recordings(actions) == [c.StartRecording("9.9-agent-1", "9.9-snoop-2", "9.9-seg2-B")]
    assert [(s.agent, s.channel) for s in call.segments] == [("A", "9.9"), ("B", "9.9-agent-1")]
    assert c.handed_on(call)
    after, actions = c.step(call, c.CustomerLeft("9.9"))
    assert (after, actions) == (call, []), "the first agent's channel going does not end the call"
    ended, actions = c.step(call, c.AgentLeft("9.9-agent-1"))
    assert ended.phase is c.Phase.ENDED, "the new agent hanging up does"
    assert c.Hangup("9.9-customer") in actions
    ended, _ = c.step(call, c.CustomerLeft("9.9-customer"))
    assert ended.phase is c.Phase.ENDED, "and so does the customer"


def test_an_outbound_call_transferred_to_a_queue_is_decided_by_it() -> None:
    call, _ = through(outbound(), agent("B"), queue(SALES, 100), leg=1)
    assert call.segments[1].decision.levels_json() == [{"level": "queue", "by": "sales"}]
    assert call.segments[1].queue == SALES and call.interaction.direction is Direction.OUTBOUND
    off = CompanyPolicy(compliance_all=True, outbound_recording=False)
    call, actions = through(outbound(off), agent("B", percent=100), queue(SALES, 100), leg=1)
    assert recordings(actions) == [], "outbound recording off holds for the new segment too"


def test_an_outbound_transfer_nobody_answers_leaves_the_call_with_its_agent() -> None:
    call = outbound()
    ringing, _ = c.step(call, c.TransferRequested("B", agent("B"), queue(SALES, 100)))
    failed, actions = c.step(ringing, c.AgentFailed("9.9-agent-1", 19))
    assert failed.phase is c.Phase.CONNECTED and failed.segment == call.segment and failed.queue is None
    assert not c.handed_on(failed) and not [a for a in actions if isinstance(a, c.Hangup)]
    ended, _ = c.step(failed, c.CustomerLeft("9.9"))
    assert ended.phase is c.Phase.ENDED, "its agent hanging up still ends it"
