"""Logging set up for the commands: one line per thing that happened, repeats counted.

A flood (a refused accept, a reconnect failing, malformed requests) would otherwise write the
same line, traceback and all, thousands of times a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

Key = tuple[str, int, str]


class Repeats(logging.Filter):
    """A line identical to one let through less than `window` seconds before is held back and
    counted; the next one let through says how many were held back."""

    def __init__(
        self, window: float = 10.0, clock: Callable[[], float] = time.monotonic, remembered: int = 1000
    ) -> None:
        super().__init__()
        self.window, self.clock, self.remembered = window, clock, remembered
        self.seen: dict[Key, tuple[float, int]] = {}  # the line -> when let through, held back since
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self.clock()
        with self.lock:
            since, held = self.seen.get(key, (None, 0))
            if since is not None and now - since < self.window:
                self.seen[key] = (since, held + 1)
                return False
            self.seen[key] = (now, 0)
            if len(self.seen) > self.remembered:
                self.seen = {k: v for k, v in self.seen.items() if now - v[0] < self.window and v[1]}
        if held and since is not None:
            record.msg = f"{key[2]} (and {held} more like it in the {now - since:.0f} s before, not logged)"
            record.args = None
        return True


def configure(verbose: bool) -> None:
    """One line per record on stderr, repeats counted. Logging someone else set up already (an
    application embedding the controller, a test runner's capture) is left as it is: its
    handlers are not ours to filter."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(Repeats())
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are about itself
