"""Reading the interactions: a filtered list, newest first behind the audit reads' cursor (the
last interaction's start and id), and one interaction whole (its attached data, its segments with
their decisions, its recordings with their pauses and their files' delivery state). A supervisor
reads `Within` its scope: the reach is a condition of the query itself, so a page (and the cursor
after it) holds the interactions in reach only, and one out of reach reads as none at all."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from ari_recorder.domain import moments, partitions
from ari_recorder.storage.audit_reads import (
    LIMIT_DEFAULT,
    Page,
    Position,
    decode_cursor,
    encode_cursor,
    record_read,
)
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.recordings import utc
from ari_recorder.storage.tables import AttachedDataRow, DeliveryRow, InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

CUSTOMER = "customer"  # the attached data's key for the customer's number


@dataclass(frozen=True)
class InteractionFilters:
    """Which interactions: each given filter must hold. `agent`: one of its segments' agent;
    `customer`, `partition`: in its attached data; `since` inclusive, `until` exclusive (its
    start); `recorded`: whether any segment was; `delivery`: any of its files in that state."""

    agent: str | None = None
    queue: str | None = None
    customer: str | None = None
    partition: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    recorded: bool | None = None
    delivery: State | None = None

    def as_detail(self) -> dict[str, Any]:
        given = {k: v for k, v in asdict(self).items() if v is not None}
        return {k: utc(v).isoformat() if isinstance(v, datetime) else v for k, v in given.items()}

    def impossible(self) -> bool:
        texts = (self.agent, self.queue, self.customer, self.partition)
        return any(t is not None and "\x00" in t for t in texts)


@dataclass(frozen=True)
class Within:
    """A supervisor's reach over the interactions: those with a segment of one of `agents` (its
    teams' agents, as the caller's settings have them: this module reads no settings), or in
    one of `partitions`. `teams`: what `agents` was made from, named in the reads' audit rows."""

    agents: frozenset[str]
    partitions: frozenset[str]
    teams: frozenset[str] = frozenset()

    def as_detail(self) -> dict[str, list[str]]:
        return {"teams": sorted(self.teams), "partitions": sorted(self.partitions)}


def _within(reach: Within, backend: str) -> ColumnElement[bool]:
    """In reach: a segment of one of its agents, or one of its partitions (none: nothing is)."""
    held: list[ColumnElement[bool]] = [_in_partition(name, backend) for name in sorted(reach.partitions)]
    if reach.agents:
        of_interaction = SegmentRow.interaction_id == InteractionRow.id
        held.append(exists().where(of_interaction, SegmentRow.agent.in_(sorted(reach.agents))))
    return or_(*held) if held else false()


def in_reach(
    interaction: ColumnElement[str] | InstrumentedAttribute[str], reach: Within, backend: str
) -> ColumnElement[bool]:
    """`interaction` (an id column of another table: a delivery's, through its recording) is one
    of those `reach` covers."""
    return interaction.in_(select(InteractionRow.id).where(_within(reach, backend)))


def _attached(key: str, holds: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        AttachedDataRow.interaction_id == InteractionRow.id, AttachedDataRow.key == key, holds
    )


def _in_partition(name: str, backend: str) -> ColumnElement[bool]:
    """`name` one of the `a;b` list: found exactly (LIKE would take `_` for any character, and
    SQLite's ignores case)."""
    joined = ";" + AttachedDataRow.value + ";"
    find = func.strpos if backend == "postgresql" else func.instr
    return _attached(partitions.KEY, find(joined, f";{name};") > 0)


