"""The application's errors, by meaning: each with a stable id for programs and a message and
detail for people.

Use cases raise them (or their own subclasses: engine/controller.py's NoSuchCall is a NotFound);
nothing here knows HTTP. The API's one middleware (api/errors.py) answers each kind with its
status, from one table; the id and the message go in the body as they are.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """What went wrong (the message), its stable `id` (its class's: one id, one kind) and more
    of it (`detail`: any JSON, None when the message says it all)."""

    id: ClassVar[str] = "error"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message, self.detail = message, detail


class Invalid(AppError):
    """The request is not well formed: not JSON, a parameter out of range, a body of no use."""

    id = "invalid"


class Unauthorized(AppError):
    """Nobody we know: no credentials, or wrong, expired or revoked ones."""

    id = "unauthorized"


class Forbidden(AppError):
    """Someone we know, not allowed to do this."""

    id = "forbidden"


class NotFound(AppError):
    """No such thing (call, agent, chat, route)."""

    id = "not-found"


class NotAllowedHere(AppError):
    """The thing exists, but does not take this method."""

    id = "method-not-allowed"


class TooSlow(AppError):
    """The client took too long to send its request."""

    id = "too-slow"


class Conflict(AppError):
    """Not in the present state of things: not now, or not again with other contents."""

    id = "conflict"


class PreconditionRequired(AppError):
    """A change of what others may change too, made without saying which version it is made
    against (If-Match): refused, so that no change is lost unseen."""

    id = "precondition-required"


class TooLarge(AppError):
    """More than the server takes at once."""

    id = "too-large"


class Unsupported(AppError):
    """In an encoding or media type the server does not speak."""

    id = "unsupported"


class Unprocessable(AppError):
    """Well formed, but naming what is not there or not holding together."""

    id = "unprocessable"


class Upstream(AppError):
    """Something we depend on (Asterisk) refused."""

    id = "upstream-refused"


class Unavailable(AppError):
    """Not possible now, for a reason on our side that passes (busy, standby, not configured):
    worth asking again later."""

    id = "unavailable"


class Internal(AppError):
    """A fault of ours, not foreseen."""

    id = "internal"
