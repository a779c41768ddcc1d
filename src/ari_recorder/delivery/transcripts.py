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
from pathlib import Path
from typing import Any

from ari_recorder.delivery import crypto
from ari_recorder.delivery.naming import render
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.delivery.sidecar import TranscriptFile, build, encode
from ari_recorder.domain import ids
from ari_recorder.domain.chat import Chat, ChatSegment, SegmentVerdict, transcript
from ari_recorder.files import private_dir
from ari_recorder.storage.chats import SIDE, Written, queue_chat
from ari_recorder.storage.deliveries import Kind, Spooled
from ari_recorder.storage.recordings import Facts

EXTENSION = "txt"
FORMAT = "text/plain; charset=utf-8"
__all__ = ["SIDE", "TranscriptSpool", "Written", "queue_chat", "recording_name"]


def recording_name(chat: Chat, number: int) -> str:
    return ids.transcript(chat.interaction.id, number)


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
