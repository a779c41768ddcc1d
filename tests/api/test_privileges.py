"""The privilege matrix: every route of the app, asked by every role, over a real socket against a
controller on the simulator, is allowed or refused exactly as api/privileges.py and
domain/access.py say; a supervisor's scope holds; a route with no declared privilege builds no app.

One world serves the module: agent 1001 (team blue) on a call in queue `blue`, agent 1002 (team
green) on a call in queue `green`, whose partition is `emea`; each call is an interaction (its id
the call's), in a supervisor's scope as the call is. Requests that an allowed caller would
act on carry an empty body (400 after the privilege and the scope are checked): nothing is placed,
transferred or reported; pause/resume asks for `resume`, which changes nothing on a recording
that is not paused; a settings PUT (empty body) or DELETE (no If-Match) changes nothing either.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from ari_recorder.api import privileges
from ari_recorder.api.openapi import document
from ari_recorder.api.privileges import ROUTES, routes_of
from ari_recorder.api.server import build_app
from ari_recorder.domain.access import OPEN, PRIVILEGES, Privilege, Role, holds
from ari_recorder.settings import AgentSettings, QueueSettings
from ari_recorder.storage.audit_reads import LIMIT_DEFAULT
from ari_recorder.storage.tokens import issue_token
from tests.support.world import ADMIN_TOKEN, World, world

pytestmark = pytest.mark.asyncio(loop_scope="module")

AGENTS = {
    "1001": AgentSettings(
        endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100, team="blue", name="Ann"
    ),
    "1002": AgentSettings(
        endpoint="Local/1002@agent-phone", permit_recordings=True, record_percent=100, team="green"
    ),
}
QUEUES = {
    "blue": QueueSettings(agents=["1001"]),
    "green": QueueSettings(agents=["1002"], partitions=["emea"]),
}
CALLERS = {"blue": "15550700", "green": "15550701"}
SUBJECTS = {"blue": "1001", "green": "1002"}  # each subject: its agent (and that agent's call)
# What a subject outside a supervisor's scope is told (as if there were no such subject).
SCOPE_404 = {"no-such-call", "no-such-agent", "no-such-interaction"}
INTERACTION = "/api/v1/interactions/{id}"


@dataclass(frozen=True)
class Who:
    """A caller of the matrix: its token (None: none), its role, and the subjects in its reach."""

    token: str | None
    role: Role | None
    reach: frozenset[str] = frozenset(SUBJECTS)


@dataclass
class Live:
    w: World
    calls: dict[str, str]  # subject: the id of its agent's call
    callers: dict[str, Who]


async def _calls(w: World) -> list[dict[str, Any]]:
    async with w.http.get(
        f"{w.api_url}/api/v1/calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as r:
        assert r.status == 200, await r.text()
        return list((await r.json())["calls"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    async with world(tmp_path_factory.mktemp("privileges"), QUEUES, AGENTS) as w:
        for queue, caller in CALLERS.items():
            await w.control("calls", {"queue": queue, "caller": caller})
        deadline = time.monotonic() + 10
        while len(connected := [c for c in await _calls(w) if c["phase"] == "connected"]) < 2:
            assert time.monotonic() < deadline, f"the agents never both connected: {connected}"
            await asyncio.sleep(0.1)
        calls = {
            subject: next(c["id"] for c in connected if c["agent"] == a) for subject, a in SUBJECTS.items()
        }

        async def token(role: Role, agent: str | None = None, **scope: list[str]) -> str:
            return (await issue_token(w.store, agent, role=role, **scope)).token  # type: ignore[arg-type]

        callers = {
            "no token": Who(None, None),
            "admin (settings)": Who(ADMIN_TOKEN, Role.ADMINISTRATOR),
            "administrator": Who(await token(Role.ADMINISTRATOR), Role.ADMINISTRATOR),
            "supervisor of blue": Who(
                await token(Role.SUPERVISOR, teams=["blue"]), Role.SUPERVISOR, frozenset({"blue"})
            ),
            "supervisor of emea": Who(
                await token(Role.SUPERVISOR, partitions=["emea"]), Role.SUPERVISOR, frozenset({"green"})
            ),
            "compliance": Who(await token(Role.COMPLIANCE), Role.COMPLIANCE),
            "agent 1001": Who(await token(Role.AGENT, "1001"), Role.AGENT, frozenset({"blue"})),
            "chat-platform": Who(await token(Role.CHAT_PLATFORM), Role.CHAT_PLATFORM),
        }
        yield Live(w, calls, callers)
        for caller in CALLERS.values():
            await w.control("hangup", {"customer": caller})
        for _ in CALLERS:
            await asyncio.wait_for(w.reports.get(), 15)


def the_routes() -> list[tuple[str, str]]:
    return routes_of(build_app(None, None, None).router)  # type: ignore[arg-type]  # routes only


def request_for(live: Live, method: str, path: str, subject: str) -> tuple[str, Any]:
    """The concrete path (on `subject`'s agent or call) and body for a route."""
    concrete = (
        path.replace("{agent}", SUBJECTS[subject])
        .replace("{verb}", "resume")
        .replace("{name}", "agent.js")
        .replace("/calls/{id}", f"/calls/{live.calls[subject]}")
        .replace("/chats/{id}", "/chats/no-such-chat")
        .replace("/interactions/{id}", f"/interactions/{live.calls[subject]}")
        .replace("/settings/agents/{id}", "/settings/agents/1001")
        .replace("/settings/queues/{id}", "/settings/queues/blue")
    )
    return concrete, {} if method in ("POST", "PUT") else None


def has_subject(path: str) -> bool:
    return "{agent}" in path or path.startswith("/api/v1/calls/{id}") or path.startswith(INTERACTION)


async def answer(live: Live, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if body is not None:
        kwargs["json"] = body
    async with live.w.http.request(method, f"{live.w.api_url}{path}", **kwargs) as r:
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, None  # HTML, a stream, metrics' text


def expected(who: Who, privilege: Privilege, subject: str, path: str) -> str:
    """What the matrix says: allowed, 401, forbidden-role, out-of-scope (404) or another-agents."""
    if privilege in OPEN:
        return "allowed"
    if who.role is None:
        return "401"
    if not holds(who.role, privilege):
        return "forbidden-role"
    if has_subject(path) and subject not in who.reach:
        return "another-agents" if who.role is Role.AGENT else "out-of-scope"
    return "allowed"


def verdict(status: int, body: Any) -> str:
    error = body.get("id") if isinstance(body, dict) else None
    if status == 401:
        return "401"
    if status == 403:
        return str(error)
    if status == 404 and error in SCOPE_404:
        return "out-of-scope"
    return "allowed"


async def test_every_route_by_every_role_is_allowed_or_refused_as_the_table_says(live: Live) -> None:
    routes = the_routes()
    assert {m for m, _ in routes} <= {"GET", "POST", "PUT", "DELETE"}
    assert set(routes) == set(ROUTES), "every route declared, and nothing declared that is not a route"
    wrong, asked = [], 0
    for method, path in routes:
        privilege = ROUTES[(method, path)]
        if privilege is Privilege.PAGE:
            continue  # the page's own session decides, whatever the bearer: the next test
        for subject in SUBJECTS if has_subject(path) else ("blue",):
            concrete, body = request_for(live, method, path, subject)
            for name, who in live.callers.items():
                status, got = await answer(live, method, concrete, body, who.token)
                asked += 1
                want, was = expected(who, privilege, subject, path), verdict(status, got)
                if want != was:
                    wrong.append(f"{method} {concrete} by {name}: expected {want}, got {status} {got}")
    assert not wrong, "\n".join(wrong)
    assert asked >= 100, asked


async def test_the_agent_pages_answer_alike_whatever_the_bearer(live: Live) -> None:
    """The page's routes take no bearer token: its session does, which only an agent's opens
    (tests/api/test_agent_page.py)."""
    for method, path in the_routes():
        if ROUTES[(method, path)] is not Privilege.PAGE:
            continue
        concrete, _ = request_for(live, method, path, "blue")
        answers = {
            name: (await answer(live, method, concrete, None, who.token))[0]
            for name, who in live.callers.items()
        }
        assert len(set(answers.values())) == 1, (method, concrete, answers)


async def test_a_supervisor_lists_the_calls_of_its_scope_only(live: Live) -> None:
    async def listed(name: str) -> set[str]:
        status, body = await answer(live, "GET", "/api/v1/calls", None, live.callers[name].token)
        assert status == 200, body
        return {call["agent"] for call in body["calls"]}

    assert await listed("supervisor of blue") == {"1001"}
    assert await listed("supervisor of emea") == {"1002"}, "by the call's partition"
    assert await listed("administrator") == await listed("compliance") == {"1001", "1002"}


async def test_a_supervisor_lists_and_reads_the_interactions_of_its_scope_only(live: Live) -> None:
    """Team blue's supervisor: 1001's interaction; emea's: 1002's, by its queue's partition. One
    out of scope is answered exactly as an unknown id; every read is in the trail."""

    async def listed(name: str, query: str = "") -> tuple[set[str], Any]:
        status, body = await answer(
            live, "GET", f"/api/v1/interactions{query}", None, live.callers[name].token
        )
        assert status == 200, body
        return {item["id"] for item in body["items"]}, body["next"]

    blue, green = live.calls["blue"], live.calls["green"]
    assert await listed("supervisor of blue") == ({blue}, None)
    assert await listed("supervisor of blue", "?limit=1") == ({blue}, None), "no page after: none seen"
    assert await listed("supervisor of emea") == ({green}, None), "by the interaction's partition"
    assert await listed("supervisor of blue", "?agent=1002") == (set(), None)
    assert (await listed("administrator"))[0] == (await listed("compliance"))[0] == {blue, green}

    token = live.callers["supervisor of blue"].token
    status, mine = await answer(live, "GET", f"/api/v1/interactions/{blue}", None, token)
    assert status == 200 and [s["agent"] for s in mine["segments"]] == ["1001"], mine
    hidden = await answer(live, "GET", f"/api/v1/interactions/{green}", None, token)
    unknown = await answer(live, "GET", "/api/v1/interactions/no-such-interaction", None, token)
    assert hidden[0] == unknown[0] == 404
    assert hidden[1] == {**unknown[1], "error": unknown[1]["error"].replace("no-such-interaction", green)}
    assert green in hidden[1]["error"] and hidden[1]["id"] == "no-such-interaction"

    supervisor = f"supervisor/{token[4:16]}"  # type: ignore[index]
    status, trail = await answer(
        live, "GET", f"/api/v1/audit?actor={supervisor}&limit=100", None, live.callers["compliance"].token
    )
    assert status == 200, trail
    reads = [(row["action"], row["subject"], row["detail"]) for row in trail["items"]]
    within = {"teams": ["blue"], "partitions": []}
    assert (
        "interaction-read",
        green,
        {"found": False, "recordings": [], "within": within, "outside_reach": True},
    ) in reads
    assert (
        "interaction-read",
        "no-such-interaction",
        {"found": False, "recordings": [], "within": within, "outside_reach": False},
    ) in reads
    listings = [detail for action, _, detail in reads if action == "interactions-read"]
    filtered = {"filters": {"agent": "1002"}, "cursor": None, "limit": LIMIT_DEFAULT, "within": within}
    assert filtered in listings


async def test_a_supervisor_transfers_within_its_scope_only(live: Live) -> None:
    token = live.callers["supervisor of blue"].token
    blue = f"/api/v1/calls/{live.calls['blue']}/transfer"
    status, body = await answer(live, "POST", blue, {"agent": "1002"}, token)
    assert (status, body["id"]) == (422, "no-such-target"), "to an agent outside its teams"
    status, body = await answer(live, "POST", blue, {"queue": "green"}, token)
    assert (status, body["id"]) == (422, "no-such-target"), "to a queue outside its scope"
    green = f"/api/v1/calls/{live.calls['green']}/transfer"
    status, body = await answer(live, "POST", green, {"agent": "1001"}, token)
    assert (status, body["id"]) == (404, "no-such-call"), "a call outside its scope is no call"
    status, body = await answer(live, "POST", "/api/v1/calls/no-such/transfer", {"agent": "1002"}, token)
    assert (status, body["id"]) == (404, "no-such-call"), "told alike: no existence leaks"
    # A call in scope by its partition stays in scope whoever takes it: 1001 is busy, not hidden.
    emea = live.callers["supervisor of emea"].token
    status, body = await answer(live, "POST", green, {"agent": "1001"}, emea)
    assert (status, body["id"]) == (409, "not-now"), body


async def test_a_supervisor_pauses_on_behalf_of_an_agent_of_its_team(live: Live) -> None:
    token = live.callers["supervisor of blue"].token
    status, body = await answer(live, "POST", "/api/v1/agents/1001/recording/pause", {}, token)
    assert (status, body["pause"]["by"]) == (200, f"supervisor/{token[4:16]}"), body
    assert body["state"] != "recording", body
    status, body = await answer(live, "POST", "/api/v1/agents/1001/recording/resume", {}, token)
    assert (status, body["state"]) == (200, "recording")
    status, body = await answer(live, "POST", "/api/v1/agents/1002/recording/pause", {}, token)
    assert (status, body["id"]) == (404, "no-such-agent")


async def test_a_route_without_a_declared_privilege_builds_no_app(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = dict(ROUTES)
    del routes[("GET", "/api/v1/calls")]
    monkeypatch.setattr(privileges, "ROUTES", routes)
    with pytest.raises(RuntimeError, match="no privilege declared for GET /api/v1/calls"):
        build_app(None, None, None)  # type: ignore[arg-type]


async def test_the_document_states_each_operations_privilege_and_its_403() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            route = re.sub(r"/recording/(pause|resume)$", "/recording/{verb}", path)
            privilege = ROUTES[(method.upper(), route)]
            assert operation["x-privilege"] == privilege.value, (method, path)
            refusals = operation["responses"].get("403", {}).get("description", "")
            if privilege in OPEN:
                assert "`forbidden-role`" not in refusals and operation["description"] == "No token.", path
            else:
                assert f"`forbidden-role`: the token's role does not hold `{privilege.value}`" in refusals
                assert operation["description"].startswith(f"Privilege `{privilege.value}`: held by ")


async def test_the_roles_hold_what_they_are_for() -> None:
    assert PRIVILEGES[Role.ADMINISTRATOR] == frozenset(Privilege) - OPEN
    writes = {p for p in Privilege if p.value.split(":")[-1] not in ("read",)} - OPEN
    assert PRIVILEGES[Role.COMPLIANCE] & writes == {Privilege.HOLDS_WRITE}, "read-only but for holds"
    assert PRIVILEGES[Role.CHAT_PLATFORM] == {Privilege.CHATS_REPORT, Privilege.CHATS_READ}
    assert PRIVILEGES[Role.AGENT] == {
        Privilege.RECORDING_READ,
        Privilege.RECORDING_PAUSE,
        Privilege.DEVICES_LOGIN,
    }
    assert PRIVILEGES[Role.SUPERVISOR] == {  # each within its scope (the handlers check it)
        Privilege.CALLS_READ,
        Privilege.CALLS_TRANSFER,
        Privilege.RECORDING_READ,
        Privilege.RECORDING_PAUSE,
        Privilege.DEVICES_LOGIN,
        Privilege.INTERACTIONS_READ,
        Privilege.DELIVERIES_READ,
    }
    assert Privilege.SETTINGS_WRITE not in PRIVILEGES[Role.SUPERVISOR], "000: an administrator's act"
