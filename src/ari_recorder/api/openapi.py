"""The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json.

tests/api/test_openapi.py runs schemathesis against the live server with it: a route, a status or
a field this document does not tell the truth about fails there.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


# What any endpoint taking a body may answer about the body itself (api/bodies.py).
BODY_REFUSED = {
    "413": _error("A body over 16 MiB"),
    "415": _error("A body in a charset other than UTF-8"),
}


UNAUTHORISED = _error("No bearer token, or one that is wrong, expired or revoked")
ADMIN_ONLY = _error("An agent's token where an administrator's is needed")
AGENT = {"name": "agent", "in": "path", "required": True, "schema": {"type": "string"}}
NULLABLE_STRING = {"type": "string", "nullable": True}
NUMBER = r"^\+?[0-9*#]{1,32}$"  # engine/outbound.py's NUMBER: a number to dial

_PAUSE = {
    "type": "object",
    "required": ["number", "segment", "agent", "by", "source", "behavior", "started_at", "ended_by"],
    "properties": {
        "number": {"type": "integer"},
        "segment": {"type": "integer"},
        "agent": {"type": "string"},
        "by": {"type": "string", "description": "who paused: the agent's id, or admin"},
        "source": {"type": "string", "enum": ["keys", "api"]},
        "behavior": {"type": "string", "enum": ["silence", "skip"]},
        "started_at": {"type": "string", "format": "date-time"},
        "offset_seconds": {"type": "number", "nullable": True, "description": "where in the file"},
        "ended_at": {"type": "string", "format": "date-time", "nullable": True},
        "seconds": {"type": "number", "nullable": True},
        "ended_by": {
            "type": "string",
            "nullable": True,
            "enum": ["resume", "timeout", "transfer", "hangup", "failed", None],
        },
        "resumed_by": NULLABLE_STRING,
        "elapsed_seconds": {"type": "number"},
        "resumes_in_seconds": {"type": "number", "description": "max_pause_seconds left"},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {}},
    },
    "Call": {
        "type": "object",
        "required": ["id", "direction", "queue", "phase", "agent", "segment", "recording", "transferring_to"],
        "properties": {
            "id": {"type": "string"},
            "direction": {"type": "string", "enum": ["inbound", "outbound"]},
            "queue": NULLABLE_STRING,
            "phase": {"type": "string", "enum": ["answering", "waiting", "connected", "handed-off", "ended"]},
            "agent": NULLABLE_STRING,
            "segment": {"type": "integer", "nullable": True},
            "recording": NULLABLE_STRING,
            "transferring_to": NULLABLE_STRING,
        },
    },
    "Calls": {
        "type": "object",
        "required": ["calls"],
        "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}}},
    },
    "Pause": _PAUSE,
    "AgentRecording": {
        "type": "object",
        "required": [
            "agent",
            "call",
            "segment",
            "recording",
            "state",
            "pause_allowed",
            "pause",
            "pause_count",
            "max_pauses",
        ],
        "properties": {
            "agent": {"type": "string"},
            "call": NULLABLE_STRING,
            "segment": {"type": "integer", "nullable": True},
            "recording": NULLABLE_STRING,
            "state": {"type": "string", "enum": ["idle", "not-recorded", "recording", "paused", "muted"]},
            "pause_allowed": {"type": "boolean", "nullable": True},
            "pause": {"allOf": [{"$ref": "#/components/schemas/Pause"}], "nullable": True},
            "pause_count": {"type": "integer", "description": "the recording's pauses so far"},
            "max_pauses": {
                "type": "integer",
                "nullable": True,
                "description": "company.max_pauses_per_segment: the next pause is refused (409)",
            },
        },
    },
    "Pauses": {
        "type": "object",
        "required": ["agent", "recording", "total", "offset", "limit", "pauses"],
        "properties": {
            "agent": {"type": "string"},
            "recording": NULLABLE_STRING,
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "pauses": {"type": "array", "items": {"$ref": "#/components/schemas/Pause"}},
        },
    },
}


_NAME = {"type": "string", "minLength": 1, "maxLength": 64}
_MOMENT = {"type": "string", "format": "date-time", "description": "RFC 3339, with its offset"}
CHAT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"  # engine/chats.py's ChatId
SCHEMAS["ChatReport"] = {
    "type": "object",
    "description": "An ended webchat, whole: what engine/chats.py's ChatReport takes",
    "required": ["id", "queue", "started_at", "ended_at", "segments", "messages"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": CHAT_ID, "description": "the chat platform's id"},
        "queue": _NAME,
        "started_at": _MOMENT,
        "ended_at": {**_MOMENT, "description": "not in the future: a transcript comes once the chat ended"},
        "segments": {
            "type": "array",
            "description": "one per agent, in order: each runs to the next one's start",
            "items": {
                "type": "object",
                "required": ["agent", "started_at"],
                "additionalProperties": False,
                "properties": {"agent": _NAME, "started_at": _MOMENT, "queue": {**_NAME, "nullable": True}},
            },
        },
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["at", "from", "text"],
                "additionalProperties": False,
                "properties": {
                    "at": _MOMENT,
                    "from": {"type": "string", "enum": ["customer", "agent", "system"]},
                    "text": {"type": "string", "maxLength": 65536},
                },
            },
        },
        "direction": {"type": "string", "enum": ["inbound", "outbound"]},
        "customer": {"type": "string", "maxLength": 1024, "nullable": True},
        "attached": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 1024},
            "description": "keys of 1 to 64 characters; the selective rules match on them",
        },
    },
}
SCHEMAS["ChatOutcome"] = {
    "type": "object",
    "required": ["chat", "already_received", "segments"],
    "properties": {
        "chat": {"type": "string"},
        "already_received": {"type": "boolean"},
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["segment", "agent", "recorded", "levels", "reason", "transcript"],
                "properties": {
                    "segment": {"type": "integer"},
                    "agent": {"type": "string"},
                    "recorded": {"type": "boolean", "description": "whether a transcript was produced"},
                    "levels": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["level", "by"],
                            "properties": {
                                "level": {"type": "string", "enum": ["agent", "queue", "rule", "compliance"]},
                                "by": {"type": "string"},
                            },
                        },
                    },
                    "reason": {"type": "string"},
                    "transcript": NULLABLE_STRING,
                },
            },
        },
    },
}
_CHATS = {
    "post": {
        "summary": "Report an ended webchat: a transcript per segment the rules choose (administrators)",
        "operationId": "reportChat",
        "requestBody": _body({"$ref": "#/components/schemas/ChatReport"}),
        "responses": {
            "201": _ok(
                "Received: what was decided per segment; transcripts queued for delivery", "ChatOutcome"
            ),
            "200": _ok("Received before: the first report's outcome, nothing written again", "ChatOutcome"),
            "400": _error("Not JSON, nested over 64 deep, or with a number over 100 digits"),
            **BODY_REFUSED,
            "401": UNAUTHORISED,
            "403": ADMIN_ONLY,
            "409": _error("The id is a call's, or a chat received before with other contents"),
            "422": _error("Not a chat report, or one naming an unknown agent or queue, or not ended"),
            "503": _error("No age recipient to encrypt to, or the spool cannot be written; send it again"),
        },
    }
}
_CHAT = {
    "get": {
        "summary": "What was decided for a webchat received before (administrators)",
        "operationId": "chatOutcome",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": _ok("The outcome", "ChatOutcome"),
            "401": UNAUTHORISED,
            "403": ADMIN_ONLY,
            "404": _error("No chat of that id was received"),
        },
    }
}


def _QUERY(name: str, default: int, most: int) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 0, "maximum": most, "default": default}
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _pause_verb(verb: str, summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": f"{verb}Recording",
            "parameters": [AGENT],
            "responses": {
                "200": _ok("The state after; asking again changes nothing", "AgentRecording"),
                "401": UNAUTHORISED,
                "403": _error("Another agent's recording, or pausing not allowed on the queue"),
                "404": _error("No such agent"),
                "409": _error(
                    "The agent is on no call, its segment is not recorded, or has had"
                    " company.max_pauses_per_segment pauses"
                ),
                "502": _error("Asterisk refused"),
                "503": _error("The call did not answer in time"),
            },
        }
    }


_CHECK = {
    "type": "object",
    "required": ["ok", "detail"],
    "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}},
}
_READINESS = {
    "type": "object",
    "required": ["ready", "not_ready", "role", "checks"],
    "properties": {
        "ready": {"type": "boolean"},
        "not_ready": {
            "type": "array",
            "items": {"type": "string", "enum": ["ari", "database", "role"]},
            "description": "the checks that failed",
        },
        "role": {"type": "string", "enum": ["leader", "standby", "none"]},
        "checks": {
            "type": "object",
            "required": ["ari", "database", "role"],
            "properties": {"ari": _CHECK, "database": _CHECK, "role": _CHECK},
        },
        "unencrypted": {
            "description": "null when recordings are encrypted; with no age recipient, by "
            "delivery.keep_unencrypted = true, how many recordings were left unencrypted in Asterisk",
            "type": "object",
            "nullable": True,
            "required": ["recordings", "detail"],
            "properties": {
                "recordings": {"type": "integer", "minimum": 0, "nullable": True},
                "detail": {"type": "string"},
            },
        },
    },
}
_HEALTH_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Alive: the process serves (no token)",
            "operationId": "healthz",
            "security": [],
            "responses": {
                "200": {
                    "description": "Alive",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"type": "string", "enum": ["alive"]}},
                            }
                        }
                    },
                }
            },
        }
    },
    "/readyz": {
        "get": {
            "summary": "Ready: ARI connected, the database answering, leader or standby (no token)",
            "operationId": "readyz",
            "security": [],
            "responses": {
                "200": {"description": "Ready", "content": {JSON: {"schema": _READINESS}}},
                "503": {
                    "description": "Not ready: not_ready names what is not",
                    "content": {JSON: {"schema": _READINESS}},
                },
            },
        }
    },
}


def document(agents: Iterable[str] = (), queues: Iterable[str] = ()) -> dict[str, Any]:
    """The document; with the configured agents and queues, the bodies that name one take those
    only (an unknown one was a schema-valid body the server refused)."""
    doc = copy.deepcopy(_document())
    known = {"agent": sorted(agents), "queue": sorted(queues)}
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    bodies = [
        _body_schema(paths["/api/v1/calls"]["post"]),
        _body_schema(paths["/api/v1/calls/{id}/transfer"]["post"]),
        schemas["ChatReport"],
        schemas["ChatReport"]["properties"]["segments"]["items"],
    ]
    for body in bodies:
        for name, values in known.items():
            field = body["properties"].get(name)
            if field is not None and values:
                # A copy: the document shares its small schemas (_NAME) between fields.
                enum = [*values, None] if field.get("nullable") else values
                body["properties"][name] = {**field, "enum": enum}
    return doc


def _body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = operation["requestBody"]["content"][JSON]["schema"]
    return schema


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ari-recorder",
            "version": "1",
            "description": "Calls, transfers, pausing, webchats.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/calls": {
                "get": {
                    "summary": "The live calls (administrators)",
                    "operationId": "listCalls",
                    "responses": {
                        "200": _ok("The live calls", "Calls"),
                        "401": UNAUTHORISED,
                        "403": ADMIN_ONLY,
                    },
                },
                "post": {
                    "summary": "Place a call for an agent: the agent's phone rings first (administrators)",
                    "operationId": "placeCall",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["agent", "to"],
                            "properties": {
                                "agent": {"type": "string"},
                                "to": {
                                    "type": "string",
                                    "pattern": NUMBER,
                                    "description": "digits, * and #, perhaps after a +",
                                },
                                "queue": {"type": "string"},
                            },
                        }
                    ),
                    "responses": {
                        "202": {
                            "description": "Dialling the agent",
                            "content": {
                                JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["call", "agent", "to"],
                                        "properties": {
                                            "call": {"type": "string"},
                                            "agent": {"type": "string"},
                                            "to": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("Not a JSON object with agent and to (see the chats' 400)"),
                        **BODY_REFUSED,
                        "401": UNAUTHORISED,
                        "403": ADMIN_ONLY,
                        "409": _error("The agent is on another call"),
                        "422": _error("No such agent or queue, a number that cannot be dialled"),
                        "502": _error("Asterisk refused the call"),
                    },
                },
            },
            "/api/v1/calls/{id}/transfer": {
                "post": {
                    "summary": "Hand a call to an agent, or a queue's first free agent (administrators)",
                    "operationId": "transferCall",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "properties": {"agent": {"type": "string"}, "queue": {"type": "string"}},
                            "oneOf": [{"required": ["agent"]}, {"required": ["queue"]}],
                            "description": "exactly one of agent or queue",
                        }
                    ),
                    "responses": {
                        "202": {
                            "description": "The agent being dialled",
                            "content": {
                                JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["call", "dialling"],
                                        "properties": {
                                            "call": {"type": "string"},
                                            "dialling": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("Not exactly one of agent or queue (see the chats' 400)"),
                        **BODY_REFUSED,
                        "401": UNAUTHORISED,
                        "403": ADMIN_ONLY,
                        "404": _error("No such live call"),
                        "409": _error("No agent to transfer from yet, or a transfer under way"),
                        "422": _error("No such agent or queue, or no free agent"),
                    },
                }
            },
            "/api/v1/agents/{agent}/recording": {
                "get": {
                    "summary": "The agent's current call, segment, recording state and pause",
                    "operationId": "agentRecording",
                    "parameters": [AGENT],
                    "responses": {
                        "200": _ok("The agent's recording (state idle: on no call)", "AgentRecording"),
                        "401": UNAUTHORISED,
                        "403": _error("Another agent's"),
                        "404": _error("No such agent"),
                    },
                }
            },
            "/api/v1/agents/{agent}/recording/pauses": {
                "get": {
                    "summary": "The current recording's pauses, oldest first, a page at a time",
                    "operationId": "agentPauses",
                    "parameters": [
                        AGENT,
                        _QUERY("offset", 0, 100_000),
                        _QUERY("limit", 50, 100),
                    ],
                    "responses": {
                        "200": _ok("A page of the pauses (none: on no call)", "Pauses"),
                        "400": _error("offset or limit out of range"),
                        "401": UNAUTHORISED,
                        "403": _error("Another agent's"),
                        "404": _error("No such agent"),
                    },
                }
            },
            "/api/v1/agents/{agent}/recording/pause": _pause_verb("pause", "Pause the agent's recording"),
            "/api/v1/agents/{agent}/recording/resume": _pause_verb("resume", "Resume the agent's recording"),
            "/api/v1/chats": _CHATS,
            "/api/v1/chats/{id}": _CHAT,
            **_HEALTH_PATHS,
        },
    }
