"""The SIP traces, with their phones played through the control API: same answers, same events.

In those traces the stimulus is a SIP phone (SIPp), not an ARI request: a customer calls, an
agent's phone sends a REFER. Here /sim/calls and /sim/transfer do what the phones did, at the
moment the trace shows it, and everything the application sent is replayed as recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_simulator.phones import SIP_RING_SECONDS
from ari_simulator.server import RunningSimulator, serve
from tests.simulator.replay import Replayer, check
from tests.support.reference import REFERENCE, load_trace, reference_dir

# Paced by the trace's clock, lengths within 5 %: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing

SIP_TRACES = ["sip_blind_transfer_ari_only", "sip_blind_transfer_core", "sip_dtmf_native_vs_snoop"]
# Recorded with the project's kit (tests/reference/record/sip_traces.py): the customer's trunk is
# the endpoint `trunk`, the agents' phones dial from the context `agents`.
ATTENDED_TRACES = ["sip_attended_transfer_core", "sip_attended_transfer_ari_only"]
CONSULT_MS = 2000  # how long 3001 talked with 3002 before its REFER (consult_ms of sip_traces.py)


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


def attended_phones(sim: RunningSimulator, trace: list[dict[str, Any]]) -> Any:
    """The kit's phones of the attended transfer traces: the customer on the trunk hangs up, 3001
    consults 3002 (dials 73002) and sends REFER with Replaces, when the trace shows each.

    In Asterisk's handling the consultation is outside the application: the trace's first sign of
    it is the REFER (3001's ChannelUnhold). The phone dialled 73002 CONSULT_MS + 3002's ringing
    before that, so /sim/attended_transfer is sent then, timed from the note before it."""
    done: set[str] = set()
    customer: dict[str, str] = {}
    tasks: set[asyncio.Task[None]] = set()
    refer = next(
        (
            e["t"]
            for e in trace
            if e["kind"] == "event"
            and e["event"]["type"] == "ChannelUnhold"
            and e["event"]["channel"]["name"].startswith("PJSIP/3001-")
        ),
        None,
    )

    def stimulus(entry: dict[str, Any], session: aiohttp.ClientSession) -> Awaitable[None] | None:
        def once(what: str, path: str, body: dict[str, Any]) -> Awaitable[None] | None:
            if what in done:
                return None
            done.add(what)
            return post(session, path, body)

        if entry["kind"] == "note" and "SIP customer calls" in entry["text"]:
            return once(
                "call",
                "/sim/calls",
                {"queue": "support", "via": "sip", "endpoint": "trunk", "caller": "customer"},
            )
        if entry["kind"] == "note" and "plain Dial" in entry["text"] and refer is not None:
            dials_at = refer - CONSULT_MS / 1000 - SIP_RING_SECONDS
            body = {"agent": "3001", "to": "3002", "consult": CONSULT_MS / 1000, "hold": False}
            task = asyncio.create_task(later(dials_at - entry["t"], session, "/sim/attended_transfer", body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return None
        if entry["kind"] != "event":
            return None
        event = entry["event"]
        if event["type"] == "StasisStart" and event["args"] == ["queue=support"]:
            customer["id"] = event["channel"]["id"]
        if event["type"] == "StasisStart" and event["args"] == ["consult", "agent=3002"]:
            return once("consult", "/sim/consult", {"agent": "3001", "to": "3002", "hold": False})
        if event["type"] == "ChannelTransfer":
            return once("refer", "/sim/transfer", {"agent": "3001", "replaces": True})
        if event["type"] == "ChannelHangupRequest" and event["channel"]["id"] == customer.get("id"):
            return once("hangup", "/sim/hangup", {"customer": "customer"})
        return None

    async def later(delay: float, session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> None:
        await asyncio.sleep(max(0.0, delay))
        await post(session, path, body)

    async def post(session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> None:
        async with session.post(sim.base_url + path, json=body) as response:
            assert response.status == 200, await response.text()

    return stimulus


@pytest.mark.parametrize("name", SIP_TRACES + ATTENDED_TRACES)
async def test_sip_trace_replays_identically(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = load_trace(reference_dir() / "traces-sip" / f"{name}.jsonl")
    async with serve() as sim:
        stimulus = attended_phones(sim, trace) if name in ATTENDED_TRACES else phones(sim)
        report = await Replayer(sim.base_url, "asterisk", "asterisk", trace, name, stimulus).run()
    with capsys.disabled():
        check(report, REFERENCE / "recordings", tmp_path, print)
    assert len(report.skipped) <= 1
