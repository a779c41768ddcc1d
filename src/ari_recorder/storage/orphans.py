"""Orphans: recordings Asterisk holds for one of our interactions that no recording row accounts
for, adopted into the delivery.

A controller stopped (killed, its leadership cut) in the moment after it asked Asterisk to record
and before its state reached the database leaves its successor a call whose stored state does not
name the recording: Asterisk records on, and no row ever sends the file anywhere. The delivery's
sweep (delivery/orphans.py) finds such files among Asterisk's stored recordings; here each one is
given the rows the delivery works from, its decision marked as not known, and the fact audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ari_recorder.domain.ids import RecordingId
from ari_recorder.domain.policy import RecordSide
from ari_recorder.storage import audit, snapshots
from ari_recorder.storage.recordings import RecordingState
from ari_recorder.storage.tables import InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

ADOPTED = (
    "adopted: Asterisk held this recording and no decision of it was stored (the controller that "
    "started it stopped before saving it)"
)


@dataclass(frozen=True)
class Adopted:
    recording: str
    interaction: str
    segment: int
    agent: str
    channels: int
    side: str


async def unaccounted(store: Store, found: list[RecordingId]) -> list[RecordingId]:
    """Those of `found` that are of an interaction in the database and have no recording row."""
    if not found:
        return []
    async with store.sessions() as session:
        ours = set(
            await session.scalars(
                select(InteractionRow.id).where(InteractionRow.id.in_(sorted({f.call for f in found})))
            )
        )
        rows = set(
            await session.scalars(
                select(RecordingRow.name).where(RecordingRow.name.in_([f.name for f in found]))
            )
        )
    return [f for f in found if f.call in ours and f.name not in rows]


async def adopt(store: Store, found: RecordingId, channels: int, now: datetime) -> Adopted | None:
    """Rows for the file `found` (Asterisk's, finished: ready to fetch), its segment's too if
    missing, and the audit row, in one transaction; None when a row accounts for it by now (its
    controller's state arrived late, or another controller adopted it first)."""
    try:
        return await _adopt(store, found, channels, now)
    except IntegrityError:  # another controller's sweep adopted it in the meantime
        return None


async def _adopt(store: Store, found: RecordingId, channels: int, now: datetime) -> Adopted | None:
    async with store.sessions.begin() as session:
        interaction = await session.get(InteractionRow, found.call)
        if interaction is None or await session.get(RecordingRow, found.name) is not None:
            return None
        side = _side(interaction)
        segment = await session.get(SegmentRow, (found.call, found.segment))
        agent = segment.agent if segment is not None else found.agent
        if segment is None:
            session.add(
                SegmentRow(
                    interaction_id=found.call,
                    number=found.segment,
                    agent=agent,
                    channel="",
                    recorded=True,
                    levels=[],
                    reason=ADOPTED,
                    recording=found.name,
                    started_at=now,
                    queue=interaction.queue,
                )
            )
        session.add(
            RecordingRow(
                name=found.name,
                interaction_id=found.call,
                segment=found.segment,
                side=side,
                channels=channels,
                state=RecordingState.READY,
                levels=[],
                started_at=now,
                finished_at=now,
            )
        )
        adopted = Adopted(found.name, found.call, found.segment, agent, channels, side)
        detail = {
            "call": found.call,
            "segment": found.segment,
            "agent": agent,
            "channels": channels,
            "why": "Asterisk held a recording of this interaction that no row accounted for",
        }
        entry_id = audit.audit_id("recording", found.name, "orphan")
        await audit.write(session, audit.Entry(entry_id, now, "recording-orphan", found.name, detail))
    return adopted


def _side(interaction: InteractionRow) -> str:
    """The side the call's queue recorded, as its last stored state says (agent if unknown)."""
    try:
        call = snapshots.load(interaction.state) if interaction.state is not None else None
    except (ValueError, TypeError, KeyError):  # a snapshot this version cannot read: not known
        call = None
    queue = call.queue if call is not None else None
    return (queue.record_side if queue is not None else RecordSide.AGENT).value
