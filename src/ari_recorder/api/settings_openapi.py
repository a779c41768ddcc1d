"""The OpenAPI document's part for /api/v1/settings (api/settings_routes.py); api/openapi.py puts
it in the document."""

from __future__ import annotations

from typing import Any

from ari_recorder.api import bodies as b
from ari_recorder.api import settings_bodies as sb
from ari_recorder.api.openapi_parts import ADMIN, BODY, CHANGE, JSON, REF, content, operation, path_id, said
from ari_recorder.engine.managed import InvalidSettings
from ari_recorder.engine.settings_admin import VersionRequired
from ari_recorder.storage.settings_store import NoSuchSetting, NotSeeded, VersionConflict

SHAPES = (*sb.ANSWERS, *sb.CHANGES)  # their schemas, in the document's components
ETAG = {
    "ETag": {
        "description": 'The object\'s version, quoted ("3"): send it back in If-Match to change the object',
        "schema": {"type": "string"},
    }
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The ETag a GET answered ("3"): the change is made against that version only (409 '
    "if it changed since). Required to change or delete an object that exists (428 without); `*`: "
    "whatever version is there",
    "schema": {"type": "string"},
}
X_REASON = {
    "name": "X-Reason",
    "in": "header",
    "required": False,
    "description": "why, for the audit trail (the body's reason, if given, wins; the first 1,000 "
    "characters kept)",
    "schema": {"type": "string"},
}
READ_ERRORS = (*ADMIN, said(NotSeeded, "no controller has started on this database yet"))
WRITE_ERRORS = (
    *READ_ERRORS,
    *CHANGE,
    said(
        InvalidSettings,
        "the settings would not hold: the detail's problems name every wrong field (a queue naming an "
        "unknown agent, a percent out of range, a bad sound name or endpoint, an agent a queue or rule "
        "still names...); nothing changed",
    ),
    said(VersionConflict, "the object changed since the If-Match version (the detail: the version now)"),
    said(VersionRequired, "no If-Match on a change of an object that exists"),
)


def _ok(description: str, shape: type, status: str = "200") -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "headers": ETAG,
            "content": content({"$ref": REF.format(name=shape.__name__)}),
        }
    }


def _object(kind: str, path: str, answer: type, change: type, named: bool) -> dict[str, Any]:
    route = f"/api/v1/settings/{path}"
    title = kind.capitalize()
    parameters = [path_id("id")] if named else []
    missing = (said(NoSuchSetting, f"no such {kind}"),) if named else ()
    body = {"required": True, "content": {JSON: {"schema": {"$ref": REF.format(name=change.__name__)}}}}
    wrong = said(b.WrongBody, "not a JSON object with settings (an object) and perhaps a reason")
    created = _ok(f"{title} created", answer, "201") if named else {}
    item: dict[str, Any] = {
        "get": operation(
            ("get", route),
            f"{title} settings, with their version as ETag",
            f"get{title}Settings",
            _ok(f"The {kind}'s settings", answer),
            (*READ_ERRORS, *missing),
            parameters=parameters,
        ),
        "put": operation(
            ("put", route),
            f"Replace the {kind}'s settings{' (or create the ' + kind + ')' if named else ''}, checked as a "
            "whole, audited; in force for the next decision on every controller within seconds",
            f"put{title}Settings",
            {**_ok(f"The {kind}'s settings, changed", answer), **created},
            (*WRITE_ERRORS, *BODY, wrong),
            parameters=[*parameters, IF_MATCH, X_REASON],
            requestBody=body,
        ),
    }
    if named:
        item["delete"] = operation(
            ("delete", route),
            f"Delete the {kind}, unless a queue or a rule names it; audited",
            f"delete{title}Settings",
            {"204": {"description": f"The {kind} deleted"}},
            (*WRITE_ERRORS, *missing),
            parameters=[*parameters, IF_MATCH, X_REASON],
        )
    return {route: item}


def settings_paths() -> dict[str, Any]:
    whole = {
        "get": operation(
            ("get", "/api/v1/settings"),
            "The managed settings: every agent, queue, the company's settings and rules, and the revision",
            "getSettings",
            {
                "200": {
                    "description": "The managed settings",
                    "content": content({"$ref": REF.format(name="ManagedSettings")}),
                }
            },
            READ_ERRORS,
        )
    }
    return {
        "/api/v1/settings": whole,
        **_object("agent", "agents/{id}", sb.AgentObject, sb.AgentChange, named=True),
        **_object("queue", "queues/{id}", sb.QueueObject, sb.QueueChange, named=True),
        **_object("company", "company", sb.CompanyObject, sb.CompanyChange, named=False),
        **_object("rules", "rules", sb.RulesObject, sb.RulesChange, named=False),
    }
