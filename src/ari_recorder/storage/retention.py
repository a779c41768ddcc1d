"""Retention's rows: the spool copies due for purging and their rows' forgetting them, and
interactions' metadata forgotten. Each purge has its audit row in the transaction that purges;
every change is a compare-and-set and the audit ids are the facts' own, so that several
controllers may purge at once. (delivery/retention.py removes the files and decides when.)

Nothing of an interaction on legal hold (storage/holds.py) is purged: neither its spool copies
nor its metadata. Each purge locks the interactions it purges (as a hold's put does) and asks
again, in that transaction, whether they are held; what a hold kept has its audit row, once per
hold and thing kept."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.domain import moments
from ari_recorder.storage import audit
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.holds import active_holds, held, lock_interactions
from ari_recorder.storage.recordings import UNFINISHED, utc
from ari_recorder.storage.tables import AttachedDataRow, DeliveryRow, InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

BATCH = 200  # rows per transaction: a first purge of a long history does not hold the database


@dataclass(frozen=True)
class Tally:
    """What a purge did: how many it purged, how many it kept because they are on legal hold."""

    purged: int = 0
    held: int = 0


@dataclass(frozen=True)
class SpoolCopy:
    """A delivered file's copy still in the spool."""

    delivery: str
    recording: str
    spool_path: str
    delivered_at: datetime | None
    interaction: str | None  # None: its interaction's metadata purged already


def _spool_copies(cutoff: datetime, on_hold: bool) -> Any:
    interaction = RecordingRow.interaction_id
    holding = held(interaction)
    return (
        select(
            DeliveryRow.id,
            DeliveryRow.recording,
            DeliveryRow.spool_path,
            DeliveryRow.delivered_at,
            interaction,
        )
        .outerjoin(RecordingRow, RecordingRow.name == DeliveryRow.recording)
        .where(
            DeliveryRow.state == State.DONE,
            DeliveryRow.spool_path.is_not(None),
            DeliveryRow.delivered_at <= cutoff,
            holding if on_hold else ~holding,
        )
        .order_by(DeliveryRow.delivered_at, DeliveryRow.id)
    )


async def spool_copies_due(store: Store, cutoff: datetime) -> list[SpoolCopy]:
    """Spool copies of files delivered at `cutoff` or before, not on legal hold (a batch of them)."""
    async with store.sessions() as session:
        rows = (await session.execute(_spool_copies(cutoff, on_hold=False).limit(BATCH))).all()
    return [SpoolCopy(row_id, rec, path, at, i) for row_id, rec, path, at, i in rows if path is not None]


@contextlib.asynccontextmanager
async def spool_copies_purging(
    store: Store, copies: Sequence[SpoolCopy], now: datetime, days: int, actor: str
) -> AsyncIterator[list[SpoolCopy]]:
    """The copies to remove now: of `copies`, those not held meanwhile and not purged by another
    controller meanwhile. Their rows forget them, each audited, when the block ends without an
    error: remove the files in the block (a crash in it leaves rows naming files not there)."""
    async with store.sessions.begin() as session:
        interactions = sorted({c.interaction for c in copies if c.interaction is not None})
        await lock_interactions(session, interactions)
        holds = await active_holds(session, interactions)
        claimed = []
        for copy in copies:
            if copy.interaction in holds:
                continue  # held since it was found due: counted with the held, next
            changed = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == copy.delivery, DeliveryRow.spool_path == copy.spool_path)
                .values(spool_path=None)
                .execution_options(synchronize_session=False)
            )
            if int(changed.rowcount) != 1:  # type: ignore[attr-defined]
                continue
            claimed.append(copy)
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
        yield claimed


async def spool_copies_held(store: Store, cutoff: datetime, now: datetime, days: int, actor: str) -> int:
    """How many spool copies due at `cutoff` are kept by a legal hold; each audited once per hold."""
    async with store.sessions() as session:
        rows = (await session.execute(_spool_copies(cutoff, on_hold=True))).all()
    copies = [SpoolCopy(row_id, rec, path, at, i) for row_id, rec, path, at, i in rows if path is not None]
    why = f"delivery.spool_retention_days = {days} passed"
    kept = [
        (c.interaction, c.delivery, {"spool-copy": c.spool_path, "recording": c.recording}) for c in copies
    ]
    await _audit_kept(store, kept, now, why, actor)
    return len(copies)


async def _audit_kept(
    store: Store, kept: list[tuple[str | None, str, dict[str, Any]]], now: datetime, why: str, actor: str
) -> None:
    """Each thing a hold kept from a purge, in the trail once per hold and thing (subject: the
    interaction, as the hold's put and release)."""
    if not kept:
        return
    async with store.sessions.begin() as session:
        holds = await active_holds(session, sorted({i for i, _, _ in kept if i is not None}))
        for interaction, what, detail in kept:
            hold = holds.get(interaction or "")
            if hold is None:
                continue  # released meanwhile: the next purge takes it
            entry = audit.Entry(
                audit.audit_id("hold", hold.id, "kept", what),
                now,
                "purge-skipped-held",
                hold.interaction,
                {**detail, "hold": hold.id, "why": f"on legal hold ({hold.reason}); {why}"},
                actor,
            )
            await audit.write(session, entry)


def _metadata_due(cutoff: datetime, on_hold: bool) -> Any:
    undelivered = exists().where(DeliveryRow.recording == RecordingRow.name, DeliveryRow.state != State.DONE)
    unfinished = exists().where(
        RecordingRow.interaction_id == InteractionRow.id,
        # Still recording, or not yet fetched, or not yet deleted in Asterisk (which needs its row).
        # (or, never recorded, its sidecar not yet queued)
        RecordingRow.state.in_(sorted(UNFINISHED)) | undelivered,
    )
    holding: ColumnElement[bool] = held(InteractionRow.id)
    return (
        select(InteractionRow.id)
        .where(
            InteractionRow.ended_at.is_not(None),
            InteractionRow.ended_at <= cutoff,
            ~unfinished,
            holding if on_hold else ~holding,
        )
        .order_by(InteractionRow.ended_at, InteractionRow.id)
    )


async def purge_metadata(store: Store, now: datetime, days: int, actor: str = "controller") -> Tally:
    """Forget the metadata of interactions ended at least `days` days ago whose every file is
    delivered (and whose every recording finished), unless on legal hold; how many interactions
    purged, and kept by a hold."""
    cutoff = moments.days_before(now, days)
    query = _metadata_due(cutoff, on_hold=False).limit(BATCH)
    purged = 0
    while True:
        async with store.sessions() as session:
            due = list((await session.scalars(query)).all())
        if not due:
            break
        async with store.sessions.begin() as session:
            for interaction in due:
                purged += await _forget(session, interaction, now, days, actor)
    async with store.sessions() as session:
        kept = list((await session.scalars(_metadata_due(cutoff, on_hold=True))).all())
    why = f"ended, every file delivered; delivery.metadata_retention_days = {days} passed"
    await _audit_kept(store, [(i, "metadata", {"metadata": i}) for i in kept], now, why, actor)
    return Tally(purged, len(kept))


async def _forget(session: AsyncSession, interaction: str, now: datetime, days: int, actor: str) -> int:
    if await lock_interactions(session, [interaction]) == 0:
        return 0  # another controller forgot it meanwhile
    if await active_holds(session, [interaction]):
        return 0  # held since it was found due: counted with the held
    row = await session.get(InteractionRow, interaction)
    if row is None:
        return 0
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
    entry = audit.Entry(key, now, "purge-metadata", interaction, detail, actor, interaction=interaction)
    await audit.write(session, entry)
    return 1
