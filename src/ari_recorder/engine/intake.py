"""Event intake: each ARI event becomes a new call, or the event of the call it belongs to, put
in that call's mailbox. Phone transfers are correlated here: the channels Asterisk makes for them
carry none of our ids, and their events name the call only once aliased to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from ari_recorder.ari.errors import AriError
from ari_recorder.ari.events import (
    BridgeAttendedTransfer,
    BridgeBlindTransfer,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelTransfer,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
)
from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import call as c
from ari_recorder.domain import ids
from ari_recorder.domain.ids import Own
from ari_recorder.engine.calls import Calls
from ari_recorder.engine.consult import Devices, SettingsDevices, consult_request, replaces_request
from ari_recorder.engine.inbound import Refused, agent_policy, build_call, parse_args
from ari_recorder.engine.live_settings import LiveSettings, as_live
from ari_recorder.engine.outbound import build_outbound, customer_endpoint
from ari_recorder.settings import Settings

log = logging.getLogger("ari_recorder.engine")
UNCLAIMED = 5.0  # seconds a phone transfer's Local channel may wait for its BridgeBlindTransfer

Opening = tuple[c.Call, list[c.Action]]
Spawn = Callable[[Coroutine[Any, Any, None]], object]


class Intake:
    """`take` routes one ARI event: `begin` starts a new call's life, `spawn` runs the little
    work that is no call's (hanging up what no call claims)."""

    def __init__(
        self,
        ari: AriClient,
        settings: Settings | LiveSettings,
        calls: Calls,
        begin: Callable[[Opening], None],
        spawn: Spawn,
        devices: Devices | None = None,
    ) -> None:
        self.ari = ari
        self.live = as_live(settings)  # read at each decision: a swap is in force for the next
        # Where agents are logged in: whom a queue dials where, whose phone a channel is.
        self.devices = devices if devices is not None else SettingsDevices(self.live)
        self.calls = calls
        self.begin = begin
        self.spawn = spawn
        self._turns: dict[str, int] = {}  # round robin: calls taken per queue
        # A phone transfer's Local ;2 by name, until its BridgeBlindTransfer claims it.
        self._transfer_legs: dict[str, str] = {}
        # An attended transfer's new party (its Local ;1) -> the agent it is, told before the swap.
        self._identified: dict[str, c.Agent | None] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}  # the two above's time limits, by key

    @property
    def settings(self) -> Settings:
        return self.live.current

    def take(self, event: Event) -> None:
        if isinstance(event, StasisStart) and ids.is_outbound(event.args):
            self._open_outbound(event)
        elif isinstance(event, StasisStart) and ids.is_queue_call(event.args):
            self._open(event)
        elif isinstance(event, ChannelTransfer):
            self._transfer(event)
        elif isinstance(event, StasisStart) and ids.is_consult(event.args):
            self._consult(event)
        elif isinstance(event, StasisStart) and ids.is_transfer(event.args):
            self._transfer_leg(event)
        elif isinstance(event, BridgeBlindTransfer):
            self._blind_transfer(event)
        elif isinstance(event, BridgeAttendedTransfer):
            self._attended_transfer(event)
        elif isinstance(event, StasisStart) and event.replace_channel is not None:
            self._swapped_in(event)
        elif isinstance(event, StasisEnd) and self.calls.is_alias(event.channel.id):
            self.calls.tell(event.channel.id, c.AgentLeft(event.channel.id))
        else:
            translated = translate(event)
            if translated is not None:
                self.calls.tell(*translated)

    def forget(self) -> None:
        """Leadership lost: what was waiting to be claimed is the next leader's."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._transfer_legs.clear()
        self._identified.clear()

    def _later(self, key: str, seconds: float, then: Callable[[], None]) -> None:
        def fire() -> None:
            self._timers.pop(key, None)
            then()

        superseded = self._timers.pop(key, None)
        if superseded is not None:
            superseded.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(seconds, fire)

    def _open(self, start: StasisStart) -> None:
        queue = ids.dialplan_args(start.args).get("queue", "")
        built = build_call(self.settings, start, self._turns.get(queue, 0), self.devices.where)
        self._turns[queue] = self._turns.get(queue, 0) + 1
        if isinstance(built, Refused):
            self.spawn(self._refuse(start, built, self.settings.company.unknown_queue))
        else:
            self.begin(c.start(built))

    def _open_outbound(self, start: StasisStart) -> None:
        built = build_outbound(self.settings, start, self.devices.where)
        if isinstance(built, Refused):
            self.spawn(self._refuse(start, built, "hangup"))
            return
        endpoint = customer_endpoint(self.settings, parse_args(start.args)["to"])
        self.begin(c.start_outbound(built, endpoint))

    async def _refuse(self, start: StasisStart, refused: Refused, how: str) -> None:
        channel = start.channel.id
        log.warning('call=%s action=refuse how=%s why="%s"', channel, how, refused.why)
        with contextlib.suppress(AriError):
            if how == "continue":
                await self.ari.continue_in_dialplan(channel)
            else:
                await self.ari.answer(channel)
                await self.ari.hangup(channel)

    async def _hang_up_quietly(self, channel: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel)

    def _agent(self, name: str) -> c.Agent | None:
        return agent_policy(self.settings, name, self.devices.where) if name in self.settings.agents else None

    def _transfer(self, event: ChannelTransfer) -> None:
        """An agent's phone sent a REFER (PJSIP_TRANSFER_HANDLING()=ari-only): the call carries
        it out. Asterisk reports it twice; only the first report names the connected customer."""
        if event.referred_by.connected_channel is None:
            return
        replaces = replaces_request(event)
        if replaces is not None:  # an attended transfer: the phone's other call takes its place
            self.calls.tell(replaces.channel, replaces)
            return
        destination = event.refer_to.requested_destination.destination or ""
        requested = c.TransferRequested(destination, self._agent(destination))
        self.calls.tell(event.referred_by.source_channel.id, requested)

    def _consult(self, start: StasisStart) -> None:
        """An agent's phone placed a consultation call (the dialplan's 7<ext>): the agent's call
        takes it (domain/consult.py); one that is no call's is hung up."""
        found = consult_request(self.settings, start, self.calls.agent_call, self.devices)
        if isinstance(found, Refused):
            log.warning('channel=%s action=consult-refused why="%s"', start.channel.id, found.why)
            self.spawn(self._hang_up_quietly(start.channel.id))
            return
        call_id, requested = found
        self.calls.alias(start.channel.id, call_id)  # its StasisEnd is the consulting agent leaving
        self.calls.tell(call_id, replace(requested, busy=self.calls.busy(call_id)))

    def _transfer_leg(self, start: StasisStart) -> None:
        """A phone transfer Asterisk carried out (default handling) came back from the dialplan
        (`transfer,agent=<exten>`). Its BridgeBlindTransfer says whose call it is; a leg no call
        claims is hung up, never left in the application."""
        name, channel = _local_pair(start.channel.name), start.channel.id
        self._transfer_legs[name] = channel
        self._later(f"leg:{name}", UNCLAIMED, lambda: self._unclaimed(name, channel))

    def _unclaimed(self, name: str, channel: str) -> None:
        if self._transfer_legs.get(name) != channel:
            return
        del self._transfer_legs[name]
        log.warning('channel=%s action=hangup why="a phone transfer no call of ours made"', channel)
        self.spawn(self._hang_up_quietly(channel))

    def _blind_transfer(self, event: BridgeBlindTransfer) -> None:
        if event.result != "Success" or event.replace_channel is None:
            channel, result, exten = event.channel.id, event.result, event.exten
            log.warning("channel=%s action=phone-transfer result=%s exten=%s", channel, result, exten)
            return
        self._transfer_legs.pop(_local_pair(event.replace_channel.name), None)
        to = self._agent(event.exten)
        replaced = c.AgentReplaced(event.channel.id, event.replace_channel.id, event.exten, to)
        self.calls.tell(event.channel.id, replaced)

    def _swapped_in(self, start: StasisStart) -> None:
        """A channel Asterisk made took the place of one of ours in a bridge (an attended
        transfer: `Local/_attended@transfer-...;1` with replace_channel, whose other half is
        bridged with the target). It becomes the call's; who it is may be known already."""
        assert start.replace_channel is not None
        old, new = start.replace_channel.id, start.channel.id
        call_id = self.calls.owner(old)
        if call_id is None:
            log.warning('channel=%s action=swap-in replaces=%s why="no call of ours"', new, old)
            return
        self.calls.alias(new, call_id)
        self.calls.tell(call_id, c.AgentSwapped(old, new, self._identified.pop(new, None)))

    def _attended_transfer(self, event: BridgeAttendedTransfer) -> None:
        """An agent completed an attended transfer on the phone (Asterisk's own handling; no
        trace of a real one: this follows Asterisk's testsuite and source). Our bridge, an ARI
        one, is never merged or swapped: a Local channel takes the agent's place in it, its
        other half bridged with the target (destination "link"), or running the dialplan
        towards it ("application"). The event names the target, which is recorded by the rules
        if it is one of our agents; the swap itself comes as that Local channel's StasisStart,
        before or after this event."""
        legs = (event.transferer_first_leg, event.transferer_second_leg)
        ours = next((leg for leg in legs if self.calls.owner(leg.id)), None)
        party = event.destination_link_first_leg or event.replace_channel
        if ours is None:
            return
        if event.result != "Success" or party is None:
            why = f"result={event.result} destination={event.destination_type}"
            log.warning("channel=%s action=attended-transfer %s: left to Asterisk", ours.id, why)
            return
        target = event.transfer_target
        agent = self.devices.on(target.name) if target is not None else None
        to = agent_policy(self.settings, agent, self.devices.where) if agent is not None else None
        if self.calls.is_alias(party.id):  # swapped in already
            if to is not None:
                self.calls.tell(party.id, c.PartyIdentified(party.id, to))
        else:
            self._identified[party.id] = to
            self._later(f"party:{party.id}", UNCLAIMED, lambda: self._unidentified(party.id))

    def _unidentified(self, party: str) -> None:
        self._identified.pop(party, None)  # no swap came: nobody to tell


