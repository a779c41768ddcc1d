"""Reading recordings by frequency: which of the parties' tones sound when (Goertzel, 20 ms windows)."""

from __future__ import annotations

import array
import math
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

TONES = (440, 660, 1000)  # customer, announcement, agent
WINDOW = 0.02


@dataclass(frozen=True)
class Run:
    start: float
    end: float
    tones: frozenset[int]

    def __str__(self) -> str:
        heard = "+".join(str(t) for t in sorted(self.tones)) or "silence"
        return f"{self.start:6.2f}-{self.end:6.2f} s {heard}"


def read_wav(path: Path, channel: int = 0) -> tuple[int, array.array[int]]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2, f"{path}: expected 16-bit samples"
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, samples[channel::channels] if channels > 1 else samples


def strength(samples: array.array[int], start: int, length: int, hz: float, rate: int) -> float:
    """Amplitude of `hz` in samples[start:start+length] (Goertzel), in int16 units."""
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples[start : start + length]:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / length


def windows(
    path: Path, tones: tuple[int, ...] = TONES, threshold: float = 1000.0, channel: int = 0
) -> list[frozenset[int]]:
    """The tones above `threshold` in each 20 ms window."""
    rate, samples = read_wav(path, channel)
    size = int(rate * WINDOW)
    return [
        frozenset(t for t in tones if strength(samples, i * size, size, t, rate) > threshold)
        for i in range(len(samples) // size)
    ]


def tone_runs(
    path: Path, tones: tuple[int, ...] = TONES, threshold: float = 1000.0, channel: int = 0
) -> list[Run]:
    """Consecutive 20 ms windows with the same set of tones above `threshold`, merged."""
    runs: list[Run] = []
    for i, heard in enumerate(windows(path, tones, threshold, channel)):
        start, end = i * WINDOW, (i + 1) * WINDOW
        if runs and runs[-1].tones == heard:
            runs[-1] = Run(runs[-1].start, end, heard)
        else:
            runs.append(Run(start, end, heard))
    return runs


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def summary(runs: list[Run]) -> str:
    return "\n".join(str(r) for r in runs)


def seconds_of(runs: list[Run], tones: frozenset[int]) -> float:
    return sum(r.end - r.start for r in runs if r.tones == tones)
