"""A controller stopped in the moment after it started the agent's recording, its stored state
lagging behind what it had asked of Asterisk, and its successor, against a real Asterisk (what
the simulator's tests/delivery/test_orphans.py showed, held to Asterisk's own answers: 409 for
a leg or bridge made already, live recordings looked up by name, leftovers hung up).

The controller runs in this process, so that its states can be kept from the database once the
notice begins (the persister's batch lag, made as long as the test needs)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.app import Running, running
from ari_recorder.delivery import generate_keypair
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.domain import call as c
from ari_recorder.settings import (
    AgentSettings,
    ApiSettings,
    AriSettings,
    CompanySettings,
    DatabaseSettings,
    QueueSettings,
    Settings,
)
from tests.asterisk.harness import Asterisk
from tests.delivery.support import age_decrypt
from tests.support.waiting import until

AGENT = AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100)


@asynccontextmanager
async def _controller(asterisk: Asterisk, home: Path) -> AsyncIterator[Running]:
    key = home / "platform.key"
    settings = Settings(
        ari=AriSettings(url=asterisk.url, password=asterisk.password),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{home / 'db.sqlite'}"),
        api=ApiSettings(port=0),
        company=CompanySettings(announcement="sim/announcement"),
        queues={"support": QueueSettings(agents=["1001"])},
        agents={"1001": AGENT},
        delivery=DeliverySettings(
            age_recipients=[generate_keypair(key)],
            spool_dir=str(home / "spool"),
            outbox_dir=str(home / "outbox"),
            poll_seconds=0.5,
            orphan_sweep_seconds=0.5,
        ),
    )
    async with running(settings) as app:
        yield app


async def _stopped_once_recording(app: Running) -> tuple[str, list[c.Call]]:
    """A call to the queue; its controller stopped once Asterisk confirmed the agent's recording,
    with nothing after the notice's start in the database. The recording, and the stored calls."""
    controller = app.controller
    save = controller.persister.save

    def lagging(call: c.Call) -> None:
        if call.phase is c.Phase.ANSWERING:
            save(call)

    controller.persister.save = lagging  # type: ignore[method-assign]

    def began() -> str | None:
        calls = controller.live_calls()
        return calls[0].began[0][0] if calls and calls[0].began else None

    name = await until(began, what="Asterisk recording the agent", timeout=20)
    await controller.persister.flush()
    await controller.stand_down()
    controller.persister.save = save  # type: ignore[method-assign]
    stored = await app.store.open_calls()
    assert [call.phase for call in stored] == [c.Phase.ANSWERING], stored
    return name, stored


def _successor(app: Running, stored: list[c.Call]) -> None:
    app.controller.leading = True
    app.controller.connected.set()  # its event socket is open: Asterisk is asked at once
    app.controller.resume(stored)


async def _sidecar(home: Path, recording: str) -> dict[str, Any] | None:
    for path in sorted((home / "outbox").rglob("*.json.age")):
        document: dict[str, Any] = json.loads(age_decrypt(home / "platform.key", path))
        if document["recording"] == recording:
            return document
    return None


@pytest.mark.parametrize("hung_up", [False, True], ids=["talking", "hung-up-meanwhile"])
async def test_a_successor_takes_back_what_its_lagging_state_did_not_know(
    asterisk: Asterisk, tmp_path: Path, hung_up: bool
) -> None:
    """talking: the successor learns from Asterisk that the notice was heard and the agent is
    on (the leg it dials again answers 409), takes the conversation and its recording back, and
    the customer talks on. hung-up-meanwhile: the customer left while no controller ran; the
    successor hangs up what is left of the call, and the sweep adopts the finished recording."""
    home = tmp_path / "controller"
    async with _controller(asterisk, home) as app:
        await asterisk.originate_local("support")
        name, stored = await _stopped_once_recording(app)
        if hung_up:
            await asyncio.sleep(1.0)  # talk this long: the scenario
            await asterisk.hang_up_local_customer()
        _successor(app, stored)
        if not hung_up:

            def taken_back() -> bool:
                calls = app.controller.live_calls()
                return bool(calls) and calls[0].segment is not None and name in calls[0].recordings_open

            await until(taken_back, what="the successor with the agent and the recording", timeout=10)
            await asyncio.sleep(1.0)  # talk this long: the scenario
            # Asterisk lists a recording's file while it is being written: the sweep must not
            # take it then (delivery/orphans.py), nor the simulator hide it.
            assert name in [r["name"] for r in await asterisk.ari("GET", "/recordings/stored")]
            await asterisk.hang_up_local_customer()
        document = await until(lambda: _sidecar(home, name), what="the recording delivered", timeout=30)

        async def both_delivered() -> list[str] | None:
            audit = [row.action for row in await app.store.audit(name)]
            return audit if audit.count("delivered") == 2 else None  # the audio and the metadata

        audit = await until(both_delivered, what="the audio and the metadata delivered")
    if hung_up:
        assert document["reason"].startswith("adopted:"), document
        assert "recording-orphan" in audit
    else:
        assert document["reason"] == "selected by agent 1001", document
        assert document["announcement"] == {"played": True, "why": None}
        assert "recording-orphan" not in audit
    assert document["duration_seconds"] > 1.0
    await asterisk.wait_empty()
