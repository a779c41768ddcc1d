"""Retention's rows: the spool copies due for purging and their rows' forgetting them, and
interactions' metadata forgotten. Each purge has its audit row in the transaction that purges;
every change is a compare-and-set and the audit ids are the facts' own, so that several
controllers may purge at once. (delivery/retention.py removes the files and decides when.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.storage import audit
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.recordings import UNFINISHED, utc
from ari_recorder.storage.tables import AttachedDataRow, DeliveryRow, InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

BATCH = 200  # rows per transaction: a first purge of a long history does not hold the database


@dataclass(frozen=True)
class SpoolCopy:
    """A delivered file's copy still in the spool."""

    delivery: str
    recording: str
    spool_path: str
    delivered_at: datetime | None


async def spool_copies_due(store: Store, cutoff: datetime) -> list[SpoolCopy]:
    """Spool copies of files delivered at `cutoff` or before (a batch of them)."""
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
    async with store.sessions() as session:
        rows = (await session.execute(query)).all()
    return [SpoolCopy(row_id, rec, path, at) for row_id, rec, path, at in rows if path is not None]


async def spool_copies_purged(
    store: Store, copies: Sequence[SpoolCopy], now: datetime, days: int, actor: str
) -> int:
    """Their rows forget the removed copies, each audited; how many (another controller may have
    purged some meanwhile, and audited them)."""
    purged = 0
    async with store.sessions.begin() as session:
        for copy in copies:
            changed = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == copy.delivery, DeliveryRow.spool_path == copy.spool_path)
                .values(spool_path=None)
                .execution_options(synchronize_session=False)
            )
            if int(changed.rowcount) != 1:  # type: ignore[attr-defined]
                continue
            purged += 1
            delivered = utc(copy.delivered_at).isoformat() if copy.delivered_at else None
            detail = {
                "delivery": copy.delivery,
                "spool_path": copy.spool_path,
                "delivered_at": delivered,
                "why": f"delivered; delivery.spool_retention_days = {days}",
            }
            key = audit.audit_id("purge", copy.delivery, "spool")
            entry = audit.Entry(key, now, "purge-spool-copy", copy.recording, detail, actor)
            await audit.write(session, entry)
    return purged


async def purge_metadata(store: Store, now: datetime, days: int, actor: str = "controller") -> int:
    """Forget the metadata of interactions ended at least `days` days ago whose every file is
    delivered (and whose every recording finished); how many interactions."""
    cutoff = now - timedelta(days=days)
    undelivered = exists().where(DeliveryRow.recording == RecordingRow.name, DeliveryRow.state != State.DONE)
    unfinished = exists().where(
        RecordingRow.interaction_id == InteractionRow.id,
        # Still recording, or not yet fetched, or not yet deleted in Asterisk (which needs its row).
        # (or, never recorded, its sidecar not yet queued)
        RecordingRow.state.in_(sorted(UNFINISHED)) | undelivered,
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
    detail = {
        "media": row.media,
        "ended_at": utc(row.ended_at).isoformat() if row.ended_at else None,
        "recordings": recordings,
        "rows": counts,
        "why": f"ended, every file delivered; delivery.metadata_retention_days = {days}",
    }
    key = audit.audit_id("purge", interaction, "metadata")
    await audit.write(session, audit.Entry(key, now, "purge-metadata", interaction, detail, actor))
    return 1
