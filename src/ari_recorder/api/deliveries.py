"""The delivery queue over HTTP: GET /api/v1/deliveries (deliveries:read: pending, failing, dead
and why, a page at a time, the read audited) and POST /api/v1/deliveries/retry (deliveries:retry:
a dead row back in the queue, audited in the same transaction: storage/redelivery.py). The
supervisor page (api/pages/supervisor.py) calls the same two functions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ari_recorder.api import delivery_bodies as d
from ari_recorder.api.bodies import LIMIT_DEFAULT, LIMIT_MOST, OFFSET_MOST, answer, read_as
from ari_recorder.api.errors import InvalidQuery, respond
from ari_recorder.api.reads import Authorize, Reach
from ari_recorder.errors import Conflict, NotFound
from ari_recorder.storage import redelivery
from ari_recorder.storage.audit_reads import record_read
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.interaction_reads import Within
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.api")
READ, RETRY = "deliveries:read", "deliveries:retry"
STATES = (*(s.value for s in State), redelivery.FAILING)


class NoSuchDelivery(NotFound):
    id = "no-such-delivery"


class NotDead(Conflict):
    """Only a dead row goes back to the queue; one on its way is left as it is."""

    id = "not-dead"


def page_bound(request: web.Request, name: str, default: int, most: int, least: int = 0) -> int:
    """A paging parameter of the query: an integer from `least` to `most`."""
    raw = request.query.get(name, str(default))
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not least <= int(raw) <= most:
        raise InvalidQuery(f"{name} must be an integer from {least} to {most}", raw[:20])
    return int(raw)


def state_asked(request: web.Request) -> str | None:
    raw = request.query.get("state")
    if raw is not None and raw not in STATES:
        raise InvalidQuery(f"state must be one of {', '.join(STATES)}", raw[:40])
    return raw


async def deliveries_page(
    store: Store, reader: str, state: str | None, offset: int, limit: int, reach: Within | None = None
) -> dict[str, Any]:
    """A page of the queue, its read audited first; `reach` (a supervisor's): its interactions'
    rows only (api/privileges.reach)."""
    detail: dict[str, Any] = {"state": state, "offset": offset, "limit": limit}
    if reach is not None:
        detail["within"] = reach.as_detail()
    await record_read(store, reader, "deliveries-read", "deliveries", detail)
    items, more = await redelivery.delivery_page(store, state, offset, limit, reach)
    return {"items": items, "offset": offset, "limit": limit, "more": more}


async def retry(store: Store, delivery: str, who: str) -> dict[str, Any]:
    """The dead row `delivery` back in the queue (audited); NoSuchDelivery, NotDead."""
    revived, refused = await redelivery.retry_dead_rows(store, [delivery], actor=who, now=datetime.now(UTC))
    if refused:
        (why,) = refused
        if why.state is None:
            raise NoSuchDelivery(f"no delivery {delivery!r}")
        raise NotDead(f"delivery {delivery!r} is not dead: only a dead one is retried", why.why)
    (back,) = revived
    log.info("delivery=%s action=delivery-retry by=%s state=%s", back.id, who, back.state.value)
    return {
        "id": back.id,
        "recording": back.recording,
        "state": back.state.value,
        "attempts": back.attempts,
        "previous_error": back.previous_error,
    }


def add_routes(
    app: web.Application, store_of: Callable[[web.Request], Store], authorize: Authorize, reach: Reach
) -> None:
    """GET /api/v1/deliveries, POST /api/v1/deliveries/retry."""

    async def listed(request: web.Request) -> web.Response:
        """GET /api/v1/deliveries?state=&offset=&limit= (deliveries:read)."""
        reader = await authorize(request, READ)
        state = state_asked(request)
        offset = page_bound(request, "offset", 0, OFFSET_MOST)
        limit = page_bound(request, "limit", LIMIT_DEFAULT, LIMIT_MOST, least=1)
        page = await deliveries_page(store_of(request), reader, state, offset, limit, reach(request))
        return respond(answer(d.DeliveryPage, page))

    async def retried(request: web.Request) -> web.Response:
        """POST /api/v1/deliveries/retry {"id": "<recording>/audio"} (deliveries:retry)."""
        who = await authorize(request, RETRY)
        body = await read_as(request, d.RetryDelivery)
        return respond(answer(d.Retried, await retry(store_of(request), body.id, who)))

    app.router.add_get("/api/v1/deliveries", listed)
    app.router.add_post("/api/v1/deliveries/retry", retried)
