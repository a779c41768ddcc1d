"""No age recipient, by the explicit opt-out (delivery.keep_unencrypted): each recording left in
Asterisk is marked in the database and counted."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from ari_recorder.delivery import DeliverySettings
from ari_recorder.settings import QueueSettings
from tests.support.world import talk_then_hang_up, world

QUEUES = {"support": QueueSettings(agents=["1001"])}
COUNTED = "ari_recorder_recordings_unencrypted_total"


def counted() -> float:
    return REGISTRY.get_sample_value(COUNTED) or 0.0


async def test_a_recording_kept_unencrypted_is_marked_and_counted(tmp_path: Path) -> None:
    before = counted()
    async with world(tmp_path, QUEUES, delivery=DeliverySettings(keep_unencrypted=True)) as w:
        report = await talk_then_hang_up(w, "15550095", "support", 1.0)
        (row,) = await w.store.recordings()
    (segment,) = report.call.segments
    assert (row.name, row.state, row.kept_unencrypted) == (segment.recording, "ready", True)
    assert counted() == before + 1
