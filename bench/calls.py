"""Benchmark: N concurrent inbound calls through the controller, the simulator in its own process.

Reports call setups per second (first call placed to last segment recorded), the latency from
the agent's answer reaching the controller to its record request (p50/p99), and the controller's
CPU time per call.

    .venv/bin/python bench/calls.py --calls 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from ari_recorder.app import running
from ari_recorder.ari.events import StasisStart
from ari_recorder.settings import (
    AgentSettings,
    ApiSettings,
    AriSettings,
    CompanySettings,
    DatabaseSettings,
    QueueSettings,
    Settings,
)
from ari_recorder.simulator.server import free_port


async def run(n: int) -> None:
    port = free_port()
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_recorder",
        "simulator",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    agents = {
        str(1000 + i): AgentSettings(
            endpoint=f"Local/{1000 + i}@agent-phone", permit_recordings=True, record_percent=100
        )
        for i in range(n)
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    settings = Settings(
        ari=AriSettings(url=f"{base}/ari"),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}"),
        api=ApiSettings(port=0),
        company=CompanySettings(announcement="sim/announcement"),
        queues={"bench": QueueSettings(agents=list(agents))},
        agents=agents,
    )
    answered: dict[str, float] = {}
    recorded: dict[str, float] = {}
    all_recorded, ended = asyncio.Event(), asyncio.Event()
    reports = 0

    def report(_: Any) -> None:
        nonlocal reports
        reports += 1
        if reports == n:
            ended.set()

    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/sim/state"):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async with running(settings, report) as app:
                # Instrumentation for this benchmark only: when the agent's answer reaches the
                # controller, and when the controller asks Asterisk to record.
                intake, record = app.controller.intake, app.ari.record

                def timed_intake(item: Any) -> None:
                    if isinstance(item, StasisStart) and item.args[:1] == ("agent",):
                        answered[item.channel.id.split("-")[0]] = time.perf_counter()
                    intake(item)

                async def timed_record(channel: str, name: str, **kw: Any) -> Any:
                    recorded[name.split("-")[0]] = time.perf_counter()
                    if len(recorded) == n:
                        all_recorded.set()
                    return await record(channel, name, **kw)

                app.controller.intake = timed_intake  # type: ignore[method-assign]
                app.ari.record = timed_record  # type: ignore[method-assign]
                await asyncio.wait_for(app.controller.connected.wait(), 10)
                cpu0, started = time.process_time(), time.perf_counter()
                await asyncio.gather(
                    *(
                        _post(
                            http,
                            f"{base}/sim/calls",
                            {"queue": "bench", "caller": f"1555{i:04d}", "args": [f"agent={1000 + i}"]},
                        )
                        for i in range(n)
                    )
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_recorded.wait(), 120)
                setup = max(recorded.values()) - started if recorded else float("nan")
                await asyncio.gather(
                    *(_post(http, f"{base}/sim/hangup", {"customer": f"1555{i:04d}"}) for i in range(n))
                )
                await asyncio.wait_for(ended.wait(), 120)
                cpu = time.process_time() - cpu0
        latencies = sorted((recorded[k] - answered[k]) * 1000 for k in recorded if k in answered)
        print(f"calls: {n}, all recorded after {setup:.2f} s (each plays a 1.5 s announcement first)")
        print(f"call setups: {n / setup:,.0f}/s sustained")
        print(
            f"agent answer -> record request: p50 {statistics.median(latencies):.2f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} ms (aim: p99 < 10 ms at 1,000 calls)"
        )
        print(f"controller CPU: {cpu * 1000 / n:.2f} ms per call (setup, recording, hangup, cleanup)")
    finally:
        sim.send_signal(signal.SIGINT)
        await asyncio.wait_for(sim.wait(), 30)


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with http.post(url, json=body) as r:
        r.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.calls))


if __name__ == "__main__":
    main()
