"""A recording's start, confirmed: each snoop asked for is followed until Asterisk says it is
writing (RecordingStarted), retried when refused, and reported not recorded at its deadline. And
the windows: from when the call no longer wants a recording."""

from __future__ import annotations

import enum
from dataclasses import replace

from ari_recorder.domain.actions import Action, Hangup, Later, Outcome, Record, StartRecording, StopRecording
from ari_recorder.domain.ending import end
from ari_recorder.domain.events import RecordDeadline, RecordRetry
from ari_recorder.domain.notes import Severity, note
from ari_recorder.domain.state import Call, OnRecordFailure, Phase, Starting, Window, legs

RETRY_FIRST = 0.05  # seconds before the first retry of a refused start; doubled each time
RETRY_MOST = 0.4  # and never longer than this


class NotRecordedReason(enum.StrEnum):
    """Why a selected segment was not recorded, in a word (a metric's label)."""

    REFUSED = "refused"
    SNOOP_NEVER_ENTERED = "snoop_never_entered"
    NEVER_STARTED = "never_started"
    CALL_ENDED = "call_ended"


NOT_RECORDED_REASONS = tuple(NotRecordedReason)


def retry_delay(tries: int) -> float:
    """The wait before attempt `tries` + 1: 50, 100, 200, 400, 400... ms."""
    return min(RETRY_FIRST * (1 << min(max(0, tries - 1), 8)), RETRY_MOST)


def not_recorded_reason(why: str) -> NotRecordedReason:
    """A not-recorded segment's why (from `deadline`) in a word."""
    if "the call ended before the recording started" in why:
        return NotRecordedReason.CALL_ENDED
    if "Asterisk refused it" in why:
        return NotRecordedReason.REFUSED
    if "snoop channel never entered" in why:
        return NotRecordedReason.SNOOP_NEVER_ENTERED
    return NotRecordedReason.NEVER_STARTED


def windows(before: Call, after: Call, now: float, seen: bool) -> Call:
    """`after`, with a window opened at `now` for each recording `before` wanted and it does not."""
    ended = _wanted(before) - _wanted(after)
    if not ended:
        return after
    return replace(after, windows=(*after.windows, *(Window(r, now, seen) for r in sorted(ended))))


def _wanted(call: Call) -> set[str]:
    """The recordings the call wants running now: its segment's, and a customer-side one, which
    goes on across transfers until the call ends."""
    if call.phase is Phase.ENDED:
        return set()
    wanted = {call.customer_recording} if call.customer_recording is not None else set()
    if call.segment is not None and call.segment.recording is not None:
        wanted.add(call.segment.recording)
    return wanted


def follow(call: Call, actions: list[Action], now: float, segments: int) -> Outcome:
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


def began(call: Call, name: str, now: float) -> Outcome:
    """RecordingStarted: the recording is confirmed; where it starts against the answer, told."""
    start = _start_of(call, name)
    call = replace(
        call, began=(*call.began, (name, now)), starting=tuple(s for s in call.starting if s.name != name)
    )
    if start is None:
        return call, []
    segment = next((s for s in call.segments if s.recording == start.recording), None)
    offset = f"{now - segment.answered:.3f}" if segment and segment.answered is not None else None
    return call, [note(call.id, "recording-started", recording=name, tries=start.tries, offset=offset)]


def entered(call: Call, snoop: str, name: str) -> Outcome:
    """The snoop is in the application: now it may be recorded."""
    start = _start_of(call, name)
    if start is None or start.snoop != snoop:
        return call, []
    if start.asked or call.phase is Phase.ENDED:
        return _with(call, replace(start, entered=True)), []
    return _with(call, replace(start, entered=True, asked=True, tries=start.tries + 1)), [Record(snoop, name)]


def refused(call: Call, name: str, why: str, snoop: bool, now: float) -> Outcome:
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
        note(
            call.id,
            f"{what}-refused",
            recording=name,
            tries=start.tries,
            retry_in=f"{wait:.2f}",
            why=why,
            level=Severity.WARNING,
        ),
    ]


def retry(call: Call, name: str, tries: int) -> Outcome:
    start = _start_of(call, name)
    if start is None or start.tries != tries or start.asked or call.phase is Phase.ENDED:
        return call, []
    if not start.entered:  # the snoop itself was refused: made again (its StasisStart follows)
        return call, [StartRecording(start.target, start.snoop, name, start.spy)]
    return _with(call, replace(start, asked=True, tries=tries + 1)), [Record(start.snoop, name)]


def _why_not(call: Call, start: Starting) -> str:
    if start.refusal is not None:
        why = f"Asterisk refused it: {start.refusal}"
    elif start.asked:
        why = "Asterisk took the record request but never started the recording"
    else:
        why = "the snoop channel never entered the application"
    if call.phase is Phase.ENDED:
        why = f"the call ended before the recording started ({why})"
    return f"not started within {call.record_deadline:g} s: {why}"


def deadline(call: Call, name: str) -> Outcome:
    """Not confirmed in time: the segment is selected, not recorded, and said so at once; the
    call hung up if compliance demands it (on_record_failure = hangup)."""
    start = _start_of(call, name)
    if start is None:
        return call, []
    why = _why_not(call, start)
    recording = start.recording
    mine = legs(recording, call.channels)
    actions: list[Action] = [Hangup(s.snoop) for s in call.starting if s.recording == recording]
    # Two channels: a leg that did start is stopped; one party alone is no recording of the call.
    started = dict(call.began)
    actions += [StopRecording(leg) for leg in mine if leg in started and leg in call.recordings_open]
    segment = next((s for s in call.segments if s.recording == recording), None)
    actions.append(
        note(
            call.id,
            "not-recorded",
            segment=segment.number if segment else None,
            agent=segment.agent if segment else None,
            recording=recording,
            then=call.on_record_failure,
            why=f"selected, not recorded: {why}",
            level=Severity.ERROR,
        )
    )
    call = replace(
        call,
        starting=tuple(s for s in call.starting if s.recording != recording),
        unrecorded=(*call.unrecorded, (recording, why)),
        recordings_open=call.recordings_open - {leg for leg in mine if leg not in started},
    )
    if call.on_record_failure == OnRecordFailure.HANGUP and call.phase is not Phase.ENDED:
        call, ending = end(call, "a selected segment could not be recorded (on_record_failure = hangup)")
        return call, actions + ending
    return call, actions
