"""The legal holds' endpoints over a real socket: put, release, list; the administrator's only for
now; refusals by the error table (404 unknown interaction, 409 held / not held, 422 no reason)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ari_recorder.settings import QueueSettings
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import InteractionRow
from ari_recorder.storage.tokens import issue_token
from tests.api.test_http_api import api
from tests.support.world import world

QUEUES = {"support": QueueSettings(agents=["1001"])}


async def an_ended_call(store: Store, interaction: str) -> None:
    moment = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
    async with store.sessions.begin() as session:
        session.add(
            InteractionRow(
                id=interaction,
                direction="inbound",
                queue="support",
                customer_channel=interaction,
                phase="ended",
                started_at=moment,
                ended_at=moment,
            )
        )


async def test_an_administrator_puts_lists_and_releases_a_hold(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        await an_ended_call(w.store, "call-7")
        status, hold = await api(w, "PUT", "interactions/call-7/hold", {"reason": "subpoena 42"})
        assert status == 201, hold
        assert (hold["interaction"], hold["reason"], hold["by"], hold["active"]) == (
            "call-7",
            "subpoena 42",
            "admin",
            True,
        )
        assert (await api(w, "GET", "holds"))[1]["holds"] == [hold]

        status, again = await api(w, "PUT", "interactions/call-7/hold", {"reason": "twice"})
        assert (status, again["id"], again["detail"]["id"]) == (409, "already-held", hold["id"])
        status, released = await api(w, "POST", "interactions/call-7/hold/release", {"reason": "closed"})
        assert status == 200, released
        assert (released["id"], released["active"], released["released_by"]) == (hold["id"], False, "admin")
        assert released["release_reason"] == "closed"
        assert (await api(w, "GET", "holds"))[1] == {"holds": []}
        assert [h["id"] for h in (await api(w, "GET", "holds?all=true"))[1]["holds"]] == [hold["id"]]
        status, not_held = await api(w, "POST", "interactions/call-7/hold/release", {"reason": "again"})
        assert (status, not_held["id"]) == (409, "not-held")

        actions = [(a.action, a.actor) for a in await w.store.audit("call-7")]
        assert actions == [("hold-put", "admin"), ("hold-released", "admin")]


async def test_holds_are_refused_by_the_error_table(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        await an_ended_call(w.store, "call-8")
        status, unknown = await api(w, "PUT", "interactions/nope/hold", {"reason": "why"})
        assert (status, unknown["id"], unknown["error"]) == (
            404,
            "no-such-interaction",
            "no interaction 'nope'",
        )
        status, unknown = await api(w, "POST", "interactions/nope/hold/release", {"reason": "why"})
        assert (status, unknown["id"]) == (404, "no-such-interaction")
        for body in ({}, {"reason": ""}, {"reason": 3}, {"reason": "x" * 1001}, {"reason": "\u00a0 "}):
            status, refused = await api(w, "PUT", "interactions/call-8/hold", body)
            assert (status, refused["id"]) == (422, "invalid-body"), body
        status, query = await api(w, "GET", "holds?all=yes")
        assert (status, query["id"]) == (400, "invalid-query")

        agent_token = (await issue_token(w.store, "1001")).token
        status, denied = await api(
            w, "PUT", "interactions/call-8/hold", {"reason": "mine"}, token=agent_token
        )
        assert (status, denied["id"]) == (403, "forbidden-role")
        status, _ = await api(w, "GET", "holds", token=None)
        assert status == 401
        assert await w.store.audit("call-8") == []
