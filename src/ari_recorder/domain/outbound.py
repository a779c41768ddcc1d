"""A call an agent places: the agent held in the bridge while the customer is dialled; one
segment, from the customer's answer, and no transfers. The call's id is the agent's channel."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import ids
from ari_recorder.domain.actions import AddToBridge, Answer, CreateBridge, DialCustomer, Outcome
from ari_recorder.domain.ending import end
from ari_recorder.domain.events import (
    AgentAnswered,
    AgentFailed,
    AgentLeft,
    CallEvent,
    CustomerAnswered,
    CustomerLeft,
    RecordingEnded,
    TransferRequested,
)
from ari_recorder.domain.notes import note
from ari_recorder.domain.policy import RecordSide
from ari_recorder.domain.segments import decision, record
from ari_recorder.domain.state import Call, Phase, Segment, legs


def start(call: Call, endpoint: str) -> Outcome:
    """An agent's call out entered the application (the call's id is the agent's channel):
    answer the agent, hold them in the bridge, dial the customer. No announcement: the agent
    speaks first; the segment, and any recording, starts when the customer answers."""
    (agent,) = call.agents
    call = replace(call, phase=Phase.WAITING, dialling=call.customer)
    return call, [
        Answer(call.id),
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


def step(call: Call, event: CallEvent) -> Outcome:
    match _in_its_words(call, event):
        case CustomerAnswered(channel) if channel == call.dialling:
            return _answered(call, channel)
        case CustomerLeft(gone) if gone == call.customer and call.phase is Phase.WAITING:
            return end(call, "the customer did not answer")
        case CustomerLeft(gone) if gone == call.customer:
            return end(call, "the customer hung up")
        case CustomerLeft():
            return end(call, "the agent hung up")
        case TransferRequested():
            return call, [note(call.id, "transfer-refused", why="outbound calls are not transferred")]
        case RecordingEnded(name):
            return replace(call, recordings_open=call.recordings_open - {name}), []
    return call, []


def _answered(call: Call, channel: str) -> Outcome:
    """The customer answered: the segment, decided and maybe recorded, on the agent's or the
    customer's side."""
    (agent,) = call.agents
    decided = decision(call, agent.policy)
    side = call.queue.record_side if call.queue else RecordSide.AGENT
    name = ids.recording(call.id, 1, agent.policy.agent)
    target = call.customer if side is RecordSide.CUSTOMER else call.id
    starting = record(call, target, 1, name) if decided.record else []
    segment = Segment(1, agent.policy.agent, call.id, decided, name if decided.record else None)
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
