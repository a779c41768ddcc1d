"""Whether the controller is alive and ready, for /healthz and /readyz (api/server.py).

Ready: the ARI event WebSocket is open, the database answers, and the controller has a role
(leader, or standby: a standby is ready to take over, which is what it is for). The role is set by
whoever decides it: with one controller per database, `leader` from the start; leadership
(another change) sets `standby` and `leader` as it goes. Each check says what is wrong, so that the
503's body names it.
"""

from __future__ import annotations

import asyncio
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ari_recorder import metrics
from ari_recorder.storage.recordings import kept_unencrypted
from ari_recorder.storage.store import Store

DATABASE_TIMEOUT = 2.0  # seconds: a database slower than this to say 1 is not ready


class Role(enum.StrEnum):
    LEADER = "leader"  # handling the calls
    STANDBY = "standby"  # connected and waiting to take over
    NONE = "none"  # neither (yet): starting, or lost its leadership and not yet standing by


class Connected(Protocol):
    @property
    def connected(self) -> bool: ...


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass
class Health:
    store: Store
    stream: Connected | None = None  # the leader's ARI event stream (engine/terms.py)
    role: Role = field(default=Role.NONE)
    # No age recipient, by delivery.keep_unencrypted: said in /readyz (ready all the same).
    keeps_unencrypted: bool = False

    def __post_init__(self) -> None:
        self.set_role(self.role)

    def set_role(self, role: Role) -> None:
        self.role = role
        metrics.LEADER.set(1 if role is Role.LEADER else 0)

    async def readiness(self) -> dict[str, Check]:
        """Each check by name (ari, database, role), in that order."""
        ari = (
            Check(True, "the event WebSocket is open")
            if self.stream is not None and self.stream.connected
            else Check(True, "standby: the leader holds the event WebSocket")
            if self.role is Role.STANDBY
            else Check(
                False, "the ARI event WebSocket is not connected (Asterisk down, unreachable, or refusing)"
            )
        )
        role = Check(self.role is not Role.NONE, f"the controller is {self.role.value}")
        return {"ari": ari, "database": await database_check(self.store), "role": role}


async def unencrypted(store: Store) -> dict[str, Any]:
    """/readyz's account of recordings left unencrypted in Asterisk, by delivery.keep_unencrypted."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            count: int | None = await kept_unencrypted(store)
    except Exception:  # the database check says what is wrong with it
        count = None
    return {
        "recordings": count,
        "detail": "no age recipient, delivery.keep_unencrypted = true: finished recordings are left "
        "unencrypted in Asterisk, each marked in the database (recordings.kept_unencrypted)",
    }


async def database_check(store: Store) -> Check:
    """A trivial query; and for SQLite, the file still there and writable (an open connection
    goes on answering from a file deleted under it, while every write is lost)."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            await store.ping()
    except TimeoutError:
        return Check(False, f"the database did not answer within {DATABASE_TIMEOUT:g} s")
    except Exception as error:  # whatever the driver raises: the database is not there
        return Check(False, f"the database does not answer: {type(error).__name__}: {_first_line(error)}")
    if (database := store.sqlite_file) is not None:
        wrong = await asyncio.to_thread(_sqlite_file, database)
        if wrong is not None:
            return Check(False, wrong)
    return Check(True, "the database answers")


def _sqlite_file(path: Path) -> str | None:
    if not path.is_file():
        return f"the SQLite file {path} is gone"
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return f"the SQLite file {path} or its directory is not writable"
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else ""
