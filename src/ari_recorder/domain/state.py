"""A call's state: the Call a step takes and returns, what it holds, and the settings' choices
it acts on. Data only; the steps are in the modules named after their roles."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ari_recorder.domain import ids
from ari_recorder.domain.pausing import Keys, Pause, PauseLimit, PauseRules
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Decision,
    Interaction,
    QueueId,
    QueuePolicy,
)


class Phase(enum.Enum):
    ANSWERING = "answering"  # answered, playing the announcement
    WAITING = "waiting"  # in the bridge with music on hold, an agent being dialled
    CONNECTED = "connected"  # a segment: an agent and the customer together
    HANDED_OFF = "handed-off"  # with someone who is no agent (an attended transfer): no segment
    ENDED = "ended"


# The settings' choices are str-valued: they are settings' values, saved in the call's state and
# written into audit details and metric labels as the same strings.
class FallbackAction(enum.StrEnum):
    """What happens to a customer no agent answered."""

    HANGUP = "hangup"
    CONTINUE = "continue"  # back to the dialplan


class OnRecordFailure(enum.StrEnum):
    """A selected segment whose recording could not be started in time."""

    CONTINUE = "continue"  # the call goes on, unrecorded
    HANGUP = "hangup"


class OnAnnouncementFailure(enum.StrEnum):
    """The announcement (the recording notice) was not played in full."""

    NO_RECORD = "no-record"  # the call goes on, not recorded
    HANGUP = "hangup"
    RECORD = "record"  # recorded all the same, the failure on record


class Spy(enum.StrEnum):
    """What a snoop hears of its channel's party: what it says (in), hears (out), or both."""

    IN = "in"
    OUT = "out"
    BOTH = "both"


class RecordingState(enum.StrEnum):
    """The current segment's recording, as the agent desktop shows it."""

    RECORDING = "recording"
    PAUSED = "paused"  # skipped: nothing written
    MUTED = "muted"  # silence written, the timeline kept
    NOT_RECORDED = "not-recorded"


PLAYED = "played"  # Call.announced when the announcement was played in full
legs = ids.recording_legs


@dataclass(frozen=True)
class Segment:
    number: int
    agent: AgentId
    channel: str
    decision: Decision
    recording: str | None  # the recording's name, when the segment is recorded
    answered: float | None = None  # when the agent (outbound: the customer) answered
    queue: QueueId | None = None  # the queue whose settings decided it


@dataclass(frozen=True)
class Starting:
    """A recording leg asked for and not yet confirmed by Asterisk (RecordingStarted)."""

    name: str  # the leg's name in Asterisk
    recording: str  # the segment's recording it is a leg of
    target: str  # the channel snooped
    snoop: str
    spy: Spy
    since: float  # when it was asked for: the deadline runs from here
    tries: int = 0  # record requests sent
    entered: bool = False  # the snoop is in the application
    asked: bool = False  # a record request is out, not refused (yet)
    refusal: str | None = None  # Asterisk's last refusal


@dataclass(frozen=True)
class Window:
    """When the call stopped wanting a recording: its segment ended (the agent left, a transfer),
    or, for a customer-side recording, the call ended or an agent without consent answered. From
    the answer of the segment that started it to `ended` is the time its file should cover (less
    skipped pauses): the proof of recording holds the file against it. `seen` is False when the
    end was learned by reconciliation (the event stream was down): the true end lies earlier."""

    recording: str
    ended: float
    seen: bool = True


@dataclass(frozen=True)
class Agent:
    """An agent as the call sees it: how to reach them and what they agreed to."""

    policy: AgentPolicy
    endpoint: str


@dataclass(frozen=True)
class Queue:
    """What a call takes on from a queue it is transferred to, when the new agent answers: the
    queue's policy (its percent, record side, pausing allowed), its pause rules, what to do when
    a selected segment cannot be recorded, its music on hold and ring time for later waits."""

    policy: QueuePolicy
    pausing: PauseRules
    on_record_failure: OnRecordFailure = OnRecordFailure.CONTINUE
    moh_class: str | None = "default"
    ring_timeout: int = 20


@dataclass(frozen=True)
class Consultation:
    """An agent's consultation before an attended transfer, placed by the application
    (domain/consult.py): the agent's phone's second call and the target it dials, in a bridge
    of their own. Not a segment: nothing of it is recorded."""

    channel: str  # the agent's phone's second call (Stasis(...,consult,agent=<ext>))
    agent: AgentId  # the agent consulting
    to: Agent  # the agent consulted
    dialled: str  # the target's channel, originated by the call
    bridge: str
    answered: bool = False


