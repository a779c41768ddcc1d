"""One inbound call as a pure state machine: `step(call, event) -> (call, actions)`.

Events are what happened (past tense); actions what to do (imperative); only the executor acts.
Ids are chosen here, from the call's own id, so that a retried action is idempotent and a
restarted controller recognises what is its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from ari_recorder.domain import ids
from ari_recorder.domain.pausing import (
    Ending,
    Keys,
    Pause,
    PauseLimit,
    PauseRules,
    Source,
    file_offset,
    read_key,
)
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Decision,
    Direction,
    Interaction,
    QueuePolicy,
    RecordSide,
    decide,
)


class Phase(enum.Enum):
    ANSWERING = "answering"  # answered, playing the announcement
    WAITING = "waiting"  # in the bridge with music on hold, an agent being dialled
    CONNECTED = "connected"  # a segment: an agent and the customer together
    HANDED_OFF = "handed-off"  # with someone who is no agent (an attended transfer): no segment
    ENDED = "ended"


# ----- events -----
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


# ----- actions -----
@dataclass(frozen=True)
class Answer:
    channel: str


@dataclass(frozen=True)
class Play:
    channel: str
    media: str
    playback_id: str


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
    spy: str = "both"


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


@dataclass(frozen=True)
class Log:
    """A line for people: one thing that happened, with the call and the segment."""

    text: str
    level: str = "info"  # or "warning", "error": what someone must be told at once


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
    | Log
)


# ----- state -----
@dataclass(frozen=True)
class Segment:
    number: int
    agent: AgentId
    channel: str
    decision: Decision
    recording: str | None  # the recording's name, when the segment is recorded
    answered: float | None = None  # when the agent (outbound: the customer) answered


@dataclass(frozen=True)
class Starting:
    """A recording leg asked for and not yet confirmed by Asterisk (RecordingStarted)."""

    name: str  # the leg's name in Asterisk
    recording: str  # the segment's recording it is a leg of
    target: str  # the channel snooped
    snoop: str
    spy: str
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

    action: str = "hangup"  # hangup | continue
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
    on_record_failure: str = "continue"  # or "hangup"
    on_announcement_failure: str = "no-record"  # or "hangup", "record"
    starting: tuple[Starting, ...] = ()  # recordings asked for, not yet confirmed
    unrecorded: tuple[tuple[str, str], ...] = ()  # (recording, why): selected, could not be recorded
    announced: str | None = None  # "played", or why the announcement was not
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

    def recording_state(self) -> str:
        """The current segment's recording: recording, paused, muted, or not-recorded."""
        segment = self.segment
        if segment is None or segment.recording is None or self.failure(segment.recording):
            return "not-recorded"
        if self.pause is not None:
            return "muted" if self.pausing.mute else "paused"
        return "recording"


legs = ids.recording_legs


def _record(call: Call, target: str, number: int, name: str) -> list[Action]:
    """Record through snoops on `target`: one both ways, or one per party (the snooped channel's
    party says `in`, hears `out`: reference snoop_directions_bridge_record)."""
    if call.channels == 1:
        return [StartRecording(target, ids.snoop(call.id, number), name)]
    customers, agents = legs(name, 2)
    on_customer = target == call.customer
    return [
        StartRecording(target, ids.snoop(call.id, number, "c"), customers, "in" if on_customer else "out"),
        StartRecording(target, ids.snoop(call.id, number, "a"), agents, "out" if on_customer else "in"),
    ]


@dataclass(frozen=True)
class Refusal:
    """Why a pause (or resume) cannot be done: `forbidden` (by the settings) or not now."""

    forbidden: bool
    why: str


def pause_refusal(call: Call, resuming: bool = False) -> Refusal | None:
    """None when the call's current recording may be paused (or resumed) now."""
    segment = call.segment
    if segment is None:
        return Refusal(False, f"call {call.id} has no agent with the customer now")
    if not call.pausing.allowed and not resuming:
        return Refusal(True, f"pausing is not allowed on queue {call.interaction.queue}")
    if segment.recording is None or call.failure(segment.recording):
        return Refusal(False, f"segment {segment.number} of call {call.id} is not recorded: nothing to pause")
    if not resuming and call.pause is None and pause_count(call) >= call.pausing.max_per_segment:
        return Refusal(
            False,
            f"segment {segment.number} of call {call.id} has been paused {pause_count(call)} times, "
            f"the most company.max_pauses_per_segment allows",
        )
    return None


