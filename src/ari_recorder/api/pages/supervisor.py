"""The supervisor page (/supervisor): log in with a supervisor's, a compliance officer's or an
administrator's token; within the caller's scope, the live calls and their segments as they change
(server-sent events: recorded or not and why, paused and for how long, transfers), the delivery
queue (pending, failing, dead and why; a dead file retried, administrators only), and any
interaction's timeline picture (api/timeline.py), shown in the page and downloadable.

Each part needs the privilege its API endpoint needs (calls:read, deliveries:read,
deliveries:retry, interactions:read): a part the caller's role does not hold is not shown, and
asked for anyway is refused (forbidden-role). The session, its checks and the audit rows are
api/pages/site.py's; reads are audited as the API's are (the same functions).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ari_recorder import clock
from ari_recorder.api import deliveries, timelines
from ari_recorder.api.bodies import LIMIT_DEFAULT, LIMIT_MOST, OFFSET_MOST, read_as
from ari_recorder.api.delivery_bodies import RetryDelivery
from ari_recorder.api.errors import ForbiddenRole
from ari_recorder.api.pages.site import CSRF_HEADER, Session, Site, subject
from ari_recorder.api.pages.view import live_call
from ari_recorder.api.privileges import Caller, in_scope, reach
from ari_recorder.domain.access import Privilege, Role, holds
from ari_recorder.engine.controller import Controller
from ari_recorder.settings import ApiSettings

log = logging.getLogger("ari_recorder.api")
HEARTBEAT_SECONDS = 15.0
ROLES = (Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMINISTRATOR)
P = Privilege

PAGES = web.AppKey("supervisor_pages", Site)


def why_not(caller: Caller) -> str | None:
    if caller.role not in ROLES:
        return "Only a supervisor's, a compliance officer's or an administrator's token logs in here."
    return None


def _needs(session: Session, privilege: Privilege) -> None:
    role = session.caller.role
    if not holds(role, privilege):
        raise ForbiddenRole(
            f"a token of role {role.value} does not hold {privilege.value}",
            {"role": role.value, "privilege": privilege.value},
        )


def _reach(caller: Caller) -> str:
    """Who is logged in and what they see, in words."""
    if caller.role is not Role.SUPERVISOR:
        token = "api.admin_token" if caller.token is None else caller.token
        return f"{caller.role.value.capitalize()} ({token})"
    teams = ", ".join(sorted(caller.scope.teams)) or "none"
    partitions = ", ".join(sorted(caller.scope.partitions)) or "none"
    return f"Supervisor {caller.token}: teams {teams}; partitions {partitions}"


async def page(request: web.Request) -> web.Response:
    """GET /supervisor: the page (its calls come by the live stream)."""
    site = request.app[PAGES]
    session = await site.opened(request)
    if isinstance(session, web.Response):
        return session
    role = session.caller.role
    flags = {
        "deliveries": holds(role, P.DELIVERIES_READ),
        "retry": holds(role, P.DELIVERIES_RETRY),
        "timeline": holds(role, P.INTERACTIONS_READ),
    }
    shown = {name: "true" if held else "false" for name, held in flags.items()}
    return site.html(site.render("supervisor.html", who=_reach(session.caller), csrf=session.csrf, **shown))


def _calls(site: Site, session: Session) -> dict[str, Any]:
    controller = site.controller
    agents = controller.settings.agents
    names = {agent: settings.name for agent, settings in agents.items()}
    seen = in_scope(controller.live_calls(), session.caller.scope, agents)
    now = clock.now()
    return {"calls": [live_call(call, now, names) for call in seen]}


def _steady(view: dict[str, Any]) -> Any:
    """The view without its running timers: what a change is judged by."""
    return [{**call, "pause": call["pause"] and call["pause"]["number"]} for call in view["calls"]]


async def state(request: web.Request) -> web.Response:
    """GET /supervisor/state: the live calls in scope now, as the live stream gives them."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    _needs(session, P.CALLS_READ)
    return web.json_response(_calls(site, session))


async def events(request: web.Request) -> web.StreamResponse:
    """GET /supervisor/events: the live calls in scope whenever one changes (text/event-stream)."""
    site = request.app[PAGES]
    _needs(await site.signed_in(request), P.CALLS_READ)

    async def view(session: Session) -> dict[str, Any]:
        return _calls(site, session)

    notifier = site.controller.persister.notifier
    return await site.stream(request, notifier.listen_all, view, _steady, HEARTBEAT_SECONDS)


async def delivery_queue(request: web.Request) -> web.Response:
    """GET /supervisor/deliveries?state=&offset=&limit=: a page of the queue (deliveries:read)."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    _needs(session, P.DELIVERIES_READ)
    wanted = deliveries.state_asked(request)
    offset = deliveries.page_bound(request, "offset", 0, OFFSET_MOST)
    limit = deliveries.page_bound(request, "limit", LIMIT_DEFAULT, LIMIT_MOST, least=1)
    controller = site.controller
    within = reach(session.caller.scope, controller.settings.agents)
    return web.json_response(
        await deliveries.deliveries_page(controller.store, session.caller.who, wanted, offset, limit, within)
    )


async def retry(request: web.Request) -> web.Response:
    """POST /supervisor/deliveries/retry {"id"} (X-CSRF-Token; deliveries:retry)."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    site.check_csrf(request, session.csrf, request.headers.get(CSRF_HEADER))
    _needs(session, P.DELIVERIES_RETRY)
    body = await read_as(request, RetryDelivery)
    who = session.caller.who
    try:
        back = await deliveries.retry(site.controller.store, body.id, who)
    except (deliveries.NoSuchDelivery, deliveries.NotDead) as refused:
        await site.audit(request, who, "retry", subject(session.caller), delivery=body.id, error=refused.id)
        raise
    await site.audit(request, who, "retry", subject(session.caller), delivery=body.id, error=None)
    return web.json_response(back)


async def timeline(request: web.Request) -> web.Response:
    """GET /supervisor/timeline/{id}[?download=1]: the interaction's timeline (interactions:read)."""
    site = request.app[PAGES]
    session = await site.signed_in(request)
    _needs(session, P.INTERACTIONS_READ)
    interaction = request.match_info["id"]
    within = reach(session.caller.scope, site.controller.settings.agents)
    body = await timelines.picture(site.controller, session.caller.who, interaction, within)
    download = request.query.get("download") == "1"
    return timelines.svg_response(body, interaction, download)


def add_supervisor_page(app: web.Application, controller: Controller, settings: ApiSettings) -> None:
    """The supervisor page's routes on the API's app (its live streams close with the agent page's)."""
    files = ("page.css", "supervisor.css", "supervisor.js")
    site = Site("supervisor", controller, settings, why_not, "Your token", files)
    app[PAGES] = site
    app.router.add_get("/supervisor", page)
    site.add_routes(app)
    app.router.add_get("/supervisor/state", state)
    app.router.add_get("/supervisor/events", events)
    app.router.add_get("/supervisor/deliveries", delivery_queue)
    app.router.add_post("/supervisor/deliveries/retry", retry)
    app.router.add_get("/supervisor/timeline/{id}", timeline)
