"""The controller's terms as leader: each begins when it takes the leadership (the calls left in
the store adopted, the event socket connected, so reconciled with Asterisk) and ends when the
leadership is lost (at once: stop acting) or handed over (SIGTERM: the work in hand finished)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ari_recorder import metrics
from ari_recorder.ari.stream import EventStream
from ari_recorder.engine.controller import Controller
from ari_recorder.leadership import Leadership
from ari_recorder.settings import Settings

log = logging.getLogger("ari_recorder.leadership")


class Terms:
    """`start()` once; then `hand_over(grace)` (graceful) or `aclose()` (at once)."""

    def __init__(
        self,
        leadership: Leadership,
        controller: Controller,
        settings: Settings,
        on_role: Callable[[str], None] | None = None,
    ) -> None:
        """`on_role`: told "leader", "standby" or "none" (starting, stood down, handed over) as
        the role changes; by default, the leader gauge is set."""
        self.leadership = leadership
        self.controller = controller
        self.settings = settings
        self._runner: asyncio.Task[None] | None = None
        self._stream: EventStream | None = None
        self._intake: asyncio.Task[None] | None = None
        self.terms = 0  # how many times this process became the leader
        self._on_role = on_role or (lambda role: metrics.LEADER.set(1 if role == "leader" else 0))
        self._on_role("none")

    @property
    def connected(self) -> bool:
        """The event socket is open: this controller leads and hears Asterisk (for /readyz)."""
        return self._stream is not None and self._stream.connected

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="leadership")

    async def _run(self) -> None:
        while True:
            waited = time.monotonic()
            self._on_role("standby")
            await self.leadership.acquire()
            await self._begin(time.monotonic() - waited)
            why = await self.leadership.lost()
            log.error("leadership: lost (%s): stopped taking and acting on calls at once; standby now", why)
            await self._end_at_once()
            # Its connection failed, the standby's did not: the standby should take over.
            await asyncio.sleep(2 * self.settings.service.leader_poll_seconds)

    async def _begin(self, waited: float) -> None:
        self.terms += 1
        self._on_role("leader")
        self.controller.leading = True
        calls = await self.controller.store.open_calls()
        if self.terms > 1 or waited > 1.0:
            log.warning("leadership: adopting %d call(s) from the store", len(calls))
        self.controller.resume(calls)
        ari = self.settings.ari
        self._stream = EventStream(ari.url, ari.app, ari.username, ari.password)
        self._intake = asyncio.create_task(self.controller.consume(self._stream), name="ari-intake")

    async def _close_socket(self) -> None:
        """Asterisk refuses new calls to the application from now on (the dialplan retries them
        towards the next leader); nothing more is heard of the calls in hand."""
        stream, intake, self._stream, self._intake = self._stream, self._intake, None, None
        if stream is not None:
            await stream.aclose()
        if intake is not None:
            intake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await intake

    async def _end_at_once(self) -> None:
        await self._close_socket()
        await self.controller.stand_down()
        self._on_role("none")

    async def _stop_running(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def hand_over(self, grace: float) -> None:
        """SIGTERM: no new call from now on; the calls' actions in hand and their states within
        `grace` seconds; then the leadership released for a standby to take at once."""
        await self._stop_running()
        leading = self.controller.leading
        await self._close_socket()
        if leading:
            log.info("shutting down: the event socket closed, no new call taken; handing over")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace + 1.0):  # the states' write, after the calls'
                    await self.controller.hand_over(grace)
        await self.leadership.release()
        self._on_role("none")

    async def aclose(self) -> None:
        """At once (the tests, a failure at start): the calls stay in the store."""
        await self._stop_running()
        await self._close_socket()
        await self.controller.aclose()
        self._on_role("none")