def pause_count(call: Call) -> int:
    """How many pauses the current segment's recording has had (the one in force included)."""
    segment = call.segment
    if segment is None or segment.recording is None:
        return 0
    return sum(1 for p in call.pauses if p.recording == segment.recording)


def start(call: Call) -> tuple[Call, list[Action]]:
    """The call entered the application: answer it and play the announcement."""
    return call, [
        Answer(call.customer),
        Play(call.customer, call.announcement, ids.announcement(call.id)),
        Log(f"call={call.id} action=answer queue={call.interaction.queue}"),
    ]


def start_outbound(call: Call, endpoint: str) -> tuple[Call, list[Action]]:
    """An agent's call out entered the application (the call's id is the agent's channel):
    answer the agent, hold them in the bridge, dial the customer. No announcement: the agent
    speaks first; the segment, and any recording, starts when the customer answers."""
    (agent,) = call.agents
    call = replace(call, phase=Phase.WAITING, dialling=call.customer)
    return call, [
        Answer(call.id),
        CreateBridge(call.bridge),
        AddToBridge(call.bridge, call.id, absorb_dtmf=True),
        DialCustomer(call.customer, endpoint, call.ring_timeout, agent.policy.agent),
        Log(f"call={call.id} agent={agent.policy.agent} action=dial-out endpoint={endpoint}"),
    ]


def _outbound(call: Call, event: CallEvent) -> tuple[Call, list[Action]]:
    (agent,) = call.agents
    match event:  # what reconciliation tells in an inbound call's words
        case AgentAnswered(channel) if channel == call.customer:
            event = CustomerAnswered(channel)
        case AgentFailed(channel) | AgentLeft(channel):
            event = CustomerLeft(channel)
    match event:
        case CustomerAnswered(channel) if channel == call.dialling:
            decision = _decide(call, agent.policy)
            side = call.queue.record_side if call.queue else RecordSide.AGENT
            name = ids.recording(call.id, 1, agent.policy.agent)
            target = call.customer if side is RecordSide.CUSTOMER else call.id
            starting = _record(call, target, 1, name) if decision.record else []
            segment = Segment(1, agent.policy.agent, call.id, decision, name if decision.record else None)
            call = replace(
                call,
                phase=Phase.CONNECTED,
                dialling=None,
                segments=(segment,),
                recordings_open=frozenset(legs(name, call.channels)) if decision.record else frozenset(),
            )
            return call, [
                *starting,
                AddToBridge(call.bridge, channel),
                Log(
                    f"call={call.id} segment=1 agent={agent.policy.agent} action=connected "
                    f'direction=outbound record={"yes" if decision.record else "no"} why="{decision.reason}"'
                ),
            ]
        case CustomerLeft(gone) if gone == call.customer and call.phase is Phase.WAITING:
            return _end(call, "the customer did not answer")
        case CustomerLeft(gone) if gone == call.customer:
            return _end(call, "the customer hung up")
        case CustomerLeft():
            return _end(call, "the agent hung up")
        case TransferRequested():
            why = "outbound calls are not transferred"
            return call, [Log(f'call={call.id} action=transfer-refused why="{why}"')]
        case RecordingEnded(name):
            return replace(call, recordings_open=call.recordings_open - {name}), []
    return call, []


def step(call: Call, event: CallEvent, now: float = 0.0, seen: bool = True) -> tuple[Call, list[Action]]:
    """What the call does about an event at `now`; the new call and the actions, never I/O.
    `seen` False: the event happened earlier, while the event stream was down (reconciliation)."""
    after, actions = _advance(call, event, now)
    ended = _wanted(call) - _wanted(after)
    if ended:
        after = replace(after, windows=(*after.windows, *(Window(r, now, seen) for r in sorted(ended))))
    return after, actions


