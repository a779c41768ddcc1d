"""The simulated Asterisk core: channels, bridges, Stasis, hangups, events, and what each party hears.

Event payloads and orderings follow the traces in ../shared/ari-reference; comments name the
trace behaviour each rule reproduces.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ari_simulator.audio import Sound
from ari_simulator.media import Media
from ari_simulator.state import (
    ASTERISK_ID,
    Application,
    Bridge,
    Channel,
    Json,
    Kind,
    LiveRecording,
    RecState,
    SimError,
    ari_timestamp,
)

log = logging.getLogger("ari_simulator")

MOH_HZ = 523  # music on hold, as a tone of its own so that a recording of hold music shows
CAUSE_TEXT = {
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    32: "Normal Clearing",
}
# A snoop channel runs on 20 ms frames from its creation; it notices that the snooped channel hung
# up at its next frame, and only then do its recording finish and the snooped channel get
# destroyed. That is the 1-20 ms delay of every snoop hangup in the traces (e.g. 0.8 ms in
# sip_blind_transfer_core, 11.4 ms in sip_dtmf_native_vs_snoop), and why snoop recordings hold
# whole 20 ms frames.
FRAME = 0.020
BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}


@dataclass(eq=False)
class BasicBridge(Bridge):
    """A bridge the dialplan's Dial() makes (bridge_class "basic"), outside Stasis: no application
    is told of it, ARI does not list it, and it dissolves when one of its parties hangs up (the
    others, with nowhere to go after the bridge, are hung up). `on_dissolve` runs then."""

    on_dissolve: Callable[[], None] | None = None

    def json(self) -> Json:
        body = super().json()
        body.update(bridge_class="basic", creator="", name="", video_mode="none")
        return body


class Asterisk:
    """All simulated state, mutated only from the event loop (one owner; no locks needed)."""

    def __init__(self, *, recordings_dir: Any, dtmf_audible: bool = False) -> None:
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.apps: dict[str, Application] = {}
        self.recordings_dir = recordings_dir
        self.dtmf_audible = dtmf_audible
        self._epoch = int(time.time())
        self._ids = itertools.count(2)
        self._local_seq = itertools.count(1)
        self._snoop_seq = itertools.count(0)
        self._pjsip_seq = itertools.count(0x11)
        self.media = Media(self)
        # Switches (PUT /sim/config) for what a real Asterisk does now and then:
        # a snoop enters the application this long after its POST is answered (0: before, as in
        # the traces; None: never), so a record sent at once meets "Channel not in Stasis
        # application"; the next `refuse_records` record requests refused (-1: all of them).
        self.snoop_stasis_delay: float | None = 0.0
        self.refuse_records = 0
        # The kit's dialplan (asterisk/conf/extensions.conf, stasis-or-wait): a call whose Stasis()
        # fails (no WebSocket connected for the application) is answered and tried again every
        # second for this long, then sent to the fallback, which hangs it up (its sound missing).
        self.stasis_retry_seconds = 30

    # ----- ids and clocks -----
    def new_channel_id(self) -> str:
        # Asterisk's unique ids: creation second, a dot, a counter shared by all channels.
        return f"{self._epoch}.{next(self._ids)}"

    def local_suffix(self) -> str:
        return f"{next(self._local_seq):08x}"

    def snoop_suffix(self) -> str:
        return f"{next(self._snoop_seq):08x}"

    def pjsip_suffix(self) -> str:
        return f"{next(self._pjsip_seq):08x}"

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def later(self, delay: float, fn: Callable[[], None], owner: Channel | None = None) -> None:
        handle = asyncio.get_running_loop().call_later(delay, fn)
        if owner is not None:
            owner.timers.append(handle)

    # ----- events -----
    def emit(self, event_type: str, apps: Iterable[str], **payload: Any) -> None:
        targets = [self.apps[a] for a in sorted(set(apps)) if a in self.apps]
        for app in targets:
            body: Json = {"application": app.name, "asterisk_id": ASTERISK_ID}
            body.update(payload)
            body["timestamp"] = ari_timestamp()
            body["type"] = event_type
            text = json.dumps(body)
            for subscriber in app.sockets:
                subscriber.outbox.put_nowait(text)

    def register_app(self, name: str) -> Application:
        # An application stays registered when its WebSocket closes: its channels and bridges stay
        # in it and events in the gap are lost (websocket_reconnect.jsonl).
        return self.apps.setdefault(name, Application(name))

    # ----- a restart -----
    def stop_now(self) -> None:
        """`core stop now` (asterisk_restart.jsonl): every channel is hung up at once, with the
        events of any hangup (a recording ends finished, not failed, and is kept as stored); its
        bridges are not destroyed but vanish with the process, unannounced."""
        for ch in list(self.channels.values()):
            if not ch.hungup and ch.snoop_of is None:
                self.hangup(ch, cause=16, soft=False)

    def start_again(self) -> None:
        """Started again: nothing held (channels, bridges, applications, playbacks, live
        recordings); channel ids start again from the new start's second, Local and snoop names
        from 00000000. Stored recordings are files, and stay."""
        for ch in self.channels.values():
            for handle in ch.timers:
                handle.cancel()
            ch.hungup = True
        self.channels.clear()
        self.bridges.clear()
        self.apps.clear()
        self.media.forget_live()
        self._epoch = max(int(time.time()), self._epoch + 1)
        self._ids = itertools.count(1)
        self._local_seq = itertools.count(0)
        self._snoop_seq = itertools.count(0)
        self._pjsip_seq = itertools.count(0x11)

    # ----- lookups -----
    def channel(self, channel_id: str, message: str = "Channel not found") -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None or ch.hungup:
            raise SimError(404, message)
        return ch

    def bridge(self, bridge_id: str) -> Bridge:
        br = self.bridges.get(bridge_id)
        if br is None or br.destroyed:
            raise SimError(404, "Bridge not found")
        return br

    def in_stasis(self, ch: Channel) -> str:
        if ch.stasis_app is None:
            raise SimError(409, "Channel not in Stasis application")
        return ch.stasis_app

    def add_channel(self, ch: Channel) -> Channel:
        self.channels[ch.id] = ch
        return ch

    # ----- Stasis -----
    def active(self, app: str) -> bool:
        """An application is active while a WebSocket is connected for it."""
        return app in self.apps and bool(self.apps[app].sockets)

    def registered(self, app: str) -> bool:
        """Asterisk keeps an application registered while it is active or still holds channels or
        bridges; one that holds nothing is dropped when its WebSocket closes (GET /applications/{app}
        404, stasis_without_websocket.jsonl)."""
        if self.active(app):
            return True
        if app not in self.apps:
            return False
        holds = any(not c.hungup and app in c.apps() for c in self.channels.values()) or any(
            app in b.subscribed and not b.destroyed for b in self.bridges.values()
        )
        return holds

    def stasis_start(self, ch: Channel, app: str, args: list[str], **extra: Any) -> bool:
        """Enter the application; False when it is not active (Stasis fails): no WebSocket is
        connected for it, whether one never was or it closed (stasis_without_websocket.jsonl)."""
        if not self.active(app):
            log.warning("%s: Stasis app '%s' doesn't exist", ch.name, app)
            return False
        ch.stasis_app = app
        self.emit("StasisStart", ch.apps(), args=args, channel=ch.json(), **extra)
        return True

    def stasis_end(self, ch: Channel) -> None:
        if ch.stasis_app is None:
            return
        apps = ch.apps()
        ch.stasis_app = None
        self.emit("StasisEnd", apps, channel=ch.json())

    def set_state(self, ch: Channel, state: str) -> None:
        if ch.state == state:
            return
        ch.state = state
        self.emit("ChannelStateChange", ch.apps(), channel=ch.json())

    # ----- bridges -----
    def create_bridge(self, bridge_type: str, name: str, bridge_id: str | None) -> Bridge:
        types = [t for t in bridge_type.split(",") if t] or ["mixing"]
        if bridge_id and bridge_id in self.bridges:  # res/ari/resource_bridges.c
            raise SimError(409, f"Bridge with id '{bridge_id}' already exists")
        if any(t not in BRIDGE_TYPES for t in types):
            # Real Asterisk's answer to a bad type, odd as it reads (errors.jsonl).
            raise SimError(
                500, f"Unable to create bridge. Possible duplicate bridge id '{bridge_id or '(null)'}'"
            )
        br = Bridge(id=bridge_id or str(uuid.uuid4()), name=name, bridge_type=",".join(types))
        self.bridges[br.id] = br
        return br

    def enter_bridge(self, br: Bridge, ch: Channel, *, absorb_dtmf: bool, mute: bool) -> None:
        if ch.bridge is br:
            return
        if ch.bridge is not None:
            self.leave_bridge(ch)
        ch.bridge, ch.absorb_dtmf, ch.bridge_muted = br, absorb_dtmf, mute
        br.channels.append(ch)
        if ch.stasis_app is not None:
            br.subscribed.add(ch.stasis_app)  # an application follows the bridges its channels join
        self.emit("ChannelEnteredBridge", ch.apps() | br.subscribed, bridge=br.json(), channel=ch.json())
        self.audio_changed(ch)

    def move_into(self, br: Bridge, ch: Channel, *, absorb_dtmf: bool, mute: bool) -> None:
        """POST /bridges/{id}/addChannel: a channel in another bridge of the application's is
        moved, and Asterisk keeps hold of the bridge it came from (see destroy_bridge)."""
        old = ch.bridge
        self.enter_bridge(br, ch, absorb_dtmf=absorb_dtmf, mute=mute)
        if old is not None and old is not br and not isinstance(old, BasicBridge):
            ch.moved_from = old

    def leave_bridge(self, ch: Channel) -> None:
        br = ch.bridge
        if br is None:
            return
        br.channels.remove(ch)
        ch.bridge = None
        self.emit("ChannelLeftBridge", ch.apps() | br.subscribed, bridge=br.json(), channel=ch.json())
        held, ch.moved_from = ch.moved_from, None
        if held is not None and held.destroyed and held.id not in self.bridges:
            # The bridge it was moved out of, destroyed meanwhile: gone now, at last.
            self.emit("BridgeDestroyed", held.subscribed, bridge=held.json())
        if not br.channels:
            # A bridge recording ends as the bridge empties, before the bridge is destroyed
            # (snoop_directions_bridge_record.jsonl).
            for rec in list(br.recordings):
                self.media.finish(rec)
        self.audio_changed(ch, br)

    def destroy_bridge(self, br: Bridge) -> None:
        for ch in list(br.channels):
            self.leave_bridge(ch)
        br.destroyed = True
        if br.playback is not None:
            self.media.stop_playback(br.playback)
        del self.bridges[br.id]
        if any(c.moved_from is br and c.bridge is not None for c in self.channels.values()):
            # A channel moved out of it by addChannel into another bridge still holds it: the
            # DELETE answers 204 and the bridge is gone from GET /bridges, but BridgeDestroyed
            # comes only as that channel leaves the bridge it moved to (just after its
            # ChannelLeftBridge there: sip_attended_transfer_ari_only.jsonl, where the
            # consultation's bridge, deleted 5.4 s in, was reported destroyed at 12.9 s).
            return
        self.emit("BridgeDestroyed", br.subscribed, bridge=br.json())

    # ----- hangup -----
    def hangup(self, ch: Channel, *, cause: int, soft: bool, announce: bool = True) -> None:
        """Hang a channel up, with the events and orderings of the traces."""
        if ch.hungup:
            return
        request: Json = {"cause": cause, "channel": ch.json()}
        if soft:
            request["soft"] = True
        if announce:
            self.emit("ChannelHangupRequest", ch.apps(), **request)
        ch.hungup = True
        ch.cause = 16 if cause == 32 else cause
        for handle in ch.timers:
            handle.cancel()
        ch.timers.clear()
        if ch.playback is not None:
            self.media.stop_playback(ch.playback)
        bridge = ch.bridge
        self.leave_bridge(ch)
        if isinstance(bridge, BasicBridge):
            self._dissolve(bridge)
        for rec in list(ch.recordings):
            self.media.finish(rec)
        self.stasis_end(ch)
        if ch.snoop_of is not None and ch in ch.snoop_of.snoops:
            ch.snoop_of.snoops.remove(ch)
        peer = ch.peer
        if peer is not None and not peer.hungup:
            # The other half of a Local pair goes down with it: a hangup request from the core,
            # then the soft one, then it is destroyed (cause 16).
            self.emit("ChannelHangupRequest", peer.apps(), cause=16, channel=peer.json())
            if peer.kind is Kind.TRANSFER_LOCAL:
                # A half that sits in a bridge of its own is torn down by its own thread a moment
                # later: it can still be hung up through ARI meanwhile (sip_blind_transfer_core,
                # where the application's DELETE 1 ms later is what ends it). The moment is kept
                # long enough that a replay on a busy machine still finds the channel there.
                self.later(0.1, lambda: self.hangup(peer, cause=16, soft=False, announce=False))
            else:
                self.hangup(peer, cause=16, soft=True)
        if ch.snoops:
            self._detach_snoops(ch)
        else:
            self._destroy(ch)
        for then in ch.on_hangup:
            then()

    def _dissolve(self, br: BasicBridge) -> None:
        callback, br.on_dissolve = br.on_dissolve, None
        br.destroyed = True
        for other in list(br.channels):
            self.hangup(other, cause=16, soft=True)
        if callback is not None:
            callback()

    def _detach_snoops(self, ch: Channel) -> None:
        now = self.now()
        # (never sooner than 1 ms: the shortest delay the traces show)
        waits = [max(0.001, FRAME - (now - snoop.started) % FRAME) for snoop in ch.snoops]
        for snoop, wait in zip(list(ch.snoops), waits, strict=True):
            self.later(wait, functools.partial(self.hangup_quietly, snoop))
        self.later(max(waits) + 0.0001, lambda: self._destroy(ch))

    def hangup_quietly(self, snoop: Channel) -> None:
        """A snoop channel ending because its snooped channel went: no hangup request is sent."""
        if snoop.hungup:
            return
        snoop.hungup = True
        for rec in list(snoop.recordings):
            self.media.finish(rec)
        self.stasis_end(snoop)
        if snoop.snoop_of is not None and snoop in snoop.snoop_of.snoops:
            snoop.snoop_of.snoops.remove(snoop)
        self._destroy(snoop)

    def _destroy(self, ch: Channel) -> None:
        # Only applications still subscribed hear of it: a channel that came into Stasis from the
        # dialplan, or a snoop, is forgotten at StasisEnd; one originated for an app is not.
        text = CAUSE_TEXT.get(ch.cause, "Unknown")
        self.emit("ChannelDestroyed", ch.apps(), cause=ch.cause, cause_txt=text, channel=ch.json())
        ch.subscribed.clear()
        self.channels.pop(ch.id, None)
        self.audio_changed(ch)

    # ----- audio: what each recording hears -----
    def voice(self, ch: Channel, seen: set[str]) -> set[int]:
        """What comes in from the channel's far end."""
        if ch.hungup or ch.muted_in or ch.id in seen:
            return set()
        seen = seen | {ch.id}
        sound: set[int] = set()
        if ch.talking and ch.talk_hz:
            sound.add(ch.talk_hz)
        if self.dtmf_audible:
            sound |= ch.keys
        if ch.kind is Kind.TRANSFER_LOCAL and ch.peer is not None:
            sound |= self.heard(ch.peer, seen)  # a Local pair passes audio through
        return sound

    def heard(self, ch: Channel, seen: set[str]) -> set[int]:
        """What is written to the channel: its own playback, else its bridge's mix."""
        if ch.hungup or ch.muted_out:
            return set()
        if ch.playback is not None and ch.playback.state == "playing":
            return {ch.playback.hz} if ch.playback.hz else set()
        if ch.moh:  # the channel's own music: what its bridge says is not written to it meanwhile
            return {MOH_HZ}
        if ch.bridge is None:
            return set()
        return self.mix(ch.bridge, ch, seen | {ch.id})

    def mix(self, br: Bridge, exclude: Channel | None, seen: set[str]) -> set[int]:
        sound: set[int] = set()
        if br.moh:
            sound.add(MOH_HZ)
        if br.playback is not None and br.playback.state == "playing" and br.playback.hz:
            sound.add(br.playback.hz)
        for member in br.channels:
            if member is exclude or member.bridge_muted:
                continue
            voice = self.voice(member, seen)
            if member.absorb_dtmf:
                voice -= member.keys
            sound |= voice
        return sound

    def recording_sound(self, rec: LiveRecording) -> Sound:
        target = rec.target
        if isinstance(target, Bridge):
            return frozenset(self.mix(target, None, set()))
        snooped = target.snoop_of
        if snooped is None:
            return frozenset(self.voice(target, set()))
        sound: set[int] = set()
        if target.spy in ("in", "both"):
            sound |= self.voice(snooped, set())
        if target.spy in ("out", "both"):
            sound |= self.heard(snooped, set())
        return frozenset(sound)

    def audio_changed(self, *things: Channel | Bridge) -> None:
        """Bring the timelines of the recordings near these channels or bridges up to date."""
        at = self.now()
        for rec in self._recordings_near(things):
            if rec.timeline is not None and rec.state in (RecState.RECORDING, RecState.PAUSED):
                rec.timeline.hear(at, self.recording_sound(rec))

    def _recordings_near(self, things: Iterable[Channel | Bridge]) -> list[LiveRecording]:
        found: dict[int, LiveRecording] = {}
        seen: set[str] = set()
        todo = list(things)
        while todo:
            thing = todo.pop()
            if thing.id in seen:
                continue
            seen.add(thing.id)
            for rec in thing.recordings:
                found[id(rec)] = rec
            if isinstance(thing, Bridge):
                todo.extend(thing.channels)
                continue
            todo.extend(thing.snoops)
            if thing.bridge is not None:
                todo.append(thing.bridge)
            if thing.kind is Kind.TRANSFER_LOCAL and thing.peer is not None:
                todo.append(thing.peer)
        return list(found.values())
