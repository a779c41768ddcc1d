"""Proof of recording: each delivered file held against its segment's connected time less skipped
pauses. On the simulator, calls driven end to end; the numbers checked against the test's own
clock (the agent's answer and the hangup as the test caused them), never only the controller's."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery
from ari_recorder.delivery.proof import GapKind, prove
from ari_recorder.settings import AgentSettings, QueueSettings, RecordingSettings
from ari_recorder.storage.store import Store
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Identity, local_settings
from tests.delivery.support import age_decrypt, ready_recording
from tests.support.waiting import until
from tests.support.world import ADMIN_TOKEN, World, world

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100)
}
QUEUES = {"support": QueueSettings(agents=["1001"])}
# Between the test's clock and the controller's: the agent's answer comes ~0.3 s after the
# announcement; the hangup reaches the controller within a few ms. Loose on purpose: the numbers
# the test checks exactly are the proof's own arithmetic.
SLACK = 0.5


def gaps(kind: str) -> float:
    return REGISTRY.get_sample_value("ari_recorder_recording_gaps_total", {"kind": kind}) or 0.0


def skip(seconds: float, ended_by: str = "resume") -> dict[str, Any]:
    return {"behavior": "skip", "seconds": seconds, "ended_by": ended_by}


# ----- the arithmetic -----
def test_a_file_as_long_as_its_segment_is_proven() -> None:
    proof = prove(audio=59.7, connected=60.0, seen=True, pauses=[], tolerance=1.0)
    assert (proof.ok, proof.gap, proof.missing) == (True, None, 0.3)


def test_a_file_short_by_more_than_the_tolerance_is_a_gap() -> None:
    proof = prove(audio=58.9, connected=60.0, seen=True, pauses=[], tolerance=1.0)
    assert (proof.ok, proof.gap, proof.missing) == (False, GapKind.SHORT, 1.1)
    assert proof.json()["expected_seconds"] == 60.0 and proof.json()["audio_seconds"] == 58.9


def test_skipped_pauses_are_subtracted_silenced_and_refused_ones_are_not() -> None:
    pauses = [skip(10.0), {"behavior": "silence", "seconds": 5.0, "ended_by": "resume"}, skip(3.0, "failed")]
    proof = prove(audio=50.0, connected=60.0, seen=True, pauses=pauses, tolerance=1.0)
    assert (proof.expected, proof.skipped, proof.ok) == (50.0, 10.0, True)
    assert prove(audio=45.0, connected=60.0, seen=True, pauses=pauses, tolerance=1.0).missing == 5.0


def test_an_empty_file_of_a_segment_shorter_than_a_frame_or_two_is_no_gap() -> None:
    """A segment of 19 ms (a takeover's): no frame written yet, nothing missing beyond the
    tolerance. From 50 ms on, an empty file is a gap however small the tolerance makes it."""
    brief = prove(audio=0.0, connected=0.019, seen=True, pauses=[], tolerance=1.0)
    assert (brief.ok, brief.gap) == (True, None)
    longer = prove(audio=0.0, connected=0.05, seen=True, pauses=[], tolerance=1.0)
    assert (longer.ok, longer.gap) == (False, GapKind.EMPTY)


def test_an_empty_file_and_no_file_are_gaps_whatever_the_segment() -> None:
    empty = prove(audio=0.0, connected=None, seen=None, pauses=[], tolerance=1.0)
    assert (empty.ok, empty.gap) == (False, GapKind.EMPTY)
    never = prove(audio=0.0, connected=12.0, seen=True, pauses=[], tolerance=1.0, failure="refused")
    assert (never.ok, never.gap, never.missing, never.why) == (
        False,
        GapKind.NOT_RECORDED,
        12.0,
        "selected, not recorded: refused",
    )


def test_an_end_not_seen_or_unknown_is_not_judged() -> None:
    """The segment's end learned after the event stream came back lies later than the truth:
    holding the file against it would report gaps that are not there."""
    unseen = prove(audio=3.0, connected=60.0, seen=False, pauses=[], tolerance=1.0)
    unknown = prove(audio=3.0, connected=None, seen=None, pauses=[], tolerance=1.0)
    assert (unseen.ok, unseen.expected) == (None, None) and "event stream was down" in (unseen.why or "")
    assert unknown.ok is None


# ----- calls on the simulator -----
def outbox(root: Path, suffix: str) -> list[Path]:
    found = root / "outbox"
    return sorted(p for p in found.rglob(f"*{suffix}") if p.is_file()) if found.exists() else []


async def sidecar(w: World, identity: Identity) -> dict[str, Any]:
    (path,) = await until(
        lambda: _listed(outbox(w.tmp, ".json.age")), what="the sidecar delivered", timeout=30
    )
    document: dict[str, Any] = json.loads(age_decrypt(identity.path, path))
    return document


async def _listed(files: list[Path]) -> list[Path] | None:
    return files or None


async def answered(w: World, caller: str) -> tuple[str, float]:
    """The call placed and its agent connected: the recording's name, and when (test's clock)."""
    await w.control("calls", {"queue": "support", "caller": caller})
    assert w.controller is not None
    controller = w.controller

    async def recording() -> str | None:
        calls = controller.live_calls()
        segment = calls[0].segment if calls else None
        return segment.recording if segment is not None else None

    name: str = await until(recording, what="the agent connected", timeout=10)
    return name, time.monotonic()


async def api(w: World, path: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with w.http.post(f"{w.api_url}/api/v1/{path}", headers=headers) as r:
        assert r.status == 200, await r.text()


@pytest.mark.timing  # talked and recorded seconds within SLACK: run apart
async def test_a_whole_call_is_proven_and_no_gap_is_reported(tmp_path: Path, identity: Identity) -> None:
    before = gaps(GapKind.SHORT)
    async with world(tmp_path, QUEUES, AGENTS, delivery=local_settings(tmp_path, identity)) as w:
        name, at = await answered(w, "15550001")
        await asyncio.sleep(3.0)  # talk (or a pause) this long: the scenario, measured
        await w.control("hangup", {"customer": "15550001"})
        talked = time.monotonic() - at
        await asyncio.wait_for(w.reports.get(), 15)
        document = await sidecar(w, identity)
        audit = [a.action for a in await w.store.audit(name)]
    proof = document["proof"]
    assert proof["ok"] is True and proof["gap"] is None
    assert abs(proof["expected_seconds"] - talked) < SLACK
    assert proof["missing_seconds"] < 0.2, proof  # the start's round trip and a frame
    assert proof["audio_seconds"] == document["duration_seconds"]
    assert "recording-gap" not in audit
    assert gaps(GapKind.SHORT) == before


@pytest.mark.timing  # talked and recorded seconds within SLACK: run apart
async def test_a_step_of_the_system_clock_during_the_call_is_no_gap(
    tmp_path: Path, identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system clock jumps 15 s ahead mid-call (an NTP step, a virtual machine resumed; seen
    in CI): the segment is as long as it was talked, not 15 s longer (clock.py)."""
    before = gaps(GapKind.SHORT)
    async with world(tmp_path, QUEUES, AGENTS, delivery=local_settings(tmp_path, identity)) as w:
        name, at = await answered(w, "15550009")
        await asyncio.sleep(1.0)  # talk (or a pause) this long: the scenario, measured
        system = time.time
        monkeypatch.setattr(time, "time", lambda: system() + 15.0)
        await asyncio.sleep(2.0)  # talk (or a pause) this long: the scenario, measured
        await w.control("hangup", {"customer": "15550009"})
        talked = time.monotonic() - at
        await asyncio.wait_for(w.reports.get(), 15)
        document = await sidecar(w, identity)
        audit = [a.action for a in await w.store.audit(name)]
    proof = document["proof"]
    assert proof["ok"] is True, proof
    assert abs(proof["expected_seconds"] - talked) < SLACK
    assert "recording-gap" not in audit
    assert gaps(GapKind.SHORT) == before


