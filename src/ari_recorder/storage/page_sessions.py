"""The pages' sessions (/agent, /supervisor) in the database: they outlive a restart and every
controller on the database knows them (a standby taking over keeps the people logged in).

A session is a random cookie; the store keeps its SHA-256 only, the page it is for, when it ends,
and which bearer token opened it: the token's id (its row says, on each request, whether it was
revoked or has expired since) or, for api.admin_token (not in the database), that token's SHA-256.
The page's CSRF token is derived from the cookie (`csrf_of`): nothing secret is stored in clear.
At most `most` sessions are kept: a new one past that ends the ones nearest their end.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from ari_recorder.storage.tables import AgentTokenRow, PageSessionRow
from ari_recorder.storage.tokens import Grant, grant_of

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

LIFETIME = timedelta(hours=12)  # a shift, and then some
MOST = 10_000  # sessions at once, all pages together


def key_of(cookie: str) -> str:
    """The session's id in the store: the cookie's SHA-256."""
    return hashlib.sha256(cookie.encode()).hexdigest()


def csrf_of(cookie: str) -> str:
    """The page's CSRF token: a function of the cookie that the cookie cannot be had back from."""
    return hmac.new(cookie.encode(), b"ari-recorder page csrf", hashlib.sha256).hexdigest()


def admin_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Found:
    """A session that has not ended, and its token: `grant` (None for api.admin_token, whose
    `admin_sha256` is to compare with the settings'; and for a token no longer stored), and
    `refused` when it no longer lets anyone in (revoked, expired, unknown)."""

    key: str
    page: str
    ends_at: datetime
    grant: Grant | None
    admin_sha256: str | None
    refused: str | None = None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def open_session(
    store: Store,
    page: str,
    *,
    token: str | None = None,
    admin_sha256: str | None = None,
    lifetime: timedelta = LIFETIME,
    most: int = MOST,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A new session for `page`, opened with the token of id `token` (or api.admin_token, by its
    digest); the cookie (given to the browser, kept nowhere here) and the session's end."""
    if (token is None) == (admin_sha256 is None):
        raise ValueError("a session is opened by a stored token or by api.admin_token, one of them")
    at = now or datetime.now(UTC)
    cookie = secrets.token_urlsafe(32)
    async with store.sessions.begin() as session:
        await session.execute(delete(PageSessionRow).where(PageSessionRow.ends_at <= at))
        count = await session.scalar(select(func.count()).select_from(PageSessionRow)) or 0
        if count >= most:
            nearest = (
                select(PageSessionRow.id)
                .order_by(PageSessionRow.ends_at, PageSessionRow.id)
                .limit(count - most + 1)
            )
            ids = list((await session.scalars(nearest)).all())
            await session.execute(delete(PageSessionRow).where(PageSessionRow.id.in_(ids)))
        session.add(
            PageSessionRow(
                id=key_of(cookie),
                page=page,
                token=token,
                admin_sha256=admin_sha256,
                opened_at=at,
                ends_at=at + lifetime,
            )
        )
    return cookie, at + lifetime


async def find_session(store: Store, cookie: str, page: str, now: datetime | None = None) -> Found | None:
    """The session of `cookie` on `page`, if it has not ended, with its token as it is now."""
    if not cookie:
        return None
    at = now or datetime.now(UTC)
    async with store.sessions() as session:
        found = (
            await session.execute(
                select(PageSessionRow, AgentTokenRow)
                .outerjoin(AgentTokenRow, AgentTokenRow.id == PageSessionRow.token)
                .where(PageSessionRow.id == key_of(cookie), PageSessionRow.page == page)
            )
        ).first()
    if found is None:
        return None
    row, token = found
    ends = _utc(row.ends_at)
    if ends <= at:
        return None
    if row.token is None:
        return Found(row.id, row.page, ends, None, row.admin_sha256)
    refused = None
    if token is None:
        refused = "unknown"
    elif token.revoked_at is not None:
        refused = "revoked"
    elif _utc(token.expires_at) <= at:
        refused = "expired"
    return Found(row.id, row.page, ends, grant_of(token) if token is not None else None, None, refused)


async def close_session(store: Store, cookie: str) -> bool:
    """The session ended (logged out, or its token refused); False when there was none."""
    async with store.sessions.begin() as session:
        result = await session.execute(
            delete(PageSessionRow)
            .where(PageSessionRow.id == key_of(cookie))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_sessions(store: Store, page: str | None = None) -> int:
    async with store.sessions() as session:
        query = select(func.count()).select_from(PageSessionRow)
        if page is not None:
            query = query.where(PageSessionRow.page == page)
        return int(await session.scalar(query) or 0)
