"""channels = 2 end to end: each party recorded through a one-way snoop of its own, on either side,
and (with delivery) merged into one stereo file, customer left, agent right."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest

from ari_recorder.delivery import Delivery, DeliverySettings, generate_keypair
from ari_recorder.settings import QueueSettings
from tests.support.audio import duration, summary, tone_runs
from tests.support.world import talk_then_hang_up, world

# Both legs' lengths within 50 ms: ./dev test runs these apart (pytest -m timing).
pytestmark = pytest.mark.timing


@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_each_party_is_in_a_file_of_its_own(tmp_path: Path, side: str) -> None:
    queues = {"support": QueueSettings(agents=["1001"], record_side=side, channels=2)}  # type: ignore[arg-type]
    async with world(tmp_path, queues) as w:
        report = await talk_then_hang_up(w, "15550600", "support", 2.0)
        (segment,) = report.call.segments
        assert segment.recording is not None
        customer = await w.fetch(f"{segment.recording}-customer")
        agent = await w.fetch(f"{segment.recording}-agent")
        (row,) = await w.store.recordings()
    assert (row.name, row.channels, row.state) == (segment.recording, 2, "ready")
    for path, voice in ((customer, 440), (agent, 1000)):
        runs = tone_runs(path)
        heard = {tone for run in runs for tone in run.tones}
        assert heard == {voice}, f"{path.name}: {summary(runs)}"
        assert 1.7 < duration(path) < 2.6
    assert abs(duration(customer) - duration(agent)) < 0.05, "both legs start and end together"


async def test_delivery_merges_the_two_legs_into_one_stereo_file(tmp_path: Path) -> None:
    """Customer left, agent right; one file and one metadata sidecar delivered; both legs deleted."""
    queues = {"support": QueueSettings(agents=["1001"], channels=2)}
    key = tmp_path / "platform.key"
    settings = DeliverySettings(
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
        age_recipients=[generate_keypair(key)],
    )
    async with world(tmp_path, queues) as w:
        report = await talk_then_hang_up(w, "15550601", "support", 2.0)
        delivery = Delivery(w.store, w.ari, settings)
        try:
            counters = await delivery.drain()
        finally:
            await delivery.aclose()
        left_in_asterisk = (await w.state())["stored_recordings"]
    assert (counters.spooled, counters.delivered, counters.dead) == (1, 2, 0)
    assert left_in_asterisk == [], "both legs deleted once the stereo file was safe"
    (sealed,) = (tmp_path / "outbox").rglob("*.wav.age")
    (sidecar,) = (tmp_path / "outbox").rglob("*.json.age")
    stereo = tmp_path / "stereo.wav"
    for source, dest in ((sealed, stereo), (sidecar, tmp_path / "metadata.json")):
        age = await asyncio.create_subprocess_exec("age", "-d", "-i", str(key), "-o", str(dest), str(source))
        assert await age.wait() == 0
    with wave.open(str(stereo), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
    for channel, voice in ((0, 440), (1, 1000)):
        runs = tone_runs(stereo, channel=channel)
        assert {tone for run in runs for tone in run.tones} == {voice}, f"channel {channel}: {summary(runs)}"
    assert 1.7 < duration(stereo) < 2.6
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    (segment,) = report.call.segments
    assert (metadata["recording"], metadata["channels"]) == (segment.recording, 2)
