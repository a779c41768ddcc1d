"""The store: the database's connection, its migrations, the logins the settings seed; the
repositories beside it (calls, recordings, deliveries, chats, audit, tokens, retention, the
managed settings) take it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker, create_async_engine

from ari_recorder import errors
from ari_recorder.domain.call import Call
from ari_recorder.files import private_dir, private_file
from ari_recorder.storage import audit, calls, logins, recordings
from ari_recorder.storage.recordings import RecordingState
from ari_recorder.storage.tables import AuditRow, RecordingRow, SegmentRow

if TYPE_CHECKING:  # the settings hold the delivery section, whose package needs the store
    from ari_recorder.settings import Settings

log = logging.getLogger("ari_recorder.storage")
MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, _: Any) -> None:
        # WAL with synchronous=NORMAL: a commit no longer waits for the disk each time (a crash
        # of the machine may lose the last commits, never corrupt the file), and readers never
        # wait for the writer; a writer waits busy_timeout for another process's (the CLI's);
        # foreign keys enforced, as PostgreSQL does.
        cursor = dbapi_connection.cursor()
        pragmas = (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={busy_timeout_ms}",
        )
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return pragmas


class StoreClosed(RuntimeError):
    """The store was closed (`Store.aclose`): a session asked for after it would open a
    connection in a pool nobody closes any more, left to the garbage collector (aiosqlite's
    "Connection.__del__" warning, surfacing in whatever runs then)."""


class StoreBusy(errors.Unavailable):
    """A write that could not begin in time: the store is busy (answered 503, asked again)."""

    id = "store-busy"


_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar("writing", default=False)


class Sessions:
    """`sessions()` a session to read with; `sessions.begin()` a transaction to write in. SQLite
    has one writer at a time: this process's write transactions take their turn here (in order,
    without a thread blocked in SQLite's busy handler meanwhile), so that none fails with
    `database is locked` because others held the lock across their awaits. A turn not come within
    `wait` seconds is StoreBusy. PostgreSQL's writers need no turn."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], serialize: bool, wait: float) -> None:
        self.maker, self.wait = maker, wait
        self._turn = asyncio.Lock() if serialize else None
        self.closed = False  # Store.aclose: no session after it

    def open(self) -> None:
        if self.closed:
            raise StoreClosed("the store is closed: no session after Store.aclose()")

    def __call__(self) -> AsyncSession:
        self.open()
        return self.maker()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        self.open()
        if self._turn is None or _WRITING.get():  # a write within a write keeps the turn it has
            async with self.maker.begin() as session:
                yield session
            return
        try:
            async with asyncio.timeout(self.wait):
                await self._turn.acquire()
        except TimeoutError:
            raise StoreBusy(f"no turn to write within {self.wait:g} s") from None
        token = _WRITING.set(True)
        try:
            async with self.maker.begin() as session:
                yield session
        finally:
            _WRITING.reset(token)
            self._turn.release()


