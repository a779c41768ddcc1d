"""The HTTP API (/api/v1): live calls and transfers for now, for administrators.

Every answer is JSON; every error is `{"error": ..., "detail": ...}` with its status. Bearer tokens
are compared in constant time and never logged.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ari_recorder.ari.errors import AriError
from ari_recorder.domain import call as c
from ari_recorder.engine.controller import Controller, NoSuchCall, NoSuchTarget, NotNow
from ari_recorder.settings import ApiSettings

log = logging.getLogger("ari_recorder.api")
CONTROLLER = web.AppKey("controller", Controller)
SETTINGS = web.AppKey("settings", ApiSettings)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return web.json_response({"error": e.error, "detail": e.detail}, status=e.status)
    except web.HTTPException as e:  # aiohttp's own: unknown path, wrong method
        return web.json_response({"error": e.reason, "detail": None}, status=e.status)


def _require_admin(request: web.Request) -> None:
    expected = request.app[SETTINGS].admin_token
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected:
        raise ApiError(401, "no administrator token is configured (api.admin_token)")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "a valid bearer token is required")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, "the body is not JSON", str(e)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _call_json(call: c.Call) -> dict[str, Any]:
    segment = call.segment
    return {
        "id": call.id,
        "direction": call.interaction.direction.value,
        "queue": call.interaction.queue,
        "phase": call.phase.value,
        "agent": segment.agent if segment else None,
        "segment": segment.number if segment else None,
        "recording": segment.recording if segment else None,
        "transferring_to": call.transfer_to.policy.agent if call.transfer_to else None,
    }


async def list_calls(request: web.Request) -> web.Response:
    _require_admin(request)
    return web.json_response({"calls": [_call_json(call) for call in request.app[CONTROLLER].live_calls()]})


async def transfer(request: web.Request) -> web.Response:
    """POST /api/v1/calls/{id}/transfer {"agent": "1002"} or {"queue": "sales"}."""
    _require_admin(request)
    body = await _body(request)
    agent, queue = body.get("agent"), body.get("queue")
    if (agent is None) == (queue is None) or not isinstance(agent or queue, str):
        raise ApiError(400, 'name exactly one of "agent" or "queue", as a string', body)
    call_id = request.match_info["id"]
    try:
        dialling = request.app[CONTROLLER].request_transfer(call_id, agent=agent, queue=queue)
    except NoSuchCall as e:
        raise ApiError(404, str(e)) from None
    except NoSuchTarget as e:
        raise ApiError(422, str(e)) from None
    except NotNow as e:
        raise ApiError(409, str(e)) from None
    log.info("call=%s action=api-transfer to=%s", call_id, dialling)
    return web.json_response({"call": call_id, "dialling": dialling}, status=202)


async def place_call(request: web.Request) -> web.Response:
    """POST /api/v1/calls {"agent": "1001", "to": "15550100", "queue"?: "sales"}."""
    _require_admin(request)
    body = await _body(request)
    agent, to, queue = body.get("agent"), body.get("to"), body.get("queue")
    if not isinstance(agent, str) or not isinstance(to, str) or not isinstance(queue, str | None):
        raise ApiError(400, '"agent" and "to" are required, as strings ("queue" optional)', body)
    try:
        call_id = await request.app[CONTROLLER].place_call(agent, to, queue)
    except NoSuchTarget as e:
        raise ApiError(422, str(e)) from None
    except NotNow as e:
        raise ApiError(409, str(e)) from None
    except AriError as e:
        raise ApiError(502, "Asterisk refused the call", str(e)) from None
    log.info("call=%s action=api-dial-out agent=%s", call_id, agent)
    return web.json_response({"call": call_id, "agent": agent, "to": to}, status=202)


def build_app(controller: Controller, settings: ApiSettings) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[CONTROLLER] = controller
    app[SETTINGS] = settings
    app.router.add_get("/api/v1/calls", list_calls)
    app.router.add_post("/api/v1/calls", place_call)
    app.router.add_post("/api/v1/calls/{id}/transfer", transfer)
    return app


@contextlib.asynccontextmanager
async def serving(controller: Controller, settings: ApiSettings) -> AsyncIterator[str]:
    """The API listening until the block ends; its base URL."""
    runner = web.AppRunner(build_app(controller, settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.listen, settings.port)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise OSError(f"api: cannot listen on {settings.listen}:{settings.port}: {e.strerror}") from None
    host, port = runner.addresses[0][:2]
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    log.info("api listening on %s/api/v1", base)
    try:
        yield base
    finally:
        await runner.cleanup()
