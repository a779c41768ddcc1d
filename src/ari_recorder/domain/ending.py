"""How a call ends: everything it still has hung up, or the customer handed back to the dialplan."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain.actions import Action, ContinueInDialplan, DestroyBridge, Hangup, Outcome
from ari_recorder.domain.notes import note
from ari_recorder.domain.state import Call, FallbackAction, Phase


def end(call: Call, why: str) -> Outcome:
    """Hang up everything the call still has; the snoops' recordings end with their channels."""
    actions: list[Action] = [note(call.id, "end", why=why)]
    # The call's own channel is the customer's, or on an outbound call the agent's.
    segment = call.segment.channel if call.segment else None
    mine = (call.dialling, segment, call.handed_to, *call.swapped_out, call.customer, call.id)
    for channel in dict.fromkeys(c for c in mine if c is not None):
        actions.append(Hangup(channel))
    if call.phase is not Phase.ANSWERING:
        actions.append(DestroyBridge(call.bridge))
    return replace(call, phase=Phase.ENDED, dialling=None), actions


def give_up(call: Call, why: str) -> Outcome:
    """No agent for this customer: the queue's fallback, hang up or back to the dialplan."""
    fb = call.fallback
    if fb.action != FallbackAction.CONTINUE:  # (a str where the settings were not checked)
        return end(call, why)
    actions: list[Action] = [note(call.id, "fallback", why=why, to="dialplan")]
    if call.dialling is not None:
        actions.append(Hangup(call.dialling))
    actions += [
        ContinueInDialplan(call.customer, fb.context, fb.extension, fb.priority),
        DestroyBridge(call.bridge),
    ]
    return replace(call, phase=Phase.ENDED, dialling=None), actions
