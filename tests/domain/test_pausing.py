"""Pausing in the call state machine: keys, requests, limits, and what ends a pause."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_recorder.domain import call as c
from ari_recorder.domain.pausing import Ending, Keys, PauseRules, Source, read_key
from ari_recorder.domain.policy import RecordSide
from ari_recorder.metrics import AUTO_RESUMES, PAUSE_SECONDS, PAUSES, pauses_changed
from tests.domain.test_call import agent, connected, kinds, notes, transfer

RULES = PauseRules()
AGENT_CHANNEL = "7.1-agent-1"
NAME = "7.1-seg1-1001"


def keyed(call: c.Call, digits: str, start: float = 10.0, gap: float = 0.4) -> tuple[c.Call, list[c.Action]]:
    actions: list[c.Action] = []
    for i, digit in enumerate(digits):
        call, more = c.step(call, c.KeyPressed(AGENT_CHANNEL, digit), start + i * gap)
        actions += more
    return call, actions


def test_the_agents_keys_pause_and_resume_across_separate_key_events() -> None:
    call = connected(agent("1001"))
    call, _ = c.step(call, c.RecordingBegan(NAME), 2.0)
    call, actions = keyed(call, "*7", start=10.0)
    assert [a for a in actions if not isinstance(a, c.Note)] == [
        c.PauseRecording(NAME, mute=True, number=1),
        c.StartPauseTimer(300, 1),
    ]
    assert call.recording_state() == "muted"
    pause = call.pause
    assert pause is not None
    assert (pause.by, pause.source, pause.started, pause.offset) == ("1001", Source.KEYS, 10.4, 8.4)
    call, actions = keyed(call, "*8", start=20.0)
    assert kinds(actions) == ["ResumeRecording"]
    (done,) = call.pauses
    assert (done.ending, done.closed_by) == (Ending.RESUME, "1001")
    assert done.seconds(99) == pytest.approx(10.0)
    assert call.recording_state() == "recording"


def test_keys_too_far_apart_or_from_the_customer_do_nothing() -> None:
    call = connected(agent("1001"))
    slow, actions = keyed(call, "*7", gap=RULES.key_gap + 0.1)
    assert kinds(actions) == [] and slow.pause is None
    for digit in "*7":
        call, actions = c.step(call, c.KeyPressed("7.1", digit), 10.0)  # the customer's channel
        assert actions == []
    assert call.pause is None


def test_other_digits_pass_and_a_sequence_is_found_inside_them() -> None:
    call = connected(agent("1001"))
    call, actions = keyed(call, "12**7")
    assert kinds(actions) == ["PauseRecording", "StartPauseTimer"]


@given(st.text(alphabet="0123456789*#", max_size=12))
def test_read_key_finds_the_pause_exactly_when_the_keys_end_with_it(typed: str) -> None:
    keys, commands = Keys(), []
    for i, digit in enumerate(typed):
        keys, command = read_key(keys, "a", digit, i * 0.1, RULES)
        commands.append(command)
    if typed:
        ends = "pause" if typed.endswith("*7") else "resume" if typed.endswith("*8") else None
        # Completing one sequence starts the next afresh: "*7*7" pauses twice, "*77" once.
        if ends is not None:
            assert commands[-1] == ends


def test_pausing_twice_or_resuming_a_running_recording_changes_nothing() -> None:
    call = connected(agent("1001"))
    call, _ = c.step(call, c.PauseRequested("admin", Source.API), 5.0)
    again, actions = c.step(call, c.PauseRequested("1001", Source.KEYS), 6.0)
    assert (again, actions) == (call, [])
    call, _ = c.step(call, c.ResumeRequested("1001", Source.API), 7.0)
    again, actions = c.step(call, c.ResumeRequested("1001", Source.API), 8.0)
    assert (again, actions) == (call, [])


def test_skip_pauses_and_the_offset_leaves_out_what_earlier_pauses_skipped() -> None:
    call = connected(agent("1001"))
    call = replace(call, pausing=replace(call.pausing, mute=False))
    call, _ = c.step(call, c.RecordingBegan(NAME), 0.0)
    call, actions = c.step(call, c.PauseRequested("1001", Source.API), 10.0)
    assert actions[0] == c.PauseRecording(NAME, mute=False, number=1)
    call, actions = c.step(call, c.ResumeRequested("1001", Source.API), 14.0)
    assert actions[0] == c.ResumeRecording(NAME, mute=False)
    call, _ = c.step(call, c.PauseRequested("1001", Source.API), 20.0)
    assert call.pause is not None and call.pause.offset == 16.0, "20 s in, 4 s of them skipped"
    assert call.recording_state() == "paused"


def test_a_pause_ends_by_itself_and_a_stale_timer_does_nothing() -> None:
    call = connected(agent("1001"))
    call, _ = c.step(call, c.PauseRequested("1001", Source.API), 5.0)
    call, _ = c.step(call, c.ResumeRequested("1001", Source.API), 6.0)
    call, _ = c.step(call, c.PauseRequested("1001", Source.API), 7.0)
    same, actions = c.step(call, c.PauseExpired(1), 305.0)
    assert (same, actions) == (call, []), "the first pause's timer, after it was resumed"
    before = AUTO_RESUMES._value.get()
    call, actions = c.step(call, c.PauseExpired(2), 307.0)
    assert kinds(actions) == ["ResumeRecording"]
    assert call.pauses[-1].ending is Ending.TIMEOUT
    assert AUTO_RESUMES._value.get() == before, "metrics are counted by the controller, not the domain"


def test_nothing_to_pause_or_not_allowed_is_refused_with_the_reason() -> None:
    call = connected(agent("1001", permit=False))
    refusal = c.pause_refusal(call)
    assert refusal is not None and not refusal.forbidden and "not recorded" in refusal.why
    after, actions = c.step(call, c.PauseRequested("1001", Source.API), 5.0)
    assert after == call and kinds(actions) == []
    strict = connected(agent("1001"))
    strict = replace(strict, pausing=replace(strict.pausing, allowed=False))
    refusal = c.pause_refusal(strict)
    assert refusal is not None and refusal.forbidden
    after, actions = keyed(strict, "*7")
    assert after.pause is None and notes(actions) == ["keys-ignored"]


def test_a_hangup_ends_the_pause_without_asking_asterisk() -> None:
    call = connected(agent("1001"))
    call, _ = c.step(call, c.PauseRequested("1001", Source.KEYS), 5.0)
    call, actions = c.step(call, c.CustomerLeft(), 9.0)
    assert "ResumeRecording" not in kinds(actions)
    assert (call.pauses[-1].ending, call.pauses[-1].ended) == (Ending.HANGUP, 9.0)


def test_a_transfer_ends_the_pause_and_a_customer_side_recording_goes_on() -> None:
    for side, resumed in ((RecordSide.AGENT, False), (RecordSide.CUSTOMER, True)):
        call = connected(agent("1001"), side=side)
        call, _ = c.step(call, c.PauseRequested("1001", Source.API), 5.0)
        call, actions = transfer(call, agent("1002"))
        assert call.pauses[-1].ending is Ending.TRANSFER
        assert ("ResumeRecording" in kinds(actions)) is resumed, side
        assert call.recording_state() == "recording"


def test_a_pause_asterisk_refused_is_closed_as_failed() -> None:
    call = connected(agent("1001"))
    call, _ = c.step(call, c.PauseRequested("1001", Source.API), 5.0)
    call, actions = c.step(call, c.PauseFailed(1), 5.1)
    assert kinds(actions) == [] and call.pauses[-1].ending is Ending.FAILED
    assert call.recording_state() == "recording"


def test_metrics_count_each_pause_once_when_it_begins_and_when_it_ends() -> None:
    call = connected(agent("1001"))
    begun, seconds = PAUSES.labels("api")._value.get(), PAUSE_SECONDS.labels("timeout")._sum.get()
    autos = AUTO_RESUMES._value.get()
    paused, _ = c.step(call, c.PauseRequested("admin", Source.API), 5.0)
    pauses_changed(call.pauses, paused.pauses)
    pauses_changed(paused.pauses, paused.pauses)  # a step that changed nothing counts nothing
    expired, _ = c.step(paused, c.PauseExpired(1), 305.0)
    pauses_changed(paused.pauses, expired.pauses)
    assert PAUSES.labels("api")._value.get() == begun + 1
    assert PAUSE_SECONDS.labels("timeout")._sum.get() == seconds + 300.0
    assert AUTO_RESUMES._value.get() == autos + 1


def test_a_segment_pauses_at_most_max_per_segment_times_then_is_refused_keys_and_api_alike() -> None:
    """company.max_pauses_per_segment (default 20): the next pause is refused, not now (409),
    the keys ignored; the first refusal noted for the audit trail, every one logged."""
    call = connected(agent("1001"))
    assert call.pausing.max_per_segment == 20
    call = replace(call, pausing=replace(call.pausing, max_per_segment=3))
    for n in range(3):
        call, _ = c.step(call, c.PauseRequested("1001", Source.API), 10.0 + n)
        call, _ = c.step(call, c.ResumeRequested("1001", Source.API), 10.5 + n)
    assert c.pause_count(call) == 3
    refusal = c.pause_refusal(call)
    assert refusal is not None and not refusal.forbidden and "max_pauses_per_segment" in refusal.why
    refused, actions = c.step(call, c.PauseRequested("1001", Source.API), 20.0)
    assert refused.pauses == call.pauses and kinds(actions) == []
    assert notes(actions) == ["pause-refused"]
    (limit,) = refused.pause_limits
    assert (limit.segment, limit.recording, limit.by, limit.source, limit.limit) == (
        1,
        NAME,
        "1001",
        Source.API,
        3,
    )
    keys, actions = keyed(refused, "*7", start=30.0)
    assert keys.pause is None and keys.pause_limits == refused.pause_limits, "noted once"
    assert kinds(actions) == [] and notes(actions) == ["pause-refused"]
    assert c.pause_refusal(keys, resuming=True) is None


def test_the_limit_counts_the_segments_own_pauses_a_pause_in_force_is_not_refused() -> None:
    call = connected(agent("1001"))
    call = replace(call, pausing=replace(call.pausing, max_per_segment=1))
    call, _ = c.step(call, c.PauseRequested("1001", Source.API), 10.0)
    again, actions = c.step(call, c.PauseRequested("1001", Source.API), 11.0)
    assert (again, actions) == (call, []), "asking again while paused: the same pause, not refused"
    assert c.pause_refusal(call) is None
    call, _ = c.step(call, c.ResumeRequested("1001", Source.API), 12.0)
    assert c.pause_refusal(call) is not None
    moved, _ = transfer(call, agent("1002"))
    assert c.pause_count(moved) == 0 and c.pause_refusal(moved) is None, "the next segment starts at 0"
