"""channels = 2 end to end: each party recorded through a one-way snoop of its own, on either side,
and (with delivery) merged into one stereo file, customer left, agent right."""

from __future__ import annotations

from pathlib import Path

import pytest

from ari_recorder.settings import QueueSettings
from tests.support.audio import duration, summary, tone_runs
from tests.support.world import talk_then_hang_up, world


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
