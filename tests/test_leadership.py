"""Two `ari-recorder run` processes on one PostgreSQL against the simulator: the leader killed,
stopped (SIGTERM) or cut from its lock mid-call; the standby takes over, adopts the call, takes
the new ones, and every recording is delivered (decrypted with the age CLI). SQLite: one process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_simulator.server import RunningSimulator, free_port, serve
from tests.asterisk.controller import Controller, Delivered
from tests.support.waiting import until
from tests.test_cli import command, said

# Takeovers bounded in seconds: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing

AGENTS = {
    "1001": {"endpoint": "Local/1001@agent-phone", "permit_recordings": True, "record_percent": 100},
    "1002": {"endpoint": "Local/1002@agent-phone", "permit_recordings": True, "record_percent": 100},
}
QUEUES = {"support": {"agents": ["1001", "1002"]}}


@pytest.fixture
async def postgres() -> AsyncIterator[dict[str, str]]:
    """A schema of its own on the PostgreSQL ./dev test provides; the controllers create it."""
    base = os.environ.get("PG_TEST_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("PG_TEST_URL is not set: ./dev test provides a PostgreSQL")
        pytest.skip("no PostgreSQL: run through ./dev test, which provides one")
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield {"url": base.replace("postgresql://", "postgresql+asyncpg://"), "schema": schema}
    admin = await asyncpg.connect(base.replace("postgresql://", "postgres://"))
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.close()


class Site:
    """The simulator, seen through its control API."""

    def __init__(self, sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
        self.sim, self.http = sim, http

    async def control(self, path: str, body: dict[str, Any], method: str = "POST") -> None:
        async with self.http.request(method, f"{self.sim.base_url}/sim/{path}", json=body) as r:
            assert r.status == 200, await r.text()

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.sim.base_url}/sim/state") as r:
            return await r.json()  # type: ignore[no-any-return]

    async def live_recordings(self) -> int:
        return len((await self.state())["live_recordings"])

    async def sockets(self) -> int:
        return int((await self.state()).get("applications", {}).get("ari-recorder", 0))


@asynccontextmanager
async def leader_and_standby(
    tmp_path: Path, postgres: dict[str, str]
) -> AsyncIterator[tuple[Site, Controller, Controller]]:
    """The simulator (its dialplan retrying Stasis() every second while no controller is
    connected, as the kit's does), a leader and a standby sharing the database, the spool and
    the outbox."""
    async with serve() as sim, aiohttp.ClientSession() as http:
        site = Site(sim, http)
        await site.control("config", {"stasis_retry_seconds": 30}, method="PUT")
        shared: dict[str, Any] = {
            "home": tmp_path,
            "ari_url": sim.ari_url,
            "ari_password": "asterisk",
            "agents": AGENTS,
            "queues": QUEUES,
            "company": {"announcement": "sim/announcement"},
            "postgres": postgres,
            # The delivery worker looks for work this often: the tests wait for two deliveries.
            "delivery": {"poll_seconds": 0.1},
        }
        first, second = Controller(**shared), Controller(**shared)
        try:
            await first.start()
            await second.start(ready="leadership: standby")
            yield site, first, second
        finally:
            await first.stop()
            await second.stop()


async def talking(site: Site, caller: str, recordings: int) -> float:
    """A customer calls the queue; when the agent's segment is being recorded."""
    await site.control("calls", {"queue": "support", "caller": caller})

    async def recorded() -> bool:
        return await site.live_recordings() >= recordings

    await until(recorded, what=f"{caller}'s call to be recorded")
    return time.monotonic()


async def takeover(new: Controller, since: int, at: float) -> float:
    """Seconds from `at` to the new leader's event socket connected."""
    line = await new.said("ari connected", seconds=10, since=since)
    return new.heard_at[new.lines.index(line, since)] - at


def seconds_of(delivered: Delivered) -> float:
    with wave.open(str(delivered.audio)) as audio:
        return audio.getnframes() / audio.getframerate()


async def both_delivered(site: Site, leader: Controller, began: dict[str, float]) -> dict[str, Delivered]:
    """Both customers hang up; each recording delivered, as long as its agent's segment."""
    ended = {}
    for caller in began:
        await site.control("hangup", {"customer": caller})
        ended[caller] = time.monotonic()
    delivered = await leader.deliveries(2, seconds=60)
    assert len(delivered) == 2, [d.sidecar for d in delivered]
    by_agent = {d.agent: d for d in delivered}
    assert set(by_agent) == {"1001", "1002"}
    for caller, agent in zip(began, ("1001", "1002"), strict=True):
        lasted = ended[caller] - began[caller]
        assert seconds_of(by_agent[agent]) >= lasted - 0.5, (agent, seconds_of(by_agent[agent]), lasted)
    return by_agent


async def test_the_standby_takes_over_within_3_s_when_the_leader_is_killed(
    tmp_path: Path, postgres: dict[str, str]
) -> None:
    async with leader_and_standby(tmp_path, postgres) as (site, leader, standby):
        began = {"15550001": await talking(site, "15550001", 1)}
        assert await leader_gauge(site, leader) == 1.0
        assert await leader_gauge(site, standby) == 0.0
        status, body = await standby.http("POST", "/calls/any/transfer", {"agent": "1002"})
        assert status == 503 and body["error"].startswith("standby:"), (status, body)
        await asyncio.sleep(1.0)  # the call is recorded a while before the kill: the scenario
        since = len(standby.lines)
        assert leader.process is not None
        killed = time.monotonic()
        leader.process.send_signal(signal.SIGKILL)
        await asyncio.sleep(0.5)  # a call comes in during the takeover: the scenario
        await site.control("calls", {"queue": "support", "caller": "15550002"})  # 0.5 s after
        took = await takeover(standby, since, killed)
        print(f"\ntakeover after SIGKILL: {took:.3f} s (the kill to the standby's event socket)")
        assert took < 3.0
        began["15550002"] = await talking_already(site, 2)
        await standby.said("action=resume", since=since)
        await asyncio.sleep(1.0)  # both calls go on a while under the new leader: the scenario
        await both_delivered(site, standby, began)
        assert await site.sockets() == 1
        assert await leader_gauge(site, standby) == 1.0
        assert not standby.errors(), standby.errors()


async def leader_gauge(site: Site, controller: Controller) -> float:
    async with site.http.get(f"http://127.0.0.1:{controller.api_port}/metrics") as r:
        text = await r.text()
    gauge = next(line for line in text.splitlines() if line.startswith("ari_recorder_leader "))
    return float(gauge.split()[1])


async def talking_already(site: Site, recordings: int) -> float:
    async def recorded() -> bool:
        return await site.live_recordings() >= recordings

    await until(recorded, what="the new call to be recorded")
    return time.monotonic()


async def test_sigterm_hands_over_to_the_standby_and_exits_0(
    tmp_path: Path, postgres: dict[str, str]
) -> None:
    async with leader_and_standby(tmp_path, postgres) as (site, leader, standby):
        began = {"15550001": await talking(site, "15550001", 1)}
        await asyncio.sleep(1.0)  # the call is recorded a while before the signal: the scenario
        since, said_before = len(standby.lines), len(leader.lines)
        assert leader.process is not None
        stopped = time.monotonic()
        leader.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)  # a call comes in during the hand-over: the scenario
        await site.control("calls", {"queue": "support", "caller": "15550002"})
        took = await takeover(standby, since, stopped)
        print(f"\ntakeover after SIGTERM: {took:.3f} s (the signal to the standby's event socket)")
        assert took < 1.0
        assert await asyncio.wait_for(leader.process.wait(), 20) == 0
        print(f"the old leader exited 0 after {time.monotonic() - stopped:.3f} s")
        assert await leader.said("leadership: handed over", since=said_before)
        assert await leader.said("action=hand-over", since=said_before)
        began["15550002"] = await talking_already(site, 2)
        await asyncio.sleep(1.0)  # both calls go on a while under the new leader: the scenario
        await both_delivered(site, standby, began)
        assert not leader.errors() and not standby.errors(), leader.errors() + standby.errors()


