"""Ended webchats, as the chat platform reports them, to transcripts on their way to the platform.

`ChatReport` is what `POST /api/v1/chats` takes: the whole conversation, once it has ended (a
transcript is produced then, never before). `ChatIntake.receive` checks it against the settings,
decides each segment by the call rules (domain/chat.py), writes the chosen transcripts encrypted
into the spool and queues them (delivery/transcripts.py), and wakes the upload workers.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec

from ari_recorder import errors, metrics
from ari_recorder.delivery import crypto
from ari_recorder.delivery.transcripts import TranscriptSpool, Written, queue_chat
from ari_recorder.domain import moments, partitions
from ari_recorder.domain.chat import Chat, ChatSegment, Message, SegmentVerdict, Sender, decide_chat
from ari_recorder.domain.policy import Direction, Interaction, InteractionId, QueueId
from ari_recorder.engine.inbound import agent_policy, company_policy, queue_policy
from ari_recorder.engine.live_settings import LiveSettings, as_live
from ari_recorder.settings import Settings
from ari_recorder.storage.chats import chat_read, stored_chat
from ari_recorder.storage.store import Store

Moment = Annotated[datetime, msgspec.Meta(tz=True)]  # with its offset: no guessing the zone
# As the API document says (api/openapi.py's CHAT_ID), but \Z: Python's $ lets a newline through.
ChatId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# A chat's end a little ahead of this host's clock is the two clocks disagreeing; more is a chat
# that has not ended.
CLOCK_SKEW = timedelta(seconds=60)


class MessageReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    at: Moment
    sender: Literal["customer", "agent", "system"] = msgspec.field(name="from")
    text: Annotated[str, msgspec.Meta(max_length=65_536)]


class SegmentReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent: Name
    started_at: Moment  # when the agent joined; the segment runs to the next one's start
    queue: Name | None = None  # the chat's queue unless the chat was transferred to another


class ChatReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: ChatId  # the chat platform's; the interaction's id here
    queue: Name
    started_at: Moment
    ended_at: Moment
    segments: list[SegmentReport]  # in order; none: the chat never reached an agent
    messages: list[MessageReport]
    direction: Literal["inbound", "outbound"] = "inbound"
    customer: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    attached: dict[Name, Annotated[str, msgspec.Meta(max_length=1024)]] = msgspec.field(default_factory=dict)


class BadChat(errors.Unprocessable):
    """A report that does not hold together, or names what the settings do not know."""

    id = "bad-chat"


class Conflict(errors.Conflict):
    """The id is another interaction's (a call's), or a chat's received before with other contents."""

    id = "chat-conflict"


class NotConfigured(errors.Unavailable):
    """A transcript is due, but there is no age recipient to encrypt it to."""

    id = "not-configured"


@dataclass(frozen=True)
class SegmentOutcome:
    segment: int
    agent: str
    recorded: bool
    levels: list[dict[str, str]]
    reason: str
    transcript: str | None  # the recording's name


@dataclass(frozen=True)
class ChatOutcome:
    chat: str
    segments: list[SegmentOutcome]
    new: bool  # False: this chat had been received before; this is what was decided then
    report_sha256: str | None = None  # of the report that was received


def _beyond_the_calendar(report: ChatReport) -> list[str]:
    """The times that cannot be had in UTC (year 1 at a positive offset, 9999 at a negative one):
    named as wrong, before any of them is compared, converted or counted from."""
    given = [
        ("started_at", report.started_at),
        ("ended_at", report.ended_at),
        *((f"segments[{n}].started_at", s.started_at) for n, s in enumerate(report.segments)),
        *((f"messages[{n}].at", m.at) for n, m in enumerate(report.messages)),
    ]
    return [
        f"{name}: {moment.isoformat()} is beyond the calendar in UTC (years 1 to 9999)"
        for name, moment in given
        if moments.in_utc(moment) is None
    ]


