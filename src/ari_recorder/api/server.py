"""The HTTP API (/api/v1): live calls and transfers; the agent desktop's pause, resume and
recording state; webchats' reports; /metrics. Who may ask for what: api/privileges.py, one
privilege per endpoint, checked by its middleware; the handlers check the subject's scope.

Every answer is JSON, one of api/bodies.py's Structs. Handlers raise the application's errors
(ari_recorder/errors.py) and never choose a status: api/errors.py does, for every error, as
`{"error", "id", "detail"}`. Bearer tokens are compared in constant time and never logged. The
document of it all is api/openapi.py, generated from the bodies and the statuses.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from ari_recorder import clock
from ari_recorder.api import bodies as b
from ari_recorder.api import deliveries, holds, timelines
from ari_recorder.api.bodies import answer, read_as
from ari_recorder.api.deliveries import page_bound
from ari_recorder.api.errors import (
    CallTimedOut,
    Done,
    Handler,
    NoSuchAgent,
    NoSuchChat,
    NotReady,
    NotYours,
    SpoolUnwritable,
    Standby,
    json_errors,
    respond,
)
from ari_recorder.api.guard import Gate, GuardedSite, beyond_loopback, body_deadline, security_headers
from ari_recorder.api.logins import add_login_routes
from ari_recorder.api.openapi import document
from ari_recorder.api.pages import add_agent_page, add_supervisor_page
from ari_recorder.api.pages.view import call_json
from ari_recorder.api.privileges import (
    CALLER,
    Caller,
    access,
    check_declared,
    in_scope,
    reach,
    sees_agent,
    sees_call,
    stays_in_scope,
)
from ari_recorder.api.reads import Reads, add_routes
from ari_recorder.api.settings_routes import add_settings_routes
from ari_recorder.api.tls import server_context
from ari_recorder.ari.errors import AriError
from ari_recorder.domain import call as c
from ari_recorder.domain.access import Role
from ari_recorder.engine.chats import BadChat, ChatIntake, ChatReport, Conflict, NotConfigured, outcome_json
from ari_recorder.engine.controller import Controller
from ari_recorder.engine.errors import AsteriskRefused, NoSuchCall, NoSuchTarget, NotNow
from ari_recorder.health import Health, unencrypted
from ari_recorder.settings import ApiSettings
from ari_recorder.storage.calls import pause_json
from ari_recorder.storage.interaction_reads import Within

log = logging.getLogger("ari_recorder.api")
CONTROLLER = web.AppKey("controller", Controller)
SETTINGS = web.AppKey("settings", ApiSettings)
CHATS = web.AppKey("chats", ChatIntake)
HEALTH = web.AppKey("health", Health)
# A chat's whole conversation comes in one body (aiohttp's default is 1 MiB); larger: 413.
MAX_BODY = 16 * 1024 * 1024


@web.middleware
async def leader_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A standby takes no call and changes nothing: its calls are the leader's."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and not request.app[CONTROLLER].leading:
        raise Standby(
            "standby: this controller is not the leader; send this to the leader",
            "another controller holds the leadership (PostgreSQL advisory lock) and takes the calls",
        )
    return await handler(request)


def _caller(request: web.Request) -> Caller:
    """The caller the access middleware let in (every route that gets here needs a token)."""
    return request[CALLER]


async def _who_may(request: web.Request, privilege: str) -> str:
    """api/holds.py's and api/reads.py's hook: the access middleware has checked the route's
    privilege already; who the caller is, as the audit trail names it."""
    return _caller(request).who


def _reach(request: web.Request) -> Within | None:
    """api/reads.py's hook: the interactions the caller's scope covers, by today's agents' teams."""
    return reach(_caller(request).scope, request.app[CONTROLLER].settings.agents)


async def _agent_asked(request: web.Request) -> tuple[Caller, str]:
    """The caller, and the agent of the path: an agent may act for itself only, a supervisor for
    the agents in its scope (any other is answered as no such agent)."""
    caller = _caller(request)
    agent = request.match_info["agent"]
    if caller.role is Role.AGENT and caller.agent != agent:
        raise NotYours(f"agent {caller.agent} may act on its own recordings only")
    controller = request.app[CONTROLLER]
    agents = controller.settings.agents
    if agent not in agents or not sees_agent(
        caller.scope, agent, agents, controller.services.agent_call(agent)
    ):
        raise NoSuchAgent(f"no agent {agent!r}")
    return caller, agent


async def _who_asked(request: web.Request) -> tuple[str, str]:
    caller, agent = await _agent_asked(request)
    return caller.who, agent


async def list_calls(request: web.Request) -> web.Response:
    """GET /api/v1/calls: the live calls (a supervisor's: those in its scope)."""
    controller = request.app[CONTROLLER]
    seen = in_scope(controller.services.live_calls(), _caller(request).scope, controller.settings.agents)
    return respond(answer(b.Calls, {"calls": [call_json(call) for call in seen]}))


def _may_transfer(request: web.Request, call_id: str) -> c.Call | None:
    """The live call, if any; one outside the caller's scope is no call (404)."""
    scope, controller = _caller(request).scope, request.app[CONTROLLER]
    call = next((call for call in controller.services.live_calls() if call.id == call_id), None)
    if call is not None and not sees_call(scope, call, controller.settings.agents):
        raise NoSuchCall(f"no live call {call_id!r}")
    return call


def _may_transfer_to(request: web.Request, call: c.Call | None, agent: str | None, queue: str | None) -> None:
    """A target that would take the call out of the caller's scope is no target (422)."""
    settings = request.app[CONTROLLER].settings
    unknown = agent not in settings.agents if agent is not None else queue not in settings.queues
    if call is None or unknown:
        return  # the controller says there is no such call or target, as it does to anyone
    if not stays_in_scope(_caller(request).scope, call, settings.agents, settings.queues, agent, queue):
        raise NoSuchTarget(f"no agent {agent!r}" if agent is not None else f"no queue {queue!r}")


async def transfer(request: web.Request) -> web.Response:
    """POST /api/v1/calls/{id}/transfer {"agent": "1002"} or {"queue": "sales"}."""
    call_id = request.match_info["id"]
    call = _may_transfer(request, call_id)
    body = await read_as(request, b.Transfer, b.WrongBodyForm)
    agent = None if body.agent is msgspec.UNSET else body.agent
    queue = None if body.queue is msgspec.UNSET else body.queue
    if (agent is None) == (queue is None):
        raise b.WrongBodyForm(None, 'name exactly one of "agent" or "queue", as a string')
    _may_transfer_to(request, call, agent, queue)
    dialling = request.app[CONTROLLER].services.transfer(call_id, agent=agent, queue=queue)
    log.info("call=%s action=api-transfer to=%s", call_id, dialling)
    return respond(b.Dialling(call_id, dialling), Done.ACCEPTED)


async def place_call(request: web.Request) -> web.Response:
    """POST /api/v1/calls {"agent": "1001", "to": "15550100", "queue"?: "sales"}."""
    body = await read_as(request, b.PlaceCall, b.WrongBodyForm)
    try:
        call_id = await request.app[CONTROLLER].services.place_call(body.agent, body.to, body.queue)
    except AriError as e:  # Asterisk's own words, translated at the boundary
        raise AsteriskRefused("Asterisk refused the call", str(e)) from None
    log.info("call=%s action=api-dial-out agent=%s", call_id, body.agent)
    return respond(b.Placed(call_id, body.agent, body.to), Done.ACCEPTED)


def _recording_json(agent: str, call: c.Call | None) -> dict[str, Any]:
    """The agent desktop's view: the agent's call, segment, recording and pause."""
    segment = call.segment if call is not None else None
    pause = call.pause if call is not None else None
    recording = segment.recording if segment is not None else None
    now = clock.now()
    return {
        "agent": agent,
        "call": call.id if call is not None else None,
        "segment": segment.number if segment is not None else None,
        "recording": recording,
        "state": call.recording_state() if call is not None else "idle",
        "pause_allowed": call.pausing.allowed if call is not None else None,
        "pause": None
        if pause is None or call is None
        else {
            **pause_json(pause),
            "elapsed_seconds": round(pause.seconds(now), 3),
            "resumes_in_seconds": round(max(0.0, pause.started + call.pausing.max_seconds - now), 3),
        },
        # A count, not the list: an agent pausing over and over made every answer heavier
        # (290 KB after 1,007 pauses); the list is .../recording/pauses, a page at a time.
        "pause_count": c.pause_count(call) if call is not None else 0,
        "max_pauses": call.pausing.max_per_segment if call is not None else None,
    }


async def agent_recording(request: web.Request) -> web.Response:
    """GET /api/v1/agents/{agent}/recording: the agent's call and its recording, or idle."""
    _, agent = await _agent_asked(request)
    call = request.app[CONTROLLER].services.agent_call(agent)
    return respond(answer(b.AgentRecording, _recording_json(agent, call)))


async def agent_pauses(request: web.Request) -> web.Response:
    """GET /api/v1/agents/{agent}/recording/pauses?offset=0&limit=50: the current recording's
    pauses, oldest first, a page at a time (the sidecar has them all once the call ends)."""
    _, agent = await _agent_asked(request)
    offset = page_bound(request, "offset", 0, b.OFFSET_MOST)
    limit = page_bound(request, "limit", b.LIMIT_DEFAULT, b.LIMIT_MOST)
    call = request.app[CONTROLLER].services.agent_call(agent)
    segment = call.segment if call is not None else None
    recording = segment.recording if segment is not None else None
    pauses = [p for p in call.pauses if p.recording == recording] if call is not None and recording else []
    page = {
        "agent": agent,
        "recording": recording,
        "total": len(pauses),
        "offset": offset,
        "limit": limit,
        "pauses": [pause_json(p) for p in pauses[offset : offset + limit]],
    }
    return respond(answer(b.Pauses, page))


async def pause_or_resume(request: web.Request) -> web.Response:
    """POST /api/v1/agents/{agent}/recording/pause or .../resume: the state after (idempotent)."""
    caller, agent = await _agent_asked(request)
    services = request.app[CONTROLLER].services
    verb = request.match_info["verb"]
    ask = services.pause if verb == "pause" else services.resume
    try:
        call = await ask(agent, caller.who)
    except NoSuchCall as e:  # the agent is there, on no call: not now (the path's agent exists)
        raise NotNow(str(e)) from None
    except AsteriskRefused as e:
        raise AsteriskRefused(f"the recording could not be {verb}d", str(e)) from None
    except TimeoutError:
        raise CallTimedOut(f"the call did not answer the {verb} in time; ask for the state") from None
    return respond(answer(b.AgentRecording, _recording_json(agent, call)))


async def report_chat(request: web.Request) -> web.Response:
    """POST /api/v1/chats: an ended webchat, whole; 201 with what was decided per segment, or 200
    with the first report's outcome when the chat was received before."""
    report = await read_as(request, ChatReport)  # WrongBody names the field: $.segments[0].agent
    try:
        outcome = await request.app[CHATS].receive(report, _caller(request).who)
    except BadChat as e:
        raise BadChat("the chat cannot be taken", str(e)) from None
    except NotConfigured as e:
        raise NotConfigured("transcripts cannot be delivered", str(e)) from None
    except OSError as e:  # the spool: nothing of the chat was kept, the platform may send it again
        reason = "the spool's disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else e.strerror
        raise SpoolUnwritable("the transcript could not be written; send the chat again later", reason) from e
    recorded = [s.transcript for s in outcome.segments if s.transcript is not None]
    log.info(
        "chat=%s action=received new=%s transcripts=%s", report.id, outcome.new, ",".join(recorded) or "none"
    )
    return respond(answer(b.ChatOutcome, outcome_json(outcome)), Done.CREATED if outcome.new else Done.OK)


async def chat_outcome(request: web.Request) -> web.Response:
    """GET /api/v1/chats/{id}: what was decided for a chat received before."""
    try:
        outcome = await request.app[CHATS].read(request.match_info["id"], _caller(request).who)
    except Conflict as e:  # a call's id: asked for as a chat, there is no such chat
        raise NoSuchChat(str(e)) from None
    if outcome is None:
        raise NoSuchChat(f"no chat {request.match_info['id']!r} was received")
    return respond(answer(b.ChatOutcome, outcome_json(outcome)))


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the process serves (no token, like /metrics: for the orchestrator)."""
    return respond(b.Alive("alive"))


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: 200 when ARI is connected, the database answers and the controller is leader
    or standby; 503 naming what is not (no token)."""
    checks = await request.app[HEALTH].readiness()
    failing = [name for name, check in checks.items() if not check.ok]
    body = {
        "ready": not failing,
        "not_ready": failing,
        "role": request.app[HEALTH].role.value,
        "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in checks.items()},
        "unencrypted": await unencrypted(request.app[HEALTH].store)
        if request.app[HEALTH].keeps_unencrypted
        else None,
    }
    return respond(answer(b.Readiness, body), NotReady if failing else Done.OK)


async def openapi(request: web.Request) -> web.Response:
    settings = request.app[CONTROLLER].settings
    return web.json_response(document(settings.agents, settings.queues))


def build_app(
    controller: Controller, settings: ApiSettings, chats: ChatIntake, health: Health | None = None
) -> web.Application:
    privileges = access(SETTINGS, lambda request: request.app[CONTROLLER].store)
    app = web.Application(
        middlewares=[json_errors, leader_only, privileges, body_deadline(SETTINGS)], client_max_size=MAX_BODY
    )
    app.on_response_prepare.append(security_headers)
    app[CONTROLLER] = controller
    app[SETTINGS] = settings
    app[CHATS] = chats
    if health is not None:
        app[HEALTH] = health
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/calls", list_calls)
    app.router.add_post("/api/v1/calls", place_call)
    app.router.add_post("/api/v1/calls/{id}/transfer", transfer)
    app.router.add_get("/api/v1/agents/{agent}/recording", agent_recording)
    app.router.add_post("/api/v1/agents/{agent}/recording/{verb:pause|resume}", pause_or_resume)
    app.router.add_get("/api/v1/agents/{agent}/recording/pauses", agent_pauses)
    app.router.add_post("/api/v1/chats", report_chat)
    app.router.add_get("/api/v1/chats/{id}", chat_outcome)
    holds.add_routes(app, lambda request: request.app[CONTROLLER].store, _who_may)
    app.router.add_get("/metrics", make_aiohttp_handler())
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_routes(app, Reads(lambda: controller.store, _who_may, _reach))  # /api/v1/audit, /interactions
    add_login_routes(app, controller, _who_asked)
    deliveries.add_routes(app, lambda request: request.app[CONTROLLER].store, _who_may, _reach)
    timelines.add_routes(app, controller, _who_may, _reach)  # /api/v1/interactions/{id}/timeline.svg
    add_settings_routes(app, lambda request: request.app[CONTROLLER].admin, _who_may)  # /api/v1/settings
    # /agent, /supervisor: HTML for people, not in the JSON API's document
    add_agent_page(app, controller, settings)
    add_supervisor_page(app, controller, settings)
    check_declared(app.router)  # a route with no declared privilege: no app
    return app


@contextlib.asynccontextmanager
async def serving(
    controller: Controller, settings: ApiSettings, chats: ChatIntake, health: Health
) -> AsyncIterator[str]:
    """The API listening until the block ends; its base URL."""
    # The keep-alive timer runs from a connection's start and from each answer, and closes it
    # unless a request is under way: it bounds an unfinished head as well as an idle connection.
    # Lingering (the rest of a body no handler read, before closing) is bounded the same way.
    timeout = settings.request_timeout_seconds
    handler_args: dict[str, Any] = {
        "access_log": None,
        "keepalive_timeout": timeout,
        "lingering_time": timeout,
    }
    tls = server_context(settings)  # before anything listens: a wrong file stops the start
    runner = web.AppRunner(build_app(controller, settings, chats, health), **handler_args)
    await runner.setup()
    assert runner.server is not None
    gate = Gate(runner.server, settings.max_connections, handler_args)
    site = GuardedSite(runner, settings.listen, settings.port, gate, tls)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise OSError(f"api: cannot listen on {settings.listen}:{settings.port}: {e.strerror}") from None
    host, port = runner.addresses[0][:2]
    scheme = "https" if tls else "http"
    base = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    log.info(
        "api listening on %s/api/v1 (at most %d connections, %g s for a request's head and body)",
        base,
        settings.max_connections,
        settings.request_timeout_seconds,
    )
    if beyond_loopback(settings.listen) and tls is None:
        log.warning(
            "api: listening on %s, beyond loopback, without TLS: bearer tokens and call data cross "
            "the network in clear; set api.tls_certificate and api.tls_key, or listen on 127.0.0.1 "
            "behind a TLS proxy",
            settings.listen or "every address",
        )
    try:
        yield base
    finally:
        await runner.cleanup()