def _wanted(call: Call) -> set[str]:
    """The recordings the call wants running now: its segment's, and a customer-side one, which
    goes on across transfers until the call ends."""
    if call.phase is Phase.ENDED:
        return set()
    wanted = {call.customer_recording} if call.customer_recording is not None else set()
    if call.segment is not None and call.segment.recording is not None:
        wanted.add(call.segment.recording)
    return wanted


def _advance(call: Call, event: CallEvent, now: float) -> tuple[Call, list[Action]]:
    match event:
        case PauseRequested(by, source):
            return _pause(call, by, source, now)
        case ResumeRequested(by, source):
            return _resume(call, by, source, now)
        case KeyPressed(channel, digit):
            return _key(call, channel, digit, now)
        case PauseExpired(number) if call.pause is not None and call.pause.number == number:
            return _pause_over(call, Ending.TIMEOUT, now)
        case PauseFailed(number) if call.pause is not None and call.pause.number == number:
            return _pause_over(call, Ending.FAILED, now)
        case RecordingBegan(name):
            return _began(call, name, now)
        case SnoopEntered(snoop, name):
            return _entered(call, snoop, name)
        case RecordRefused(name, why, snoop):
            return _refused(call, name, why, snoop, now)
        case RecordRetry(name, tries):
            return _retry(call, name, tries)
        case RecordDeadline(name):
            return _deadline(call, name)
    segments = len(call.segments)
    call, actions = _step(call, event)
    if call.waiting_since is None and any(isinstance(a, StartTimer) for a in actions):
        call = replace(call, waiting_since=now)  # the wait limit runs from here (domain/derived.py)
    call, actions = _starting(call, actions, now, segments)
    # A pause never outlives its segment or the call (RECORDING-RULES.md, "Pausing").
    pause = call.pause
    if pause is None:
        return call, actions
    if call.phase is Phase.ENDED:
        call, ending = _pause_over(call, Ending.HANGUP, now)
    elif call.segment is None or call.segment.number != pause.segment:
        call, ending = _pause_over(call, Ending.TRANSFER, now)
    else:
        return call, actions
    return call, actions + ending


# ----- a recording's start, confirmed -----
RETRY_FIRST = 0.05  # seconds before the first retry of a refused start; doubled each time
RETRY_MOST = 0.4  # and never longer than this


def retry_delay(tries: int) -> float:
    """The wait before attempt `tries` + 1: 50, 100, 200, 400, 400... ms."""
    return min(RETRY_FIRST * (1 << min(max(0, tries - 1), 8)), RETRY_MOST)


def _starting(call: Call, actions: list[Action], now: float, segments: int) -> tuple[Call, list[Action]]:
    """What the step asked of Asterisk, followed up: a new segment's answer time kept, and each
    snoop made for a recording given a deadline to be confirmed by."""
    if len(call.segments) > segments and call.segments[-1].answered is None:
        call = replace(call, segments=(*call.segments[:-1], replace(call.segments[-1], answered=now)))
    asked = [a for a in actions if isinstance(a, StartRecording)]
    if not asked:
        return call, actions
    added = tuple(
        Starting(a.name, _recording_of(call, a.name), a.target, a.snoop, a.spy, since=now) for a in asked
    )
    later = [Later(call.record_deadline, RecordDeadline(a.name)) for a in asked]
    return replace(call, starting=call.starting + added), [*actions, *later]


def _recording_of(call: Call, leg: str) -> str:
    for recording in (s.recording for s in reversed(call.segments)):
        if recording is not None and leg in legs(recording, call.channels):
            return recording
    return leg


def _start_of(call: Call, name: str) -> Starting | None:
    return next((s for s in call.starting if s.name == name), None)


def _with(call: Call, start: Starting) -> Call:
    return replace(call, starting=tuple(start if s.name == start.name else s for s in call.starting))


def _began(call: Call, name: str, now: float) -> tuple[Call, list[Action]]:
    """RecordingStarted: the recording is confirmed; where it starts against the answer, told."""
    start = _start_of(call, name)
    call = replace(
        call, began=(*call.began, (name, now)), starting=tuple(s for s in call.starting if s.name != name)
    )
    if start is None:
        return call, []
    segment = next((s for s in call.segments if s.recording == start.recording), None)
    offset = f" offset={now - segment.answered:.3f}" if segment and segment.answered is not None else ""
    return call, [
        Log(f"call={call.id} recording={name} action=recording-started tries={start.tries}{offset}")
    ]


