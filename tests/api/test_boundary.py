"""One boundary chooses every status: api/errors.py's table. Read from the source, no module of the
API (nor health.py) names a status, raises an aiohttp HTTP exception or writes a status line; and
each error id of the application answers one status, whoever raises it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import ari_recorder
import ari_recorder.api.server
import ari_recorder.delivery.errors
import ari_recorder.leadership
from ari_recorder.api.errors import STATUS, Done, status_of
from ari_recorder.api.openapi import document
from ari_recorder.errors import AppError

SRC = Path(ari_recorder.__file__).parent
BOUNDARY = SRC / "api" / "errors.py"
SCANNED = [*sorted((SRC / "api").glob("*.py")), SRC / "health.py"]
STATUSES = {int(s) for s in HTTPStatus if s >= 200} - {300}  # 300: health.py cuts a line at 300
STATUS_LINE = re.compile(r"HTTP/1\.[01] [0-9]{3}")


def choices(text: str, name: str) -> Iterator[tuple[int, str]]:
    """Where the module `text` chooses a status itself: each line and what."""
    tree = ast.parse(text, name)
    # aiohttp's signatures (RequestHandler.handle_error's status=500) are aiohttp's, not a choice.
    defaults = {id(d) for node in ast.walk(tree) if isinstance(node, ast.arguments) for d in node.defaults}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.keyword) and node.arg == "status":
            yield line, f"status={ast.unparse(node.value)}"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("HTTP") and node.attr != "HTTPStatus":
            yield line, ast.unparse(node)
        elif isinstance(node, ast.Name) and node.id.startswith("HTTP") and node.id != "HTTPStatus":
            yield line, node.id
        elif isinstance(node, ast.alias) and node.name.startswith("HTTP") and node.name != "HTTPStatus":
            yield line, f"imports {node.name}"
        elif isinstance(node, ast.Constant) and id(node) not in defaults:
            if type(node.value) is int and node.value in STATUSES:
                yield line, f"the number {node.value}"
            elif isinstance(node.value, str) and STATUS_LINE.search(node.value):
                yield line, f"a status line {node.value!r}"


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scan itself, on what the API used to do (and a signature of aiohttp's, which it lets be)."""
    text = (
        "from aiohttp.web import HTTPNotFound\n"
        "def handler(request, status=500):\n"
        "    if request.x:\n"
        "        raise web.HTTPConflict()\n"
        "    raise ApiError(409, 'not now')\n"
        "    return web.json_response({}, status=None)\n"
        "ANSWER = 'HTTP/1.1 503 Service Unavailable'\n"
    )
    assert sorted(line for line, _ in choices(text, "example.py")) == [1, 4, 5, 6, 7]


def test_no_module_but_the_boundary_chooses_a_status() -> None:
    chosen = [
        f"{path.relative_to(SRC)}:{line}: {what}"
        for path in SCANNED
        if path != BOUNDARY
        for line, what in choices(path.read_text(), str(path))
    ]
    assert not chosen, "statuses chosen outside api/errors.py:\n" + "\n".join(chosen)


def every_error() -> list[type[AppError]]:
    found, todo = [], [AppError]
    while todo:
        error = todo.pop()
        found.append(error)
        todo.extend(error.__subclasses__())
    return found


def test_each_error_id_answers_one_status() -> None:
    """Whatever raises it, an error id answers one status (NoSuchCall answered 404 for a transfer
    and 409 for a pause, a chat's Conflict 409 for a report and 404 for a read, before)."""
    errors = every_error()
    assert {"NoSuchCall", "NotNow", "TokenRefused", "StoreBusy", "BadChat", "Standby"} <= {
        e.__name__ for e in errors
    }
    statuses: dict[str, set[int]] = {}
    for error in errors:
        statuses.setdefault(error.id, set()).add(status_of(error))
    assert {id: s for id, s in statuses.items() if len(s) > 1} == {}
    assert set(STATUS.values()) >= {status_of(e) for e in errors}


def test_the_document_answers_only_the_statuses_of_the_table() -> None:
    """Every status the document lists is a success of Done or a kind's of STATUS, every error's
    body an Error naming the ids it stands for."""
    known = {str(int(s)) for s in (*Done, *STATUS.values())}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                assert status in known, (method, path, status)
                if int(status) >= 400:
                    assert "`" in response["description"], (method, path, status)
            unavailable = operation["responses"]["503"]["description"]
            assert "`too-many-connections`" in unavailable, (method, path)
            assert ("`standby`" in unavailable) == (method in ("post", "put", "delete")), (method, path)