@dataclass(frozen=True)
class Fallback:
    """What happens to a customer no agent answered: hang up, or back to the dialplan."""

    action: FallbackAction = FallbackAction.HANGUP
    context: str | None = None
    extension: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class Call:
    id: str
    customer: str  # the customer's channel
    interaction: Interaction
    company: CompanyPolicy
    queue: QueuePolicy | None
    agents: tuple[Agent, ...]  # whom to dial, in order
    announcement: str
    ring_timeout: int
    language: str | None = None  # the call's (its Stasis argument lang=, else its channel's)
    moh_class: str | None = "default"
    wait_limit: int = 120
    fallback: Fallback = Fallback()
    # PJSIP phones' transfers (REFER): reported to the application, which carries them out
    # (ari-only), or carried out by Asterisk itself (its default; see AgentReplaced).
    ari_only_transfers: bool = True
    phase: Phase = Phase.ANSWERING
    tried: int = 0  # the queue's agents dialled so far
    legs: int = 0  # agent channels created so far (queue and transfers)
    dialling: str | None = None  # the agent channel being dialled
    transfer_to: Agent | None = None  # whom `dialling` rings, when it is a transfer
    transfer_queue: Queue | None = None  # the queue `transfer_to` is reached through, if one
    handed_to: str | None = None  # HANDED_OFF: the channel with the customer (no agent of ours)
    swapped_out: tuple[str, ...] = ()  # agents' channels an attended transfer took out of the bridge
    segments: tuple[Segment, ...] = ()
    recordings_open: frozenset[str] = field(default_factory=frozenset)
    customer_recording: str | None = None  # record_side = customer: the one running recording
    customer_recording_over: bool = False  # a non-permitted agent answered: stopped for good
    pausing: PauseRules = field(default_factory=PauseRules)
    pauses: tuple[Pause, ...] = ()  # every pause of the call, the last one maybe still open
    keys: Keys = field(default_factory=Keys)  # the agent's keys towards a pause or resume sequence
    pause_limits: tuple[PauseLimit, ...] = ()  # per segment, the first pause its limit refused
    began: tuple[tuple[str, float], ...] = ()  # (recording, when Asterisk started writing it)
    channels: int = 1  # 2: each party in a file of its own, merged into one stereo file later
    record_deadline: float = 2.0  # seconds for a recording to be confirmed started
    on_record_failure: OnRecordFailure = OnRecordFailure.CONTINUE
    on_announcement_failure: OnAnnouncementFailure = OnAnnouncementFailure.NO_RECORD
    starting: tuple[Starting, ...] = ()  # recordings asked for, not yet confirmed
    unrecorded: tuple[tuple[str, str], ...] = ()  # (recording, why): selected, could not be recorded
    announced: str | None = None  # PLAYED, or why the announcement was not
    consultation: Consultation | None = None  # an attended transfer's, before it (domain/consult.py)
    windows: tuple[Window, ...] = ()  # recordings the call no longer wants, and since when
    waiting_since: float | None = None  # when the customer began waiting for an agent (wait_limit)

    def window(self, recording: str) -> Window | None:
        return next((w for w in self.windows if w.recording == recording), None)

    @property
    def bridge(self) -> str:
        return ids.bridge(self.id)

    @property
    def segment(self) -> Segment | None:
        return self.segments[-1] if self.segments and self.phase is Phase.CONNECTED else None

    @property
    def pause(self) -> Pause | None:
        """The pause in force, if any."""
        return self.pauses[-1] if self.pauses and self.pauses[-1].open else None

    def failure(self, recording: str | None) -> str | None:
        """Why a selected recording could not be made, if it could not."""
        return dict(self.unrecorded).get(recording or "")

    @property
    def unannounced(self) -> str | None:
        """Why the announcement was not played, if it was not (None: played, or not yet)."""
        return self.announced if self.announced not in (None, PLAYED) else None

    def recording_state(self) -> RecordingState:
        """The current segment's recording: recording, paused, muted, or not-recorded."""
        segment = self.segment
        if segment is None or segment.recording is None or self.failure(segment.recording):
            return RecordingState.NOT_RECORDED
        if self.pause is not None:
            return RecordingState.MUTED if self.pausing.mute else RecordingState.PAUSED
        return RecordingState.RECORDING
