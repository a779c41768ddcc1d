"""The bodies of /api/v1/settings (api/settings_routes.py), as msgspec Structs the OpenAPI document
is generated from. Every object is answered alike: its version (also its ETag), who changed it
last and when, and its document under `settings`, the settings file's own fields; a PUT sends the
document back under `settings`, with an optional `reason` for the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from ari_recorder.settings import AgentSettings, CompanySettings, QueueSettings, RuleSettings

Reason = Annotated[str, msgspec.Meta(max_length=1000, description="why, for the audit trail")]


def _company_fields() -> list[tuple[str, Any, Any]]:
    fields = []
    for field in msgspec.structs.fields(CompanySettings):
        if field.name == "rules":
            continue
        default = (
            field.default
            if field.default is not msgspec.NODEFAULT
            else msgspec.field(default_factory=field.default_factory)
        )
        fields.append((field.name, field.type, default))
    return fields


# The company section but its rules (settings.py's CompanySettings, field for field).
CompanyDocument = msgspec.defstruct(
    "CompanyDocument",
    _company_fields(),
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    module=__name__,
)


class RulesDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The selective rules, in order."""

    rules: list[RuleSettings] = msgspec.field(default_factory=list)


class _Object(msgspec.Struct, frozen=True, kw_only=True):
    version: int  # also the ETag, quoted ("3"): If-Match takes it
    changed_at: datetime
    changed_by: str


class AgentObject(_Object, frozen=True, kw_only=True):
    id: str
    settings: AgentSettings


class QueueObject(_Object, frozen=True, kw_only=True):
    id: str
    settings: QueueSettings


class CompanyObject(_Object, frozen=True, kw_only=True):
    settings: CompanyDocument  # type: ignore[valid-type]


class RulesObject(_Object, frozen=True, kw_only=True):
    settings: RulesDocument


class ManagedSettings(msgspec.Struct, frozen=True):
    """Every managed object, at one revision (one more on every change of any of them)."""

    revision: int
    agents: dict[str, AgentObject]
    queues: dict[str, QueueObject]
    company: CompanyObject
    rules: RulesObject


# What a PUT takes, as the document states it (the server reads `settings` loosely, then checks
# every field of it on its own, so that a 422 names each wrong field, not the first only).
class AgentChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    settings: AgentSettings
    reason: Reason | None = None


class QueueChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    settings: QueueSettings
    reason: Reason | None = None


class CompanyChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    settings: CompanyDocument  # type: ignore[valid-type]
    reason: Reason | None = None


class RulesChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    settings: RulesDocument
    reason: Reason | None = None


class AnyChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the server decodes a PUT's body as: `settings` checked afterwards, field by field."""

    settings: Any
    reason: Reason | None = None


ANSWERS = (ManagedSettings, AgentObject, QueueObject, CompanyObject, RulesObject)
CHANGES = (AgentChange, QueueChange, CompanyChange, RulesChange)
