"""The OpenAPI document (api/openapi.py) is kept true by schemathesis, run against the live server.

Schemathesis runs as a subprocess, so the server (in this process, on this test's event loop)
goes on serving while it asks. Each run has agent 1001 connected on a recorded call, so the
agent endpoints answer 200 for it, as well as 401, 403, 404 and 409 for the others.

One run per role. The administrator's asks every operation in depth. Another role's asks in
depth the operations its privileges let it call (`operations_of`: what it can reach past the
token check, where its scope and bodies are at stake), and the others only REFUSED_EXAMPLES
times each: the token check refuses them before anything of the request is read (the
privilege matrix, tests/api/test_privileges.py, asks each of them of each role), so more
examples would ask the same question again. A role added costs its own operations, not a run
over all of them.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
import schemathesis

from ari_recorder.api.openapi import document
from ari_recorder.api.privileges import PAUSE_VERBS, privilege_of
from ari_recorder.api.server import build_app
from ari_recorder.delivery import DeliverySettings, generate_keypair
from ari_recorder.domain.access import OPEN, Role, holds
from ari_recorder.settings import QueueSettings
from ari_recorder.storage.tokens import issue_token
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, AGENTS, World, world

QUEUES = {"support": QueueSettings(agents=["1001"]), "sales": QueueSettings(agents=["1002", "1003"])}
CALLER = "15550600"
OPEN_PATHS = ("/healthz", "/readyz")  # the routes that take no token
DEADLINE = 1200  # seconds for one schemathesis run, well above what it needs (~150 s, 400 examples)
EXAMPLES = 10  # issue 12: ten times the examples of before (40 and 25)
# Examples of each operation a role's token may not call (see the docstring); the coverage phase
# adds the document's own boundary cases to them, as to every operation.
REFUSED_EXAMPLES = 5

# Which checks, and why not the others. `all` but:
# - ensure_resource_availability: it expects a resource a POST created (a call, by POST
#   /api/v1/calls) to be there for the next request, but a call ends by itself: the customer's
#   number does not answer, or hangs up. A 404 for a call that ended is the truth, not a bug.
# positive_data_acceptance holds with the statuses below: a request the document allows may still
# name an agent, queue or call that is not there (404, 422) or not now (409); what it must
# never get is a 400, which would mean the document allows what the server refuses. A settings PUT
# or DELETE of an object that exists without If-Match is a 428 (api/settings_routes.py).
EXCLUDED_CHECKS = "ensure_resource_availability"
CONFIG = """
# The agents of the world, and one that is not: the agent endpoints do more than 404.
[dictionaries.agents]
values = ["1001", "1002", "1003", "nobody"]

