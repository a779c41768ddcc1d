"""What a simulated recording heard, kept as a timeline of changes and rendered to WAV at the end.

A running recording costs a few list entries, whatever its length; the audio is written only
when it finishes, in one-second chunks, like Asterisk's own files: 8 kHz, 16-bit mono, in whole
20 ms frames.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms: Asterisk writes whole frames
TONE_AMPLITUDE = 8000  # three tones at once stay inside int16
CUSTOMER_HZ = 440
AGENT_HZ = 1000
ANNOUNCEMENT_HZ = 660

Sound = frozenset[int]  # the frequencies heard at once; empty is silence

_DTMF_ROWS = {
    "1": 697,
    "2": 697,
    "3": 697,
    "A": 697,
    "4": 770,
    "5": 770,
    "6": 770,
    "B": 770,
    "7": 852,
    "8": 852,
    "9": 852,
    "C": 852,
    "*": 941,
    "0": 941,
    "#": 941,
    "D": 941,
}
_DTMF_COLUMNS = {
    "1": 1209,
    "4": 1209,
    "7": 1209,
    "*": 1209,
    "2": 1336,
    "5": 1336,
    "8": 1336,
    "0": 1336,
    "3": 1477,
    "6": 1477,
    "9": 1477,
    "#": 1477,
    "A": 1633,
    "B": 1633,
    "C": 1633,
    "D": 1633,
}


def dtmf_tones(digit: str) -> Sound:
    """The two frequencies of a telephone key."""
    if digit not in _DTMF_ROWS:
        raise ValueError(f"not a DTMF key: {digit!r} (expected 0-9, *, #, A-D)")
    return frozenset({_DTMF_ROWS[digit], _DTMF_COLUMNS[digit]})


class TimelineState(enum.Enum):
    RECORDING = "recording"
    PAUSED = "paused"
    MUTED = "muted"
    STOPPED = "stopped"


@dataclass(frozen=True)
class _Change:
    at: float
    sound: Sound
    paused: bool
    muted: bool


class Timeline:
    """The changes of what a recording's target heard and of the recording's own state."""

    def __init__(self, started_at: float, sound: Sound = frozenset()) -> None:
        self.started_at = started_at
        self._changes = [_Change(started_at, sound, False, False)]
        self._stopped_at: float | None = None

    @property
    def state(self) -> TimelineState:
        last = self._changes[-1]
        if self._stopped_at is not None:
            return TimelineState.STOPPED
        if last.paused:
            return TimelineState.PAUSED
        return TimelineState.MUTED if last.muted else TimelineState.RECORDING

    def _change(
        self, at: float, *, sound: Sound | None = None, paused: bool | None = None, muted: bool | None = None
    ) -> None:
        if self._stopped_at is not None:
            raise ValueError("the recording has stopped")
        last = self._changes[-1]
        if at < last.at:
            raise ValueError(f"time went backwards: {at} after {last.at}")
        new = _Change(
            at,
            last.sound if sound is None else sound,
            last.paused if paused is None else paused,
            last.muted if muted is None else muted,
        )
        if (new.sound, new.paused, new.muted) == (last.sound, last.paused, last.muted):
            return
        if at == last.at:
            self._changes[-1] = new
        else:
            self._changes.append(new)

    def hear(self, at: float, sound: Sound) -> None:
        self._change(at, sound=sound)

    def pause(self, at: float) -> None:
        self._change(at, paused=True)

    def unpause(self, at: float) -> None:
        self._change(at, paused=False)

    def mute(self, at: float) -> None:
        self._change(at, muted=True)

    def unmute(self, at: float) -> None:
        self._change(at, muted=False)

    def stop(self, at: float) -> None:
        self._change(at)
        self._stopped_at = at

    def _spans(self, until: float) -> list[tuple[float, float, _Change]]:
        ends = [c.at for c in self._changes[1:]] + [until]
        return [
            (c.at, min(end, until), c) for c, end in zip(self._changes, ends, strict=True) if c.at < until
        ]

    def duration_at(self, at: float) -> float:
        """Seconds the file holds if stopped at `at`: unpaused time, in whole 20 ms frames."""
        return self.samples_at(at) / SAMPLE_RATE

    def samples_at(self, at: float) -> int:
        kept = sum(end - start for start, end, c in self._spans(at) if not c.paused)
        frames = int(kept * SAMPLE_RATE / FRAME_SAMPLES + 1e-6)
        return frames * FRAME_SAMPLES

    def segments(self) -> list[tuple[int, Sound]]:
        """(samples, sound) runs of the file: paused time left out, muted time as silence."""
        if self._stopped_at is None:
            raise ValueError("the recording has not stopped")
        total = self.samples_at(self._stopped_at)
        runs: list[tuple[int, Sound]] = []
        written, kept = 0, 0.0
        for start, end, change in self._spans(self._stopped_at):
            if change.paused:
                continue
            kept += end - start
            upto = min(total, round(kept * SAMPLE_RATE))
            if upto > written:
                runs.append((upto - written, frozenset() if change.muted else change.sound))
                written = upto
        if written < total:
            runs.append((total - written, runs[-1][1] if runs else frozenset()))
        return runs


def _one_second(sound: Sound) -> bytes:
    """One second of the sound: integer frequencies repeat exactly every 8,000 samples."""
    samples = [
        max(
            -32768,
            min(
                32767,
                round(sum(TONE_AMPLITUDE * math.sin(2 * math.pi * hz * n / SAMPLE_RATE) for hz in sound)),
            ),
        )
        for n in range(SAMPLE_RATE)
    ]
    return struct.pack(f"<{SAMPLE_RATE}h", *samples)


def _header(samples: int) -> bytes:
    data = samples * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def render_wav(timeline: Timeline, path: Path) -> None:
    """Write the stopped timeline as a WAV file, a second at a time (bounded memory)."""
    runs = timeline.segments()
    tables: dict[Sound, bytes] = {}
    with open(path, "wb") as out:
        out.write(_header(sum(n for n, _ in runs)))
        position = 0  # sample index, so that a tone's phase runs on across changes
        for count, sound in runs:
            table = tables.get(sound)
            if table is None:
                table = tables[sound] = _one_second(sound)
            left = count
            while left:
                offset = position % SAMPLE_RATE
                take = min(left, SAMPLE_RATE - offset)
                out.write(table[offset * 2 : (offset + take) * 2])
                position += take
                left -= take
