"""SIP calls against a real Asterisk: SIPp phones for the customer (440 Hz) and the agents
(1000 Hz), RTP and RFC 4733 keys through Asterisk, the controller as a real process. Each test
reads who is heard when in the delivered file, its sidecar, and that Asterisk holds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.asterisk.controller import Controller, Delivered, running_controller, the_keys_pause
from tests.asterisk.harness import Asterisk, free_udp_port, running_asterisk
from tests.asterisk.sipp import Phone
from tests.support.audio import duration, seconds_of, summary, tone_runs

BOTH, CUSTOMER, AGENT = frozenset({440, 1000}), frozenset({440}), frozenset({1000})
EXTENSIONS = ("3001", "3002", "3003")


@dataclass
class Site:
    asterisk: Asterisk
    controller: Controller
    logs: Path

    def phone(self, scenario: str, ext: str | None = None, **params: Any) -> Phone:
        port = self.asterisk.agents[ext] if ext else self.asterisk.trunk_port
        sip = f"127.0.0.1:{self.asterisk.sip_port}"
        return Phone(scenario, port=port, asterisk=sip, params=params, logs=self.logs)


@asynccontextmanager
async def site(tmp_path: Path, transfers: str = "application", **settings: Any) -> AsyncIterator[Site]:
    agents = {ext: free_udp_port() for ext in EXTENSIONS}
    async with running_asterisk(tmp_path / "asterisk", agents=agents, phone_transfers=transfers) as asterisk:
        options: dict[str, Any] = {
            "home": tmp_path / "controller",
            "ari_url": asterisk.url,
            "ari_password": asterisk.password,
            "phone_transfers": transfers,
            "agents": {
                e: {"endpoint": f"PJSIP/{e}", "permit_recordings": True, "record_percent": 100}
                for e in EXTENSIONS
            },
            "queues": {"support": {"agents": ["3001"], "announcement": "recording-notice"}},
        }
        async with running_controller(**{**options, **settings}) as controller:
            yield Site(asterisk, controller, tmp_path / "phones")
        await asterisk.wait_empty()


def mostly(delivered: Delivered, heard: frozenset[int], share: float = 0.85, channel: int = 0) -> None:
    runs = tone_runs(delivered.audio, channel=channel)
    assert seconds_of(runs, heard) > share * duration(delivered.audio), summary(runs)


@pytest.mark.parametrize(
    ("side", "channels"), [("agent", 1), ("customer", 1), ("agent", 2)], ids=["agent", "customer", "stereo"]
)
async def test_an_inbound_sip_call_is_recorded(tmp_path: Path, side: str, channels: int) -> None:
    queue = {
        "agents": ["3001"],
        "announcement": "recording-notice",
        "record_side": side,
        "channels": channels,
    }
    async with site(tmp_path, queues={"support": queue}) as s:
        async with s.phone("agent-answer.xml", "3001", answer_delay_ms=300) as agent:
            async with s.phone("customer-call.xml", queue="support", hangup_after_ms=11000) as customer:
                await customer.check(30)
            await agent.check(10)
        [delivered] = await s.controller.deliveries(1)
    sidecar = delivered.sidecar
    assert (sidecar["agent"], sidecar["side"], sidecar["channels"]) == ("3001", side, channels)
    assert 4.0 < duration(delivered.audio) < 7.0, duration(delivered.audio)  # 11 s less notice and ringing
    if channels == 2:
        mostly(delivered, CUSTOMER, channel=0)  # the customer on the left
        mostly(delivered, AGENT, channel=1)  # the agent on the right
    else:
        mostly(delivered, BOTH)


@pytest.mark.parametrize("behavior", ["silence", "skip"])
async def test_the_sip_phones_keys_pause_and_resume(tmp_path: Path, behavior: str) -> None:
    """*7 then *8 from the agent's desk phone (RFC 4733): the pause is where the metadata says."""
    async with site(tmp_path, company={"pause_behavior": behavior}) as s:
        keys = {"keys1": "*7", "keys1_at_ms": 1500, "keys2": "*8", "keys2_at_ms": 4000}
        async with s.phone("agent-answer.xml", "3001", **keys) as agent:
            async with s.phone("customer-call.xml", queue="support", hangup_after_ms=13000) as customer:
                await customer.check(30)
            await agent.check(10)
        [delivered] = await s.controller.deliveries(1)
    the_keys_pause(delivered, "3001", behavior, seconds=(2.0, 3.0))