[parameters]
"path.agent" = { dictionary = "agents", probability = 0.5 }

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "428"]
"""


def operations_of(role: Role) -> list[str]:
    """The document's operations, as schemathesis names them ("GET /api/v1/calls"), that a token
    of `role` may call: each route's privilege (api/privileges.py) held by the role. Not the
    open ones (/healthz, /readyz): no token is asked there, they are the administrator's run's."""
    names = []
    for path, item in document()["paths"].items():
        for method in item:
            route = (
                PAUSE_VERBS
                if re.fullmatch(r"/api/v1/agents/\{agent\}/recording/(pause|resume)", path)
                else path
            )
            privilege = privilege_of(method.upper(), route)
            assert privilege is not None, f"{method} {path}: no privilege in api/privileges.py"
            if privilege not in OPEN and holds(role, privilege):
                names.append(f"{method.upper()} {path}")
    return names


def config_for(role: Role, examples: int, stateful: bool = True) -> str:
    """The run's schemathesis.toml: `examples` of every operation for the administrator; for
    another role, `examples` of its own operations and as many stateful scenarios among them,
    and REFUSED_EXAMPLES of each other operation, which no scenario steps into (the token check
    ends any such step, whatever came before it). `stateful` False: no scenarios at all (a
    read-only role's links from its reads lead only to others' operations, and hypothesis then
    finds a state from which no step is allowed: an error of the run, not of the server)."""
    if role is Role.ADMINISTRATOR:
        return f"{CONFIG}\n[generation]\nmax-examples = {examples}\n"
    own = operations_of(role)
    others = [f"{m.upper()} {p}" for p, item in document()["paths"].items() for m in item]
    others = [name for name in others if name not in own]
    scenarios = (
        f"[phases.stateful.generation]\nmax-examples = {examples}\n\n"
        if stateful
        else "[phases.stateful]\nenabled = false\n\n"
    )
    return (
        f"{CONFIG}\n[generation]\nmax-examples = {REFUSED_EXAMPLES}\n\n{scenarios}"
        f"[[operations]]\ninclude-name = {json.dumps(own)}\ngeneration.max-examples = {examples}\n\n"
        f"[[operations]]\ninclude-name = {json.dumps(others)}\nphases.stateful.enabled = false\n"
    )


async def run_schemathesis(
    w: World, tmp: Path, token: str, role: Role, examples: int, stateful: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """Schemathesis's run against the live API with the token of `role`, `examples` of each
    operation the role may call (config_for); its output, and the exchanges (from its HAR
    report). Fails with the output when schemathesis finds anything wrong."""
    config, har = tmp / "schemathesis.toml", tmp / "exchanges.har"
    config.write_text(config_for(role, examples, stateful))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"),
        f"{w.api_url}/api/v1/openapi.json",
        *("--header", f"Authorization: Bearer {token}"),
        *("--checks", "all", "--exclude-checks", EXCLUDED_CHECKS),
        *("--request-timeout", "15"),
        *("--generation-database", "none", "--no-color", "--output-truncate", "false"),
        *("--report", "har", "--report-har-path", str(har)),
        cwd=tmp,  # where hypothesis and schemathesis leave anything they write
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), DEADLINE)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"schemathesis took more than {DEADLINE} s") from None
    output = out.decode(errors="replace")
    assert process.returncode == 0, f"schemathesis found the document or the server wrong:\n{output}"
    entries: list[dict[str, Any]] = json.loads(har.read_text())["log"]["entries"]
    assert entries, output
    return output, entries


def seen(entries: list[dict[str, Any]]) -> Counter[tuple[str, str, int]]:
    """How many times each (method, path after /api/v1/, or the whole path outside it, status)
    was seen."""
    request = [(e["request"], e["response"]["status"]) for e in entries]
    return Counter((asked["method"], _path(asked["url"]), status) for asked, status in request)


def _path(url: str) -> str:
    path = urlsplit(url).path
    return path.partition("/api/v1/")[2] if path.startswith("/api/v1/") else path


async def connected_call(w: World) -> None:
    await w.control("calls", {"queue": "support", "caller": CALLER})
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def recording() -> bool:
        async with w.http.get(f"{w.api_url}/api/v1/agents/1001/recording", headers=headers) as r:
            return bool((await r.json())["state"] == "recording")

    await until(recording, what="1001 connected and recorded", timeout=10)


async def test_the_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(document())
    schema.validate()  # against the OpenAPI 3.0 meta-schema; raises what is wrong
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 33
    assert not list(schema.iter_schema_warnings())


def test_the_document_names_every_route_of_the_server_and_no_other() -> None:
    app = build_app(None, None, None)  # type: ignore[arg-type]  # routes only: nothing is served
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        for verb in ("pause", "resume") if "{verb}" in path else ("",):
            routes.add((route.method.lower(), path.replace("{verb}", verb)))
    routes -= {("get", "/api/v1/openapi.json"), ("get", "/metrics"), ("head", "/api/v1/openapi.json")}
    routes -= {("head", path) for _, path in list(routes)}  # aiohttp's HEAD beside each GET
    # The pages, for people: HTML, not the API.
    routes -= {(m, p) for m, p in routes if p.startswith(("/agent", "/supervisor"))}
    documented = {(method, path) for path, item in document()["paths"].items() for method in item}
    assert routes == documented
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:  # /healthz, /readyz: for the orchestrator, no token
                assert path in ("/healthz", "/readyz"), f"{method} {path} takes no token"
                continue
            assert {"401", "403"} <= set(operation["responses"]), (
                f"{method} {path}: every route checks the token"
            )


def test_a_role_is_asked_in_depth_where_its_privileges_reach_and_no_further() -> None:
    everything = [f"{m.upper()} {p}" for p, item in document()["paths"].items() for m in item]
    assert operations_of(Role.ADMINISTRATOR) == [n for n in everything if n.split()[1] not in OPEN_PATHS]
    recording = "/api/v1/agents/{agent}/recording"
    assert sorted(operations_of(Role.AGENT)) == sorted(
        [
            f"GET {recording}",
            f"GET {recording}/pauses",
            f"POST {recording}/pause",
            f"POST {recording}/resume",
            "POST /api/v1/agents/{agent}/login",
            "POST /api/v1/agents/{agent}/logout",
        ]
    )
    assert sorted(operations_of(Role.CHAT_PLATFORM)) == ["GET /api/v1/chats/{id}", "POST /api/v1/chats"]
    toml = tomllib.loads(config_for(Role.AGENT, 7))
    assert toml["generation"]["max-examples"] == REFUSED_EXAMPLES
    assert toml["phases"]["stateful"]["generation"]["max-examples"] == 7
    own, others = toml["operations"]
    assert own == {"include-name": operations_of(Role.AGENT), "generation": {"max-examples": 7}}
    assert others["phases"] == {"stateful": {"enabled": False}}
    assert sorted(own["include-name"] + others["include-name"]) == sorted(everything)
    assert tomllib.loads(config_for(Role.ADMINISTRATOR, 7))["generation"]["max-examples"] == 7
    assert "operations" not in tomllib.loads(config_for(Role.ADMINISTRATOR, 7))


@pytest.mark.timeout(DEADLINE + 120)  # schemathesis's own bound, and the world around it
async def test_schemathesis_finds_the_document_true_for_the_administrator(tmp_path: Path) -> None:
    delivery = DeliverySettings(
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
        age_recipients=[generate_keypair(tmp_path / "platform.key")],
    )
    async with world(tmp_path, QUEUES, delivery=delivery) as w:
        await connected_call(w)
        _, entries = await run_schemathesis(w, tmp_path, ADMIN_TOKEN, Role.ADMINISTRATOR, 40 * EXAMPLES)
        await w.control("hangup", {"customer": CALLER})
    counts = seen(entries)
    assert counts[("GET", "calls", 200)], "the administrator sees the calls"
    assert any(status == 200 for method, path, status in counts if path.startswith("agents/")), counts
    assert any(path == "chats" for method, path, status in counts), "chats were reported"
    assert counts[("GET", "holds", 200)], "the holds were listed"
    held = {status for _, path, status in counts if path.endswith("/hold")}
    assert held - {401, 403, 405}, f"holds were put, past the token check: {held}"
    assert counts[("GET", "audit", 200)] and counts[("GET", "interactions", 200)], "the trail was read"
    assert counts[("GET", "settings", 200)], "the settings were read"
    assert any(path.startswith("settings/") and status == 422 for _, path, status in counts), "and changed"
    assert counts[("GET", "/healthz", 200)] and counts[("GET", "/readyz", 200)], counts


@pytest.mark.timeout(DEADLINE + 120)  # schemathesis's own bound, and the world around it
async def test_schemathesis_finds_the_document_true_for_an_agent(tmp_path: Path) -> None:
    """With 1001's token: its own endpoints answer 200, and nothing else gets past the token (a
    404 is a path no route matches; a 405 a method none does: both before the token)."""
    async with world(tmp_path, QUEUES) as w:
        await connected_call(w)
        token = (await issue_token(w.store, "1001")).token
        output, entries = await run_schemathesis(w, tmp_path, token, Role.AGENT, 25 * EXAMPLES)
        await w.control("hangup", {"customer": CALLER})
    counts = seen(entries)
    for verb in ("pause", "resume"):
        assert counts[("POST", f"agents/1001/recording/{verb}", 200)], f"1001 never {verb}d:\n{output}"
    others = {
        (method, path, status)
        for method, path, status in counts
        if not path.startswith("agents/1001/")
        and status not in (401, 403, 404, 405)
        and path not in OPEN_PATHS  # no token asked: the orchestrator's
    }
    assert not others, f"1001's token got past the token check on others' or administrators' routes: {others}"
    assert token not in json.dumps(entries)


@pytest.mark.timeout(DEADLINE + 120)  # schemathesis's own bound, and the world around it
async def test_schemathesis_finds_the_document_true_for_a_supervisor(tmp_path: Path) -> None:
    """With the token of team blue's supervisor (1001's team): 1001's recording and the
    interactions (its scope's) answer 200, the other agents are no agents (404), placing calls,
    chats and the audit trail are not a supervisor's (403)."""
    agents = {**AGENTS, "1001": msgspec.structs.replace(AGENTS["1001"], team="blue")}
    async with world(tmp_path, QUEUES, agents) as w:
        await connected_call(w)
        token = (await issue_token(w.store, None, role=Role.SUPERVISOR, teams=["blue"])).token
        output, entries = await run_schemathesis(w, tmp_path, token, Role.SUPERVISOR, 15 * EXAMPLES)
        await w.control("hangup", {"customer": CALLER})
    counts = seen(entries)
    assert counts[("GET", "calls", 200)] and counts[("GET", "agents/1001/recording", 200)], output
    assert counts[("GET", "interactions", 200)], output
    for method, path, status in counts:
        if path.startswith("agents/") and not path.startswith("agents/1001/"):
            assert status in (400, 401, 404, 405), (method, path, status)
        if path.startswith(("chats", "audit", "holds")) or (method, path) == ("POST", "calls"):
            assert status in (400, 401, 403, 404, 405), (method, path, status)
    assert token not in json.dumps(entries)


@pytest.mark.timeout(DEADLINE + 120)  # schemathesis's own bound, and the world around it
async def test_schemathesis_finds_the_document_true_for_a_compliance_officer(tmp_path: Path) -> None:
    """With a compliance officer's token: the trail, the interactions, the holds, the settings
    and the delivery queue are read (200); nothing is changed but legal holds: placing or
    transferring calls, pausing, reporting chats, retrying deliveries and writing settings are
    refused (403) before their bodies are read."""
    async with world(tmp_path, QUEUES) as w:
        await connected_call(w)
        token = (await issue_token(w.store, None, role=Role.COMPLIANCE)).token
        output, entries = await run_schemathesis(
            w, tmp_path, token, Role.COMPLIANCE, 15 * EXAMPLES, stateful=False
        )
        await w.control("hangup", {"customer": CALLER})
    counts = seen(entries)
    for read in ("audit", "interactions", "holds", "settings", "deliveries"):
        assert counts[("GET", read, 200)], f"{read} never read:\n{output}"
    writes = {
        (method, path, status)
        for method, path, status in counts
        if method in ("POST", "PUT", "DELETE")
        and not path.startswith("interactions/")  # legal holds: the officer's one change
        and status not in (401, 403, 404, 405)
    }
    assert not writes, f"a compliance officer changed something: {writes}"
    assert token not in json.dumps(entries)


@pytest.mark.timeout(DEADLINE + 120)  # schemathesis's own bound, and the world around it
async def test_schemathesis_finds_the_document_true_for_the_chat_platform(tmp_path: Path) -> None:
    """With the chat platform's token: chats are reported and read, and nothing else gets past
    the token check."""
    async with world(tmp_path, QUEUES) as w:
        token = (await issue_token(w.store, None, role=Role.CHAT_PLATFORM)).token
        output, entries = await run_schemathesis(w, tmp_path, token, Role.CHAT_PLATFORM, 15 * EXAMPLES)
    counts = seen(entries)
    assert any(path == "chats" and status in (200, 201, 202) for _, path, status in counts), output
    others = {
        (method, path, status)
        for method, path, status in counts
        if not path.startswith("chats") and path not in OPEN_PATHS and status not in (401, 403, 404, 405)
    }
    assert not others, f"the chat platform's token got past the token check: {others}"
    assert token not in json.dumps(entries)


async def test_the_served_document_names_the_configured_agents_and_queues_only(tmp_path: Path) -> None:
    """An empty agent, an unknown queue: bodies the document allowed and the server refused."""
    async with world(tmp_path, QUEUES) as w, w.http.get(f"{w.api_url}/api/v1/openapi.json") as r:
        served = await r.json()
    place = served["paths"]["/api/v1/calls"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    transfer = served["paths"]["/api/v1/calls/{id}/transfer"]["post"]["requestBody"]["content"]
    schemas = served["components"]["schemas"]
    chat = schemas["ChatReport"]["properties"]
    segment = schemas[chat["segments"]["items"]["$ref"].rpartition("/")[2]]["properties"]
    agents, queues = sorted(w.controller.settings.agents), ["sales", "support"]  # type: ignore[union-attr]
    assert place["properties"]["agent"]["enum"] == agents and "" not in agents
    assert place["properties"]["queue"]["enum"] == [*queues, None]  # null: the agent's own queue
    assert transfer["application/json"]["schema"]["properties"]["queue"]["enum"] == queues
    assert chat["queue"]["enum"] == queues
    assert segment["agent"]["enum"] == agents
    assert segment["queue"]["enum"] == [*queues, None]


async def test_the_server_takes_exactly_the_transfer_bodies_the_document_allows(tmp_path: Path) -> None:
    """What schemathesis found: null stood for absent, "" for no agent named. The document's
    bodies reach the call lookup (404: no call "nope"); any other is a 400."""
    bodies: list[tuple[Any, int]] = [
        ({"agent": "1002"}, 404),
        ({"queue": "sales"}, 404),
        ({"agent": ""}, 404),
        ({"agent": "1002", "extra": 1}, 404),
        ({}, 400),
        ({"agent": "1002", "queue": "sales"}, 400),
        ({"agent": "1002", "queue": None}, 400),
        ({"agent": None, "queue": "sales"}, 400),
        ({"agent": None}, 400),
        ({"agent": 1002}, 400),
        (["agent", "1002"], 400),
    ]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with world(tmp_path, QUEUES) as w:
        got = []
        for body, _ in bodies:
            async with w.http.post(
                f"{w.api_url}/api/v1/calls/nope/transfer", json=body, headers=headers
            ) as r:
                got.append((body, r.status))
    assert got == bodies
