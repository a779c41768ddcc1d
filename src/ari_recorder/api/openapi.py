"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json, generated: its schemas
from api/bodies.py's Structs (and engine/chats.py's ChatReport) by msgspec, its error statuses from
api/errors.py's table, each with the ids of the errors it stands for; each operation's privilege
(api/privileges.py) as `x-privilege` and in its description, with the roles that hold it.

tests/api/test_openapi.py runs schemathesis against the live server with it: a route, a status or
a field this document does not tell the truth about fails there.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

import msgspec

from ari_recorder.api import bodies as b
from ari_recorder.api import openapi_more, reads
from ari_recorder.api.errors import (
    CallTimedOut,
    InvalidQuery,
    NoSuchChat,
    NotReady,
    SpoolUnwritable,
    status_of,
)
from ari_recorder.api.openapi_parts import (
    ADMIN,
    AGENT,
    BODY,
    CHANGE,
    JSON,
    REF,
    said,
)
from ari_recorder.api.openapi_parts import body as _body
from ari_recorder.api.openapi_parts import content as _content
from ari_recorder.api.openapi_parts import ok as _ok
from ari_recorder.api.openapi_parts import operation as _operation
from ari_recorder.api.openapi_parts import path_id as _path_id
from ari_recorder.api.openapi_parts import query as _query
from ari_recorder.api.privileges import PAUSE_VERBS
from ari_recorder.api.settings_openapi import SHAPES as SETTINGS_SHAPES
from ari_recorder.api.settings_openapi import settings_paths
from ari_recorder.engine.chats import BadChat, ChatReport, NotConfigured
from ari_recorder.engine.chats import Conflict as ChatConflict
from ari_recorder.engine.controller import AsteriskRefused, Forbidden, NoSuchCall, NoSuchTarget, NotNow
from ari_recorder.engine.logins import BadEndpoint
from ari_recorder.storage.audit_reads import LIMIT_DEFAULT, LIMIT_MOST, InvalidCursor
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.holds import AlreadyHeld, NoReason, NotHeld, UnknownInteraction

ANSWERS = (
    *(b.Calls, b.Placed, b.Dialling, b.AgentRecording, b.Pauses, b.ChatOutcome, b.Alive, b.Readiness),
    *(b.Hold, b.Holds, b.AgentDevice),
)
READS = (b.AuditPage, b.InteractionPage, b.InteractionDetail)  # api/reads.py's
# Request bodies written out where they are taken.
INLINE = (b.PlaceCall, b.Transfer, b.HoldReason, b.AgentLogin)


def _pause_verb(verb: str, summary: str) -> dict[str, Any]:
    errors = (
        *AGENT,
        *CHANGE,
        said(Forbidden, "pausing is not allowed on the call's queue"),
        said(
            NotNow,
            "the agent is on no call, its segment is not recorded, or has had"
            " company.max_pauses_per_segment pauses",
        ),
        said(AsteriskRefused, "Asterisk refused: the recording never stopped"),
        said(CallTimedOut, "the call did not answer in time: ask for the state"),
    )
    answers = {"200": _ok("The state after; asking again changes nothing", b.AgentRecording)}
    operation = _operation(
        ("post", PAUSE_VERBS), summary, f"{verb}Recording", answers, errors, parameters=[_path_id("agent")]
    )
    return {"post": operation}


