"""The HTTP API over a real socket, against a controller on the simulator: auth, errors, transfers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.settings import QueueSettings
from tests.support.audio import duration
from tests.support.world import ADMIN_TOKEN, SLACK, World, connected, world

QUEUES = {"support": QueueSettings(agents=["1001"]), "sales": QueueSettings(agents=["1001", "1002"])}


async def api(
    w: World, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with w.http.request(method, f"{w.api_url}/api/v1/{path}", json=body, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong-token-0123456789", 401), (ADMIN_TOKEN[:-1], 401), (ADMIN_TOKEN, 200)],
)
async def test_only_the_administrator_token_is_accepted(
    tmp_path: Path, token: str | None, status: int
) -> None:
    async with world(tmp_path, QUEUES) as w:
        got, body = await api(w, "GET", "calls", token=token)
        transfer, _ = await api(w, "POST", "calls/1.1/transfer", {"agent": "1002"}, token=token)
    assert got == status
    assert transfer == (404 if status == 200 else 401), "the token is checked before anything else"
    if status == 401:  # the detail says why, without echoing the token
        assert body["error"] == "a valid bearer token is required"
        assert body["detail"] in (None, "malformed")


async def test_a_supervisor_transfers_a_call_to_another_agent(tmp_path: Path) -> None:
    """A recorded (100%) -> B at 0: A's file holds A's time only, B's segment is not recorded."""
    async with world(tmp_path, QUEUES) as w:
        await w.control("calls", {"queue": "support", "caller": "15550070"})
        await connected(w, "1001")
        since = time.monotonic()
        status, body = await api(w, "GET", "calls")
        assert status == 200, body
        (live,) = body["calls"]
        assert (live["phase"], live["agent"], live["segment"]) == ("connected", "1001", 1)
        await asyncio.sleep(1.5)  # A and the customer talk: the scenario
        itself, body = await api(w, "POST", f"calls/{live['id']}/transfer", {"agent": "1001"})
        assert (itself, body["error"]) == (409, f"agent 1001 is already on call {live['id']}")
        status, body = await api(w, "POST", f"calls/{live['id']}/transfer", {"agent": "1002"})
        assert (status, body) == (202, {"call": live["id"], "dialling": "1002"})
        again, _ = await api(w, "POST", f"calls/{live['id']}/transfer", {"agent": "1002"})
        await connected(w, "1002")
        a_took = time.monotonic() - since
        await asyncio.sleep(1.0)  # B and the customer talk
        await w.control("hangup", {"customer": "15550070"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        a, b = report.call.segments
        assert a.recording is not None
        recorded_a = duration(await w.fetch(a.recording))
    assert again == 409, "one transfer at a time"
    assert (a.agent, b.agent, b.recording) == ("1001", "1002", None)
    assert 1.4 < recorded_a < a_took + SLACK, "A's recording ends when A leaves"


async def test_a_transfer_to_a_queue_takes_its_first_free_agent(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        await w.control("calls", {"queue": "support", "caller": "15550071"})
        await connected(w, "1001")
        (live,) = (await api(w, "GET", "calls"))[1]["calls"]
        status, body = await api(w, "POST", f"calls/{live['id']}/transfer", {"queue": "sales"})
        if status == 202:
            await connected(w, "1002")
        await w.control("hangup", {"customer": "15550071"})
        report = await asyncio.wait_for(w.reports.get(), 15)
    assert (status, body["dialling"]) == (202, "1002"), "1001 is the agent on the call"
    assert [s.agent for s in report.call.segments] == ["1001", "1002"]


async def test_bad_requests_get_a_clear_json_error(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        await w.control("calls", {"queue": "support", "caller": "15550072"})
        status_waiting, waiting = await _transfer_first_live(w, {"agent": "1002"})
        await connected(w, "1001")
        unknown_agent = await _transfer_first_live(w, {"agent": "9999"})
        both = await _transfer_first_live(w, {"agent": "1002", "queue": "sales"})
        unknown_call = await api(w, "POST", "calls/nope/transfer", {"agent": "1002"})
        async with w.http.post(
            f"{w.api_url}/api/v1/calls/x/transfer",
            data=b"{not json",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as r:
            not_json = r.status, await r.json()
        no_route = await api(w, "GET", "nowhere")
        await w.control("hangup", {"customer": "15550072"})
        await asyncio.wait_for(w.reports.get(), 15)
    assert status_waiting == 409 and "no agent to transfer from yet" in waiting["error"]
    assert unknown_agent == (422, {"error": "no agent '9999'", "id": "no-such-target", "detail": None})
    assert both[0] == 400 and "exactly one" in both[1]["error"]
    assert unknown_call == (404, {"error": "no live call 'nope'", "id": "no-such-call", "detail": None})
    assert not_json[0] == 400 and not_json[1]["error"] == "the body is not JSON"
    assert no_route[0] == 404 and set(no_route[1]) == {"error", "id", "detail"}


async def _transfer_first_live(w: World, body: dict[str, str]) -> tuple[int, Any]:
    (live,) = (await api(w, "GET", "calls"))[1]["calls"]
    return await api(w, "POST", f"calls/{live['id']}/transfer", body)