def _local_pair(name: str) -> str:
    """A Local channel's name without its half (`Local/3002@transfer-00000001;2`): both halves'."""
    return name.rpartition(";")[0]


def translate(event: Event) -> tuple[str, c.CallEvent] | None:
    """The ARI event as the event of the call it belongs to (by the id it names), if any."""
    own = ids.own_start(event.args) if isinstance(event, StasisStart) else None
    match event:
        case PlaybackFinished(playback=playback) if ids.is_announcement(playback.id):
            # A sound Asterisk does not have ends "failed" 1 ms after it began: nothing was heard.
            failed = None if playback.state == "done" else f"the playback ended {playback.state}"
            return playback.id, c.AnnouncementFinished(failed=failed)
        case StasisStart(channel=channel) if own and own.kind is Own.SNOOP:
            return channel.id, c.SnoopEntered(channel.id, own.argument)
        case RecordingFailed(recording=recording):
            why = f"Asterisk reported the recording failed ({recording.cause or recording.state})"
            return recording.name, c.RecordRefused(recording.name, why)
        case StasisStart(channel=channel) if own and own.kind is Own.AGENT:
            return channel.id, c.AgentAnswered(channel.id)
        case StasisEnd(channel=channel) if ids.is_agent_channel(channel.id):
            return channel.id, c.AgentLeft(channel.id)
        case ChannelDestroyed(channel=channel, cause=cause) if ids.is_agent_channel(channel.id):
            return channel.id, c.AgentFailed(channel.id, cause)
        case StasisStart(channel=channel) if own and own.kind is Own.CUSTOMER:
            return channel.id, c.CustomerAnswered(channel.id)
        case StasisEnd(channel=channel) | ChannelDestroyed(channel=channel) if ids.is_leg(channel.id):
            return channel.id, c.CustomerLeft(channel.id)
        case StasisEnd(channel=channel) if ids.is_call(channel.id):
            return channel.id, c.CustomerLeft(channel.id)
        case RecordingFinished(recording=recording):
            return recording.name, c.RecordingEnded(recording.name)
        case RecordingStarted(recording=recording):
            return recording.name, c.RecordingBegan(recording.name)
        case ChannelDtmfReceived(channel=channel, digit=digit):
            return channel.id, c.KeyPressed(channel.id, digit)
    return None
