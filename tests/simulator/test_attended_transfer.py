"""An agent's attended transfer from a SIP phone, as the simulator models Asterisk 22 doing it.

No trace of a real one exists: the expectations are Asterisk's own (the testsuite's
rest_api/external_interaction/attended_transfer tests, main/bridge.c, res/stasis/stasis_bridge.c),
see `transfers._complete_attended` in src/ari_simulator. Driven over real sockets by a raw application.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.ari.events import BridgeAttendedTransfer, parse_event
from ari_recorder.ari.rest import AriClient
from tests.support import apidocs
from tests.support.audio import tone_runs
from tests.support.sim import SimApp, sim_app
from tests.support.waiting import until

CUSTOMER = "15550001"


@dataclass
class Call:
    sim: SimApp
    ari: AriClient
    customer: str
    agent: str
    bridge: str


@contextlib.asynccontextmanager
async def sip_call() -> AsyncIterator[Call]:
    """A SIP customer and agent 3001's SIP phone in a Stasis bridge (as the SIP traces set it up)."""
    async with sim_app() as sim, AriClient(sim.sim.ari_url, "asterisk", "asterisk") as ari:
        customer = await sim.call(via="sip", caller=CUSTOMER)
        await sim.wait_for("StasisStart", channel__id=customer)
        await ari.answer(customer)
        bridge = await ari.create_bridge(name="call")
        await ari.add_channel(bridge.id, customer)
        agent = await ari.originate("PJSIP/3001", app="ari-recorder", app_args="agent,3001")
        await sim.wait_for("StasisStart", channel__id=agent.id)
        await ari.add_channel(bridge.id, agent.id, absorb_dtmf=True)
        await sim.wait_for("ChannelEnteredBridge", channel__id=agent.id)
        yield Call(sim, ari, customer, agent.id, bridge.id)


