"""The API's one boundary between the application's errors and HTTP: the only place that chooses
a status.

Handlers raise the application's errors (ari_recorder/errors.py) and return bodies; STATUS says
each kind's status, and every error is answered `{"error", "id", "detail"}` (api/bodies.py's
Error). aiohttp's own refusals (no route, wrong method, a body over the limit) become the kind of
their status; a store too busy to write is Unavailable (503, with Retry-After); anything else is
the server's fault, logged with its traceback and answered 500, still in JSON. The guard's
answers outside the app (api/guard.py) and the OpenAPI document (api/openapi.py) take their
statuses from here too.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from ari_recorder.api.bodies import Error
from ari_recorder.errors import (
    AppError,
    Conflict,
    Forbidden,
    Internal,
    Invalid,
    NotAllowedHere,
    NotFound,
    PreconditionRequired,
    TooLarge,
    TooSlow,
    Unauthorized,
    Unavailable,
    Unprocessable,
    Unsupported,
    Upstream,
)
from ari_recorder.storage.store import StoreBusy, is_busy

log = logging.getLogger("ari_recorder.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER = "1"  # seconds: a store busy now is free again within a few hundred milliseconds

# Each kind of error's status: the one table.
STATUS: dict[type[AppError], int] = {
    Invalid: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    NotAllowedHere: 405,
    TooSlow: 408,
    Conflict: 409,
    TooLarge: 413,
    Unsupported: 415,
    Unprocessable: 422,
    PreconditionRequired: 428,
    Internal: 500,
    Upstream: 502,
    Unavailable: 503,
}
KIND = {status: kind for kind, status in STATUS.items()}
# The kinds after which the connection is closed: what the client sent cannot be trusted to end
# where the next request starts.
CLOSING = (TooSlow,)


class Done(enum.IntEnum):
    """How a request that succeeded is answered."""

    OK = 200
    CREATED = 201
    ACCEPTED = 202
    NO_CONTENT = 204


# ----- the API's own errors (the use cases' are theirs: engine/, storage/) -----


class NoSuchRoute(NotFound):
    id = "no-such-route"


class BodyTooLarge(TooLarge):
    id = "body-too-large"


class BodyTooSlow(TooSlow):
    id = "body-too-slow"


class Malformed(Invalid):
    id = "malformed-request"


class TooManyConnections(Unavailable):
    id = "too-many-connections"


class Standby(Unavailable):
    id = "standby"


class InvalidQuery(Invalid):
    id = "invalid-query"


class NotReady(Unavailable):
    id = "not-ready"


class ForbiddenRole(Forbidden):
    """The token's role does not hold the endpoint's privilege (api/privileges.py)."""

    id = "forbidden-role"


class NotYours(Forbidden):
    id = "another-agents"


class NoSuchAgent(NotFound):
    id = "no-such-agent"


class NoSuchChat(NotFound):
    id = "no-such-chat"


class CallTimedOut(Unavailable):
    """The call did not answer a request in time: the request may yet take effect."""

    id = "call-did-not-answer"


class SpoolUnwritable(Unavailable):
    id = "spool-unwritable"


# aiohttp's own refusals, by their status (another: the kind of its status).
AIOHTTP: dict[int, type[AppError]] = {404: NoSuchRoute, 413: BodyTooLarge}


def status_of(error: AppError | type[AppError]) -> int:
    """The status of `error`'s kind (its nearest class in STATUS)."""
    kind = error if isinstance(error, type) else type(error)
    return next((STATUS[k] for k in kind.__mro__ if k in STATUS), STATUS[Internal])  # no kind: ours


def _json(value: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def error_body(error: AppError) -> bytes:
    return msgspec.json.encode(Error(error.message, error.id, error.detail))


def error_response(error: AppError, headers: dict[str, str] | None = None) -> web.Response:
    """The answer to `error`: its status from the table, its body, Retry-After when it passes."""
    status = status_of(error)
    if status == 503:
        headers = {"Retry-After": RETRY_AFTER, **(headers or {})}
    answer = _json(Error(error.message, error.id, error.detail), status, headers)
    if isinstance(error, CLOSING):
        answer.force_close()
    return answer


def respond(
    body: msgspec.Struct, done: Done | type[AppError] = Done.OK, headers: dict[str, str] | None = None
) -> web.Response:
    """A body answered as a success, or, with an error's kind, as that kind's status (/readyz's
    503 has the readiness for its body)."""
    return _json(body, done if isinstance(done, Done) else status_of(done), headers)


def nothing(headers: dict[str, str] | None = None) -> web.Response:
    """A success with no body (204)."""
    return web.Response(status=Done.NO_CONTENT, headers=headers)


def _from_aiohttp(e: web.HTTPException) -> AppError:
    kind = KIND.get(e.status, Invalid if e.status < 500 else Internal)
    return AIOHTTP.get(e.status, kind)(e.reason)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:  # aiohttp's own: unknown path, wrong method (its Allow kept)
        if e.status < 400:
            raise
        kept = {k: v for k, v in e.headers.items() if k.lower() not in ("content-type", "content-length")}
        return error_response(_from_aiohttp(e), kept)
    except Exception as e:
        if is_busy(e):  # StoreBusy, or the driver's own words for it
            log.warning("api: %s %s: the store is busy, answered 503: %s", request.method, request.path, e)
            return error_response(StoreBusy("the store is busy; ask again"))
        if isinstance(e, AppError):
            return error_response(e)
        log.exception("api: %s %s failed", request.method, request.path)  # never the headers
        return error_response(Internal("internal error", type(e).__name__))
