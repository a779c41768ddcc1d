"""ARI events as typed msgspec Structs; anything else, or anything malformed, passes through untyped.

Parsing never raises: a stream must survive whatever Asterisk (or a broken proxy) sends.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ari_recorder.ari.models import Bridge, Channel, LiveRecording, Playback


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    """What every event carries; `type` is the tag msgspec reads the class from."""

    application: str
    timestamp: str
    asterisk_id: str | None = None

    @property
    def type(self) -> str:
        return type(self).__name__


class StasisStart(Message, frozen=True, kw_only=True):
    args: tuple[str, ...]
    channel: Channel
    replace_channel: Channel | None = None


class StasisEnd(Message, frozen=True, kw_only=True):
    channel: Channel


class ChannelStateChange(Message, frozen=True, kw_only=True):
    channel: Channel


class ChannelDestroyed(Message, frozen=True, kw_only=True):
    cause: int
    cause_txt: str
    channel: Channel
    tech_cause: int | None = None


class ChannelHangupRequest(Message, frozen=True, kw_only=True):
    channel: Channel
    cause: int | None = None
    soft: bool | None = None
    tech_cause: int | None = None


class ChannelEnteredBridge(Message, frozen=True, kw_only=True):
    bridge: Bridge
    channel: Channel | None = None


class ChannelLeftBridge(Message, frozen=True, kw_only=True):
    bridge: Bridge
    channel: Channel


class ChannelDtmfReceived(Message, frozen=True, kw_only=True):
    digit: str
    duration_ms: int
    channel: Channel


class ChannelHold(Message, frozen=True, kw_only=True):
    channel: Channel
    musicclass: str | None = None


class ChannelUnhold(Message, frozen=True, kw_only=True):
    channel: Channel


class RequiredDestination(msgspec.Struct, frozen=True):
    protocol_id: str | None = None
    destination: str | None = None


class ReferTo(msgspec.Struct, frozen=True):
    requested_destination: RequiredDestination
    destination_channel: Channel | None = None
    connected_channel: Channel | None = None
    bridge: Bridge | None = None


class ReferredBy(msgspec.Struct, frozen=True):
    source_channel: Channel
    connected_channel: Channel | None = None
    bridge: Bridge | None = None


class ChannelTransfer(Message, frozen=True, kw_only=True):
    """A SIP REFER that Asterisk only reports (PJSIP_TRANSFER_HANDLING()=ari-only)."""

    refer_to: ReferTo
    referred_by: ReferredBy
    state: str | None = None


class BridgeCreated(Message, frozen=True, kw_only=True):
    bridge: Bridge


class BridgeDestroyed(Message, frozen=True, kw_only=True):
    bridge: Bridge


class BridgeBlindTransfer(Message, frozen=True, kw_only=True):
    channel: Channel
    exten: str
    context: str
    result: str
    is_external: bool
    replace_channel: Channel | None = None
    transferee: Channel | None = None
    bridge: Bridge | None = None


class BridgeAttendedTransfer(Message, frozen=True, kw_only=True):
    transferer_first_leg: Channel
    transferer_second_leg: Channel
    result: str
    is_external: bool
    destination_type: str
    replace_channel: Channel | None = None
    transferee: Channel | None = None
    transfer_target: Channel | None = None
    transferer_first_leg_bridge: Bridge | None = None
    transferer_second_leg_bridge: Bridge | None = None
    destination_bridge: str | None = None
    destination_application: str | None = None
    destination_link_first_leg: Channel | None = None
    destination_link_second_leg: Channel | None = None
    destination_threeway_channel: Channel | None = None
    destination_threeway_bridge: Bridge | None = None


class RecordingStarted(Message, frozen=True, kw_only=True):
    recording: LiveRecording


class RecordingFinished(Message, frozen=True, kw_only=True):
    recording: LiveRecording


class RecordingFailed(Message, frozen=True, kw_only=True):
    recording: LiveRecording


class PlaybackStarted(Message, frozen=True, kw_only=True):
    playback: Playback


class PlaybackFinished(Message, frozen=True, kw_only=True):
    playback: Playback


class Dial(Message, frozen=True, kw_only=True):
    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    forward: str | None = None
    forwarded: Channel | None = None
    dialstring: str | None = None


class UntypedEvent(msgspec.Struct, frozen=True):
    """An event the project does not act on, or one that could not be read (see `problem`).

    `raw` is the message as it came: its text when it was not decoded (events the project does
    not act on are not decoded at all: most of Asterisk's traffic is ChannelVarset and the like),
    else the decoded JSON.
    """

    type: str
    raw: Any
    problem: str | None = None

    def data(self) -> Any:
        return msgspec.json.decode(self.raw) if isinstance(self.raw, str | bytes) else self.raw


TypedEvent = (
    StasisStart
    | StasisEnd
    | ChannelStateChange
    | ChannelDestroyed
    | ChannelHangupRequest
    | ChannelEnteredBridge
    | ChannelLeftBridge
    | ChannelDtmfReceived
    | ChannelHold
    | ChannelUnhold
    | ChannelTransfer
    | BridgeCreated
    | BridgeDestroyed
    | BridgeBlindTransfer
    | BridgeAttendedTransfer
    | RecordingStarted
    | RecordingFinished
    | RecordingFailed
    | PlaybackStarted
    | PlaybackFinished
    | Dial
)
Event = TypedEvent | UntypedEvent

TYPED: dict[str, type[Message]] = {cls.__name__: cls for cls in TypedEvent.__args__}
_DECODER = msgspec.json.Decoder(TypedEvent)
# Most of what Asterisk sends is of no interest (ChannelVarset, ChannelDialplan...): such a
# message is recognised by its one "type" key and left undecoded. Two "type" keys (a channel
# variable named "type") and it is decoded to be sure.


def parse_event(message: str | bytes | dict[str, Any]) -> Event:
    """A typed event; UntypedEvent (with `problem` set when it was malformed) otherwise."""
    if isinstance(message, dict):
        event_type = message.get("type")
        if not isinstance(event_type, str):
            return UntypedEvent("", message, "no type")
        if event_type not in TYPED:
            return UntypedEvent(event_type, message)
        try:
            typed: TypedEvent = msgspec.convert(message, TypedEvent)
            return typed
        except msgspec.ValidationError as error:
            return UntypedEvent(event_type, message, str(error))
    text = message if isinstance(message, str) else message.decode("utf-8", "replace")
    at = text.rfind('"type"')
    if at >= 0 and text.find('"type"') == at:
        opening = text.find('"', at + 6)
        closing = text.find('"', opening + 1)
        name = text[opening + 1 : closing]
        if (
            opening > 0
            and closing > opening
            and name.isidentifier()
            and name not in TYPED
            and text[at + 6 : opening].strip() == ":"
        ):
            return UntypedEvent(name, message)
    try:
        event: TypedEvent = _DECODER.decode(message)
        return event
    except msgspec.DecodeError as error:
        try:
            decoded = msgspec.json.decode(message)
        except msgspec.DecodeError:
            return UntypedEvent("", message, f"not JSON: {error}")
        if not isinstance(decoded, dict):
            return UntypedEvent("", decoded, f"not a JSON object: {type(decoded).__name__}")
        return parse_event(decoded)
