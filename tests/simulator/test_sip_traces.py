"""The SIP traces, with their phones played through the control API: same answers, same events.

In those traces the stimulus is a SIP phone (SIPp), not an ARI request: a customer calls, an
agent's phone sends a REFER. Here /sim/calls and /sim/transfer do what the phones did, at the
moment the trace shows it, and everything the application sent is replayed as recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_recorder.simulator.server import RunningSimulator, serve
from tests.simulator.replay import Replayer, check
from tests.support.reference import REFERENCE, load_trace, reference_dir

SIP_TRACES = ["sip_blind_transfer_ari_only", "sip_blind_transfer_core", "sip_dtmf_native_vs_snoop"]


def phones(sim: RunningSimulator) -> Any:
    transferred = False

    def stimulus(entry: dict[str, Any], session: aiohttp.ClientSession) -> Awaitable[None] | None:
        nonlocal transferred
        if entry["kind"] == "note" and (
            "SIP customer calls" in entry["text"] or "presses *7 and *8" in entry["text"]
        ):
            return post(session, "/sim/calls", {"queue": "support", "via": "sip"})
        if (
            entry["kind"] == "event"
            and not transferred
            and entry["event"]["type"] in ("ChannelTransfer", "ChannelUnhold")
        ):
            transferred = True
            return post(session, "/sim/transfer", {"agent": "3001", "to": "3002"})
        return None

    async def post(session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> None:
        async with session.post(sim.base_url + path, json=body) as response:
            assert response.status == 200, await response.text()

    return stimulus


@pytest.mark.parametrize("name", SIP_TRACES)
async def test_sip_trace_replays_identically(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = load_trace(reference_dir() / "traces-sip" / f"{name}.jsonl")
    async with serve() as sim:
        report = await Replayer(sim.base_url, "asterisk", "asterisk", trace, name, phones(sim)).run()
    with capsys.disabled():
        check(report, REFERENCE / "recordings", tmp_path, print)
    assert len(report.skipped) <= 1
