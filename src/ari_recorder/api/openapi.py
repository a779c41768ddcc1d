"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json, generated: its schemas
from api/bodies.py's Structs (and engine/chats.py's ChatReport) by msgspec, its error statuses from
api/errors.py's table, each with the ids of the errors it stands for.

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
from ari_recorder.api.errors import (
    AdminsOnly,
    BodyTooLarge,
    BodyTooSlow,
    CallTimedOut,
    InvalidQuery,
    NoSuchAgent,
    NoSuchChat,
    NotReady,
    NotYours,
    SpoolUnwritable,
    Standby,
    TooManyConnections,
    status_of,
)
from ari_recorder.engine.chats import BadChat, ChatReport, NotConfigured
from ari_recorder.engine.chats import Conflict as ChatConflict
from ari_recorder.engine.controller import AsteriskRefused, Forbidden, NoSuchCall, NoSuchTarget, NotNow
from ari_recorder.engine.logins import BadEndpoint
from ari_recorder.errors import AppError, Unauthorized
from ari_recorder.storage.store import StoreBusy

JSON = "application/json"
REF = "#/components/schemas/{name}"
ANSWERS = (
    b.Calls,
    b.Placed,
    b.Dialling,
    b.AgentRecording,
    b.Pauses,
    b.AgentDevice,
    b.ChatOutcome,
    b.Alive,
    b.Readiness,
)
INLINE = (b.PlaceCall, b.Transfer, b.AgentLogin)  # request bodies written out where they are taken
Said = tuple[type[AppError], str]  # an error, what it means here


def said(error: type[AppError], text: str) -> Said:
    return error, text


# What any request may be answered, whatever it asks.
ANY = (said(TooManyConnections, "every connection has a request under way (api.max_connections): try again"),)
TOKEN = (
    said(Unauthorized, "no bearer token, or one that is wrong, expired or revoked (the detail says which)"),
    said(StoreBusy, "the store is too busy to answer now: ask again (Retry-After)"),
)
ADMIN = (*TOKEN, said(AdminsOnly, "an agent's token where an administrator's is needed"))
AGENT = (
    *TOKEN,
    said(NotYours, "an agent's token on another agent's recording"),
    said(NoSuchAgent, "no such agent"),
)
# What a request that changes something may be answered: a standby changes nothing.
CHANGE = (said(Standby, "this controller is the standby: send it to the leader"),)
# What a request with a body may be answered about the body itself (api/bodies.py, api/guard.py).
BODY = (
    *CHANGE,
    said(b.NotJson, "not JSON, nested over 64 deep, or with a number over 100 digits"),
    said(BodyTooSlow, "the body did not arrive within api.request_timeout_seconds of the head"),
    said(BodyTooLarge, "a body over 16 MiB"),
    said(b.NotUtf8, "a body in a charset other than UTF-8"),
)


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _ok(description: str, answer: type[msgspec.Struct]) -> dict[str, Any]:
    return {"description": description, "content": _content({"$ref": REF.format(name=answer.__name__)})}


def _errors(*errors: Said) -> dict[str, Any]:
    """The responses for `errors`, by status: each status's description lists its ids."""
    by_status: dict[str, list[str]] = {}
    for error, text in (*ANY, *errors):
        by_status.setdefault(str(status_of(error)), []).append(f"`{error.id}`: {text}")
    body = _content({"$ref": REF.format(name="Error")})
    return {
        status: {"description": "; ".join(lines), "content": body}
        for status, lines in sorted(by_status.items())
    }


def _operation(
    summary: str, id: str, answers: dict[str, Any], errors: Iterable[Said], **more: Any
) -> dict[str, Any]:
    responses = {**answers, **_errors(*errors)}
    return {"summary": summary, "operationId": id, **more, "responses": responses}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, default: int, most: int) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 0, "maximum": most, "default": default}
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": _content(schema)}


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
    return {"post": _operation(summary, f"{verb}Recording", answers, errors, parameters=[_path_id("agent")])}


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
                logout_summary, "agentLogout", answers, (*AGENT, *CHANGE), parameters=[_path_id("agent")]
            )
        },
    }


def _paths(bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    chat_ref = {"$ref": REF.format(name=ChatReport.__name__)}
    return {
        **_logins(bodies),
        "/api/v1/calls": {
            "get": _operation(
                "The live calls (administrators)", "listCalls", {"200": _ok("The live calls", b.Calls)}, ADMIN
            ),
            "post": _operation(
                "Place a call for an agent: the agent's phone rings first (administrators)",
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
                "Hand a call to an agent, or a queue's first free agent (administrators)",
                "transferCall",
                {"202": _ok("The agent being dialled", b.Dialling)},
                (
                    *ADMIN,
                    *BODY,
                    said(b.WrongBodyForm, "not exactly one of agent or queue, as a string"),
                    said(NoSuchCall, "no such live call"),
                    said(
                        NotNow,
                        "no agent to transfer from yet, a transfer under way, the agent busy or logged"
                        " in nowhere",
                    ),
                    said(NoSuchTarget, "no such agent or queue, or no free agent"),
                ),
                parameters=[_path_id("id")],
                requestBody=_body(bodies["Transfer"]),
            )
        },
        "/api/v1/agents/{agent}/recording": {
            "get": _operation(
                "The agent's current call, segment, recording state and pause",
                "agentRecording",
                {"200": _ok("The agent's recording (state idle: on no call)", b.AgentRecording)},
                AGENT,
                parameters=[_path_id("agent")],
            )
        },
        "/api/v1/agents/{agent}/recording/pauses": {
            "get": _operation(
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
                "Report an ended webchat: a transcript per segment the rules choose (administrators)",
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
                "What was decided for a webchat received before (administrators)",
                "chatOutcome",
                {"200": _ok("The outcome", b.ChatOutcome)},
                (*ADMIN, said(NoSuchChat, "no chat of that id was received")),
                parameters=[_path_id("id")],
            )
        },
        "/healthz": {
            "get": _operation(
                "Alive: the process serves (no token)",
                "healthz",
                {"200": _ok("Alive", b.Alive)},
                (),
                security=[],
            )
        },
        "/readyz": {
            "get": _operation(
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
    _, schemas = msgspec.json.schema_components((*ANSWERS, b.Error, ChatReport, *INLINE), ref_template=REF)
    schemas = _json_schema_regex(schemas)
    bodies = {shape.__name__: schemas.pop(shape.__name__) for shape in INLINE}
    # Exactly one of agent or queue: more than a Struct says.
    bodies["Transfer"]["oneOf"] = [{"required": ["agent"]}, {"required": ["queue"]}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ari-recorder",
            "version": "1",
            "description": "Calls, transfers, pausing, webchats.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "security": [{"bearer": []}],
        "paths": _paths(bodies),
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
