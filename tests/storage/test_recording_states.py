"""A recording's life cycle and a delivery row's: one enum each, their transitions enforced."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ari_recorder.storage import deliveries, recordings
from ari_recorder.storage.recordings import IllegalTransition, RecordingState
from ari_recorder.storage.tables import RecordingRow

R = RecordingState


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (R.RECORDING, R.READY),
        (R.RECORDING, R.UNRECORDED),
        (R.READY, R.SPOOLED),
        (R.SPOOLED, R.FETCHED),
        (R.UNRECORDED, R.REPORTED),
    ],
)
def test_a_recording_goes_where_its_life_cycle_leads(frm: RecordingState, to: RecordingState) -> None:
    row = RecordingRow(name="r", state=frm.value)
    now = datetime.now(UTC)
    recordings.move(row, to, now)
    assert (row.state, row.finished_at) == (to, now)


@pytest.mark.parametrize(
    ("frm", "to"),
    [(R.READY, R.RECORDING), (R.FETCHED, R.READY), (R.WRITTEN, R.SPOOLED), (R.RECORDING, R.SPOOLED)],
)
def test_and_nowhere_else(frm: RecordingState, to: RecordingState) -> None:
    row = RecordingRow(name="r", state=frm.value)
    with pytest.raises(IllegalTransition, match=f"{frm} -> {to}"):
        recordings.move(row, to)
    assert row.state == frm


def test_every_state_is_reachable_from_a_first_state() -> None:
    seen, todo = set(recordings.INITIAL), list(recordings.INITIAL)
    while todo:
        for nxt in recordings.TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(RecordingState)
    assert recordings.sources(R.SPOOLED) == {R.READY}


def test_a_delivery_row_goes_only_where_the_queue_leads() -> None:
    S = deliveries.State
    deliveries.allowed(S.PENDING, S.UPLOADING)
    deliveries.allowed(S.DEAD, S.PENDING)
    with pytest.raises(deliveries.IllegalTransition):
        deliveries.allowed(S.DONE, S.PENDING)
    assert set(deliveries.TRANSITIONS) == set(S)
