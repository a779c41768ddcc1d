"""The SIP reference traces recorded with the project's capture tool (tests/support/trace_proxy.py)
against a real Asterisk 22 set up from the project's kit (asterisk/, rendered by
tests/asterisk/harness.py) with SIPp phones (tests/sipp/, tests/asterisk/sipp.py): the customer on
the trunk (440 Hz), the agents' desk phones 3001 and 3002 (1000 Hz). A small scripted ARI client
talks through the proxy, as the controller would. Each writes tests/reference/traces-sip/<name>.jsonl
and the recordings it fetched to tests/reference/recordings/.

    PYTHONPATH=. .venv/bin/python -m tests.reference.record.sip_traces [name ...]

The attended transfer, 3001 consulting 3002 (tests/sipp/agent-attended-transfer.xml: talks 3 s,
holds the customer and dials 73002, talks 2 s with 3002, sends REFER with Replaces), in the two
modes of the kit's dialplan (asterisk/conf/extensions.conf, PHONE_TRANSFERS):
- sip_attended_transfer_core: `asterisk`: 73002 is a plain Dial(PJSIP/3002) outside the
  application and Asterisk carries out the REFER itself.
- sip_attended_transfer_ari_only: `application`: 73002 enters Stasis(ari-recorder,consult,
  agent=3002); the application set PJSIP_TRANSFER_HANDLING()=ari-only on 3001's call, answers the
  consultation, bridges it with 3002 it dials, and on the ChannelTransfer moves 3002 into the
  customer's bridge and hangs up 3001's two calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.asterisk.harness import Asterisk, free_udp_port
from tests.asterisk.sipp import Phone
from tests.reference.record.common import APP, RECORDINGS, SIP_TRACES, Client, by_channel, recording

RECORD = {"format": "wav", "ifExists": "fail", "beep": "false", "terminateOn": "none"}


def args_are(*args: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("args") == list(args)


@contextlib.asynccontextmanager
async def phones(asterisk: Asterisk, name: str) -> AsyncIterator[Callable[..., Phone]]:
    logs = Path(tempfile.mkdtemp(prefix=f"sipp-{name}-"))
    sip = f"127.0.0.1:{asterisk.sip_port}"

    def phone(scenario: str, ext: str | None = None, **params: Any) -> Phone:
        port = asterisk.agents[ext] if ext else asterisk.trunk_port
        return Phone(scenario, port=port, asterisk=sip, params=params, logs=logs)

    yield phone
    print(f"  SIPp logs: {logs}", flush=True)


async def record_snoop(ari: Client, channel: str, name: str) -> str:
    snoop = await ari.ok("POST", f"/channels/{channel}/snoop", app=APP, appArgs=f"snoop,{name}", spy="both")
    await ari.event("StasisStart", by_channel(snoop["id"]))
    await ari.ok("POST", f"/channels/{snoop['id']}/record", name=name, **RECORD)
    return str(snoop["id"])


async def answered_call(
    ari: Client, label: str, agent_args: dict[str, str] | None = None
) -> tuple[str, str, str]:
    """The customer's call answered and bridged with agent 3001, whose side is recorded through a
    snoop: (customer, bridge, agent) ids."""
    start = await ari.event("StasisStart", lambda e: e["args"] == ["queue=support"], seconds=10)
    customer = str(start["channel"]["id"])
    await ari.ok("POST", f"/channels/{customer}/answer")
    bridge = await ari.ok("POST", "/bridges", type="mixing", name=f"sip-{label}")
    await ari.ok("POST", f"/bridges/{bridge['id']}/addChannel", channel=customer)
    agent = await ari.ok("POST", "/channels", endpoint="PJSIP/3001", app=APP, appArgs="agent,3001")
    await ari.event("StasisStart", by_channel(agent["id"]))
    for variable, value in (agent_args or {}).items():
        await ari.ok("POST", f"/channels/{agent['id']}/variable", variable=variable, value=value)
    await ari.ok("POST", f"/bridges/{bridge['id']}/addChannel", channel=agent["id"])
    await record_snoop(ari, agent["id"], f"rec-sip-att-{label}-3001")
    return customer, str(bridge["id"]), str(agent["id"])


async def cleanup(ari: Client, label: str, hang_up: list[str], bridges: list[str]) -> None:
    ari.note(
        "cleanup: the application hangs up what it still holds, destroys its bridges, fetches the recordings"
    )
    await ari.call("GET", "/channels")
    for channel in hang_up:
        await ari.call("DELETE", f"/channels/{channel}")
    await asyncio.sleep(1.0)
    await ari.call("GET", "/bridges")
    for bridge in bridges:
        await ari.call("DELETE", f"/bridges/{bridge}")
    await asyncio.sleep(0.3)
    for stored in await ari.ok("GET", "/recordings/stored"):
        name = stored["name"]
        _, wav = await ari.call("GET", f"/recordings/stored/{name}/file")
        (RECORDINGS / f"{name}.wav").write_bytes(wav)
        await ari.ok("DELETE", f"/recordings/stored/{name}")
    await asyncio.sleep(0.3)


async def sip_attended_transfer_core() -> None:
    """Asterisk's own handling: the consultation a plain call, the REFER with Replaces carried out
    by Asterisk between the Stasis bridge and the consultation's."""
    name, label = "sip_attended_transfer_core", "core"
    agents = {"3001": free_udp_port(), "3002": free_udp_port()}
    async with (
        recording(name, folder=SIP_TRACES, agents=agents, phone_transfers="asterisk") as (ari, asterisk),
        phones(asterisk, name) as phone,
    ):
        await ari.connect()
        async with (
            phone(
                "agent-attended-transfer.xml", "3001", target="3002", talk_ms=3000, consult_ms=2000
            ) as first,
            phone("agent-answer.xml", "3002", answer_delay_ms=300) as second,
        ):
            ari.note("SIP customer calls 'support'; transfer handling: Asterisk's (PHONE_TRANSFERS=asterisk)")
            async with phone("customer-call.xml", queue="support", hangup_after_ms=12000) as customer_phone:
                customer, bridge, agent = await answered_call(ari, label)
                ari.note(
                    "waiting for 3001's phone: holds the customer, dials 73002 (a plain Dial, outside the "
                    "application), talks 2 s, then REFER with Replaces; Asterisk carries it out"
                )
                start = await ari.event("StasisStart", lambda e: "replace_channel" in e, seconds=20)
                local = str(start["channel"]["id"])
                ari.note(
                    "the Local/_attended ;1 took 3001's place in the bridge: "
                    "record the new segment through it"
                )
                await record_snoop(ari, local, f"rec-sip-att-{label}-3002")
                ari.note("waiting for the customer to hang up (12 s after the answer)")
                await ari.event("StasisEnd", by_channel(customer), seconds=20)
                await customer_phone.check(10)
            await asyncio.sleep(0.5)
            await cleanup(ari, label, [local, agent], [bridge])
            await first.stop()
            await second.stop()


