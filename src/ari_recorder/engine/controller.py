"""The engine put together: the event stream into intake (engine/intake.py), one mailbox and
one task per call (engine/mailbox.py, engine/runner.py), the use cases the HTTP API calls
(engine/services.py) and reconciliation on every connection (engine/reconcile.py); calls taken
over from the store, and handed over or dropped when the leadership ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Callable, Coroutine
from typing import Any

from ari_recorder import metrics
from ari_recorder.ari.errors import AriError
from ari_recorder.ari.events import Event, UntypedEvent
from ari_recorder.ari.rest import AriClient
from ari_recorder.ari.stream import StreamConnected
from ari_recorder.domain import call as c
from ari_recorder.engine.announcements import sound_problems
from ari_recorder.engine.calls import Calls
from ari_recorder.engine.errors import AsteriskRefused, Forbidden, NoSuchCall, NoSuchTarget, NotNow
from ari_recorder.engine.executor import Executor
from ari_recorder.engine.intake import Intake, Opening
from ari_recorder.engine.live_settings import LiveSettings, as_live
from ari_recorder.engine.logins import Logins
from ari_recorder.engine.mailbox import HandOver
from ari_recorder.engine.persister import Persister
from ari_recorder.engine.reconcile import reconcile
from ari_recorder.engine.runner import CallReport, Runner
from ari_recorder.engine.services import Services
from ari_recorder.engine.settings_admin import SettingsAdmin
from ari_recorder.settings import Settings
from ari_recorder.storage.store import Store

__all__ = ["AsteriskRefused", "CallReport", "Controller", "Forbidden", "NoSuchCall", "NoSuchTarget", "NotNow"]

log = logging.getLogger("ari_recorder.engine")
SLOW_EVENT = 0.1  # seconds; handling one event for longer than this is worth a warning


class Controller:
    """Routes the event stream to per-call mailboxes and runs each call's state machine."""

    def __init__(
        self,
        ari: AriClient,
        settings: Settings | LiveSettings,
        store: Store,
        on_report: Callable[[CallReport], None] = lambda report: None,
    ) -> None:
        self.ari = ari
        # The settings in force, swapped when the managed settings change (engine/live_settings.py):
        # everything that decides reads them through this one holder.
        self.live = as_live(settings)
        settings = self.live.current
        self.store = store
        # The managed settings' changes (the API's; the CLI has its own, with no Asterisk to ask).
        self.admin = SettingsAdmin(store, self.live, sounds=self._sound_problems)
        self.persister = Persister(store)
        self.connected = asyncio.Event()
        # The leader takes calls; a standby (another controller holds the leadership) takes none.
        self.leading = False
        self.calls = Calls()
        self.executor = Executor(ari, settings.ari.app, self.calls.tell)
        self.runner = Runner(self.calls, self.executor, self.persister, on_report)
        self.logins = Logins(store, settings)  # where agents are logged in, refreshed while leading
        self.services = Services(ari, self.live, self.calls, self.logins.where)
        self.router = Intake(ari, self.live, self.calls, self._begin, self._spawn, self.logins)
        self._refreshing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lives: set[asyncio.Task[None]] = set()  # the calls' own, among them

    @property
    def settings(self) -> Settings:
        """The settings in force now."""
        return self.live.current

    async def consume(self, stream: AsyncIterable[Event | StreamConnected]) -> None:
        """Take every item of an EventStream until it ends."""
        async for item in stream:
            started = time.monotonic()
            self.intake(item)
            if not isinstance(item, StreamConnected | UntypedEvent):
                metrics.event_handled(item.timestamp, time.time())
            if time.monotonic() - started > SLOW_EVENT:
                log.warning("event intake took %.0f ms", (time.monotonic() - started) * 1000)

    async def _sound_problems(self, settings: Settings) -> list[str]:
        """The announcements of `settings` Asterisk does not have; none said when it cannot be
        asked (then a missing one is found at call time, by on_announcement_failure)."""
        try:
            return await sound_problems(self.ari, settings)
        except AriError as error:
            log.warning("settings: announcements not checked against Asterisk: %s", error)
            return []

    def intake(self, item: Event | StreamConnected) -> None:
        if not isinstance(item, StreamConnected):
            self.router.take(item)
            return
        self.connected.set()
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = self._spawn(self.logins.run(), name="logins")
        log.info("ari connected app=%s reconnect=%s", self.settings.ari.app, item.reconnect)
        # Events may have been missed: while the socket was down, or while no controller ran.
        if self.calls:
            self._spawn(self._reconcile(), name="reconcile")

    def resume(self, calls: list[c.Call]) -> None:
        """Take back the calls a previous controller left (from the store); reconciled with
        Asterisk as soon as the event stream connects. Their deadlines (a pause's, the wait
        limit, a recording's start) are armed from their states, the channels that joined them
        aliased again."""
        for call in calls:
            log.warning("call=%s action=resume phase=%s", call.id, call.phase.value)
            self._live(self.runner.run(self.calls.open(call, resumed=True)), call.id)
        if calls and self.connected.is_set():  # taken back on a live socket: asked at once
            self._spawn(self._reconcile(), name="reconcile")

    def _reconcile(self) -> Coroutine[Any, Any, None]:
        """Asterisk asked what the calls live now missed (not those begun after this)."""
        which = frozenset(call.id for call in self.calls.live())
        return reconcile(self.ari, self.settings.ari.app, self.calls, which)

    def _begin(self, opening: Opening) -> None:
        call, actions = opening
        self._live(self.runner.run(self.calls.open(call), actions), call.id)

    def _live(self, life: Coroutine[Any, Any, None], call_id: str) -> None:
        task = self._spawn(life, name=f"call-{call_id}")
        self._lives.add(task)
        task.add_done_callback(self._lives.discard)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str | None = None) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # The use cases, for the HTTP API (engine/services.py).
    def live_calls(self) -> list[c.Call]:
        return self.services.live_calls()

    def agent_call(self, agent: str) -> c.Call | None:
        return self.services.agent_call(agent)

    def request_transfer(self, call_id: str, agent: str | None = None, queue: str | None = None) -> str:
        return self.services.transfer(call_id, agent, queue)

    async def place_call(self, agent: str, to: str, queue: str | None = None) -> str:
        return await self.services.place_call(agent, to, queue)

    async def pause(self, agent: str, by: str) -> c.Call:
        return await self.services.pause(agent, by)

    async def resume_recording(self, agent: str, by: str) -> c.Call:
        return await self.services.resume(agent, by)

    async def hand_over(self, grace: float) -> None:
        """Stop taking calls (the event socket is closed already) and let each call finish the
        actions in hand, then its state is written: the next leader adopts it from the store.
        What is not done within `grace` seconds is cancelled."""
        self.leading = False
        self.connected.clear()
        calls = list(self._lives)
        for mailbox in self.calls.mailboxes():
            mailbox.put(HandOver())
        if calls:
            _, late = await asyncio.wait(calls, timeout=grace)
            if late:
                log.warning("hand-over: %d call(s) still acting after %g s: cancelled", len(late), grace)
        await self.aclose()
        log.info("hand-over: %d call(s) left in the store for the next leader", len(calls))

    async def stand_down(self) -> None:
        """Leadership lost: stop acting at once, writing nothing more; the next leader adopts
        the calls from the store and reconciles them with Asterisk."""
        self.leading = False
        self.connected.clear()
        await self._cancel_all()
        await self.persister.abandon()
        self.router.forget()

    async def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        await self._cancel_all()
        self.router.forget()
        await self.persister.aclose()
