"""The controller killed mid-call (the process, not a clean stop) and started again."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_recorder.domain import call as c
from ari_recorder.settings import QueueSettings
from ari_recorder.storage.store import Store
from ari_simulator.server import free_port
from tests.engine.test_inbound_calls import SIP_AGENTS
from tests.support.waiting import until
from tests.support.world import World, world

# Deadlines across a restart, bounded in seconds: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing

START_DEADLINE = 1.0  # seconds: [recording] start_deadline_ms below
CONFIG = """
[ari]
url = "http://127.0.0.1:{port}/ari"

[database]
url = "sqlite+aiosqlite:///{db}"

[api]
port = 0

[delivery]
keep_unencrypted = true             # no age recipient: recordings stay in the simulator

[company]
announcement = "sim/announcement"

[recording]
start_deadline_ms = 1000

[queues.support]
agents = ["1001"]

[agents.1001]
endpoint = "Local/1001@agent-phone"
permit_recordings = true
record_percent = 100
"""


@asynccontextmanager
async def process(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARI_RECORDER_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_recorder",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_a_killed_controller_resumes_the_call_and_the_recording_is_kept_once(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "ari-recorder.toml"
    config.write_text(CONFIG.format(port=port, db=tmp_path / "db.sqlite"))
    async with process("simulator", "--port", str(port)), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{port}"

        async def state() -> dict[str, Any]:
            try:
                async with http.get(f"{base}/sim/state") as r:
                    return await r.json()  # type: ignore[no-any-return]
            except aiohttp.ClientConnectionError:
                return {}

        async def sockets() -> int:
            return int((await state()).get("applications", {}).get("ari-recorder", 0))

        async with process("run", "--config", str(config)) as first:
            await until(sockets, what="the controller to connect")
            async with http.post(f"{base}/sim/calls", json={"queue": "support", "caller": "15550050"}) as r:
                assert r.status == 200
            await until(lambda: _recording(state), what="the agent's segment to be recorded")
            # ...and the controller to have stored it: killed before that, its successor knows
            # nothing of the file, and the delivery's orphan sweep finds it once it is finished
            # (tests/delivery/test_orphans.py; here no delivery runs, recordings stay in Asterisk).
            await until(lambda: _stored(tmp_path / "db.sqlite"), what="the recording stored")
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert await sockets() == 0
        assert (await state())["live_recordings"], "Asterisk goes on recording without the controller"
        # No controller runs for longer than a recording's start deadline (the scenario): a start
        # whose confirmation the first one never stored is Asterisk's to confirm on resume.
        await asyncio.sleep(2 * START_DEADLINE)
        async with process("run", "--config", str(config)) as second:
            await until(sockets, what="the new controller to connect")
            async with http.post(f"{base}/sim/hangup", json={"customer": "15550050"}) as r:
                assert r.status == 200

            async def cleaned_up() -> bool:
                s = await state()
                return not s["channels"] and not s["bridges"] and not s["live_recordings"]

            await until(cleaned_up, what="the resumed call to end and leave nothing behind")
            stored = (await state())["stored_recordings"]
            second.send_signal(signal.SIGTERM)
            _, err = await second.communicate()
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        recordings = await store.recordings()
        assert await store.open_calls() == []
    finally:
        await store.aclose()
    assert [(r.name, r.state) for r in recordings] == [(stored[0], "ready")]
    assert len(stored) == 1
    assert "action=resume" in err.decode()


async def _recording(state: Any) -> bool:
    return bool((await state())["live_recordings"])


async def _stored(database: Path) -> bool:
    """The killed controller's database names a recording (read as its successor will)."""
    store = Store(f"sqlite+aiosqlite:///{database}")
    try:
        return any(call.began or call.starting for call in await store.open_calls())
    finally:
        await store.aclose()


# ----- in-process: the controller's calls dropped and taken back from the store -----
async def _restart(w: World) -> None:
    """What a killed controller leaves and its successor takes (the path of a leadership lost
    and taken again, engine/terms.py): the calls' stored states, nothing held in memory."""
    assert w.controller is not None
    await w.controller.persister.flush()  # written as they acted, before the kill
    await w.controller.stand_down()
    assert w.controller.live_calls() == []
    w.controller.leading = True
    w.controller.resume(await w.store.open_calls())


