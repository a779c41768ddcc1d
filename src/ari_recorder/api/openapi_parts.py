"""The OpenAPI document's building blocks (api/openapi.py assembles them): the errors a request may
be answered, each status's description listing their ids, and an operation with its privilege
(api/privileges.py) as `x-privilege` and in its description, with the roles that hold it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from ari_recorder.api import bodies as b
from ari_recorder.api.errors import (
    BodyTooLarge,
    BodyTooSlow,
    ForbiddenRole,
    NoSuchAgent,
    NotYours,
    Standby,
    TooManyConnections,
    status_of,
)
from ari_recorder.api.privileges import privilege_of
from ari_recorder.domain.access import OPEN, PRIVILEGES, Privilege
from ari_recorder.errors import AppError, Unauthorized
from ari_recorder.storage.store import StoreBusy

JSON = "application/json"
REF = "#/components/schemas/{name}"
Said = tuple[type[AppError], str]  # an error, what it means here


def said(error: type[AppError], text: str) -> Said:
    return error, text


# What any request may be answered, whatever it asks.
ANY = (said(TooManyConnections, "every connection has a request under way (api.max_connections): try again"),)
TOKEN = (
    said(Unauthorized, "no bearer token, or one that is wrong, expired or revoked (the detail says which)"),
    said(StoreBusy, "the store is too busy to answer now: ask again (Retry-After)"),
)
ADMIN = TOKEN
AGENT = (
    *TOKEN,
    said(NotYours, "an agent's token on another agent's recording"),
    said(NoSuchAgent, "no such agent, or one outside a supervisor's teams and partitions"),
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


def content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def ok(description: str, answer: type[msgspec.Struct]) -> dict[str, Any]:
    return {"description": description, "content": content({"$ref": REF.format(name=answer.__name__)})}


def errors_of(*errors: Said) -> dict[str, Any]:
    """The responses for `errors`, by status: each status's description lists its ids."""
    by_status: dict[str, list[str]] = {}
    for error, text in (*ANY, *errors):
        by_status.setdefault(str(status_of(error)), []).append(f"`{error.id}`: {text}")
    body = content({"$ref": REF.format(name="Error")})
    return {
        status: {"description": "; ".join(lines), "content": body}
        for status, lines in sorted(by_status.items())
    }


def privileged(method: str, path: str) -> tuple[Privilege, str, tuple[Said, ...]]:
    """The route's privilege, the description saying it, and the refusal of a role without it."""
    privilege = privilege_of(method.upper(), path)
    assert privilege is not None, f"api/privileges.py: no privilege for {method} {path}"
    if privilege in OPEN:
        return privilege, "No token.", ()
    roles = ", ".join(role.value for role, held in PRIVILEGES.items() if privilege in held)
    text = f"Privilege `{privilege.value}`: held by {roles}."
    return privilege, text, (said(ForbiddenRole, f"the token's role does not hold `{privilege.value}`"),)


def operation(
    route: tuple[str, str],
    summary: str,
    id: str,
    answers: dict[str, Any],
    errors: Iterable[Said],
    **more: Any,
) -> dict[str, Any]:
    """The operation on `route` (method, the router's path): its privilege, answers and errors."""
    privilege, text, refused = privileged(*route)
    responses = {**answers, **errors_of(*errors, *refused)}
    return {
        "summary": summary,
        "description": text,
        "operationId": id,
        "x-privilege": privilege.value,
        **more,
        "responses": responses,
    }


def path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def query(name: str, default: int, most: int) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 0, "maximum": most, "default": default}
    return {"name": name, "in": "query", "required": False, "schema": schema}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": content(schema)}
