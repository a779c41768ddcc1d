"""An interaction's timeline picture over HTTP: GET /api/v1/interactions/{id}/timeline.svg
(interactions:read), downloaded as a file; the supervisor page shows the same picture.

The interaction is read through the same audited read as GET /api/v1/interactions/{id}
(storage/interaction_reads.read_one): the picture shows nothing that read would not, and the read
is in the audit trail. Its recordings' gap checks come from the audit trail's `recording-gap`
rows; the agents' names from the settings. api/timeline.py draws it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ari_recorder.api import timeline
from ari_recorder.api.reads import INTERACTIONS_READ, Authorize, NoSuchInteraction, Reach
from ari_recorder.engine.controller import Controller
from ari_recorder.storage import interaction_reads
from ari_recorder.storage.interaction_reads import Within

SVG = "image/svg+xml"
# The picture opened by itself: no script, no style from elsewhere, no framing.
POLICY = "default-src 'none'; frame-ancestors 'none'"
GAP = "recording-gap"


async def picture(controller: Controller, reader: str, interaction: str, reach: Within | None) -> str:
    """The interaction's timeline (its read audited as `reader`'s); NoSuchInteraction, also when
    it is out of the reader's `reach` (a supervisor's scope: api/privileges.reach)."""
    store = controller.store
    whole = await interaction_reads.read_one(store, reader, interaction, reach)
    if whole is None:
        raise NoSuchInteraction(f"no interaction {interaction!r}")
    gaps: dict[str, dict[str, Any]] = {}
    for recording in whole["recordings"]:
        rows = [row for row in await store.audit(recording["name"]) if row.action == GAP]
        if rows:
            gaps[recording["name"]] = dict(rows[-1].detail)
    names = {agent: s.name for agent, s in controller.settings.agents.items() if s.name}
    return timeline.render(whole, gaps, names)


def svg_response(body: str, interaction: str, download: bool) -> web.Response:
    response = web.Response(text=body, content_type=SVG, charset="utf-8")
    response.headers["Content-Security-Policy"] = POLICY
    if download:
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in interaction)[:100]
        response.headers["Content-Disposition"] = f'attachment; filename="timeline-{safe}.svg"'
    return response


def add_routes(app: web.Application, controller: Controller, authorize: Authorize, reach: Reach) -> None:
    async def timeline_svg(request: web.Request) -> web.Response:
        """GET /api/v1/interactions/{id}/timeline.svg (interactions:read): an attachment."""
        reader = await authorize(request, INTERACTIONS_READ)
        interaction = request.match_info["id"]
        body = await picture(controller, reader, interaction, reach(request))
        return svg_response(body, interaction, download=True)

    app.router.add_get("/api/v1/interactions/{id}/timeline.svg", timeline_svg)
