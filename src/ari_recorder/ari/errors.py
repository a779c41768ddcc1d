"""One taxonomy for what ARI answers when it says no, and for not reaching it at all."""

from __future__ import annotations

from collections.abc import Awaitable


class AriError(Exception):
    """ARI refused a request; keeps the status and Asterisk's own message."""

    status: int | None = None

    def __init__(self, method: str, path: str, message: str, status: int | None = None) -> None:
        self.method = method
        self.path = path
        self.message = message
        if status is not None:
            self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        return f"ARI {self.method} {self.path}: {status}{self.message}"


class AriBadRequest(AriError):
    status = 400


class AriUnauthorized(AriError):
    status = 401


class AriNotFound(AriError):
    status = 404


class AriConflict(AriError):
    status = 409


async def exists(lookup: Awaitable[object]) -> bool:
    """Whether Asterisk has what `lookup` (a GET) asks for: False on its 404."""
    try:
        await lookup
    except AriNotFound:
        return False
    return True


class AriUnprocessable(AriError):
    status = 422


class AriServerError(AriError):
    status = 500


class AriUnavailable(AriError):
    """Asterisk could not be reached or did not answer in time (no status)."""


class MalformedPayload(ValueError):
    """A body or event from Asterisk lacks a field the model declares, or has it ill-typed."""


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for(method: str, path: str, status: int, message: str) -> AriError:
    """The typed error for an ARI answer with this status."""
    cls = _BY_STATUS.get(status) or (AriServerError if status >= 500 else AriError)
    return cls(method, path, message or f"HTTP {status}", status)
