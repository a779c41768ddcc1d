"""Calls' lasting state: each call written after every step (its interaction, segments and
recordings, the facts it states in the audit trail, and its snapshot to resume it), and the
calls a previous controller left open.

A call is written before its actions are carried out, so that a restarted controller knows what
was its own (the ids are deterministic) and what was recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_recorder.domain.call import Call, Phase, Segment, legs
from ari_recorder.domain.pausing import Pause
from ari_recorder.domain.policy import RecordSide
from ari_recorder.metrics import UNENCRYPTED
from ari_recorder.storage import audit, snapshots
from ari_recorder.storage.recordings import RecordingState, move
from ari_recorder.storage.tables import AttachedDataRow, InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store


async def save_calls(store: Store, calls: list[Call]) -> None:
    """Several calls' states in one transaction (the persister batches them under load)."""
    now = datetime.now(UTC)
    async with store.sessions.begin() as session:
        for call in calls:
            await _save_call(session, call, now, store.keeps_unencrypted)


async def _save_call(session: AsyncSession, call: Call, now: datetime, keeps_unencrypted: bool) -> None:
    row = await session.get(InteractionRow, call.id)
    new = row is None
    if row is None:
        row = InteractionRow(
            id=call.id,
            direction=call.interaction.direction.value,
            queue=call.interaction.queue,
            customer_channel=call.customer,
            phase=call.phase.value,
            started_at=now,
        )
        session.add(row)
    row.phase = call.phase.value
    row.state = snapshots.dump(call)
    if call.announced is not None and row.announcement != call.announced:
        row.announcement = call.announced
        if call.announced != "played":
            await _audit_once(
                session,
                audit.audit_id("announcement", call.id, "failed"),
                "announcement-failed",
                call.id,
                {
                    "call": call.id,
                    "announcement": call.announcement,
                    "why": call.announced,
                    "then": call.on_announcement_failure,
                },
                now,
            )
    if call.phase is Phase.ENDED and row.ended_at is None:
        row.ended_at = now
    await session.flush()  # the interaction first: the other rows refer to it
    if new:
        for key, value in call.interaction.metadata.items():
            session.add(AttachedDataRow(interaction_id=call.id, key=key, value=value))
    for segment in call.segments:
        await _save_segment(session, call, segment, now, keeps_unencrypted)
    for pause in call.pauses:
        await _audit_pause(session, call, pause)
    for limit in call.pause_limits:
        facts = {
            "call": call.id,
            "segment": limit.segment,
            "agent": limit.agent,
            "by": limit.by,
            "source": limit.source.value,
            "at": _when(limit.at),
            "max_pauses_per_segment": limit.limit,
        }
        key = audit.audit_id("pause", call.id, limit.segment, "limit")
        await _audit_once(session, key, "pause-refused", limit.recording, facts, now)


async def _save_segment(
    session: AsyncSession, call: Call, segment: Segment, now: datetime, keeps_unencrypted: bool
) -> None:
    if await session.get(SegmentRow, (call.id, segment.number)) is None:
        levels = segment.decision.levels_json()
        session.add(
            SegmentRow(
                interaction_id=call.id,
                number=segment.number,
                agent=segment.agent,
                channel=segment.channel,
                recorded=segment.recording is not None,
                levels=levels,
                reason=segment.decision.reason,
                recording=segment.recording,
                started_at=now,
                queue=segment.queue,
            )
        )
        await audit.write(session, decision_entry(call.id, segment_decision(call, segment), now))
    if segment.recording is None:
        return
    recording = await session.get(RecordingRow, segment.recording)
    if recording is None:
        side = call.queue.record_side if call.queue else RecordSide.AGENT
        recording = RecordingRow(
            name=segment.recording,
            interaction_id=call.id,
            segment=segment.number,
            side=side.value,
            channels=call.channels,
            state=RecordingState.RECORDING,
            levels=segment.decision.levels_json(),
            started_at=now,
        )
        session.add(recording)
    pauses = [pause_json(p) for p in call.pauses if p.recording == segment.recording]
    if recording.pauses != pauses:
        recording.pauses = pauses
    began = dict(call.began).get(legs(segment.recording, call.channels)[0])
    if began is not None and segment.answered is not None and recording.start_offset_seconds is None:
        recording.start_offset_seconds = round(max(0.0, began - segment.answered), 3)
    window = call.window(segment.recording)
    first = next((s for s in call.segments if s.recording == segment.recording), segment)
    if window is not None and first.answered is not None and recording.connected_seconds is None:
        recording.connected_seconds = round(max(0.0, window.ended - first.answered), 3)
        recording.connected_seen = window.seen
    failure = call.failure(segment.recording)
    if failure is not None and recording.failure is None:
        recording.failure = failure
        if recording.state == RecordingState.RECORDING:
            move(recording, RecordingState.UNRECORDED, now)
        facts = {
            "call": call.id,
            "segment": segment.number,
            "agent": segment.agent,
            "why": failure,
            "then": call.on_record_failure,
        }
        await _audit_once(
            session,
            audit.audit_id("recording", segment.recording, "not-recorded"),
            "not-recorded",
            segment.recording,
            facts,
            now,
        )
    if failure is not None:
        return
    still = set(legs(segment.recording, call.channels)) & call.recordings_open
    if not still and recording.state == RecordingState.RECORDING and window is not None:
        # Finished in Asterisk, and its segment over (a file that ended before its segment did
        # waits for that end, so that the proof of recording can hold it against the
        # segment): ready for the delivery stage to fetch.
        move(recording, RecordingState.READY, now)
        if keeps_unencrypted:
            recording.kept_unencrypted = True
            UNENCRYPTED.inc()


