"""The composition root: builds the ARI client, the event stream and the controller, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ari_recorder.api.server import serving
from ari_recorder.ari.rest import AriClient
from ari_recorder.ari.stream import EventStream
from ari_recorder.delivery import Delivery
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


@contextlib.asynccontextmanager
async def running(
    settings: Settings, on_report: Callable[[CallReport], None] = lambda r: None
) -> AsyncIterator[Running]:
    """The controller connected to Asterisk until the block ends; then everything is closed."""
    settings.validate()
    store = Store(settings.database.url, schema=settings.database.schema or None)
    try:
        await store.migrate()
        await store.seed(settings)
    except Exception:
        await store.aclose()
        raise
    async with AriClient(settings.ari.url, settings.ari.username, settings.ari.password) as ari:
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
        try:
            chats = ChatIntake(settings, store, delivery.wake if delivery is not None else lambda: None)
            async with serving(controller, settings.api, chats) as api_url:
                yield Running(ari, controller, stream, store, api_url, delivery)
        finally:
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
    async with running(settings):
        await stop.wait()
