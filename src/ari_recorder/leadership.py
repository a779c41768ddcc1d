"""Which controller takes the calls: one at a time per application name (the leader), others
waiting on standby.

Asterisk gives an application's events to one WebSocket: a second socket connecting for the same
name replaces the first (`ApplicationReplaced`), so two controllers cannot both listen under one
name. Active-standby was chosen over active-active with `StasisBroadcast()`: with one name, the
dialplan (`Stasis(ari-recorder,...)` and its retry while no application is connected) and
Asterisk need nothing new, and a call's events all reach the one controller that holds its
state. StasisBroadcast would need an application name per controller, every dialplan entry
changed to broadcast and claim, and each call's later events kept with the controller that
claimed it; a controller's death would still leave its calls to be adopted by another one.

On PostgreSQL the leader is the process holding a session-level advisory lock (a key derived
from the schema and the application name) on a connection of its own: the lock goes with the
session, so a process that dies (SIGKILL, a crashed host, its connection cut) gives it up at
once and a standby, asking every `poll` seconds, takes it. A leader that cannot reach its
session (a database restart, a network cut) stops acting at once: the server may give the lock
to another controller as soon as it sees the session gone. The server is told to declare a
silent session dead only after about ten seconds (TCP keepalives), far longer than the leader
takes to notice and step down (a heartbeat every `poll` seconds, answered within two). A leader
that hands over (SIGTERM) unlocks and sends a NOTIFY, so the standby does not wait for its poll.

SQLite is single-process: an exclusive lock on `<database>.lock` (flock, held for the life of
the process and released by the kernel when it ends) refuses a second controller on the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from ari_recorder import errors
from ari_recorder.files import private_dir

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


class AlreadyRunning(errors.Conflict):
    """Another controller uses this SQLite database: SQLite is one process's."""

    id = "already-running"


class Leadership(Protocol):
    async def acquire(self) -> None:
        """Return once this process is the leader."""

    async def lost(self) -> str:
        """Return, with why, once this process can no longer be sure it is the leader."""

    async def release(self) -> None:
        """Hand leadership over now (a standby takes it at once)."""

    async def aclose(self) -> None: ...


def lock_key(app: str, schema: str = "") -> int:
    """The advisory lock's key: one per application name (and schema: deployments sharing a
    PostgreSQL in schemas of their own do not wait on each other)."""
    digest = hashlib.sha256(f"ari-recorder\0{schema}\0{app}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def leadership(
    url: str, schema: str, app: str, poll: float = POLL_SECONDS
) -> AsyncIterator[Leadership]:
    """The leadership for the database at `url`; AlreadyRunning for a SQLite file in use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        held: Leadership = AdvisoryLock(url, lock_key(app, schema), poll)
    else:
        held = SoleProcess(parsed.database)
    try:
        yield held
    finally:
        await held.aclose()


class SoleProcess:
    """SQLite: the leader from the start, for as long as the process lives."""

    def __init__(self, database: str | None) -> None:
        self._file: int | None = None
        self._forever = asyncio.Event()
        if database in (None, "", ":memory:"):
            return
        path = Path(f"{database}.lock")
        private_dir(path.parent)  # the database's directory: 0700, as the store makes it
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise AlreadyRunning(
                f"another controller is running on {database} (it holds {path}): SQLite is for "
                "one controller; use PostgreSQL for a standby"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{socket.gethostname()}:{os.getpid()}\n".encode())
        self._file = descriptor

    async def acquire(self) -> None:
        return

    async def lost(self) -> str:
        await self._forever.wait()
        return "never"

    async def release(self) -> None:
        return

    async def aclose(self) -> None:
        if self._file is not None:
            os.close(self._file)  # the lock goes with it
            self._file = None


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
        parsed = make_url(url).set(drivername="postgresql")
        self._dsn = parsed.render_as_string(hide_password=False)
        self._where = parsed.render_as_string(hide_password=True)
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
