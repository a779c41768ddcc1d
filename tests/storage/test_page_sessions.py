"""The pages' sessions in the store (SQLite and PostgreSQL): found by the cookie only, the token's
fate seen on each find, ended at their end, capped, and nothing secret kept in clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ari_recorder.domain.access import Role
from ari_recorder.storage.page_sessions import (
    admin_digest,
    close_session,
    count_sessions,
    csrf_of,
    find_session,
    key_of,
    open_session,
)
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import PageSessionRow
from ari_recorder.storage.tokens import issue_token, revoke_token

pytestmark = pytest.mark.asyncio


async def test_a_session_is_found_by_its_cookie_on_its_page_only(store: Store) -> None:
    token = await issue_token(store, "1001")
    cookie, ends = await open_session(store, "agent", token=token.id)
    found = await find_session(store, cookie, "agent")
    assert found is not None and found.grant is not None and found.refused is None
    assert (found.grant.role, found.grant.agent, found.ends_at) == (Role.AGENT, "1001", ends)
    assert await find_session(store, cookie, "supervisor") is None, "a cookie opens its own page only"
    assert await find_session(store, cookie + "x", "agent") is None
    assert await find_session(store, "", "agent") is None
    async with store.sessions() as session:
        (row,) = (await session.scalars(select(PageSessionRow))).all()
    kept = " ".join(str(v) for v in vars(row).values())
    assert cookie not in kept and csrf_of(cookie) not in kept and token.token not in kept
    assert row.id == key_of(cookie) and row.token == token.id


async def test_a_revoked_or_expired_token_ends_what_it_opened(store: Store) -> None:
    now = datetime.now(UTC)
    short = await issue_token(store, None, 1, role=Role.SUPERVISOR, teams=["blue"], now=now)
    revoked = await issue_token(store, None, role=Role.COMPLIANCE)
    first, _ = await open_session(store, "supervisor", token=short.id, now=now)
    second, _ = await open_session(store, "supervisor", token=revoked.id, now=now)
    await revoke_token(store, revoked.id)
    found = await find_session(store, second, "supervisor")
    assert found is not None and found.refused == "revoked"
    assert found.grant is not None and found.grant.id == revoked.id, "whose session it was"
    later = now + timedelta(days=1, seconds=1)
    found = await find_session(store, first, "supervisor", now=now + timedelta(hours=1))
    assert found is not None and found.grant is not None and found.grant.teams == ("blue",)
    assert await find_session(store, first, "supervisor", now=later) is None, "the session's own end first"
    long_lived, _ = await open_session(
        store, "supervisor", token=short.id, lifetime=timedelta(days=3), now=now
    )
    found = await find_session(store, long_lived, "supervisor", now=later)
    assert found is not None and found.refused == "expired"


async def test_the_administrators_settings_token_is_kept_as_a_digest(store: Store) -> None:
    cookie, _ = await open_session(store, "supervisor", admin_sha256=admin_digest("secret-admin-token"))
    found = await find_session(store, cookie, "supervisor")
    assert found is not None and found.grant is None and found.refused is None
    assert found.admin_sha256 == admin_digest("secret-admin-token")
    with pytest.raises(ValueError, match="one of them"):
        await open_session(store, "supervisor")


async def test_sessions_end_at_their_end_close_and_are_capped(store: Store) -> None:
    token = await issue_token(store, "1001")
    now = datetime.now(UTC)
    cookies = [
        (await open_session(store, "agent", token=token.id, lifetime=timedelta(hours=h), most=3, now=now))[0]
        for h in (5, 1, 3)
    ]
    assert await count_sessions(store) == 3
    newest, _ = await open_session(store, "agent", token=token.id, most=3, now=now)
    assert await count_sessions(store, "agent") == 3
    assert await find_session(store, cookies[1], "agent", now=now) is None, "the one nearest its end went"
    for kept in (cookies[0], cookies[2], newest):
        assert await find_session(store, kept, "agent", now=now) is not None
    assert await close_session(store, newest) is True
    assert await close_session(store, newest) is False
    assert await find_session(store, newest, "agent", now=now) is None
    # Ended sessions are forgotten when the next opens.
    await open_session(store, "agent", token=token.id, now=now + timedelta(hours=4))
    assert await count_sessions(store) == 2
