"""Each trace of a real Asterisk, replayed against the simulator: same answers, same events."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_simulator.server import RunningSimulator, serve
from tests.simulator.replay import Replayer, check
from tests.support.reference import REFERENCE, load_trace, reference_dir

# Paced by the trace's clock, lengths within 5 %: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing

TRACES = [
    "answer_pause_transfer_hangup",
    "asterisk_restart",
    "errors",
    "missing_sound_playback",
    "snoop_directions_bridge_record",
    "snoop_record_before_stasisstart",
    "stasis_without_websocket",
    "websocket_reconnect",
]

# Recorded each on an Asterisk of its own (tests/reference/record/): its listings (GET /channels,
# /bridges, /applications, /recordings/stored) hold nothing from before, and are compared too.
OWN_ASTERISK = {
    "asterisk_restart",
    "missing_sound_playback",
    "snoop_record_before_stasisstart",
    "stasis_without_websocket",
}


def setting(sim: RunningSimulator, name: str) -> Any:
    """What the trace's Asterisk was like, or did, that no ARI request says: done through /sim/."""

    async def send(session: aiohttp.ClientSession, method: str, path: str, body: dict[str, Any]) -> None:
        async with session.request(method, sim.base_url + path, json=body) as response:
            assert response.status < 300, await response.text()

    def stimulus(entry: dict[str, Any], session: aiohttp.ClientSession) -> Awaitable[None] | None:
        first = entry is trace_start[0]
        if name == "snoop_record_before_stasisstart" and first:
            # Asterisk under load: a snoop enters the application a moment after its POST's answer.
            return send(session, "PUT", "/sim/config", {"snoop_stasis_delay_ms": 50})
        if name == "stasis_without_websocket" and first:
            return send(session, "PUT", "/sim/config", {"stasis_retry_seconds": 4})
        if (
            name == "asterisk_restart"
            and entry["kind"] == "note"
            and entry["text"].startswith("Asterisk restarts")
        ):
            return send(session, "POST", "/sim/restart", {})
        return None

    trace_start: list[dict[str, Any]] = []
    return stimulus, trace_start


@pytest.mark.parametrize("name", TRACES)
async def test_trace_replays_identically(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = load_trace(reference_dir() / "traces" / f"{name}.jsonl")
    async with serve() as sim:
        stimulus, start = setting(sim, name)
        start.append(trace[0])
        replayer = Replayer(
            sim.base_url, "asterisk", "asterisk", trace, name, stimulus, listings=name in OWN_ASTERISK
        )
        report = await replayer.run()
    with capsys.disabled():
        check(report, REFERENCE / "recordings", tmp_path, print)


def test_every_trace_is_replayed() -> None:
    reference_dir()
    assert sorted(p.stem for p in (REFERENCE / "traces").glob("*.jsonl")) == sorted(TRACES)
