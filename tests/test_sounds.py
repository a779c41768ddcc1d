"""The prompts in sounds/: in formats Asterisk plays as they are, and speech, not silence or a tone."""

from __future__ import annotations

import array
import itertools
import math
import statistics
import struct
import sys
import wave
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ari_recorder.settings import load_settings

SOUNDS = Path(__file__).resolve().parents[1] / "sounds"
RATES = {".wav": 8000, ".wav16": 16000}  # Asterisk's formats wav (slin) and wav16 (slin16)
FILES = sorted(p for p in SOUNDS.glob("*/*") if p.suffix in RATES and p.parent.name != "moh")
LANGUAGES = sorted(p.name for p in SOUNDS.iterdir() if p.is_dir() and p.name != "moh")  # moh/: music

WINDOW_MS = 20
# Centres of the bands a window's dominant frequency is sought in: 150 Hz to ~2.8 kHz, a quarter apart.
BANDS = [150 * 1.25**k for k in range(14)]


def read(path: Path) -> tuple[int, array.array[int]]:
    with wave.open(str(path)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    samples = array.array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, samples


def windows(samples: array.array[int], rate: int) -> list[array.array[int]]:
    n = rate * WINDOW_MS // 1000
    return [samples[i : i + n] for i in range(0, len(samples) - n + 1, n)]


def rms(window: array.array[int]) -> float:
    return math.sqrt(sum(x * x for x in window) / len(window))


def zero_crossing_rate(window: array.array[int]) -> float:
    return sum((a < 0) != (b < 0) for a, b in itertools.pairwise(window)) / (len(window) - 1)


def dominant_band(window: array.array[int], rate: int) -> float:
    """The band with the most energy in the window (Goertzel's algorithm, one band at a time)."""

    def power(frequency: float) -> float:
        coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
        s1 = s2 = 0.0
        for x in window:
            s1, s2 = x + coefficient * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coefficient * s1 * s2

    return max(BANDS, key=power)


def speech_problems(samples: array.array[int], rate: int) -> list[str]:
    """What makes these samples not sound like a spoken sentence; nothing when they do.

    Speech comes in syllables and words: loud windows and quiet ones, several pauses inside the
    sentence; its zero-crossing rate swings between vowels and fricatives; its loudest frequency
    moves. Silence has no loud window, a tone has no pause, beeps have one frequency, noise bursts
    an even zero-crossing rate.
    """
    parts = windows(samples, rate)
    loudness = [rms(w) for w in parts]
    peak = max(loudness)
    if peak < 1000:  # of 32767: the prompts are normalised to -3 dBFS
        return [f"no loud window (loudest 20 ms: RMS {peak:.0f})"]
    loud = [level > peak / 10 for level in loudness]
    problems = []
    share = sum(loud) / len(loud)
    if not 0.3 <= share <= 0.9:
        problems.append(f"{share:.0%} of the windows are loud, expected 30-90%")
    if loud[0] or loud[-1]:
        problems.append("does not begin and end in silence")
    spoken = loud[loud.index(True) : len(loud) - loud[::-1].index(True)]
    runs = "".join("x" if is_loud else "." for is_loud in spoken).split("x")
    pauses = sum(len(run) >= 2 for run in runs)  # 40 ms or more between two sounds
    if pauses < 3:
        problems.append(f"{pauses} pauses inside the sentence, expected 3 or more")
    voiced = [w for w, is_loud in zip(parts, loud, strict=True) if is_loud]
    crossings = [zero_crossing_rate(w) for w in voiced]
    spread = statistics.pstdev(crossings) / statistics.mean(crossings)
    if spread < 0.25:
        problems.append(f"even zero-crossing rate (relative spread {spread:.2f}, expected 0.25 or more)")
    dominant = Counter(dominant_band(w, rate) for w in voiced)
    top_share = dominant.most_common(1)[0][1] / len(voiced)
    if len(dominant) < 5 or top_share > 0.5:
        problems.append(
            f"{len(dominant)} dominant frequencies, the first in {top_share:.0%} of the loud windows"
            " (expected 5 or more, none over 50%)"
        )
    return problems


def test_the_prompts_are_there() -> None:
    assert {"en", "fr"} <= set(LANGUAGES)
    assert len(FILES) >= 2 * len(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sound_the_settings_name_exists_in_every_language(language: str) -> None:
    settings = load_settings(environ={})
    named = {settings.company.announcement} | {
        q.announcement for q in settings.queues.values() if q.announcement is not None
    }
    missing = [
        f"{language}/{name}{ext}"
        for name in sorted(named)
        for ext in RATES
        if not (SOUNDS / language / f"{name}{ext}").is_file()
    ]
    assert not missing


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SOUNDS)) for p in FILES])
def test_format_asterisk_plays_without_transcoding(path: Path) -> None:
    # Asterisk's format_wav takes plain PCM only (format tag 1), not WAVE_FORMAT_EXTENSIBLE.
    header = path.read_bytes()[:36]
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    assert struct.unpack("<H", header[20:22])[0] == 1
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATES[path.suffix]
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2
        assert w.getcomptype() == "NONE"
        seconds = w.getnframes() / w.getframerate()
    assert 2 <= seconds <= 10


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SOUNDS)) for p in FILES])
def test_is_speech(path: Path) -> None:
    rate, samples = read(path)
    problems = speech_problems(samples, rate)
    assert not problems, "; ".join(problems)


def synthetic(
    rate: int, seconds: float, level: float, frequency: float, on: float = 1, off: float = 0
) -> array.array[int]:
    """A tone (or beeps: `on` seconds of it, `off` of silence) with 0.2 s of silence at each end."""
    period = on + off
    samples = [0] * int(0.2 * rate)
    for i in range(int(seconds * rate)):
        t = i / rate
        samples.append(int(level * math.sin(2 * math.pi * frequency * t)) if t % period < on else 0)
    return array.array("h", samples + [0] * int(0.2 * rate))


def noise_bursts(rate: int) -> array.array[int]:
    state, samples = 1, []
    for i in range(4 * rate):
        state = (state * 1103515245 + 12345) % 2**31  # a fixed pseudo-random sequence
        samples.append((state >> 15) % 20001 - 10000 if i % (rate // 2) < rate // 4 else 0)
    return array.array("h", [0] * (rate // 5) + samples + [0] * (rate // 5))


@pytest.mark.parametrize("rate", RATES.values())
@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("silence", lambda rate: array.array("h", [0] * (4 * rate))),
        ("near silence", lambda rate: synthetic(rate, 4, 200, 440)),
        ("440 Hz tone", lambda rate: synthetic(rate, 4, 16000, 440)),
        ("440 Hz beeps", lambda rate: synthetic(rate, 4, 16000, 440, on=0.25, off=0.15)),
        ("noise bursts", noise_bursts),
    ],
)
def test_the_speech_check_refuses(name: str, make: Callable[[int], array.array[int]], rate: int) -> None:
    assert speech_problems(make(rate), rate), name
