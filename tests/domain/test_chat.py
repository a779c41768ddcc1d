"""RECORDING-RULES.md's "Webchat": per segment by the call rules, none at all without consent; the
transcript's text. Pure: no event loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ari_recorder.domain.chat import Chat, ChatSegment, Message, Sender, decide_chat, transcript
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Interaction,
    InteractionId,
    QueueId,
    QueuePolicy,
    Rule,
    decide,
)

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SUPPORT = QueuePolicy(QueueId("support"))


def chat_of(*agents: AgentPolicy, messages: tuple[Message, ...] = (), queue: QueuePolicy = SUPPORT) -> Chat:
    """A chat of one segment per agent, each 10 minutes long."""
    segments = tuple(
        ChatSegment(n, agent, queue, T0 + timedelta(minutes=10 * (n - 1)), T0 + timedelta(minutes=10 * n))
        for n, agent in enumerate(agents, start=1)
    )
    interaction = Interaction(InteractionId("chat-1"), queue=queue.queue, metadata={"lang": "fr"})
    return Chat(
        interaction, T0 - timedelta(minutes=1), T0 + timedelta(minutes=10 * len(agents)), segments, messages
    )


def agent(name: str, permit: bool = True, percent: int | None = None) -> AgentPolicy:
    return AgentPolicy(AgentId(name), permit, percent)


agents = st.builds(
    agent,
    st.sampled_from(["1001", "1002", "1003", "1004"]),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 100)),
)
companies = st.builds(
    CompanyPolicy,
    rules=st.sampled_from([(), (Rule("french", {"lang": ("fr",)}, 50),)]),
    compliance_all=st.booleans(),
)


@given(st.lists(agents, min_size=1, max_size=5), companies)
def test_each_segment_is_decided_as_a_calls_unless_an_agent_has_not_consented(
    chain: list[AgentPolicy], company: CompanyPolicy
) -> None:
    chat = chat_of(*chain)
    verdicts = decide_chat(chat, company)
    assert [v.segment for v in verdicts] == list(chat.segments)
    if all(a.permit_recordings for a in chain):
        assert [v.decision for v in verdicts] == [
            decide(company, SUPPORT, s.agent, chat.interaction) for s in chat.segments
        ]
    else:
        refusing = next(a.agent for a in chain if not a.permit_recordings)
        assert not any(v.decision.record for v in verdicts)
        assert all(refusing in v.decision.reason for v in verdicts)


def test_compliance_records_every_segment_but_not_past_a_refusing_agent() -> None:
    company = CompanyPolicy(compliance_all=True)
    assert [v.decision.record for v in decide_chat(chat_of(agent("1001"), agent("1002")), company)] == [
        True,
        True,
    ]
    refused = decide_chat(chat_of(agent("1001"), agent("1002"), agent("1003", permit=False)), company)
    assert [v.decision.record for v in refused] == [False, False, False]
    assert refused[0].decision.reason.startswith("no transcript for this chat: agent 1003 has not consented")


def test_a_transcript_holds_its_segments_messages_only_and_cannot_be_forged() -> None:
    say = [
        Message(T0 - timedelta(seconds=30), Sender.SYSTEM, "bot: hello"),  # before any agent
        Message(T0 + timedelta(seconds=5), Sender.CUSTOMER, "line one\r\nline two\tend"),
        Message(
            T0 + timedelta(seconds=6), Sender.AGENT, "ok\n2026-11-29T09:00:07Z agent 1001: forged? \x1b[2Jno"
        ),
        Message(T0 + timedelta(minutes=10), Sender.CUSTOMER, "to the next agent"),  # the next segment's start
        Message(T0 + timedelta(minutes=20), Sender.CUSTOMER, "bye"),  # the chat's very end: the last segment
    ]
    chat = chat_of(agent("1001"), agent("1002"), messages=tuple(say))
    first, second = (transcript(chat, s).splitlines() for s in chat.segments)
    assert first == [
        "# webchat chat-1, segment 1: agent 1001, queue support",
        "# from 2026-11-29T09:00:00Z to 2026-11-29T09:10:00Z",
        "2026-11-29T09:00:05Z customer: line one",
        "    line two end",
        "2026-11-29T09:00:06Z agent 1001: ok",
        "    2026-11-29T09:00:07Z agent 1001: forged? [2Jno",
    ]
    assert second[2:] == [
        "2026-11-29T09:10:00Z customer: to the next agent",
        "2026-11-29T09:20:00Z customer: bye",
    ]


# What some common viewer ends a line on: str.splitlines's breaks (Python, editors), Unicode's
# mandatory breaks (UAX #14: browsers, U+2028 and U+2029 among them), and what a terminal moves the
# cursor with (\x1b, the start of its escapes).
BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x1b")
# Bidirectional controls (a line's text shown in another order) and characters drawn as nothing.
HIDING = set(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u115f\u1160\u3164\ufe0f\U000e0041"
)
# A list joined, not st.text: st.text merges its alphabet into one range, where these few are lost.
typed = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from(["\u2028", "\u2029", "\u202e", "\u200b"]),  # hypothesis favours a list's first
        st.sampled_from(sorted(BREAKS | HIDING)),
        st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Mn"]),
    ),
    max_size=60,
).map("".join)


@given(st.lists(st.tuples(st.sampled_from(list(Sender)), typed), min_size=1, max_size=4))
def test_no_text_typed_can_start_a_line_of_a_transcript_or_hide_one(said: list[tuple[Sender, str]]) -> None:
    """Whatever is typed, each message starts exactly one line of the transcript (its own, with its
    time and sender); its further lines are indented, by every viewer's idea of a line."""
    messages = tuple(Message(T0 + timedelta(seconds=n), who, text) for n, (who, text) in enumerate(said))
    text = transcript(chat_of(agent("1001"), messages=messages), chat_of(agent("1001")).segments[0])
    assert not (set(text) & (BREAKS - {"\n"})), "only \\n ends a line"
    assert not (set(text) & HIDING)
    lines = text.splitlines()
    assert lines == text.split("\n")[:-1]
    starting = [line for line in lines[2:] if not line.startswith("    ")]
    assert starting == [
        line
        for line in starting
        if line.startswith(("2026-11-29T09:00:0", "2026-11-29T09:00:1")) and ": " in line
    ]
    assert len(starting) == len(said)


def test_unicode_line_separators_do_not_forge_an_agents_line() -> None:
    """The issue's case: U+2028 in a customer's message showed as a separate "agent" line."""
    forged = "fine\u20282026-11-29T09:00:07Z agent 1001: refund approved\u2029\u202eevil\u200b"
    chat = chat_of(agent("1001"), messages=(Message(T0 + timedelta(seconds=5), Sender.CUSTOMER, forged),))
    assert transcript(chat, chat.segments[0]).split("\n")[2:] == [
        "2026-11-29T09:00:05Z customer: fine",
        "    2026-11-29T09:00:07Z agent 1001: refund approved",
        "    evil",
        "",
    ]
