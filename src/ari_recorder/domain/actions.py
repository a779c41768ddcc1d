"""What a call asks the executor to do: imperative actions, one dataclass each. Only the
executor (engine/executor.py) carries them out."""

from __future__ import annotations

from dataclasses import dataclass

from ari_recorder.domain.events import CallEvent
from ari_recorder.domain.notes import Note
from ari_recorder.domain.policy import AgentId
from ari_recorder.domain.state import Call, Spy


@dataclass(frozen=True)
class Answer:
    channel: str


@dataclass(frozen=True)
class Play:
    channel: str
    media: str
    playback_id: str
    lang: str | None = None  # the language Asterisk takes the sound in (None: the channel's)


@dataclass(frozen=True)
class CreateBridge:
    bridge: str


@dataclass(frozen=True)
class AddToBridge:
    bridge: str
    channel: str
    absorb_dtmf: bool = False


@dataclass(frozen=True)
class StartMoh:
    """Music on hold for the waiting customer, on the customer's channel. Not the bridge's: on a
    real Asterisk 22 a bridge's music is an Announcer channel of its own, and 30 of them started
    and stopped at once took up to 3 s and 10 s, stalling every other ARI request (a recording's
    start among them); a channel's took 0.02 s and 1 s."""

    channel: str
    moh_class: str | None


@dataclass(frozen=True)
class StopMoh:
    channel: str


@dataclass(frozen=True)
class DialAgent:
    channel: str
    agent: AgentId
    endpoint: str
    timeout: int


@dataclass(frozen=True)
class DialCustomer:
    """Outbound: call the customer (through the trunk's endpoint) into the application."""

    channel: str
    endpoint: str
    timeout: int
    caller_id: str


@dataclass(frozen=True)
class StartRecording:
    """Snoop `target` (`spy`: both ways, or only what its party says (in) or hears (out)) into
    the application, to be recorded as `name` once it is there (SnoopEntered, then Record)."""

    target: str
    snoop: str
    name: str
    spy: Spy = Spy.BOTH


@dataclass(frozen=True)
class Record:
    """Record the snoop (in the application) as `name`; RecordingStarted confirms it."""

    snoop: str
    name: str


@dataclass(frozen=True)
class Later:
    """Tell the call `event` after `seconds`."""

    seconds: float
    event: CallEvent


@dataclass(frozen=True)
class Hangup:
    channel: str


@dataclass(frozen=True)
class DestroyBridge:
    bridge: str


@dataclass(frozen=True)
class ContinueInDialplan:
    """Hand the channel back to the dialplan (where the fallback says, or after Stasis())."""

    channel: str
    context: str | None = None
    extension: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class SetVariable:
    channel: str
    name: str
    value: str


@dataclass(frozen=True)
class StopRecording:
    name: str


@dataclass(frozen=True)
class PauseRecording:
    """Mute the recording (silence written, the timeline kept) or pause it (nothing written)."""

    name: str
    mute: bool
    number: int  # the pause's number, to report a failure back


@dataclass(frozen=True)
class ResumeRecording:
    name: str
    mute: bool


@dataclass(frozen=True)
class StartPauseTimer:
    """Tell the call `PauseExpired(number)` after `seconds`."""

    seconds: int
    number: int


@dataclass(frozen=True)
class StartTimer:
    """Tell the call `WaitLimitReached` after `seconds`, unless it has ended by then."""

    seconds: int


Action = (
    Answer
    | Play
    | CreateBridge
    | AddToBridge
    | StartMoh
    | StopMoh
    | DialAgent
    | DialCustomer
    | StartRecording
    | Record
    | Later
    | Hangup
    | DestroyBridge
    | ContinueInDialplan
    | StartTimer
    | SetVariable
    | StopRecording
    | PauseRecording
    | ResumeRecording
    | StartPauseTimer
    | Note
)

# What a step returns: the call as it is now, and what to do.
Outcome = tuple[Call, list[Action]]
