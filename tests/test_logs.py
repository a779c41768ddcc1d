"""Repeated log lines: the first let through, the rest counted, the count said after."""

from __future__ import annotations

import logging

from ari_recorder.logs import Repeats


def record(
    message: str, *args: object, level: int = logging.ERROR, name: str = "asyncio"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_a_line_repeated_within_the_window_is_held_back_and_counted_after() -> None:
    now = [0.0]
    repeats = Repeats(window=10.0, clock=lambda: now[0])
    accept = "socket.accept() out of system resource"
    passed = [r.getMessage() for r in (record(accept) for _ in range(1000)) if repeats.filter(r)]
    assert passed == [accept]
    assert repeats.filter(record("ARI events: cannot reach %s", "Asterisk")), "another line is let through"
    assert repeats.filter(record(accept, level=logging.WARNING)), "at another level too"
    now[0] = 10.5
    again = record(accept)
    assert repeats.filter(again)
    assert again.getMessage() == f"{accept} (and 999 more like it in the 10 s before, not logged)"
    now[0] = 11.0
    assert not repeats.filter(record(accept))


def test_lines_with_different_values_are_different_lines() -> None:
    repeats = Repeats(window=10.0, clock=lambda: 0.0)
    assert all(repeats.filter(record("call=%s action=answer", n)) for n in range(100))


def test_what_is_remembered_is_bounded() -> None:
    now = [0.0]
    repeats = Repeats(window=1.0, clock=lambda: now[0], remembered=10)
    for n in range(100):
        now[0] = n * 2.0
        repeats.filter(record("line %s", n))
    assert len(repeats.seen) <= 11
