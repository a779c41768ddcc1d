"""Benchmark: N concurrent inbound calls through the controller, the simulator in its own process.

Calls arrive at --rate per second and stay up until all N are up (so N are concurrent at the
end), then hang up at the same rate. Between the agent's answer reaching the controller and the
record request, the controller does its own work, then one round trip to Asterisk (the snoop the
recording is made from). Reported, p50/p99: the answer -> record request latency; the controller's
own share of it (answer -> snoop request: aim p99 < 10 ms); the snoop round trip, measured in the
same run, as the baseline, and the ratio latency / round trip (1.0 would be a controller that
costs nothing). Also call setups/s and the controller's CPU time per call.

    .venv/bin/python bench/calls.py --calls 1000 --rate 50
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
from ari_recorder.delivery import DeliverySettings
from ari_recorder.settings import (
    AgentSettings,
    ApiSettings,
    AriSettings,
    CompanySettings,
    DatabaseSettings,
    QueueSettings,
    Settings,
)
from ari_simulator.server import free_port


async def run(n: int, rate: float) -> None:
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
        delivery=DeliverySettings(keep_unencrypted=True),  # recordings stay in the simulator
        company=CompanySettings(announcement="sim/announcement"),
        queues={"bench": QueueSettings(agents=list(agents))},
        agents=agents,
    )
    answered: dict[str, float] = {}
    snooped: dict[str, float] = {}
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
                intake, snoop, record = app.controller.intake, app.ari.snoop, app.ari.record

                def timed_intake(item: Any) -> None:
                    if isinstance(item, StasisStart) and item.args[:1] == ("agent",):
                        answered[item.channel.id.split("-")[0]] = time.perf_counter()
                    intake(item)

                async def timed_snoop(channel: str, app_name: str, **kw: Any) -> Any:
                    snooped[channel.split("-")[0]] = time.perf_counter()
                    return await snoop(channel, app_name, **kw)

                async def timed_record(channel: str, name: str, **kw: Any) -> Any:
                    recorded[name.split("-")[0]] = time.perf_counter()
                    if len(recorded) == n:
                        all_recorded.set()
                    return await record(channel, name, **kw)

                app.controller.intake = timed_intake  # type: ignore[method-assign]
                app.ari.record = timed_record  # type: ignore[method-assign]
                app.ari.snoop = timed_snoop  # type: ignore[method-assign]
                await asyncio.wait_for(app.controller.connected.wait(), 10)
                cpu0, started = time.process_time(), time.perf_counter()
                for i in range(n):
                    await _post(
                        http,
                        f"{base}/sim/calls",
                        {"queue": "bench", "caller": f"1555{i:04d}", "args": [f"agent={1000 + i}"]},
                    )
                    await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_recorded.wait(), 120)
                setup = max(recorded.values()) - started if recorded else float("nan")
                hanging_up = time.perf_counter()
                for i in range(n):
                    await _post(http, f"{base}/sim/hangup", {"customer": f"1555{i:04d}"})
                    await asyncio.sleep(max(0.0, hanging_up + (i + 1) / rate - time.perf_counter()))
                await asyncio.wait_for(ended.wait(), 120)
                cpu = time.process_time() - cpu0

        def spread(values: list[float]) -> str:
            ordered = sorted(values)
            p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
            return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms"

        calls = [k for k in recorded if k in answered and k in snooped]
        latency = [(recorded[k] - answered[k]) * 1000 for k in calls]
        own = [(snooped[k] - answered[k]) * 1000 for k in calls]
        trip = [(recorded[k] - snooped[k]) * 1000 for k in calls]
        print(f"calls: {n} at {rate:g}/s, all {n} up at once at the end; all recorded after {setup:.2f} s")
        print(f"call setups: {n / setup:,.0f}/s sustained (each plays a 1.5 s announcement first)")
        print(f"agent answer -> record request: {spread(latency)}")
        print(f"  the controller's own share (answer -> snoop request): {spread(own)} (aim: p99 < 10 ms)")
        print(f"  baseline, the snoop's round trip to Asterisk: {spread(trip)}")
        ratio = statistics.median(latency) / statistics.median(trip)
        print(f"  ratio answer->record / round trip (medians): {ratio:.2f} (1.0: nothing added)")
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
    parser.add_argument("--rate", type=float, default=50.0, help="calls placed (and hung up) per second")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.rate))


if __name__ == "__main__":
    main()