def build_chat(settings: Settings, report: ChatReport, now: datetime) -> Chat:
    """The chat as the rules see it; BadChat names what is wrong."""
    problems = _beyond_the_calendar(report)
    if problems:
        raise BadChat("; ".join(problems))
    if report.queue not in settings.queues:
        problems.append(f"queue: no queue {report.queue!r}")
    if report.ended_at < report.started_at:
        problems.append("ended_at: before started_at")
    if report.ended_at > now + CLOCK_SKEW:
        problems.append(
            f"ended_at: {report.ended_at.isoformat()} is in the future: a transcript is produced once "
            "the conversation has ended, never before"
        )
    for n, segment in enumerate(report.segments):
        if segment.agent not in settings.agents:
            problems.append(f"segments[{n}].agent: no agent {segment.agent!r}")
        if segment.queue is not None and segment.queue not in settings.queues:
            problems.append(f"segments[{n}].queue: no queue {segment.queue!r}")
        earliest = report.segments[n - 1].started_at if n else report.started_at
        if not earliest <= segment.started_at <= report.ended_at:
            problems.append(f"segments[{n}].started_at: not between the previous start and the chat's end")
    problems += [
        f"messages[{n}].at: outside the chat (started_at to ended_at)"
        for n, message in enumerate(report.messages)
        if not report.started_at <= message.at <= report.ended_at
    ]
    of_queue = settings.queues[report.queue].partitions if report.queue in settings.queues else []
    metadata, wrong = partitions.attach(report.attached, of_queue)
    problems += [f"attached.partitions: {name!r} is not a partition name" for name in wrong]
    if problems:
        raise BadChat("; ".join(problems))
    if report.customer is not None:
        metadata["customer"] = report.customer
    interaction = Interaction(
        InteractionId(report.id), Direction(report.direction), QueueId(report.queue), metadata
    )
    # Each segment runs to the next one's start, the last to the chat's end.
    ends = [s.started_at for s in report.segments[1:]] + [report.ended_at]
    segments = tuple(
        _segment(settings, n, segment, end, segment.queue or report.queue)
        for n, (segment, end) in enumerate(zip(report.segments, ends[: len(report.segments)], strict=True), 1)
    )
    messages = tuple(
        sorted(
            (Message(_utc(m.at), Sender(m.sender), m.text) for m in report.messages),
            key=lambda m: m.at,
        )
    )
    return Chat(interaction, _utc(report.started_at), _utc(report.ended_at), segments, messages)


