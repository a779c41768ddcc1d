"""The store: migrations, the settings the file seeds, and each call's lasting state.

A call is written after every step, before its actions are carried out, so that a restarted
controller knows what was its own (the ids are deterministic) and what was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker, create_async_engine

from ari_recorder import errors
from ari_recorder.domain.call import Call, Phase, Segment, legs
from ari_recorder.domain.pausing import Pause
from ari_recorder.domain.policy import RecordSide
from ari_recorder.files import private_dir, private_file
from ari_recorder.metrics import UNENCRYPTED
from ari_recorder.storage.tables import (
    AgentRow,
    AttachedDataRow,
    AuditRow,
    CompanySettingRow,
    InteractionRow,
    QueueRow,
    RecordingRow,
    SegmentRow,
)

if TYPE_CHECKING:  # the settings hold the delivery section, whose package needs the store
    from ari_recorder.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
UNRECORDED = "unrecorded"  # a recording's state: selected, never started in Asterisk


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

    def __call__(self) -> AsyncSession:
        return self.maker()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
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


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


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
        async with self.engine.begin() as connection:
            await self._one_at_a_time(connection)
            if self.schema is not None:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await connection.run_sync(_upgrade)

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def _one_at_a_time(self, connection: AsyncConnection) -> None:
        """PostgreSQL: controllers starting together migrate and seed one after the other (a
        lock held until the transaction ends)."""
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(b"ari-recorder\0schema").digest()[:8], "big", signed=True)
            await connection.execute(select(func.pg_advisory_xact_lock(key)))

    async def seed(self, settings: Settings) -> None:
        """Agents, queues and company settings from the file (the admin API edits them later)."""
        async with self.sessions.begin() as session:
            await self._one_at_a_time(await session.connection())
            for agent_id, agent in settings.agents.items():
                await session.merge(
                    AgentRow(
                        id=agent_id,
                        endpoint=agent.endpoint,
                        permit_recordings=agent.permit_recordings,
                        record_percent=agent.record_percent,
                    )
                )
            for queue_id, queue in settings.queues.items():
                await session.merge(QueueRow(id=queue_id, settings=_plain(queue)))
            for key, value in _plain(settings.company).items():
                await session.merge(CompanySettingRow(key=key, value=value))

    async def save_call(self, call: Call) -> None:
        await self.save_calls([call])

    async def save_calls(self, calls: list[Call]) -> None:
        """Several calls' states in one transaction (the persister batches them under load)."""
        now = datetime.now(UTC)
        async with self.sessions.begin() as session:
            for call in calls:
                await self._save_call(session, call, now)

    async def _save_call(self, session: AsyncSession, call: Call, now: datetime) -> None:
        row = await session.get(InteractionRow, call.id)
        new = row is None
        if row is None:
            row = InteractionRow(
                id=call.id,
                direction=call.interaction.direction.value,
                queue=call.interaction.queue,
                customer_channel=call.customer,
                phase=call.phase.value,
                started_at=now,
            )
            session.add(row)
        row.phase = call.phase.value
        row.state = msgspec.to_builtins(call)
        if call.announced is not None and row.announcement != call.announced:
            row.announcement = call.announced
            if call.announced != "played":
                await _audit_once(
                    session,
                    f"announcement/{call.id}/failed",
                    "announcement-failed",
                    call.id,
                    {
                        "call": call.id,
                        "announcement": call.announcement,
                        "why": call.announced,
                        "then": call.on_announcement_failure,
                    },
                    now,
                )
        if call.phase is Phase.ENDED and row.ended_at is None:
            row.ended_at = now
        await session.flush()  # the interaction first: the other rows refer to it
        if new:
            for key, value in call.interaction.metadata.items():
                session.add(AttachedDataRow(interaction_id=call.id, key=key, value=value))
        for segment in call.segments:
            await self._save_segment(session, call, segment, now)
        for pause in call.pauses:
            await _audit_pause(session, call, pause)
        for limit in call.pause_limits:
            facts = {
                "call": call.id,
                "segment": limit.segment,
                "agent": limit.agent,
                "by": limit.by,
                "source": limit.source.value,
                "at": _when(limit.at),
                "max_pauses_per_segment": limit.limit,
            }
            key = f"pause/{call.id}/{limit.segment}/limit"
            await _audit_once(session, key, "pause-refused", limit.recording, facts, now)

    async def _save_segment(self, session: AsyncSession, call: Call, segment: Segment, now: datetime) -> None:
        if await session.get(SegmentRow, (call.id, segment.number)) is None:
            levels = segment.decision.levels_json()
            session.add(
                SegmentRow(
                    interaction_id=call.id,
                    number=segment.number,
                    agent=segment.agent,
                    channel=segment.channel,
                    recorded=segment.recording is not None,
                    levels=levels,
                    reason=segment.decision.reason,
                    recording=segment.recording,
                    started_at=now,
                )
            )
        if segment.recording is None:
            return
        recording = await session.get(RecordingRow, segment.recording)
        if recording is None:
            side = call.queue.record_side if call.queue else RecordSide.AGENT
            recording = RecordingRow(
                name=segment.recording,
                interaction_id=call.id,
                segment=segment.number,
                side=side.value,
                channels=call.channels,
                state="recording",
                levels=segment.decision.levels_json(),
                started_at=now,
            )
            session.add(recording)
        pauses = [pause_json(p) for p in call.pauses if p.recording == segment.recording]
        if recording.pauses != pauses:
            recording.pauses = pauses
        began = dict(call.began).get(legs(segment.recording, call.channels)[0])
        if began is not None and segment.answered is not None and recording.start_offset_seconds is None:
            recording.start_offset_seconds = round(max(0.0, began - segment.answered), 3)
        window = call.window(segment.recording)
        first = next((s for s in call.segments if s.recording == segment.recording), segment)
        if window is not None and first.answered is not None and recording.connected_seconds is None:
            recording.connected_seconds = round(max(0.0, window.ended - first.answered), 3)
            recording.connected_seen = window.seen
        failure = call.failure(segment.recording)
        if failure is not None and recording.failure is None:
            recording.failure = failure
            if recording.state == "recording":
                recording.state, recording.finished_at = UNRECORDED, now
            facts = {
                "call": call.id,
                "segment": segment.number,
                "agent": segment.agent,
                "why": failure,
                "then": call.on_record_failure,
            }
            await _audit_once(
                session,
                f"recording/{segment.recording}/not-recorded",
                "not-recorded",
                segment.recording,
                facts,
                now,
            )
        if failure is not None:
            return
        still = set(legs(segment.recording, call.channels)) & call.recordings_open
        if not still and recording.state == "recording" and window is not None:
            # Finished in Asterisk, and its segment over (a file that ended before its segment did
            # waits for that end, so that the proof of recording can hold it against the
            # segment): ready for the delivery stage to fetch.
            recording.state, recording.finished_at = "ready", now
            if self.keeps_unencrypted:
                recording.kept_unencrypted = True
                UNENCRYPTED.inc()

    async def open_calls(self) -> list[Call]:
        """Calls a previous controller did not see to their end (or whose recordings had not
        finished), as it left them: to be resumed and reconciled with Asterisk."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(select(InteractionRow).where(InteractionRow.state.is_not(None)))
            ).all()
        calls = [msgspec.convert(row.state, Call) for row in rows]
        return [call for call in calls if call.phase is not Phase.ENDED or call.recordings_open]

    async def recordings(self, state: str | None = None) -> list[RecordingRow]:
        async with self.sessions() as session:
            query = select(RecordingRow).order_by(RecordingRow.name)
            if state is not None:
                query = query.where(RecordingRow.state == state)
            return list((await session.scalars(query)).all())

    async def audit(self, subject: str | None = None) -> list[AuditRow]:
        """The audit trail, oldest first (of one subject: a recording, "agent/1001"...)."""
        async with self.sessions() as session:
            query = select(AuditRow).order_by(AuditRow.at, AuditRow.id)
            if subject is not None:
                query = query.where(AuditRow.subject == subject)
            return list((await session.scalars(query)).all())

    async def segments(self, interaction: str) -> list[SegmentRow]:
        async with self.sessions() as session:
            query = (
                select(SegmentRow).where(SegmentRow.interaction_id == interaction).order_by(SegmentRow.number)
            )
            return list((await session.scalars(query)).all())


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def pause_json(pause: Pause) -> dict[str, Any]:
    """One pause as the recording's metadata gives it."""
    return {
        "number": pause.number,
        "segment": pause.segment,
        "agent": pause.agent,
        "by": pause.by,
        "source": pause.source.value,
        "behavior": pause.behavior,
        "started_at": _when(pause.started),
        "offset_seconds": None if pause.offset is None else round(pause.offset, 3),
        "ended_at": _when(pause.ended),
        "seconds": None if pause.ended is None else round(pause.ended - pause.started, 3),
        "ended_by": pause.ending.value if pause.ending else None,
        "resumed_by": pause.closed_by,
    }


async def _audit_pause(session: AsyncSession, call: Call, pause: Pause) -> None:
    """A pause's start and end in the audit trail, each written once however often the call is."""
    facts = {"call": call.id, **pause_json(pause)}
    entries = [(f"pause/{call.id}/{pause.number}/start", pause.by, "pause", pause.started)]
    if pause.ended is not None:
        actor = pause.closed_by or "controller"
        entries.append((f"pause/{call.id}/{pause.number}/end", actor, "pause-ended", pause.ended))
    for key, actor, action, at in entries:
        if await session.get(AuditRow, key) is None:
            when = datetime.fromtimestamp(at, UTC)
            session.add(
                AuditRow(id=key, at=when, actor=actor, action=action, subject=pause.recording, detail=facts)
            )


async def _audit_once(
    session: AsyncSession, key: str, action: str, subject: str, detail: dict[str, Any], now: datetime
) -> None:
    """A fact the controller states in the audit trail, once however often the call is written."""
    if await session.get(AuditRow, key) is None:
        session.add(
            AuditRow(id=key, at=now, actor="controller", action=action, subject=subject, detail=detail)
        )


def _plain(struct: object) -> dict[str, object]:
    value = msgspec.to_builtins(struct)
    assert isinstance(value, dict)
    return value


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
