"""What the use cases (engine/services.py) refuse, and why: the HTTP API chooses the status."""

from __future__ import annotations


class NoSuchCall(LookupError):
    """No live call has that id."""


class NoSuchTarget(LookupError):
    """No agent or queue of that name, or no free agent in the queue."""


class NotNow(RuntimeError):
    """The call cannot do that in its present phase (no agent yet, a transfer under way)."""


class Forbidden(PermissionError):
    """The settings do not allow it (pause_allowed = false)."""


class AsteriskRefused(RuntimeError):
    """Asterisk refused what the call asked of it (the error says what)."""
