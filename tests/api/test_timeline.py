"""The timeline picture (api/timeline.py), pure: data in, SVG out, every text from the data
escaped, a lane per segment, its pauses, transfers, the gap checks and each file's delivery."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ari_recorder.api.timeline import render

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & Co'


def _file(kind: str, state: str, **more: Any) -> dict[str, Any]:
    base = {"id": f"r1/{kind}", "kind": kind, "state": state, "attempts": 0, "last_error": None}
    return {**base, "remote_path": "2026/r1.wav.age", "delivered_at": None, **more}


DETAIL: dict[str, Any] = {
    "id": "call-1",
    "direction": "inbound",
    "queue": "support",
    "phase": "ended",
    "started_at": "2026-12-01T10:00:00+00:00",
    "ended_at": "2026-12-01T10:01:00+00:00",
    "segments": [
        {
            "number": 1,
            "agent": "1001",
            "recorded": True,
            "reason": "queue",
            "started_at": "2026-12-01T10:00:05+00:00",
        },
        {
            "number": 2,
            "agent": "1002",
            "recorded": False,
            "reason": f"agent {HOSTILE} refused",
            "started_at": "2026-12-01T10:00:40+00:00",
        },
    ],
    "recordings": [
        {
            "name": "r1",
            "segment": 1,
            "side": "agent",
            "state": "delivered",
            "started_at": "2026-12-01T10:00:05+00:00",
            "finished_at": "2026-12-01T10:00:40+00:00",
            "failure": None,
            "pauses": [
                {
                    "number": 1,
                    "by": "1001",
                    "source": "keys",
                    "started_at": "2026-12-01T10:00:10+00:00",
                    "ended_at": "2026-12-01T10:00:15+00:00",
                    "seconds": 5.0,
                    "ended_by": "resume",
                    "resumed_by": "supervisor/abc",
                }
            ],
            "files": [
                _file("audio", "done", delivered_at="2026-12-01T10:01:05+00:00"),
                _file("metadata", "dead", attempts=5, last_error=f"sftp: {HOSTILE}"),
            ],
        }
    ],
}


def test_the_picture_has_a_lane_per_segment_its_pause_the_transfer_and_the_files() -> None:
    picture = render(DETAIL, {}, {"1001": HOSTILE, "1002": "Bob"})
    root = ET.fromstring(picture)  # well-formed XML, whatever the names held
    assert root.tag == f"{SVG}svg"
    lanes = root.findall(f".//{SVG}g[@class='segment']")
    assert [lane.get("data-segment") for lane in lanes] == ["1", "2"]
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    label = texts.index("Segment 1") + 1
    assert texts[label].startswith(f"{HOSTILE} (1001)"), "the name, as text: escaped, not markup"
    assert not root.findall(f".//{SVG}script") and "<script>" not in picture
    assert "&lt;script&gt;" in picture and "&amp; Co" in picture
    (pause,) = root.findall(f".//{SVG}rect[@class='pause']")
    assert "by 1001 by keys, resumed by supervisor/abc (5.0 s)" in "".join(pause.itertext())
    assert len(root.findall(f".//{SVG}g[@class='transfer-mark']")) == 1
    assert any(t.startswith("transfer to Bob") for t in texts)
    assert any(t.startswith("not recorded: agent <script>") for t in texts)
    assert "no recording gap: the file holds the segment's time" in texts
    assert any(
        t.startswith("audio: done, delivered 2026-12-01 10:01:05 UTC to 2026/r1.wav.age") for t in texts
    )
    assert any(t.startswith("metadata: dead after 5 attempts, last error: sftp: <script>") for t in texts)


def test_a_recording_gap_and_a_recording_not_yet_fetched_are_said() -> None:
    gap = {"gap": "short", "missing_seconds": 2.5, "why": "the file is 2.5 s short"}
    texts = ["".join(t.itertext()) for t in ET.fromstring(render(DETAIL, {"r1": gap}, {})).iter(f"{SVG}text")]
    assert "recording gap: short, 2.5 s missing (the file is 2.5 s short)" in texts
    waiting = {**DETAIL, "recordings": [{**DETAIL["recordings"][0], "files": [], "state": "ready"}]}
    texts = ["".join(t.itertext()) for t in ET.fromstring(render(waiting, {}, {})).iter(f"{SVG}text")]
    assert "gap check: not yet (the file is not fetched)" in texts
    nobody = {**DETAIL, "segments": [], "recordings": []}
    assert "No agent answered: no segment." in render(nobody, {}, {})


def test_a_span_of_centuries_is_drawn_with_a_few_ticks() -> None:
    """An interaction's times are data (a webchat's report gives them): its picture stays small."""
    ancient = {**DETAIL, "started_at": "0001-01-01T00:00:00+00:00", "ended_at": "9999-12-31T00:00:00+00:00"}
    picture = render(ancient, {}, {})
    assert len(ET.fromstring(picture).findall(f".//{SVG}line[@class='axis']")) <= 11
    assert len(picture) < 20_000
