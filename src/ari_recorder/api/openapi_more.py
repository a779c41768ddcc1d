"""The OpenAPI document's operations for the delivery queue (api/deliveries.py) and the timeline
picture (api/timelines.py); api/openapi.py puts them with the others."""

from __future__ import annotations

from typing import Any

from ari_recorder.api import delivery_bodies as d
from ari_recorder.api import reads
from ari_recorder.api.bodies import LIMIT_DEFAULT, LIMIT_MOST, OFFSET_MOST, WrongBody
from ari_recorder.api.deliveries import STATES, NoSuchDelivery, NotDead
from ari_recorder.api.errors import InvalidQuery
from ari_recorder.api.openapi_parts import ADMIN, BODY, ok, operation, path_id, query, said
from ari_recorder.api.openapi_parts import body as request_body
from ari_recorder.api.timelines import SVG

ANSWERS = (d.DeliveryPage, d.Retried)
INLINE = (d.RetryDelivery,)


def paths(bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    state = {
        "name": "state",
        "in": "query",
        "required": False,
        "description": "rows in this state; failing: still in the queue, their last attempt failed",
        "schema": {"type": "string", "enum": list(STATES)},
    }
    limit = query("limit", LIMIT_DEFAULT, LIMIT_MOST)
    limit["schema"]["minimum"] = 1
    picture = {
        "description": "The picture (an attachment): a lane per segment, recorded stretches, pauses, "
        "transfers; each recording's gap check and each file's delivery",
        "content": {SVG: {"schema": {"type": "string"}}},
    }
    return {
        "/api/v1/deliveries": {
            "get": operation(
                ("get", "/api/v1/deliveries"),
                "The delivery queue, newest first, a page at a time; the read audited",
                "listDeliveries",
                {"200": ok("A page of the queue's rows", d.DeliveryPage)},
                (*ADMIN, said(InvalidQuery, "a state not among the choices, offset or limit out of range")),
                parameters=[state, query("offset", 0, OFFSET_MOST), limit],
            )
        },
        "/api/v1/deliveries/retry": {
            "post": operation(
                ("post", "/api/v1/deliveries/retry"),
                "A dead delivery back in the queue, due now, attempts from 0; audited",
                "retryDelivery",
                {"200": ok("The row, back in the queue", d.Retried)},
                (
                    *ADMIN,
                    *BODY,
                    said(WrongBody, "not a JSON object with id, a string (the detail names the field)"),
                    said(NoSuchDelivery, "no delivery of that id"),
                    said(NotDead, "the delivery is not dead: it is on its way, or delivered"),
                ),
                requestBody=request_body(bodies["RetryDelivery"]),
            )
        },
        "/api/v1/interactions/{id}/timeline.svg": {
            "get": operation(
                ("get", "/api/v1/interactions/{id}/timeline.svg"),
                f"An interaction's timeline as a picture (SVG); the read audited ({reads.INTERACTIONS_READ})",
                "interactionTimeline",
                {"200": picture},
                (
                    *ADMIN,
                    said(reads.NoSuchInteraction, "no interaction of that id (or its metadata was purged)"),
                ),
                parameters=[path_id("id")],
            )
        },
    }
