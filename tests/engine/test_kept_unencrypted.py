"""No age recipient, by the explicit opt-out (delivery.keep_unencrypted): each recording left in
Asterisk is marked in the database and counted."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from ari_recorder.delivery import DeliverySettings, generate_keypair
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
        async with w.http.get(f"{w.api_url}/readyz") as r:
            ready = r.status, await r.json()
    (segment,) = report.call.segments
    assert (row.name, row.state, row.kept_unencrypted) == (segment.recording, "ready", True)
    assert counted() == before + 1
    status, body = ready
    assert status == 200, "ready all the same: the site chose it"
    assert body["unencrypted"]["recordings"] == 1
    assert "delivery.keep_unencrypted = true" in body["unencrypted"]["detail"]


async def test_with_a_recipient_readyz_says_nothing_is_kept_unencrypted(tmp_path: Path) -> None:
    key = tmp_path / "platform.key"
    delivery = DeliverySettings(
        age_recipients=[generate_keypair(key)],
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
    )
    async with world(tmp_path, QUEUES, delivery=delivery) as w, w.http.get(f"{w.api_url}/readyz") as r:
        body = await r.json()
    assert body["unencrypted"] is None