@pytest.mark.timing  # talked and recorded seconds within SLACK: run apart
async def test_a_recording_cut_short_is_a_gap_with_its_numbers(
    tmp_path: Path, identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    """Asterisk stops the recording 1 s into the segment (as a crashed snoop or a full disk
    would); the agent and the customer talk on for 3 s more."""
    before = gaps(GapKind.SHORT)
    async with world(tmp_path, QUEUES, AGENTS, delivery=local_settings(tmp_path, identity)) as w:
        name, at = await answered(w, "15550002")
        await asyncio.sleep(1.0)  # talk (or a pause) this long: the scenario, measured
        await w.ari.stop_recording(name)
        recorded = time.monotonic() - at
        await asyncio.sleep(3.0)  # talk (or a pause) this long: the scenario, measured
        await w.control("hangup", {"customer": "15550002"})
        talked = time.monotonic() - at
        await asyncio.wait_for(w.reports.get(), 15)
        with caplog.at_level(logging.ERROR, "ari_recorder.delivery"):
            document = await sidecar(w, identity)
        (gap,) = [a for a in await w.store.audit(name) if a.action == "recording-gap"]
    proof = document["proof"]
    assert proof["ok"] is False and proof["gap"] == "short"
    assert abs(proof["expected_seconds"] - talked) < SLACK
    assert abs(proof["audio_seconds"] - recorded) < SLACK
    assert abs(proof["missing_seconds"] - (talked - recorded)) < SLACK
    difference = proof["expected_seconds"] - proof["audio_seconds"]
    assert proof["missing_seconds"] == pytest.approx(difference, abs=0.002)
    assert gap.detail["missing_seconds"] == proof["missing_seconds"]
    assert gap.detail["expected_seconds"] == proof["expected_seconds"]
    assert gap.detail["segment"] == 1 and gap.detail["agent"] == "1001"
    assert "shorter than its segment" in gap.detail["why"]
    assert gaps(GapKind.SHORT) == before + 1
    (line,) = [r.getMessage() for r in caplog.records if "action=recording-gap" in r.getMessage()]
    assert f"recording={name}" in line and "kind=short" in line


@pytest.mark.timing  # talked and recorded seconds within SLACK: run apart
@pytest.mark.parametrize("behavior", ["skip", "silence"])
async def test_skipped_pauses_are_subtracted_and_silenced_ones_are_not(
    tmp_path: Path, identity: Identity, behavior: str
) -> None:
    settings = local_settings(tmp_path, identity)
    async with world(tmp_path, QUEUES, AGENTS, delivery=settings, pause_behavior=behavior) as w:
        name, at = await answered(w, "15550003")
        await asyncio.sleep(1.0)  # talk (or a pause) this long: the scenario, measured
        await api(w, "agents/1001/recording/pause")
        paused = time.monotonic()
        await asyncio.sleep(2.0)  # talk (or a pause) this long: the scenario, measured
        await api(w, "agents/1001/recording/resume")
        paused = time.monotonic() - paused
        await asyncio.sleep(1.0)  # talk (or a pause) this long: the scenario, measured
        await w.control("hangup", {"customer": "15550003"})
        talked = time.monotonic() - at
        await asyncio.wait_for(w.reports.get(), 15)
        document = await sidecar(w, identity)
        audit = [a.action for a in await w.store.audit(name)]
    proof = document["proof"]
    (pause,) = document["pauses"]
    assert proof["ok"] is True and "recording-gap" not in audit
    if behavior == "skip":
        assert proof["skipped_pause_seconds"] == pause["seconds"]
        assert abs(proof["skipped_pause_seconds"] - paused) < SLACK
        assert abs(proof["expected_seconds"] - (talked - paused)) < SLACK
    else:
        assert proof["skipped_pause_seconds"] == 0
        assert abs(proof["expected_seconds"] - talked) < SLACK
    assert abs(proof["audio_seconds"] - proof["expected_seconds"]) < 0.2, proof


@pytest.mark.timing  # talked and recorded seconds within SLACK: run apart
async def test_a_segment_never_recorded_is_a_gap_of_its_whole_connected_time(
    tmp_path: Path, identity: Identity
) -> None:
    before = gaps(GapKind.NOT_RECORDED)
    async with world(
        tmp_path,
        QUEUES,
        AGENTS,
        delivery=local_settings(tmp_path, identity),
        recording=RecordingSettings(start_deadline_ms=400),
    ) as w:
        await w.control("config", {"snoop_stasis_delay_ms": None}, method="PUT")  # snoops never enter
        name, at = await answered(w, "15550004")
        await asyncio.sleep(2.0)  # talk (or a pause) this long: the scenario, measured
        await w.control("hangup", {"customer": "15550004"})
        talked = time.monotonic() - at
        await asyncio.wait_for(w.reports.get(), 15)
        document = await sidecar(w, identity)
        (gap,) = [a for a in await w.store.audit(name) if a.action == "recording-gap"]
    proof = document["proof"]
    assert document["recorded"] is False
    assert (proof["ok"], proof["gap"], proof["audio_seconds"]) == (False, "not_recorded", 0.0)
    assert abs(proof["expected_seconds"] - talked) < SLACK
    assert proof["missing_seconds"] == proof["expected_seconds"]
    assert proof["why"] == document["not_recorded"]
    assert gap.detail["gap"] == "not_recorded"
    assert gaps(GapKind.NOT_RECORDED) == before + 1


async def test_an_empty_file_is_a_gap_and_its_row_dead(
    sqlite_store: Store, sim: RunningSimulator, ari: AriClient, identity: Identity, tmp_path: Path
) -> None:
    before = gaps(GapKind.EMPTY)
    name, _ = await ready_recording(sqlite_store, sim, "call-1", content=b"")
    delivery = Delivery(sqlite_store, ari, local_settings(tmp_path, identity))
    await delivery.drain()
    await delivery.drain()  # the row is dead: the gap is not reported twice
    await delivery.aclose()
    (gap,) = [a for a in await sqlite_store.audit(name) if a.action == "recording-gap"]
    assert (gap.detail["gap"], gap.detail["audio_seconds"], gap.detail["ok"]) == ("empty", 0.0, False)
    assert gaps(GapKind.EMPTY) == before + 1
