"""One call as a pure state machine: `step(call, event) -> (call, actions)`, never I/O.

Events are what happened (past tense, events.py); actions what to do (imperative, actions.py);
only the executor acts. This module dispatches an event to the part of the call it concerns:
pauses, a recording's start, the queue, transfers, an outbound call, the end. Ids are chosen in
ids.py, from the call's own id, so that a retried action is idempotent and a restarted
controller recognises what is its own. Every name the engine uses is importable from here.
"""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import ids, outbound, queueing, recording, transfers
from ari_recorder.domain.actions import (
    Action,
    AddToBridge,
    Answer,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    DialAgent,
    DialCustomer,
    Hangup,
    Later,
    Outcome,
    PauseRecording,
    Play,
    Record,
    ResumeRecording,
    SetVariable,
    StartMoh,
    StartPauseTimer,
    StartRecording,
    StartTimer,
    StopMoh,
    StopRecording,
)
from ari_recorder.domain.ending import end
from ari_recorder.domain.events import (
    AgentAnswered,
    AgentFailed,
    AgentLeft,
    AgentReplaced,
    AgentSwapped,
    AnnouncementFinished,
    CallEvent,
    CustomerAnswered,
    CustomerLeft,
    KeyPressed,
    PartyIdentified,
    PauseExpired,
    PauseFailed,
    PauseRequested,
    RecordDeadline,
    RecordingBegan,
    RecordingEnded,
    RecordRefused,
    RecordRetry,
    ResumeRequested,
    SnoopEntered,
    TransferRequested,
    WaitLimitReached,
)
from ari_recorder.domain.notes import Note, Severity
from ari_recorder.domain.pauses import Refusal, key, pause, pause_count, pause_over, pause_refusal, resume
from ari_recorder.domain.pausing import Ending, Keys, Pause, PauseLimit, PauseRules, Source
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Decision,
    Direction,
    Interaction,
    QueuePolicy,
    RecordSide,
)
from ari_recorder.domain.recording import (
    NOT_RECORDED_REASONS,
    RETRY_FIRST,
    RETRY_MOST,
    NotRecordedReason,
    not_recorded_reason,
    retry_delay,
)
from ari_recorder.domain.state import (
    PLAYED,
    Agent,
    Call,
    Consultation,
    Fallback,
    FallbackAction,
    OnAnnouncementFailure,
    OnRecordFailure,
    Phase,
    Queue,
    RecordingState,
    Segment,
    Spy,
    Starting,
    Window,
    legs,
)

start = queueing.start
start_outbound = outbound.start
handed_on = outbound.handed_on

# Every name callers found here before the split (the policy's and the pauses' among them).
__all__ = [
    "NOT_RECORDED_REASONS",
    "PLAYED",
    "RETRY_FIRST",
    "RETRY_MOST",
    "Action",
    "AddToBridge",
    "Agent",
    "AgentAnswered",
    "AgentFailed",
    "AgentId",
    "AgentLeft",
    "AgentPolicy",
    "AgentReplaced",
    "AgentSwapped",
    "AnnouncementFinished",
    "Answer",
    "Call",
    "CallEvent",
    "CompanyPolicy",
    "Consultation",
    "ContinueInDialplan",
    "CreateBridge",
    "CustomerAnswered",
    "CustomerLeft",
    "Decision",
    "DestroyBridge",
    "DialAgent",
    "DialCustomer",
    "Direction",
    "Ending",
    "Fallback",
    "FallbackAction",
    "Hangup",
    "Interaction",
    "KeyPressed",
    "Keys",
    "Later",
    "NotRecordedReason",
    "Note",
    "OnAnnouncementFailure",
    "OnRecordFailure",
    "Outcome",
    "PartyIdentified",
    "Pause",
    "PauseExpired",
    "PauseFailed",
    "PauseLimit",
    "PauseRecording",
    "PauseRequested",
    "PauseRules",
    "Phase",
    "Play",
    "Queue",
    "QueuePolicy",
    "Record",
    "RecordDeadline",
    "RecordRefused",
    "RecordRetry",
    "RecordSide",
    "RecordingBegan",
    "RecordingEnded",
    "RecordingState",
    "Refusal",
    "ResumeRecording",
    "ResumeRequested",
    "Segment",
    "SetVariable",
    "Severity",
    "SnoopEntered",
    "Source",
    "Spy",
    "StartMoh",
    "StartPauseTimer",
    "StartRecording",
    "StartTimer",
    "Starting",
    "StopMoh",
    "StopRecording",
    "TransferRequested",
    "WaitLimitReached",
    "Window",
    "handed_on",
    "ids",
    "legs",
    "not_recorded_reason",
    "pause_count",
    "pause_refusal",
    "retry_delay",
    "start",
    "start_outbound",
    "step",
]


