"""What the use cases (engine/services.py) refuse, and why: the HTTP API chooses the status."""

from __future__ import annotations

from ari_recorder import errors


class NoSuchCall(errors.NotFound):
    """No live call has that id."""

    id = "no-such-call"


class NoSuchTarget(errors.Unprocessable):
    """No agent or queue of that name, or no free agent in the queue."""

    id = "no-such-target"


class NotNow(errors.Conflict):
    """The call cannot do that in its present phase (no agent yet, a transfer under way)."""

    id = "not-now"


class Forbidden(errors.Forbidden):
    """The settings do not allow it (pause_allowed = false)."""

    id = "not-allowed"


class AsteriskRefused(errors.Upstream):
    """Asterisk refused what the call asked of it (the error says what)."""

    id = "asterisk-refused"
