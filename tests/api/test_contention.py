"""The store under contention: 40 clients reporting and reading chats at once while the delivery
uploads their transcripts, on SQLite and on PostgreSQL: no 5xx, and every file delivered without
waiting out a lease."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc

from ari_recorder.delivery import DeliverySettings, generate_keypair
from ari_recorder.settings import DatabaseSettings
from ari_recorder.storage.deliveries import DeliveryQueue, State
from ari_recorder.storage.redelivery import list_deliveries
from ari_recorder.storage.tables import DeliveryRow
from tests.delivery.test_transcripts import AGENTS, QUEUES, a_chat
from tests.support.stores import postgres_database
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, world

CLIENTS, ROUNDS = 40, 6
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[DatabaseSettings]:
    if kind == "postgresql":
        async with postgres_database() as settings:
            yield settings
    else:
        yield DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")


async def client(w: World, n: int, statuses: Counter[int]) -> None:
    """Reports its chats (one in two with a transcript: 1001 records all, 1002 by the queue's
    0%), reads each back, and reports each again (200: already received)."""
    for r in range(ROUNDS):
        chat = a_chat(f"c{n}-{r}", ("1001" if r % 2 else "1002", None))
        for method, path, body in (
            ("POST", "chats", chat),
            ("GET", f"chats/{chat['id']}", None),
            ("POST", "chats", chat),
        ):
            async with w.http.request(method, f"{w.api_url}/api/v1/{path}", json=body, headers=ADMIN) as r_:
                statuses[r_.status] += 1
                if r_.status >= 500:
                    print(method, path, r_.status, await r_.text())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_forty_clients_at_once_get_no_5xx_and_every_file_is_delivered(
    tmp_path: Path, kind: str
) -> None:
    delivery = DeliverySettings(
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
        age_recipients=[generate_keypair(tmp_path / "platform.key")],
        parallel_uploads=4,
    )
    statuses: Counter[int] = Counter()
    async with (
        database(kind, tmp_path) as db,
        world(tmp_path, QUEUES, AGENTS, delivery=delivery, database=db) as w,
    ):
        await asyncio.gather(*(client(w, n, statuses) for n in range(CLIENTS)))
        expected = CLIENTS * ROUNDS // 2 * 2  # a transcript and its metadata per recorded chat

        async def all_done() -> list[Any]:
            rows = await list_deliveries(w.store, limit=10_000)
            done = len(rows) == expected and all(r.state == State.DONE.value for r in rows)
            return rows if done else []

        # 30 s, well under the 300 s lease: a row that waits one out fails here.
        rows = await until(all_done, what=f"{expected} deliveries done", timeout=30)
        states = Counter(r.state for r in rows)
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses == {201: CLIENTS * ROUNDS, 200: 2 * CLIENTS * ROUNDS}, statuses
    assert states == {State.DONE.value: expected}, states


def busy_error() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))


async def test_a_write_that_cannot_happen_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Another process (the CLI, a backup) holds SQLite's write lock past the busy timeout: the
    chat is refused for now, 503 with Retry-After, not 500; once the lock goes, it is taken."""
    async with world(tmp_path, QUEUES, AGENTS, delivery=outbox(tmp_path)) as w:
        # The controller's own writes (its start's purge, the queue's gauges, the devices' seed)
        # may hold the lock a moment: the other process waits for its turn as long as it takes,
        # then holds it. It waits in a thread: the controller's transaction under way needs the
        # event loop to reach its commit.
        other = sqlite3.connect(
            tmp_path / "db.sqlite", isolation_level=None, timeout=60, check_same_thread=False
        )
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        try:
            async with w.http.post(
                f"{w.api_url}/api/v1/chats", json=a_chat("c-1", ("1001", None)), headers=ADMIN
            ) as r:
                refused = (r.status, r.headers.get("Retry-After"), await r.json())
        finally:
            other.rollback()
            other.close()
        async with w.http.post(
            f"{w.api_url}/api/v1/chats", json=a_chat("c-1", ("1001", None)), headers=ADMIN
        ) as r:
            taken = r.status
    assert refused[:2] == (503, "1"), refused
    assert refused[2]["error"] == "the store is busy; ask again"
    assert taken == 201


async def test_the_row_of_an_uploaded_file_is_updated_as_soon_as_the_store_lets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's file in the outbox whose row said "uploading" until its 300 s lease ran out:
    the update after the upload is tried again until it lands."""
    done = DeliveryQueue.done
    refusals = iter(range(3))

    async def locked_at_first(queue: DeliveryQueue, row: DeliveryRow) -> bool:
        if next(refusals, None) is not None:
            raise busy_error()
        return await done(queue, row)

    monkeypatch.setattr(DeliveryQueue, "done", locked_at_first)
    async with world(tmp_path, QUEUES, AGENTS, delivery=outbox(tmp_path)) as w:
        async with w.http.post(
            f"{w.api_url}/api/v1/chats", json=a_chat("c-2", ("1001", None)), headers=ADMIN
        ) as r:
            assert r.status == 201

        async def delivered() -> list[Any]:
            rows = await list_deliveries(w.store)
            return rows if rows and all(row.state == State.DONE.value for row in rows) else []

        rows = await until(delivered, what="the chats' deliveries done", timeout=10)
    assert [row.state for row in rows] == [State.DONE.value] * 2
    assert next(refusals, None) is None, "the store refused three times"


def outbox(tmp_path: Path) -> DeliverySettings:
    return DeliverySettings(
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
        age_recipients=[generate_keypair(tmp_path / "platform.key")],
    )


async def post_chat(w: World, chat: str) -> tuple[int, str | None, Any]:
    """A chat 1001 had (recorded): its status, Retry-After and body."""
    body = a_chat(chat, ("1001", None))
    async with w.http.post(f"{w.api_url}/api/v1/chats", json=body, headers=ADMIN) as r:
        return r.status, r.headers.get("Retry-After"), await r.json()
