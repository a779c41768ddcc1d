"""One declared privilege per endpoint, checked in one place.

ROUTES names each route's privilege (method and path, as the router has them); domain/access.py
says which roles hold which. The `access` middleware authenticates the bearer token (api.admin_token
is an administrator's; the others are storage/tokens.py's, each with its role), refuses a role
without the route's privilege (ForbiddenRole: 403) and leaves the caller on the request for the
handler, which checks the subject against the caller's reach:

- an agent's token: its own agent only (NotYours: 403, as always);
- a supervisor's: the calls, agents and interactions of its teams and partitions. Outside them, a
  call, an agent or an interaction is answered as if it did not exist (404: no-such-call,
  no-such-agent, no-such-interaction, the same body as for an unknown id): a supervisor learns
  nothing of what it may not see; GET /api/v1/calls and GET /api/v1/interactions list only those
  in its scope (the interactions' reach: `reach`, a condition of the query, so pages stay whole).

`check_declared` makes build_app refuse a router with a route this table does not name.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from ari_recorder.api.errors import ForbiddenRole, Handler
from ari_recorder.domain import state
from ari_recorder.domain.access import EVERYTHING, Privilege, Role, Scope, holds
from ari_recorder.errors import Unauthorized
from ari_recorder.settings import AgentSettings, ApiSettings, QueueSettings
from ari_recorder.storage.interaction_reads import Within
from ari_recorder.storage.store import Store
from ari_recorder.storage.tokens import TokenRefused, verify_grant

P = Privilege
UNAUTHORISED = "a valid bearer token is required"
PAUSE_VERBS = "/api/v1/agents/{agent}/recording/{verb}"  # pause and resume: one route
SETTINGS_PATHS = ("agents/{id}", "queues/{id}", "company", "rules")  # under /api/v1/settings/

# Each route's one privilege, by method and path (the router's canonical path: no regexes).
ROUTES: Mapping[tuple[str, str], Privilege] = {
    ("GET", "/api/v1/openapi.json"): P.PUBLIC,
    ("GET", "/api/v1/calls"): P.CALLS_READ,
    ("POST", "/api/v1/calls"): P.CALLS_PLACE,
    ("POST", "/api/v1/calls/{id}/transfer"): P.CALLS_TRANSFER,
    ("GET", "/api/v1/agents/{agent}/recording"): P.RECORDING_READ,
    ("POST", PAUSE_VERBS): P.RECORDING_PAUSE,
    ("GET", "/api/v1/agents/{agent}/recording/pauses"): P.RECORDING_READ,
    ("POST", "/api/v1/agents/{agent}/login"): P.DEVICES_LOGIN,
    ("POST", "/api/v1/agents/{agent}/logout"): P.DEVICES_LOGIN,
    ("POST", "/api/v1/chats"): P.CHATS_REPORT,
    ("GET", "/api/v1/chats/{id}"): P.CHATS_READ,
    ("PUT", "/api/v1/interactions/{id}/hold"): P.HOLDS_WRITE,
    ("POST", "/api/v1/interactions/{id}/hold/release"): P.HOLDS_WRITE,
    ("GET", "/api/v1/holds"): P.HOLDS_READ,
    ("GET", "/api/v1/audit"): P.AUDIT_READ,
    ("GET", "/api/v1/interactions"): P.INTERACTIONS_READ,
    ("GET", "/api/v1/interactions/{id}"): P.INTERACTIONS_READ,
    ("GET", "/api/v1/interactions/{id}/timeline.svg"): P.INTERACTIONS_READ,
    ("GET", "/api/v1/deliveries"): P.DELIVERIES_READ,
    ("POST", "/api/v1/deliveries/retry"): P.DELIVERIES_RETRY,
    ("GET", "/api/v1/settings"): P.SETTINGS_READ,
    **{("GET", f"/api/v1/settings/{path}"): P.SETTINGS_READ for path in SETTINGS_PATHS},
    **{("PUT", f"/api/v1/settings/{path}"): P.SETTINGS_WRITE for path in SETTINGS_PATHS},
    ("DELETE", "/api/v1/settings/agents/{id}"): P.SETTINGS_WRITE,
    ("DELETE", "/api/v1/settings/queues/{id}"): P.SETTINGS_WRITE,
    ("GET", "/metrics"): P.PUBLIC,
    ("GET", "/healthz"): P.PUBLIC,
    ("GET", "/readyz"): P.PUBLIC,
    # The agent page: its own session, which only an agent's token opens (api/pages/agent.py).
    ("GET", "/agent"): P.PAGE,
    ("GET", "/agent/login"): P.PAGE,
    ("POST", "/agent/login"): P.PAGE,
    ("POST", "/agent/logout"): P.PAGE,
    ("GET", "/agent/state"): P.PAGE,
    ("POST", "/agent/{verb}"): P.PAGE,
    ("GET", "/agent/events"): P.PAGE,
    ("GET", "/agent/static/{name}"): P.PAGE,
    # The supervisor page: its own session, opened by a supervisor's, a compliance officer's or an
    # administrator's token; each of its parts needs the privilege the API's would (supervisor.py).
    ("GET", "/supervisor"): P.PAGE,
    ("GET", "/supervisor/login"): P.PAGE,
    ("POST", "/supervisor/login"): P.PAGE,
    ("POST", "/supervisor/logout"): P.PAGE,
    ("GET", "/supervisor/state"): P.PAGE,
    ("GET", "/supervisor/events"): P.PAGE,
    ("GET", "/supervisor/deliveries"): P.PAGE,
    ("POST", "/supervisor/deliveries/retry"): P.PAGE,
    ("GET", "/supervisor/timeline/{id}"): P.PAGE,
    ("GET", "/supervisor/static/{name}"): P.PAGE,
}


def privilege_of(method: str, path: str) -> Privilege | None:
    """The route's privilege (HEAD: its GET's); None when the table does not name it."""
    return ROUTES.get(("GET" if method == "HEAD" else method, path))


def routes_of(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """Every (method, canonical path) the router serves, HEAD left to its GET."""
    found = {(r.method, r.resource.canonical) for r in router.routes() if r.resource is not None}
    return sorted((method, path) for method, path in found if method != "HEAD")


def check_declared(router: web.UrlDispatcher) -> None:
    """RuntimeError naming the routes with no declared privilege: such an app is not built."""
    missing = [f"{m} {p}" for m, p in routes_of(router) if privilege_of(m, p) is None]
    if missing:
        raise RuntimeError(f"api/privileges.py: no privilege declared for {', '.join(missing)}")


@dataclass(frozen=True)
class Caller:
    """Who is asking: its role, the agent of an agent's token, a supervisor's scope, the token's
    id (None: api.admin_token)."""

    role: Role
    agent: str | None = None
    token: str | None = None
    scope: Scope = EVERYTHING

    @property
    def who(self) -> str:
        """As the audit trail and a pause's `by` name it: the agent; "admin" (api.admin_token);
        else the role and the token's id."""
        if self.role is Role.AGENT and self.agent is not None:
            return self.agent
        return "admin" if self.token is None else f"{self.role.value}/{self.token}"


