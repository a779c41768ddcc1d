"""What happened to a call, as the engine tells it: past-tense events, one dataclass each."""

from __future__ import annotations

from dataclasses import dataclass

from ari_recorder.domain.pausing import Source
from ari_recorder.domain.state import Agent, Queue


@dataclass(frozen=True)
class AnnouncementFinished:
    busy: frozenset[str] = frozenset()  # agents on other calls now, not to be dialled
    failed: str | None = None  # why it was not played (Asterisk's playback failed, was cut...)


@dataclass(frozen=True)
class AgentAnswered:
    channel: str


@dataclass(frozen=True)
class AgentFailed:
    channel: str
    cause: int
    busy: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WaitLimitReached:
    pass


@dataclass(frozen=True)
class TransferRequested:
    """The agent asked to hand the customer to `destination` (a phone's REFER, or the API)."""

    destination: str
    to: Agent | None  # None: no such agent
    queue: Queue | None = None  # through a queue: its settings decide from the new agent's answer


@dataclass(frozen=True)
class AgentReplaced:
    """Asterisk carried out the agent's phone transfer itself (PJSIP's default handling): the agent
    left the bridge and a Local channel, `replacement`, took its place, asking for `destination`
    (sip_blind_transfer_core.jsonl). The call dials the destination itself, so it stays ours."""

    channel: str  # the transferring agent
    replacement: str  # the Local channel's half in the bridge; hanging it up ends both halves
    destination: str
    to: Agent | None  # None: no such agent


@dataclass(frozen=True)
class AgentSwapped:
    """An attended transfer Asterisk carried out: the agent's channel left the bridge and
    `replacement` took its place (a Local channel whose other half is bridged with the transfer
    target: StasisStart with replace_channel). `to`: the target, when known to be one of our
    agents; None while unknown (PartyIdentified may follow) or when it is someone else. Nothing
    is dialled: the new party is already with the customer."""

    channel: str
    replacement: str
    to: Agent | None


@dataclass(frozen=True)
class PartyIdentified:
    """BridgeAttendedTransfer, after the swap: the party now on `channel` is the agent `to`."""

    channel: str
    to: Agent


@dataclass(frozen=True)
class AgentLeft:
    channel: str


@dataclass(frozen=True)
class CustomerLeft:
    """The call's own channel (the customer's; on an outbound call, the agent's) or the customer
    channel it dialled (outbound) left, or could not be reached."""

    channel: str | None = None


@dataclass(frozen=True)
class CustomerAnswered:
    """Outbound: the customer the agent called answered."""

    channel: str


@dataclass(frozen=True)
class RecordingEnded:
    name: str


@dataclass(frozen=True)
class RecordingBegan:
    """Asterisk started writing the recording (RecordingStarted): the file's time zero."""

    name: str


@dataclass(frozen=True)
class SnoopEntered:
    """The snoop made for recording `name` is in the application (its StasisStart, args
    `snoop,<name>`): only now may it be recorded (Asterisk answers the snoop's POST before)."""

    snoop: str
    name: str


@dataclass(frozen=True)
class RecordRefused:
    """Asterisk refused to make the snoop (`snoop`) or to record on it, or the recording failed
    before it started."""

    name: str
    why: str
    snoop: bool = False


@dataclass(frozen=True)
class RecordRetry:
    """Time to try recording `name` again (its `tries`-th attempt was refused)."""

    name: str
    tries: int


@dataclass(frozen=True)
class RecordDeadline:
    """recording.start_deadline_ms after the recording of `name` was asked for."""

    name: str


@dataclass(frozen=True)
class PauseRequested:
    by: str  # the agent's id, or "admin"
    source: Source


@dataclass(frozen=True)
class ResumeRequested:
    by: str
    source: Source


@dataclass(frozen=True)
class KeyPressed:
    """A key pressed on one of the call's channels (ChannelDtmfReceived, one per key)."""

    channel: str
    digit: str


@dataclass(frozen=True)
class PauseExpired:
    """max_pause_seconds after pause `number` began."""

    number: int


@dataclass(frozen=True)
class PauseFailed:
    """Asterisk refused to pause (or mute) the recording: it is still running."""

    number: int


CallEvent = (
    AnnouncementFinished
    | AgentAnswered
    | AgentFailed
    | AgentLeft
    | CustomerLeft
    | RecordingEnded
    | WaitLimitReached
    | TransferRequested
    | AgentReplaced
    | AgentSwapped
    | PartyIdentified
    | CustomerAnswered
    | RecordingBegan
    | PauseRequested
    | ResumeRequested
    | KeyPressed
    | PauseExpired
    | PauseFailed
    | SnoopEntered
    | RecordRefused
    | RecordRetry
    | RecordDeadline
)
