"""The composition root: builds the ARI client, the event stream and the controller, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ari_recorder.api.server import serving
from ari_recorder.ari.errors import AriError
from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery
from ari_recorder.engine.announcements import MissingSounds, require_sounds
from ari_recorder.engine.chats import ChatIntake
from ari_recorder.engine.controller import CallReport, Controller
from ari_recorder.engine.live_settings import start as live_settings
from ari_recorder.engine.terms import Terms
from ari_recorder.health import Health, Role
from ari_recorder.leadership import leadership
from ari_recorder.settings import Settings
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.app")


@dataclass(frozen=True)
class Running:
    ari: AriClient
    controller: Controller
    terms: Terms  # the controller's terms as leader (on SQLite: one, from the start)
    store: Store
    api_url: str  # the HTTP API's base, e.g. http://127.0.0.1:8089
    delivery: Delivery | None  # None: no age recipients configured, recordings stay in Asterisk
    # Set with MissingSounds when the announcements could only be checked once Asterisk answered
    # (it was down at the start) and one is missing: the service stops.
    sounds_missing: asyncio.Future[MissingSounds]
    health: Health  # /readyz; its role is the leader gauge
    # Set by shut_down(): when the work in hand (uploads) must be done by.
    deadline: list[float] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running(
    settings: Settings, on_report: Callable[[CallReport], None] = lambda r: None
) -> AsyncIterator[Running]:
    """The controller, leader or standby, until the block ends; then everything is closed. The
    file's agents, queues, company settings and rules seed the database at the first start only;
    from then on the database's are in force (engine/live_settings.py), swapped as they change."""
    settings.validate()
    settings.require_encryption()
    database = settings.database
    async with leadership(
        database.url, database.schema, settings.ari.app, settings.service.leader_poll_seconds
    ) as lead:
        store = Store(database.url, schema=database.schema or None, busy_timeout_ms=database.busy_timeout_ms)
        try:
            await store.migrate()
            live = await live_settings(store, settings)
            settings = live.current
            await store.seed(settings)
        except Exception:
            await store.aclose()
            raise
        async with AriClient(settings.ari.url, settings.ari.username, settings.ari.password) as ari:
            # Before the event socket connects (no call is taken before): every announcement there.
            checked = await _check_sounds(ari, settings)
            sounds_missing: asyncio.Future[MissingSounds] = asyncio.get_running_loop().create_future()
            delivery = _delivery(store, ari, settings)
            store.keeps_unencrypted = delivery is None

            def reported(report: CallReport) -> None:
                if delivery is not None:
                    delivery.wake()  # the call's recordings are marked ready in the store
                on_report(report)

            controller = Controller(ari, live, store, reported)
            await controller.logins.refresh()  # where agents are logged in, before the first call
            refreshing = asyncio.create_task(live.run(store), name="settings")
            health = Health(store, keeps_unencrypted=delivery is None)
            terms = Terms(lead, controller, settings, on_role=lambda role: health.set_role(Role(role)))
            health.stream = terms  # the leader's event socket, while it leads
            # Every controller delivers, the standby too: the queue's rows are claimed with leases.
            delivering = asyncio.create_task(delivery.run(), name="delivery") if delivery else None
            checking = None
            if not checked:
                checking = asyncio.create_task(_check_when_up(ari, settings, controller, sounds_missing))
            app = None
            try:
                chats = ChatIntake(live, store, delivery.wake if delivery is not None else lambda: None)
                terms.start()
                async with serving(controller, settings.api, chats, health) as api_url:
                    app = Running(ari, controller, terms, store, api_url, delivery, sounds_missing, health)
                    yield app
            finally:
                refreshing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refreshing
                if checking is not None:
                    checking.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await checking
                await terms.aclose()
                if delivery is not None and delivering is not None:
                    deadline = app.deadline[0] if app is not None and app.deadline else None
                    await _close_delivery(delivery, delivering, deadline)
                await store.aclose()


async def shut_down(app: Running, grace: float) -> None:
    """SIGTERM: no new call; what is in hand finished within `grace` seconds (the calls' actions
    and states, then the uploads under way); the rest left in the store, for the next leader."""
    app.deadline.append(asyncio.get_running_loop().time() + grace)
    await app.terms.hand_over(grace)


async def _close_delivery(delivery: Delivery, delivering: asyncio.Task[None], deadline: float | None) -> None:
    closing = asyncio.ensure_future(delivery.aclose())
    if deadline is not None:
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        await asyncio.wait({closing}, timeout=left)
        if not closing.done():
            log.warning(
                "shutting down: uploads under way not finished within the grace period: cancelled "
                "(their rows are taken again once their lease ends)"
            )
            delivering.cancel()
    await closing
    with contextlib.suppress(asyncio.CancelledError):
        await delivering


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


def raise_descriptor_limit(settings: Settings) -> int:
    """The soft limit on open descriptors raised to the hard one (often 1,024 against 500,000):
    the API's connections, Asterisk's and the database's all take one. The limit in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as error:
            log.warning("descriptors: the soft limit stays at %d (%s)", soft, error)
    log.debug(
        "descriptors: at most %d open (hard limit %s); the API takes at most %d connections",
        soft,
        "none" if hard == resource.RLIM_INFINITY else hard,
        settings.api.max_connections,
    )
    if settings.api.max_connections > soft // 2:
        log.warning(
            "api.max_connections (%d) is over half the descriptor limit (%d): a flood of clients could "
            "leave Asterisk and the database none",
            settings.api.max_connections,
            soft,
        )
    return soft


def _delivery(store: Store, ari: AriClient, settings: Settings) -> Delivery | None:
    if not settings.delivery.age_recipients:  # delivery.keep_unencrypted: require_encryption passed
        log.warning(
            "delivery: no age recipients, delivery.keep_unencrypted = true: finished recordings stay "
            "in Asterisk unencrypted, each marked in the database (recordings.kept_unencrypted) and "
            "counted (ari_recorder_recordings_unencrypted_total); `ari-recorder keys generate` makes "
            "a key pair"
        )
        return None
    return Delivery(store, ari, settings.delivery)


async def serve_forever(settings: Settings) -> None:
    """The controller as a service: until SIGINT or SIGTERM, reconnecting to Asterisk as needed;
    then handed over within service.shutdown_grace_seconds."""
    settings.require_encryption()  # before anything is opened
    raise_descriptor_limit(settings)
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
        await shut_down(app, settings.service.shutdown_grace_seconds)