CALLER = web.RequestKey("caller", Caller)


async def authenticate(request: web.Request, admin_token: str, store: Store) -> Caller:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(UNAUTHORISED)
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Caller(Role.ADMINISTRATOR)
    try:
        grant = await verify_grant(store, token)
    except TokenRefused as refused:  # its message names the token: the reason only, here
        raise Unauthorized(UNAUTHORISED, refused.reason) from None
    scope = Scope.of(grant.teams, grant.partitions) if grant.role is Role.SUPERVISOR else EVERYTHING
    return Caller(grant.role, grant.agent, grant.id, scope)


def access(settings: web.AppKey[ApiSettings], store: Callable[[web.Request], Store]) -> Middleware:
    """The middleware that checks each request's privilege, before its body is read."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        if route.resource is None:  # no such route, or not this method: aiohttp answers
            return await handler(request)
        privilege = privilege_of(request.method, route.resource.canonical)
        if privilege is None:  # check_declared makes this impossible; refuse all the same
            raise ForbiddenRole("no privilege is declared for this endpoint")
        if privilege in (P.PUBLIC, P.PAGE):
            return await handler(request)
        caller = await authenticate(request, request.app[settings].admin_token, store(request))
        if not holds(caller.role, privilege):
            raise ForbiddenRole(
                f"a token of role {caller.role.value} does not hold {privilege.value}",
                {"role": caller.role.value, "privilege": privilege.value},
            )
        request[CALLER] = caller
        return await handler(request)

    return check


# ----- a supervisor's reach -----


def last_agent(call: state.Call) -> str | None:
    """The call's current or last agent (an outbound call's: the one it dials out for)."""
    if call.segments:
        return call.segments[-1].agent
    return call.agents[0].policy.agent if call.agents else None


def team_of(agents: Mapping[str, AgentSettings], agent: str | None) -> str | None:
    settings = agents.get(agent) if agent is not None else None
    return settings.team if settings is not None else None


def sees_call(scope: Scope, call: state.Call, agents: Mapping[str, AgentSettings]) -> bool:
    """In scope: the call's current or last agent's team is the scope's, or one of its partitions."""
    return scope.covers(team_of(agents, last_agent(call)), call.interaction.metadata)


def sees_agent(
    scope: Scope, agent: str, agents: Mapping[str, AgentSettings], call: state.Call | None
) -> bool:
    """In scope: the agent's team is the scope's, or the call it is on is."""
    return scope.covers(team_of(agents, agent)) or (call is not None and sees_call(scope, call, agents))


def stays_in_scope(
    scope: Scope,
    call: state.Call,
    agents: Mapping[str, AgentSettings],
    queues: Mapping[str, QueueSettings],
    agent: str | None,
    queue: str | None,
) -> bool:
    """A transfer to `agent` (or to `queue`) leaves the call in scope: the new agent's team is the
    scope's (a queue's: one of its agents', or one of its partitions), or one of the call's
    partitions is."""
    if scope.covers(None, call.interaction.metadata):
        return True
    if agent is not None:
        return scope.covers(team_of(agents, agent))
    if queue is not None:
        members = queues[queue].agents
        by_partition = {"partitions": ";".join(queues[queue].partitions)}
        return any(scope.covers(team_of(agents, a)) for a in members) or scope.covers(None, by_partition)
    return False


def in_scope(
    calls: Iterable[state.Call], scope: Scope, agents: Mapping[str, AgentSettings]
) -> list[state.Call]:
    return [call for call in calls if sees_call(scope, call, agents)]


def reach(scope: Scope, agents: Mapping[str, AgentSettings]) -> Within | None:
    """The interactions a scope covers (None: all): those with a segment of an agent of its teams
    (by `agents`, the settings in force now), or in one of its partitions."""
    if scope.everything:
        return None
    teams = frozenset(a for a, settings in agents.items() if settings.team in scope.teams)
    return Within(teams, scope.partitions, scope.teams)
