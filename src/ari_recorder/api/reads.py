"""The audit trail and the interactions, read over HTTP: GET /api/v1/audit, /api/v1/interactions
and /api/v1/interactions/{id}. Pages newest first behind an opaque cursor (storage/audit_reads.py);
every read in the audit trail, with its reader and its filters, before anything is answered.

Who may read is the server's to say (`Reads.authorize`, given the privilege each endpoint needs);
the privileges are named here: audit:read, interactions:read. So is a caller's reach over the
interactions (`Reads.reach`: a supervisor's teams' agents and partitions, None for the others): a
page lists the interactions in reach only, and one out of reach is answered exactly as an unknown
id (404 no-such-interaction, the same body): a supervisor learns nothing of what it may not see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from ari_recorder.api import bodies as b
from ari_recorder.api.bodies import answer
from ari_recorder.api.errors import InvalidQuery, respond
from ari_recorder.domain.moments import bound_in_utc
from ari_recorder.errors import NotFound
from ari_recorder.storage import audit_reads, interaction_reads
from ari_recorder.storage.audit_reads import LIMIT_DEFAULT, LIMIT_MOST, AuditFilters
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.interaction_reads import InteractionFilters, Within
from ari_recorder.storage.store import Store

AUDIT_READ = "audit:read"  # the audit trail: compliance, administrators
INTERACTIONS_READ = "interactions:read"  # interactions' metadata, decisions, recordings, files

# The caller allowed `privilege` (else an error: Unauthorized, Forbidden), as the audit trail names it.
Authorize = Callable[[web.Request, str], Awaitable[str]]
# The interactions the (authorized) caller may read: None, all of them.
Reach = Callable[[web.Request], Within | None]


@dataclass(frozen=True)
class Reads:
    store: Callable[[], Store]
    authorize: Authorize
    reach: Reach = lambda request: None


READS = web.AppKey("reads", Reads)


class NoSuchInteraction(NotFound):
    id = "no-such-interaction"


def add_routes(app: web.Application, reads: Reads) -> None:
    app[READS] = reads
    app.router.add_get("/api/v1/audit", audit_trail)
    app.router.add_get("/api/v1/interactions", interactions)
    app.router.add_get("/api/v1/interactions/{id}", interaction)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(LIMIT_DEFAULT))
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= LIMIT_MOST:
        raise InvalidQuery(f"limit must be an integer from 1 to {LIMIT_MOST}", raw[:20])
    return int(raw)


def _time(request: web.Request, name: str) -> datetime | None:
    """An RFC 3339 time (without an offset: UTC); one beyond the calendar's ends in UTC (year 1
    at +23:59) is that end."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidQuery(f"{name} must be a date-time (RFC 3339)", raw[:40]) from None
    return bound_in_utc(moment)


def _choice(request: web.Request, name: str, values: dict[str, object]) -> object | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in values:
        raise InvalidQuery(f"{name} must be one of {', '.join(values)}", raw[:40])
    return values[raw]


async def audit_trail(request: web.Request) -> web.Response:
    """GET /api/v1/audit?actor=&action=&subject=&interaction=&from=&to=&limit=&cursor= (audit:read)."""
    reads = request.app[READS]
    reader = await reads.authorize(request, AUDIT_READ)
    q = request.query
    filters = AuditFilters(
        q.get("actor"),
        q.get("action"),
        q.get("subject"),
        q.get("interaction"),
        _time(request, "from"),
        _time(request, "to"),
    )
    got = await audit_reads.read(reads.store(), reader, filters, q.get("cursor"), _limit(request))
    return respond(answer(b.AuditPage, {"items": got.items, "next": got.next}))


async def interactions(request: web.Request) -> web.Response:
    """GET /api/v1/interactions?agent=&queue=&customer=&partition=&from=&to=&recorded=&delivery=
    &limit=&cursor= (interactions:read)."""
    reads = request.app[READS]
    reader = await reads.authorize(request, INTERACTIONS_READ)
    q = request.query
    recorded = _choice(request, "recorded", {"true": True, "false": False})
    delivery = _choice(request, "delivery", {s.value: s for s in State})
    filters = InteractionFilters(
        agent=q.get("agent"),
        queue=q.get("queue"),
        customer=q.get("customer"),
        partition=q.get("partition"),
        since=_time(request, "from"),
        until=_time(request, "to"),
        recorded=recorded if isinstance(recorded, bool) else None,
        delivery=delivery if isinstance(delivery, State) else None,
    )
    got = await interaction_reads.read(
        reads.store(), reader, filters, q.get("cursor"), _limit(request), reads.reach(request)
    )
    return respond(answer(b.InteractionPage, {"items": got.items, "next": got.next}))


async def interaction(request: web.Request) -> web.Response:
    """GET /api/v1/interactions/{id} (interactions:read): read, audited with the recordings it
    shows, then answered; out of the caller's reach, as if there were none."""
    reads = request.app[READS]
    reader = await reads.authorize(request, INTERACTIONS_READ)
    wanted = request.match_info["id"]
    whole = await interaction_reads.read_one(reads.store(), reader, wanted, reads.reach(request))
    if whole is None:
        raise NoSuchInteraction(f"no interaction {wanted!r}")
    return respond(answer(b.InteractionDetail, whole))
