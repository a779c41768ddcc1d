"""Webchats: which segments of an ended chat get a transcript, and the transcript's text. Pure.

RECORDING-RULES.md, "Webchat": a chat's transcript follows the same rules per segment as a call
(`policy.decide`), and is produced once the conversation has ended, never before; if any agent the
chat was transferred to has not consented, no transcript is produced at all.

A segment runs from its agent's start to the next segment's start (the last one to the chat's
end). A segment's transcript holds the messages of that stretch; what was said before the first
agent joined (a bot, the customer waiting) belongs to no segment, as a call's waiting time is in
no recording.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from ari_recorder.domain.policy import (
    AgentPolicy,
    CompanyPolicy,
    Decision,
    Interaction,
    QueuePolicy,
    decide,
)


class Sender(enum.Enum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"  # the platform's own lines: "transferred to ...", a bot


@dataclass(frozen=True)
class Message:
    at: datetime
    sender: Sender
    text: str


@dataclass(frozen=True)
class ChatSegment:
    number: int  # from 1, in order
    agent: AgentPolicy
    queue: QueuePolicy | None  # the queue it came through (a transfer to a queue changes it)
    started_at: datetime
    ended_at: datetime  # the next segment's start, or the chat's end


@dataclass(frozen=True)
class Chat:
    interaction: Interaction
    started_at: datetime
    ended_at: datetime
    segments: tuple[ChatSegment, ...]
    messages: tuple[Message, ...]  # in time order

    def messages_of(self, segment: ChatSegment) -> tuple[Message, ...]:
        last = segment.number == len(self.segments)
        return tuple(
            m
            for m in self.messages
            if segment.started_at <= m.at and (m.at < segment.ended_at or (last and m.at <= segment.ended_at))
        )


@dataclass(frozen=True)
class SegmentVerdict:
    segment: ChatSegment
    decision: Decision  # whether a transcript of this segment is produced, and what selected it


def decide_chat(chat: Chat, company: CompanyPolicy) -> tuple[SegmentVerdict, ...]:
    """Each segment's decision, by the call rules; none recorded when any agent has not consented."""
    verdicts = [
        SegmentVerdict(s, decide(company, s.queue, s.agent, _as_segment_interaction(chat, s)))
        for s in chat.segments
    ]
    refusing = [s.agent.agent for s in chat.segments if not s.agent.permit_recordings]
    if not refusing:
        return tuple(verdicts)
    why = (
        f"no transcript for this chat: agent {', '.join(dict.fromkeys(refusing))} has not consented "
        "to recording (a chat transferred to such an agent is never recorded)"
    )
    return tuple(SegmentVerdict(v.segment, Decision(False, (), why)) for v in verdicts)


def _as_segment_interaction(chat: Chat, segment: ChatSegment) -> Interaction:
    """The interaction as the segment's queue sees it (a rule may match on the queue)."""
    queue = segment.queue.queue if segment.queue is not None else None
    return Interaction(chat.interaction.id, chat.interaction.direction, queue, chat.interaction.metadata)


def transcript(chat: Chat, segment: ChatSegment) -> str:
    """The segment's transcript as UTF-8 text: a heading, then one line per message (UTC time,
    who, text); a message's further lines indented under it; control characters removed."""
    queue = segment.queue.queue if segment.queue is not None else "none"
    lines = [
        f"# webchat {chat.interaction.id}, segment {segment.number}: agent {segment.agent.agent}, "
        f"queue {queue}",
        f"# from {_stamp(segment.started_at)} to {_stamp(segment.ended_at)}",
    ]
    for message in chat.messages_of(segment):
        who = f"agent {segment.agent.agent}" if message.sender is Sender.AGENT else message.sender.value
        first, *rest = _printable(message.text).split("\n")
        lines.append(f"{_stamp(message.at)} {who}: {first}")
        lines.extend(f"    {line}" for line in rest)
    return "\n".join(lines) + "\n"


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# Every character some viewer takes for a line's end (str.splitlines's, Unicode's mandatory
# breaks): U+2028 and U+2029 show as new lines in browsers and editors, though not in a terminal.
LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# Characters drawn as nothing that are not format characters (Cf, removed by category): the
# combining grapheme joiner, Hangul fillers, Khmer's inherent vowels, Mongolian and Unicode's
# variation selectors (Unicode's Default_Ignorable_Code_Point, less what Cf already holds).
INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)


def _printable(text: str) -> str:
    """Every kind of line break as \\n (the message's next line, indented), tabs as spaces; every
    other control, format (bidirectional controls, zero-width characters), separator, surrogate,
    private or unassigned character and every invisible one dropped: a transcript line cannot be
    forged or hidden by what the customer typed."""
    text = LINE_BREAK.sub("\n", text).replace("\t", " ")
    text = INVISIBLE.sub("", text)
    if text.replace("\n", "").isprintable():  # in C: no control, format, separator but " "
        return text
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