def _entered(call: Call, snoop: str, name: str) -> tuple[Call, list[Action]]:
    """The snoop is in the application: now it may be recorded."""
    start = _start_of(call, name)
    if start is None or start.snoop != snoop:
        return call, []
    if start.asked or call.phase is Phase.ENDED:
        return _with(call, replace(start, entered=True)), []
    return _with(call, replace(start, entered=True, asked=True, tries=start.tries + 1)), [Record(snoop, name)]


def _refused(call: Call, name: str, why: str, snoop: bool, now: float) -> tuple[Call, list[Action]]:
    """Asterisk refused: tried again after a short wait, if the deadline leaves time for it."""
    start = _start_of(call, name)
    if start is None:
        return call, []
    tries = start.tries + 1 if snoop else start.tries
    start = replace(start, asked=False, refusal=why, tries=tries, entered=start.entered and not snoop)
    call = _with(call, start)
    wait = retry_delay(start.tries)
    if call.phase is Phase.ENDED or now + wait >= start.since + call.record_deadline:
        return call, []  # the deadline says the rest
    what = "snoop" if snoop else "record"
    return call, [
        Later(wait, RecordRetry(name, start.tries)),
        Log(
            f"call={call.id} recording={name} action={what}-refused tries={start.tries} "
            f'retry_in={wait:.2f} why="{why}"',
            "warning",
        ),
    ]


def _retry(call: Call, name: str, tries: int) -> tuple[Call, list[Action]]:
    start = _start_of(call, name)
    if start is None or start.tries != tries or start.asked or call.phase is Phase.ENDED:
        return call, []
    if not start.entered:  # the snoop itself was refused: made again (its StasisStart follows)
        return call, [StartRecording(start.target, start.snoop, name, start.spy)]
    return _with(call, replace(start, asked=True, tries=tries + 1)), [Record(start.snoop, name)]


NOT_RECORDED_REASONS = ("refused", "snoop_never_entered", "never_started", "call_ended")


def not_recorded_reason(why: str) -> str:
    """A not-recorded segment's why (from `_deadline`) as one of NOT_RECORDED_REASONS."""
    if "the call ended before the recording started" in why:
        return "call_ended"
    if "Asterisk refused it" in why:
        return "refused"
    if "snoop channel never entered" in why:
        return "snoop_never_entered"
    return "never_started"


def _deadline(call: Call, name: str) -> tuple[Call, list[Action]]:
    """Not confirmed in time: the segment is selected, not recorded, and said so at once; the
    call hung up if compliance demands it (on_record_failure = hangup)."""
    start = _start_of(call, name)
    if start is None:
        return call, []
    if start.refusal is not None:
        why = f"Asterisk refused it: {start.refusal}"
    elif start.asked:
        why = "Asterisk took the record request but never started the recording"
    else:
        why = "the snoop channel never entered the application"
    if call.phase is Phase.ENDED:
        why = f"the call ended before the recording started ({why})"
    why = f"not started within {call.record_deadline:g} s: {why}"
    recording = start.recording
    mine = legs(recording, call.channels)
    actions: list[Action] = [Hangup(s.snoop) for s in call.starting if s.recording == recording]
    # Two channels: a leg that did start is stopped; one party alone is no recording of the call.
    began = dict(call.began)
    actions += [StopRecording(leg) for leg in mine if leg in began and leg in call.recordings_open]
    segment = next((s for s in call.segments if s.recording == recording), None)
    actions.append(
        Log(
            f"call={call.id} segment={segment.number if segment else '?'} "
            f"agent={segment.agent if segment else '?'} recording={recording} action=not-recorded "
            f'then={call.on_record_failure} why="selected, not recorded: {why}"',
            "error",
        )
    )
    call = replace(
        call,
        starting=tuple(s for s in call.starting if s.recording != recording),
        unrecorded=(*call.unrecorded, (recording, why)),
        recordings_open=call.recordings_open - {leg for leg in mine if leg not in began},
    )
    if call.on_record_failure == "hangup" and call.phase is not Phase.ENDED:
        call, ending = _end(call, "a selected segment could not be recorded (on_record_failure = hangup)")
        return call, actions + ending
    return call, actions


