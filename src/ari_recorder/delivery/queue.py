"""The delivery queue in the database: claims with leases, and every state change of a row.

Each change is a compare-and-set on (state, worker, lease): a worker that lost its claim (it
stalled past the lease and another took the row) changes nothing. On PostgreSQL the claim's
SELECT also takes `FOR UPDATE SKIP LOCKED`, so that processes on several machines pick different
rows without waiting on each other; on SQLite one process claims, one claim at a time.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.storage.store import UNRECORDED, Store
from ari_recorder.storage.tables import (
    AttachedDataRow,
    AuditRow,
    DeliveryRow,
    InteractionRow,
    RecordingRow,
    SegmentRow,
)

Clock = Callable[[], datetime]


class State(enum.StrEnum):
    FETCHING = "fetching"  # the recording is still in Asterisk (claimed, or waiting to try again)
    PENDING = "pending"  # encrypted in the spool, waiting for an upload
    UPLOADING = "uploading"
    DONE = "done"
    DEAD = "dead"


class Kind(enum.StrEnum):
    AUDIO = "audio"
    TRANSCRIPT = "transcript"  # a webchat segment's: written into the spool when the chat is reported
    METADATA = "metadata"


# RecordingRow.state after "ready" (storage/store.py sets recording -> ready).
SPOOLED = "spooled"  # encrypted copy safe in the spool; the copy in Asterisk still to delete
FETCHED = "fetched"  # deleted in Asterisk
WRITTEN = "written"  # a chat's transcript: in the spool from the start, nothing in Asterisk
REPORTED = "reported"  # never recorded (unrecorded): its sidecar saying so is queued


def delivery_id(recording: str, kind: Kind) -> str:
    return f"{recording}/{kind.value}"


def utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every one stored here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Facts:
    """What the database knows about a recording: its metadata and what its name is built from."""

    recording: str
    interaction: str
    segment: int
    side: str
    agent: str
    queue: str | None
    direction: str
    levels: list[dict[str, str]]
    reason: str
    attached: dict[str, str]
    started_at: datetime
    finished_at: datetime | None
    pauses: list[dict[str, Any]] = field(default_factory=list)  # the pause timeline
    channels: int = 1  # 2: held in Asterisk as one recording per party, merged on fetching
    start_offset: float | None = None  # seconds from the answer to the recording's start
    failure: str | None = None  # selected, not recorded: why
    announcement: str | None = None  # "played", or why the notice was not (None: none played)
    connected_seconds: float | None = None  # the time the file should cover (before skip pauses)
    connected_seen: bool | None = None  # False: that time's end was learned by reconciliation


@dataclass(frozen=True)
class Spooled:
    """A file safe in the spool, to be recorded in its row."""

    kind: Kind
    remote_path: str
    spool_path: str
    size: int
    sha256: str


class DeliveryQueue:
    def __init__(self, store: Store, worker: str, clock: Clock, lease: timedelta) -> None:
        self.store, self.worker, self.clock, self.lease = store, worker, clock, lease
        self.postgres = store.engine.dialect.name == "postgresql"
        # SQLite: one process, and its claims one at a time (it has no row locks to skip).
        self._claiming = asyncio.Lock() if not self.postgres else None

    # ----- fetching -----
    async def fetchable(self, limit: int = 50) -> list[str]:
        """Ready recordings with no row yet, or whose fetch is due again."""
        now = self.clock()
        blocking = exists().where(
            DeliveryRow.recording == RecordingRow.name,
            ~((DeliveryRow.state == State.FETCHING) & (DeliveryRow.next_attempt_at <= now)),
        )
        query = (
            select(RecordingRow.name)
            .where(RecordingRow.state == "ready", ~blocking)
            .order_by(RecordingRow.finished_at, RecordingRow.name)
            .limit(limit)
        )
        async with self.store.sessions() as session:
            return list((await session.scalars(query)).all())

    async def claim_fetch(self, recording: str, remote_path: str) -> DeliveryRow | None:
        """The recording's audio row, claimed for fetching (created on the first claim)."""
        now = self.clock()
        async with self.store.sessions() as session:
            finished = await session.scalar(
                select(RecordingRow.finished_at).where(RecordingRow.name == recording)
            )
        row = DeliveryRow(
            id=delivery_id(recording, Kind.AUDIO),
            recording=recording,
            kind=Kind.AUDIO.value,
            state=State.FETCHING.value,
            attempts=1,
            next_attempt_at=now + self.lease,
            remote_path=remote_path,
            worker=self.worker,
            created_at=now,
            finished_at=finished,
        )
        try:
            async with self.store.sessions.begin() as session:
                session.add(row)
            return row
        except IntegrityError:
            pass  # a row exists: take it over if its fetch is due
        return await self._claim(delivery_id(recording, Kind.AUDIO), (State.FETCHING,), State.FETCHING)

    async def spooled(
        self, recording: str, files: Sequence[Spooled], gap: dict[str, Any] | None = None
    ) -> bool:
        """The encrypted files are safe in the spool: their rows wait for an upload, and the
        recording may be deleted in Asterisk; `gap`: its proof of recording failed, audited in the
        same transaction. False when this worker had lost its claim."""
        now = self.clock()
        async with self.store.sessions.begin() as session:
            audio_id = delivery_id(recording, Kind.AUDIO)
            owned = await session.scalar(
                select(DeliveryRow)
                .where(
                    DeliveryRow.id == audio_id,
                    DeliveryRow.state == State.FETCHING,
                    DeliveryRow.worker == self.worker,
                )
                .with_for_update()
            )
            if owned is None:
                return False
            for spooled in files:
                row = owned if spooled.kind is Kind.AUDIO else None
                if row is None:
                    row = await session.get(DeliveryRow, delivery_id(recording, spooled.kind))
                if row is None:
                    row = DeliveryRow(
                        id=delivery_id(recording, spooled.kind),
                        recording=recording,
                        kind=spooled.kind.value,
                        created_at=now,
                        finished_at=owned.finished_at,
                    )
                    session.add(row)
                row.state, row.attempts, row.next_attempt_at = State.PENDING.value, 0, now
                row.remote_path, row.spool_path = spooled.remote_path, spooled.spool_path
                row.size, row.sha256, row.last_error, row.worker = spooled.size, spooled.sha256, None, None
            await session.execute(
                update(RecordingRow).where(RecordingRow.name == recording).values(state=SPOOLED)
            )
            if gap is not None:
                await _audit_gap(session, recording, gap, now)
        return True

    async def unrecorded(self, limit: int = 50) -> list[str]:
        """Selected recordings that were never made, their sidecar not yet queued."""
        query = (
            select(RecordingRow.name)
            .where(RecordingRow.state == UNRECORDED)
            .order_by(RecordingRow.name)
            .limit(limit)
        )
        async with self.store.sessions() as session:
            return list((await session.scalars(query)).all())

    async def reported(
        self, recording: str, sidecar: Spooled, finished_at: datetime, gap: dict[str, Any] | None = None
    ) -> bool:
        """A never-made recording's sidecar, safe in the spool, queued for upload (its row due
        now) in the transaction that marks it reported, with its recording gap audited. False
        when another worker did it first."""
        now = self.clock()
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                update(RecordingRow)
                .where(RecordingRow.name == recording, RecordingRow.state == UNRECORDED)
                .values(state=REPORTED)
                .execution_options(synchronize_session=False)
            )
            if int(result.rowcount) != 1:  # type: ignore[attr-defined]
                return False
            session.add(queued_row(recording, sidecar, now, finished_at))
            if gap is not None:
                await _audit_gap(session, recording, gap, now)
        return True

    async def gap(self, recording: str, detail: dict[str, Any]) -> bool:
        """A recording gap found outside a spooling (an empty file: its row dies), audited once;
        False when it was already."""
        async with self.store.sessions.begin() as session:
            return await _audit_gap(session, recording, detail, self.clock())

    async def to_delete(self) -> list[tuple[str, int]]:
        """Recordings (and their channels) safe in the spool whose copy in Asterisk is still to delete."""
        async with self.store.sessions() as session:
            query = (
                select(RecordingRow.name, RecordingRow.channels)
                .where(RecordingRow.state == SPOOLED)
                .order_by(RecordingRow.name)
            )
            return [(name, channels) for name, channels in (await session.execute(query)).all()]

    async def deleted(self, recording: str) -> None:
        async with self.store.sessions.begin() as session:
            await session.execute(
                update(RecordingRow)
                .where(RecordingRow.name == recording, RecordingRow.state == SPOOLED)
                .values(state=FETCHED)
            )

    async def facts(self, recording: str) -> Facts | None:
        async with self.store.sessions() as session:
            rec = await session.get(RecordingRow, recording)
            if rec is None:
                return None
            interaction = await session.get(InteractionRow, rec.interaction_id)
            segment = await session.get(SegmentRow, (rec.interaction_id, rec.segment))
            attached = (
                await session.scalars(
                    select(AttachedDataRow).where(AttachedDataRow.interaction_id == rec.interaction_id)
                )
            ).all()
        return Facts(
            recording=rec.name,
            interaction=rec.interaction_id,
            segment=rec.segment,
            side=rec.side,
            agent=segment.agent if segment is not None else "",
            queue=interaction.queue if interaction is not None else None,
            direction=interaction.direction if interaction is not None else "",
            levels=list(rec.levels),
            reason=segment.reason if segment is not None else "",
            attached={a.key: a.value for a in attached},
            started_at=utc(rec.started_at),
            finished_at=utc(rec.finished_at) if rec.finished_at is not None else None,
            pauses=list(rec.pauses),
            channels=rec.channels,
            start_offset=rec.start_offset_seconds,
            failure=rec.failure,
            announcement=interaction.announcement if interaction is not None else None,
            connected_seconds=rec.connected_seconds,
            connected_seen=rec.connected_seen,
        )

    # ----- uploading -----
    async def claim_upload(self) -> DeliveryRow | None:
        """The next due row, claimed for this worker (attempts counted at the claim: a worker
        that crashes on a file still uses up its attempts), or None."""
        while True:
            now = self.clock()
            query = (
                select(DeliveryRow.id)
                .where(
                    DeliveryRow.state.in_((State.PENDING, State.UPLOADING)),
                    DeliveryRow.next_attempt_at <= now,
                )
                .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
                .limit(1)
            )
            if self.postgres:
                query = query.with_for_update(skip_locked=True)
            async with self.store.sessions() as session:
                found = await session.scalar(query)
            if found is None:
                return None
            row = await self._claim(found, (State.PENDING, State.UPLOADING), State.UPLOADING)
            if row is not None:
                return row
            # Another worker took it between the SELECT and the UPDATE: look again.

    async def _claim(self, row_id: str, states: tuple[State, ...], claimed: State) -> DeliveryRow | None:
        if self._claiming is not None:
            async with self._claiming:
                return await self._claim_now(row_id, states, claimed)
        return await self._claim_now(row_id, states, claimed)

    async def _claim_now(self, row_id: str, states: tuple[State, ...], claimed: State) -> DeliveryRow | None:
        now = self.clock()
        async with self.store.sessions.begin() as session:
            if self.postgres:
                locked = await session.scalar(
                    select(DeliveryRow.id).where(DeliveryRow.id == row_id).with_for_update(skip_locked=True)
                )
                if locked is None:
                    return None
            claimed_row = await session.scalar(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == row_id,
                    DeliveryRow.state.in_(states),
                    DeliveryRow.next_attempt_at <= now,
                )
                .values(
                    state=claimed.value,
                    attempts=DeliveryRow.attempts + 1,
                    next_attempt_at=now + self.lease,
                    worker=self.worker,
                )
                .returning(DeliveryRow)
                .execution_options(synchronize_session=False)
            )
            return claimed_row

    async def renew(self, row: DeliveryRow) -> bool:
        """Extend this worker's claim on a long upload; False when it was lost."""
        return await self._change(row, State(row.state), next_attempt_at=self.clock() + self.lease)

    async def done(self, row: DeliveryRow) -> bool:
        now = self.clock()
        audit = self._audit(
            row, "delivered", now, remote_path=row.remote_path, size=row.size, sha256=row.sha256
        )
        return await self._change(
            row,
            State.UPLOADING,
            audit,
            state=State.DONE.value,
            delivered_at=now,
            last_error=None,
            next_attempt_at=now,
        )

    async def failed(self, row: DeliveryRow, error: str, retry_at: datetime | None) -> bool:
        """Back to waiting (fetching rows stay `fetching`, uploads go back to `pending`) until
        `retry_at`; dead when None."""
        if retry_at is None:
            state = State.DEAD
        else:
            state = State.FETCHING if row.state == State.FETCHING else State.PENDING
        now = self.clock()
        what = "delivery-dead" if state is State.DEAD else "delivery-failed"
        retry = retry_at.isoformat() if retry_at else None
        audit = self._audit(row, what, now, stage=stage(row), error=error[:1024], retry_at=retry)
        return await self._change(
            row,
            State(row.state),
            audit,
            state=state.value,
            last_error=error[:1024],
            next_attempt_at=retry_at or now,
        )

    def _audit(self, row: DeliveryRow, action: str, now: datetime, **detail: Any) -> AuditRow:
        """What happened to a file, for the audit trail: written in the transaction of the change it
        describes (so once). Its id is its own: after `deliveries retry` the attempts count from 1
        again, and an earlier attempt's row must stay as it was."""
        return AuditRow(
            id=_audit_id(f"delivery/{row.id}/{row.attempts}/{action}/{uuid.uuid4().hex}"),
            at=now,
            actor="controller",
            action=action,
            subject=row.recording,
            detail={
                "delivery": row.id,
                "kind": row.kind,
                "attempt": row.attempts,
                "worker": self.worker,
                **detail,
            },
        )

    async def _change(
        self, row: DeliveryRow, current: State, audit: AuditRow | None = None, **values: Any
    ) -> bool:
        """Compare-and-set on this worker's claim; the audit row only if the change was made."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == row.id,
                    DeliveryRow.state == current,
                    DeliveryRow.worker == self.worker,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            changed: int = result.rowcount  # type: ignore[attr-defined]
            if changed == 1 and audit is not None:
                session.add(audit)
        return changed == 1

    # ----- looking -----
    async def next_due(self, states: Sequence[State]) -> datetime | None:
        """When the earliest row in these states (of any process) falls due."""
        async with self.store.sessions() as session:
            found = await session.scalar(
                select(func.min(DeliveryRow.next_attempt_at)).where(DeliveryRow.state.in_(list(states)))
            )
        return utc(found) if found is not None else None

    async def counts(self) -> dict[str, int]:
        """Rows by state (the queue depth metric)."""
        return (await self.depth())[0]

    async def depth(self) -> tuple[dict[str, int], datetime | None]:
        """Rows by state (every state, 0 when none), and when the oldest row neither done nor
        dead began: its recording's end (else the row's creation). For the gauges."""
        unfinished = DeliveryRow.state.in_((State.FETCHING, State.PENDING, State.UPLOADING))
        began = func.coalesce(DeliveryRow.finished_at, DeliveryRow.created_at)
        async with self.store.sessions() as session:
            rows = (
                await session.execute(select(DeliveryRow.state, func.count()).group_by(DeliveryRow.state))
            ).all()
            oldest = await session.scalar(select(func.min(began)).where(unfinished))
        counts = {state.value: 0 for state in State}
        counts.update({state: count for state, count in rows})
        return counts, utc(oldest) if oldest is not None else None

    async def rows(self, state: State | None = None) -> list[DeliveryRow]:
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        if state is not None:
            query = query.where(DeliveryRow.state == state)
        async with self.store.sessions() as session:
            return list((await session.scalars(query)).all())

    async def retry_dead(self, ids: Sequence[str] | None = None, *, actor: str = "cli") -> int:
        """Dead rows back in the queue with fresh attempts (`ari-recorder deliveries retry`)."""
        revived, _ = await retry_dead_rows(self.store, ids, actor=actor, now=self.clock())
        return len(revived)

    async def release_own(self) -> None:
        """SQLite, at start: claims left by this process's previous run are free again at once
        (one process: no one else holds them)."""
        if self.postgres:
            return
        async with self.store.sessions.begin() as session:
            await session.execute(
                update(DeliveryRow)
                .where(or_(DeliveryRow.state == State.UPLOADING, DeliveryRow.state == State.FETCHING))
                .values(next_attempt_at=self.clock())
                .execution_options(synchronize_session=False)
            )


def stage(row: DeliveryRow) -> str:
    """Where a claimed row is: fetching from Asterisk, or uploading (for the logs and the trail)."""
    return "fetch" if row.state == State.FETCHING else "upload"


def queued_row(recording: str, spooled: Spooled, now: datetime, finished_at: datetime) -> DeliveryRow:
    """A new row for a file written straight into the spool (a transcript): due for upload now."""
    return DeliveryRow(
        id=delivery_id(recording, spooled.kind),
        recording=recording,
        kind=spooled.kind.value,
        state=State.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        remote_path=spooled.remote_path,
        spool_path=spooled.spool_path,
        size=spooled.size,
        sha256=spooled.sha256,
        created_at=now,
        finished_at=finished_at,
    )


# ----- by hand (`ari-recorder deliveries`) -----
@dataclass(frozen=True)
class Revived:
    """A dead row back in the queue."""

    id: str
    recording: str
    state: State  # where it waits again: fetching (died before the spool) or pending
    attempts: int  # the attempts it had used
    previous_error: str | None


@dataclass(frozen=True)
class NotRetried:
    """A row named that stays as it is, and why."""

    id: str
    state: str | None  # as read; None: no such row
    why: str


async def list_deliveries(store: Store, state: State | None = None, limit: int = 100) -> list[DeliveryRow]:
    """Rows, newest first."""
    query = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc()).limit(limit)
    if state is not None:
        query = query.where(DeliveryRow.state == state)
    async with store.sessions() as session:
        return list((await session.scalars(query)).all())


def stage_of_dead(row: DeliveryRow) -> State:
    """Where a dead row goes back to. A row dies in the state it was claimed in; a dead row no
    longer says which, but only rows safe in the spool have a spool path (`spooled` sets it on
    every file): without one it died fetching from Asterisk."""
    return State.PENDING if row.spool_path is not None else State.FETCHING


async def retry_dead_rows(
    store: Store, ids: Sequence[str] | None, *, actor: str, now: datetime
) -> tuple[list[Revived], list[NotRetried]]:
    """The named rows (every dead row when `ids` is None) back to waiting, due, attempts 0,
    each with its audit row in the same transaction; rows unknown or not dead are left as they
    are and returned. Only dead rows change (compare-and-set: a row that changes under us, or
    that another `retry` took first, is not touched twice)."""
    revived: list[Revived] = []
    refused: list[NotRetried] = []
    async with store.sessions.begin() as session:
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        if ids is None:
            query = query.where(DeliveryRow.state == State.DEAD)
        else:
            query = query.where(DeliveryRow.id.in_(list(ids)))
        if store.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        found = {row.id: row for row in (await session.scalars(query)).all()}
        wanted = list(dict.fromkeys(ids)) if ids is not None else list(found)
        for row_id in wanted:
            row = found.get(row_id)
            if row is None:
                refused.append(NotRetried(row_id, None, "no such delivery"))
                continue
            if row.state != State.DEAD:
                refused.append(NotRetried(row_id, row.state, f"not dead ({row.state})"))
                continue
            back, attempts, error = stage_of_dead(row), row.attempts, row.last_error
            # Due now, or since it died (a controller's clock stamped it) if that is earlier:
            # due at once for every controller, whatever this host's clock says.
            due = min(now, utc(row.next_attempt_at))
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == row.id, DeliveryRow.state == State.DEAD)
                .values(state=back.value, attempts=0, next_attempt_at=due, worker=None)
                .execution_options(synchronize_session=False)
            )
            if int(result.rowcount) != 1:  # type: ignore[attr-defined]
                refused.append(NotRetried(row_id, row.state, "changed meanwhile: not dead any more"))
                continue
            session.add(
                AuditRow(
                    id=_audit_id(f"delivery/{row.id}/retry/{now.isoformat()}"),
                    at=now,
                    actor=actor,
                    action="delivery-retry",
                    subject=row.recording,
                    detail={
                        "delivery": row.id,
                        "previous_error": error,
                        "attempts": attempts,
                        "state": back.value,
                    },
                )
            )
            revived.append(Revived(row.id, row.recording, back, attempts, error))
    return revived, refused


async def _audit_gap(session: AsyncSession, recording: str, detail: dict[str, Any], now: datetime) -> bool:
    """The recording's gap in the audit trail (the proof's numbers, and why): once per recording,
    however often its file is fetched; True when written now."""
    key = _audit_id(f"recording/{recording}/recording-gap")
    if await session.get(AuditRow, key) is not None:
        return False
    session.add(
        AuditRow(id=key, at=now, actor="controller", action="recording-gap", subject=recording, detail=detail)
    )
    return True


def _audit_id(wanted: str) -> str:
    """The audit id as wanted, unless too long for its column (300): then shortened by a hash."""
    if len(wanted) <= 300:
        return wanted
    return f"{wanted[:200]}...{hashlib.sha256(wanted.encode()).hexdigest()}"
