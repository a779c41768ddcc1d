"""What goes wrong around a call, against a real Asterisk: nobody answers, the controller is
killed, the network to Asterisk is cut, Asterisk restarts, calls arrive together or while no
controller is connected. Each ends with everything said recorded and delivered, and nothing
left in Asterisk."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.asterisk.controller import Controller, Delivered, running_controller
from tests.asterisk.harness import Asterisk, tcp_proxy
from tests.support.audio import duration, seconds_of, summary, tone_runs

BOTH = frozenset({440, 1000})
SUPPORT = {"support": {"agents": ["1001"], "announcement": "sim/announcement"}}


def agent(ext: str) -> dict[str, Any]:
    return {"endpoint": f"Local/{ext}@agent-phone", "permit_recordings": True, "record_percent": 100}


def options(asterisk: Asterisk, tmp_path: Path, **changes: Any) -> dict[str, Any]:
    return {
        "home": tmp_path / "controller",
        "ari_url": asterisk.url,
        "ari_password": asterisk.password,
        "agents": {"1001": agent("1001")},
        "queues": SUPPORT,
        **changes,
    }


def heard_throughout(
    delivered: Delivered, talked: float, slack: float = 0.6, agent_after: bool = False
) -> None:
    """Both voices for the whole connected time: nothing of the conversation missing. With
    `agent_after`, the agent alone after that (nobody could hang the agent up meanwhile)."""
    runs = tone_runs(delivered.audio)
    assert abs(seconds_of(runs, BOTH) - talked) < slack, (summary(runs), talked)
    after = seconds_of(runs, frozenset({1000})) if agent_after else 0.0
    assert duration(delivered.audio) < talked + after + slack, (summary(runs), talked)


async def test_a_queue_whose_agents_do_not_answer_falls_back(asterisk: Asterisk, tmp_path: Path) -> None:
    queues = {
        "support": {"agents": ["4001", "4002"], "ring_timeout": 2, "wait_limit": 5, "fallback": "hangup"}
    }
    agents = {"4001": agent("4001"), "4002": agent("4002")}
    async with running_controller(**options(asterisk, tmp_path, agents=agents, queues=queues)) as controller:
        await asterisk.originate_local("support")
        await controller.said("agent=4001 action=no-answer")
        await controller.said("agent=4002 action=no-answer")
        await controller.said("action=end", seconds=15)
        await asterisk.wait_empty()
        assert controller.delivered_files() == []
        assert controller.query("SELECT count(*) AS n FROM segments") == [{"n": 0}]


async def test_the_controller_killed_mid_call_and_restarted(asterisk: Asterisk, tmp_path: Path) -> None:
    controller = Controller(**options(asterisk, tmp_path))
    await controller.start()
    try:
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(2)
        await controller.kill()
        await asyncio.sleep(1)
        await controller.start()
        await controller.said("action=resume")
        await asyncio.sleep(1)
        await asterisk.hang_up_local_customer()
        talked = time.monotonic() - connected
        [delivered] = await controller.deliveries(1)
        heard_throughout(delivered, talked)
        await asterisk.wait_empty()
    finally:
        await controller.stop()


@pytest.mark.parametrize("cut", [1, 30])
async def test_the_event_websocket_cut_mid_call(asterisk: Asterisk, tmp_path: Path, cut: int) -> None:
    """The network to Asterisk fails for `cut` seconds. In the long cut the customer hangs up
    meanwhile: Asterisk does not replay the events, the controller must find out on its own."""
    async with (
        tcp_proxy(("127.0.0.1", asterisk.http_port)) as proxy,
        running_controller(**options(asterisk, tmp_path, ari_url=proxy.url)) as controller,
    ):
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(1.5)
        seen = len(controller.lines)
        proxy.cut(cut)
        if cut > 5:
            await asyncio.sleep(3)
            await asterisk.hang_up_local_customer()
            talked = time.monotonic() - connected
        await controller.said("reconnect=True", seconds=cut + 10, since=seen)
        if cut <= 5:
            await asyncio.sleep(1)
            await asterisk.hang_up_local_customer()
            talked = time.monotonic() - connected
        [delivered] = await controller.deliveries(1)
        # The customer's hangup does not hang up the agent's channel in the application's bridge
        # (Asterisk leaves that to the application): in the long cut the agent's side is recorded
        # alone until the controller is back and ends the call.
        heard_throughout(delivered, talked, agent_after=cut > 5)
        await asterisk.wait_empty()


async def test_asterisk_restarted_mid_call(asterisk: Asterisk, tmp_path: Path) -> None:
    """Asterisk stops (every channel gone) and starts again: what was recorded until then is
    delivered, the controller holds no call, and the next call is recorded as usual."""
    async with running_controller(**options(asterisk, tmp_path)) as controller:
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(2)
        seen = len(controller.lines)
        talked = time.monotonic() - connected
        await asterisk.restart()
        await controller.said("reconnect=True", seconds=30, since=seen)
        [first] = await controller.deliveries(1)
        heard_throughout(first, talked, slack=1.0)
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes", since=seen)
        await asyncio.sleep(2)
        await asterisk.hang_up_local_customer()
        await controller.deliveries(2)
        await asterisk.wait_empty()


async def test_a_call_placed_while_no_controller_is_connected_waits_for_it(
    asterisk: Asterisk, tmp_path: Path
) -> None:
    """Stasis() fails while no controller is connected: the kit's dialplan holds the caller and
    tries again, so a restart or an upgrade loses no call."""
    await asterisk.originate_local("support")
    await asyncio.sleep(3)
    [waiting] = [c for c in await asterisk.channels("Local/support@inbound-") if c["name"].endswith(";2")]
    async with running_controller(**options(asterisk, tmp_path)) as controller:
        await controller.said("action=connected record=yes", seconds=10)
        await asyncio.sleep(2)
        await asterisk.hang_up_local_customer()
        [delivered] = await controller.deliveries(1)
        assert delivered.sidecar["interaction"]
        await asterisk.wait_empty()
    assert waiting["dialplan"]["context"] == "stasis-or-wait", waiting
