"""The managed part of the settings (agents, queues, the company's settings, the rules) as the
documents storage/settings_store.py keeps, and back: checked as the file is (settings.py), field
by field and then as a whole, every problem named.

The kinds: `agent` and `queue` (one object each, by name), `company` (the company section but its
rules) and `rules` (`{"rules": [...]}`), each of these two one object named as its kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from ari_recorder import errors
from ari_recorder.settings import (
    AgentSettings,
    CompanySettings,
    QueueSettings,
    RuleSettings,
    Settings,
    _cross_checks,
    _where,
)

Key = tuple[str, str]
AGENT, QUEUE, COMPANY, RULES = "agent", "queue", "company", "rules"
KINDS = (AGENT, QUEUE, COMPANY, RULES)
NAMED = (AGENT, QUEUE)  # the kinds of many objects, each by its name
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,63}")
SECTION = {AGENT: "agents", QUEUE: "queues", COMPANY: "company", RULES: "company.rules"}
CLASSES: dict[str, type[msgspec.Struct]] = {
    AGENT: AgentSettings,
    QUEUE: QueueSettings,
    COMPANY: CompanySettings,
}
# A valid rule but for the field looked at: each of a rule's fields is checked on its own.
RULE_FILLER = {"name": "rule", "percent": 0, "match": {}}


class InvalidSettings(errors.Unprocessable):
    """Settings that would not hold: the message lists every problem, each naming its field; the
    detail has them as {"field", "problem"}. Nothing is changed."""

    id = "invalid-settings"

    def __init__(self, problems: list[str]) -> None:
        listed = [{"field": p.partition(": ")[0], "problem": p.partition(": ")[2] or p} for p in problems]
        super().__init__("; ".join(problems), {"problems": listed})
        self.problems = problems


def key(kind: str, name: str | None = None) -> Key:
    return (kind, name if kind in NAMED and name is not None else kind)


def where(kind: str, name: str) -> str:
    """How a problem names the object: agents.1001, queues.support, company, company.rules."""
    return f"{SECTION[kind]}.{name}" if kind in NAMED else SECTION[kind]


def _plain(struct: msgspec.Struct) -> dict[str, Any]:
    value = msgspec.to_builtins(struct)
    assert isinstance(value, dict)
    return value


def documents(settings: Settings) -> dict[Key, dict[str, Any]]:
    """The managed settings of `settings` (the file's, at first start) as documents."""
    found: dict[Key, dict[str, Any]] = {}
    for name, agent in settings.agents.items():
        found[(AGENT, name)] = _plain(agent)
    for name, queue in settings.queues.items():
        found[(QUEUE, name)] = _plain(queue)
    company = _plain(settings.company)
    found[key(RULES)] = {"rules": company.pop("rules")}
    found[key(COMPANY)] = company
    return found


def _field_problems(
    cls: type[msgspec.Struct], raw: Any, at: str, filler: Mapping[str, Any] | None = None
) -> list[str]:
    """Every field of `raw` that `cls` does not take, each checked on its own; the required ones
    missing. Strict: a number is a number, not text."""
    if not isinstance(raw, dict):
        return [f"{at}: expected an object, got {type(raw).__name__}"]
    fields = {f.name: f for f in msgspec.structs.fields(cls)}
    problems = []
    for field, value in raw.items():
        if field not in fields:
            problems.append(f"{at}.{field}: unknown field (known: {', '.join(fields)})")
            continue
        try:
            msgspec.convert({**(filler or {}), field: value}, cls, strict=True)
        except msgspec.ValidationError as error:
            problems.append(_where(error, at))
    for name, info in fields.items():
        if info.required and name not in raw:
            problems.append(f"{at}.{name}: required")
    if not problems:
        try:
            msgspec.convert(raw, cls, strict=True)
        except msgspec.ValidationError as error:
            problems.append(_where(error, at))
    return problems


def _rules_problems(raw: Any) -> list[str]:
    if not isinstance(raw, dict) or set(raw) != {"rules"} or not isinstance(raw["rules"], list):
        return ['company.rules: expected {"rules": [...]}, a list of rules']
    problems = []
    for i, rule in enumerate(raw["rules"]):
        problems.extend(_field_problems(RuleSettings, rule, f"company.rules[{i}]", RULE_FILLER))
    return problems


def problems_of(kind: str, name: str, raw: Any, *, new_name: bool = True) -> list[str]:
    """What is wrong with one object's document on its own (its name, its fields' types and
    ranges), every problem named; [] when it is a valid document of its kind. `new_name`: the
    name is checked too (the file's names, seeded, are taken as they are)."""
    if kind not in KINDS:
        return [f"kind: expected one of {', '.join(KINDS)}, got {kind!r}"]
    problems: list[str] = []
    if new_name and kind in NAMED and not NAME.fullmatch(name):  # named by its repr: the text may be anything
        return [
            f"{SECTION[kind]}: {name!r} is not a name ({kind} names are letters, digits and _ . + @ - "
            "after the first, at most 64)"
        ]
    if kind == RULES:
        return problems + _rules_problems(raw)
    cls = CLASSES[kind]
    at = where(kind, name)
    if kind == COMPANY and isinstance(raw, dict) and "rules" in raw:
        return [*problems, "company.rules: the rules are an object of their own (settings/rules)"]
    return problems + _field_problems(cls, raw, at)


def normalized(kind: str, name: str, raw: Any) -> dict[str, Any]:
    """The document as stored: every field, defaults filled. InvalidSettings naming each problem."""
    problems = problems_of(kind, name, raw)
    if problems:
        raise InvalidSettings(problems)
    if kind == RULES:
        return {"rules": [_plain(msgspec.convert(r, RuleSettings, strict=True)) for r in raw["rules"]]}
    cls = CLASSES[kind]
    document = _plain(msgspec.convert(raw, cls, strict=True))
    if kind == COMPANY:
        document.pop("rules")  # an object of its own
    return document


def compose(base: Settings, found: Mapping[Key, dict[str, Any]]) -> Settings:
    """`base` (the file's) with its managed sections replaced by the documents; checked as the file
    is, as a whole (a queue naming an unknown agent, a rule an unknown queue...).
    InvalidSettings naming every problem."""
    problems: list[str] = []
    agents: dict[str, AgentSettings] = {}
    queues: dict[str, QueueSettings] = {}
    for (kind, name), document in sorted(found.items()):
        if kind in NAMED:
            wrong = problems_of(kind, name, document, new_name=False)
            problems.extend(wrong)
            if not wrong:
                target: dict[str, Any] = agents if kind == AGENT else queues
                target[name] = msgspec.convert(document, AgentSettings if kind == AGENT else QueueSettings)
    company_doc, rules_doc = found.get(key(COMPANY)), found.get(key(RULES))
    if company_doc is None or rules_doc is None:
        problems.append("company: missing from the managed settings")
        raise InvalidSettings(problems)
    problems.extend(problems_of(COMPANY, COMPANY, company_doc) + problems_of(RULES, RULES, rules_doc))
    if problems:
        raise InvalidSettings(problems)
    company = msgspec.convert({**company_doc, **rules_doc}, CompanySettings)
    settings = msgspec.structs.replace(base, agents=agents, queues=queues, company=company)
    problems = _cross_checks(settings)
    if problems:
        raise InvalidSettings(problems)
    return settings
