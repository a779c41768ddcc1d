"""The simulated Asterisk's objects and their JSON, shaped exactly like ARI's models (api-docs)."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ari_simulator.audio import Timeline

Json = dict[str, Any]

ASTERISK_ID = "02:fc:00:00:00:01"


class SimError(Exception):
    """An ARI error answer: the status and Asterisk's own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ari_timestamp(epoch: float | None = None) -> str:
    """ARI's date format: millisecond precision and a +0000 offset (2026-11-22T11:33:49.436+0000)."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class Kind(enum.Enum):
    """What a channel stands for, which decides its dialplan behaviour and its events."""

    INBOUND = "inbound"  # Local/<queue>@inbound;2, the customer's call in the application
    CUSTOMER_HANDSET = "customer-handset"  # Local/<queue>@inbound;1, plays the customer's tone
    AGENT = "agent"  # Local/<ext>@agent-phone;1, the agent's leg the application controls
    AGENT_HANDSET = "agent-handset"  # Local/<ext>@agent-phone;2, plays the agent's tone
    PJSIP = "pjsip"  # PJSIP/<endpoint>-<n>, a SIP phone
    SNOOP = "snoop"
    TRANSFER_LOCAL = "transfer-local"  # Local/<ext>@agent-transfers;1/;2 of a core blind transfer


@dataclass
class Channel:
    id: str
    name: str
    kind: Kind
    state: str
    caller: tuple[str, str] = ("", "")
    connected: tuple[str, str] = ("", "")
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    created: float = field(default_factory=time.time)
    started: float = 0.0  # the event loop's clock at creation, for frame timing
    protocol_id: str = ""
    # Where it is
    stasis_app: str | None = None
    subscribed: set[str] = field(default_factory=set)  # apps that get its events outside Stasis
    bridge: Bridge | None = None
    absorb_dtmf: bool = False
    bridge_muted: bool = False
    moh: bool = False  # POST /channels/{id}/moh: the channel hears music, not its bridge
    peer: Channel | None = None  # the other half of a Local pair
    snoop_of: Channel | None = None
    spy: str = "none"
    snoops: list[Channel] = field(default_factory=list)
    # What it sounds like
    talk_hz: int | None = None  # the tone the party behind this channel speaks, when talking
    talking: bool = False
    keys: frozenset[int] = frozenset()  # DTMF tones sounding right now
    muted_in: bool = False
    muted_out: bool = False
    playback: Playback | None = None
    recordings: list[LiveRecording] = field(default_factory=list)  # first active, rest queued
    variables: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""  # agent extension or endpoint resource, for the control API
    hungup: bool = False
    cause: int = 16  # the cause its ChannelDestroyed will carry
    timers: list[asyncio.TimerHandle] = field(default_factory=list)  # its phone's behaviour
    on_hangup: list[Callable[[], None]] = field(default_factory=list)  # what its phone does then
    # The Stasis bridge addChannel moved it out of: Asterisk holds on to that bridge until the
    # channel leaves the one it moved to (Asterisk.destroy_bridge).
    moved_from: Bridge | None = None

    def json(self) -> Json:
        return {
            "accountcode": "",
            "caller": {"name": self.caller[0], "number": self.caller[1]},
            "connected": {"name": self.connected[0], "number": self.connected[1]},
            "creationtime": ari_timestamp(self.created),
            "dialplan": {
                "app_data": self.app_data,
                "app_name": self.app_name,
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
            },
            "id": self.id,
            "language": "en",
            "name": self.name,
            "protocol_id": self.protocol_id,
            "state": self.state,
        }

    def apps(self) -> set[str]:
        """The applications that receive this channel's events now."""
        if self.stasis_app is None:
            return set(self.subscribed)
        return self.subscribed | {self.stasis_app}


@dataclass
class Bridge:
    id: str
    name: str
    bridge_type: str
    created: float = field(default_factory=time.time)
    channels: list[Channel] = field(default_factory=list)
    subscribed: set[str] = field(default_factory=set)
    moh: bool = False
    playback: Playback | None = None
    recordings: list[LiveRecording] = field(default_factory=list)
    destroyed: bool = False

    def json(self) -> Json:
        return {
            "bridge_class": "stasis",
            "bridge_type": self.bridge_type,
            "channels": [c.id for c in self.channels],
            "creationtime": ari_timestamp(self.created),
            "creator": "Stasis",
            "id": self.id,
            "name": self.name,
            "technology": "simple_bridge",
            "video_mode": "talker",
        }


class RecState(enum.Enum):
    QUEUED = "queued"
    RECORDING = "recording"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass
class LiveRecording:
    name: str
    format: str
    target: Channel | Bridge
    state: RecState = RecState.QUEUED
    muted: bool = False
    timeline: Timeline | None = None
    max_duration: float | None = None
    terminate_on: str = "none"
    duration: int | None = None  # whole seconds, set when it finishes (as RecordingFinished says)
    apps: set[str] = field(default_factory=set)

    @property
    def target_uri(self) -> str:
        kind = "bridge" if isinstance(self.target, Bridge) else "channel"
        return f"{kind}:{self.target.id}"

    def json(self) -> Json:
        body: Json = {
            "format": self.format,
            "name": self.name,
            "state": self.state.value,
            "target_uri": self.target_uri,
        }
        if self.duration is not None:
            body["duration"] = self.duration
        return body


@dataclass
class Playback:
    id: str
    media_uri: str
    target_uri: str
    hz: int | None
    length: float
    state: str = "queued"
    apps: set[str] = field(default_factory=set)
    next_media: list[str] = field(default_factory=list)  # a media list's items still to play

    def json(self) -> Json:
        body: Json = {
            "id": self.id,
            "language": "en",
            "media_uri": self.media_uri,
            "state": self.state,
            "target_uri": self.target_uri,
        }
        if self.next_media:
            body["next_media_uri"] = self.next_media[0]
        return body


@dataclass
class StoredRecording:
    name: str
    format: str
    path: Path

    def json(self) -> Json:
        return {"format": self.format, "name": self.name}


@dataclass
class Subscriber:
    """A connected event WebSocket: its outbox of encoded events, written in order by one task."""

    outbox: asyncio.Queue[str | None]
    transport: Any  # the socket's asyncio transport, for the benchmark's burst writes


@dataclass
class Application:
    name: str
    sockets: list[Subscriber] = field(default_factory=list)  # one per connected WebSocket

    def json(self, channels: list[str], bridges: list[str]) -> Json:
        return {
            "bridge_ids": bridges,
            "channel_ids": channels,
            "device_names": [],
            "endpoint_ids": [],
            "events_allowed": [],
            "events_disallowed": [],
            "name": self.name,
        }
