"""The API's bearer tokens, each with a role (domain/access.py): an agent's for the agent desktop,
a supervisor's with its teams and partitions, a compliance officer's, the chat platform's, an
administrator's. Issued, checked, listed, revoked.

A token reads `ari_<id>.<secret>`: the id is public (it names the token in lists, the audit
trail and a revocation), the secret is shown once and only its SHA-256 is kept. Issuing and
revoking each write their audit row in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ari_recorder import errors
from ari_recorder.domain.access import Role, invalid_names, names
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
class Grant:
    """What a token lets its holder do: its role, the agent of an agent's token, a supervisor's
    teams and partitions."""

    id: str
    role: Role
    agent: str | None = None
    teams: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()


@dataclass(frozen=True)
class IssuedToken:
    """A new token, as its holder sees it once: `token` is nowhere else, not even in the store."""

    id: str
    role: Role
    agent: str | None
    teams: tuple[str, ...]
    partitions: tuple[str, ...]
    token: str
    expires_at: datetime


def _utc(moment: datetime | None) -> datetime:
    """Now when not given; SQLite hands datetimes back without their zone, all of them UTC."""
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def grant_of(row: AgentTokenRow) -> Grant:
    return Grant(row.id, Role(row.role), row.agent, tuple(names(row.teams)), tuple(names(row.partitions)))


def subject_of(role: Role, agent: str | None, token_id: str) -> str:
    """The audit trail's subject of a token's issue and revocation: its agent's, or the token's."""
    return f"agent/{agent}" if role is Role.AGENT else f"token/{token_id}"


def _checked(
    role: Role, agent: str | None, teams: Sequence[str], partitions: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The scope, once each name; ValueError when the role and what is given do not fit."""
    if (role is Role.AGENT) != bool(agent):
        raise ValueError("an agent's token, and only an agent's, names an agent")
    teams_, partitions_ = tuple(dict.fromkeys(teams)), tuple(dict.fromkeys(partitions))
    if role is not Role.SUPERVISOR and (teams_ or partitions_):
        raise ValueError("only a supervisor's token has teams and partitions")
    if role is Role.SUPERVISOR and not (teams_ or partitions_):
        raise ValueError("a supervisor's token needs teams or partitions (its scope)")
    wrong = invalid_names((*teams_, *partitions_))
    if wrong:
        raise ValueError(f"not team or partition names: {', '.join(map(repr, wrong))}")
    return teams_, partitions_


async def issue_token(
    store: Store,
    agent: str | None,
    days: int = 90,
    *,
    role: Role = Role.AGENT,
    teams: Sequence[str] = (),
    partitions: Sequence[str] = (),
    actor: str = "cli",
    now: datetime | None = None,
) -> IssuedToken:
    """A new token for `role` (an agent's: for `agent`; a supervisor's: over `teams` and
    `partitions`), valid `days` days (1..3650)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a token lasts 1 to {MAX_DAYS} days, not {days}")
    if role is Role.AGENT and not agent:
        raise ValueError("a token needs an agent")
    teams_, partitions_ = _checked(role, agent, teams, partitions)
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
                role=role.value,
                agent=agent or None,
                teams=";".join(teams_),
                partitions=";".join(partitions_),
                secret_sha256=_digest(secret),
                created_at=created,
                expires_at=expires,
                revoked_at=None,
            )
        )
        detail: dict[str, object] = {"token": token_id, "expires_at": expires.isoformat(), "role": role.value}
        if role is Role.SUPERVISOR:
            detail |= {"teams": list(teams_), "partitions": list(partitions_)}
        key = audit.audit_id("token", token_id, "issued")
        subject = subject_of(role, agent, token_id)
        await audit.write(session, audit.Entry(key, created, "token-issued", subject, detail, actor))
    return IssuedToken(
        id=token_id,
        role=role,
        agent=agent or None,
        teams=teams_,
        partitions=partitions_,
        token=f"{PREFIX}{token_id}.{secret}",
        expires_at=expires,
    )


async def verify_grant(store: Store, presented: str, now: datetime | None = None) -> Grant:
    """What the token lets its holder do; TokenRefused when it lets no one in.

    A wrong secret is "unknown", as a missing id is: whoever does not hold the secret learns
    nothing about the token, not even that it was revoked or has expired.
    """
    found = _TOKEN.fullmatch(presented)
    if found is None:
        raise TokenRefused("malformed", "not a token of ours (expected ari_<id>.<secret>)")
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
    return grant_of(row)


async def verify_token(store: Store, presented: str, now: datetime | None = None) -> str:
    """The agent an agent's token belongs to (the agent page takes no other); TokenRefused when it
    lets no one in, or is another role's ("not-agent")."""
    grant = await verify_grant(store, presented, now)
    if grant.role is not Role.AGENT or grant.agent is None:
        raise TokenRefused("not-agent", f"token {grant.id!r} is a {grant.role.value}'s, not an agent's")
    return grant.agent


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
            subject = subject_of(Role(row.role), row.agent, token_id)
            entry = audit.Entry(key, at, "token-revoked", subject, detail | {"role": row.role}, actor)
            await audit.write(session, entry)
    return True


async def list_tokens(
    store: Store, agent: str | None = None, role: Role | None = None
) -> list[AgentTokenRow]:
    """Every token (or one agent's, or one role's), newest first, revoked and expired ones too."""
    async with store.sessions() as session:
        query = select(AgentTokenRow).order_by(AgentTokenRow.created_at.desc(), AgentTokenRow.id)
        if agent is not None:
            query = query.where(AgentTokenRow.agent == agent)
        if role is not None:
            query = query.where(AgentTokenRow.role == role.value)
        rows = (await session.scalars(query)).all()
    return list(rows)
