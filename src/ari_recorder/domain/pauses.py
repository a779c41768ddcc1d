"""A call's pauses: paused and resumed by the agent's keys or the API, refused when they may not
be, ended by their limit, a transfer or the hang-up. The rules and the records are in pausing.py."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ari_recorder.domain.actions import Action, Outcome, PauseRecording, ResumeRecording, StartPauseTimer
from ari_recorder.domain.notes import Note, note
from ari_recorder.domain.pausing import (
    Ending,
    KeyCommand,
    Pause,
    PauseBehavior,
    PauseLimit,
    Source,
    file_offset,
    read_key,
)
from ari_recorder.domain.state import Call, Phase, legs


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


def pause(call: Call, by: str, source: Source, now: float) -> Outcome:
    refusal = pause_refusal(call)
    if refusal is not None:
        call = _limit_reached(call, by, source, now)
        return call, [note(call.id, "pause-refused", by=by, source=source.value, why=refusal.why)]
    if call.pause is not None:
        return call, []  # already paused: nothing to do
    segment = call.segment
    assert segment is not None and segment.recording is not None
    name = segment.recording
    began = dict(call.began).get(legs(name, call.channels)[0])
    paused = Pause(
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
    told = (("by", by), ("source", source.value), ("behavior", paused.behavior), ("recording", name))
    return replace(call, pauses=(*call.pauses, paused)), [
        *(PauseRecording(leg, call.pausing.mute, paused.number) for leg in legs(name, call.channels)),
        StartPauseTimer(call.pausing.max_seconds, paused.number),
        Note(call.id, "pause", told, segment=segment.number, agent=segment.agent),
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


def resume(call: Call, by: str, source: Source, now: float) -> Outcome:
    refusal = pause_refusal(call, resuming=True)
    if refusal is not None:
        return call, [note(call.id, "resume-refused", by=by, source=source.value, why=refusal.why)]
    if call.pause is None:
        return call, []  # not paused: nothing to do
    return pause_over(call, Ending.RESUME, now, by, source)


def pause_over(
    call: Call, ending: Ending, now: float, by: str = "controller", source: Source | None = None
) -> Outcome:
    """End the pause in force: the recording resumed, unless it ended with its channel or was
    never paused (FAILED); told in the log."""
    paused = call.pause
    assert paused is not None
    closed = paused.close(now, ending, by)
    call = replace(call, pauses=(*call.pauses[:-1], closed))
    # A customer-side recording goes on across a transfer; an agent-side one ends with the agent.
    going_on = paused.recording == call.customer_recording and call.phase is not Phase.ENDED
    resumed = ending in (Ending.RESUME, Ending.TIMEOUT) or (ending is Ending.TRANSFER and going_on)
    mute = paused.behavior == PauseBehavior.SILENCE
    actions: list[Action] = (
        [ResumeRecording(leg, mute) for leg in legs(paused.recording, call.channels)] if resumed else []
    )
    told = (
        ("ended_by", ending.value),
        ("seconds", f"{closed.seconds(now):.2f}"),
        ("recording", paused.recording),
        ("by", by),
        *((("source", source.value),) if source else ()),
    )
    actions.append(Note(call.id, "pause-ended", told, segment=paused.segment, agent=paused.agent))
    return call, actions


def key(call: Call, channel: str, digit: str, now: float) -> Outcome:
    """The agent's keys pause and resume; anyone else's, and other keys, do nothing here."""
    segment = call.segment
    if segment is None or channel != segment.channel:
        return call, []
    keys, command = read_key(call.keys, channel, digit, now, call.pausing)
    call = replace(call, keys=keys)
    if command is None:
        return call, []
    if command is KeyCommand.PAUSE and not call.pausing.allowed:
        why = f"pausing is not allowed on queue {call.interaction.queue}"
        return call, [note(call.id, "keys-ignored", agent=segment.agent, keys=command, why=why)]
    if command is KeyCommand.PAUSE:
        return pause(call, segment.agent, Source.KEYS, now)
    return resume(call, segment.agent, Source.KEYS, now)
