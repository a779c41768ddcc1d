"""The settings in force, swapped while the controller runs: the file's (ari, database, api,
delivery...) with the managed sections (agents, queues, company, rules) from the database.

One holder, owned by the controller and read by every part that decides (intake, the services,
the chats, the API): each reads `current` when it decides, so the next decision after a swap
uses the new settings, while a decision already made stays as the call's state holds it. The
database's revision is polled every second (as engine/logins.py polls the logins): a change made
through any controller sharing the database, or the CLI, is in force everywhere within about a
second; a change made through this controller's API at once.

The file seeds the managed sections at the first start only (an empty database); afterwards it
gives them no more: `ari-recorder settings import FILE` takes them from a file again, audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ari_recorder.engine.managed import InvalidSettings, compose, documents
from ari_recorder.settings import Settings, SettingsError
from ari_recorder.storage import settings_store
from ari_recorder.storage.settings_store import Managed
from ari_recorder.storage.store import Store, database_error

log = logging.getLogger("ari_recorder.engine")
REFRESH_SECONDS = 1.0


class LiveSettings:
    """`current`: the settings in force; `revision`: the managed settings' revision they are at
    (0: the file's own, never read from a database)."""

    def __init__(self, base: Settings) -> None:
        self.base = base  # the file's: everything but the managed sections comes from it
        self.current = base
        self.revision = 0

    def take(self, managed: Managed) -> bool:
        """The managed settings at `managed.revision` in force, unless newer ones are already;
        True when swapped. InvalidSettings (nothing swapped) when they do not hold."""
        if managed.revision <= self.revision:
            return False
        self.current = compose(self.base, managed.documents())
        before, self.revision = self.revision, managed.revision
        if before:
            log.info("settings: revision %d in force (was %d)", managed.revision, before)
        return True

    async def refresh(self, store: Store) -> bool:
        """The database's revision, if it moved; True when swapped."""
        found = await settings_store.revision(store)
        if found is None or found <= self.revision:
            return False
        managed = await settings_store.load(store)
        if managed is None:
            return False
        try:
            return self.take(managed)
        except InvalidSettings as error:  # written by hand in the database: the last good stay
            log.error("settings: revision %d not taken, it does not hold: %s", managed.revision, error)
            self.revision = managed.revision
            return False

    async def run(self, store: Store, every: float = REFRESH_SECONDS) -> None:
        """Refresh every `every` seconds until cancelled; a failed read keeps the settings in force."""
        while True:
            reading = asyncio.ensure_future(self.refresh(store))
            try:
                await asyncio.shield(reading)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):  # the read ends first (its connection back)
                    await reading
                raise
            except Exception as error:
                log.warning("settings: not refreshed (%s)", database_error(error) or error)
            await asyncio.sleep(every)


def as_live(settings: Settings | LiveSettings) -> LiveSettings:
    """A holder for `settings` (fixed, when given a Settings: tests, the simulator's demo)."""
    return settings if isinstance(settings, LiveSettings) else LiveSettings(settings)


async def start(store: Store, file: Settings) -> LiveSettings:
    """At the controller's start: the managed settings seeded from the file if the database has
    none yet, then read from it. SettingsError when the database's do not hold with the file's
    other sections."""
    seeded = await settings_store.seed(store, documents(file))
    managed = await settings_store.load(store)
    assert managed is not None
    live = LiveSettings(file)
    try:
        live.take(managed)
    except InvalidSettings as error:
        raise SettingsError(
            f"the database's managed settings (revision {managed.revision}): {error}"
        ) from None
    if seeded:
        log.info("settings: agents, queues, company settings and rules seeded from the file (revision 1)")
    elif documents(file) != managed.documents():
        log.warning(
            "settings: the file's agents, queues, company settings or rules differ from the database's "
            "(revision %d), which are in force; `ari-recorder settings import FILE` takes the file's",
            managed.revision,
        )
    return live
