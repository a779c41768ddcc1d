"""Every id the controller gives Asterisk, minted and read back here and nowhere else.

A call's id is its first channel's, as Asterisk assigned it (`1716968400.42`: no `-`). Every
channel, bridge, snoop, playback and recording the call creates starts with it and a `-`, so an
event naming any of them finds its call again (`call_of`).

    {call}-bridge               the call's mixing bridge
    {call}-announcement         the recording announcement's playback
    {call}-customer             an outbound call's customer leg
    {call}-agent-{leg}          the leg-th agent channel the call dialled
    {call}-consult-{leg}        an attended transfer's consultation leg
    {call}-snoop-{n}[c|a]       segment n's snoop (c, a: one per party when recording two channels)
    {call}-seg{n}-{agent}       segment n's recording, made safe for Asterisk's file names
    {recording}-customer|agent  the two channels of a two-channel recording
    chat-{chat}-{n}             a webchat segment's transcript (no channel: never sent to Asterisk)

Stasis arguments: the dialplan's (`queue=support,agent=1001,lang=fr`, `outbound,agent=1001,to=...`)
and the controller's own channels' (`agent,1001`, `customer`, `snoop,{recording}`).
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass

from ari_recorder.ari.naming import safe_recording_name

SEPARATOR = "-"


def call_of(any_id: str) -> str:
    """The call an id of ours belongs to: the part before the first `-`."""
    return any_id.split(SEPARATOR, 1)[0]


def bridge(call: str) -> str:
    return f"{call}-bridge"


def announcement(call: str) -> str:
    return f"{call}-announcement"


def is_announcement(playback: str) -> bool:
    return playback.endswith("-announcement")


def customer_leg(call: str) -> str:
    return f"{call}-customer"


def is_leg(channel: str) -> bool:
    """An outbound call's customer leg."""
    return channel.endswith("-customer")


def is_call(channel: str) -> bool:
    """A call's own first channel (the customer's, inbound; the agent's, outbound)."""
    return SEPARATOR not in channel


def agent_channel(call: str, leg: int) -> str:
    return f"{call}-agent-{leg}"


def is_agent_channel(channel: str) -> bool:
    return "-agent-" in channel


def consult_channel(call: str, leg: int) -> str:
    return f"{call}-consult-{leg}"


def snoop(call: str, segment: int, party: str = "") -> str:
    """`party`: "" for one snoop both ways, "c" or "a" for the customer's or the agent's."""
    return f"{call}-snoop-{segment}{party}"


def recording(call: str, segment: int, agent: str) -> str:
    """Segment n's recording name: agent ids come from settings, so it is made safe for Asterisk."""
    return safe_recording_name(f"{call}-seg{segment}-{agent}")


@dataclass(frozen=True)
class RecordingId:
    """A recording's name read back: its call, segment and the agent part (as made safe)."""

    name: str
    call: str
    segment: int
    agent: str


_RECORDING = re.compile(r"(?P<call>[^-]+)-seg(?P<segment>[0-9]{1,6})-(?P<agent>.+)")


def read_recording(name: str) -> RecordingId | None:
    """What a name made by `recording` says; None for any other name (not ours)."""
    match = _RECORDING.fullmatch(name)
    if match is None or safe_recording_name(name) != name:
        return None
    return RecordingId(name, match["call"], int(match["segment"]), match["agent"])


def recordings_of(stored: set[str]) -> dict[str, int]:
    """Asterisk's stored recordings (`stored`) as ours, each with its channels: a name, or a pair
    of party recordings of one name and none of that name itself (two channels)."""
    found: dict[str, int] = {}
    for name in stored:
        stem, _, party = name.rpartition(SEPARATOR)
        legs = recording_legs(stem, 2)
        if party not in ("customer", "agent") or stem in stored or not set(legs) <= stored:
            found[name] = 1
        elif name == legs[0]:  # the pair, once
            found[stem] = 2
    return found


def transcript(chat: str, segment: int) -> str:
    """A webchat segment's transcript, named as a recording is (it is delivered as one)."""
    return f"chat-{chat}-{segment}"


def recording_legs(name: str, channels: int) -> tuple[str, ...]:
    """The recordings Asterisk makes for one of ours: itself, or one per party (two channels:
    the customer's, then the agent's)."""
    return (name,) if channels == 1 else (f"{name}-customer", f"{name}-agent")


# Stasis arguments.


class Own(enum.Enum):
    """The channels the controller itself puts into Stasis, told apart by their first argument."""

    AGENT = "agent"
    CUSTOMER = "customer"
    SNOOP = "snoop"


def agent_args(agent: str) -> str:
    return f"{Own.AGENT.value},{agent}"


def customer_args() -> str:
    return Own.CUSTOMER.value


def snoop_args(recording_name: str) -> str:
    return f"{Own.SNOOP.value},{recording_name}"


@dataclass(frozen=True, slots=True)
class OwnStart:
    """A StasisStart of one of the controller's own channels: which, and its argument."""

    kind: Own
    argument: str = ""


def own_start(args: tuple[str, ...]) -> OwnStart | None:
    """`agent,1001` / `customer` / `snoop,{recording}` read back; None for a dialplan's call."""
    match args:
        case (Own.AGENT.value, *rest):
            return OwnStart(Own.AGENT, rest[0] if rest else "")
        case (Own.CUSTOMER.value, *_):
            return OwnStart(Own.CUSTOMER)
        case (Own.SNOOP.value, name, *_):
            return OwnStart(Own.SNOOP, name)
    return None


OUTBOUND = "outbound"
CONSULT = "consult"  # the agents' dialplan (7XXXX): a consultation call for an attended transfer
TRANSFER = "transfer"  # the agents' dialplan (3XXX): a phone's own transfer, back in the application


def new_call() -> str:
    """An id for a call the controller places itself (no `-`, as Asterisk's own)."""
    return uuid.uuid4().hex


def is_outbound(args: tuple[str, ...]) -> bool:
    return args[:1] == (OUTBOUND,)


def is_consult(args: tuple[str, ...]) -> bool:
    return args[:1] == (CONSULT,)


def is_transfer(args: tuple[str, ...]) -> bool:
    return args[:1] == (TRANSFER,)


def is_queue_call(args: tuple[str, ...]) -> bool:
    return any(a.startswith("queue=") for a in args)


def dialplan_args(args: tuple[str, ...]) -> dict[str, str]:
    """`Stasis(ari-recorder,queue=support,agent=1001,lang=fr)`: the key=value arguments."""
    return {key: value for key, sep, value in (a.partition("=") for a in args) if sep}


def outbound_args(agent: str, to: str, queue: str | None) -> list[str]:
    """The arguments of an outbound call the controller places itself, as the dialplan writes them."""
    return [OUTBOUND, f"agent={agent}", f"to={to}", *([f"queue={queue}"] if queue else [])]