def _hold_paths(bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """api/holds.py's routes."""
    reason = (
        *ADMIN,
        *BODY,
        said(b.WrongBody, "not a JSON object with a reason, as a string (the detail names the field)"),
        said(NoReason, "a blank reason"),
        said(UnknownInteraction, "no such interaction (or its metadata was purged)"),
    )
    all_too = {
        "name": "all",
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": False},
    }
    return {
        "/api/v1/interactions/{id}/hold": {
            "put": _operation(
                ("put", "/api/v1/interactions/{id}/hold"),
                "Put an interaction on legal hold: retention purges nothing of it",
                "putHold",
                {"201": _ok("The hold, put", b.Hold)},
                (
                    *reason,
                    said(AlreadyHeld, "the interaction is on legal hold already (the detail: the hold)"),
                ),
                parameters=[_path_id("id")],
                requestBody=_body(bodies["HoldReason"]),
            )
        },
        "/api/v1/interactions/{id}/hold/release": {
            "post": _operation(
                ("post", "/api/v1/interactions/{id}/hold/release"),
                "Release an interaction's legal hold: purged at the next purge if due",
                "releaseHold",
                {"200": _ok("The hold, released", b.Hold)},
                (*reason, said(NotHeld, "the interaction is not on legal hold")),
                parameters=[_path_id("id")],
                requestBody=_body(bodies["HoldReason"]),
            )
        },
        "/api/v1/holds": {
            "get": _operation(
                ("get", "/api/v1/holds"),
                "The legal holds in force, oldest first; all=true: the released too",
                "listHolds",
                {"200": _ok("The holds", b.Holds)},
                (*ADMIN, said(InvalidQuery, "all is neither true nor false")),
                parameters=[all_too],
            )
        },
    }


def _logins(bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Hot-desking (api/logins.py): the agent's own token, or the administrator's."""
    answers = {"200": _ok("Where the agent is logged in now, where it was, whom it displaced", b.AgentDevice)}
    login = (
        *AGENT,
        *BODY,
        said(b.WrongBody, "not a JSON object with endpoint, a string (the detail names the field)"),
        said(BadEndpoint, "an endpoint no device can be: PJSIP/<name>, Local/<ext>@<context>..."),
    )
    summary = "Log the agent in on a device; whoever was logged in there is logged out"
    logout_summary = "Log the agent out: the queues dial it nowhere"
    return {
        "/api/v1/agents/{agent}/login": {
            "post": _operation(
                ("post", "/api/v1/agents/{agent}/login"),
                summary,
                "agentLogin",
                answers,
                login,
                parameters=[_path_id("agent")],
                requestBody=_body(bodies["AgentLogin"]),
            )
        },
        "/api/v1/agents/{agent}/logout": {
            "post": _operation(
                ("post", "/api/v1/agents/{agent}/logout"),
                logout_summary,
                "agentLogout",
                answers,
                (*AGENT, *CHANGE),
                parameters=[_path_id("agent")],
            )
        },
    }


def _paths(bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    chat_ref = {"$ref": REF.format(name=ChatReport.__name__)}
    return {
        **_logins(bodies),
        "/api/v1/calls": {
            "get": _operation(
                ("get", "/api/v1/calls"),
                "The live calls (a supervisor's: those of its teams and partitions)",
                "listCalls",
                {"200": _ok("The live calls", b.Calls)},
                ADMIN,
            ),
            "post": _operation(
                ("post", "/api/v1/calls"),
                "Place a call for an agent: the agent's phone rings first",
                "placeCall",
                {"202": _ok("Dialling the agent", b.Placed)},
                (
                    *ADMIN,
                    *BODY,
                    said(b.WrongBodyForm, "not a JSON object with agent and to, as strings"),
                    said(NotNow, "the agent is on another call, or logged in nowhere"),
                    said(NoSuchTarget, "no such agent or queue, or a number that cannot be dialled"),
                    said(AsteriskRefused, "Asterisk refused the call"),
                ),
                requestBody=_body(bodies["PlaceCall"]),
            ),
        },
        "/api/v1/calls/{id}/transfer": {
            "post": _operation(
                ("post", "/api/v1/calls/{id}/transfer"),
                "Hand a call to an agent, or a queue's first free agent",
                "transferCall",
                {"202": _ok("The agent being dialled", b.Dialling)},
                (
                    *ADMIN,
                    *BODY,
                    said(b.WrongBodyForm, "not exactly one of agent or queue, as a string"),
                    said(NoSuchCall, "no such live call, or one outside a supervisor's teams and partitions"),
                    said(
                        NotNow,
                        "no agent to transfer from yet, a transfer under way, the agent busy or logged in"
                        " nowhere",
                    ),
                    said(
                        NoSuchTarget,
                        "no such agent or queue (or not in a supervisor's scope), or no free agent",
                    ),
                ),
                parameters=[_path_id("id")],
                requestBody=_body(bodies["Transfer"]),
            )
        },
        "/api/v1/agents/{agent}/recording": {
            "get": _operation(
                ("get", "/api/v1/agents/{agent}/recording"),
                "The agent's current call, segment, recording state and pause",
                "agentRecording",
                {"200": _ok("The agent's recording (state idle: on no call)", b.AgentRecording)},
                AGENT,
                parameters=[_path_id("agent")],
            )
        },
        "/api/v1/agents/{agent}/recording/pauses": {
            "get": _operation(
                ("get", "/api/v1/agents/{agent}/recording/pauses"),
                "The current recording's pauses, oldest first, a page at a time",
                "agentPauses",
                {"200": _ok("A page of the pauses (none: on no call)", b.Pauses)},
                (*AGENT, said(InvalidQuery, "offset or limit out of range")),
                parameters=[
                    _path_id("agent"),
                    _query("offset", 0, b.OFFSET_MOST),
                    _query("limit", b.LIMIT_DEFAULT, b.LIMIT_MOST),
                ],
            )
        },
        "/api/v1/agents/{agent}/recording/pause": _pause_verb("pause", "Pause the agent's recording"),
        "/api/v1/agents/{agent}/recording/resume": _pause_verb("resume", "Resume the agent's recording"),
        "/api/v1/chats": {
            "post": _operation(
                ("post", "/api/v1/chats"),
                "Report an ended webchat: a transcript per segment the rules choose",
                "reportChat",
                {
                    "201": _ok("Received: what was decided per segment; transcripts queued", b.ChatOutcome),
                    "200": _ok(
                        "Received before: the first report's outcome, nothing written again", b.ChatOutcome
                    ),
                },
                (
                    *ADMIN,
                    *BODY,
                    said(b.WrongBody, "not a chat report (the detail names the field)"),
                    said(BadChat, "a report naming an unknown agent or queue, or not ended"),
                    said(ChatConflict, "the id is a call's, or a chat's received before with other contents"),
                    said(NotConfigured, "no age recipient to encrypt the transcripts to"),
                    said(SpoolUnwritable, "the spool cannot be written: send the chat again later"),
                ),
                requestBody=_body(chat_ref),
            )
        },
        "/api/v1/chats/{id}": {
            "get": _operation(
                ("get", "/api/v1/chats/{id}"),
                "What was decided for a webchat received before",
                "chatOutcome",
                {"200": _ok("The outcome", b.ChatOutcome)},
                (*ADMIN, said(NoSuchChat, "no chat of that id was received")),
                parameters=[_path_id("id")],
            )
        },
        "/healthz": {
            "get": _operation(
                ("get", "/healthz"),
                "Alive: the process serves (no token)",
                "healthz",
                {"200": _ok("Alive", b.Alive)},
                (),
                security=[],
            )
        },
        "/readyz": {
            "get": _operation(
                ("get", "/readyz"),
                "Ready: ARI connected, the database answering, leader or standby (no token)",
                "readyz",
                {
                    "200": _ok("Ready", b.Readiness),
                    # Not an Error: the readiness itself, naming what is not ready.
                    str(status_of(NotReady)): {
                        "description": f"`{NotReady.id}`: not_ready names what is not ready (the body is the "
                        "readiness, not an Error); or `too-many-connections` (an Error)",
                        "content": _content(
                            {
                                "anyOf": [
                                    {"$ref": REF.format(name="Readiness")},
                                    {"$ref": REF.format(name="Error")},
                                ]
                            }
                        ),
                    },
                },
                (),
                security=[],
            )
        },
        **_hold_paths(bodies),
    }


def _filter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _reads_paths() -> dict[str, Any]:
    """api/reads.py's: the audit trail (audit:read) and the interactions (interactions:read)."""
    since = _filter("from", "at or after this time (RFC 3339)", type="string", format="date-time")
    until = _filter("to", "before this time (RFC 3339)", type="string", format="date-time")
    limit = {"type": "integer", "minimum": 1, "maximum": LIMIT_MOST, "default": LIMIT_DEFAULT}
    page = [
        _filter("limit", "at most this many", **limit),
        _filter("cursor", "the previous page's `next`: the page after it"),
    ]
    errors = (
        *ADMIN,
        said(InvalidQuery, "limit out of range, a time that is not RFC 3339, a value not among the choices"),
        said(InvalidCursor, "a cursor this server did not give"),
    )
    interactions = [
        _filter("agent", "one of its segments' agent"),
        _filter("queue", "its queue"),
        _filter("customer", "its attached data's customer"),
        _filter("partition", "one of its partitions"),
        since,
        until,
        _filter("recorded", "whether any of its segments was recorded", type="boolean"),
        _filter("delivery", "any of its files in this state", type="string", enum=[s.value for s in State]),
        *page,
    ]
    return {
        "/api/v1/audit": {
            "get": _operation(
                ("get", "/api/v1/audit"),
                f"The audit trail, newest first, a page at a time; the read audited ({reads.AUDIT_READ})",
                "auditTrail",
                {"200": _ok("A page of the trail", b.AuditPage)},
                errors,
                parameters=[
                    _filter("actor", "rows by this actor"),
                    _filter("action", "rows of this action"),
                    _filter("subject", "rows about this subject"),
                    _filter("interaction", "rows about this interaction or one of its recordings"),
                    since,
                    until,
                    *page,
                ],
            )
        },
        "/api/v1/interactions": {
            "get": _operation(
                ("get", "/api/v1/interactions"),
                "Interactions, newest first, a page at a time (a supervisor's: those of its teams' agents "
                f"and its partitions only); the read audited ({reads.INTERACTIONS_READ})",
                "listInteractions",
                {"200": _ok("A page of interactions", b.InteractionPage)},
                errors,
                parameters=interactions,
            )
        },
        "/api/v1/interactions/{id}": {
            "get": _operation(
                ("get", "/api/v1/interactions/{id}"),
                "An interaction: its segments' decisions, pauses, recordings and their files' delivery; "
                f"the read audited ({reads.INTERACTIONS_READ})",
                "readInteraction",
                {"200": _ok("The interaction", b.InteractionDetail)},
                (
                    *ADMIN,
                    said(
                        reads.NoSuchInteraction,
                        "no interaction of that id (or its metadata was purged, or it is not in a "
                        "supervisor's scope: told alike)",
                    ),
                ),
                parameters=[_path_id("id")],
            )
        },
    }


def _json_schema_regex(schema: Any) -> Any:
    """Python's end-of-string `\\Z` (its `$` lets a final newline through) is JSON Schema's `$`."""
    if isinstance(schema, dict):
        return {
            k: v.replace("\\Z", "$") if k == "pattern" and isinstance(v, str) else _json_schema_regex(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_json_schema_regex(v) for v in schema]
    return schema


@functools.cache
def _document() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        (
            *ANSWERS,
            *READS,
            *openapi_more.ANSWERS,
            b.Error,
            ChatReport,
            *INLINE,
            *openapi_more.INLINE,
            *SETTINGS_SHAPES,
        ),
        ref_template=REF,
    )
    schemas = _json_schema_regex(schemas)
    bodies = {shape.__name__: schemas.pop(shape.__name__) for shape in (*INLINE, *openapi_more.INLINE)}
    # Exactly one of agent or queue: more than a Struct says.
    bodies["Transfer"]["oneOf"] = [{"required": ["agent"]}, {"required": ["queue"]}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ari-recorder",
            "version": "1",
            "description": "Calls, transfers, pausing, webchats, holds, deliveries, the managed settings.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "security": [{"bearer": []}],
        "paths": {**_paths(bodies), **_reads_paths(), **openapi_more.paths(bodies), **settings_paths()},
    }


def _named(field: dict[str, Any], values: list[str]) -> dict[str, Any]:
    """`field` taking `values` only (and null, if it took null)."""
    nullable = any(branch == {"type": "null"} for branch in field.get("anyOf", ()))
    if nullable:
        kept = {k: v for k, v in field.items() if k != "anyOf"}
        return {**kept, "enum": [*values, None]}
    return {**field, "enum": values}


def document(agents: Iterable[str] = (), queues: Iterable[str] = ()) -> dict[str, Any]:
    """The document; with the configured agents and queues, the bodies that name one take those
    only (an unknown one was a schema-valid body the server refused)."""
    doc = copy.deepcopy(_document())
    known = {"agent": sorted(agents), "queue": sorted(queues)}
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    bodies = [
        paths["/api/v1/calls"]["post"]["requestBody"]["content"][JSON]["schema"],
        paths["/api/v1/calls/{id}/transfer"]["post"]["requestBody"]["content"][JSON]["schema"],
        schemas["ChatReport"],
        schemas["SegmentReport"],
    ]
    for body in bodies:
        for name, values in known.items():
            field = body["properties"].get(name)
            if field is not None and values:
                body["properties"][name] = _named(field, values)
    return doc
