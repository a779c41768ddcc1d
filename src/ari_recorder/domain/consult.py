"""An attended transfer the application carries out (phone_transfers = application): the agent's
consultation call, then the REFER with Replaces that completes it. Pure, as call.py: `step` is
call.step with the consultation's events in front.

The agent's phone holds the customer and dials 7<ext>: the dialplan sends that second call into
`Stasis(app,consult,agent=<ext>)`. The call answers it, bridges it (a bridge of its own, not the
call's) with the target agent it dials, and when the phone sends its REFER with Replaces
(ari-only: ChannelTransfer naming the consultation), the target takes the first agent's place in
the call's bridge: the transfer flow of call.py, whose target has already answered. Channels
Asterisk placed outside the application could not be moved into its bridge: that is why the
consultation has to be the application's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ari_recorder.domain import call as c
from ari_recorder.domain import ids
from ari_recorder.domain.notes import note
from ari_recorder.domain.policy import AgentId


@dataclass(frozen=True)
class ConsultRequested:
    """The agent's phone placed a consultation call (`channel`) to `destination`."""

    channel: str
    agent: AgentId  # whose phone it is
    destination: str  # the extension asked for (7<ext> without the 7)
    to: c.Agent | None  # None: no such agent
    busy: frozenset[str] = frozenset()  # agents on other calls now
    sip: bool = True  # a SIP phone's: its own REFERs are then only reported (ari-only)


@dataclass(frozen=True)
class ReplacesRequested:
    """A REFER with Replaces, only reported (ChannelTransfer with a destination channel): the
    phone on `channel` asks that its dialog be replaced by the one on `replaces`."""

    channel: str  # the channel the REFER came on (referred_by.source_channel)
    replaces: str  # refer_to.destination_channel: the phone's other call


Event = c.CallEvent | ConsultRequested | ReplacesRequested


def step(call: c.Call, event: Event, now: float = 0.0, seen: bool = True) -> tuple[c.Call, list[c.Action]]:
    """call.step, with an agent's consultation and its attended transfer (`seen` as there)."""
    match event:
        case ConsultRequested():
            return _open(call, event)
        case ReplacesRequested(channel, replaces):
            return _replaces(call, channel, replaces, now)
    if call.consultation is not None and call.phase is not c.Phase.ENDED:
        handled = _consulting(call, call.consultation, event)
        if handled is not None:
            return handled
    call, actions = c.step(call, event, now, seen)
    if call.phase is c.Phase.ENDED and call.consultation is not None:
        call, closing = _close(call, "the call ended")
        actions = actions + closing
    return call, actions


def _refusal(call: c.Call, ev: ConsultRequested) -> str | None:
    segment = call.segment
    if segment is None or segment.agent != ev.agent:
        return f"agent {ev.agent} is not with the customer"
    if call.consultation is not None:
        return "a consultation is already under way"
    if call.dialling is not None:
        return "a transfer is under way"
    if ev.to is None:
        return f"no agent {ev.destination}"
    if ev.to.policy.agent == ev.agent:
        return "an agent cannot consult themself"
    if ev.to.policy.agent in ev.busy:
        return f"agent {ev.destination} is on another call"
    return None


def _open(call: c.Call, ev: ConsultRequested) -> tuple[c.Call, list[c.Action]]:
    """Answer the agent's second call, hold it in a bridge of its own and dial the target."""
    refusal = _refusal(call, ev)
    if refusal is not None or ev.to is None:
        return call, [
            c.Hangup(ev.channel),
            note(call.id, "consult-refused", agent=ev.agent, to=ev.destination, why=refusal),
        ]
    segment = call.segment
    assert segment is not None
    leg = call.legs + 1
    # The target's channel is named as any agent channel of the call: its events come back as
    # AgentAnswered/AgentLeft/AgentFailed, and once transferred it is the segment's channel.
    target, consulting = ids.agent_channel(call.id, leg), ids.consult_channel(call.id, leg)
    k = c.Consultation(ev.channel, ev.agent, ev.to, target, consulting)
    call = replace(call, legs=leg, consultation=k)
    # Not a customer segment: nothing here is recorded (the agent's recording, on the first call,
    # hears the customer on hold, not this).
    actions: list[c.Action] = [c.Answer(k.channel)]
    if ev.sip and call.ari_only_transfers:
        # Should the phone send its REFER on this call instead, it is reported too.
        actions.append(c.SetVariable(k.channel, "PJSIP_TRANSFER_HANDLING()", "ari-only"))
    return call, [
        *actions,
        c.CreateBridge(k.bridge),
        c.AddToBridge(k.bridge, k.channel),
        c.DialAgent(k.dialled, k.to.policy.agent, k.to.endpoint, call.ring_timeout),
        note(
            call.id,
            "consult",
            segment=segment.number,
            agent=k.agent,
            to=k.to.policy.agent,
            endpoint=k.to.endpoint,
        ),
    ]


