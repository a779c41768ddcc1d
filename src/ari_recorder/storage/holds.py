"""Legal holds: a compliance officer holds an interaction (a call, a webchat) with a reason, and
retention purges nothing of it (storage/retention.py asks `held`) until the hold is released.

At most one active hold per interaction (a partial unique index); a released hold stays, with
who released it and why. Each put and release has its audit row in the transaction that makes
it. A put or a release first locks the interaction's row by writing it (PostgreSQL: a row lock;
SQLite: the database's write lock, taken by the first write only), as a purge does before it
asks whether the interaction is held: a hold put while a purge runs is seen by it, or waits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ari_recorder import errors
from ari_recorder.storage import audit
from ari_recorder.storage.recordings import utc
from ari_recorder.storage.tables import InteractionRow, LegalHoldRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

REASON_MOST = 1000  # characters
BY_MOST = 64  # the audit trail's actor column
ID_MOST = 128  # the interactions' id column


class UnknownInteraction(errors.NotFound):
    id = "no-such-interaction"


class AlreadyHeld(errors.Conflict):
    id = "already-held"


class NotHeld(errors.Conflict):
    id = "not-held"


class NoReason(errors.Unprocessable):
    """A hold put or released without a reason (or with one too long, or a `by` too long)."""

    id = "reason-required"


@dataclass(frozen=True)
class Hold:
    id: str
    interaction: str
    reason: str
    by: str
    placed_at: datetime
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "interaction": self.interaction,
            "reason": self.reason,
            "by": self.by,
            "placed_at": self.placed_at.isoformat(),
            "active": self.active,
            "released_at": self.released_at.isoformat() if self.released_at else None,
            "released_by": self.released_by,
            "release_reason": self.release_reason,
        }


def _hold(row: LegalHoldRow) -> Hold:
    released = utc(row.released_at) if row.released_at is not None else None
    return Hold(
        row.id,
        row.interaction,
        row.reason,
        row.placed_by,
        utc(row.placed_at),
        released,
        row.released_by,
        row.release_reason,
    )


def held(interaction: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Whether the interaction `interaction` names (a column) has an active hold (retention's)."""
    return exists().where(LegalHoldRow.interaction == interaction, LegalHoldRow.released_at.is_(None))


def _checked(interaction: str, reason: str, by: str) -> str:
    """The reason, stripped; NoReason when it will not do, UnknownInteraction for an id no
    interaction can have (PostgreSQL takes no NUL in a string)."""
    if len(interaction) > ID_MOST or "\0" in interaction:
        raise UnknownInteraction(f"no interaction {interaction[:ID_MOST]!r}", interaction[:ID_MOST])
    if "\0" in reason or "\0" in by:
        raise NoReason("a reason and a name without NUL characters")
    reason = reason.strip()
    if not reason:
        raise NoReason("a reason is required", "reason: empty")
    if len(reason) > REASON_MOST:
        raise NoReason(f"a reason of at most {REASON_MOST} characters", f"reason: {len(reason)} characters")
    if not by.strip() or len(by) > BY_MOST:
        raise NoReason(f"who: 1 to {BY_MOST} characters", f"by: {len(by)} characters")
    return reason


async def lock_interactions(session: AsyncSession, interactions: list[str]) -> int:
    """The interactions' rows locked against a hold's put or release until the transaction
    ends (written unchanged: see the module's docstring); how many there are."""
    if not interactions:
        return 0
    locked = await session.execute(
        update(InteractionRow)
        .where(InteractionRow.id.in_(interactions))
        .values(phase=InteractionRow.phase)
        .execution_options(synchronize_session=False)
    )
    return int(locked.rowcount)  # type: ignore[attr-defined]


async def _active(session: AsyncSession, interaction: str) -> LegalHoldRow | None:
    query = select(LegalHoldRow).where(
        LegalHoldRow.interaction == interaction, LegalHoldRow.released_at.is_(None)
    )
    return (await session.scalars(query)).first()


async def put(store: Store, interaction: str, reason: str, by: str, now: datetime, actor: str) -> Hold:
    """A hold on `interaction`, audited. UnknownInteraction, AlreadyHeld (its detail: the hold),
    NoReason."""
    reason = _checked(interaction, reason, by)
    hold = Hold(uuid.uuid4().hex, interaction, reason, by, now)
    try:
        async with store.sessions.begin() as session:
            if await lock_interactions(session, [interaction]) == 0:
                raise UnknownInteraction(f"no interaction {interaction!r}", interaction)
            if (existing := await _active(session, interaction)) is not None:
                raise AlreadyHeld(
                    f"interaction {interaction!r} is already on legal hold", _hold(existing).json()
                )
            session.add(
                LegalHoldRow(id=hold.id, interaction=interaction, reason=reason, placed_by=by, placed_at=now)
            )
            await session.flush()
            detail = {"hold": hold.id, "reason": reason, "by": by}
            entry = audit.Entry(
                audit.audit_id("hold", hold.id, "put"), now, "hold-put", interaction, detail, actor
            )
            await audit.write(session, entry)
    except IntegrityError:  # another put won (the unique index): on SQLite, across processes
        raise AlreadyHeld(f"interaction {interaction!r} is already on legal hold") from None
    return hold


async def release(store: Store, interaction: str, reason: str, by: str, now: datetime, actor: str) -> Hold:
    """The interaction's active hold released, audited: retention may purge it at its next pass.
    NotHeld, UnknownInteraction (no such interaction, and so no hold), NoReason."""
    reason = _checked(interaction, reason, by)
    async with store.sessions.begin() as session:
        known = await lock_interactions(session, [interaction])
        row = await _active(session, interaction)
        if row is None:
            if not known:
                raise UnknownInteraction(f"no interaction {interaction!r}", interaction)
            raise NotHeld(f"interaction {interaction!r} is not on legal hold", interaction)
        row.released_at, row.released_by, row.release_reason = now, by, reason
        hold = _hold(row)
        detail = {
            "hold": row.id,
            "reason": reason,
            "by": by,
            "placed_at": hold.placed_at.isoformat(),
            "placed_by": row.placed_by,
            "placed_reason": row.reason,
        }
        key = audit.audit_id("hold", row.id, "released")
        await audit.write(session, audit.Entry(key, now, "hold-released", interaction, detail, actor))
    return hold


async def listed(store: Store, released_too: bool = False, interaction: str | None = None) -> list[Hold]:
    """The active holds (and the released ones too), oldest first."""
    query = select(LegalHoldRow).order_by(LegalHoldRow.placed_at, LegalHoldRow.id)
    if not released_too:
        query = query.where(LegalHoldRow.released_at.is_(None))
    if interaction is not None:
        query = query.where(LegalHoldRow.interaction == interaction)
    async with store.sessions() as session:
        return [_hold(row) for row in (await session.scalars(query)).all()]


async def is_held(store: Store, interaction: str) -> bool:
    async with store.sessions() as session:
        return await _active(session, interaction) is not None


async def active_holds(session: AsyncSession, interactions: list[str]) -> dict[str, Hold]:
    """The active holds of those of `interactions` that have one, by interaction (in the
    session's transaction: retention's, after `lock_interactions`)."""
    if not interactions:
        return {}
    query = select(LegalHoldRow).where(
        LegalHoldRow.interaction.in_(interactions), LegalHoldRow.released_at.is_(None)
    )
    return {row.interaction: _hold(row) for row in (await session.scalars(query)).all()}