def _pause(call: Call, by: str, source: Source, now: float) -> tuple[Call, list[Action]]:
    refusal = pause_refusal(call)
    if refusal is not None:
        why = refusal.why
        call = _limit_reached(call, by, source, now)
        return call, [Log(f'call={call.id} action=pause-refused by={by} source={source.value} why="{why}"')]
    if call.pause is not None:
        return call, []  # already paused: nothing to do
    segment = call.segment
    assert segment is not None and segment.recording is not None
    name = segment.recording
    began = dict(call.began).get(legs(name, call.channels)[0])
    pause = Pause(
        number=len(call.pauses) + 1,
        recording=name,
        segment=segment.number,
        agent=segment.agent,
        by=by,
        source=source,
        behavior=call.pausing.behavior,
        started=now,
        offset=file_offset(began, tuple(p for p in call.pauses if p.recording == name), now),
    )
    return replace(call, pauses=(*call.pauses, pause)), [
        *(PauseRecording(leg, call.pausing.mute, pause.number) for leg in legs(name, call.channels)),
        StartPauseTimer(call.pausing.max_seconds, pause.number),
        Log(
            f"call={call.id} segment={segment.number} agent={segment.agent} action=pause by={by} "
            f"source={source.value} behavior={pause.behavior} recording={name}"
        ),
    ]


def _limit_reached(call: Call, by: str, source: Source, now: float) -> Call:
    """The call with the segment's first refusal by its pause limit noted (for the audit trail),
    if this refusal is one; the limit's later refusals are only logged."""
    segment = call.segment
    if segment is None or segment.recording is None or pause_count(call) < call.pausing.max_per_segment:
        return call
    if any(limit.segment == segment.number for limit in call.pause_limits):
        return call
    limit = PauseLimit(
        segment.number, segment.recording, segment.agent, by, source, now, call.pausing.max_per_segment
    )
    return replace(call, pause_limits=(*call.pause_limits, limit))


def _resume(call: Call, by: str, source: Source, now: float) -> tuple[Call, list[Action]]:
    refusal = pause_refusal(call, resuming=True)
    if refusal is not None:
        why = refusal.why
        return call, [Log(f'call={call.id} action=resume-refused by={by} source={source.value} why="{why}"')]
    if call.pause is None:
        return call, []  # not paused: nothing to do
    return _pause_over(call, Ending.RESUME, now, by, source)


def _pause_over(
    call: Call, ending: Ending, now: float, by: str = "controller", source: Source | None = None
) -> tuple[Call, list[Action]]:
    """End the pause in force: the recording resumed, unless it ended with its channel or was
    never paused (FAILED); told in the log."""
    pause = call.pause
    assert pause is not None
    closed = pause.close(now, ending, by)
    call = replace(call, pauses=(*call.pauses[:-1], closed))
    # A customer-side recording goes on across a transfer; an agent-side one ends with the agent.
    going_on = pause.recording == call.customer_recording and call.phase is not Phase.ENDED
    resume = ending in (Ending.RESUME, Ending.TIMEOUT) or (ending is Ending.TRANSFER and going_on)
    mute = pause.behavior == "silence"
    actions: list[Action] = (
        [ResumeRecording(leg, mute) for leg in legs(pause.recording, call.channels)] if resume else []
    )
    actions.append(
        Log(
            f"call={call.id} segment={pause.segment} agent={pause.agent} action=pause-ended "
            f"ended_by={ending.value} seconds={closed.seconds(now):.2f} recording={pause.recording} "
            f"by={by}" + (f" source={source.value}" if source else "")
        )
    )
    return call, actions


