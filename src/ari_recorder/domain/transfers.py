"""An agent hands the customer on: a transfer the call dials itself (the API, a phone's REFER
reported to it), one Asterisk carried out (the agent replaced by a Local channel, or swapped by an
attended transfer), and the party the call was handed to."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import ids
from ari_recorder.domain.actions import Action, AddToBridge, DialAgent, Hangup, Outcome, StartMoh
from ari_recorder.domain.ending import end, give_up
from ari_recorder.domain.events import (
    AgentAnswered,
    AgentFailed,
    AgentLeft,
    AgentReplaced,
    AgentSwapped,
    CallEvent,
    PartyIdentified,
    TransferRequested,
)
from ari_recorder.domain.notes import note
from ari_recorder.domain.segments import connect
from ari_recorder.domain.state import Agent, Call, Phase, Queue


def step(call: Call, event: CallEvent) -> Outcome | None:
    """The transfers' part of an inbound call's step; None when the event is not theirs."""
    match event:
        case AgentAnswered(channel) if channel == call.dialling and call.transfer_to is not None:
            return _answered(call, channel, call.transfer_to)
        case AgentFailed(channel, cause, _) if channel == call.dialling and call.transfer_to is not None:
            return _failed(call, call.transfer_to, cause)
        case TransferRequested(destination, to, queue) if (
            call.phase is Phase.CONNECTED and call.dialling is None
        ):
            if to is None:
                return call, [note(call.id, "transfer-refused", why=f"no agent {destination}")]
            return dial(call, to, [], queue)
        case AgentReplaced(channel, replacement, destination, to) if (
            call.segment and channel == call.segment.channel
        ) or (call.phase is Phase.HANDED_OFF and replacement == call.handed_to):
            return _replaced(call, channel, replacement, destination, to)
        case AgentSwapped(channel, replacement, to) if (
            call.segment and channel == call.segment.channel and call.dialling is None
        ):
            return _swapped(call, channel, replacement, to)
        case PartyIdentified(channel, to) if call.phase is Phase.HANDED_OFF and channel == call.handed_to:
            told = note(call.id, "attended-transfer", to=to.policy.agent, channel=channel)
            call, connecting = connect(replace(call, handed_to=None), channel, to, joined=True)
            return call, [told, *connecting]
        case AgentLeft(channel) if call.phase is Phase.HANDED_OFF and channel == call.handed_to:
            return end(call, "the party the call was handed to hung up")
    return None


def dial(call: Call, to: Agent, actions: list[Action], queue: Queue | None = None) -> Outcome:
    """Ring the agent the call is being transferred to (through `queue`, if one); `connect`
    takes over when they answer. Until then the call keeps its own queue."""
    channel = ids.agent_channel(call.id, call.legs + 1)
    ring = queue.ring_timeout if queue is not None else call.ring_timeout
    call = replace(call, legs=call.legs + 1, dialling=channel, transfer_to=to, transfer_queue=queue)
    return call, [
        *actions,
        DialAgent(channel, to.policy.agent, to.endpoint, ring),
        note(
            call.id,
            "transfer-dial",
            agent=to.policy.agent,
            endpoint=to.endpoint,
            queue=queue.policy.queue if queue is not None else None,
        ),
    ]


def take_on(call: Call, queue: Queue) -> Call:
    """The call is the queue's from here: its segments decided by the queue's settings (percent,
    record side, pausing, rules matching on the queue, what a failed start does), and the
    queue's music and ring time for whatever waiting follows. The call's channels (one file or
    two) stay the call's: its recordings' legs are named by them."""
    return replace(
        call,
        queue=queue.policy,
        interaction=replace(call.interaction, queue=queue.policy.queue),
        pausing=queue.pausing,
        on_record_failure=queue.on_record_failure,
        moh_class=queue.moh_class,
        ring_timeout=queue.ring_timeout,
    )


def _answered(call: Call, channel: str, to: Agent) -> Outcome:
    leaving = call.segment
    if call.transfer_queue is not None:  # the new agent answered: now, not before, the new queue's
        call = take_on(call, call.transfer_queue)
    call, actions = connect(call, channel, to)
    if leaving is None:  # the phone's transfer already took the old agent away
        return call, actions
    # The new agent is in the bridge before the old one goes (answer_pause_transfer_hangup);
    # the old agent's snoop, and so its recording, ends with the old agent's channel.
    joined = next(i for i, a in enumerate(actions) if isinstance(a, AddToBridge))
    return call, [*actions[: joined + 1], Hangup(leaving.channel), *actions[joined + 1 :]]


def _failed(call: Call, to: Agent, cause: int) -> Outcome:
    agent = to.policy.agent
    if call.phase is Phase.WAITING:  # no agent to fall back on
        gone = replace(call, transfer_to=None, transfer_queue=None)
        return give_up(gone, f"transfer target {agent} did not answer")
    told = note(call.id, "transfer-failed", agent=agent, cause=cause, why="no answer")
    return replace(call, dialling=None, transfer_to=None, transfer_queue=None), [told]


def _replaced(call: Call, channel: str, replacement: str, destination: str, to: Agent | None) -> Outcome:
    """Asterisk carried out the phone's transfer: the old agent's recording ends with its
    channel; the customer waits with music while the call dials the destination itself. (The
    Local channel's StasisStart, naming the agent it replaced, may have come first.)"""
    actions: list[Action] = [
        note(call.id, "phone-transfer", agent=call.segments[-1].agent, to=destination),
        Hangup(channel),
        Hangup(replacement),
        StartMoh(call.customer, call.moh_class),
    ]
    call = replace(call, phase=Phase.WAITING, handed_to=None)
    if to is None:
        call, ending = give_up(call, f"transferred to {destination}, which is no agent")
        return call, actions + ending
    return dial(call, to, actions)


def _swapped(call: Call, channel: str, replacement: str, to: Agent | None) -> Outcome:
    """Asterisk took the old agent's channel away (its recording ends with it); it is hung up
    with the call, should the phone not do it."""
    assert call.segment is not None
    gone = call.segment.agent
    call = replace(call, swapped_out=(*call.swapped_out, channel))
    if to is None:
        why = "Asterisk put a channel in the agent's place; no agent of ours known on it (yet)"
        told = note(call.id, "agent-replaced", agent=gone, channel=replacement, why=why)
        return replace(call, phase=Phase.HANDED_OFF, handed_to=replacement), [told]
    call, connecting = connect(call, replacement, to, joined=True)
    return call, [note(call.id, "attended-transfer", agent=gone, to=to.policy.agent), *connecting]
