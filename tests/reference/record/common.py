"""What the scenario scripts share: a real Asterisk (tests/asterisk/harness.py, the project's kit
rendered with the tests' Local-channel handsets), the recording proxy in front of its ARI, and a
small ARI client that talks through the proxy, as the controller would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from tests.asterisk.harness import Asterisk, running_asterisk
from tests.support.trace_proxy import TraceProxy, recording_proxy

from ari_recorder.ari.rest import basic_auth

APP = "ari-recorder"
TRACES = Path(__file__).resolve().parents[1] / "traces"
SIP_TRACES = Path(__file__).resolve().parents[1] / "traces-sip"
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"  # the files Asterisk wrote, as fetched
CUSTOMER = {
    "callerId": "Customer <15550001>",
    "context": "customer-phone",
    "endpoint": "Local/support@inbound",
    "extension": "talk",
    "priority": "1",
}


def agent(ext: str) -> dict[str, str]:
    return {
        "app": APP,
        "appArgs": f"agent,{ext}",
        "callerId": f"Agent {ext} <{ext}>",
        "endpoint": f"Local/{ext}@agent-phone",
    }


@dataclass
class Client:
    """ARI through the proxy: REST calls and one event WebSocket at a time."""

    url: str
    password: str
    proxy: TraceProxy
    session: aiohttp.ClientSession | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ws_task: asyncio.Task[None] | None = None
    _ws: aiohttp.ClientWebSocketResponse | None = None

    def note(self, text: str) -> None:
        print(f"  note: {text}", flush=True)
        self.proxy.note(text)

    async def call(self, method: str, path: str, **params: str) -> tuple[int, Any]:
        assert self.session is not None
        async with self.session.request(method, self.url + path, params=params) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()

    async def ok(self, method: str, path: str, **params: str) -> Any:
        status, body = await self.call(method, path, **params)
        assert status < 300, f"{method} {path}: {status} {body}"
        return body

    async def connect(self) -> None:
        assert self.session is not None and self._ws_task is None
        ready = asyncio.Event()
        self._ws_task = asyncio.create_task(self._listen(ready))
        await ready.wait()

    async def _listen(self, ready: asyncio.Event) -> None:
        assert self.session is not None
        url = self.url.replace("http", "ws", 1) + f"/events?app={APP}&subscribeAll=false"
        async with self.session.ws_connect(url) as ws:
            self._ws = ws
            ready.set()
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    async with self._arrived:
                        self.events.append(json.loads(message.data))
                        self._arrived.notify_all()
        self._ws = None

    async def disconnect(self) -> None:
        if self._ws_task is None:
            return
        if self._ws is not None:
            await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ws_task
        self._ws_task = None

    async def closed_by_asterisk(self, seconds: float = 15.0) -> None:
        assert self._ws_task is not None
        await asyncio.wait_for(asyncio.shield(self._ws_task), seconds)
        self._ws_task = None

    async def event(
        self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda e: True, seconds: float = 10.0
    ) -> dict[str, Any]:
        """The first event of that type (and predicate) since the script began, waited for."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if e["type"] == kind and where(e)), None)

        async with asyncio.timeout(seconds), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result

    async def inbound(self) -> str:
        """A customer calls the support queue; the id of the half that enters the application."""
        await self.ok("POST", "/channels", **CUSTOMER)
        start = await self.event("StasisStart", lambda e: e["args"] == ["queue=support"])
        return str(start["channel"]["id"])

    async def inbound_waiting(self) -> str:
        """The call placed before the application connected, entering it now."""
        start = await self.event("StasisStart", lambda e: e["args"] == ["queue=support"], seconds=5)
        return str(start["channel"]["id"])

    async def agent(self, ext: str) -> str:
        """Agent <ext>'s handset answers; the id of the half in the application."""
        channel = await self.ok("POST", "/channels", **agent(ext))
        await self.event("StasisStart", lambda e: e["channel"]["id"] == channel["id"])
        return str(channel["id"])


def by_channel(channel_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("channel", {}).get("id") == channel_id


@contextlib.asynccontextmanager
async def recording(
    name: str, folder: Path = TRACES, **options: Any
) -> AsyncIterator[tuple[Client, Asterisk]]:
    """A fresh Asterisk (`options`: the harness's, e.g. SIP agents), the proxy writing
    <folder>/<name>.jsonl, and a client through it."""
    out = folder / f"{name}.jsonl"
    with tempfile.TemporaryDirectory(prefix=f"trace-{name}-") as scratch:
        async with running_asterisk(Path(scratch) / "asterisk", **options) as asterisk:
            async with recording_proxy(asterisk.url, out, password=asterisk.password) as (proxy, url):
                headers = {"Authorization": basic_auth("asterisk", asterisk.password)}
                async with aiohttp.ClientSession(headers=headers) as session:
                    client = Client(url, asterisk.password, proxy, session)
                    try:
                        yield client, asterisk
                    finally:
                        await client.disconnect()
            print(f"{out}: {proxy.lines} lines", flush=True)
            console = asterisk.log(400)
            (Path(scratch).parent / f"trace-{name}-console.log").write_text(console)
