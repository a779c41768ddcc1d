"""Orphans (storage/orphans.py, delivery/orphans.py): a recording Asterisk made for one of our
interactions that no row accounts for is found, adopted and delivered, never left behind."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from prometheus_client import REGISTRY

from ari_recorder.domain import call as c
from ari_recorder.domain import ids
from tests.delivery.conftest import Identity, local_settings
from tests.delivery.support import age_decrypt
from tests.delivery.test_proof import AGENTS, QUEUES, outbox
from tests.delivery.test_sidecar import schema
from tests.support.waiting import until
from tests.support.world import World, world


def orphaned() -> float:
    return REGISTRY.get_sample_value("ari_recorder_recordings_orphaned_total") or 0.0


# ----- names read back -----
def test_a_recording_name_is_read_back_and_other_names_are_not() -> None:
    name = ids.recording("1796108268.1", 3, "1001")
    read = ids.read_recording(name)
    assert read is not None and (read.call, read.segment, read.agent) == ("1796108268.1", 3, "1001")
    odd = ids.recording("1796108268.1", 1, "ops/../a b")  # made safe: still read back
    assert ids.read_recording(odd) is not None and ids.read_recording(odd).call == "1796108268.1"  # type: ignore[union-attr]
    for other in ("voicemail-17", "1796108268.1-announcement", "chat-x-1", "a-seg-1", "x-segA-1001"):
        assert ids.read_recording(other) is None, other


def test_stored_recordings_are_grouped_as_one_channel_or_a_pair() -> None:
    one, two = ids.recording("1.1", 1, "1001"), ids.recording("1.2", 1, "1002")
    stored = {one, f"{two}-customer", f"{two}-agent", "other"}
    assert ids.recordings_of(stored) == {one: 1, two: 2, "other": 1}
    half = {f"{two}-customer"}  # its other party not stored (yet): taken as it is named
    assert ids.recordings_of(half) == {f"{two}-customer": 1}


# ----- a controller stopped before its state reached the database -----
async def _live_recording(w: World) -> str | None:
    live: list[Any] = (await w.state()).get("live_recordings") or []
    return str(live[0]["name"]) if live else None


async def _delivered(root: Path, identity: Identity, recording: str) -> dict[str, Any] | None:
    for path in outbox(root, ".json.age"):
        document: dict[str, Any] = json.loads(age_decrypt(identity.path, path))
        if document["recording"] == recording:
            return document
    return None


async def _both_delivered(w: World, name: str) -> list[str]:
    """The recording's audit trail once its audio and its metadata are both delivered (once each:
    a third would fail the count)."""

    async def trail() -> list[str] | None:
        actions = [a.action for a in await w.store.audit(name)]
        return actions if actions.count("delivered") >= 2 else None

    actions: list[str] = await until(trail, what="the audio and the metadata delivered")
    assert actions.count("delivered") == 2, actions
    return actions


async def _stopped_once_recording(w: World, caller: str) -> tuple[str, list[c.Call]]:
    """A call placed; its controller stopped in the moment after it started the agent's
    recording, with no state after the announcement's start in the database (the persister's
    batch lag; a kill, a leadership cut). The recording's name, and the calls the store holds."""
    assert w.controller is not None
    controller = w.controller
    save = controller.persister.save

    def lagging(call: c.Call) -> None:  # nothing arrives after the announcement began
        if call.phase is c.Phase.ANSWERING:
            save(call)

    controller.persister.save = lagging  # type: ignore[method-assign]
    await w.control("calls", {"queue": "support", "caller": caller})
    name = await until(lambda: _live_recording(w), what="Asterisk recording the agent", timeout=10)
    await controller.persister.flush()
    await controller.stand_down()  # stopped: nothing more written, nothing held
    controller.persister.save = save  # type: ignore[method-assign]
    stored = await w.store.open_calls()
    assert [s.phase for s in stored] == [c.Phase.ANSWERING], stored
    return name, stored


def _successor(w: World, stored: list[c.Call]) -> None:
    """The next controller: it takes the stored calls, its event socket open (so Asterisk is
    asked at once what they missed)."""
    assert w.controller is not None
    w.controller.leading = True
    w.controller.connected.set()
    w.controller.resume(stored)


async def test_a_successor_takes_the_conversation_and_the_recording_its_stored_state_lags(
    tmp_path: Path, identity: Identity
) -> None:
    """Stored as answering, the call is with its agent and recorded in Asterisk: the successor
    learns it from Asterisk (the live recording shows the notice was heard; the agent's channel
    dialled already, and up), keeps the conversation and the recording, and delivers it once."""
    before = orphaned()
    delivery = local_settings(tmp_path, identity, orphan_sweep_seconds=0.3)
    async with world(tmp_path, QUEUES, AGENTS, delivery=delivery) as w:
        name, stored = await _stopped_once_recording(w, "15550076")
        _successor(w, stored)

        async def taken_back() -> bool:
            calls = w.controller.live_calls() if w.controller else []
            return bool(calls) and calls[0].segment is not None and name in calls[0].recordings_open

        await until(taken_back, what="the successor connected and recording")
        await asyncio.sleep(1.0)  # talk this long: the scenario
        await w.control("hangup", {"customer": "15550076"})  # the call was still on
        document = await until(lambda: _delivered(w.tmp, identity, name), what="the delivery", timeout=30)
        audit = await _both_delivered(w, name)
    assert document["reason"] == "selected by agent 1001" and document["levels"]
    assert document["announcement"] == {"played": True, "why": None}
    assert "recording-orphan" not in audit
    assert orphaned() == before


async def test_a_recording_its_controller_never_saved_is_adopted_and_delivered(
    tmp_path: Path, identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    """As above, and the customer hangs up while no controller runs: the successor learns the
    call is over, and nothing it holds names the recording Asterisk made. Once finished, the
    sweep finds the file; it is delivered, once, said to be adopted."""
    before = orphaned()
    delivery = local_settings(tmp_path, identity, orphan_sweep_seconds=0.3)
    async with world(tmp_path, QUEUES, AGENTS, delivery=delivery) as w:
        name, stored = await _stopped_once_recording(w, "15550077")
        # Recordings not ours, of the same bridge: another application's, a site's own.
        foreign = ["site-seg1-1001", "voicemail-17"]
        for other in foreign:
            await w.ari.record_bridge(ids.bridge(stored[0].id), other)
        await asyncio.sleep(1.0)  # talk this long: the scenario
        await w.control("hangup", {"customer": "15550077"})
        _successor(w, stored)
        with caplog.at_level(logging.ERROR, "ari_recorder.delivery"):
            document = await until(
                lambda: _delivered(w.tmp, identity, name), what="the orphan delivered", timeout=30
            )
        audit = await _both_delivered(w, name)
        left = await w.state()
    jsonschema_rs.validator_for(schema(), validate_formats=True).validate(document)
    assert document["reason"].startswith("adopted:"), document["reason"]
    assert (document["agent"], document["segment"], document["queue"]) == ("1001", 1, "support")
    assert document["duration_seconds"] > 0
    assert "recording-orphan" in audit
    assert orphaned() == before + 1
    lines = [r.getMessage() for r in caplog.records if "action=recording-orphan" in r.getMessage()]
    assert len(lines) == 1 and f"recording={name}" in lines[0]
    assert not left["live_recordings"]
    assert sorted(left["stored_recordings"]) == foreign  # ours gone from Asterisk; the others left alone
