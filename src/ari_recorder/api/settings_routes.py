"""/api/v1/settings: the managed settings (agents, queues, the company's settings, the rules) read
and changed over HTTP, through engine/settings_admin.py, the service the CLI uses too.

Optimistic concurrency: every object's GET answers its version as its ETag ("3"); a PUT or DELETE
of an object that exists must name it in If-Match (without: 428, if-match-required), and is
refused with 409 (version-conflict), changing nothing, when the object has changed since. A PUT of
a new agent or queue needs no If-Match (it is created only if still absent). `If-Match: *` changes
whatever version is there. The reason for the audit trail: the body's `reason`, or X-Reason.

Who may: settings:read (administrator, compliance) to read, settings:write (administrator) to
change; `access` (api/server.py's) answers who the caller is, for the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from ari_recorder.api import settings_bodies as sb
from ari_recorder.api.bodies import answer, read_as
from ari_recorder.api.errors import Done, nothing, respond
from ari_recorder.engine.managed import AGENT, COMPANY, QUEUE, RULES
from ari_recorder.engine.settings_admin import SettingsAdmin, object_json, whole_json
from ari_recorder.storage.settings_store import Stored

READ, WRITE = "settings:read", "settings:write"
Access = Callable[[web.Request, str], Awaitable[str]]  # (request, privilege) -> who asks
AdminOf = Callable[[web.Request], SettingsAdmin]
NO_VERSION = -1  # an If-Match no version matches: the change conflicts
ANSWER: dict[str, type[msgspec.Struct]] = {
    AGENT: sb.AgentObject,
    QUEUE: sb.QueueObject,
    COMPANY: sb.CompanyObject,
    RULES: sb.RulesObject,
}


def etag(version: int) -> str:
    return f'"{version}"'


def if_match(request: web.Request) -> tuple[int | None, bool]:
    """The version If-Match names, and whether a version is required (no If-Match, or `*`: none
    named; `*`: not required either). An If-Match that is no version of ours matches none."""
    given = request.headers.get("If-Match")
    if given is None:
        return None, True
    given = given.strip()
    if given == "*":
        return None, False
    text = given.removeprefix("W/").strip('"')
    return (int(text) if text.isascii() and text.isdigit() and len(text) < 10 else NO_VERSION), True


def reason_of(request: web.Request, body: str | None = None) -> str | None:
    """The body's reason, else X-Reason's (its bytes that are not UTF-8 replaced), at most 1,000."""
    header = request.headers.get("X-Reason", "")
    text = body or header.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text[:1000] or None


def _answered(stored: Stored, done: Done = Done.OK) -> web.Response:
    return respond(answer(ANSWER[stored.kind], object_json(stored)), done, {"ETag": etag(stored.version)})


def add_settings_routes(app: web.Application, admin_of: AdminOf, access: Access) -> None:
    async def whole(request: web.Request) -> web.Response:
        """GET /api/v1/settings: every managed object and the revision."""
        await access(request, READ)
        managed = await admin_of(request).whole()
        return respond(answer(sb.ManagedSettings, whole_json(managed)))

    def reader(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def read(request: web.Request) -> web.Response:
            await access(request, READ)
            return _answered(await admin_of(request).get(kind, request.match_info.get("id")))

        return read

    def writer(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def write(request: web.Request) -> web.Response:
            who = await access(request, WRITE)
            body = await read_as(request, sb.AnyChange)
            expected, required = if_match(request)
            stored, created = await admin_of(request).put(
                kind,
                request.match_info.get("id"),
                body.settings,
                actor=who,
                expected=expected,
                require_version=required,
                reason=reason_of(request, body.reason),
            )
            return _answered(stored, Done.CREATED if created else Done.OK)

        return write

    def deleter(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def delete(request: web.Request) -> web.Response:
            who = await access(request, WRITE)
            expected, required = if_match(request)
            await admin_of(request).delete(
                kind,
                request.match_info["id"],
                actor=who,
                expected=expected,
                require_version=required,
                reason=reason_of(request),
            )
            return nothing()

        return delete

    app.router.add_get("/api/v1/settings", whole)
    for kind, path in (
        (AGENT, "agents/{id}"),
        (QUEUE, "queues/{id}"),
        (COMPANY, "company"),
        (RULES, "rules"),
    ):
        app.router.add_get(f"/api/v1/settings/{path}", reader(kind))
        app.router.add_put(f"/api/v1/settings/{path}", writer(kind))
        if kind in (AGENT, QUEUE):
            app.router.add_delete(f"/api/v1/settings/{path}", deleter(kind))
