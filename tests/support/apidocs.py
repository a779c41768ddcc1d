"""Asterisk's own API description (Swagger 1.2, tests/reference/api-docs) as a checker.

`request_problems` says whether a request is a real ARI operation with valid parameters;
`model_problems` / `event_problems` whether a JSON object has the fields, types and allowed
values a model declares. Each returns a list of problems; empty means conformant.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from tests.support.reference import reference_dir

PRIMITIVES = {"string", "int", "long", "double", "boolean", "Date", "object", "binary", "containers", "void"}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # path | query | body
    type: str
    required: bool
    allowed: tuple[str, ...] | None
    multiple: bool


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    nickname: str
    params: dict[str, Param]
    regex: re.Pattern[str]


@dataclass(frozen=True)
class ApiDocs:
    operations: tuple[Operation, ...]
    models: dict[str, dict[str, Any]]
    response_classes: dict[tuple[str, str], str]  # (method, path template) -> responseClass

    def find_operation(self, method: str, path: str) -> Operation | None:
        """The operation a concrete path names; a literal segment beats a {parameter}."""
        found = [op for op in self.operations if op.method == method and op.regex.fullmatch(path)]
        return min(found, key=lambda op: op.template.count("{"), default=None)

    def request_problems(self, method: str, path: str, query: dict[str, str], body: Any = None) -> list[str]:
        op = self.find_operation(method, path)
        if op is None:
            return [f"{method} {path}: no such ARI operation"]
        problems = []
        given = dict(query)
        if isinstance(body, dict):
            given.update({k: json.dumps(v) for k, v in body.items()})
        for name, value in given.items():
            param = op.params.get(name)
            if param is None or param.kind == "path":
                problems.append(f"{op.nickname}: undeclared parameter {name!r}")
                continue
            problems += _value_problems(op.nickname, param, value)
        for param in op.params.values():
            if param.required and param.kind != "path" and param.name not in given:
                problems.append(f"{op.nickname}: missing required parameter {param.name!r}")
        return problems

    def model_problems(self, model: str, value: Any, where: str = "") -> list[str]:
        where = where or model
        spec = self.models.get(model)
        if spec is None:
            return [f"{where}: no model {model!r} in api-docs"]
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        props = _properties(self.models, model)
        problems = [f"{where}.{k}: not declared in {model}" for k in value if k not in props]
        for name, prop in props.items():
            if name not in value:
                if prop.get("required"):
                    problems.append(f"{where}.{name}: required, missing")
                continue
            problems += self.type_problems(
                prop["type"], value[name], f"{where}.{name}", prop.get("allowableValues")
            )
        return problems

    def type_problems(
        self, type_name: str, value: Any, where: str, allowed: dict[str, Any] | None = None
    ) -> list[str]:
        if type_name.startswith("List[") and type_name.endswith("]"):
            if not isinstance(value, list):
                return [f"{where}: expected a list"]
            inner = type_name[5:-1]
            return [p for i, v in enumerate(value) for p in self.type_problems(inner, v, f"{where}[{i}]")]
        if type_name in PRIMITIVES:
            ok = {
                "string": isinstance(value, str),
                "Date": isinstance(value, str),
                "int": isinstance(value, int) and not isinstance(value, bool),
                "long": isinstance(value, int) and not isinstance(value, bool),
                "double": isinstance(value, int | float) and not isinstance(value, bool),
                "boolean": isinstance(value, bool),
                "object": isinstance(value, dict),
            }.get(type_name, True)
            if not ok:
                return [f"{where}: expected {type_name}, got {value!r}"]
            if allowed and allowed.get("valueType") == "LIST" and value not in allowed["values"]:
                return [f"{where}: {value!r} not in {allowed['values']}"]
            if type_name == "Date" and not re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", value
            ):
                return [f"{where}: {value!r} is not an ARI date"]
            return []
        return self.model_problems(type_name, value, where)

    def event_problems(self, event: Any) -> list[str]:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return ["event without a type"]
        return self.model_problems(event["type"], event, event["type"])


def _properties(models: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """A model's properties with those of its parents (Swagger 1.2 `subTypes`: Message > Event >
    StasisStart...)."""
    props: dict[str, dict[str, Any]] = {}
    for parent, spec in models.items():
        if name in spec.get("subTypes", ()):
            props.update(_properties(models, parent))
    props.update(models[name].get("properties", {}))
    return props


def _value_problems(op: str, param: Param, value: str) -> list[str]:
    values = value.split(",") if param.multiple else [value]
    problems = []
    for v in values:
        if param.allowed is not None and v not in param.allowed:
            problems.append(f"{op}: {param.name}={v!r} not in {list(param.allowed)}")
        if param.type in ("int", "long") and not re.fullmatch(r"-?\d+", v):
            problems.append(f"{op}: {param.name}={v!r} is not an integer")
        if param.type == "boolean" and v not in ("true", "false"):
            problems.append(f"{op}: {param.name}={v!r} is not true/false")
    return problems


@functools.cache
def load() -> ApiDocs:
    """The api-docs of the reference (tests/reference/api-docs; the test fails when it is absent)."""
    folder = reference_dir() / "api-docs"
    operations: list[Operation] = []
    models: dict[str, dict[str, Any]] = {}
    responses: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        models.update(doc.get("models", {}))
        for api in doc.get("apis", []):
            template = api["path"]
            regex = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))
            for op in api["operations"]:
                params = {}
                for p in op.get("parameters", []):
                    allowed = p.get("allowableValues", {})
                    params[p["name"]] = Param(
                        p["name"],
                        p["paramType"],
                        p.get("dataType", "string"),
                        bool(p.get("required")),
                        tuple(allowed["values"]) if allowed.get("valueType") == "LIST" else None,
                        bool(p.get("allowMultiple")),
                    )
                operations.append(Operation(op["httpMethod"], template, op["nickname"], params, regex))
                responses[(op["httpMethod"], template)] = op.get("responseClass", "void")
    return ApiDocs(tuple(operations), models, responses)
