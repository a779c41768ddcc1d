"""A call an agent places: the agent held in the bridge while the customer is dialled; its first
segment from the customer's answer. The call's id is the agent's channel. Transferred as an
inbound call is (domain/transfers.py): the new agent's segment decided by their consent and the
queue's settings; the agent who placed it then leaves, and the customer's leg is the call's."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import ids, transfers
from ari_recorder.domain.actions import (
    Action,
    AddToBridge,
    Answer,
    CreateBridge,
    DialCustomer,
    Outcome,
    SetVariable,
)
from ari_recorder.domain.ending import end
from ari_recorder.domain.events import (
    AgentAnswered,
    AgentFailed,
    AgentLeft,
    CallEvent,
    CustomerAnswered,
    CustomerLeft,
    RecordingEnded,
)
from ari_recorder.domain.notes import note
from ari_recorder.domain.policy import RecordSide
from ari_recorder.domain.segments import decision, queue_of, record
from ari_recorder.domain.state import Call, Phase, Segment, legs


def start(call: Call, endpoint: str) -> Outcome:
    """An agent's call out entered the application (the call's id is the agent's channel):
    answer the agent, hold them in the bridge, dial the customer. No announcement: the agent
    speaks first; the segment, and any recording, starts when the customer answers."""
    (agent,) = call.agents
    call = replace(call, phase=Phase.WAITING, dialling=call.customer)
    # The phone's own transfers (REFER) only reported, as an inbound call's agents' are: the
    # call carries them out itself (domain/transfers.py), and stays ours.
    reported: list[Action] = (
        [SetVariable(call.id, "PJSIP_TRANSFER_HANDLING()", "ari-only")]
        if agent.endpoint.startswith("PJSIP/") and call.ari_only_transfers
        else []
    )
    return call, [
        Answer(call.id),
        *reported,
        CreateBridge(call.bridge),
        AddToBridge(call.bridge, call.id, absorb_dtmf=True),
        DialCustomer(call.customer, endpoint, call.ring_timeout, agent.policy.agent),
        note(call.id, "dial-out", agent=agent.policy.agent, endpoint=endpoint),
    ]


def _in_its_words(call: Call, event: CallEvent) -> CallEvent:
    """What reconciliation tells in an inbound call's words, as an outbound call's."""
    match event:
        case AgentAnswered(channel) if channel == call.customer:
            return CustomerAnswered(channel)
        case AgentFailed(channel) | AgentLeft(channel):
            return CustomerLeft(channel)
    return event


def handed_on(call: Call) -> bool:
    """An outbound call the agent who placed it has handed on: its own channel is gone, the
    customer's leg is the one whose leaving ends it."""
    return call.customer != call.id and any(s.channel != call.id for s in call.segments)


def step(call: Call, event: CallEvent) -> Outcome:
    handled = transfers.step(call, event)
    if handled is not None:
        return handled
    match _in_its_words(call, event):
        case CustomerLeft(gone) if gone is not None and _left_before(call, gone):
            return call, []  # an agent's channel hung up when the next one took over
        case CustomerAnswered(channel) if channel == call.dialling:
            return _answered(call, channel)
        case CustomerLeft(gone) if gone == call.customer and call.phase is Phase.WAITING:
            return end(call, "the customer did not answer")
        case CustomerLeft(gone) if gone == call.customer:
            return end(call, "the customer hung up")
        case CustomerLeft(gone) if gone in (None, call.id) or (call.segment and gone == call.segment.channel):
            return end(call, "the agent hung up")
        case CustomerLeft():
            return call, []  # a channel that joined and left (an attended transfer's consultation)
        case RecordingEnded(name):
            return replace(call, recordings_open=call.recordings_open - {name}), []
    return call, []


def _left_before(call: Call, channel: str) -> bool:
    """The channel of an agent whose segment is over (transferred), not the current one's."""
    current = call.segment.channel if call.segment is not None else None
    return channel != current and any(s.channel == channel for s in call.segments)


def _answered(call: Call, channel: str) -> Outcome:
    """The customer answered: the segment, decided and maybe recorded, on the agent's or the
    customer's side."""
    (agent,) = call.agents
    decided = decision(call, agent.policy)
    side = call.queue.record_side if call.queue else RecordSide.AGENT
    name = ids.recording(call.id, 1, agent.policy.agent)
    target = call.customer if side is RecordSide.CUSTOMER else call.id
    starting = record(call, target, 1, name) if decided.record else []
    recording = name if decided.record else None
    segment = Segment(1, agent.policy.agent, call.id, decided, recording, queue=queue_of(call))
    call = replace(
        call,
        phase=Phase.CONNECTED,
        dialling=None,
        segments=(segment,),
        recordings_open=frozenset(legs(name, call.channels)) if decided.record else frozenset(),
    )
    record_ = "yes" if decided.record else "no"
    told = note(
        call.id,
        "connected",
        segment=1,
        agent=agent.policy.agent,
        direction="outbound",
        record=record_,
        why=decided.reason,
    )
    return call, [*starting, AddToBridge(call.bridge, channel), told]
