"""Pausing a recording: the rules a call follows, the pauses it keeps, the agent's keys.

Pure like the call itself: times are passed in (seconds since the epoch), never read here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Source(enum.Enum):
    KEYS = "keys"  # the agent's phone (dtmf_pause / dtmf_resume)
    API = "api"  # the agent desktop (or an administrator) through the HTTP API


class PauseBehavior(enum.StrEnum):
    """What a paused recording holds of the paused time (the company's pause_behavior)."""

    SILENCE = "silence"  # silence in its place: ARI mute, the timeline kept
    SKIP = "skip"  # nothing: ARI pause, the time left out


class KeyCommand(enum.StrEnum):
    """What a complete key sequence of the agent's asks."""

    PAUSE = "pause"
    RESUME = "resume"


class Ending(enum.Enum):
    RESUME = "resume"
    TIMEOUT = "timeout"  # max_pause_seconds passed
    TRANSFER = "transfer"  # the segment ended: another agent took the customer
    HANGUP = "hangup"  # the call ended
    FAILED = "failed"  # Asterisk refused the pause: the recording never stopped


@dataclass(frozen=True)
class PauseRules:
    """The company's and the queue's pause settings, as the call uses them."""

    allowed: bool = True  # the queue's pause_allowed
    mute: bool = True  # pause_behavior: silence (ARI mute, the timeline kept) or skip (ARI pause)
    max_seconds: int = 300
    dtmf_pause: str = "*7"
    dtmf_resume: str = "*8"
    key_gap: float = 2.0  # seconds between two keys of one sequence, at most
    max_per_segment: int = 20  # company.max_pauses_per_segment: the next one is refused

    @property
    def behavior(self) -> PauseBehavior:
        return PauseBehavior.SILENCE if self.mute else PauseBehavior.SKIP


@dataclass(frozen=True)
class Pause:
    """One pause of one recording: when, where in the file, who, how, and how it ended."""

    number: int  # 1, 2... within the call
    recording: str
    segment: int
    agent: str  # whose segment it paused
    by: str  # who asked: the agent's id, or "admin"
    source: Source
    behavior: PauseBehavior
    started: float
    offset: float | None  # seconds into the file's own timeline (None: the file's start unknown)
    ended: float | None = None
    ending: Ending | None = None
    closed_by: str | None = None  # who resumed it: the agent, "admin"; or "controller"

    @property
    def open(self) -> bool:
        return self.ended is None

    def seconds(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    def close(self, now: float, ending: Ending, by: str = "controller") -> Pause:
        return replace(self, ended=now, ending=ending, closed_by=by)


@dataclass(frozen=True)
class PauseLimit:
    """The first pause a segment's limit refused (the audit trail's; later ones are logged only)."""

    segment: int
    recording: str
    agent: str
    by: str
    source: Source
    at: float
    limit: int


def file_offset(began: float | None, earlier: tuple[Pause, ...], now: float) -> float | None:
    """Where `now` falls in a recording that began at `began`: the time since, less what earlier
    skipped pauses left out of the file."""
    if began is None:
        return None
    skipped = sum(p.seconds(now) for p in earlier if p.behavior is PauseBehavior.SKIP)
    return max(0.0, now - began - skipped)


@dataclass(frozen=True)
class Keys:
    """What an agent's phone has keyed so far towards a pause or resume sequence."""

    channel: str | None = None
    typed: str = ""
    at: float = 0.0


def read_key(
    keys: Keys, channel: str, digit: str, now: float, rules: PauseRules
) -> tuple[Keys, KeyCommand | None]:
    """The agent pressed `digit`: the keys kept, and the command if a sequence is complete.
    Keys further apart than `key_gap`, or from another channel, start over."""
    typed = keys.typed if keys.channel == channel and now - keys.at <= rules.key_gap else ""
    typed += digit
    for command, sequence in ((KeyCommand.PAUSE, rules.dtmf_pause), (KeyCommand.RESUME, rules.dtmf_resume)):
        if typed.endswith(sequence):
            return Keys(channel, "", now), command
    # Keep the longest tail that may still grow into a sequence ("**" keeps "*").
    while typed and not (rules.dtmf_pause.startswith(typed) or rules.dtmf_resume.startswith(typed)):
        typed = typed[1:]
    return Keys(channel, typed, now), None