def _key(call: Call, channel: str, digit: str, now: float) -> tuple[Call, list[Action]]:
    """The agent's keys pause and resume; anyone else's, and other keys, do nothing here."""
    segment = call.segment
    if segment is None or channel != segment.channel:
        return call, []
    keys, command = read_key(call.keys, channel, digit, now, call.pausing)
    call = replace(call, keys=keys)
    if command is None:
        return call, []
    if command == "pause" and not call.pausing.allowed:
        why = f"pausing is not allowed on queue {call.interaction.queue}"
        return call, [Log(f'call={call.id} agent={segment.agent} action=keys-ignored keys=pause why="{why}"')]
    if command == "pause":
        return _pause(call, segment.agent, Source.KEYS, now)
    return _resume(call, segment.agent, Source.KEYS, now)


def _step(call: Call, event: CallEvent) -> tuple[Call, list[Action]]:
    if call.phase is Phase.ENDED:
        if isinstance(event, RecordingEnded):
            return replace(call, recordings_open=call.recordings_open - {event.name}), []
        return call, []
    if call.interaction.direction is Direction.OUTBOUND:
        return _outbound(call, event)
    match event:
        case AnnouncementFinished(busy, failed) if call.phase is Phase.ANSWERING:
            call = replace(call, announced=failed or "played")
            actions: list[Action] = []
            if failed is not None:
                then = {"hangup": "hang up", "record": "record all the same"}.get(
                    call.on_announcement_failure, "not recorded"
                )
                actions.append(
                    Log(
                        f'call={call.id} action=announcement-failed then="{then}" '
                        f'announcement={call.announcement} why="{failed}"',
                        "error",
                    )
                )
                if call.on_announcement_failure == "hangup":
                    call, ending = _end(call, "the recording notice was not played")
                    return call, actions + ending
            call = replace(call, phase=Phase.WAITING)
            actions += [
                CreateBridge(call.bridge),
                AddToBridge(call.bridge, call.customer),
                StartMoh(call.customer, call.moh_class),
                StartTimer(call.wait_limit),
            ]
            return _dial_next(call, actions, busy)
        case AgentAnswered(channel) if channel == call.dialling and call.transfer_to is not None:
            leaving = call.segment
            call, actions = _connect(call, channel, call.transfer_to)
            if leaving is None:  # the phone's transfer already took the old agent away
                return call, actions
            # The new agent is in the bridge before the old one goes (answer_pause_transfer_hangup);
            # the old agent's snoop, and so its recording, ends with the old agent's channel.
            joined = next(i for i, a in enumerate(actions) if isinstance(a, AddToBridge))
            return call, [*actions[: joined + 1], Hangup(leaving.channel), *actions[joined + 1 :]]
        case AgentAnswered(channel) if channel == call.dialling:
            return _connect(call, channel, call.agents[call.tried - 1])
        case AgentFailed(channel, cause, _) if channel == call.dialling and call.transfer_to is not None:
            to = call.transfer_to.policy.agent
            if call.phase is Phase.WAITING:  # no agent to fall back on
                return _give_up(replace(call, transfer_to=None), f"transfer target {to} did not answer")
            return replace(call, dialling=None, transfer_to=None), [
                Log(f'call={call.id} agent={to} action=transfer-failed cause={cause} why="no answer"')
            ]
        case TransferRequested(destination, to) if call.phase is Phase.CONNECTED and call.dialling is None:
            if to is None:
                return call, [Log(f'call={call.id} action=transfer-refused why="no agent {destination}"')]
            return _dial_transfer(call, to, [])
        case AgentReplaced(channel, replacement, destination, to) if (
            call.segment and channel == call.segment.channel
        ) or (call.phase is Phase.HANDED_OFF and replacement == call.handed_to):
            # The old agent's recording ends with its channel; the customer waits with music. (The
            # Local channel's StasisStart, naming the agent it replaced, may have come first.)
            actions = [
                Log(f"call={call.id} agent={call.segments[-1].agent} action=phone-transfer to={destination}"),
                Hangup(channel),
                Hangup(replacement),
                StartMoh(call.customer, call.moh_class),
            ]
            call = replace(call, phase=Phase.WAITING, handed_to=None)
            if to is None:
                call, ending = _give_up(call, f"transferred to {destination}, which is no agent")
                return call, actions + ending
            return _dial_transfer(call, to, actions)
        case AgentSwapped(channel, replacement, to) if (
            call.segment and channel == call.segment.channel and call.dialling is None
        ):
            # Asterisk took the old agent's channel away (its recording ends with it); it is hung
            # up with the call, should the phone not do it.
            gone = call.segment.agent
            call = replace(call, swapped_out=(*call.swapped_out, channel))
            if to is None:
                why = "Asterisk put a channel in the agent's place; no agent of ours known on it (yet)"
                where = f"channel={replacement}"
                log = Log(f'call={call.id} agent={gone} action=agent-replaced {where} why="{why}"')
                return replace(call, phase=Phase.HANDED_OFF, handed_to=replacement), [log]
            call, connecting = _connect(call, replacement, to, joined=True)
            return call, [
                Log(f"call={call.id} agent={gone} action=attended-transfer to={to.policy.agent}"),
                *connecting,
            ]
        case PartyIdentified(channel, to) if call.phase is Phase.HANDED_OFF and channel == call.handed_to:
            log = Log(f"call={call.id} action=attended-transfer to={to.policy.agent} channel={channel}")
            call, connecting = _connect(replace(call, handed_to=None), channel, to, joined=True)
            return call, [log, *connecting]
        case AgentLeft(channel) if call.phase is Phase.HANDED_OFF and channel == call.handed_to:
            return _end(call, "the party the call was handed to hung up")
        case AgentFailed(channel, cause, busy) if channel == call.dialling:
            agent = call.agents[call.tried - 1].policy.agent
            return _dial_next(
                replace(call, dialling=None),
                [Log(f"call={call.id} agent={agent} action=no-answer cause={cause}")],
                busy,
            )
        case WaitLimitReached() if call.phase is Phase.WAITING:
            return _give_up(call, f"no agent answered within {call.wait_limit} s")
        case AgentLeft(channel) | AgentFailed(channel, _) if call.segment and channel == call.segment.channel:
            return _end(call, "the agent hung up")
        case CustomerLeft():
            return _end(call, "the customer hung up")
        case RecordingEnded(name):
            return replace(call, recordings_open=call.recordings_open - {name}), []
    return call, []


