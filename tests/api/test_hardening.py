"""The HTTP server against clients that flood it or speak malformed HTTP: caps and time limits,
no token in a log line or an answer, the headers every answer carries."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from ari_recorder.api.guard import beyond_loopback
from ari_recorder.settings import ApiSettings, QueueSettings
from tests.support.audio import duration
from tests.support.world import ADMIN_TOKEN, World, connected, world

QUEUES = {"support": QueueSettings(agents=["1001"])}
TOKEN = ADMIN_TOKEN.encode()
UNFINISHED = b"GET /api/v1/calls HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + TOKEN  # no end


def limited(
    max_connections: int = 256, request_timeout: float = 5.0, listen: str = "127.0.0.1"
) -> ApiSettings:
    return ApiSettings(
        listen=listen,
        port=0,
        admin_token=ADMIN_TOKEN,
        max_connections=max_connections,
        request_timeout_seconds=request_timeout,
    )


@asynccontextmanager
async def connection(w: World) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    url = URL(w.api_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def until_closed(reader: asyncio.StreamReader, seconds: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    async with asyncio.timeout(seconds):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def parsed(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


async def get_calls(w: World) -> tuple[int, dict[str, str], dict[str, object]]:
    """A normal request, on a new connection."""
    async with (
        aiohttp.ClientSession() as fresh,
        fresh.get(f"{w.api_url}/api/v1/calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r,
    ):
        return r.status, dict(r.headers), await r.json()


MALFORMED = {
    "bare LF line ends": b"GET /api/v1/calls HTTP/1.1\nHost: api\nAuthorization: Bearer " + TOKEN + b"\n\n",
    "a control character in a header": (
        b"GET /api/v1/calls HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + TOKEN + b"\x01\r\n\r\n"
    ),
    "a line over 8,190 bytes": (
        b"GET /api/v1/calls HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "
        + TOKEN
        + b" "
        + b"a" * 9000
        + b"\r\n\r\n"
    ),
}


async def test_a_malformed_request_is_answered_400_without_the_token_in_the_answer_or_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = {}
    async with world(tmp_path, QUEUES) as w:
        for kind, request in MALFORMED.items():
            async with connection(w) as (reader, writer):
                writer.write(request)
                answers[kind] = await until_closed(reader)
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert ADMIN_TOKEN not in logged
    for kind, answer in answers.items():
        status, headers, body = parsed(answer)
        assert ADMIN_TOKEN not in answer.decode("latin-1"), kind
        assert status == 400, kind
        assert headers["content-type"].startswith("application/json"), kind
        assert set(json.loads(body)) == {"error", "id", "detail"}, kind
        assert json.loads(body)["error"] == "malformed request", kind
    refused = [r.getMessage() for r in caplog.records if "malformed request refused" in r.getMessage()]
    assert len(refused) == len(MALFORMED), "one line each, no headers, no traceback"
    assert "longer than 8190 bytes" in json.loads(parsed(answers["a line over 8,190 bytes"])[2])["detail"]


async def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w, aiohttp.ClientSession() as http:
        seen = {}
        for path, token in [
            ("/api/v1/calls", None),
            ("/api/v1/calls", ADMIN_TOKEN),
            ("/api/v1/no-such-thing", ADMIN_TOKEN),
            ("/api/v1/openapi.json", None),
            ("/metrics", None),
        ]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.get(f"{w.api_url}{path}", headers=headers) as r:
                seen[(path, token is not None)] = (r.status, r.headers.copy())
    assert [status for status, _ in seen.values()] == [401, 200, 404, 200, 200]
    for (path, _), (status, headers) in seen.items():
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Cache-Control"] == "no-store", path
        assert headers["Server"] == "ari-recorder", "no version of Python's or aiohttp's"
        assert ("WWW-Authenticate" in headers) == (status == 401), path
    assert seen[("/api/v1/calls", False)][1]["WWW-Authenticate"] == "Bearer"


async def test_an_unfinished_head_a_slow_body_and_an_idle_connection_are_cut_off(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES, api=limited(request_timeout=0.5)) as w:
        async with connection(w) as (reader, writer):
            writer.write(UNFINISHED)
            began = time.monotonic()
            assert await until_closed(reader, 3) == b"", "closed without a word"
            unfinished = time.monotonic() - began
        async with connection(w) as (reader, writer):
            writer.write(
                b"POST /api/v1/calls HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "
                + TOKEN
                + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"agent"'
            )
            status, _, body = parsed(await until_closed(reader, 3))
        assert (status, json.loads(body)["error"]) == (408, "the request's body did not arrive in time")
        async with connection(w) as (reader, writer):
            writer.write(
                b"GET /api/v1/calls HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + TOKEN + b"\r\n\r\n"
            )
            began = time.monotonic()
            status, _, _ = parsed(await until_closed(reader, 3))
            idle = time.monotonic() - began
        assert status == 200
    assert 0.4 < unfinished < 2.0
    assert 0.4 < idle < 2.0, "the keep-alive connection closed once idle"


async def test_over_the_cap_the_oldest_unfinished_connection_makes_room_else_a_503_at_once(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, QUEUES, api=limited(max_connections=3)) as w:
        async with connection(w) as (old, old_w), connection(w) as (_, w2), connection(w) as (_, w3):
            for writer in (old_w, w2, w3):
                writer.write(UNFINISHED)
            await asyncio.sleep(0.2)  # the server reads them: nothing outside it says when
            async with asyncio.timeout(1):
                status, _, _ = await get_calls(w)
            assert status == 200, "a normal request gets in"
            assert await until_closed(old, 1) == b"", "the oldest unfinished connection made room"
        await asyncio.sleep(0.1)  # the server sees the three closed: nothing outside it says when
        # With a token: the privilege is checked before the body is read (a request without one
        # is answered 401 at once, and is no longer under way).
        under_way = (
            b"POST /api/v1/calls HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "
            + TOKEN
            + b"\r\nContent-Length: 100\r\n\r\n{"
        )
        async with connection(w) as (_, w1), connection(w) as (_, w2), connection(w) as (_, w3):
            for writer in (w1, w2, w3):
                writer.write(under_way)  # three requests under way, their bodies coming
            await asyncio.sleep(0.2)  # the server reads them: nothing outside it says when
            async with connection(w) as (reader, _):
                began = time.monotonic()
                status, headers, body = parsed(await until_closed(reader, 1))
                refused_in = time.monotonic() - began
    assert (status, json.loads(body)["error"], headers["retry-after"]) == (503, "too many connections", "1")
    assert refused_in < 0.5, "refused at once"


async def test_a_flood_of_unfinished_requests_leaves_the_calls_and_the_api_working(tmp_path: Path) -> None:
    """2,000 connections that never finish their head while a call is answered and recorded. This
    process holds both ends: its own 2,000, and for the server the common default of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    budget = len(os.listdir("/proc/self/fd")) + 2000 + 1024
    assert hard == resource.RLIM_INFINITY or hard >= budget, f"the test needs {budget} descriptors"
    resource.setrlimit(resource.RLIMIT_NOFILE, (budget, hard))
    flood: list[asyncio.StreamWriter] = []
    try:
        async with world(tmp_path, QUEUES) as w:
            url = URL(w.api_url)

            async def unfinished() -> None:
                _, writer = await asyncio.open_connection(url.host, url.port)
                flood.append(writer)
                writer.write(UNFINISHED)

            await w.control("calls", {"queue": "support", "caller": "15550090"})
            for _ in range(20):  # during the announcement
                await asyncio.gather(*(unfinished() for _ in range(100)))
            await connected(w, "1001", timeout=30)  # the announcement over, 1001 answers, is recorded
            async with asyncio.timeout(1):
                status, _, body = await get_calls(w)
            await asyncio.sleep(1.0)  # the conversation: something in the file
            await w.control("hangup", {"customer": "15550090"})
            report = await asyncio.wait_for(w.reports.get(), 15)
            (segment,) = report.call.segments
            assert segment.recording is not None
            recorded = duration(await w.fetch(segment.recording))
    finally:
        for writer in flood:
            writer.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(flood) == 2000
    assert status == 200
    (live,) = body["calls"]  # type: ignore[call-overload]
    assert (live["agent"], live["phase"]) == ("1001", "connected")
    assert live["recording"] is not None
    assert recorded > 0.5, "the agent's segment was recorded"


@pytest.mark.parametrize(
    ("listen", "beyond"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("", True),
        ("10.1.2.3", True),
    ],
)
def test_what_is_beyond_loopback(listen: str, beyond: bool) -> None:
    assert beyond_loopback(listen) is beyond


async def test_listening_beyond_loopback_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with world(tmp_path, QUEUES, api=limited(listen="0.0.0.0")):
        pass
    (warning,) = [r.getMessage() for r in caplog.records if "beyond loopback" in r.getMessage()]
    assert warning.startswith("api: listening on 0.0.0.0, beyond loopback, without TLS")