def segment_decision(call: Call, segment: Segment) -> dict[str, Any]:
    """What was decided for a segment, as its audit row says it."""
    return {
        "interaction": call.id,
        "media": "voice",
        "segment": segment.number,
        "agent": segment.agent,
        "selected": segment.decision.record,
        "recorded": segment.recording is not None,
        "levels": segment.decision.levels_json(),
        "reason": segment.decision.reason,
        "recording": segment.recording,
    }


def decision_entry(interaction: str, detail: dict[str, Any], now: datetime) -> audit.Entry:
    """A segment's decision in the audit trail: one row per segment (its id is the segment's),
    about `segment/<interaction>/<n>` (the detail names its recording, if any)."""
    key = audit.audit_id("decision", interaction, detail["segment"])
    return audit.Entry(key, now, "decision", f"segment/{interaction}/{detail['segment']}", detail)


async def open_calls(store: Store) -> list[Call]:
    """Calls a previous controller did not see to their end (or whose recordings had not
    finished), as it left them: to be resumed and reconciled with Asterisk."""
    async with store.sessions() as session:
        rows = (await session.scalars(select(InteractionRow).where(InteractionRow.state.is_not(None)))).all()
    calls = [snapshots.load(row.state) for row in rows if row.state is not None]
    return [call for call in calls if call.phase is not Phase.ENDED or call.recordings_open]


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def pause_json(pause: Pause) -> dict[str, Any]:
    """One pause as the recording's metadata gives it."""
    return {
        "number": pause.number,
        "segment": pause.segment,
        "agent": pause.agent,
        "by": pause.by,
        "source": pause.source.value,
        "behavior": pause.behavior,
        "started_at": _when(pause.started),
        "offset_seconds": None if pause.offset is None else round(pause.offset, 3),
        "ended_at": _when(pause.ended),
        "seconds": None if pause.ended is None else round(pause.ended - pause.started, 3),
        "ended_by": pause.ending.value if pause.ending else None,
        "resumed_by": pause.closed_by,
    }


async def _audit_pause(session: AsyncSession, call: Call, pause: Pause) -> None:
    """A pause's start and end in the audit trail, each written once however often the call is."""
    facts = {"call": call.id, **pause_json(pause)}
    entries = [(audit.audit_id("pause", call.id, pause.number, "start"), pause.by, "pause", pause.started)]
    if pause.ended is not None:
        actor = pause.closed_by or "controller"
        key = audit.audit_id("pause", call.id, pause.number, "end")
        entries.append((key, actor, "pause-ended", pause.ended))
    for key, actor, action, at in entries:
        when = datetime.fromtimestamp(at, UTC)
        await audit.write(session, audit.Entry(key, when, action, pause.recording, facts, actor))


async def _audit_once(
    session: AsyncSession, key: str, action: str, subject: str, detail: dict[str, Any], now: datetime
) -> None:
    """A fact the controller states in the audit trail, once however often the call is written."""
    await audit.write(session, audit.Entry(key, now, action, subject, detail))
