"""The composition root: builds the ARI client, the event stream and the controller, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ari_recorder.api.server import serving
from ari_recorder.ari.rest import AriClient
from ari_recorder.ari.stream import EventStream
from ari_recorder.engine.controller import CallReport, Controller
from ari_recorder.settings import Settings
from ari_recorder.storage.store import Store


@dataclass(frozen=True)
class Running:
    ari: AriClient
    controller: Controller
    stream: EventStream
    store: Store
    api_url: str  # the HTTP API's base, e.g. http://127.0.0.1:8089


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
        controller = Controller(ari, settings, store, on_report)
        controller.resume(await store.open_calls())
        intake = asyncio.create_task(controller.consume(stream), name="ari-intake")
        try:
            async with serving(controller, settings.api) as api_url:
                yield Running(ari, controller, stream, store, api_url)
        finally:
            await stream.aclose()
            intake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await intake
            await controller.aclose()
            await store.aclose()


async def serve_forever(settings: Settings) -> None:
    """The controller as a service: until SIGINT or SIGTERM, reconnecting to Asterisk as needed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings):
        await stop.wait()