def upgrade(connection: Connection, revision: str = "head") -> None:
    """The schema brought up to `revision` on `connection` (the tests stop at an earlier one)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Store:
    def __init__(self, url: str, schema: str | None = None, busy_timeout_ms: int = 5000) -> None:
        """`schema` (PostgreSQL): every table, alembic's too, lives there; created when missing.
        `busy_timeout_ms` (SQLite): how long a write waits for another writer, at most."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # Customer numbers and the audit trail: the owner's only. SQLite gives the -wal and
            # -shm files it creates the database file's mode.
            database = Path(parsed.database)
            private_dir(database.parent)
            private_file(database)
            for companion in ("-wal", "-shm", "-journal"):
                if (sidecar := database.with_name(database.name + companion)).exists():
                    private_file(sidecar)
        self.schema = schema
        # No age recipient, by delivery.keep_unencrypted: each finished recording marked so.
        self.keeps_unencrypted = False
        connect_args: dict[str, Any] = {}
        if schema is not None:
            if parsed.get_backend_name() != "postgresql":
                raise ValueError(f"a schema needs PostgreSQL, not {parsed.get_backend_name()}")
            connect_args["server_settings"] = {"search_path": schema}
        self.engine = create_async_engine(url, connect_args=connect_args)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        sqlite = parsed.get_backend_name() == "sqlite"
        maker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.sessions = Sessions(maker, serialize=sqlite, wait=max(1.0, 2 * busy_timeout_ms / 1000))

    async def migrate(self) -> None:
        self.sessions.open()
        async with self.engine.begin() as connection:
            await self.one_at_a_time(connection)
            if self.schema is not None:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await connection.run_sync(upgrade)

    async def aclose(self) -> None:
        """Every connection closed; the store is not used after (StoreClosed). Close what uses
        the store first: a connection still checked out now goes back to the pool disposed of,
        which nobody closes."""
        self.sessions.closed = True
        await self.engine.dispose()

    async def one_at_a_time(self, connection: AsyncConnection) -> None:
        """PostgreSQL: controllers starting together migrate and seed one after the other (a
        lock held until the transaction ends)."""
        if self.backend == "postgresql":
            key = int.from_bytes(hashlib.sha256(b"ari-recorder\0schema").digest()[:8], "big", signed=True)
            await connection.execute(select(func.pg_advisory_xact_lock(key)))

    async def seed(self, settings: Settings) -> None:
        """At first start, each agent logged in on its default device (`settings`: the managed
        settings in force; storage/settings_store.py seeds those from the file)."""
        async with self.sessions.begin() as session:
            await self.one_at_a_time(await session.connection())
            defaults = {agent_id: agent.endpoint for agent_id, agent in settings.agents.items()}
            for agent_id in await logins.seed(session, defaults):
                log.warning(
                    'agent=%s action=seed-login-skipped why="its endpoint holds another agent"', agent_id
                )

    async def save_call(self, call: Call) -> None:
        await calls.save_calls(self, [call])

    async def save_calls(self, saved: list[Call]) -> None:
        """Several calls' states in one transaction (the persister batches them under load)."""
        await calls.save_calls(self, saved)

    async def open_calls(self) -> list[Call]:
        """Calls a previous controller did not see to their end (or whose recordings had not
        finished), as it left them: to be resumed and reconciled with Asterisk."""
        return await calls.open_calls(self)

    async def recordings(self, state: RecordingState | str | None = None) -> list[RecordingRow]:
        return await recordings.listed(self, state)

    async def audit(self, subject: str | None = None) -> list[AuditRow]:
        """The audit trail, oldest first (of one subject: a recording, "agent/1001"...)."""
        return await audit.trail(self, subject)

    async def segments(self, interaction: str) -> list[SegmentRow]:
        async with self.sessions() as session:
            query = (
                select(SegmentRow).where(SegmentRow.interaction_id == interaction).order_by(SegmentRow.number)
            )
            return list((await session.scalars(query)).all())

    async def ping(self) -> None:
        """A trivial query (the readiness check)."""
        self.sessions.open()
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    @property
    def backend(self) -> str:
        """sqlite or postgresql."""
        return self.engine.dialect.name

    @property
    def sqlite_file(self) -> Path | None:
        """SQLite: the database's file (None in memory)."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database or "")


def where(url: str) -> str:
    """The database's address for messages, without its password."""
    return make_url(url).render_as_string(hide_password=True)


def libpq_dsn(url: str) -> str:
    """A PostgreSQL URL as the driver's own connections take it (no SQLAlchemy dialect)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def backend_of(url: str) -> tuple[str, str | None]:
    """The database's kind (sqlite, postgresql) and its database (SQLite: the file)."""
    parsed = make_url(url)
    return parsed.get_backend_name(), parsed.database


def database_error(error: BaseException) -> str | None:
    """The driver's words for a database failure; None when `error` is not one."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        return str(error.orig)
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        return type(error).__name__
    return None


def is_busy(error: BaseException) -> bool:
    """Whether `error` is the store being too busy to write now (SQLite's lock still held after
    the busy timeout, PostgreSQL's deadlock or serialization failure, the connection pool
    exhausted): worth asking again, not a fault."""
    if isinstance(error, StoreBusy | sqlalchemy.exc.TimeoutError):  # TimeoutError: the pool's
        return True
    if not isinstance(error, sqlalchemy.exc.DBAPIError):
        return False
    text = str(error.orig).lower()
    return any(
        words in text
        for words in (
            "database is locked",
            "database table is locked",
            "deadlock detected",
            "could not serialize",
        )
    )