def _query(
    filters: InteractionFilters, after: Position | None, limit: int, backend: str, reach: Within | None
) -> Select[Any]:
    query = (
        select(InteractionRow)
        .order_by(InteractionRow.started_at.desc(), InteractionRow.id.desc())
        .limit(limit)
    )
    if reach is not None:
        query = query.where(_within(reach, backend))
    of_interaction = SegmentRow.interaction_id == InteractionRow.id
    if filters.agent is not None:
        query = query.where(exists().where(of_interaction, SegmentRow.agent == filters.agent))
    if filters.queue is not None:
        query = query.where(InteractionRow.queue == filters.queue)
    if filters.customer is not None:
        query = query.where(_attached(CUSTOMER, AttachedDataRow.value == filters.customer))
    if filters.partition is not None:
        query = query.where(_in_partition(filters.partition, backend))
    if filters.since is not None:
        query = query.where(InteractionRow.started_at >= moments.bound_in_utc(filters.since))
    if filters.until is not None:
        query = query.where(InteractionRow.started_at < moments.bound_in_utc(filters.until))
    if filters.recorded is not None:
        recorded = exists().where(of_interaction, SegmentRow.recorded.is_(True))
        query = query.where(recorded if filters.recorded else ~recorded)
    if filters.delivery is not None:
        files = exists().where(
            RecordingRow.interaction_id == InteractionRow.id,
            DeliveryRow.recording == RecordingRow.name,
            DeliveryRow.state == filters.delivery.value,
        )
        query = query.where(files)
    if after is not None:
        query = query.where(
            or_(
                InteractionRow.started_at < after.at,
                and_(InteractionRow.started_at == after.at, InteractionRow.id < after.id),
            )
        )
    return query


def _moment(value: datetime | None) -> str | None:
    return utc(value).isoformat() if value is not None else None


async def page(
    store: Store,
    filters: InteractionFilters,
    cursor: str | None = None,
    limit: int = LIMIT_DEFAULT,
    reach: Within | None = None,
) -> Page:
    """A page of the interactions `filters` select (within `reach`; None: all), newest first (by
    their start), after `cursor`."""
    after = decode_cursor(cursor) if cursor is not None else None
    if filters.impossible():
        return Page([], None)
    query = _query(filters, after, limit + 1, store.backend, reach)
    async with store.sessions() as session:
        rows = list((await session.scalars(query)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [row.id for row in rows]
        segments = (
            await session.execute(
                select(SegmentRow.interaction_id, SegmentRow.agent, SegmentRow.recorded)
                .where(SegmentRow.interaction_id.in_(ids))
                .order_by(SegmentRow.interaction_id, SegmentRow.number)
            )
        ).all()
        attached = (
            await session.execute(
                select(AttachedDataRow.interaction_id, AttachedDataRow.key, AttachedDataRow.value).where(
                    AttachedDataRow.interaction_id.in_(ids),
                    AttachedDataRow.key.in_((CUSTOMER, partitions.KEY)),
                )
            )
        ).all()
    agents: dict[str, list[str]] = {}
    recorded: set[str] = set()
    for interaction, agent, was_recorded in segments:
        agents.setdefault(interaction, []).append(agent)
        if was_recorded:
            recorded.add(interaction)
    data: dict[str, dict[str, str]] = {}
    for interaction, key, value in attached:
        data.setdefault(interaction, {})[key] = value
    items = [
        {
            **_summary(row),
            "agents": list(dict.fromkeys(agents.get(row.id, []))),
            "recorded": row.id in recorded,
            "customer": data.get(row.id, {}).get(CUSTOMER),
            "partitions": partitions.of(data.get(row.id, {})),
        }
        for row in rows
    ]
    following = encode_cursor(Position(utc(rows[-1].started_at), rows[-1].id)) if more and rows else None
    return Page(items, following)


def _summary(row: InteractionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "media": row.media,
        "direction": row.direction,
        "queue": row.queue,
        "phase": row.phase,
        "started_at": _moment(row.started_at),
        "ended_at": _moment(row.ended_at),
    }


async def one(store: Store, interaction: str, reach: Within | None = None) -> dict[str, Any] | None:
    """An interaction whole; None when there is none of that id (or its metadata was purged), or
    it is not within `reach` (None: all)."""
    if "\x00" in interaction:
        return None
    query = select(InteractionRow).where(InteractionRow.id == interaction)
    if reach is not None:
        query = query.where(_within(reach, store.backend))
    async with store.sessions() as session:
        row = (await session.scalars(query)).first()
        if row is None:
            return None
        attached = (
            await session.scalars(
                select(AttachedDataRow).where(AttachedDataRow.interaction_id == interaction)
            )
        ).all()
        segments = (
            await session.scalars(
                select(SegmentRow).where(SegmentRow.interaction_id == interaction).order_by(SegmentRow.number)
            )
        ).all()
        recordings = (
            await session.scalars(
                select(RecordingRow)
                .where(RecordingRow.interaction_id == interaction)
                .order_by(RecordingRow.name)
            )
        ).all()
        files = (
            await session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.recording.in_([r.name for r in recordings]))
                .order_by(DeliveryRow.id)
            )
        ).all()
    by_recording: dict[str, list[dict[str, Any]]] = {}
    for file in files:
        by_recording.setdefault(file.recording, []).append(_file(file))
    return {
        **_summary(row),
        "announcement": row.announcement,
        "attached": {a.key: a.value for a in attached},
        "segments": [_segment(s) for s in segments],
        "recordings": [_recording(r, by_recording.get(r.name, [])) for r in recordings],
    }