def _decide(call: Call, agent: AgentPolicy) -> Decision:
    """The segment's decision by the rules, unless the customer was not told of recording."""
    decision = decide(call.company, call.queue, agent, call.interaction)
    unannounced = call.announced not in (None, "played") and call.on_announcement_failure == "no-record"
    if decision.record and unannounced:
        why = f"the recording notice was not played ({call.announced}): not recorded"
        return replace(decision, record=False, reason=f"{why}; the rules said: {decision.reason}")
    return decision


def _dial_next(call: Call, actions: list[Action], busy: frozenset[str]) -> tuple[Call, list[Action]]:
    while call.tried < len(call.agents) and call.agents[call.tried].policy.agent in busy:
        skipped = call.agents[call.tried].policy.agent
        actions = [*actions, Log(f'call={call.id} agent={skipped} action=skip why="on another call"')]
        call = replace(call, tried=call.tried + 1)
    if call.tried >= len(call.agents):
        call, ending = _give_up(call, "no agent answered")
        return call, actions + ending
    agent = call.agents[call.tried]
    channel = ids.agent_channel(call.id, call.legs + 1)
    call = replace(call, tried=call.tried + 1, legs=call.legs + 1, dialling=channel)
    return call, [
        *actions,
        DialAgent(channel, agent.policy.agent, agent.endpoint, call.ring_timeout),
        Log(f"call={call.id} agent={agent.policy.agent} action=dial endpoint={agent.endpoint}"),
    ]


def _dial_transfer(call: Call, to: Agent, actions: list[Action]) -> tuple[Call, list[Action]]:
    """Ring the agent the call is being transferred to; `_connect` takes over when they answer."""
    channel = ids.agent_channel(call.id, call.legs + 1)
    call = replace(call, legs=call.legs + 1, dialling=channel, transfer_to=to)
    return call, [
        *actions,
        DialAgent(channel, to.policy.agent, to.endpoint, call.ring_timeout),
        Log(f"call={call.id} agent={to.policy.agent} action=transfer-dial endpoint={to.endpoint}"),
    ]


