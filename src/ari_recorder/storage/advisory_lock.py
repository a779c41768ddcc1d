"""PostgreSQL's session-level advisory lock that makes a controller the leader (leadership.py
says why and how it is used): taken on a connection of its own, heartbeats on it, handed over
with a NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]

from ari_recorder.storage.store import libpq_dsn, where

log = logging.getLogger("ari_recorder.leadership")
POLL_SECONDS = 0.5
CHANNEL = "ari_recorder_leadership"  # the NOTIFY a leader sends when it hands over
# The server declares a silent session (and its lock) dead only after idle + interval * count
# seconds of silence: long after a leader that cannot reach it has stepped down.
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


class _Connection(Protocol):
    """What is used of an asyncpg connection."""

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...
    async def add_listener(self, channel: str, callback: Any) -> None: ...
    def add_termination_listener(self, callback: Any) -> None: ...
    def is_closed(self) -> bool: ...
    def terminate(self) -> None: ...
    async def close(self, *, timeout: float | None = None) -> None: ...


class AdvisoryLock:
    """PostgreSQL: `pg_try_advisory_lock(key)` every `poll` seconds until held, on a connection
    used for nothing else."""

    def __init__(self, url: str, key: int, poll: float = POLL_SECONDS) -> None:
        self._dsn, self._where = libpq_dsn(url), where(url)
        self.key = key
        self.poll = poll
        self.who = f"ari-recorder {socket.gethostname()[:40]}:{os.getpid()}"
        self._connection: _Connection | None = None
        self._nudged = asyncio.Event()  # a NOTIFY: the leader handed over
        self._gone = asyncio.Event()  # the lock's connection closed
        self.leading = False

    async def _connect(self) -> _Connection:
        connection: _Connection = await asyncpg.connect(
            self._dsn,
            timeout=5,
            server_settings={"application_name": self.who[:63], **KEEPALIVES},
        )
        self._gone.clear()
        connection.add_termination_listener(lambda _: self._gone.set())
        await connection.add_listener(CHANNEL, lambda *_: self._nudged.set())
        return connection

    async def acquire(self) -> None:
        said = ""
        while True:
            self._nudged.clear()
            try:
                if self._connection is None or self._connection.is_closed():
                    self._connection = await self._connect()
                if await self._connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", self.key, timeout=2 * self.poll + 1
                ):
                    self.leading = True
                    log.info("leadership: leader (advisory lock %d held by %s)", self.key, self.who)
                    return
                now = f"standby: another controller is the leader ({await self._holder()})"
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                self._drop()
                now = f"standby: the database at {self._where} is not reachable ({type(error).__name__})"
            if now != said:
                log.info("leadership: %s; asking every %g s", now, self.poll)
                said = now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._nudged.wait()

    async def _holder(self) -> str:
        """Who holds the lock (its application_name), for the log."""
        assert self._connection is not None
        holder = await self._connection.fetchval(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = $1 AND l.objid::bigint = $2",
            (self.key >> 32) & 0xFFFFFFFF,
            self.key & 0xFFFFFFFF,
            timeout=2 * self.poll + 1,
        )
        return str(holder) if holder else "unknown"

    async def lost(self) -> str:
        """Heartbeats on the lock's session; why it ended."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._gone.wait()
            connection = self._connection
            if connection is None or connection.is_closed() or self._gone.is_set():
                why = "the connection holding the lock closed"
                break
            try:
                await connection.fetchval("SELECT 1", timeout=2 * self.poll + 1)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                why = f"the database did not answer ({type(error).__name__})"
                break
        self.leading = False
        self._drop()
        return why

    async def release(self) -> None:
        connection, self.leading = self._connection, False
        if connection is None or connection.is_closed():
            return
        try:
            await connection.fetchval("SELECT pg_advisory_unlock($1)", self.key, timeout=2)
            await connection.execute(f"NOTIFY {CHANNEL}", timeout=2)
            log.info("leadership: handed over (advisory lock %d released)", self.key)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            log.warning("leadership: could not release the lock (%s): it goes with the connection", error)
            self._drop()

    def _drop(self) -> None:
        """Close the session at once: the server gives up its lock as soon as it sees it closed."""
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await connection.close(timeout=2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                connection.terminate()
