"""The composition root: builds the ARI client, the event stream and the controller, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ari_recorder.api.server import serving
from ari_recorder.ari.errors import AriError
from ari_recorder.ari.rest import AriClient
from ari_recorder.ari.stream import EventStream
from ari_recorder.delivery import Delivery
from ari_recorder.engine.announcements import MissingSounds, require_sounds
from ari_recorder.engine.chats import ChatIntake
from ari_recorder.engine.controller import CallReport, Controller
from ari_recorder.settings import Settings
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.app")


@dataclass(frozen=True)
class Running:
    ari: AriClient
    controller: Controller
    stream: EventStream
    store: Store
    api_url: str  # the HTTP API's base, e.g. http://127.0.0.1:8089
    delivery: Delivery | None  # None: no age recipients configured, recordings stay in Asterisk
    # Set with MissingSounds when the announcements could only be checked once Asterisk answered
    # (it was down at the start) and one is missing: the service stops.
    sounds_missing: asyncio.Future[MissingSounds]


@contextlib.asynccontextmanager
async def running(
    settings: Settings, on_report: Callable[[CallReport], None] = lambda r: None
) -> AsyncIterator[Running]:
    """The controller connected to Asterisk until the block ends; then everything is closed."""
    settings.validate()
    store = Store(
        settings.database.url,
        schema=settings.database.schema or None,
        busy_timeout_ms=settings.database.busy_timeout_ms,
    )
    try:
        await store.migrate()
        await store.seed(settings)
    except Exception:
        await store.aclose()
        raise
    async with AriClient(settings.ari.url, settings.ari.username, settings.ari.password) as ari:
        # Before the event socket connects (no call is taken before): every announcement there.
        checked = await _check_sounds(ari, settings)
        sounds_missing: asyncio.Future[MissingSounds] = asyncio.get_running_loop().create_future()
        stream = EventStream(settings.ari.url, settings.ari.app, settings.ari.username, settings.ari.password)
        delivery = _delivery(store, ari, settings)

        def reported(report: CallReport) -> None:
            if delivery is not None:
                delivery.wake()  # the call's recordings are marked ready in the store
            on_report(report)

        controller = Controller(ari, settings, store, reported)
        controller.resume(await store.open_calls())
        intake = asyncio.create_task(controller.consume(stream), name="ari-intake")
        delivering = asyncio.create_task(delivery.run(), name="delivery") if delivery else None
        checking = None
        if not checked:
            checking = asyncio.create_task(_check_when_up(ari, settings, controller, sounds_missing))
        try:
            chats = ChatIntake(settings, store, delivery.wake if delivery is not None else lambda: None)
            async with serving(controller, settings.api, chats) as api_url:
                yield Running(ari, controller, stream, store, api_url, delivery, sounds_missing)
        finally:
            if checking is not None:
                checking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checking
            await stream.aclose()
            intake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await intake
            await controller.aclose()
            if delivery is not None and delivering is not None:
                await delivery.aclose()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivering
            await store.aclose()


async def _check_sounds(ari: AriClient, settings: Settings) -> bool:
    """True when every announcement was found; MissingSounds when one is not; False when
    Asterisk could not be asked (down, or refusing the credentials: the stream says which)."""
    try:
        checked = await require_sounds(ari, settings)
    except MissingSounds:
        raise
    except AriError as error:
        log.warning("announcements: not checked yet (%s); checked once Asterisk answers", error)
        return False
    log.info(
        "announcements: %d sound(s) for %d queue(s) found in Asterisk", len(checked.sounds), checked.queues
    )
    return True


async def _check_when_up(
    ari: AriClient, settings: Settings, controller: Controller, missing: asyncio.Future[MissingSounds]
) -> None:
    while True:
        await controller.connected.wait()
        try:
            if await _check_sounds(ari, settings):
                return
        except MissingSounds as error:
            missing.set_result(error)
            return
        await asyncio.sleep(2.0)


def _delivery(store: Store, ari: AriClient, settings: Settings) -> Delivery | None:
    if not settings.delivery.age_recipients:
        log.warning(
            "delivery: no age recipients (delivery.age_recipients): finished recordings stay in "
            "Asterisk, marked ready in the database; `ari-recorder keys generate` makes a key pair"
        )
        return None
    return Delivery(store, ari, settings.delivery)


async def serve_forever(settings: Settings) -> None:
    """The controller as a service: until SIGINT or SIGTERM, reconnecting to Asterisk as needed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings) as app:
        stopping = asyncio.ensure_future(stop.wait())
        either: set[asyncio.Future[Any]] = {stopping, app.sounds_missing}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if app.sounds_missing.done():
            raise app.sounds_missing.result()  # one line naming the queue and the sound, exit 2
