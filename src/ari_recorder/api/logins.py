"""Hot-desking over HTTP: POST /api/v1/agents/{agent}/login {"endpoint"} and .../logout. An
agent's token logs itself in and out; the administrator's token any agent (as pausing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ari_recorder.api import bodies as b
from ari_recorder.api.bodies import read_as
from ari_recorder.api.errors import respond
from ari_recorder.engine.controller import Controller
from ari_recorder.storage.logins import Moved

Asked = Callable[[web.Request], Awaitable[tuple[str, str]]]  # the caller's name, the path's agent


def _device(moved: Moved) -> b.AgentDevice:
    return b.AgentDevice(moved.agent, moved.after, moved.before, moved.displaced)


def add_login_routes(app: web.Application, controller: Controller, asked: Asked) -> None:
    async def login(request: web.Request) -> web.Response:
        who, agent = await asked(request)
        body = await read_as(request, b.AgentLogin)
        return respond(_device(await controller.logins.log_in(agent, body.endpoint, who)))

    async def logout(request: web.Request) -> web.Response:
        who, agent = await asked(request)
        return respond(_device(await controller.logins.log_out(agent, who)))

    app.router.add_post("/api/v1/agents/{agent}/login", login)
    app.router.add_post("/api/v1/agents/{agent}/logout", logout)
