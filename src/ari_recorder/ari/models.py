"""ARI's models as frozen msgspec Structs: the fields api-docs declares, read strictly, extras ignored.

msgspec decodes and validates JSON straight into these (in C): a malformed payload is refused
with the path of the bad field, and a typed event costs about what decoding the JSON costs.
"""

from __future__ import annotations

from typing import Any, NewType, Self

import msgspec

from ari_recorder.ari.errors import MalformedPayload

ChannelId = NewType("ChannelId", str)
BridgeId = NewType("BridgeId", str)
RecordingName = NewType("RecordingName", str)
PlaybackId = NewType("PlaybackId", str)

Json = dict[str, Any]


class Model(msgspec.Struct, frozen=True):
    """A model read from ARI's JSON."""

    @classmethod
    def from_json(cls, value: Any) -> Self:
        """Read an already-decoded JSON value; MalformedPayload names the field that is wrong."""
        try:
            return msgspec.convert(value, cls)
        except msgspec.ValidationError as error:
            raise MalformedPayload(f"{cls.__name__}: {error}") from None


class CallerID(Model, frozen=True):
    name: str
    number: str


class DialplanCEP(Model, frozen=True):
    context: str
    exten: str
    priority: int
    app_name: str
    app_data: str


class Channel(Model, frozen=True):
    id: ChannelId
    name: str
    state: str
    caller: CallerID
    connected: CallerID
    accountcode: str
    dialplan: DialplanCEP
    creationtime: str
    language: str
    protocol_id: str
    channelvars: dict[str, str] | None = None
    caller_rdnis: str | None = None
    tenantid: str | None = None


class Bridge(Model, frozen=True):
    id: BridgeId
    technology: str
    bridge_type: str
    bridge_class: str
    creator: str
    name: str
    channels: tuple[ChannelId, ...]
    creationtime: str
    video_mode: str | None = None
    video_source_id: str | None = None


class LiveRecording(Model, frozen=True):
    name: RecordingName
    format: str
    target_uri: str
    state: str  # queued | recording | paused | done | failed | canceled
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None


class StoredRecording(Model, frozen=True):
    name: RecordingName
    format: str


class Playback(Model, frozen=True):
    id: PlaybackId
    media_uri: str
    target_uri: str
    state: str  # queued | playing | continuing | done | failed
    language: str | None = None
    next_media_uri: str | None = None


class FormatLangPair(Model, frozen=True):
    language: str
    format: str


class Sound(Model, frozen=True):
    """GET /sounds/{id}: a sound Asterisk has, in which languages and formats."""

    id: str
    formats: tuple[FormatLangPair, ...]
    text: str | None = None


class Application(Model, frozen=True):
    name: str
    channel_ids: tuple[ChannelId, ...]
    bridge_ids: tuple[BridgeId, ...]
    endpoint_ids: tuple[str, ...]
    device_names: tuple[str, ...]
    events_allowed: tuple[Json, ...]
    events_disallowed: tuple[Json, ...]


class AsteriskInfo(Model, frozen=True):
    """GET /asterisk/info: its four sections, kept as Asterisk sent them."""

    build: Json | None = None
    system: Json | None = None
    config: Json | None = None
    status: Json | None = None

    @property
    def version(self) -> str | None:
        version = (self.system or {}).get("version")
        return version if isinstance(version, str) else None


class AsteriskPing(Model, frozen=True):
    asterisk_id: str
    ping: str
    timestamp: str


class Variable(Model, frozen=True):
    value: str
