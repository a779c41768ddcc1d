"""What the platform receives for a call whose recording could not be made, or whose notice was
not played: the sidecar says so (selected, not recorded: why; the announcement's outcome)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ari_recorder.settings import QueueSettings, RecordingSettings
from tests.delivery.conftest import Identity, local_settings
from tests.delivery.support import age_decrypt
from tests.support.waiting import until
from tests.support.world import connected, world


def not_recorded() -> float:
    labels = {"then": "continue", "reason": "snoop_never_entered"}
    return REGISTRY.get_sample_value("ari_recorder_segments_not_recorded_total", labels) or 0.0


def announcement_failures(then: str) -> float:
    return REGISTRY.get_sample_value("ari_recorder_announcement_failures_total", {"then": then}) or 0.0


def outbox_files(root: Path) -> list[Path]:
    """What the outbox holds under final names (not a file still being written: `.name.part`)."""
    outbox = root / "outbox"
    if not outbox.exists():
        return []
    return sorted(p for p in outbox.rglob("*") if p.is_file() and not p.name.startswith("."))


async def test_a_segment_never_recorded_is_delivered_as_a_sidecar_saying_so(
    tmp_path: Path, identity: Identity
) -> None:
    settings = local_settings(tmp_path, identity)
    counted = not_recorded()
    async with world(
        tmp_path,
        {"support": QueueSettings(agents=["1001"])},
        delivery=settings,
        recording=RecordingSettings(start_deadline_ms=400),
    ) as w:
        await w.control("config", {"snoop_stasis_delay_ms": None}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550001"})
        await connected(w, "1001")  # the recording given up at its deadline
        await w.control("hangup", {"customer": "15550001"})
        await asyncio.wait_for(w.reports.get(), 15)
        (sidecar,) = await until(lambda: _one(tmp_path), what="the sidecar delivered", timeout=20)
        (row,) = await w.store.recordings()
    assert sidecar.name.endswith(".json.age")
    document = json.loads(age_decrypt(identity.path, sidecar))
    why = "not started within 0.4 s: the snoop channel never entered the application"
    assert document["recorded"] is False and document["audio"] is None
    assert document["not_recorded"] == f"selected, not recorded: {why}"
    assert document["announcement"] == {"played": True, "why": None}
    assert document["levels"] == [{"level": "agent", "by": "1001"}]
    assert row.state == "reported"
    assert not_recorded() == counted + 1


async def _one(root: Path) -> list[Path] | None:
    files = outbox_files(root)
    return files if files else None


@pytest.mark.parametrize("then", ["no-record", "record", "hangup"])
async def test_a_notice_asterisk_cannot_play(tmp_path: Path, identity: Identity, then: str) -> None:
    """The queue's sound is missing in Asterisk: the playback ends failed at once."""
    settings = local_settings(tmp_path, identity)
    counted = announcement_failures(then)
    queues = {"support": QueueSettings(agents=["1001"], on_announcement_failure=then)}  # type: ignore[arg-type]
    async with world(tmp_path, queues, delivery=settings) as w:
        await w.control("config", {"sounds": ["sim/customer-tone"]}, method="PUT")
        await w.control("calls", {"queue": "support", "caller": "15550001"})
        if then != "hangup":  # else the controller hangs up itself
            await connected(w, "1001")
            await w.control("hangup", {"customer": "15550001"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        audit = [a for a in await w.store.audit(report.call.id) if a.action == "announcement-failed"]
        if then == "record":
            (sidecar,) = await until(lambda: _sidecar(tmp_path), what="the recording delivered", timeout=20)
            document = json.loads(age_decrypt(identity.path, sidecar))
        left = await w.state()
    assert report.call.announced == "the playback ended failed"
    assert [(a.detail["why"], a.detail["then"]) for a in audit] == [("the playback ended failed", then)]
    assert announcement_failures(then) == counted + 1
    if then == "hangup":
        assert report.call.segments == () and left["channels"] == []
    elif then == "no-record":
        (segment,) = report.call.segments
        assert segment.recording is None and segment.decision.reason.startswith(
            "the recording notice was not"
        )
        assert left["stored_recordings"] == [] and outbox_files(tmp_path) == []
    else:
        assert document["recorded"] is True
        assert document["announcement"] == {"played": False, "why": "the playback ended failed"}


async def _sidecar(root: Path) -> list[Path] | None:
    files = [p for p in outbox_files(root) if p.name.endswith(".json.age")]
    return files if files else None