def _consulting(call: c.Call, k: c.Consultation, event: Event) -> tuple[c.Call, list[c.Action]] | None:
    """The consultation's own events; None for the call's."""
    to = k.to.policy.agent
    match event:
        case c.AgentAnswered(channel) if channel == k.dialled and not k.answered:
            segment = call.segment
            number = segment.number if segment else 0
            return replace(call, consultation=replace(k, answered=True)), [
                c.AddToBridge(k.bridge, channel),
                note(call.id, "consult-connected", segment=number, agent=k.agent, to=to),
            ]
        case c.AgentFailed(channel, cause) if channel == k.dialled and not k.answered:
            return _close(call, f"agent {to} did not answer (cause {cause})")
        case c.AgentLeft(channel) | c.AgentFailed(channel) if channel == k.dialled:
            return _close(call, f"agent {to} hung up")
        case c.AgentLeft(channel) | c.AgentFailed(channel) if channel == k.channel:
            return _close(call, f"agent {k.agent} hung up the consultation")
        case c.TransferRequested(destination):
            why = "a consultation is under way"
            return call, [note(call.id, "transfer-refused", to=destination, why=why)]
    return None


def _close(call: c.Call, why: str) -> tuple[c.Call, list[c.Action]]:
    """The consultation is over without a transfer: both its channels and its bridge go; the call
    goes on with the first agent (whose phone takes the customer off hold)."""
    k = call.consultation
    assert k is not None
    segment = call.segment
    number = segment.number if segment else 0
    return replace(call, consultation=None), [
        note(call.id, "consult-ended", segment=number, agent=k.agent, to=k.to.policy.agent, why=why),
        c.Hangup(k.channel),
        c.Hangup(k.dialled),
        c.DestroyBridge(k.bridge),
    ]


def _replaces(call: c.Call, channel: str, replaces: str, now: float) -> tuple[c.Call, list[c.Action]]:
    """The phone completes the attended transfer: the target joins the customer in the first
    agent's place (call.py's transfer flow: in the bridge, then the first agent's channel hung
    up, ending its segment and its agent-side recording; the target's segment decided by the
    rules), the agent's consultation call is hung up and its bridge destroyed."""
    k, segment = call.consultation, call.segment
    if k is None or segment is None or {channel, replaces} != {segment.channel, k.channel}:
        # A consultation the application did not place (dialled outside it) cannot be moved.
        why = f"the consultation {replaces} is not one this call placed"
        return call, [note(call.id, "transfer-refused", why=why)]
    to = k.to
    log = note(call.id, "attended-transfer", segment=segment.number, agent=segment.agent, to=to.policy.agent)
    # The agent's consultation call goes first: the target, alone a moment in the consultation's
    # bridge, is recorded only once it is with the customer.
    call = replace(call, consultation=None, dialling=k.dialled, transfer_to=to)
    closing: list[c.Action] = [c.Hangup(k.channel)]
    if not k.answered:
        # Transferred while the target still rings: a transfer like any other from here on (the
        # first agent stays with the customer until the target answers).
        return call, [log, *closing, c.DestroyBridge(k.bridge)]
    call, joining = c.step(call, c.AgentAnswered(k.dialled), now)
    return call, [log, *closing, *joining, c.DestroyBridge(k.bridge)]
