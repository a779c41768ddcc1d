"""Driving the simulator in tests: an application connected to it, and the people on the phones."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ari_recorder.ari.rest import basic_auth
from ari_simulator.server import RunningSimulator, serve


@dataclass
class SimApp:
    """The simulator, with a raw event WebSocket open for the application, and its control API."""

    sim: RunningSimulator
    http: aiohttp.ClientSession
    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def control(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        async with self.http.request(method, f"{self.sim.base_url}/sim/{path}", json=body or {}) as r:
            answer = await r.json()
            assert r.status == 200, answer
            return answer

    async def call(self, queue: str = "support", **body: Any) -> str:
        """A customer calls; the id of the call's channel in the application."""
        return str((await self.control("calls", {"queue": queue, **body}))["channel"])

    async def wait_for(self, event_type: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first event of that type (whose top-level fields match) not yet waited for."""
        async with asyncio.timeout(timeout), self.arrived:
            while True:
                for event in self.events:
                    if (
                        event["type"] == event_type
                        and not event.get("_taken")
                        and all(_field(event, k) == v for k, v in match.items())
                    ):
                        event["_taken"] = True
                        return event
                await self.arrived.wait()


def _field(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@contextlib.asynccontextmanager
async def sim_app(app: str = "ari-recorder") -> AsyncIterator[SimApp]:
    async with serve() as sim, aiohttp.ClientSession() as http:
        driver = SimApp(sim, http)
        url = sim.base_url.replace("http", "ws", 1) + f"/ari/events?app={app}"
        ws = await http.ws_connect(url, headers={"Authorization": basic_auth("asterisk", "asterisk")})

        async def listen() -> None:
            async for message in ws:
                async with driver.arrived:
                    driver.events.append(message.json())
                    driver.arrived.notify_all()

        listener = asyncio.create_task(listen())
        try:
            yield driver
        finally:
            await ws.close()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