async def post(sim: SimApp, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with sim.http.post(f"{sim.sim.base_url}/sim/{path}", json=body) as response:
        return response.status, await response.json()


def mentions(event: dict[str, Any], channel_id: str) -> bool:
    return any(isinstance(v, dict) and v.get("id") == channel_id for v in event.values())


async def test_the_transfer_swaps_a_local_channel_in_for_the_agent(tmp_path: Path) -> None:
    async with sip_call() as call:
        sim, ari = call.sim, call.ari
        mark = len(sim.events)
        started = await sim.control("attended_transfer", {"agent": "3001", "to": "3002"})
        assert started["channel"] == call.agent
        consultation, target = started["consultation"], started["target"]
        transfer = await sim.wait_for("BridgeAttendedTransfer")
        one = transfer["destination_link_first_leg"]["id"]
        await sim.wait_for("StasisEnd", channel__id=call.agent)
        snoop = await ari.snoop(one, "ari-recorder", spy="both", app_args="snoop")
        await ari.record(snoop.id, "rec-transferred")
        await sim.wait_for("RecordingStarted")
        await asyncio.sleep(1.5)  # the transferred call recorded a while: the scenario
        bridge = await ari.get_bridge(call.bridge)
        await sim.control("hangup", {"agent": "3002"})
        ended = await sim.wait_for("StasisEnd", channel__id=one)
        await sim.wait_for("RecordingFinished")
        await ari.download_stored("rec-transferred", tmp_path / "rec.wav")
        state = await sim.control("state", method="GET")
        await ari.hangup(call.customer)
        await sim.wait_for("StasisEnd", channel__id=call.customer)
        events = sim.events[mark:]

    # The consultation never reached the application; the transfer event names it.
    assert not [e for e in events if e["type"] != "BridgeAttendedTransfer" and mentions(e, consultation)]
    assert not [e for e in events if e["type"] != "BridgeAttendedTransfer" and mentions(e, target)]
    # The events, in the order sip_attended_transfer_core.jsonl has them: the hold comes first,
    # the unhold with the REFER, then ;1 swapped in, answered, and the transfer reported last.
    flow = [
        (e["type"], e.get("channel", {}).get("id"))
        for e in events
        if e["type"] != "RecordingStarted" and not e.get("channel", {}).get("name", "").startswith("Snoop/")
    ]
    assert flow[:10] == [
        ("ChannelHold", call.agent),
        ("ChannelUnhold", call.agent),
        ("StasisStart", one),
        ("ChannelLeftBridge", call.agent),
        ("ChannelEnteredBridge", one),
        ("ChannelStateChange", one),
        ("Dial", None),
        ("BridgeAttendedTransfer", None),
        # The agent's first leg stays in the application until its phone hangs it up; no
        # ChannelDestroyed (its subscription went with the swap).
        ("ChannelHangupRequest", call.agent),
        ("StasisEnd", call.agent),
    ], flow
    # Nothing else happens until the target hangs up: ;1 goes down.
    assert flow[10:13] == [("ChannelHangupRequest", one), ("ChannelLeftBridge", one), ("StasisEnd", one)], (
        flow
    )
    assert ended["channel"]["name"] == transfer["destination_link_first_leg"]["name"]

    # The payload.
    assert transfer["result"] == "Success" and transfer["is_external"] is False
    assert transfer["destination_type"] == "link"
    assert transfer["transferer_first_leg"]["id"] == call.agent
    assert transfer["transferer_first_leg"]["name"].startswith("PJSIP/3001-")
    assert transfer["transferer_first_leg_bridge"]["id"] == call.bridge
    assert transfer["transferer_first_leg_bridge"]["bridge_class"] == "stasis"
    assert sorted(transfer["transferer_first_leg_bridge"]["channels"]) == sorted([call.customer, call.agent])
    assert transfer["transferer_second_leg"]["id"] == consultation
    assert transfer["transferer_second_leg"]["name"].startswith("PJSIP/3001-")
    assert transfer["transferer_second_leg"]["name"] != transfer["transferer_first_leg"]["name"]
    second_bridge = transfer["transferer_second_leg_bridge"]
    assert second_bridge["bridge_class"] == "basic"
    assert sorted(second_bridge["channels"]) == sorted([consultation, target])
    assert transfer["transferee"]["id"] == call.customer
    assert transfer["transfer_target"]["id"] == target
    assert transfer["transfer_target"]["name"].startswith("PJSIP/3002-")
    assert transfer["transfer_target"]["state"] == "Up"
    link_one, link_two = transfer["destination_link_first_leg"], transfer["destination_link_second_leg"]
    assert link_one["name"].startswith("Local/_attended@transfer-") and link_one["name"].endswith(";1")
    assert link_two["name"] == link_one["name"][:-1] + "2"
    assert "replace_channel" not in transfer and "destination_bridge" not in transfer
    started_one = next(e for e in events if e["type"] == "StasisStart" and e["channel"]["id"] == one)
    assert started_one["args"] == []
    assert started_one["replace_channel"]["id"] == call.agent
    entered = next(e for e in events if e["type"] == "ChannelEnteredBridge" and e["channel"]["id"] == one)
    assert entered["bridge"]["id"] == call.bridge

    # The customer never left the bridge (until hung up at the end); ;1 took the agent's place.
    left = [
        i
        for i, e in enumerate(events)
        if e["type"] == "ChannelLeftBridge" and e["channel"]["id"] == call.customer
    ]
    assert left and min(left) > events.index(ended)
    assert bridge.channels == (call.customer, one)
    # Everything the application got is what the API description says, and the project reads it.
    docs = apidocs.load()
    for event in events:
        raw = {k: v for k, v in event.items() if k != "_taken"}
        assert docs.event_problems(raw) == [], raw
    assert isinstance(parse_event(transfer), BridgeAttendedTransfer)
    # The target's hangup took the whole Local pair and the consultation with it.
    live = {c["name"].rpartition("-")[0] for c in state["channels"]}
    assert not live & {"PJSIP/3002", "PJSIP/3001", "Local/_attended@transfer"}, state["channels"]

    # A recording of ;1 holds the customer (what ;1 hears) and the target agent (what it says).
    runs = tone_runs(tmp_path / "rec.wav")
    both = [r for r in runs if r.tones == frozenset({440, 1000})]
    assert both and max(r.end - r.start for r in both) > 1.2, runs


async def test_the_customer_hangs_up_first_and_the_app_hangs_up_the_local_half() -> None:
    async with sip_call() as call:
        sim, ari = call.sim, call.ari
        started = await sim.control("attended_transfer", {"agent": "3001", "to": "3002", "consult": 0.2})
        transfer = await sim.wait_for("BridgeAttendedTransfer")
        one = transfer["destination_link_first_leg"]["id"]
        await sim.wait_for("StasisEnd", channel__id=call.agent)
        await sim.control("hangup", {"customer": CUSTOMER})
        await sim.wait_for("StasisEnd", channel__id=call.customer)
        await ari.hangup(one)
        await sim.wait_for("StasisEnd", channel__id=one)
        # ;2 and the target, outside Stasis, go down a moment after ;1: nothing reports it.
        (live,) = await until(
            lambda: _without(sim, started["target"]), what="the target's channel gone", timeout=5
        )
    assert started["target"] not in live
    assert transfer["destination_link_second_leg"]["id"] not in live
    assert not live & {one, call.agent, started["consultation"]}


async def _without(sim: Any, channel: str) -> tuple[set[str]] | None:
    """The live channels' ids once `channel` is not among them (else None)."""
    live = {c["id"] for c in (await sim.control("state", method="GET"))["channels"]}
    return None if channel in live else (live,)


async def test_a_busy_target_puts_the_agent_back_with_the_customer() -> None:
    async with sip_call() as call:
        sim = call.sim
        await sim.control("phones/3002", {"answer": "busy"}, method="PUT")
        mark = len(sim.events)
        started = await sim.control("attended_transfer", {"agent": "3001", "to": "3002"})
        await sim.wait_for("ChannelUnhold", channel__id=call.agent)
        (live,) = await until(
            lambda: _without(sim, started["target"]), what="the busy target's channel gone", timeout=5
        )
        types = [e["type"] for e in sim.events[mark:]]
    assert types == ["ChannelHold", "ChannelUnhold"]
    assert call.agent in live and started["target"] not in live and started["consultation"] not in live


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"agent": "1001", "to": "3002"}, 400),  # a Local agent leg, not a SIP phone
        ({"agent": "3001"}, 400),
        ({"agent": "3001", "to": "9999"}, 404),
        ({"agent": "3009", "to": "3002"}, 404),  # no live call for that agent
    ],
)
async def test_what_a_phone_cannot_transfer(body: dict[str, Any], status: int) -> None:
    async with sip_call() as call:
        sim, ari = call.sim, call.ari
        local = await ari.originate("Local/1001@agent-phone", app="ari-recorder", app_args="agent,1001")
        await sim.wait_for("StasisStart", channel__id=local.id)
        answer = await post(sim, "attended_transfer", body)
    assert answer[0] == status and "error" in answer[1], answer


async def test_an_agent_outside_any_bridge_cannot_transfer() -> None:
    async with sim_app() as sim, AriClient(sim.sim.ari_url, "asterisk", "asterisk") as ari:
        agent = await ari.originate("PJSIP/3001", app="ari-recorder", app_args="agent,3001")
        await sim.wait_for("StasisStart", channel__id=agent.id)
        status, answer = await post(sim, "attended_transfer", {"agent": "3001", "to": "3002"})
    assert status == 409 and "bridge" in answer["error"]
