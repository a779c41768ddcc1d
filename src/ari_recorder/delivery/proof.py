"""Proof of recording: a delivered file's audio held against the time it should cover.

That time is its segment's connected time (the agent's answer, outbound the customer's, to the
segment's end; a customer-side recording runs on across transfers to the call's end), less the
pauses that left time out of the file (`skip`; `silence` keeps the timeline, and a pause Asterisk
refused never stopped the recording). A file shorter than that by more than
`delivery.gap_tolerance_seconds`, an empty file, or a selected segment with no file at all, is a
recording gap: in the audit trail (`recording-gap`), a metric and an ERROR line.

Pure: the numbers in, the verdict out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A segment connected for less than this may leave its file empty: Asterisk writes audio a 20 ms
# frame at a time, the first one a frame or two after the record began (seen: a customer who hung
# up 12 ms after the agent's answer, its file empty). Longer, an empty file is a gap whatever the
# tolerance.
NO_FRAME_YET = 0.05


class GapKind:
    SHORT = "short"  # the file is shorter than its segment, beyond the tolerance
    EMPTY = "empty"  # the file holds no audio at all
    NOT_RECORDED = "not_recorded"  # selected, and no file was ever made


GAP_KINDS = (GapKind.SHORT, GapKind.EMPTY, GapKind.NOT_RECORDED)


@dataclass(frozen=True)
class Proof:
    expected: float | None  # seconds the file should hold; None: not known
    audio: float  # seconds it holds (two channels: the shorter party's)
    skipped: float  # seconds of skip pauses taken off the connected time
    tolerance: float
    ok: bool | None  # None: nothing to hold the file against
    gap: str | None = None  # a GapKind when not ok
    why: str | None = None

    @property
    def missing(self) -> float | None:
        return None if self.expected is None else round(max(0.0, self.expected - self.audio), 3)

    def json(self) -> dict[str, Any]:
        """As the sidecar and the audit trail give it."""
        return {
            "expected_seconds": None if self.expected is None else round(self.expected, 3),
            "audio_seconds": round(self.audio, 3),
            "missing_seconds": self.missing,
            "skipped_pause_seconds": round(self.skipped, 3),
            "tolerance_seconds": self.tolerance,
            "ok": self.ok,
            "gap": self.gap,
            "why": self.why,
        }


def skipped_seconds(pauses: Sequence[dict[str, Any]]) -> float:
    """What skip pauses left out of the file (the metadata's pause timeline). A pause Asterisk
    refused (`failed`) never stopped the recording; one still open is not counted."""
    return sum(
        float(p.get("seconds") or 0.0)
        for p in pauses
        if p.get("behavior") == "skip" and p.get("ended_by") != "failed"
    )


def prove(
    *,
    audio: float,
    connected: float | None,
    seen: bool | None,
    pauses: Sequence[dict[str, Any]],
    tolerance: float,
    failure: str | None = None,
) -> Proof:
    """The verdict on one recording. `connected`: its connected time (None: unknown); `seen`
    False when the end of that time was learned by reconciliation (then it is an upper bound only,
    and only an empty file can be judged); `failure`: why a selected segment was never recorded."""
    skipped = skipped_seconds(pauses)
    expected = None if connected is None else max(0.0, connected - skipped)
    if failure is not None:
        why = f"selected, not recorded: {failure}"
        return Proof(expected, 0.0, skipped, tolerance, False, GapKind.NOT_RECORDED, why)
    if audio <= 0.0 and not (expected is not None and expected < NO_FRAME_YET):
        return Proof(expected, audio, skipped, tolerance, False, GapKind.EMPTY, "the file holds no audio")
    if expected is None:
        return Proof(None, audio, skipped, tolerance, None, None, "the segment's connected time is not known")
    if seen is False:
        why = "the segment's end fell while the event stream was down: its true length is not known"
        return Proof(None, audio, skipped, tolerance, None, None, why)
    missing = expected - audio
    if missing > tolerance:
        why = f"the file is {missing:.3f} s shorter than its segment (tolerance {tolerance:g} s)"
        return Proof(expected, audio, skipped, tolerance, False, GapKind.SHORT, why)
    return Proof(expected, audio, skipped, tolerance, True)
