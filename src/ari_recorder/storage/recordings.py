"""Recordings: their life cycle as one enum with its allowed transitions, enforced here, and what
the database knows about each (its metadata, what its file name is built from).

    recording -> ready -> spooled -> fetched       a call's, through the delivery
    recording -> unrecorded -> reported            selected, never started in Asterisk
    written                                        a chat's transcript: in the spool from the start
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.storage.tables import AttachedDataRow, InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store


class RecordingState(enum.StrEnum):
    RECORDING = "recording"  # started in Asterisk (or being started), its segment not over
    READY = "ready"  # finished in Asterisk and its segment over: the delivery fetches it
    SPOOLED = "spooled"  # encrypted copy safe in the spool; the copy in Asterisk still to delete
    FETCHED = "fetched"  # deleted in Asterisk
    UNRECORDED = "unrecorded"  # selected, never started in Asterisk (`failure` says why)
    REPORTED = "reported"  # never recorded: its sidecar saying so is queued
    WRITTEN = "written"  # a chat's transcript: in the spool from the start, nothing in Asterisk


# The states a recording is created in, and where each state may go.
INITIAL = frozenset({RecordingState.RECORDING, RecordingState.WRITTEN})
TRANSITIONS: dict[RecordingState, frozenset[RecordingState]] = {
    RecordingState.RECORDING: frozenset({RecordingState.READY, RecordingState.UNRECORDED}),
    RecordingState.READY: frozenset({RecordingState.SPOOLED}),
    RecordingState.SPOOLED: frozenset({RecordingState.FETCHED}),
    RecordingState.FETCHED: frozenset(),
    RecordingState.UNRECORDED: frozenset({RecordingState.REPORTED}),
    RecordingState.REPORTED: frozenset(),
    RecordingState.WRITTEN: frozenset(),
}
# Not yet past the delivery's reach: retention keeps their interaction.
UNFINISHED = frozenset(
    {RecordingState.RECORDING, RecordingState.READY, RecordingState.SPOOLED, RecordingState.UNRECORDED}
)


class IllegalTransition(RuntimeError):
    """A recording asked to go where its life cycle does not lead: a bug, never data."""


def sources(to: RecordingState) -> frozenset[RecordingState]:
    """The states a recording may come to `to` from."""
    return frozenset(state for state, targets in TRANSITIONS.items() if to in targets)


def move(row: RecordingRow, to: RecordingState, now: datetime | None = None) -> None:
    """`row` (loaded in a session) to `to`; `now`: it finished then. IllegalTransition if its
    life cycle does not lead there."""
    current = RecordingState(row.state)
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(f"recording {row.name}: {current} -> {to} is not a transition")
    row.state = to.value
    if now is not None:
        row.finished_at = now


async def move_where(session: AsyncSession, name: str, frm: RecordingState, to: RecordingState) -> bool:
    """Compare-and-set: the recording `name` from `frm` to `to`; False when it was not in `frm`
    (another worker moved it first)."""
    if to not in TRANSITIONS[frm]:
        raise IllegalTransition(f"recording {name}: {frm} -> {to} is not a transition")
    result = await session.execute(
        update(RecordingRow)
        .where(RecordingRow.name == name, RecordingRow.state == frm)
        .values(state=to.value)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


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


async def facts(store: Store, recording: str) -> Facts | None:
    async with store.sessions() as session:
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
        # The segment's queue (a call transferred to a queue is its from the new segment on).
        queue=_queue(segment, interaction),
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


def _queue(segment: SegmentRow | None, interaction: InteractionRow | None) -> str | None:
    if segment is not None and segment.queue is not None:
        return segment.queue
    return interaction.queue if interaction is not None else None


async def listed(store: Store, state: RecordingState | str | None = None) -> list[RecordingRow]:
    """Recordings by name (in one state)."""
    async with store.sessions() as session:
        query = select(RecordingRow).order_by(RecordingRow.name)
        if state is not None:
            query = query.where(RecordingRow.state == state)
        return list((await session.scalars(query)).all())


async def names_in(store: Store, state: RecordingState, limit: int = 50) -> list[str]:
    """Recordings in `state`, by name."""
    query = select(RecordingRow.name).where(RecordingRow.state == state).order_by(RecordingRow.name)
    async with store.sessions() as session:
        return list((await session.scalars(query.limit(limit))).all())


async def kept_unencrypted(store: Store) -> int:
    """How many recordings were left unencrypted in Asterisk (delivery.keep_unencrypted)."""
    async with store.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(RecordingRow).where(RecordingRow.kept_unencrypted.is_(True))
        )
    return int(count or 0)


async def pause_timelines(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Each recording's pause timeline, by name."""
    async with store.sessions() as session:
        rows = await session.execute(select(RecordingRow.name, RecordingRow.pauses))
        return {name: list(pauses) for name, pauses in rows.all()}