async def test_a_leader_cut_from_its_lock_stands_down_at_once(
    tmp_path: Path, postgres: dict[str, str]
) -> None:
    """The lock's session ended under the leader (a database restart does that): it stops taking
    and acting on calls at once and goes back to standby; the standby takes over."""
    import asyncpg

    async with leader_and_standby(tmp_path, postgres) as (site, leader, standby):
        # Cut the moment the recording starts: its state may not be written yet. The new leader
        # must find the recording live in Asterisk, not start another or call it not recorded.
        began = {"15550001": await talking(site, "15550001", 1)}
        since, said_before = len(standby.lines), len(leader.lines)
        assert leader.process is not None
        who = f"ari-recorder {socket.gethostname()[:40]}:{leader.process.pid}"
        admin = await asyncpg.connect(os.environ["PG_TEST_URL"].replace("postgresql://", "postgres://"))
        try:
            cut = time.monotonic()
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                who,
            )
        finally:
            await admin.close()
        assert ended == 1
        await leader.said("leadership: lost", seconds=5, since=said_before)
        took = await takeover(standby, since, cut)
        print(f"\ntakeover after the leader's lock session ended: {took:.3f} s")
        await leader.said("leadership: standby", seconds=5, since=said_before)
        await site.control("calls", {"queue": "support", "caller": "15550002"})
        began["15550002"] = await talking_already(site, 2)
        assert await site.sockets() == 1  # never two leaders
        # Both calls go on a while under the new leader: the scenario. Hung up within ms of its
        # recording's start, the second call's file held no frame yet (an empty-file gap once).
        await asyncio.sleep(1.0)
        await both_delivered(site, standby, began)
        lost = [line for line in leader.errors() if "leadership: lost" not in line]
        assert not lost and not standby.errors(), lost + standby.errors()


async def test_a_second_controller_on_one_sqlite_file_says_so_and_exits_1(tmp_path: Path) -> None:
    env = {
        "ARI_RECORDER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "ARI_RECORDER_ARI__URL": f"http://127.0.0.1:{free_port()}/ari",
        "ARI_RECORDER_API__PORT": "0",
    }
    async with command("run", env=env) as first:
        await said(first, "ARI events: cannot reach")
        async with command("run", env=env) as second:
            _, err = await asyncio.wait_for(second.communicate(), 20)
        assert first.returncode is None
    assert second.returncode == 1
    assert err.decode().strip().splitlines() == [
        f"ari-recorder: another controller is running on {tmp_path / 'db.sqlite'} (it holds "
        f"{tmp_path / 'db.sqlite'}.lock): SQLite is for one controller; use PostgreSQL for a standby"
    ]
