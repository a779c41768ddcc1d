"""Agents' bearer tokens for the agent desktop API: issued, checked, revoked.

A token reads `ari_<id>.<secret>`: the id is public (it names the token in lists, the audit
trail and a revocation), the secret is shown once and only its SHA-256 is kept. Issuing and
revoking each write their audit row in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ari_recorder import errors
from ari_recorder.storage import audit
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import AgentTokenRow

PREFIX = "ari_"
MAX_DAYS = 3650
_TOKEN = re.compile(r"ari_([0-9a-f]{12})\.([A-Za-z0-9_-]{1,256})")


class TokenRefused(errors.Unauthorized):
    """A token that does not let anyone in. `reason`: malformed, unknown, revoked or expired;
    the message never holds the secret."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class IssuedToken:
    """A new token, as its holder sees it once: `token` is nowhere else, not even in the store."""

    id: str
    agent: str
    token: str
    expires_at: datetime


def _utc(moment: datetime | None) -> datetime:
    """Now when not given; SQLite hands datetimes back without their zone, all of them UTC."""
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(
    store: Store, agent: str, days: int = 90, *, actor: str = "cli", now: datetime | None = None
) -> IssuedToken:
    """A new token for `agent`, valid `days` days (1..3650)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a token lasts 1 to {MAX_DAYS} days, not {days}")
    if not agent:
        raise ValueError("a token needs an agent")
    created = _utc(now)
    expires = created + timedelta(days=days)
    secret = secrets.token_urlsafe(32)
    async with store.sessions.begin() as session:
        token_id = secrets.token_hex(6)
        while await session.get(AgentTokenRow, token_id) is not None:  # 48 bits: all but never
            token_id = secrets.token_hex(6)
        session.add(
            AgentTokenRow(
                id=token_id,
                agent=agent,
                secret_sha256=_digest(secret),
                created_at=created,
                expires_at=expires,
                revoked_at=None,
            )
        )
        detail = {"token": token_id, "expires_at": expires.isoformat()}
        key = audit.audit_id("token", token_id, "issued")
        await audit.write(session, audit.Entry(key, created, "token-issued", f"agent/{agent}", detail, actor))
    return IssuedToken(id=token_id, agent=agent, token=f"{PREFIX}{token_id}.{secret}", expires_at=expires)


async def verify_token(store: Store, presented: str, now: datetime | None = None) -> str:
    """The agent the token belongs to; TokenRefused when it lets no one in.

    A wrong secret is "unknown", as a missing id is: whoever does not hold the secret learns
    nothing about the token, not even that it was revoked or has expired.
    """
    found = _TOKEN.fullmatch(presented)
    if found is None:
        raise TokenRefused("malformed", "not an agent token (expected ari_<id>.<secret>)")
    token_id, secret = found.groups()
    async with store.sessions() as session:
        row = await session.get(AgentTokenRow, token_id)
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        raise TokenRefused("unknown", f"no such token {token_id!r}")
    if row.revoked_at is not None:
        raise TokenRefused("revoked", f"token {token_id!r} was revoked at {_utc(row.revoked_at).isoformat()}")
    expires = _utc(row.expires_at)
    if _utc(now) >= expires:
        raise TokenRefused("expired", f"token {token_id!r} expired at {expires.isoformat()}")
    return row.agent


async def revoke_token(
    store: Store, token_id: str, *, actor: str = "cli", now: datetime | None = None
) -> bool:
    """False when there is no such token. Revoking again changes nothing: the first time stays."""
    at = _utc(now)
    async with store.sessions.begin() as session:
        result = await session.execute(
            update(AgentTokenRow)
            .where(AgentTokenRow.id == token_id, AgentTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False)
        )
        changed: int = result.rowcount  # type: ignore[attr-defined]
        row = await session.get(AgentTokenRow, token_id)
        if row is None:
            return False
        if changed == 1:  # this call revoked it (a concurrent one found it revoked already)
            detail = {"token": token_id, "expires_at": _utc(row.expires_at).isoformat()}
            key = audit.audit_id("token", token_id, "revoked")
            entry = audit.Entry(key, at, "token-revoked", f"agent/{row.agent}", detail, actor)
            await audit.write(session, entry)
    return True


async def list_tokens(store: Store, agent: str | None = None) -> list[AgentTokenRow]:
    """Every token (or one agent's), newest first, revoked and expired ones too."""
    async with store.sessions() as session:
        query = select(AgentTokenRow).order_by(AgentTokenRow.created_at.desc(), AgentTokenRow.id)
        if agent is not None:
            query = query.where(AgentTokenRow.agent == agent)
        return list((await session.scalars(query)).all())