@pytest.mark.parametrize("transfers", ["application", "asterisk"])
async def test_a_blind_transfer_from_the_desk_phone(tmp_path: Path, transfers: str) -> None:
    """3001 transfers the customer to 3002 with a REFER: two segments, each its agent's."""
    async with site(tmp_path, transfers) as s:
        async with (
            s.phone("agent-blind-transfer.xml", "3001", target="3002", talk_ms=3000) as first,
            s.phone("agent-answer.xml", "3002", answer_delay_ms=300) as second,
        ):
            async with s.phone("customer-call.xml", queue="support", hangup_after_ms=14000) as customer:
                await customer.check(30)
            await first.check(10)
            await second.check(10)
        delivered = await s.controller.deliveries(2)
    assert [(d.agent, d.sidecar["segment"]) for d in delivered] == [("3001", 1), ("3002", 2)]
    assert 2.5 < duration(delivered[0].audio) < 4.0, duration(delivered[0].audio)
    for d in delivered:
        mostly(d, BOTH, share=0.8)


@pytest.mark.parametrize("transfers", ["application", "asterisk"])
async def test_an_attended_transfer_from_the_desk_phone(tmp_path: Path, transfers: str) -> None:
    """3001 consults 3002 (dials 7 3002), then sends REFER with Replaces. application: the
    consultation is placed by the controller, which carries the transfer out; asterisk: a plain
    call, and Asterisk joins the customer and 3002. Either way 3002's segment is recorded."""
    async with site(tmp_path, transfers) as s:
        async with (
            s.phone(
                "agent-attended-transfer.xml", "3001", target="3002", talk_ms=3000, consult_ms=2000
            ) as first,
            s.phone("agent-answer.xml", "3002", answer_delay_ms=300) as second,
        ):
            async with s.phone("customer-call.xml", queue="support", hangup_after_ms=16000) as customer:
                await customer.check(40)
            await first.check(10)
            await second.check(10)
        delivered = await s.controller.deliveries(2)
    assert [(d.agent, d.sidecar["segment"]) for d in delivered] == [("3001", 1), ("3002", 2)]
    mostly(delivered[1], BOTH, share=0.8)


async def test_an_outbound_call_from_the_desk_phone(tmp_path: Path) -> None:
    async with site(tmp_path) as s:
        async with s.phone("customer-answer.xml", answer_delay_ms=500) as customer:
            async with s.phone("agent-outbound.xml", "3001", number="5551234", hangup_after_ms=5000) as agent:
                await agent.check(30)
            await customer.check(10)
        [delivered] = await s.controller.deliveries(1)
    assert (delivered.agent, delivered.sidecar["direction"]) == ("3001", "outbound")
    assert 4.0 < duration(delivered.audio) < 5.5, duration(delivered.audio)
    mostly(delivered, BOTH)


@pytest.mark.timeout(600)  # thirty SIPp calls and their deliveries (up to 120 s) on a loaded machine
async def test_thirty_sip_calls_arriving_100_ms_apart_are_all_recorded(tmp_path: Path) -> None:
    """A burst: SIPp places 30 calls at its 10 calls/s; 30 agents (one SIPp answering for all of
    them, each call its own RTP) each take one. Every selected segment is delivered, whole."""
    extensions = [str(3101 + i) for i in range(30)]
    port = free_udp_port()
    async with running_asterisk(tmp_path / "asterisk", agents=dict.fromkeys(extensions, port)) as asterisk:
        settings: dict[str, Any] = {
            "home": tmp_path / "controller",
            "ari_url": asterisk.url,
            "ari_password": asterisk.password,
            "agents": {
                e: {"endpoint": f"PJSIP/{e}", "permit_recordings": True, "record_percent": 100}
                for e in extensions
            },
            "queues": {"support": {"agents": extensions, "announcement": "recording-notice"}},
        }
        sip = f"127.0.0.1:{asterisk.sip_port}"
        async with running_controller(**settings) as controller:
            agents = Phone("agent-answer.xml", port=port, asterisk=sip, calls=30, logs=tmp_path / "phones")
            customers = Phone(
                "customer-call.xml",
                port=asterisk.trunk_port,
                asterisk=sip,
                calls=30,
                logs=tmp_path / "phones",
                params={"queue": "support", "hangup_after_ms": 12000},
            )
            async with agents, customers:
                await customers.check(90)
                await agents.check(30)
            delivered = await controller.deliveries(30, seconds=120)
        await asterisk.wait_empty()
    assert sorted(d.agent for d in delivered) == extensions
    for d in delivered:
        mostly(d, BOTH, share=0.8)
        assert duration(d.audio) > 3.0, (d.agent, duration(d.audio))
