"""Notes: one thing that happened to a call, for people (and tests) to read, as data.

The domain says what happened, to which call, segment, agent and recording; the executor writes
it as one `key=value` line (STYLE.md 10), so the text is made in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

Value = str | int


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"  # what someone should look at
    ERROR = "error"  # what someone must be told at once


@dataclass(frozen=True)
class Note:
    """`action` on call `call`; who and what it concerns, then its own fields, in order."""

    call: str
    action: str
    fields: tuple[tuple[str, Value], ...] = ()
    segment: int | None = None
    agent: str | None = None
    recording: str | None = None
    level: Severity = Severity.INFO

    def get(self, key: str) -> Value | None:
        """The value of one of the note's own fields."""
        return next((v for k, v in self.fields if k == key), None)

    def subject(self) -> tuple[tuple[str, Value], ...]:
        """What the note is about, before its action: call, segment, agent, recording."""
        about = (("call", self.call), ("segment", self.segment), ("agent", self.agent))
        return tuple((k, v) for k, v in (*about, ("recording", self.recording)) if v is not None)


def note(
    call: str,
    action: str,
    *,
    segment: int | None = None,
    agent: str | None = None,
    recording: str | None = None,
    level: Severity = Severity.INFO,
    **fields: Value | None,
) -> Note:
    """A Note with its fields given as keywords, in order; those given None left out."""
    kept = tuple((k, v) for k, v in fields.items() if v is not None)
    return Note(call, action, kept, segment, agent, recording, level)
