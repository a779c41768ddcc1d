"""An agent's SIP phone consulting through the application (the kit's dialplan, application mode:
7<ext> -> Stasis(app,consult,agent=<ext>)) and its REFER with Replaces, only reported (ari-only):
the ChannelTransfer ../shared/asterisk/README.md recorded from Asterisk 22.10.1. Driven over real
sockets by a raw application."""

from __future__ import annotations

import asyncio

from ari_recorder.ari.events import ChannelTransfer, parse_event
from tests.simulator.test_attended_transfer import CUSTOMER, Call, post, sip_call
from tests.support import apidocs


async def consulting(call: Call) -> tuple[str, str, str]:
    """The phone consults 3002; the application bridges its call with 3002 it dials:
    (consultation, target, bridge)."""
    sim, ari = call.sim, call.ari
    await ari.set_variable(call.agent, "PJSIP_TRANSFER_HANDLING()", "ari-only")
    started = await sim.control("consult", {"agent": "3001", "to": "3002"})
    entered = await sim.wait_for("StasisStart", channel__id=started["consultation"])
    consultation = entered["channel"]["id"]
    await ari.answer(consultation)
    bridge = await ari.create_bridge(name="consultation")
    await ari.add_channel(bridge.id, consultation)
    target = await ari.originate("PJSIP/3002", app="ari-recorder", app_args="agent,3002")
    await sim.wait_for("StasisStart", channel__id=target.id)
    await ari.add_channel(bridge.id, target.id)
    await sim.wait_for("ChannelEnteredBridge", channel__id=target.id)
    return consultation, target.id, bridge.id


async def test_the_consultation_enters_the_application_and_the_replaces_is_reported() -> None:
    async with sip_call() as call:
        sim, ari = call.sim, call.ari
        mark = len(sim.events)
        consultation, target, bridge = await consulting(call)
        entered = next(e for e in sim.events[mark:] if e["type"] == "StasisStart")
        hold = next(e for e in sim.events[mark:] if e["type"] == "ChannelHold")
        answer = await sim.control("transfer", {"agent": "3001", "replaces": True})
        transfer = await sim.wait_for("ChannelTransfer")
        # The phone hangs up nothing: the application carries the transfer out. Here it hangs up
        # the referring call, and Asterisk reports the REFER once more.
        await asyncio.sleep(0.1)  # a moment after the REFER, as an application would: the scenario
        await ari.hangup(call.agent)
        again = await sim.wait_for("ChannelTransfer")
        for channel in (consultation, target, call.customer):
            await ari.hangup(channel)
        await sim.wait_for("StasisEnd", channel__id=call.customer)
        events = sim.events[mark:]

    assert answer == {"channel": call.agent, "replaces": consultation}
    assert hold["channel"]["id"] == call.agent
    assert entered["args"] == ["consult", "agent=3002"]
    channel = entered["channel"]
    assert channel["name"].startswith("PJSIP/3001-") and channel["dialplan"]["exten"] == "73002"
    assert channel["dialplan"]["app_data"] == "ari-recorder,consult,agent=3002"

    refer_to, referred_by = transfer["refer_to"], transfer["referred_by"]
    requested = refer_to["requested_destination"]
    assert requested["destination"] == "3002", "the Refer-To's user part: the colleague's extension"
    assert requested["protocol_id"] == channel["protocol_id"], "the consultation dialog's Call-ID"
    tags = requested["additional_protocol_params"]
    assert [p["parameter_name"] for p in tags] == ["from", "to"] and all(p["parameter_value"] for p in tags)
    assert refer_to["destination_channel"]["id"] == consultation
    assert refer_to["connected_channel"]["id"] == target
    assert refer_to["bridge"]["id"] == bridge
    assert referred_by["source_channel"]["id"] == call.agent
    assert referred_by["connected_channel"]["id"] == call.customer
    assert referred_by["bridge"]["id"] == call.bridge
    assert again["refer_to"] == {"requested_destination": requested} and again["referred_by"] == {
        "source_channel": referred_by["source_channel"]
    }
    parsed = parse_event(transfer)
    assert isinstance(parsed, ChannelTransfer)
    assert (
        parsed.refer_to.destination_channel is not None
        and parsed.refer_to.destination_channel.id == consultation
    )
    docs = apidocs.load()
    for event in events:
        raw = {k: v for k, v in event.items() if k != "_taken"}
        assert docs.event_problems(raw) == [], raw


async def test_a_consultation_hung_up_takes_the_customer_off_hold() -> None:
    async with sip_call() as call:
        sim, ari = call.sim, call.ari
        consultation, target, _ = await consulting(call)
        await sim.control("hangup", {"agent": "3001"})  # the phone's last call: the consultation
        await sim.wait_for("StasisEnd", channel__id=consultation)
        await sim.wait_for("ChannelUnhold", channel__id=call.agent)
        status, answer = await post(sim, "transfer", {"agent": "3001", "replaces": True})
        await ari.hangup(target)
        await sim.control("hangup", {"customer": CUSTOMER})
    assert status == 409 and "no consultation" in answer["error"]


async def test_a_replaces_without_ari_only_is_not_modelled() -> None:
    async with sip_call() as call:
        sim = call.sim
        await consulting(call)
        await call.ari.set_variable(call.agent, "PJSIP_TRANSFER_HANDLING()", "")
        status, answer = await post(sim, "transfer", {"agent": "3001", "replaces": True})
        again = await post(sim, "consult", {"agent": "3001", "to": "3002"})
    assert status == 409 and "ari-only" in answer["error"]
    assert again[0] == 409 and "already" in again[1]["error"]
