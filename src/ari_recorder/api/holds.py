"""The legal holds' endpoints: put a hold on an interaction (a call, a webchat), release it, list
them (storage/holds.py does it, audited; retention keeps what is held).

Who may: `access` (given by api/server.py) answers who the caller is once allowed the privilege
(holds:write, holds:read), or raises; the handlers know no token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from ari_recorder.api import bodies as b
from ari_recorder.api.bodies import answer, read_as
from ari_recorder.api.errors import Done, InvalidQuery, respond
from ari_recorder.storage import holds
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.api")
READ, WRITE = "holds:read", "holds:write"
Access = Callable[[web.Request, str], Awaitable[str]]  # (request, privilege) -> who asks
StoreOf = Callable[[web.Request], Store]
FLAGS = {"true": True, "false": False}


def add_routes(app: web.Application, store_of: StoreOf, access: Access) -> None:
    """PUT /api/v1/interactions/{id}/hold, POST .../hold/release, GET /api/v1/holds."""

    async def put_hold(request: web.Request) -> web.Response:
        """PUT /api/v1/interactions/{id}/hold {"reason": "..."}: 201 with the hold."""
        who = await access(request, WRITE)
        body = await read_as(request, b.HoldReason)
        interaction = request.match_info["id"]
        hold = await holds.put(store_of(request), interaction, body.reason, who, datetime.now(UTC), who)
        log.info("interaction=%s action=hold-put hold=%s by=%s", interaction, hold.id, who)
        return respond(answer(b.Hold, hold.json()), Done.CREATED)

    async def release_hold(request: web.Request) -> web.Response:
        """POST /api/v1/interactions/{id}/hold/release {"reason": "..."}: the hold, released."""
        who = await access(request, WRITE)
        body = await read_as(request, b.HoldReason)
        interaction = request.match_info["id"]
        hold = await holds.release(store_of(request), interaction, body.reason, who, datetime.now(UTC), who)
        log.info("interaction=%s action=hold-released hold=%s by=%s", interaction, hold.id, who)
        return respond(answer(b.Hold, hold.json()))

    async def list_holds(request: web.Request) -> web.Response:
        """GET /api/v1/holds[?all=true]: the active holds (all: the released ones too), oldest first."""
        await access(request, READ)
        raw = request.query.get("all", "false")
        if raw not in FLAGS:
            raise InvalidQuery("all must be true or false", raw[:20])
        listed = await holds.listed(store_of(request), released_too=FLAGS[raw])
        return respond(answer(b.Holds, {"holds": [hold.json() for hold in listed]}))

    app.router.add_put("/api/v1/interactions/{id}/hold", put_hold)
    app.router.add_post("/api/v1/interactions/{id}/hold/release", release_hold)
    app.router.add_get("/api/v1/holds", list_holds)
