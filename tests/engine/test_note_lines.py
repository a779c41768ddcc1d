"""A call's notes as the executor writes them: one `key=value` line, the same as operators and
tests have always grepped. Pure: no simulator."""

from __future__ import annotations

import pytest

from ari_recorder.domain.notes import Note, Severity, note
from ari_recorder.engine.executor import line


@pytest.mark.parametrize(
    ("told", "written"),
    [
        (note("7.1", "answer", queue="support"), "call=7.1 action=answer queue=support"),
        (
            note("7.1", "connected", segment=1, agent="1001", record="yes", why="selected by agent 1001"),
            'call=7.1 segment=1 agent=1001 action=connected record=yes why="selected by agent 1001"',
        ),
        # A reason is always quoted, one word or many; other values only when they must be.
        (note("7.1", "end", why="gone"), 'call=7.1 action=end why="gone"'),
        (
            note("7.1", "fallback", why="no agent answered", to="dialplan"),
            'call=7.1 action=fallback why="no agent answered" to=dialplan',
        ),
        (
            note("7.1", "announcement-failed", then="hang up", announcement="sound:x", why="missing"),
            'call=7.1 action=announcement-failed then="hang up" announcement=sound:x why="missing"',
        ),
        (
            note("7.1", "recording-started", recording="r1", tries=2, offset=None),
            "call=7.1 recording=r1 action=recording-started tries=2",
        ),
        # What the customer or Asterisk wrote cannot end the line or close the quotes early.
        (note("7.1", "end", why='said "bye"\nx=1'), 'call=7.1 action=end why="said \\"bye\\"\\nx=1"'),
        (note("7.1", "transfer-refused", to="a b"), 'call=7.1 action=transfer-refused to="a b"'),
        (note("7.1", "transfer-refused", to=""), 'call=7.1 action=transfer-refused to=""'),
    ],
)
def test_a_note_is_written_as_one_key_value_line(told: Note, written: str) -> None:
    assert line(told) == written


def test_fields_keep_their_order_and_the_subject_comes_first() -> None:
    told = Note("7.1", "pause-ended", (("ended_by", "resume"), ("recording", "r1")), segment=2, agent="1001")
    assert line(told) == "call=7.1 segment=2 agent=1001 action=pause-ended ended_by=resume recording=r1"
    assert told.get("recording") == "r1" and told.get("nothing") is None
    assert note("7.1", "x", level=Severity.ERROR).level == "error"