async def sip_attended_transfer_ari_only() -> None:
    """PJSIP_TRANSFER_HANDLING()=ari-only, the consultation placed by the application (the kit's
    application mode): the application carries the transfer out."""
    name, label = "sip_attended_transfer_ari_only", "ari-only"
    agents = {"3001": free_udp_port(), "3002": free_udp_port()}
    async with (
        recording(name, folder=SIP_TRACES, agents=agents, phone_transfers="application") as (ari, asterisk),
        phones(asterisk, name) as phone,
    ):
        await ari.connect()
        async with (
            phone(
                "agent-attended-transfer.xml", "3001", target="3002", talk_ms=3000, consult_ms=2000
            ) as first,
            phone("agent-answer.xml", "3002", answer_delay_ms=300) as second,
        ):
            ari.note(
                "SIP customer calls 'support'; transfer handling: ari-only (PHONE_TRANSFERS=application)"
            )
            async with phone("customer-call.xml", queue="support", hangup_after_ms=12000) as customer_phone:
                customer, bridge, agent = await answered_call(
                    ari, label, {"PJSIP_TRANSFER_HANDLING()": "ari-only"}
                )
                ari.note(
                    "waiting for 3001's phone: holds the customer, dials 73002 (Stasis consult,agent=3002)"
                )
                start = await ari.event("StasisStart", args_are("consult", "agent=3002"), seconds=20)
                consult = str(start["channel"]["id"])
                ari.note("the application answers the consultation, bridges it with 3002, which it dials")
                await ari.ok("POST", f"/channels/{consult}/answer")
                consult_bridge = await ari.ok("POST", "/bridges", type="mixing", name=f"sip-{label}-consult")
                await ari.ok("POST", f"/bridges/{consult_bridge['id']}/addChannel", channel=consult)
                target = await ari.ok(
                    "POST", "/channels", endpoint="PJSIP/3002", app=APP, appArgs="agent,3002"
                )
                await ari.event("StasisStart", by_channel(target["id"]))
                await ari.ok("POST", f"/bridges/{consult_bridge['id']}/addChannel", channel=target["id"])
                ari.note("waiting for 3001's REFER with Replaces: only reported (ChannelTransfer)")
                await ari.event("ChannelTransfer", seconds=20)
                ari.note(
                    "the application carries it out: hangs up the consultation, moves 3002 into the "
                    "customer's bridge, hangs up 3001's first call, records 3002's side"
                )
                await ari.ok("DELETE", f"/channels/{consult}")
                await ari.ok("POST", f"/bridges/{bridge}/addChannel", channel=target["id"])
                await ari.ok("DELETE", f"/channels/{agent}")
                await record_snoop(ari, target["id"], f"rec-sip-att-{label}-3002")
                await ari.ok("DELETE", f"/bridges/{consult_bridge['id']}")
                ari.note("waiting for the customer to hang up (12 s after the answer)")
                await ari.event("StasisEnd", by_channel(customer), seconds=20)
                await customer_phone.check(10)
            await asyncio.sleep(0.5)
            await cleanup(ari, label, [target["id"]], [bridge])
            await first.check(5)
            await second.stop()


SCENARIOS: dict[str, Callable[[], Awaitable[None]]] = {
    "sip_attended_transfer_core": sip_attended_transfer_core,
    "sip_attended_transfer_ari_only": sip_attended_transfer_ari_only,
}


async def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        print(f"recording {name}", flush=True)
        await SCENARIOS[name]()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
