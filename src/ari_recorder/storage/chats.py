"""Webchats in the database: a reported chat written whole (interaction, attached data, segments
with their decisions, a recording per transcript kept, its delivery rows due at once, its audit
row) in one transaction, and read back; who read one, in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ari_recorder.domain.chat import Chat, SegmentVerdict
from ari_recorder.storage import audit
from ari_recorder.storage.calls import decision_entry
from ari_recorder.storage.deliveries import Spooled, queued_row
from ari_recorder.storage.recordings import RecordingState
from ari_recorder.storage.tables import AttachedDataRow, InteractionRow, RecordingRow, SegmentRow

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store

SIDE = "chat"  # a transcript's side (and the {side} of the name template): it holds both parties


@dataclass(frozen=True)
class Written:
    """A segment's transcript and its metadata, encrypted in the spool, not yet queued."""

    recording: str  # the transcript's name, as a recording's ("chat-<id>-<segment>")
    verdict: SegmentVerdict
    files: tuple[Spooled, ...]


async def queue_chat(
    store: Store,
    chat: Chat,
    verdicts: tuple[SegmentVerdict, ...],
    written: list[Written],
    *,
    digest: str,
    actor: str,
    now: datetime,
) -> bool:
    """The chat, its decisions, its transcripts' delivery rows and its audit row, in one
    transaction. False, with nothing written, when a chat of this id was already received."""
    by_segment = {w.verdict.segment.number: w for w in written}
    try:
        async with store.sessions.begin() as session:
            session.add(_interaction_row(chat, digest))
            await session.flush()  # a second report of the chat stops here
            metadata = chat.interaction.metadata
            session.add_all(
                AttachedDataRow(interaction_id=chat.interaction.id, key=k, value=v)
                for k, v in metadata.items()
            )
            for verdict in verdicts:
                kept = by_segment.get(verdict.segment.number)
                session.add(_segment_row(chat, verdict, kept))
                detail = _decision(chat, verdict, kept)
                await audit.write(session, decision_entry(chat.interaction.id, detail, now))
                if kept is not None:
                    session.add(_recording_row(chat, kept))
                    session.add_all(queued_row(kept.recording, f, now, chat.ended_at) for f in kept.files)
            await session.flush()
            await audit.write(session, _audit_entry(chat, verdicts, written, digest, actor, now))
    except IntegrityError:
        return False
    return True


def _interaction_row(chat: Chat, digest: str) -> InteractionRow:
    return InteractionRow(
        id=chat.interaction.id,
        media="webchat",
        report_sha256=digest,
        direction=chat.interaction.direction.value,
        queue=chat.interaction.queue,
        customer_channel="",
        phase="ended",
        started_at=chat.started_at,
        ended_at=chat.ended_at,
    )


def _segment_row(chat: Chat, verdict: SegmentVerdict, kept: Written | None) -> SegmentRow:
    segment = verdict.segment
    return SegmentRow(
        interaction_id=chat.interaction.id,
        number=segment.number,
        agent=segment.agent.agent,
        channel="webchat",
        recorded=kept is not None,
        levels=verdict.decision.levels_json(),
        reason=verdict.decision.reason,
        recording=kept.recording if kept is not None else None,
        started_at=segment.started_at,
        queue=segment.queue.queue if segment.queue is not None else None,
    )


def _decision(chat: Chat, verdict: SegmentVerdict, kept: Written | None) -> dict[str, Any]:
    return {
        "interaction": chat.interaction.id,
        "media": "webchat",
        "segment": verdict.segment.number,
        "agent": verdict.segment.agent.agent,
        "selected": verdict.decision.record,
        "recorded": kept is not None,
        "levels": verdict.decision.levels_json(),
        "reason": verdict.decision.reason,
        "recording": kept.recording if kept is not None else None,
    }


def _recording_row(chat: Chat, kept: Written) -> RecordingRow:
    segment = kept.verdict.segment
    return RecordingRow(
        name=kept.recording,
        interaction_id=chat.interaction.id,
        segment=segment.number,
        side=SIDE,
        channels=1,
        state=RecordingState.WRITTEN,
        levels=kept.verdict.decision.levels_json(),
        started_at=segment.started_at,
        finished_at=segment.ended_at,
        pauses=[],
    )


def _audit_entry(
    chat: Chat,
    verdicts: tuple[SegmentVerdict, ...],
    written: list[Written],
    digest: str,
    actor: str,
    now: datetime,
) -> audit.Entry:
    return audit.Entry(
        id=audit.audit_id("chat", chat.interaction.id, "received"),
        at=now,
        actor=actor,
        action="chat-received",
        subject=chat.interaction.id,
        detail={
            "segments": [
                {"segment": v.segment.number, "agent": v.segment.agent.agent, "reason": v.decision.reason}
                for v in verdicts
            ],
            "transcripts": [w.recording for w in written],
            "report_sha256": digest,
        },
    )


@dataclass(frozen=True)
class StoredChat:
    """A chat as received before: its report's digest and its segments as decided."""

    media: str  # "webchat"; another media: the id is not a chat's
    report_sha256: str | None
    segments: list[SegmentRow]


async def stored_chat(store: Store, chat: str) -> StoredChat | None:
    """The interaction of this id, with its segments; None if there is none."""
    async with store.sessions() as session:
        interaction = await session.get(InteractionRow, chat)
        if interaction is None:
            return None
        rows = (
            await session.scalars(
                select(SegmentRow).where(SegmentRow.interaction_id == chat).order_by(SegmentRow.number)
            )
        ).all()
    return StoredChat(interaction.media, interaction.report_sha256, list(rows))


async def chat_read(store: Store, chat: str, actor: str, now: datetime) -> None:
    """Someone read what was decided for a chat: the access in the audit trail (each a row)."""
    detail = {"what": "the chat's segments, decisions and transcripts"}
    key = audit.audit_id("read", chat, repeatable=True)
    await audit.write_now(store, audit.Entry(key, now, "metadata-read", chat, detail, actor))
