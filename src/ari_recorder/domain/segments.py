"""A segment begins: an agent is with the customer, decided on by the rules, and its recording
started through snoops, kept (customer side, across transfers) or stopped."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import ids
from ari_recorder.domain.actions import (
    Action,
    AddToBridge,
    Outcome,
    SetVariable,
    StartRecording,
    StopMoh,
    StopRecording,
)
from ari_recorder.domain.notes import note
from ari_recorder.domain.policy import AgentPolicy, Decision, QueueId, RecordSide, decide
from ari_recorder.domain.state import Agent, Call, OnAnnouncementFailure, Phase, Segment, Spy, legs


def decision(call: Call, agent: AgentPolicy) -> Decision:
    """The segment's decision by the rules, unless the customer was not told of recording."""
    decided = decide(call.company, call.queue, agent, call.interaction)
    no_record = call.on_announcement_failure == OnAnnouncementFailure.NO_RECORD
    if decided.record and call.unannounced is not None and no_record:
        why = f"the recording notice was not played ({call.announced}): not recorded"
        return replace(decided, record=False, reason=f"{why}; the rules said: {decided.reason}")
    return decided


def record(call: Call, target: str, number: int, name: str) -> list[Action]:
    """Record through snoops on `target`: one both ways, or one per party (the snooped channel's
    party says `in`, hears `out`: reference snoop_directions_bridge_record)."""
    if call.channels == 1:
        return [StartRecording(target, ids.snoop(call.id, number), name)]
    customers, agents = legs(name, 2)
    # The customer's words: what the customer's channel says, or what the agent's hears.
    customer_spy, agent_spy = (Spy.IN, Spy.OUT) if target == call.customer else (Spy.OUT, Spy.IN)
    return [
        StartRecording(target, ids.snoop(call.id, number, "c"), customers, customer_spy),
        StartRecording(target, ids.snoop(call.id, number, "a"), agents, agent_spy),
    ]


def connect(call: Call, channel: str, who: Agent, joined: bool = False) -> Outcome:
    """An agent answered (or, `joined`, is already in the bridge): a new segment, decided now;
    its recording started, kept or stopped."""
    agent = who.policy
    number = len(call.segments) + 1
    decided = decision(call, agent)
    joining = [] if joined else _joining(call, channel, who)
    hold: list[Action] = [StopMoh(call.customer)] if call.phase is Phase.WAITING else []
    side = call.queue.record_side if call.queue else RecordSide.AGENT
    name = ids.recording(call.id, number, agent.agent)
    if side is RecordSide.AGENT:
        call, stopping = _customer_side_over(call)
        call, recording, starting = _agent_side(call, channel, number, name, decided)
        starting = [*starting, *stopping]  # the new recording asked for first
        # The agent side's recording is asked for first: the agent has answered, and every round
        # trip before it is audio lost.
        actions = [*starting, *hold, *joining]
    else:
        call, recording, starting = _customer_side(call, agent, number, name, decided)
        actions = [*hold, *starting, *joining]  # the customer side waits for the music to stop
    segment = Segment(number, agent.agent, channel, decided, recording, queue=queue_of(call))
    call = replace(
        call,
        phase=Phase.CONNECTED,
        dialling=None,
        transfer_to=None,
        transfer_queue=None,
        segments=(*call.segments, segment),
    )
    record_ = "yes" if recording else "no"
    actions.append(
        note(call.id, "connected", segment=number, agent=agent.agent, record=record_, why=decided.reason)
    )
    return call, actions


def queue_of(call: Call) -> QueueId | None:
    return call.queue.queue if call.queue is not None else None


def _customer_side_over(call: Call) -> tuple[Call, list[Action]]:
    """A customer-side recording runs on across transfers within queues recording that side; a
    segment of a queue recording the agent's side ends it (transferred to such a queue): the new
    segment is that queue's to decide, on its own side."""
    running = call.customer_recording
    if running is None:
        return call, []
    stopping: list[Action] = [StopRecording(leg) for leg in legs(running, call.channels)]
    return replace(call, customer_recording=None), stopping


def _joining(call: Call, channel: str, who: Agent) -> list[Action]:
    """The answered agent into the call's bridge."""
    joining: list[Action] = []
    if who.endpoint.startswith("PJSIP/") and call.ari_only_transfers:
        # The phone's own transfers (REFER) are then only reported, so the call stays ours.
        joining.append(SetVariable(channel, "PJSIP_TRANSFER_HANDLING()", "ari-only"))
    # The agent's keys are absorbed: the customer never hears the pause codes.
    joining.append(AddToBridge(call.bridge, channel, absorb_dtmf=True))
    return joining


def _agent_side(
    call: Call, channel: str, number: int, name: str, decided: Decision
) -> tuple[Call, str | None, list[Action]]:
    """The agent's leg recorded, if the segment is selected: a recording of its own."""
    if not decided.record:
        return call, None, []
    call = replace(call, recordings_open=call.recordings_open | set(legs(name, call.channels)))
    return call, name, record(call, channel, number, name)


def _customer_side(
    call: Call, agent: AgentPolicy, number: int, name: str, decided: Decision
) -> tuple[Call, str | None, list[Action]]:
    """The customer's leg: one recording, on across transfers; stopped for good by an agent
    without consent."""
    running = call.customer_recording
    if not agent.permit_recordings:
        running_legs = legs(running, call.channels) if running is not None else ()
        stopping: list[Action] = [StopRecording(leg) for leg in running_legs]
        over = running is not None or call.customer_recording_over
        return replace(call, customer_recording=None, customer_recording_over=over), None, stopping
    if running is not None:
        return call, running, []
    if not decided.record or call.customer_recording_over:
        return call, None, []
    opened = call.recordings_open | set(legs(name, call.channels))
    call = replace(call, customer_recording=name, recordings_open=opened)
    return call, name, record(call, call.customer, number, name)
