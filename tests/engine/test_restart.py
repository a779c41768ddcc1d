"""The controller killed mid-call (the process, not a clean stop) and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from ari_recorder.storage.store import Store
from ari_simulator.server import free_port
from tests.support.waiting import until

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
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert await sockets() == 0
        assert (await state())["live_recordings"], "Asterisk goes on recording without the controller"
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
