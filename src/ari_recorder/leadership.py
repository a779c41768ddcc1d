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
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from ari_recorder import errors
from ari_recorder.files import private_dir
from ari_recorder.storage.advisory_lock import POLL_SECONDS, AdvisoryLock
from ari_recorder.storage.store import backend_of


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
    backend, database = backend_of(url)
    if backend == "postgresql":
        held: Leadership = AdvisoryLock(url, lock_key(app, schema), poll)
    else:
        held = SoleProcess(database)
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
