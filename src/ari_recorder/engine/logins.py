"""Where agents are logged in, as the engine dials and maps phones: a cache of storage/logins.py
refreshed every second (every controller sharing the database sees a login within about a
second), and at once by this controller's own API. Until the first refresh: the settings'
default endpoints, which the store's seed logged in at first start."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ari_recorder import errors
from ari_recorder.domain.devices import endpoint_problem, on_endpoint
from ari_recorder.settings import Settings
from ari_recorder.storage import logins
from ari_recorder.storage.store import Store, database_error

log = logging.getLogger("ari_recorder.engine")
REFRESH_SECONDS = 1.0


class BadEndpoint(errors.Unprocessable):
    """An endpoint no agent's device can be (PJSIP/<name>, Local/<ext>@<context>...)."""

    id = "bad-endpoint"


def checked(endpoint: str) -> str:
    """`endpoint`, or BadEndpoint naming the field and what it should look like."""
    problem = endpoint_problem(endpoint)
    if problem is not None:
        raise BadEndpoint(f"endpoint: {problem}", {"field": "endpoint"})
    return endpoint


class Logins:
    def __init__(self, store: Store, settings: Settings, every: float = REFRESH_SECONDS) -> None:
        self.store, self.every = store, every
        self._where = {agent: set_up.endpoint for agent, set_up in settings.agents.items() if set_up.endpoint}

    def where(self, agent: str) -> str | None:
        """The endpoint `agent` is logged in on; None: nowhere."""
        return self._where.get(agent)

    def on(self, channel_name: str) -> str | None:
        """The agent logged in on the endpoint a channel is on (PJSIP/2041-00000005: PJSIP/2041's)."""
        return next((a for a, e in self._where.items() if on_endpoint(channel_name, e)), None)

    def moved(self, moved: logins.Moved) -> None:
        """This controller's own change, seen at once."""
        if moved.displaced is not None:
            self._where.pop(moved.displaced, None)
        if moved.after is None:
            self._where.pop(moved.agent, None)
        else:
            self._where[moved.agent] = moved.after

    async def log_in(self, agent: str, endpoint: str, by: str) -> logins.Moved:
        """`agent` logged in on `endpoint`; whoever was there logged out (both audited)."""
        moved = await logins.login(self.store, agent, checked(endpoint), by=by)
        self.moved(moved)
        _told(moved, by)
        return moved

    async def log_out(self, agent: str, by: str) -> logins.Moved:
        moved = await logins.logout(self.store, agent, by=by)
        self.moved(moved)
        _told(moved, by)
        return moved

    async def refresh(self) -> None:
        found = await logins.logins(self.store)
        self._where = {agent: login.endpoint for agent, login in found.items() if login.endpoint}

    async def run(self) -> None:
        """Refresh every `every` seconds until cancelled; a failed read keeps the last known."""
        while True:
            reading = asyncio.ensure_future(self.refresh())
            try:
                await asyncio.shield(reading)
            except asyncio.CancelledError:
                # A read cut mid-query would leave its connection out of the pool (and the
                # store closing after it): the read ends first, at most one query later.
                with contextlib.suppress(Exception):
                    await reading
                raise
            except Exception as error:  # the database down a while: dial where agents were
                log.warning("logins: not refreshed (%s)", database_error(error) or error)
            await asyncio.sleep(self.every)


def _told(moved: logins.Moved, by: str) -> None:
    if moved.displaced is not None:
        log.info(
            'agent=%s action=logout endpoint=%s by=%s why="displaced by %s"',
            moved.displaced,
            moved.after,
            by,
            moved.agent,
        )
    action = "login" if moved.after is not None else "logout"
    log.info(
        "agent=%s action=%s before=%s after=%s by=%s", moved.agent, action, moved.before, moved.after, by
    )
