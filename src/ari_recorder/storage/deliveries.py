"""The delivery queue in the database: claims with leases, and every state change of a row.

Each change is a compare-and-set on (state, worker, lease): a worker that lost its claim (it
stalled past the lease and another took the row) changes nothing. On PostgreSQL the claim's
SELECT also takes `FOR UPDATE SKIP LOCKED`, so that processes on several machines pick different
rows without waiting on each other; on SQLite one process claims, one claim at a time.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.storage import audit
from ari_recorder.storage.recordings import Facts, RecordingState, facts, move_where, names_in, utc
from ari_recorder.storage.tables import DeliveryRow, RecordingRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

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


# Where each state may go (the claims, the compare-and-sets and `deliveries retry` below).
TRANSITIONS: dict[State, frozenset[State]] = {
    State.FETCHING: frozenset({State.FETCHING, State.PENDING, State.DEAD}),
    State.PENDING: frozenset({State.UPLOADING}),
    State.UPLOADING: frozenset({State.UPLOADING, State.PENDING, State.DONE, State.DEAD}),
    State.DONE: frozenset(),
    State.DEAD: frozenset({State.FETCHING, State.PENDING}),
}
UNFINISHED = (State.FETCHING, State.PENDING, State.UPLOADING)


class IllegalTransition(RuntimeError):
    """A row asked to go where the queue's states do not lead: a bug, never data."""


def allowed(frm: State, to: State) -> None:
    if to not in TRANSITIONS[frm]:
        raise IllegalTransition(f"a delivery row cannot go from {frm} to {to}")


def delivery_id(recording: str, kind: Kind) -> str:
    return f"{recording}/{kind.value}"


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
        self.postgres = store.backend == "postgresql"
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
            .where(RecordingRow.state == RecordingState.READY, ~blocking)
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
            await move_where(session, recording, RecordingState.READY, RecordingState.SPOOLED)
            if gap is not None:
                await _audit_gap(session, recording, gap, now)
        return True

    async def unrecorded(self, limit: int = 50) -> list[str]:
        """Selected recordings that were never made, their sidecar not yet queued."""
        return await names_in(self.store, RecordingState.UNRECORDED, limit)

    async def reported(
        self, recording: str, sidecar: Spooled, finished_at: datetime, gap: dict[str, Any] | None = None
    ) -> bool:
        """A never-made recording's sidecar, safe in the spool, queued for upload (its row due
        now) in the transaction that marks it reported, with its recording gap audited. False
        when another worker did it first."""
        now = self.clock()
        async with self.store.sessions.begin() as session:
            if not await move_where(session, recording, RecordingState.UNRECORDED, RecordingState.REPORTED):
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
                .where(RecordingRow.state == RecordingState.SPOOLED)
                .order_by(RecordingRow.name)
            )
            return [(name, channels) for name, channels in (await session.execute(query)).all()]

    async def deleted(self, recording: str) -> None:
        async with self.store.sessions.begin() as session:
            await move_where(session, recording, RecordingState.SPOOLED, RecordingState.FETCHED)

    async def facts(self, recording: str) -> Facts | None:
        return await facts(self.store, recording)

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
        for state in states:
            allowed(state, claimed)
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
        entry = self._audit(
            row, "delivered", now, remote_path=row.remote_path, size=row.size, sha256=row.sha256
        )
        return await self._change(
            row,
            State.UPLOADING,
            entry,
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
        entry = self._audit(row, what, now, stage=stage(row), error=error[:1024], retry_at=retry)
        return await self._change(
            row,
            State(row.state),
            entry,
            state=state.value,
            last_error=error[:1024],
            next_attempt_at=retry_at or now,
        )

    def _audit(self, row: DeliveryRow, action: str, now: datetime, **detail: Any) -> audit.Entry:
        """What happened to a file, for the audit trail: written in the transaction of the change it
        describes (so once). Repeatable: after `deliveries retry` the attempts count from 1 again,
        and an earlier attempt's row must stay as it was."""
        return audit.Entry(
            id=audit.audit_id("delivery", row.id, row.attempts, action, repeatable=True),
            at=now,
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
        self, row: DeliveryRow, current: State, entry: audit.Entry | None = None, **values: Any
    ) -> bool:
        """Compare-and-set on this worker's claim; the audit row only if the change was made."""
        allowed(current, State(values.get("state", current)))
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
            if changed == 1 and entry is not None:
                await audit.write(session, entry)
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
        unfinished = DeliveryRow.state.in_(UNFINISHED)
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
        from ari_recorder.storage.redelivery import retry_dead_rows  # it builds on this module

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


async def _audit_gap(session: AsyncSession, recording: str, detail: dict[str, Any], now: datetime) -> bool:
    """The recording's gap in the audit trail (the proof's numbers, and why): once per recording,
    however often its file is fetched; True when written now."""
    key = audit.audit_id("recording", recording, "recording-gap")
    return await audit.write(session, audit.Entry(key, now, "recording-gap", recording, detail))


async def delivered_files(store: Store) -> dict[str, str]:
    """Recording -> where its audio (or a chat's transcript) was delivered, for the rows that are done."""
    async with store.sessions() as session:
        rows = await session.execute(
            select(DeliveryRow.recording, DeliveryRow.remote_path).where(
                DeliveryRow.kind.in_((Kind.AUDIO, Kind.TRANSCRIPT)), DeliveryRow.state == State.DONE
            )
        )
        return {recording: path for recording, path in rows.all()}
