"""A world for end-to-end tests: the simulator, the controller connected to it, the calls' reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from ari_recorder.app import running
from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery, DeliverySettings
from ari_recorder.domain.call import Call
from ari_recorder.engine.controller import CallReport, Controller
from ari_recorder.settings import (
    AgentSettings,
    ApiSettings,
    AriSettings,
    CompanySettings,
    DatabaseSettings,
    QueueSettings,
    RecordingSettings,
    Settings,
)
from ari_recorder.storage.store import Store
from ari_simulator.server import RunningSimulator, serve
from tests.support.waiting import until

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100),
    "1002": AgentSettings(endpoint="Local/1002@agent-phone", permit_recordings=True),
    "1003": AgentSettings(endpoint="Local/1003@agent-phone", permit_recordings=False, record_percent=100),
}


ADMIN_TOKEN = "admin-token-for-tests-0123456789"


class World:
    """The simulator, the controller, and the calls' reports as they end."""

    def __init__(
        self,
        sim: RunningSimulator,
        http: aiohttp.ClientSession,
        ari: AriClient,
        tmp: Path,
        reports: asyncio.Queue[CallReport],
        store: Store,
    ) -> None:
        self.sim, self.http, self.ari, self.tmp, self.reports = sim, http, ari, tmp, reports
        self.store = store
        self.api_url = ""
        self.controller: Controller | None = None
        self.delivery: Delivery | None = None

    async def fetch(self, name: str) -> Path:
        """The stored recording, fetched over ARI as the delivery stage will."""
        path = self.tmp / f"{name}.wav"
        await self.ari.download_stored(name, path)
        return path

    async def control(self, path: str, body: dict[str, object], method: str = "POST") -> None:
        async with self.http.request(method, f"{self.sim.base_url}/sim/{path}", json=body) as r:
            assert r.status == 200, await r.text()

    async def state(self) -> dict[str, list[object]]:
        async with self.http.get(f"{self.sim.base_url}/sim/state") as r:
            return await r.json()  # type: ignore[no-any-return]


@asynccontextmanager
async def world(
    tmp_path: Path,
    queues: dict[str, QueueSettings],
    agents: dict[str, AgentSettings] = AGENTS,
    phone_transfers: str = "application",
    delivery: DeliverySettings | None = None,
    recording: RecordingSettings | None = None,
    api: ApiSettings | None = None,
    database: DatabaseSettings | None = None,
    **company: object,
) -> AsyncIterator[World]:
    """`delivery`: its settings (the delivery runs when they name age recipients; by default none,
    and the recordings are left in the simulator, unencrypted, by the explicit opt-out);
    `database`: SQLite in tmp_path unless given."""
    async with serve() as sim, aiohttp.ClientSession() as http:
        settings = Settings(
            ari=AriSettings(url=sim.ari_url, phone_transfers=phone_transfers),
            database=database or DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"),
            api=api or ApiSettings(port=0, admin_token=ADMIN_TOKEN),
            company=CompanySettings(announcement="sim/announcement", **company),  # type: ignore[arg-type]
            queues=queues,
            agents=agents,
            delivery=delivery or DeliverySettings(keep_unencrypted=True),
            recording=recording or RecordingSettings(),
        )
        reports: asyncio.Queue[CallReport] = asyncio.Queue()
        async with running(settings, reports.put_nowait) as app:
            w = World(sim, http, app.ari, tmp_path, reports, app.store)
            w.api_url = app.api_url
            w.controller = app.controller
            w.delivery = app.delivery
            await asyncio.wait_for(app.controller.connected.wait(), 5)
            yield w


# What a recording may hold beyond the time the test saw pass from its confirmed start to the
# call's report: the event's way to the test's poll, and the last 20 ms frame.
SLACK = 0.2


async def nothing_held(w: World) -> bool:
    """The simulator holds no channel and no bridge."""
    left = await w.state()
    return not left["channels"] and not left["bridges"]


def _settled(call: Call, agent: str | None) -> bool:
    segment = call.segment
    return (
        segment is not None
        and segment.answered is not None
        and (agent is None or segment.agent == agent)
        and not call.starting
    )


async def connected(w: World, agent: str | None = None, *, timeout: float = 15.0) -> Call:
    """Until a call has `agent` (any agent, when None) with the customer, and every recording it
    asked for is confirmed started or given up: from then on what the parties say is recorded.
    What the controller itself holds, seen from the test's own event loop."""
    controller = w.controller
    assert controller is not None

    def found() -> Call | None:
        return next((call for call in controller.live_calls() if _settled(call, agent)), None)

    return await until(found, what=f"{'agent ' + agent if agent else 'an agent'} connected", timeout=timeout)


async def all_connected(w: World, count: int, *, timeout: float = 30.0) -> list[Call]:
    """Until `count` calls are connected as `connected` says."""
    controller = w.controller
    assert controller is not None

    def found() -> list[Call]:
        calls = [call for call in controller.live_calls() if _settled(call, None)]
        return calls if len(calls) >= count else []

    return await until(found, what=f"{count} calls connected", timeout=timeout)


async def talk_then_hang_up(w: World, caller: str, queue: str, seconds: float) -> CallReport:
    await w.control("calls", {"queue": queue, "caller": caller})
    await connected(w)  # after the announcement
    await asyncio.sleep(seconds)  # the conversation: the scenario itself
    await w.control("hangup", {"customer": caller})
    return await asyncio.wait_for(w.reports.get(), 15)
