"""The audit trail's one writer: who did what to which subject, when, and why.

One id policy for every row: `<kind>/<subject>/<what>` (`pause/<call>/<n>/start`,
`token/<id>/issued`, `recording/<name>/not-recorded`...). A fact stated once however often it is
written (a retried batch, a restarted controller) has that id and no more, so writing it again
keeps one row; an event that may truly happen again (an attempt, a retry, a read) has a random
suffix, so that each occurrence is a row of its own. An id too long for its column is shortened
by a hash.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.storage.tables import AuditRow, InteractionRow, RecordingRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

ID_LENGTH = 300  # the column's


def audit_id(*parts: object, repeatable: bool = False) -> str:
    """The id of a row: its parts joined by `/`; `repeatable`: one of many, a random suffix."""
    wanted = "/".join(str(part) for part in parts)
    if repeatable:
        wanted = f"{wanted}/{uuid.uuid4().hex}"
    if len(wanted) <= ID_LENGTH:
        return wanted
    return f"{wanted[:200]}...{hashlib.sha256(wanted.encode()).hexdigest()}"


@dataclass(frozen=True)
class Entry:
    """One row to write. `id` from `audit_id`."""

    id: str
    at: datetime
    action: str  # pause, token-issued, delivery-failed...
    subject: str  # a recording, "agent/<id>", a chat
    detail: dict[str, Any] = field(default_factory=dict)
    actor: str = "controller"  # an agent's id, "admin", "controller", "cli"
    interaction: str | None = None  # what it is about, when the writer cannot tell (see write)


async def write(session: AsyncSession, entry: Entry) -> bool:
    """`entry` in the session's transaction, unless a row with its id is there already (the fact
    was stated before); True when added now."""
    if await session.get(AuditRow, entry.id) is not None:
        return False
    session.add(
        AuditRow(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            detail=entry.detail,
            interaction=await _interaction_of(session, entry),
        )
    )
    return True


async def _interaction_of(session: AsyncSession, entry: Entry) -> str | None:
    """The interaction a row is about: the entry's own, else the one its detail names (a
    decision's or pause's "call", a read's "interaction"), else the interaction of the recording
    or transcript it is about, else its subject when that is an interaction (a legal hold's).
    Kept on the row, so that the row is found by interaction after the interaction is purged."""
    if entry.interaction is not None:
        return entry.interaction
    for key in ("call", "interaction"):
        named = entry.detail.get(key)
        if isinstance(named, str) and named:
            return named
    if "/" in entry.subject:  # agent/<id>, token/<id>, settings...: not an interaction's
        return None
    recording = await session.get(RecordingRow, entry.subject)
    if recording is not None:
        return recording.interaction_id
    return entry.subject if await session.get(InteractionRow, entry.subject) is not None else None


async def write_now(store: Store, entry: Entry) -> bool:
    """`entry` in a transaction of its own."""
    async with store.sessions.begin() as session:
        return await write(session, entry)


async def trail(store: Store, subject: str | None = None, action: str | None = None) -> list[AuditRow]:
    """The audit trail, oldest first (of one subject: a recording, "agent/1001"...; of one action)."""
    async with store.sessions() as session:
        query = select(AuditRow).order_by(AuditRow.at, AuditRow.id)
        if subject is not None:
            query = query.where(AuditRow.subject == subject)
        if action is not None:
            query = query.where(AuditRow.action == action)
        return list((await session.scalars(query)).all())
