"""/healthz and /readyz, and the health metrics, against the simulator: ready when connected; 503
naming "ari" when Asterisk's sockets drop or it stops, "database" when the database is away."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import REGISTRY

from ari_recorder.app import running
from ari_recorder.delivery import DeliverySettings
from ari_recorder.health import Health, Role
from ari_recorder.settings import (
    ApiSettings,
    AriSettings,
    CompanySettings,
    DatabaseSettings,
    QueueSettings,
    Settings,
)
from ari_recorder.storage.store import Store
from ari_simulator.server import free_port, serve
from tests.support.waiting import until
from tests.support.world import AGENTS, world

QUEUES = {"support": QueueSettings(agents=["1001"])}


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as r:  # no token: these are the orchestrator's
        return r.status, await r.json()


async def status_becomes(
    http: aiohttp.ClientSession, url: str, wanted: int, check: Callable[[Any], bool] = lambda body: True
) -> Any:
    async def seen() -> Any:
        status, body = await get(http, url)
        return body if status == wanted and check(body) else None

    return await until(seen, what=f"{url} answering {wanted}", timeout=15)


async def test_alive_and_ready_when_connected_without_a_token(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        alive = await get(w.http, f"{w.api_url}/healthz")
        ready = await get(w.http, f"{w.api_url}/readyz")
        leader = sample("ari_recorder_leader")
    assert alive == (200, {"status": "alive"})
    status, body = ready
    assert status == 200, body
    assert body["ready"] is True and body["not_ready"] == [] and body["role"] == "leader"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "ari": True,
        "database": True,
        "role": True,
    }
    assert leader == 1


async def test_not_ready_naming_ari_while_the_sockets_are_down_and_ready_again(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        reconnects = sample("ari_recorder_ari_reconnects_total")
        url = f"{w.api_url}/readyz"
        await w.control("drop-websockets", {})
        # The stream comes back within its backoff (0.25-0.5 s at first): the 503 is seen meanwhile.
        gauge: list[float] = []
        down = await status_becomes(
            w.http, url, 503, lambda body: gauge.append(sample("ari_recorder_ari_connected")) is None
        )
        await status_becomes(w.http, url, 200)
        connected_again = sample("ari_recorder_ari_connected")
        alive = await get(w.http, f"{w.api_url}/healthz")
    assert down["not_ready"] == ["ari"] and down["ready"] is False
    assert "not connected" in down["checks"]["ari"]["detail"]
    assert gauge[-1] == 0, "the gauge said disconnected while /readyz did"
    assert connected_again == 1
    assert sample("ari_recorder_ari_reconnects_total") == reconnects + 1
    assert alive[0] == 200


def settings_for(tmp_path: Path, ari_url: str, database: str | None = None) -> Settings:
    return Settings(
        ari=AriSettings(url=ari_url),
        database=DatabaseSettings(url=database or f"sqlite+aiosqlite:///{tmp_path / 'db' / 'db.sqlite'}"),
        api=ApiSettings(port=0),
        delivery=DeliverySettings(keep_unencrypted=True),  # no recipient: recordings stay in the simulator
        company=CompanySettings(announcement="sim/announcement"),
        queues=QUEUES,
        agents=AGENTS,
    )


async def test_not_ready_naming_ari_when_asterisk_stops(tmp_path: Path) -> None:
    simulator = serve()
    sim = await simulator.__aenter__()
    stopped = False
    try:
        async with running(settings_for(tmp_path, sim.ari_url)) as app, aiohttp.ClientSession() as http:
            await asyncio.wait_for(app.controller.connected.wait(), 5)
            await status_becomes(http, f"{app.api_url}/readyz", 200)
            await simulator.__aexit__(None, None, None)
            stopped = True
            body = await status_becomes(http, f"{app.api_url}/readyz", 503)
            alive = await get(http, f"{app.api_url}/healthz")
            await asyncio.sleep(1.0)  # still not ready while Asterisk stays away
            later = await get(http, f"{app.api_url}/readyz")
    finally:
        if not stopped:
            await simulator.__aexit__(None, None, None)
    assert body["not_ready"] == ["ari"]
    assert alive[0] == 200, "alive all the same: the process serves"
    assert later[0] == 503 and later[1]["not_ready"] == ["ari"]


async def test_not_ready_naming_the_database_when_the_sqlite_file_is_gone(tmp_path: Path) -> None:
    async with (
        serve() as sim,
        running(settings_for(tmp_path, sim.ari_url)) as app,
        aiohttp.ClientSession() as http,
    ):
        await asyncio.wait_for(app.controller.connected.wait(), 5)
        await status_becomes(http, f"{app.api_url}/readyz", 200)
        shutil.rmtree(tmp_path / "db")
        body = await status_becomes(http, f"{app.api_url}/readyz", 503)
    assert body["not_ready"] == ["database"]
    assert "is gone" in body["checks"]["database"]["detail"]


async def test_not_ready_naming_the_database_when_postgresql_cannot_be_reached(tmp_path: Path) -> None:
    """A PostgreSQL URL to a port nobody listens on: the check says so within its timeout."""
    closed = free_port()
    store = Store(f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/test")
    connected = _Stream(True)
    try:
        health = Health(store, connected, Role.STANDBY)
        checks = await asyncio.wait_for(health.readiness(), 10)
    finally:
        await store.aclose()
    assert [name for name, check in checks.items() if not check.ok] == ["database"]
    assert "does not answer" in checks["database"].detail
    assert sample("ari_recorder_leader") == 0  # a standby is ready, and not the leader
    assert checks["role"].ok and checks["role"].detail == "the controller is standby"


async def test_not_ready_without_a_role(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        checks = await Health(store, _Stream(True)).readiness()
    finally:
        await store.aclose()
    assert [name for name, check in checks.items() if not check.ok] == ["role"]


class _Stream:
    def __init__(self, connected: bool) -> None:
        self.connected = connected


async def test_calls_segments_and_event_lag_are_counted_as_they_happen(tmp_path: Path) -> None:
    selected = sample("ari_recorder_segments_total", {"decision": "selected"})
    recorded = sample("ari_recorder_segments_recorded_total")
    lag = sample("ari_recorder_event_lag_seconds_count")
    quick = sample("ari_recorder_event_lag_seconds_bucket", {"le": "1.0"})
    async with world(tmp_path, QUEUES) as w:
        active = sample("ari_recorder_calls_active")
        await w.control("calls", {"queue": "support", "caller": "15550001"})
        assert w.controller is not None
        controller = w.controller

        async def connected() -> bool:
            calls = controller.live_calls()
            return bool(calls) and calls[0].segment is not None and bool(calls[0].began)

        await until(connected, what="the agent connected and recorded", timeout=10)
        during = sample("ari_recorder_calls_active")
        await w.control("hangup", {"customer": "15550001"})
        await asyncio.wait_for(w.reports.get(), 15)
    assert during == active + 1
    assert sample("ari_recorder_calls_active") == active
    assert sample("ari_recorder_segments_total", {"decision": "selected"}) == selected + 1
    assert sample("ari_recorder_segments_recorded_total") == recorded + 1
    assert sample("ari_recorder_event_lag_seconds_count") > lag
    # Every event of the call was routed within a second of Asterisk's timestamp (same host).
    events = sample("ari_recorder_event_lag_seconds_count") - lag
    assert sample("ari_recorder_event_lag_seconds_bucket", {"le": "1.0"}) - quick == events
