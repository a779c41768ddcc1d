"""Calls made of Local channels against a real Asterisk: the handsets speak tones (customer
440 Hz, agents 1000 Hz), so who is heard when can be read from the delivered file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.asterisk.controller import running_controller, the_keys_pause
from tests.asterisk.harness import Asterisk
from tests.support.audio import Run, duration, seconds_of, summary, tone_runs

BOTH = frozenset({440, 1000})
AGENT_1001 = {"endpoint": "Local/1001@agent-phone", "permit_recordings": True, "record_percent": 100}


async def test_an_inbound_call_is_recorded_on_the_agent_side(asterisk: Asterisk, tmp_path: Path) -> None:
    async with _controller(asterisk, tmp_path) as controller:
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(4)
        await asterisk.hang_up_local_customer()
        talked = time.monotonic() - connected
        [delivered] = await controller.deliveries(1)
        runs = tone_runs(delivered.audio)
        # From the agent's answer to the hangup, both voices; never the announcement (660 Hz).
        assert seconds_of(runs, BOTH) > 0.9 * duration(delivered.audio), summary(runs)
        assert not any(660 in r.tones for r in runs), summary(runs)
        assert abs(duration(delivered.audio) - talked) < 0.5, (duration(delivered.audio), talked)
        sidecar = delivered.sidecar
        assert (sidecar["agent"], sidecar["queue"], sidecar["side"], sidecar["segment"]) == (
            "1001",
            "support",
            "agent",
            1,
        )
        assert sidecar["levels"] == [{"level": "agent", "by": "1001"}]
        assert [a["subject"] for a in controller.audit("delivered")] == [sidecar["recording"]] * 2
    await asterisk.wait_empty()


def _controller(asterisk: Asterisk, tmp_path: Path, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "home": tmp_path / "controller",
        "ari_url": asterisk.url,
        "ari_password": asterisk.password,
        "agents": {"1001": AGENT_1001},
        "queues": {"support": {"agents": ["1001"], "announcement": "sim/announcement"}},
    }
    return running_controller(**{**settings, **options})


def _silences(runs: list[Run], shortest: float = 0.5) -> list[Run]:
    return [r for r in runs if not r.tones and r.end - r.start >= shortest]


@pytest.mark.parametrize("behavior", ["silence", "skip"])
async def test_the_agents_keys_pause_and_resume(asterisk: Asterisk, tmp_path: Path, behavior: str) -> None:
    """Agent 2001's handset presses *7 two seconds after answering and *8 two seconds later
    (SendDTMF, RFC 4733 events on a Local channel): the file holds the pause as the metadata says."""
    agent = {"endpoint": "Local/2001@agent-phone", "permit_recordings": True, "record_percent": 100}
    async with _controller(
        asterisk,
        tmp_path,
        agents={"2001": agent},
        queues={"support": {"agents": ["2001"], "announcement": "sim/announcement"}},
        company={"pause_behavior": behavior},
    ) as controller:
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(7)
        await asterisk.hang_up_local_customer()
        talked = time.monotonic() - connected
        [delivered] = await controller.deliveries(1)
    the_keys_pause(delivered, "2001", behavior, seconds=(1.5, 3.0))
    # silence keeps the timeline; skip leaves the paused time out
    [pause] = delivered.sidecar["pauses"]
    expected = talked if behavior == "silence" else talked - pause["seconds"]
    assert abs(duration(delivered.audio) - expected) < 0.5, (duration(delivered.audio), talked, pause)
    assert {a["action"] for a in controller.audit()} >= {"pause", "pause-ended", "delivered"}
    await asterisk.wait_empty()


@pytest.mark.parametrize("behavior", ["silence", "skip"])
async def test_the_desktop_api_pauses_and_resumes(asterisk: Asterisk, tmp_path: Path, behavior: str) -> None:
    async with _controller(asterisk, tmp_path, company={"pause_behavior": behavior}) as controller:
        await asterisk.originate_local("support")
        await controller.said("action=connected record=yes")
        connected = time.monotonic()
        await asyncio.sleep(1.5)
        asked = time.monotonic()
        status, body = await controller.http("POST", "/agents/1001/recording/pause")
        assert status == 200, body
        await asyncio.sleep(2)
        resumed = time.monotonic()
        status, body = await controller.http("POST", "/agents/1001/recording/resume")
        assert status == 200, body
        await asyncio.sleep(1.5)
        await asterisk.hang_up_local_customer()
        talked = time.monotonic() - connected
        [delivered] = await controller.deliveries(1)
    [pause] = delivered.sidecar["pauses"]
    assert (pause["source"], pause["by"], pause["ended_by"]) == ("api", "admin", "resume"), pause
    runs = tone_runs(delivered.audio)
    if behavior == "silence":
        [quiet] = _silences(runs)
        # The pause's edges in the file, measured from the test's own clock.
        assert abs(quiet.start - (asked - connected)) < 0.15, (summary(runs), asked - connected)
        assert abs(quiet.end - (resumed - connected)) < 0.15, (summary(runs), resumed - connected)
    else:
        assert not _silences(runs, 0.1), summary(runs)
        assert abs(duration(delivered.audio) - (talked - (resumed - asked))) < 0.3, summary(runs)