def _segment(row: SegmentRow) -> dict[str, Any]:
    return {
        "number": row.number,
        "agent": row.agent,
        "recorded": row.recorded,
        "levels": list(row.levels),
        "reason": row.reason,
        "recording": row.recording,
        "started_at": _moment(row.started_at),
    }


def _recording(row: RecordingRow, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": row.name,
        "segment": row.segment,
        "side": row.side,
        "channels": row.channels,
        "state": row.state,
        "levels": list(row.levels),
        "started_at": _moment(row.started_at),
        "finished_at": _moment(row.finished_at),
        "failure": row.failure,
        "kept_unencrypted": row.kept_unencrypted,
        "pauses": list(row.pauses),
        "files": files,
    }


def _file(row: DeliveryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "remote_path": row.remote_path,
        "size": row.size,
        "sha256": row.sha256,
        "created_at": _moment(row.created_at),
        "delivered_at": _moment(row.delivered_at),
    }


async def read(
    store: Store,
    reader: str,
    filters: InteractionFilters,
    cursor: str | None = None,
    limit: int = LIMIT_DEFAULT,
    reach: Within | None = None,
) -> Page:
    """A page, its read audited first (the cursor checked before: a refused read reads nothing);
    a supervisor's with its reach."""
    if cursor is not None:
        decode_cursor(cursor)
    detail: dict[str, Any] = {"filters": filters.as_detail(), "cursor": cursor, "limit": limit}
    if reach is not None:
        detail["within"] = reach.as_detail()
    await record_read(store, reader, "interactions-read", "interactions", detail)
    return await page(store, filters, cursor, limit, reach)


async def read_one(
    store: Store, reader: str, interaction: str, reach: Within | None = None
) -> dict[str, Any] | None:
    """An interaction whole, its read audited with the recordings it shows (about the
    interaction: who read which recording's facts) before it is given; None if there is none,
    or it is not within `reach` (the trail says which: the reader is not told)."""
    whole = await one(store, interaction, reach)
    recordings = [r["name"] for r in whole["recordings"]] if whole is not None else []
    subject = interaction.replace("\x00", "")[:300]  # the column's length
    detail: dict[str, Any] = {"found": whole is not None, "recordings": recordings}
    if reach is not None:
        detail["within"] = reach.as_detail()
        if whole is None:
            async with store.sessions() as session:
                detail["outside_reach"] = await session.get(InteractionRow, interaction) is not None
    await record_read(store, reader, "interaction-read", subject, detail)
    return whole