def _segment(
    settings: Settings, number: int, segment: SegmentReport, end: datetime, queue: str
) -> ChatSegment:
    return ChatSegment(
        number=number,
        agent=agent_policy(settings, segment.agent).policy,
        queue=queue_policy(queue, settings.queues[queue]),
        started_at=_utc(segment.started_at),
        ended_at=_utc(end),
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class ChatIntake:
    def __init__(
        self,
        settings: Settings | LiveSettings,
        store: Store,
        queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`queued` is told when transcripts wait for an upload (the delivery's wake)."""
        self.live = as_live(settings)  # the settings in force when each chat is decided
        settings = self.live.current
        self.store, self.queued, self.clock = store, queued, clock
        recipients = settings.delivery.age_recipients
        keys = crypto.recipients(recipients) if recipients else None
        self.spool = TranscriptSpool(settings.delivery, keys) if keys else None

    @property
    def settings(self) -> Settings:
        return self.live.current

    async def receive(self, report: ChatReport, actor: str) -> ChatOutcome:
        """Decide, write and queue the chat's transcripts; the same report again is not written
        again (its first outcome is returned). BadChat, Conflict (also for a different report of
        a chat received before: nothing is changed), NotConfigured; an OSError when the spool
        cannot be written (then nothing of this report is kept)."""
        # A whole chat may be 16 MiB: hashed, checked and decided in a thread, off the event loop.
        digest = await asyncio.to_thread(_digest, report)
        before = await self._received(report.id, digest)
        if before is not None:
            return before
        now = self.clock()
        chat, verdicts = await asyncio.to_thread(self._decide, report, now)
        chosen = [v for v in verdicts if v.decision.record]
        written: list[Written] = []
        if chosen:
            written = await self._write(chat, chosen)
        try:
            new = await queue_chat(self.store, chat, verdicts, written, digest=digest, actor=actor, now=now)
        except BaseException:
            self._discard(written)
            raise
        if not new:  # reported twice at once: the other report's rows stand
            self._discard(written)
            again = await self._received(report.id, digest)
            if again is None:
                raise RuntimeError(f"chat {report.id!r} was neither written nor found")
            return again
        metrics.chat_received(len(written), all(s.agent.permit_recordings for s in chat.segments))
        if written:
            self.queued()
        return _outcome(report.id, verdicts, written, digest)

    def _decide(self, report: ChatReport, now: datetime) -> tuple[Chat, tuple[SegmentVerdict, ...]]:
        chat = build_chat(self.settings, report, now)
        return chat, decide_chat(chat, company_policy(self.settings))

    async def _write(self, chat: Chat, chosen: list[SegmentVerdict]) -> list[Written]:
        if self.spool is None:
            raise NotConfigured(
                "delivery.age_recipients: no age public key to encrypt the transcript to; "
                "nothing of this chat was kept"
            )
        written: list[Written] = []
        try:
            for verdict in chosen:
                written.append(await self.spool.write(chat, verdict))
        except BaseException:
            self.spool.discard(written)
            raise
        return written

    def _discard(self, written: list[Written]) -> None:
        if self.spool is not None:
            self.spool.discard(written)

    async def read(self, chat: str, actor: str) -> ChatOutcome | None:
        """`outcome`, for someone asking: the access is in the audit trail (who read what, when)."""
        outcome = await self.outcome(chat)
        if outcome is not None:
            await chat_read(self.store, chat, actor, self.clock())
        return outcome

    async def _received(self, chat: str, digest: str) -> ChatOutcome | None:
        """The outcome of this very report received before; Conflict for another report."""
        outcome = await self.outcome(chat)
        if outcome is not None and outcome.report_sha256 != digest:
            raise Conflict(
                f"chat {chat!r} was received before with other contents; it is kept as first "
                "received (a transcript, once delivered, is not replaced)"
            )
        return outcome

    async def outcome(self, chat: str) -> ChatOutcome | None:
        """What was decided for a chat received before; None if never received; Conflict when
        the id is a call's."""
        stored = await stored_chat(self.store, chat)
        if stored is None:
            return None
        if stored.media != "webchat":
            raise Conflict(f"{chat!r} is the id of a {stored.media} interaction, not a chat's")
        segments = [
            SegmentOutcome(r.number, r.agent, r.recorded, list(r.levels), r.reason, r.recording)
            for r in stored.segments
        ]
        return ChatOutcome(chat, segments, new=False, report_sha256=stored.report_sha256)


def _digest(report: ChatReport) -> str:
    return hashlib.sha256(msgspec.json.encode(report)).hexdigest()  # of its fields, not its text


def _outcome(
    chat: str, verdicts: tuple[SegmentVerdict, ...], written: list[Written], digest: str
) -> ChatOutcome:
    names = {w.verdict.segment.number: w.recording for w in written}
    segments = [
        SegmentOutcome(
            v.segment.number,
            v.segment.agent.agent,
            v.segment.number in names,
            v.decision.levels_json(),
            v.decision.reason,
            names.get(v.segment.number),
        )
        for v in verdicts
    ]
    return ChatOutcome(chat, segments, new=True, report_sha256=digest)


def outcome_json(outcome: ChatOutcome) -> dict[str, Any]:
    return {
        "chat": outcome.chat,
        "already_received": not outcome.new,
        "segments": [
            {
                "segment": s.segment,
                "agent": s.agent,
                "recorded": s.recorded,
                "levels": s.levels,
                "reason": s.reason,
                "transcript": s.transcript,
            }
            for s in outcome.segments
        ],
    }
