"""The recording notice against a real Asterisk: a sound Asterisk does not have stops the
controller at start; one that fails at call time is handled as the queue's setting says."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.asterisk.controller import Controller, running_controller
from tests.asterisk.harness import Asterisk

AGENT_1001 = {"endpoint": "Local/1001@agent-phone", "permit_recordings": True, "record_percent": 100}


async def test_a_missing_announcement_stops_the_controller_at_start(
    asterisk: Asterisk, tmp_path: Path
) -> None:
    controller = Controller(
        home=tmp_path / "controller",
        ari_url=asterisk.url,
        ari_password=asterisk.password,
        agents={"1001": AGENT_1001},
        queues={"support": {"agents": ["1001"], "announcement": "no-such-notice"}},
    )
    for command in ("check", "run"):
        code, said = await controller.command(command)
        assert code == 2, (command, said)
        lines = [line for line in said.splitlines() if "no-such-notice" in line]
        assert len(lines) == 1 and "support" in lines[0], (command, said)
    assert await asterisk.channels() == []  # nothing was answered


@pytest.mark.parametrize("then", ["no-record", "hangup", "record"])
async def test_a_notice_that_fails_at_call_time(asterisk: Asterisk, tmp_path: Path, then: str) -> None:
    """The sound is there when the controller starts and gone when the call comes (a file
    removed under Asterisk): Asterisk answers the play 201 and fails it at once."""
    queue = {"agents": ["1001"], "announcement": "sim/announcement", "on_announcement_failure": then}
    async with running_controller(
        home=tmp_path / "controller",
        ari_url=asterisk.url,
        ari_password=asterisk.password,
        agents={"1001": AGENT_1001},
        queues={"support": queue},
        expected_errors=("action=announcement-failed",),  # said at ERROR, as it should be
    ) as controller:
        (asterisk.root / "lib" / "sounds" / "en" / "sim" / "announcement.wav").unlink()
        await asterisk.originate_local("support")
        await controller.said("action=announcement-failed")
        if then == "hangup":
            await controller.said("action=end")
        else:
            await controller.said("action=connected")
            await asyncio.sleep(2)
            await asterisk.hang_up_local_customer()
            await controller.said("action=end")
        if then == "record":
            [delivered] = await controller.deliveries(1)
            assert delivered.sidecar["announcement"] == {"played": False, "why": "the playback ended failed"}
        else:
            await asyncio.sleep(2)  # a delivery would be there by now (the outbox is polled every 0.5 s)
            assert controller.delivered_files() == []
        [audit] = controller.audit("announcement-failed")
        assert json.loads(audit["detail"])["then"] == then, audit
        await asterisk.wait_empty()


async def test_a_call_in_french_hears_the_french_notice(asterisk: Asterisk, tmp_path: Path) -> None:
    """The queue names a notice for French, a sound Asterisk has only in sounds/fr/: a call from
    the French-speaking trunk (its channel's language fr) hears it, played in French; `check`
    finds it in French. Named for French but only in English, `check` says so."""
    queue = {"agents": ["1001"], "announcement": "sim/announcement", "announcements": {"fr": "sim/annonce"}}
    settings: dict[str, Any] = {
        "home": tmp_path / "controller",
        "ari_url": asterisk.url,
        "ari_password": asterisk.password,
        "agents": {"1001": AGENT_1001},
    }
    english_only = {**queue, "announcements": {"fr": "sim/announcement"}}
    code, said = await Controller(**settings, queues={"support": english_only}).command("check")
    assert (
        code == 2
        and "queues.support.announcements.fr: Asterisk has the sound 'sim/announcement' in en, not in 'fr'"
        in said
    ), said
    code, said = await Controller(**settings, queues={"support": queue}).command("check")
    assert code == 0, said
    async with running_controller(**settings, queues={"support": queue}) as controller:
        await asterisk.originate_local("support", context="inbound-fr")
        await controller.said("action=answer queue=support sound=sound:sim/annonce lang=fr")
        await controller.said("action=connected record=yes")
        await asyncio.sleep(1)
        await asterisk.hang_up_local_customer()
        [delivered] = await controller.deliveries(1)
    assert delivered.sidecar["announcement"] == {"played": True, "why": None}
    await asterisk.wait_empty()
