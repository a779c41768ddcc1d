"""Purges after the configured retention (RECORDING-RULES.md: "Local copies and metadata are
purged after the configured retention; purges are audited").

- The spool's encrypted copy of a delivered file, `spool_retention_days` after the platform
  confirmed it (the platform holds it: the copy is only there to deliver again by hand).
- An interaction's metadata (attached data, which may name the customer; segments; recordings),
  `metadata_retention_days` after it ended, once every file of it is delivered. Its delivery rows
  and the audit trail stay: they say what was delivered where, and the trail must outlive what it
  tells of.

Nothing is purged that is not delivered. Each purge has its audit row, written in the
transaction that purges; a file is removed before its row forgets it, so that a crash in between
leaves a row pointing at nothing (purged again, harmlessly) and never a file no row names.
Several controllers may purge at once: every change is a compare-and-set, and the audit ids are
the facts' own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.delivery.queue import SPOOLED, State, utc
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.storage.store import UNRECORDED, Store
from ari_recorder.storage.tables import (
    AttachedDataRow,
    AuditRow,
    DeliveryRow,
    InteractionRow,
    RecordingRow,
    SegmentRow,
)

BATCH = 200  # rows per transaction: a first purge of a long history does not hold the database


@dataclass(frozen=True)
class Purged:
    files: int = 0
    interactions: int = 0


async def purge(store: Store, settings: DeliverySettings, now: datetime, actor: str = "controller") -> Purged:
    """What the settings' retentions make due now."""
    files = await purge_spool(store, settings.spool, now, settings.spool_retention_days, actor)
    interactions = 0
    if settings.metadata_retention_days is not None:
        interactions = await purge_metadata(store, now, settings.metadata_retention_days, actor)
    return Purged(files, interactions)


async def purge_spool(store: Store, spool: Path, now: datetime, days: int, actor: str = "controller") -> int:
    """Remove the spool copies of files delivered at least `days` days ago; how many."""
    cutoff = now - timedelta(days=days)
    query = (
        select(DeliveryRow.id, DeliveryRow.recording, DeliveryRow.spool_path, DeliveryRow.delivered_at)
        .where(
            DeliveryRow.state == State.DONE,
            DeliveryRow.spool_path.is_not(None),
            DeliveryRow.delivered_at <= cutoff,
        )
        .order_by(DeliveryRow.delivered_at, DeliveryRow.id)
        .limit(BATCH)
    )
    purged = 0
    while True:
        async with store.sessions() as session:
            due = (await session.execute(query)).all()
        if not due:
            return purged
        for _, _, spool_path, _ in due:
            if spool_path is not None:  # (the query's own condition)
                await asyncio.to_thread((spool / spool_path).unlink, missing_ok=True)
        async with store.sessions.begin() as session:
            for row_id, recording, spool_path, delivered_at in due:
                changed = await session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id == row_id, DeliveryRow.spool_path == spool_path)
                    .values(spool_path=None)
                    .execution_options(synchronize_session=False)
                )
                if int(changed.rowcount) != 1:  # type: ignore[attr-defined]
                    continue  # another controller purged it meanwhile (and audited it)
                purged += 1
                session.add(
                    AuditRow(
                        id=f"purge/{row_id}/spool",
                        at=now,
                        actor=actor,
                        action="purge-spool-copy",
                        subject=recording,
                        detail={
                            "delivery": row_id,
                            "spool_path": spool_path,
                            "delivered_at": utc(delivered_at).isoformat() if delivered_at else None,
                            "why": f"delivered; delivery.spool_retention_days = {days}",
                        },
                    )
                )


async def purge_metadata(store: Store, now: datetime, days: int, actor: str = "controller") -> int:
    """Forget the metadata of interactions ended at least `days` days ago whose every file is
    delivered (and whose every recording finished); how many interactions."""
    cutoff = now - timedelta(days=days)
    undelivered = exists().where(DeliveryRow.recording == RecordingRow.name, DeliveryRow.state != State.DONE)
    unfinished = exists().where(
        RecordingRow.interaction_id == InteractionRow.id,
        # Still recording, or not yet fetched, or not yet deleted in Asterisk (which needs its row).
        # (or, never recorded, its sidecar not yet queued)
        (RecordingRow.state.in_(("recording", "ready", SPOOLED, UNRECORDED))) | undelivered,
    )
    query = (
        select(InteractionRow.id)
        .where(InteractionRow.ended_at.is_not(None), InteractionRow.ended_at <= cutoff, ~unfinished)
        .order_by(InteractionRow.ended_at, InteractionRow.id)
        .limit(BATCH)
    )
    purged = 0
    while True:
        async with store.sessions() as session:
            due = list((await session.scalars(query)).all())
        if not due:
            return purged
        async with store.sessions.begin() as session:
            for interaction in due:
                purged += await _forget(session, interaction, now, days, actor)


async def _forget(session: AsyncSession, interaction: str, now: datetime, days: int, actor: str) -> int:
    row = await session.get(InteractionRow, interaction)
    if row is None:
        return 0  # another controller forgot it meanwhile
    recordings = list(
        (
            await session.scalars(select(RecordingRow.name).where(RecordingRow.interaction_id == interaction))
        ).all()
    )
    counts: dict[str, int] = {}
    for table in (AttachedDataRow, SegmentRow, RecordingRow):
        result = await session.execute(
            delete(table)
            .where(table.interaction_id == interaction)
            .execution_options(synchronize_session=False)
        )
        counts[table.__tablename__] = int(result.rowcount)  # type: ignore[attr-defined]
    await session.delete(row)
    session.add(
        AuditRow(
            id=f"purge/{interaction}/metadata",
            at=now,
            actor=actor,
            action="purge-metadata",
            subject=interaction,
            detail={
                "media": row.media,
                "ended_at": utc(row.ended_at).isoformat() if row.ended_at else None,
                "recordings": recordings,
                "rows": counts,
                "why": f"ended, every file delivered; delivery.metadata_retention_days = {days}",
            },
        )
    )
    return 1
