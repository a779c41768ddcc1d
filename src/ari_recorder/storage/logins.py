"""Where agents are logged in (hot-desking): log in, log out, list. One endpoint holds one agent
at most: logging in where another agent is logs that agent out first. Every change writes its
audit row (who, when, the endpoint before and after) in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.storage import audit
from ari_recorder.storage.tables import AgentLoginRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store


@dataclass(frozen=True)
class Login:
    """An agent and where it is logged in (None: nowhere), since when, by whom."""

    agent: str
    endpoint: str | None
    since: datetime | None
    by: str | None


@dataclass(frozen=True)
class Moved:
    """What a login or a logout changed: the agent's endpoint before and after, and the agent it
    displaced from that endpoint (None: nobody was there)."""

    agent: str
    before: str | None
    after: str | None
    displaced: str | None = None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _set(session: AsyncSession, agent: str, endpoint: str | None, by: str, now: datetime) -> str | None:
    """The agent's row set to `endpoint`, audited; the endpoint it had before."""
    row = await session.get(AgentLoginRow, agent)
    before = row.endpoint if row is not None else None
    if row is not None and before == endpoint:
        return before
    if row is None:
        session.add(AgentLoginRow(agent=agent, endpoint=endpoint, since=now, by=by))
    else:
        row.endpoint, row.since, row.by = endpoint, now, by
    await session.flush()  # the unique endpoint: the displaced agent's row is cleared before
    action = "agent-login" if endpoint is not None else "agent-logout"
    detail = {"before": before, "after": endpoint}
    entry = audit.Entry(
        audit.audit_id("agent", agent, action, repeatable=True), now, action, f"agent/{agent}", detail, by
    )
    await audit.write(session, entry)
    return before


async def login(store: Store, agent: str, endpoint: str, *, by: str, now: datetime | None = None) -> Moved:
    """`agent` logged in on `endpoint` (leaving where it was); whoever was logged in there is
    logged out (audited, "displaced by")."""
    at = now or datetime.now(UTC)
    async with store.sessions.begin() as session:
        holder = await session.scalar(select(AgentLoginRow).where(AgentLoginRow.endpoint == endpoint))
        displaced = None
        if holder is not None and holder.agent != agent:
            displaced = holder.agent
            await _set(session, displaced, None, by, at)
        before = await _set(session, agent, endpoint, by, at)
        return Moved(agent, before, endpoint, displaced)


async def logout(store: Store, agent: str, *, by: str, now: datetime | None = None) -> Moved:
    """`agent` logged in nowhere (nothing changes, nothing audited, when it was nowhere)."""
    async with store.sessions.begin() as session:
        before = await _set(session, agent, None, by, now or datetime.now(UTC))
        return Moved(agent, before, None)


async def logins(store: Store) -> dict[str, Login]:
    """Every agent that ever logged in, by id (endpoint None: logged out)."""
    async with store.sessions() as session:
        rows = (await session.scalars(select(AgentLoginRow).order_by(AgentLoginRow.agent))).all()
        return {r.agent: Login(r.agent, r.endpoint, _utc(r.since), r.by) for r in rows}


async def seed(session: AsyncSession, defaults: dict[str, str], now: datetime | None = None) -> list[str]:
    """At first start: each agent with a default endpoint (the settings'), never logged in or out
    before, logged in there unless another agent holds it. The agents not logged in, for a warning."""
    at = now or datetime.now(UTC)
    known = set((await session.scalars(select(AgentLoginRow.agent))).all())
    held = set(
        (
            await session.scalars(select(AgentLoginRow.endpoint).where(AgentLoginRow.endpoint.is_not(None)))
        ).all()
    )
    refused = []
    for agent, endpoint in defaults.items():
        if agent in known or not endpoint:
            continue
        if endpoint in held:
            refused.append(agent)
            continue
        held.add(endpoint)
        await _set(session, agent, endpoint, "seed", at)
    return refused
