"""From an ended webchat to the spool and the queue: what a recording's fetch is for a call.

Each transcript chosen (domain/chat.py) is encrypted into the spool with its metadata sidecar,
straight from memory: its plaintext never touches the disk. Then one transaction writes the chat
(interaction, attached data, segments with their decisions, a recording per transcript), one
delivery row per file, due at once, and the audit row. Either all of it is there or none: a
failure before the commit removes this attempt's files, and a chat reported twice keeps the first
report's rows (the second's files are removed; the caller is told it was already received).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from ari_recorder.delivery import crypto
from ari_recorder.delivery.naming import render
from ari_recorder.delivery.queue import WRITTEN, Facts, Kind, Spooled, queued_row
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.delivery.sidecar import TranscriptFile, build, encode
from ari_recorder.domain.chat import Chat, ChatSegment, SegmentVerdict, transcript
from ari_recorder.files import private_dir
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import AttachedDataRow, AuditRow, InteractionRow, RecordingRow, SegmentRow

EXTENSION = "txt"
FORMAT = "text/plain; charset=utf-8"
SIDE = "chat"  # the {side} of the name template: a transcript holds both parties


@dataclass(frozen=True)
class Written:
    """A segment's transcript and its metadata, encrypted in the spool, not yet queued."""

    recording: str  # the transcript's name, as a recording's ("chat-<id>-<segment>")
    verdict: SegmentVerdict
    files: tuple[Spooled, ...]


def recording_name(chat: Chat, number: int) -> str:
    return f"chat-{chat.interaction.id}-{number}"


class TranscriptSpool:
    def __init__(self, settings: DeliverySettings, keys: list[Any]) -> None:
        self.settings, self.keys = settings, keys
        self.out = settings.spool / "out"

    async def write(self, chat: Chat, verdict: SegmentVerdict) -> Written:
        """The segment's transcript and sidecar, encrypted, fsynced, in place in the spool."""
        segment = verdict.segment
        name = recording_name(chat, segment.number)
        # A name of this attempt's own: a chat reported twice at once must not overwrite the
        # files the other report's rows point at.
        base = f"{name}.{uuid.uuid4().hex[:12]}"
        fields = _name_fields(chat, verdict, name)
        remote = render(self.settings.name_template, ext=EXTENSION, **fields) + ".age"
        meta_remote = render(self.settings.name_template, ext="json", **fields)
        meta_name = f"{base}.json"
        if self.settings.encrypt_metadata:
            meta_remote, meta_name = meta_remote + ".age", meta_name + ".age"
        text_name = f"{base}.{EXTENSION}.age"
        try:
            await asyncio.to_thread(private_dir, self.out)
            text, count = await asyncio.to_thread(_text, chat, segment)  # a large chat: off the loop
            sealed = await asyncio.to_thread(crypto.write_sealed, text, self.out / text_name, self.keys)
            document = _sidecar(chat, verdict, name, remote, sealed, count)
            keys = self.keys if self.settings.encrypt_metadata else None
            meta = await asyncio.to_thread(crypto.write_sealed, document, self.out / meta_name, keys)
        except BaseException:
            self._remove(text_name, meta_name)
            raise
        return Written(
            name,
            verdict,
            (
                Spooled(Kind.TRANSCRIPT, remote, f"out/{text_name}", sealed.size, sealed.sha256),
                Spooled(Kind.METADATA, meta_remote, f"out/{meta_name}", meta.size, meta.sha256),
            ),
        )

    def discard(self, written: list[Written]) -> None:
        """This attempt's files out of the spool (it failed, or the chat was already received)."""
        self._remove(*(Path(f.spool_path).name for w in written for f in w.files))

    def _remove(self, *names: str) -> None:
        for name in names:
            crypto.discard(self.out / name)


def _text(chat: Chat, segment: ChatSegment) -> tuple[bytes, int]:
    """The segment's transcript as UTF-8, and how many messages it holds."""
    return transcript(chat, segment).encode(), len(chat.messages_of(segment))


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
                if kept is not None:
                    session.add(_recording_row(chat, kept))
                    session.add_all(queued_row(kept.recording, f, now, chat.ended_at) for f in kept.files)
            await session.flush()
            session.add(_audit_row(chat, verdicts, written, digest, actor, now))
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
    )


def _recording_row(chat: Chat, kept: Written) -> RecordingRow:
    segment = kept.verdict.segment
    return RecordingRow(
        name=kept.recording,
        interaction_id=chat.interaction.id,
        segment=segment.number,
        side=SIDE,
        channels=1,
        state=WRITTEN,
        levels=kept.verdict.decision.levels_json(),
        started_at=segment.started_at,
        finished_at=segment.ended_at,
        pauses=[],
    )


def _audit_row(
    chat: Chat,
    verdicts: tuple[SegmentVerdict, ...],
    written: list[Written],
    digest: str,
    actor: str,
    now: datetime,
) -> AuditRow:
    return AuditRow(
        id=f"chat/{chat.interaction.id}/received",
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


def _name_fields(chat: Chat, verdict: SegmentVerdict, name: str) -> dict[str, object]:
    segment = verdict.segment
    return {
        "date": segment.started_at.date().isoformat(),
        "queue": segment.queue.queue if segment.queue is not None else "no-queue",
        "interaction": chat.interaction.id,
        "segment": segment.number,
        "agent": segment.agent.agent,
        "side": SIDE,
        "recording": name,
        "direction": chat.interaction.direction.value,
    }


def _sidecar(
    chat: Chat, verdict: SegmentVerdict, name: str, remote: str, sealed: crypto.Sealed, messages: int
) -> bytes:
    """The transcript's sidecar, built as an audio recording's is (delivery/sidecar.py)."""
    segment = verdict.segment
    facts = Facts(
        recording=name,
        interaction=chat.interaction.id,
        segment=segment.number,
        side=SIDE,
        agent=segment.agent.agent,
        queue=segment.queue.queue if segment.queue is not None else None,
        direction=chat.interaction.direction.value,
        levels=verdict.decision.levels_json(),
        reason=verdict.decision.reason,
        attached=dict(chat.interaction.metadata),
        started_at=segment.started_at,
        finished_at=segment.ended_at,
    )
    text = TranscriptFile(remote, FORMAT, messages, sealed.plain_size, sealed.plain_sha256)
    return encode(build(facts, file=text, chat=(chat.started_at, chat.ended_at)))
