"""The agent desktop API over a real socket: who may see, pause and resume whose recording.

One world serves the whole module: agent 1001 on a recorded call (the authorisation matrix),
1002 idle, 1003 on a call it may not be recorded on, 1004 on a recorded call in a queue that
allows no pausing, 1005 on a recorded call of its own (pausing twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from ari_recorder.settings import AgentSettings, QueueSettings
from ari_recorder.storage.tokens import issue_token, revoke_token
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, world

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _agent(number: str, recorded: bool = True) -> AgentSettings:
    return AgentSettings(
        endpoint=f"Local/{number}@agent-phone", permit_recordings=recorded, record_percent=100
    )


AGENTS = {
    "1001": _agent("1001"),
    "1002": _agent("1002"),
    "1003": _agent("1003", recorded=False),
    "1004": _agent("1004"),
    "1005": _agent("1005"),
}
QUEUES = {
    "support": QueueSettings(agents=["1001"]),
    "unrecorded": QueueSettings(agents=["1003"]),
    "no-pausing": QueueSettings(agents=["1004"], pause_allowed=False),
    "billing": QueueSettings(agents=["1005"]),
}
CALLERS = {"support": "15550500", "unrecorded": "15550501", "no-pausing": "15550502", "billing": "15550503"}
ENDPOINTS = [
    ("GET", "agents/{agent}/recording"),
    ("POST", "agents/{agent}/recording/pause"),
    ("POST", "agents/{agent}/recording/resume"),
]
UNAUTHORISED = "a valid bearer token is required"


@dataclass
class Answer:
    status: int
    body: Any
    text: str


async def ask(
    w: World, method: str, path: str, authorization: str | None = f"Bearer {ADMIN_TOKEN}"
) -> Answer:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with w.http.request(method, f"{w.api_url}/api/v1/{path}", headers=headers) as r:
        text = await r.text()
        assert r.content_type == "application/json", (method, path, r.status, text)
        return Answer(r.status, await r.json(), text)


async def state_of(w: World, agent: str) -> str:
    answer = await ask(w, "GET", f"agents/{agent}/recording")
    assert answer.status == 200, answer.text
    return str(answer.body["state"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """The world, with the four calls connected (1002 on none)."""
    async with world(tmp_path_factory.mktemp("agent-api"), QUEUES, AGENTS) as w:
        for queue, caller in CALLERS.items():
            await w.control("calls", {"queue": queue, "caller": caller})
        expected = {"1001": "recording", "1003": "not-recorded", "1004": "recording", "1005": "recording"}

        async def all_connected() -> bool:
            return {a: await state_of(w, a) for a in expected} == expected

        await until(all_connected, what=f"the agents connected, their recordings {expected}", timeout=10)
        yield w
        for caller in CALLERS.values():
            await w.control("hangup", {"customer": caller})
        for _ in CALLERS:
            await asyncio.wait_for(w.reports.get(), 15)


async def test_every_agent_endpoint_answers_each_kind_of_token_rightly(live: World) -> None:
    w = live
    own = await issue_token(w.store, "1001")
    other = await issue_token(w.store, "1002")
    expired = await issue_token(w.store, "1001", days=1, now=datetime.now(UTC) - timedelta(days=2))
    revoked = await issue_token(w.store, "1001")
    assert await revoke_token(w.store, revoked.id)
    forged = f"{own.token.partition('.')[0]}.{'x' * 43}"  # the real id, a wrong secret
    # kind: (the Authorization header, the status, the 401's detail)
    kinds: dict[str, tuple[str | None, int, str | None]] = {
        "no token": (None, 401, None),
        "garbage": ("Bearer this-is-not-a-token", 401, "malformed"),
        "wrong secret": (f"Bearer {forged}", 401, "unknown"),
        "basic scheme": (f"Basic {own.token}", 401, None),
        "token alone": (own.token, 401, None),
        "bearer, empty": ("Bearer ", 401, None),
        "expired": (f"Bearer {expired.token}", 401, "expired"),
        "revoked": (f"Bearer {revoked.token}", 401, "revoked"),
        "other agent's": (f"Bearer {other.token}", 403, None),
        "own": (f"Bearer {own.token}", 200, None),
        "admin": (f"Bearer {ADMIN_TOKEN}", 200, None),
    }
    secrets = [own.token, other.token, expired.token, revoked.token, forged, ADMIN_TOKEN]
    wrong: list[str] = []
    for method, template in ENDPOINTS:
        path = template.format(agent="1001")
        for kind, (authorization, status, detail) in kinds.items():
            got = await ask(w, method, path, authorization)
            cell = f"{method} {path}, {kind} token (got {got.status} {got.text})"
            if got.status != status:
                wrong.append(f"{method} {path}, {kind} token: expected {status}, got {got.status} {got.text}")
            elif status == 200:
                if (got.body["agent"], got.body["call"] is None) != ("1001", False):
                    wrong.append(f"{cell}: not 1001's recording")
            else:
                if set(got.body) != {"error", "id", "detail"}:
                    wrong.append(f"{cell}: not an error body")
                if status == 401 and (got.body["error"], got.body["detail"]) != (UNAUTHORISED, detail):
                    wrong.append(f"{cell}: expected the detail {detail!r}")
                if status == 403 and "1002" not in got.body["error"]:
                    wrong.append(f"{cell}: the refusal does not say who may not")
                if any(secret in got.text for secret in secrets):
                    wrong.append(f"{cell}: the error body echoes a token")
    assert not wrong, "\n".join(wrong)
    assert await state_of(w, "1001") == "recording", "the last word was a resume"


async def test_an_agent_token_is_refused_on_the_administrators_endpoints(live: World) -> None:
    token = (await issue_token(live.store, "1001")).token
    headers = {"Authorization": f"Bearer {token}"}
    asked = {
        "GET calls": await ask(live, "GET", "calls", headers["Authorization"]),
    }
    for path, body in [
        ("calls", {"agent": "1001", "to": "15550100"}),
        ("calls/x/transfer", {"agent": "1002"}),
    ]:
        async with live.http.post(f"{live.api_url}/api/v1/{path}", json=body, headers=headers) as r:
            asked[f"POST {path}"] = Answer(r.status, await r.json(), await r.text())
    privileges = {
        "GET calls": "calls:read",
        "POST calls": "calls:place",
        "POST calls/x/transfer": "calls:transfer",
    }
    for name, answer in asked.items():
        privilege = privileges[name]
        assert (answer.status, answer.body) == (
            403,
            {
                "error": f"a token of role agent does not hold {privilege}",
                "id": "forbidden-role",
                "detail": {"role": "agent", "privilege": privilege},
            },
        ), name
        assert token not in answer.text, name


async def test_an_unknown_agent_is_404_but_only_after_the_403(live: World) -> None:
    token = (await issue_token(live.store, "1001")).token
    for method, template in ENDPOINTS:
        path = template.format(agent="9999")
        admin = await ask(live, method, path)
        assert (admin.status, admin.body) == (
            404,
            {"error": "no agent '9999'", "id": "no-such-agent", "detail": None},
        ), path
        agent = await ask(live, method, path, f"Bearer {token}")
        assert agent.status == 403, f"{method} {path}: 1001 learns nothing of other agents: {agent.text}"


@pytest.mark.parametrize("verb", ["pause", "resume"])
async def test_pausing_an_agent_on_no_call_is_a_conflict(live: World, verb: str) -> None:
    token = (await issue_token(live.store, "1002")).token
    answer = await ask(live, "POST", f"agents/1002/recording/{verb}", f"Bearer {token}")
    assert (answer.status, answer.body) == (
        409,
        {"error": "agent 1002 is on no call", "id": "not-now", "detail": None},
    )
    assert await state_of(live, "1002") == "idle"


async def test_pausing_a_segment_that_is_not_recorded_is_a_conflict(live: World) -> None:
    answer = await ask(live, "POST", "agents/1003/recording/pause")
    assert answer.status == 409, answer.text
    assert "is not recorded: nothing to pause" in answer.body["error"]
    assert await state_of(live, "1003") == "not-recorded"


async def test_pausing_where_the_queue_allows_none_is_forbidden(live: World) -> None:
    token = (await issue_token(live.store, "1004")).token
    answer = await ask(live, "POST", "agents/1004/recording/pause", f"Bearer {token}")
    assert answer.status == 403, answer.text
    assert answer.body == {
        "error": "pausing is not allowed on queue no-pausing",
        "id": "not-allowed",
        "detail": None,
    }
    resumed = await ask(live, "POST", "agents/1004/recording/resume", f"Bearer {token}")
    assert (resumed.status, resumed.body["state"]) == (200, "recording"), "resuming is never refused"
    assert await state_of(live, "1004") == "recording"


async def test_pausing_twice_pauses_once_and_resuming_twice_resumes_once(live: World) -> None:
    bearer = f"Bearer {(await issue_token(live.store, '1005')).token}"
    path = "agents/1005/recording"
    first, second = [await ask(live, "POST", f"{path}/pause", bearer) for _ in range(2)]
    assert (first.status, second.status) == (200, 200), (first.text, second.text)
    assert first.body["state"] == second.body["state"] == "muted", "silence: the call's audio is muted"
    assert first.body["pause"]["number"] == second.body["pause"]["number"] == 1
    assert first.body["pause"]["started_at"] == second.body["pause"]["started_at"]
    assert first.body["pause"]["by"] == "1005"
    assert second.body["pause_count"] == 1 and second.body["pause"]["ended_at"] is None
    resumed, again = [await ask(live, "POST", f"{path}/resume", bearer) for _ in range(2)]
    assert (resumed.status, again.status) == (200, 200), (resumed.text, again.text)
    assert resumed.body["state"] == again.body["state"] == "recording"
    assert resumed.body["pause"] is None and again.body["pause"] is None
    assert again.body["pause_count"] == 1
    (ended,) = (await ask(live, "GET", f"{path}/pauses", bearer)).body["pauses"]
    assert (ended["number"], ended["ended_by"], ended["resumed_by"]) == (1, "resume", "1005")
