"""Benchmark: the client's event stream against a bare WebSocket drain of the same stream.

The simulator runs in its own process and pushes the events of the reference traces (cycled)
to one WebSocket; we time how fast (a) a bare aiohttp WebSocket receives them, (b) the project's
EventStream receives and parses them into typed events. Rounds alternate; the medians' ratio is
what matters (aim: >= 0.8). Two ways: the frames written in one burst, so that only the reader
is measured; and paced by the simulator's own sender, as a real Asterisk paces its events.

    .venv/bin/python bench/events.py [--events 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from ari_recorder.ari.rest import basic_auth
from ari_recorder.ari.stream import EventStream, StreamConnected

REFERENCE = Path(
    os.environ.get("ARI_REFERENCE_DIR", Path(__file__).resolve().parents[1] / "tests" / "reference")
)
APP = "bench"
AUTH = basic_auth("asterisk", "asterisk")


def trace_events() -> list[dict[str, Any]]:
    events = []
    for path in sorted(REFERENCE.glob("traces*/*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["kind"] == "event":
                events.append({**entry["event"], "application": APP})
    if not events:
        sys.exit(f"no trace events under {REFERENCE} (set ARI_REFERENCE_DIR)")
    return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def push(
    http: aiohttp.ClientSession, base: str, events: list[dict[str, Any]], total: int, burst: bool
) -> None:
    body = {"app": APP, "events": events, "count": max(1, total // len(events)), "burst": burst}
    async with http.post(f"{base}/sim/replay-events", json=body) as r:
        r.raise_for_status()


async def bare(base: str, events: list[dict[str, Any]], total: int, burst: bool) -> float:
    expected = (total // len(events)) * len(events)
    async with aiohttp.ClientSession() as http:
        url = base.replace("http", "ws", 1) + f"/ari/events?app={APP}&subscribeAll=false"
        async with http.ws_connect(url, headers={"Authorization": AUTH}) as ws:
            started = time.perf_counter()
            await push(http, base, events, total, burst)
            received = 0
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    received += 1
                    if received == expected:
                        break
            return received / (time.perf_counter() - started)


async def client(base: str, events: list[dict[str, Any]], total: int, burst: bool) -> float:
    expected = (total // len(events)) * len(events)
    stream = EventStream(base + "/ari", APP, "asterisk", "asterisk")
    received, started = 0, 0.0
    async with aiohttp.ClientSession() as http:
        async for item in stream:
            if isinstance(item, StreamConnected):
                started = time.perf_counter()
                await push(http, base, events, total, burst)
                continue
            received += 1
            if received == expected:
                break
    rate = received / (time.perf_counter() - started)
    await stream.aclose()
    return rate


async def run(total: int, rounds: int) -> None:
    events = trace_events()
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
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/sim/state"):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        print(f"events per round: {total:,} ({len(events)} distinct trace events, cycled)")
        for burst, what in (
            (True, "reader alone (frames written in one burst)"),
            (False, "paced by the simulator's sender, as Asterisk paces"),
        ):
            bare_rates, client_rates = [], []
            for i in range(rounds):
                bare_rates.append(await bare(base, events, total, burst))
                client_rates.append(await client(base, events, total, burst))
                print(
                    f"  {what}, round {i + 1}: bare drain {bare_rates[-1]:,.0f} events/s, "
                    f"EventStream {client_rates[-1]:,.0f} events/s"
                )
            ratio = statistics.median(client_rates) / statistics.median(bare_rates)
            print(
                f"{what}: median bare {statistics.median(bare_rates):,.0f}/s, EventStream "
                f"{statistics.median(client_rates):,.0f}/s, ratio {ratio:.2f} (aim >= 0.8)"
            )
    finally:
        sim.send_signal(signal.SIGINT)
        await asyncio.wait_for(sim.wait(), 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rounds))


if __name__ == "__main__":
    main()
