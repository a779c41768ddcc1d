"""Each trace of a real Asterisk, replayed against the simulator: same answers, same events."""

from __future__ import annotations

from pathlib import Path

import pytest

from ari_recorder.simulator.server import serve
from tests.simulator.replay import Replayer, check
from tests.support.reference import REFERENCE, load_trace, reference_dir

TRACES = ["answer_pause_transfer_hangup", "errors", "snoop_directions_bridge_record", "websocket_reconnect"]


@pytest.mark.parametrize("name", TRACES)
async def test_trace_replays_identically(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = load_trace(reference_dir() / "traces" / f"{name}.jsonl")
    async with serve() as sim:
        report = await Replayer(sim.base_url, "asterisk", "asterisk", trace, name).run()
    with capsys.disabled():
        check(report, REFERENCE / "recordings", tmp_path, print)


def test_every_trace_is_replayed() -> None:
    reference_dir()
    assert sorted(p.stem for p in (REFERENCE / "traces").glob("*.jsonl")) == sorted(TRACES)
