"""The calls' clock: seconds since the epoch, as the system clock says, that never step.

Every time a call keeps (an answer, a segment's end, a pause's edges, a deadline) is read from
here, and the lengths the proof of recording holds a file against are differences of two such
times. Asterisk writes audio a 20 ms frame at a time on a monotonic timer, so a length measured
on the system clock is wrong by however far that clock stepped meanwhile: seen in CI, a step of
about 15 s made two 4 s and 7 s recordings "15 s shorter than their segments".

So this clock runs on the monotonic clock, set to the system clock when the process starts, and
follows the system clock's later steps by slewing at most `SLEW` (500 ppm, as NTP slews): a
length is off by at most 0.05 %, and a timestamp is back in step with the system clock after a
step of s seconds within s / SLEW seconds (15 s: about 8 hours). A step over `STEP_WARNING` is
told once (WARNING) and shown as the `ari_recorder_clock_offset_seconds` gauge until made up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ari_recorder import metrics

log = logging.getLogger("ari_recorder.clock")

SLEW = 0.0005  # seconds made up per second
STEP_WARNING = 1.0  # seconds between the system clock and this one worth a warning


class Clock:
    """Epoch seconds on a monotonic base, slewed towards the system clock (`wall`)."""

    def __init__(
        self,
        wall: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        slew: float = SLEW,
    ) -> None:
        self._wall = wall or (lambda: time.time())  # the system clock as it is at each reading
        self._monotonic, self._slew = monotonic, slew
        self._read = monotonic()
        self._base = self._wall() - self._read  # this clock = monotonic + base
        self._warned = False
        self._shown: float | None = None  # the offset the gauge shows

    def now(self) -> float:
        read = self._monotonic()
        behind = self._wall() - read - self._base  # how far this clock is behind the system's
        allowed = self._slew * max(0.0, read - self._read)
        step = max(-allowed, min(allowed, behind))  # made up now
        self._base += step
        self._read = read
        offset = behind - step
        if abs(offset) > STEP_WARNING and not self._warned:
            self._warned = True
            log.warning(
                'action=clock-step offset=%.3f why="the system clock stepped; call times follow '
                'the monotonic clock and catch up at %g s per second"',
                offset,
                self._slew,
            )
        elif abs(offset) <= STEP_WARNING:
            self._warned = False
        if round(offset, 3) != self._shown:  # the gauge set only when it changes (a hot path)
            self._shown = round(offset, 3)
            metrics.CLOCK_OFFSET.set(self._shown)
        return read + self._base


_CLOCK = Clock()


def now() -> float:
    """The calls' time now (epoch seconds)."""
    return _CLOCK.now()