def _connect(call: Call, channel: str, who: Agent, joined: bool = False) -> tuple[Call, list[Action]]:
    """An agent answered (or, `joined`, is already in the bridge): a new segment, decided now;
    its recording started, kept or stopped."""
    agent = who.policy
    number = len(call.segments) + 1
    decision = _decide(call, agent)
    joining: list[Action] = []
    if not joined:
        if who.endpoint.startswith("PJSIP/") and call.ari_only_transfers:
            # The phone's own transfers (REFER) are then only reported, so the call stays ours.
            joining.append(SetVariable(channel, "PJSIP_TRANSFER_HANDLING()", "ari-only"))
        # The agent's keys are absorbed: the customer never hears the pause codes.
        joining.append(AddToBridge(call.bridge, channel, absorb_dtmf=True))
    hold = [StopMoh(call.customer)] if call.phase is Phase.WAITING else []
    side = call.queue.record_side if call.queue else RecordSide.AGENT
    recording: str | None = None
    starting: list[Action] = []
    name = ids.recording(call.id, number, agent.agent)
    if side is RecordSide.AGENT:
        if decision.record:
            recording = name
            starting += _record(call, channel, number, name)
            call = replace(call, recordings_open=call.recordings_open | set(legs(name, call.channels)))
    elif not agent.permit_recordings:
        if call.customer_recording is not None:
            starting += [StopRecording(leg) for leg in legs(call.customer_recording, call.channels)]
        call = replace(
            call,
            customer_recording=None,
            customer_recording_over=call.customer_recording is not None or call.customer_recording_over,
        )
    elif call.customer_recording is not None:
        recording = call.customer_recording  # one recording, on across transfers
    elif decision.record and not call.customer_recording_over:
        recording = name
        starting += _record(call, call.customer, number, name)
        opened = call.recordings_open | set(legs(name, call.channels))
        call = replace(call, customer_recording=recording, recordings_open=opened)
    # The agent side's recording is asked for first: the agent has answered, and every round trip
    # before it is audio lost. The customer side waits for the music on hold to stop.
    actions = [*starting, *hold, *joining] if side is RecordSide.AGENT else [*hold, *starting, *joining]
    segment = Segment(number, agent.agent, channel, decision, recording)
    call = replace(
        call, phase=Phase.CONNECTED, dialling=None, transfer_to=None, segments=(*call.segments, segment)
    )
    actions.append(
        Log(
            f"call={call.id} segment={number} agent={agent.agent} action=connected "
            f'record={"yes" if recording else "no"} why="{decision.reason}"'
        )
    )
    return call, actions


def _give_up(call: Call, why: str) -> tuple[Call, list[Action]]:
    """No agent for this customer: the queue's fallback, hang up or back to the dialplan."""
    if call.fallback.action != "continue":
        return _end(call, why)
    fb = call.fallback
    actions: list[Action] = [Log(f'call={call.id} action=fallback why="{why}" to=dialplan')]
    if call.dialling is not None:
        actions.append(Hangup(call.dialling))
    actions += [
        ContinueInDialplan(call.customer, fb.context, fb.extension, fb.priority),
        DestroyBridge(call.bridge),
    ]
    return replace(call, phase=Phase.ENDED, dialling=None), actions


def _end(call: Call, why: str) -> tuple[Call, list[Action]]:
    """Hang up everything the call still has; the snoops' recordings end with their channels."""
    actions: list[Action] = [Log(f'call={call.id} action=end why="{why}"')]
    # The call's own channel is the customer's, or on an outbound call the agent's.
    segment = call.segment.channel if call.segment else None
    mine = (call.dialling, segment, call.handed_to, *call.swapped_out, call.customer, call.id)
    for channel in dict.fromkeys(c for c in mine if c is not None):
        actions.append(Hangup(channel))
    if call.phase is not Phase.ANSWERING:
        actions.append(DestroyBridge(call.bridge))
    return replace(call, phase=Phase.ENDED, dialling=None), actions
