"""The API's one error middleware: every failure a JSON `{"error", "detail"}` with its status.

Handlers raise ApiError with the status they mean; aiohttp's own (no route, wrong method, a body
over the limit) keep theirs; a store too busy to write answers 503 with Retry-After; anything
else is the server's fault, logged with its traceback and answered 500, still in JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ari_recorder.storage.store import is_busy

log = logging.getLogger("ari_recorder.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER = "1"  # seconds: a store busy now is free again within a few hundred milliseconds


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None, retry_after: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail
        if retry_after is None and status == 503:
            retry_after = RETRY_AFTER
        self.retry_after = retry_after


def error_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        headers = {"Retry-After": e.retry_after} if e.retry_after else None
        return error_response(e.status, e.error, e.detail, headers)
    except web.HTTPException as e:  # aiohttp's own: unknown path, wrong method (its Allow kept)
        kept = {k: v for k, v in e.headers.items() if k.lower() not in ("content-type", "content-length")}
        return error_response(e.status, e.reason, None, kept)
    except Exception as e:
        if is_busy(e):
            log.warning("api: %s %s: the store is busy, answered 503: %s", request.method, request.path, e)
            return error_response(503, "the store is busy; ask again", None, {"Retry-After": RETRY_AFTER})
        log.exception("api: %s %s failed", request.method, request.path)  # never the headers
        return error_response(500, "internal error", type(e).__name__)