async def _phase(w: World, phase: str) -> c.Call:
    for _ in range(200):
        live = w.controller.live_calls() if w.controller else []
        if live and live[0].phase.value == phase:
            return live[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no call {phase}")


async def test_a_resumed_call_keeps_its_wait_limit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    queues = {"support": QueueSettings(agents=["1001"], ring_timeout=30, wait_limit=4)}
    async with world(tmp_path, queues) as w:
        await w.control("phones/1001", {"answer": "never"}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550060"})
        waiting = await _phase(w, "waiting")
        assert waiting.waiting_since is not None
        await asyncio.sleep(2.0)
        await _restart(w)
        restarted = time.monotonic()
        report = await asyncio.wait_for(w.reports.get(), 10)
        took = time.monotonic() - restarted
    assert "action=resume phase=waiting" in caplog.text
    assert 'action=end why="no agent answered within 4 s"' in caplog.text
    assert took < 3.5, "the wait limit runs from the first wait, not from the restart"
    assert report.call.segments == ()


async def test_a_call_resumed_after_an_attended_transfer_still_hears_the_new_party(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Local channel Asterisk put in the agent's place carries none of the call's ids: after a
    restart its hangup still reaches the call (aliased again from the call's state)."""
    caplog.set_level(logging.INFO)
    queues = {"support": QueueSettings(agents=["3001"])}
    async with world(tmp_path, queues, SIP_AGENTS, phone_transfers="asterisk") as w:
        await w.control("calls", {"queue": "support", "caller": "15550061", "via": "sip"})
        await asyncio.sleep(1.5 + 1.0)
        await w.control("attended_transfer", {"agent": "3001", "to": "3002"})
        await asyncio.sleep(2.5 + 0.5)
        (call,) = w.controller.live_calls() if w.controller else []
        assert call.segment is not None and call.segment.agent == "3002"
        await _restart(w)
        await w.control("hangup", {"agent": "3002"})
        report = await asyncio.wait_for(w.reports.get(), 10)
    assert [s.agent for s in report.call.segments] == ["3001", "3002"]
    assert 'action=end why="the agent hung up"' in caplog.text


async def test_a_call_resumed_mid_consultation_still_hears_the_consultation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    queues = {"support": QueueSettings(agents=["3001"])}
    async with world(tmp_path, queues, SIP_AGENTS) as w:
        await w.control("calls", {"queue": "support", "caller": "15550062", "via": "sip"})
        await asyncio.sleep(1.5 + 1.0)
        await w.control("consult", {"agent": "3001", "to": "3002"})
        await asyncio.sleep(0.3 + 0.8)
        await _restart(w)
        await w.control("hangup", {"agent": "3001"})  # 3001's consultation call
        await asyncio.sleep(1.0)
        live = w.controller.live_calls() if w.controller else []
        await w.control("hangup", {"customer": "15550062"})
        report = await asyncio.wait_for(w.reports.get(), 10)
    assert 'action=consult-ended to=3002 why="agent 3001 hung up the consultation"' in caplog.text
    assert [(c.phase.value, c.consultation) for c in live] == [("connected", None)]
    assert [s.agent for s in report.call.segments] == ["3001"]


async def test_a_handed_over_call_is_left_in_the_store_with_nothing_of_it_running(tmp_path: Path) -> None:
    queues = {"support": QueueSettings(agents=["1001"], ring_timeout=30, wait_limit=2)}
    async with world(tmp_path, queues) as w:
        await w.control("phones/1001", {"answer": "never"}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550063"})
        await _phase(w, "waiting")
        assert w.controller is not None
        await w.controller.hand_over(2.0)
        await asyncio.sleep(2.5)  # past its wait limit: no timer of the call is left to fire
        (left,) = await w.store.open_calls()
        assert w.reports.empty() and w.controller.live_calls() == []
    assert left.phase is c.Phase.WAITING and left.waiting_since is not None
