"""Reading the audit trail: filters, pages newest first behind an opaque cursor, and every read
itself a row of the trail (written through storage/audit.py, its one writer).

The cursor is the last row's (at, id), encoded: the next page holds the rows strictly before it in
(at, id) order. Rows appended meanwhile never shift a page: a row the reader has not reached yet
is still found, none is given twice, and one appended after the first page with a later time than
the cursor's is left for the next read from the top (as newest-first reads must).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import ColumnElement, Select, and_, or_, select

from ari_recorder import errors
from ari_recorder.domain import moments
from ari_recorder.storage import audit
from ari_recorder.storage.recordings import utc
from ari_recorder.storage.tables import AuditRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

LIMIT_DEFAULT, LIMIT_MOST = 100, 1000
EXPORT_PAGE = 500  # rows per query when a whole trail is streamed


class InvalidCursor(errors.Unprocessable):
    """A cursor this server did not give."""

    id = "invalid-cursor"


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's time and id."""

    at: datetime
    id: str


def encode_cursor(position: Position) -> str:
    raw = msgspec.json.encode([utc(position.at).isoformat(), position.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor stands for; InvalidCursor for anything this module did not encode."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = msgspec.json.decode(raw, type=tuple[str, str])
        moment = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidCursor("not a cursor this server gave", cursor[:40]) from None
    at_utc = moments.in_utc(moment) if moment.tzinfo is not None else None
    if at_utc is None or "\x00" in row_id:  # no offset, or beyond the calendar in UTC
        raise InvalidCursor("not a cursor this server gave", cursor[:40])
    return Position(at_utc, row_id)


@dataclass(frozen=True)
class AuditFilters:
    """Which rows: each given filter must hold (`interaction`: rows about it, or about one of its
    recordings; `since` inclusive, `until` exclusive)."""

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    interaction: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_detail(self) -> dict[str, Any]:
        """The filters given, as a read's audit row states them."""
        given = {k: v for k, v in asdict(self).items() if v is not None}
        return {k: utc(v).isoformat() if isinstance(v, datetime) else v for k, v in given.items()}

    def impossible(self) -> bool:
        """A NUL in a filter: no stored value holds one (and PostgreSQL refuses to compare it)."""
        texts = (self.actor, self.action, self.subject, self.interaction)
        return any(t is not None and "\x00" in t for t in texts)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None  # the cursor of the page after, None when this one is the last


def row_json(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": utc(row.at).isoformat(),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "interaction": row.interaction,
        "detail": row.detail,
    }


def _about(interaction: str) -> ColumnElement[bool]:
    """Rows about an interaction: the writer (storage/audit.py) named it on each row, from the
    row's detail, its recording or its subject; still there once the interaction is purged."""
    return AuditRow.interaction == interaction


def _query(filters: AuditFilters, after: Position | None, limit: int) -> Select[Any]:
    query = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
    for column, value in (
        (AuditRow.actor, filters.actor),
        (AuditRow.action, filters.action),
        (AuditRow.subject, filters.subject),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.interaction is not None:
        query = query.where(_about(filters.interaction))
    if filters.since is not None:
        query = query.where(AuditRow.at >= moments.bound_in_utc(filters.since))
    if filters.until is not None:
        query = query.where(AuditRow.at < moments.bound_in_utc(filters.until))
    if after is not None:
        query = query.where(
            or_(AuditRow.at < after.at, and_(AuditRow.at == after.at, AuditRow.id < after.id))
        )
    return query


async def page(
    store: Store, filters: AuditFilters, cursor: str | None = None, limit: int = LIMIT_DEFAULT
) -> Page:
    """A page of the rows `filters` select, newest first, after `cursor` (not audited: `read`)."""
    after = decode_cursor(cursor) if cursor is not None else None
    if filters.impossible():
        return Page([], None)
    async with store.sessions() as session:
        rows = list((await session.scalars(_query(filters, after, limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    following = encode_cursor(Position(rows[-1].at, rows[-1].id)) if more and rows else None
    return Page([row_json(row) for row in rows], following)


async def pages(
    store: Store, filters: AuditFilters, cursor: str | None = None, size: int = EXPORT_PAGE
) -> AsyncIterator[Page]:
    """Every page from `cursor` on, one query each: an export of any size in bounded memory."""
    while True:
        got = await page(store, filters, cursor, size)
        yield got
        if got.next is None:
            return
        cursor = got.next


async def record_read(
    store: Store, reader: str, what: str, subject: str, detail: dict[str, Any], now: datetime | None = None
) -> None:
    """Someone read the audit trail or the interactions: the read in the trail, before anything
    read is given. `what`: audit-read, interactions-read, interaction-read; `subject`: "audit",
    "interactions", the interaction read; `detail`: the filters, what was read."""
    key = audit.audit_id("read", subject, repeatable=True)
    await audit.write_now(store, audit.Entry(key, now or datetime.now(UTC), what, subject, detail, reader))


async def read(
    store: Store, reader: str, filters: AuditFilters, cursor: str | None = None, limit: int = LIMIT_DEFAULT
) -> Page:
    """A page, its read audited first (the cursor checked before: a refused read reads nothing)."""
    if cursor is not None:
        decode_cursor(cursor)
    detail = {"filters": filters.as_detail(), "cursor": cursor, "limit": limit}
    await record_read(store, reader, "audit-read", "audit", detail)
    return await page(store, filters, cursor, limit)
