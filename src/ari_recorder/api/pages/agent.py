"""The agent page (/agent): log in with the agent's token, see the call, pause and resume its
recording, live (server-sent events); HTML, CSS and a little JavaScript served from the package.

The session, its checks (CSRF, Origin, the token checked again on each request) and the audit
rows are api/pages/site.py's; a pause's own rows are the call's, as for the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ari_recorder import clock
from ari_recorder.api.errors import CallTimedOut
from ari_recorder.api.pages.site import CSRF_HEADER, Session, Site, close_streams, subject
from ari_recorder.api.pages.view import agent_view, steady
from ari_recorder.api.privileges import Caller
from ari_recorder.domain.access import Role
from ari_recorder.engine.controller import AsteriskRefused, Controller, NoSuchCall, NotNow
from ari_recorder.errors import AppError
from ari_recorder.settings import ApiSettings

log = logging.getLogger("ari_recorder.api")
HEARTBEAT_SECONDS = 15.0  # a comment on the live stream this often keeps proxies from closing it

PAGES = web.AppKey("agent_pages", Site)


def _agent(session: Session) -> str:
    agent = session.caller.agent
    assert agent is not None  # the site admits agents' tokens only
    return agent


def admits(controller: Controller) -> Callable[[Caller], str | None]:
    def why_not(caller: Caller) -> str | None:
        if caller.role is not Role.AGENT or caller.agent is None:
            return "Only an agent's token logs in here."
        if caller.agent not in controller.settings.agents:
            return f"Agent {caller.agent} is not configured on this controller."
        return None

    return why_not


async def page(request: web.Request) -> web.Response:
    """GET /agent: the page (its state comes by the live stream)."""
    site = request.app[PAGES]
    session = await site.opened(request)
    if isinstance(session, web.Response):
        return session
    return site.html(site.render("agent.html", agent=_agent(session), csrf=session.csrf))


def _view(site: Site, agent: str) -> dict[str, Any]:
    return agent_view(agent, site.controller.agent_call(agent), clock.now())


async def state(request: web.Request) -> web.Response:
    """GET /agent/state: the page's state now, as the live stream gives it."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    return web.json_response(_view(site, _agent(session)))


async def pause_or_resume(request: web.Request) -> web.Response:
    """POST /agent/pause or /agent/resume (X-CSRF-Token): the state after."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    site.check_csrf(request, session.csrf, request.headers.get(CSRF_HEADER))
    verb, agent = request.match_info["verb"], _agent(session)
    ask = site.controller.pause if verb == "pause" else site.controller.resume_recording
    refused: AppError | None = None
    try:
        call = await ask(agent, agent)
    except NoSuchCall as e:  # as the API: the agent is there, on no call
        refused = NotNow(str(e))
    except AsteriskRefused as e:
        refused = AsteriskRefused(f"the recording could not be {verb}d", str(e))
    except TimeoutError:
        refused = CallTimedOut(f"the call did not answer the {verb} in time; ask for the state")
    except AppError as e:  # not now, not allowed on this queue
        refused = e
    outcome = {"error": refused.id, "message": refused.message} if refused else {"error": None}
    log.info("agent=%s action=page-%s outcome=%s", agent, verb, outcome["error"] or "done")
    await site.audit(request, agent, verb, subject(session.caller), session=session.short, **outcome)
    if refused is not None:
        raise refused
    return web.json_response(agent_view(agent, call, clock.now()))


async def events(request: web.Request) -> web.StreamResponse:
    """GET /agent/events: the page's state whenever the agent's call changes (text/event-stream);
    `ended` when the session ends; a comment every HEARTBEAT_SECONDS."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    agent = _agent(session)

    async def view(_: Session) -> dict[str, Any]:
        return _view(site, agent)

    notifier = site.controller.persister.notifier
    return await site.stream(request, lambda: notifier.listen(agent), view, steady, HEARTBEAT_SECONDS)


def add_agent_page(app: web.Application, controller: Controller, settings: ApiSettings) -> None:
    """The agent page's routes on the API's app."""
    files = ("page.css", "agent.css", "agent.js")
    site = Site("agent", controller, settings, admits(controller), "Your agent token", files)
    app[PAGES] = site
    app.on_shutdown.append(lambda app: close_streams(app, controller))
    app.router.add_get("/agent", page)
    site.add_routes(app)
    app.router.add_get("/agent/state", state)
    app.router.add_post("/agent/{verb:pause|resume}", pause_or_resume)
    app.router.add_get("/agent/events", events)
