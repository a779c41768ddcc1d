"""The HTTP server's guard against clients that flood it or speak malformed HTTP.

aiohttp's server caps no connections and answers a request it cannot parse with the raw line
(a bearer token included) in a text body, after logging it at ERROR with the same text. Here:
at most `api.max_connections` at once, the oldest connection with no request under way closed
for a new one, and a new one refused at once (503) when every slot has a request under way; a
request head (and, through its keep-alive timer, an idle connection) given
`api.request_timeout_seconds`, and so is a body; a malformed request answered
`400 {"error", "id", "detail"}` with what was wrong but nothing of what was sent, logged without
it. Their statuses are api/errors.py's, like every other answer's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, InvalidHeader, LineTooLong
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from ari_recorder.api.errors import (
    RETRY_AFTER,
    BodyTooSlow,
    Malformed,
    TooManyConnections,
    error_body,
    error_response,
    status_of,
)
from ari_recorder.errors import Unauthorized
from ari_recorder.settings import ApiSettings

log = logging.getLogger("ari_recorder.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SERVER = "ari-recorder"  # no version: a scanner learns nothing from it
MAX_LINE = 8190  # aiohttp's default for the request line and each header, kept

# On every answer, errors and refusals included.
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Server": SERVER}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the headers every answer of the app carries."""
    response.headers.update(HEADERS)
    if response.status == status_of(Unauthorized):
        response.headers.setdefault("WWW-Authenticate", "Bearer")


def body_deadline(settings: web.AppKey[ApiSettings]) -> Middleware:
    """A middleware reading a request's body, whole, within api.request_timeout_seconds of its
    head (the handlers' own reads then take it from memory): a slow body is BodyTooSlow (408),
    its connection closed."""

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            seconds = request.app[settings].request_timeout_seconds
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # over client_max_size: 413, as before
            except TimeoutError:
                raise BodyTooSlow(
                    "the request's body did not arrive in time",
                    f"within {seconds:g} s of its head (api.request_timeout_seconds)",
                ) from None
        return await handler(request)

    return deadline


def _what_was_wrong(exc: BaseException | None) -> str:
    """What the parser refused, in words of ours: its own message quotes the bytes sent."""
    if isinstance(exc, LineTooLong):
        return f"a line of the request's head is longer than {MAX_LINE} bytes"
    if isinstance(exc, BadHttpMethod | BadStatusLine):
        return "the request line is not valid HTTP/1.1"
    if isinstance(exc, InvalidHeader):
        return "a header is not valid (a character not allowed, or no name)"
    return "the request is not valid HTTP/1.1 (line ends must be CRLF, no control characters)"


class Connection(RequestHandler):
    """aiohttp's connection handler, which tells its gate when it leaves and answers a request it
    could not parse without echoing it."""

    def __init__(self, gate: Gate, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.gate = gate

    @property
    def between_requests(self) -> bool:
        """No request under way: idle, or its head not finished yet."""
        return not self._request_in_progress

    def connection_lost(self, exc: BaseException | None) -> None:
        self.gate.left(self)
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != status_of(Malformed):  # aiohttp's parser says 400; anything else is its own
            return super().handle_error(request, status, exc, message)
        what = _what_was_wrong(exc)
        log.warning("api: malformed request refused: %s", what)
        answer = error_response(Malformed("malformed request", what), {**HEADERS})
        answer.force_close()
        return answer


class Refused(asyncio.Protocol):
    """A connection over the cap: told so in one answer, closed at once."""

    ERROR = TooManyConnections("too many connections", "try again in a moment")
    ANSWER = error_body(ERROR)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        status = HTTPStatus(status_of(self.ERROR))
        head = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(self.ANSWER)}",
            f"Retry-After: {RETRY_AFTER}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in HEADERS.items()),
        ]
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + self.ANSWER)
        transport.close()


class Gate:
    """The server's protocol factory: a connection handler for each accepted socket, within the
    cap."""

    def __init__(self, server: web.Server, max_connections: int, handler_args: dict[str, Any]) -> None:
        self.server, self.max_connections, self.handler_args = server, max_connections, handler_args
        self.open: dict[Connection, None] = {}  # oldest first
        self.refused = 0
        self.closed_for_new = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.open) >= self.max_connections:
            oldest = next((c for c in self.open if c.between_requests), None)
            if oldest is None:
                self.refused += 1
                log.warning(
                    "api: a connection refused (too-many-connections): all %d have a request under way "
                    "(api.max_connections)",
                    self.max_connections,
                )
                return Refused()
            del self.open[oldest]
            oldest.force_close()
            self.closed_for_new += 1
            log.warning(
                "api: %d connections open (api.max_connections): the oldest idle or unfinished one "
                "closed for a new one",
                self.max_connections,
            )
        connection = Connection(self, self.server, loop=asyncio.get_running_loop(), **self.handler_args)
        self.open[connection] = None
        return connection

    def left(self, connection: Connection) -> None:
        self.open.pop(connection, None)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a gate."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        gate: Gate,
        tls: ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog, ssl_context=tls)
        self.host, self.port, self.gate = host, port, gate

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self.gate, self.host, self.port, ssl=self._ssl_context, backlog=self._backlog, reuse_address=True
        )


def beyond_loopback(listen: str) -> bool:
    if listen == "localhost":
        return False
    try:
        return not ipaddress.ip_address(listen).is_loopback
    except ValueError:
        return True  # a name, or "" (every address)