def step(call: Call, event: CallEvent, now: float = 0.0, seen: bool = True) -> Outcome:
    """What the call does about an event at `now`; the new call and the actions, never I/O.
    `seen` False: the event happened earlier, while the event stream was down (reconciliation)."""
    after, actions = _advance(call, event, now)
    return recording.windows(call, after, now, seen), actions


def _advance(call: Call, event: CallEvent, now: float) -> Outcome:
    match event:
        case PauseRequested(by, source):
            return pause(call, by, source, now)
        case ResumeRequested(by, source):
            return resume(call, by, source, now)
        case KeyPressed(channel, digit):
            return key(call, channel, digit, now)
        case PauseExpired(number) if call.pause is not None and call.pause.number == number:
            return pause_over(call, Ending.TIMEOUT, now)
        case PauseFailed(number) if call.pause is not None and call.pause.number == number:
            return pause_over(call, Ending.FAILED, now)
        case RecordingBegan(name):
            return recording.began(call, name, now)
        case SnoopEntered(snoop, name):
            return recording.entered(call, snoop, name)
        case RecordRefused(name, why, snoop):
            return recording.refused(call, name, why, snoop, now)
        case RecordRetry(name, tries):
            return recording.retry(call, name, tries)
        case RecordDeadline(name):
            return recording.deadline(call, name)
    segments = len(call.segments)
    call, actions = _step(call, event)
    if call.waiting_since is None and any(isinstance(a, StartTimer) for a in actions):
        call = replace(call, waiting_since=now)  # the wait limit runs from here (domain/derived.py)
    call, actions = recording.follow(call, actions, now, segments)
    return _pause_bounded(call, actions, now)


def _pause_bounded(call: Call, actions: list[Action], now: float) -> Outcome:
    """A pause never outlives its segment or the call (RECORDING-RULES.md, "Pausing")."""
    paused = call.pause
    if paused is None:
        return call, actions
    if call.phase is Phase.ENDED:
        call, ending = pause_over(call, Ending.HANGUP, now)
    elif call.segment is None or call.segment.number != paused.segment:
        call, ending = pause_over(call, Ending.TRANSFER, now)
    else:
        return call, actions
    return call, actions + ending


def _step(call: Call, event: CallEvent) -> Outcome:
    """The call's own events: transfers first (their guards are the narrower), then the queue,
    then the hang-ups."""
    if call.phase is Phase.ENDED:
        if isinstance(event, RecordingEnded):
            return replace(call, recordings_open=call.recordings_open - {event.name}), []
        return call, []
    if call.interaction.direction is Direction.OUTBOUND:
        return outbound.step(call, event)
    handled = transfers.step(call, event) or queueing.step(call, event)
    if handled is not None:
        return handled
    match event:
        case AgentLeft(channel) | AgentFailed(channel, _) if call.segment and channel == call.segment.channel:
            return end(call, "the agent hung up")
        case CustomerLeft():
            return end(call, "the customer hung up")
        case RecordingEnded(name):
            return replace(call, recordings_open=call.recordings_open - {name}), []
    return call, []
