"""The calls' clock (clock.py): lengths on the monotonic clock whatever the system clock does."""

from __future__ import annotations

import itertools
import logging
import math

import pytest

from ari_recorder import metrics
from ari_recorder.clock import SLEW, Clock


class Clocks:
    """A system clock and a monotonic one, moved by hand."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_800_000_000.0, 500.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def _clock(clocks: Clocks) -> Clock:
    return Clock(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)


def test_it_starts_at_the_system_clock_and_runs_with_it() -> None:
    clocks = Clocks()
    clock = _clock(clocks)
    assert clock.now() == pytest.approx(clocks.wall)
    clocks.tick(3600)
    assert clock.now() == pytest.approx(clocks.wall)


@pytest.mark.parametrize("step", [15.0, -15.0])
def test_a_step_of_the_system_clock_does_not_lengthen_a_segment(
    step: float, caplog: pytest.LogCaptureFixture
) -> None:
    """As in CI: a 4 s segment measured across a 15 s step of the system clock was 19 s long."""
    clocks = Clocks()
    clock = _clock(clocks)
    answered = clock.now()
    clocks.tick(2)
    clocks.wall += step
    with caplog.at_level(logging.WARNING, logger="ari_recorder.clock"):
        clocks.tick(2)
        ended = clock.now()
    assert ended - answered == pytest.approx(4, abs=4 * SLEW + 1e-6)
    [line] = [r.getMessage() for r in caplog.records]
    made_up = math.copysign(4 * SLEW, step)  # in the 4 s since the last reading
    assert "action=clock-step" in line and f"offset={step - made_up:.3f} " in line
    assert metrics.CLOCK_OFFSET._value.get() == pytest.approx(step, abs=0.01)


def test_after_a_step_it_catches_up_at_the_slew_rate_and_never_runs_backwards() -> None:
    clocks = Clocks()
    clock = _clock(clocks)
    clock.now()
    clocks.wall -= 10  # the system clock goes back 10 s
    readings = []
    for _ in range(30):
        clocks.tick(1000)
        readings.append(clock.now())
    assert all(b - a >= 1000 * (1 - SLEW) - 1e-6 for a, b in itertools.pairwise(readings))
    assert clock.now() == pytest.approx(clocks.wall)  # 10 s made up in 20,000 s
    assert metrics.CLOCK_OFFSET._value.get() == 0
