"""The event stream against real WebSocket servers: typed events, bad messages, drops, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ari_recorder.ari.events import StasisStart, UntypedEvent
from ari_recorder.ari.stream import RECONNECT_CAP, Backoff, EventStream, StreamConnected
from ari_simulator.server import serve

STASIS_START = {
    "type": "StasisStart",
    "application": "ari-recorder",
    "timestamp": "2026-11-22T11:33:49.436+0000",
    "asterisk_id": "02:fc:00:00:00:01",
    "args": ["queue=support"],
    "channel": {
        "accountcode": "",
        "caller": {"name": "Customer", "number": "15550001"},
        "connected": {"name": "", "number": ""},
        "creationtime": "2026-11-22T11:33:49.436+0000",
        "dialplan": {
            "app_data": "ari-recorder,queue=support",
            "app_name": "Stasis",
            "context": "inbound",
            "exten": "support",
            "priority": 2,
        },
        "id": "1795347229.3",
        "language": "en",
        "name": "Local/support@inbound-00000001;2",
        "protocol_id": "",
        "state": "Ring",
    },
}


class FlakyServer:
    """Sends `script` on each connection, then closes it; records what each handshake carried."""

    def __init__(self, script: list[Any], refuse: int = 0) -> None:
        self.script = script
        self.refuse = refuse  # answer 401 to this many handshakes first
        self.handshakes: list[tuple[str, str | None]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes.append((str(request.rel_url), request.headers.get("Authorization")))
        if self.refuse:
            self.refuse -= 1
            return web.json_response({"message": "Authentication required"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for item in self.script:
            await ws.send_str(item if isinstance(item, str) else json.dumps(item))
        await ws.close()
        return ws


@contextlib.asynccontextmanager
async def flaky(server: FlakyServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ari/events", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/ari"
    finally:
        await runner.cleanup()


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def take(stream: EventStream, count: int) -> list[Any]:
    items = []
    async with asyncio.timeout(10):
        async for item in stream:
            items.append(item)
            if len(items) == count:
                break
    await stream.aclose()
    return items


async def test_events_arrive_typed_and_bad_messages_pass_untyped(caplog: pytest.LogCaptureFixture) -> None:
    script = [
        STASIS_START,
        "not json",
        "[1, 2]",
        {"no": "type"},
        {"type": "ChannelTalkingStarted"},
        {**STASIS_START, "channel": {"id": "x"}},
        STASIS_START,
    ]
    server = FlakyServer(script)
    async with flaky(server) as url:
        stream = EventStream(url, "ari-recorder", "asterisk", "s3cret-password", sleep=no_wait)
        items = await take(stream, 1 + len(script))
    assert isinstance(items[0], StreamConnected) and not items[0].reconnect
    assert isinstance(items[1], StasisStart) and items[1].args == ("queue=support",)
    untyped = items[2:7]
    assert all(isinstance(i, UntypedEvent) for i in untyped)
    assert [i.problem is None for i in untyped] == [False, False, False, True, False]
    assert "missing required field `name` - at `$.channel`" in (untyped[4].problem or "")
    assert isinstance(items[7], StasisStart), "the stream goes on after bad messages"
    url_seen, auth = server.handshakes[0]
    assert url_seen == "/ari/events?app=ari-recorder&subscribeAll=false"
    assert auth is not None and auth.startswith("Basic ")
    assert "s3cret-password" not in caplog.text


async def test_reconnects_after_each_drop_and_says_so() -> None:
    server = FlakyServer([STASIS_START])
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    async with flaky(server) as url:
        stream = EventStream(
            url, "ari-recorder", "u", "p", backoff_initial=0.5, backoff_max=4.0, rand=lambda: 1.0, sleep=sleep
        )
        items = await take(stream, 10)
    markers = [i for i in items if isinstance(i, StreamConnected)]
    assert [m.reconnect for m in markers] == [False, True, True, True, True]
    assert all(m.down_for is not None and m.down_for >= 0 for m in markers[1:])
    # Each connection dropped at once, so the backoff kept growing, capped at 4 s.
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped_and_jittered() -> None:
    draws = iter([0.0, 0.5, 1.0, 0.25, 1.0, 1.0, 1.0])
    backoff = Backoff(1.0, 8.0, rand=lambda: next(draws))
    # steps 1, 2, 4, 8, 8...: half of each fixed, half drawn
    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1.5, 4.0, 5.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.failures == 0


async def test_refused_credentials_are_one_clear_line_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    server = FlakyServer([STASIS_START], refuse=2)
    async with flaky(server) as url:
        stream = EventStream(url, "ari-recorder", "asterisk", "wrong-password", sleep=no_wait)
        items = await take(stream, 2)
    assert isinstance(items[0], StreamConnected) and isinstance(items[1], StasisStart)
    refusals = [r for r in caplog.records if "401" in r.getMessage()]
    assert len(refusals) == 2 and not any(r.exc_info for r in caplog.records)
    assert "wrong-password" not in caplog.text


async def test_unreachable_asterisk_is_retried_with_the_loop_responsive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = EventStream(
        "http://127.0.0.1:9/ari", "ari-recorder", "u", "p", backoff_initial=0.01, backoff_max=0.02
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    consumer = asyncio.create_task(take(stream, 1))
    await asyncio.sleep(0.3)
    await stream.aclose()
    assert await asyncio.wait_for(consumer, 5) == []
    tick_task.cancel()
    assert ticks > 20, "the event loop kept running while the stream retried"
    assert "cannot reach" in caplog.text and not any(r.exc_info for r in caplog.records)


async def test_reconnect_against_the_simulator_keeps_the_call() -> None:
    """The simulator drops the socket mid-call; the stream comes back and the call is still there."""
    async with serve() as sim:
        stream = EventStream(sim.ari_url, "ari-recorder", "asterisk", "asterisk", backoff_initial=0.05)
        items: list[Any] = []
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(10):
                async for item in stream:
                    items.append(item)
                    if len(items) == 1:
                        await http.post(f"{sim.base_url}/sim/calls", json={"queue": "support"})
                    elif isinstance(item, StasisStart):
                        await http.post(f"{sim.base_url}/sim/drop-websockets")
                    elif isinstance(item, StreamConnected) and item.reconnect:
                        async with http.get(
                            f"{sim.ari_url}/applications/ari-recorder",
                            auth=None,
                            headers={"Authorization": stream._auth},
                        ) as r:
                            app = await r.json()
                        break
        await stream.aclose()
    assert [type(i).__name__ for i in items] == ["StreamConnected", "StasisStart", "StreamConnected"]
    assert items[1].channel.id in app["channel_ids"]


async def test_close_leaves_no_task_behind() -> None:
    server = FlakyServer([STASIS_START])
    async with flaky(server) as url:
        stream = EventStream(url, "ari-recorder", "u", "p")
        await take(stream, 2)
    await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


@pytest.mark.parametrize("draw", [0.0, 1.0])
async def test_asterisk_away_30_s_is_found_again_within_the_cap_of_its_return(draw: float) -> None:
    """The stream as the application builds it (its default backoff), against an Asterisk that
    does not answer: the waits it takes between attempts, laid end to end over a 30 s outage.
    Before the cap, the waits grew to ~24 s and the controller came back 53.8 s after the cut."""
    waits: list[float] = []
    streams: list[EventStream] = []

    async def sleep(delay: float) -> None:  # no real waiting: the waits are only added up
        waits.append(delay)
        if sum(waits) > 60:
            await streams[0].aclose()

    stream = EventStream("http://127.0.0.1:9/ari", "ari-recorder", "u", "p", rand=lambda: draw, sleep=sleep)
    streams.append(stream)
    assert await asyncio.wait_for(take(stream, 1), 10) == []
    assert max(waits) <= RECONNECT_CAP <= 2.0
    # Jitter kept: half of each step fixed, half drawn (all drawn 0: half the cap; all 1: the cap).
    assert waits[-1] == (RECONNECT_CAP / 2 if draw == 0.0 else RECONNECT_CAP)
    attempts = list(itertools.accumulate(waits))  # when each attempt after the first is made
    back = next(t for t in attempts if t >= 30.0)
    assert back - 30.0 <= RECONNECT_CAP
