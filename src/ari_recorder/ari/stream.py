"""The ARI event WebSocket, kept open: typed events, and a marker each time it (re)connects.

Asterisk does not replay events missed while the socket was down (websocket_reconnect.jsonl):
the consumer gets `StreamConnected(reconnect=True)` and must reconcile from the REST API.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ari_recorder import metrics
from ari_recorder.ari.events import Event, UntypedEvent, parse_event
from ari_recorder.ari.rest import basic_auth

log = logging.getLogger("ari_recorder.ari")
# The longest wait between two attempts to reach Asterisk: while the controller is away, every
# call reaching Stasis() is refused, so it comes back within about this of Asterisk coming back.
RECONNECT_CAP = 2.0


@dataclass(frozen=True)
class StreamConnected:
    """The socket is open; after a reconnect, events of the gap were lost."""

    reconnect: bool
    attempt: int
    down_for: float | None


class Backoff:
    """Capped exponential backoff with "equal" jitter: half the step fixed, half random, so that
    many controllers do not reconnect in step, and none hammers Asterisk with a zero delay."""

    def __init__(self, initial: float, maximum: float, rand: Callable[[], float] = random.random):
        self.initial: float = initial
        self.maximum: float = maximum
        self._rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        cap = min(self.maximum, self.initial * 2.0**self.failures)
        self.failures += 1
        return cap / 2 + cap / 2 * self._rand()

    def reset(self) -> None:
        self.failures = 0


def events_url(base_url: str, app: str) -> str:
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path + "/events", "", ""))


class EventStream:
    """`async for item in EventStream(...)`: events and StreamConnected markers, until aclose()."""

    def __init__(
        self,
        base_url: str,
        app: str,
        username: str,
        password: str,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = RECONNECT_CAP,
        heartbeat: float = 20.0,
        stable_after: float = 5.0,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = events_url(base_url, app)
        self.app = app
        self._auth = basic_auth(username, password)
        self._heartbeat = heartbeat
        self._stable_after = stable_after
        self.backoff = Backoff(backoff_initial, backoff_max, rand)
        self._sleep = sleep
        self._closed = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = False  # the socket open now (readiness; the ari_connected gauge)

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        metrics.ARI_CONNECTED.set(1 if connected else 0)

    def __aiter__(self) -> AsyncIterator[Event | StreamConnected]:
        return self._run()

    async def aclose(self) -> None:
        self._closed.set()
        if self._ws is not None:
            await self._ws.close()

    async def _run(self) -> AsyncIterator[Event | StreamConnected]:
        attempt, connections, lost_at = 0, 0, None
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(headers={"Authorization": self._auth}) as session:
            while not self._closed.is_set():
                attempt += 1
                try:
                    async with session.ws_connect(
                        self.url,
                        params={"app": self.app, "subscribeAll": "false"},
                        heartbeat=self._heartbeat,
                        autoping=True,
                    ) as ws:
                        self._ws = ws
                        opened = loop.time()
                        down_for = None if lost_at is None else opened - lost_at
                        self._set_connected(True)
                        if connections:
                            metrics.ARI_RECONNECTS.inc()
                            log.warning(
                                "ARI events: reconnected to %s after %.1f s (attempt %d); "
                                "events in the gap are lost",
                                self.url,
                                down_for or 0.0,
                                attempt,
                            )
                        yield StreamConnected(reconnect=connections > 0, attempt=attempt, down_for=down_for)
                        connections, attempt = connections + 1, 0
                        async for message in ws:
                            if message.type is aiohttp.WSMsgType.TEXT:
                                event = parse_event(message.data)
                                if isinstance(event, UntypedEvent) and event.problem:
                                    log.warning(
                                        "ARI events: unreadable %s event: %s",
                                        event.type or "?",
                                        event.problem,
                                    )
                                yield event
                            elif message.type is aiohttp.WSMsgType.ERROR:
                                break
                        if loop.time() - opened >= self._stable_after:
                            self.backoff.reset()
                        lost_at = loop.time()
                        if not self._closed.is_set():
                            log.warning("ARI events: connection to %s closed", self.url)
                except aiohttp.WSServerHandshakeError as error:
                    lost_at = lost_at or loop.time()
                    if error.status == 401:
                        log.error(
                            "ARI events: Asterisk refused the user name or password (401) "
                            "at %s; check ari.username/ari.password",
                            self.url,
                        )
                    else:
                        log.warning("ARI events: %s answered %s to the WebSocket", self.url, error.status)
                except (aiohttp.ClientError, OSError, TimeoutError) as error:
                    lost_at = lost_at or loop.time()
                    log.warning("ARI events: cannot reach %s: %s", self.url, type(error).__name__)
                finally:
                    self._ws = None
                    if self.connected:
                        self._set_connected(False)
                if self._closed.is_set():
                    break
                delay = self.backoff.next_delay()
                log.info("ARI events: retrying in %.2f s", delay)
                await self._wait(delay)

    async def _wait(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({sleeper, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, closer):
                task.cancel()
            await asyncio.gather(sleeper, closer, return_exceptions=True)
