"""Reconciliation: Asterisk does not replay what happened while the event stream was down (or no
controller ran), so on every (re)connection its REST API is asked, and each call told what it
missed (websocket_reconnect.jsonl)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ari_recorder.ari.errors import AriError, AriNotFound, exists
from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import call as c
from ari_recorder.domain import consult, ids
from ari_recorder.engine.calls import Calls
from ari_recorder.engine.consult import consult_missed
from ari_recorder.engine.mailbox import Missed

log = logging.getLogger("ari_recorder.engine")
PASSES, AGAIN = 4, 0.3  # passes at most, seconds between two


async def reconcile(ari: AriClient, app: str, calls: Calls, which: frozenset[str]) -> None:
    """Tell each call of `which` still live what it missed, as `Missed` events; then let each
    arm the deadlines it held until Asterisk was asked (whether it was or not: a refusal leaves
    them as they were). `which`: the calls live when the event stream (re)connected, or taken
    from the store; a call begun since then has missed nothing, and asked about while its first
    actions are on their way it would seem to (seen: a call entering as a standby took over was
    told its notice had failed before Asterisk had been asked to play it)."""
    try:
        # What a missed event leads to may itself have happened already: a call adopted as
        # dialling whose agent answered is connected again, and the recording it starts is
        # the one its previous controller started (live in Asterisk, its start never seen
        # here). Asked again once the call has stepped, until nothing more is missed.
        for _ in range(PASSES):
            live: set[str] = set((await ari.get_application(app)).channel_ids)
            missed = False
            for call in [call for call in calls.live() if call.id in which]:
                for event in await missed_events(ari, call, live):
                    log.warning("call=%s action=reconcile missed=%s", call.id, type(event).__name__)
                    calls.tell(call.id, Missed(event))
                    missed = True
            for mailbox in calls.mailboxes():
                mailbox.reconciled()
            if not missed:
                return
            await asyncio.sleep(AGAIN)
    except AriError as error:
        log.warning("reconcile after reconnect failed: %s", error)
    finally:
        for mailbox in calls.mailboxes():
            mailbox.reconciled()


async def missed_events(ari: AriClient, call: c.Call, live: set[str]) -> list[consult.Event]:
    """What the call missed, by its state against Asterisk's (`live`: the application's channels)."""
    missed: list[consult.Event] = []
    # A handed-on outbound call's own channel (its first agent's) is gone: the customer's leg is its.
    own = call.customer if c.handed_on(call) else call.id
    if call.phase is not c.Phase.ENDED and own not in live:
        missed.append(c.CustomerLeft(own))
    elif call.phase is c.Phase.CONNECTED and call.customer not in live:
        missed.append(c.CustomerLeft(call.customer))
    elif call.phase is c.Phase.ANSWERING and not await exists(ari.get_playback(ids.announcement(call.id))):
        if await _recording_next_segment(ari, call):
            # The controller before went on past it, to an agent and a recording: it was played
            # (nothing records before the notice has been heard).
            missed.append(c.AnnouncementFinished())
        else:  # its end was in the gap: whether it played to the end, nobody can say
            missed.append(c.AnnouncementFinished(failed="its end was not seen (the event stream was down)"))
    elif call.dialling is not None:
        if call.dialling not in live:
            missed.append(c.AgentFailed(call.dialling, 0))
        elif (await ari.get_channel(call.dialling)).state == "Up":
            missed.append(c.AgentAnswered(call.dialling))
    elif call.segment is not None and call.segment.channel not in live:
        missed.append(c.AgentLeft(call.segment.channel))
    if call.phase is not c.Phase.ENDED:
        missed += await consult_missed(ari, call, live)
    starting = {start.name for start in call.starting}
    for name in sorted(call.recordings_open):
        there = await exists(ari.get_live(name))
        if name in starting and there:  # its RecordingStarted was in the gap
            missed.append(c.RecordingBegan(name))
        elif name not in starting and not there:
            missed.append(c.RecordingEnded(name))
    return missed


async def leftovers(ari: AriClient, app: str, call: c.Call) -> None:
    """A resumed call that has ended: what Asterisk still holds of it that its stored state did
    not know (it lagged behind what the controller before had asked), hung up, its bridge
    destroyed. Its snoops among them: their recordings finish, and reach the delivery (as orphans,
    delivery/orphans.py, when no row names them)."""
    try:
        live = (await ari.get_application(app)).channel_ids
        for channel in sorted(ch for ch in live if ids.call_of(ch) == call.id):
            log.warning("call=%s channel=%s action=hangup-leftover", call.id, channel)
            with contextlib.suppress(AriNotFound):
                await ari.hangup(channel)
        with contextlib.suppress(AriNotFound):
            await ari.destroy_bridge(ids.bridge(call.id))
    except AriError as error:
        log.warning("call=%s action=leftovers failed: %s", call.id, error)


async def _recording_next_segment(ari: AriClient, call: c.Call) -> bool:
    """Whether Asterisk records the segment the call would have next, with any of its agents: the
    state stored before the controller stopped lags behind what it had asked of Asterisk."""
    segment = len(call.segments) + 1
    for agent in dict.fromkeys(a.policy.agent for a in call.agents):
        first = ids.recording_legs(ids.recording(call.id, segment, agent), call.channels)[0]
        if await exists(ari.get_live(first)):
            return True
    return False
