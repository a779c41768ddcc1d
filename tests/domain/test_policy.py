"""RECORDING-RULES.md's "Deciding", as tables and properties: no mocks, no event loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Direction,
    Interaction,
    InteractionId,
    Level,
    QueueId,
    QueuePolicy,
    Rule,
    decide,
    drawn,
)

A = AgentId("1001")
Q = QueueId("support")
CALL = Interaction(InteractionId("call-1"), queue=Q, metadata={"bu": "retail", "lang": "fr"})
FRENCH = Rule("french", {"lang": ("fr",)}, 100)

CASES = [
    # (company, queue %, agent permit, agent %, interaction, record?, levels)
    (CompanyPolicy(), None, True, 100, CALL, True, (Level.AGENT,)),
    (CompanyPolicy(), 100, True, None, CALL, True, (Level.QUEUE,)),
    (CompanyPolicy(), 100, True, 100, CALL, True, (Level.AGENT, Level.QUEUE)),
    (CompanyPolicy(), 0, True, 0, CALL, False, ()),
    (CompanyPolicy(), None, True, None, CALL, False, ()),
    (CompanyPolicy(rules=(FRENCH,)), None, True, None, CALL, True, (Level.RULE,)),
    (CompanyPolicy(rules=(Rule("german", {"lang": ("de",)}, 100),)), None, True, None, CALL, False, ()),
    (
        CompanyPolicy(rules=(Rule("retail", {"bu": ("retail", "b2c"), "queue": ("support",)}, 100),)),
        None,
        True,
        None,
        CALL,
        True,
        (Level.RULE,),
    ),
    (CompanyPolicy(compliance_all=True), None, True, None, CALL, True, (Level.COMPLIANCE,)),
    # Consent overrides everything: queue, rule, compliance.
    (CompanyPolicy(rules=(FRENCH,), compliance_all=True), 100, False, 100, CALL, False, ()),
    # Outbound calls are never recorded while outbound recording is off.
    (
        CompanyPolicy(outbound_recording=False, compliance_all=True),
        100,
        True,
        100,
        Interaction(InteractionId("out-1"), Direction.OUTBOUND),
        False,
        (),
    ),
    (
        CompanyPolicy(outbound_recording=True),
        None,
        True,
        100,
        Interaction(InteractionId("out-1"), Direction.OUTBOUND),
        True,
        (Level.AGENT,),
    ),
]


@pytest.mark.parametrize(
    ("company", "queue_pct", "permit", "agent_pct", "interaction", "record", "levels"), CASES
)
def test_decide(
    company: CompanyPolicy,
    queue_pct: int | None,
    permit: bool,
    agent_pct: int | None,
    interaction: Interaction,
    record: bool,
    levels: tuple[Level, ...],
) -> None:
    decision = decide(company, QueuePolicy(Q, queue_pct), AgentPolicy(A, permit, agent_pct), interaction)
    assert decision.record is record, decision.reason
    assert decision.levels == levels


ids = st.text(min_size=1, max_size=20)
percents = st.one_of(st.none(), st.integers(0, 100))


@given(ids, percents, percents, st.booleans(), st.booleans())
def test_a_non_permitted_agent_is_never_recorded(
    call: str, agent_pct: int | None, queue_pct: int | None, compliance: bool, rule: bool
) -> None:
    company = CompanyPolicy(rules=(FRENCH,) if rule else (), compliance_all=compliance)
    interaction = Interaction(InteractionId(call), queue=Q, metadata={"lang": "fr"})
    decision = decide(company, QueuePolicy(Q, queue_pct), AgentPolicy(A, False, agent_pct), interaction)
    assert not decision.record
    assert decision.selections == ()


@given(ids, ids)
def test_zero_never_and_a_hundred_always(call: str, subject: str) -> None:
    for level in Level:
        assert drawn(InteractionId(call), level, subject, 0) is False
        assert drawn(InteractionId(call), level, subject, None) is False
        assert drawn(InteractionId(call), level, subject, 100) is True


@given(ids, st.integers(0, 100))
def test_the_same_inputs_always_decide_the_same(call: str, pct: int) -> None:
    args = (
        CompanyPolicy(),
        QueuePolicy(Q, pct),
        AgentPolicy(A, True, pct),
        Interaction(InteractionId(call), queue=Q),
    )
    assert decide(*args) == decide(*args)


@pytest.mark.parametrize("percent", [1, 10, 30, 50, 90, 99])
def test_the_share_converges_on_the_percent(percent: int) -> None:
    n = 10_000
    agent = sum(drawn(InteractionId(f"call-{i}"), Level.AGENT, A, percent) for i in range(n))
    queue = sum(drawn(InteractionId(f"call-{i}"), Level.QUEUE, Q, percent) for i in range(n))
    both = sum(
        drawn(InteractionId(f"call-{i}"), Level.AGENT, A, percent)
        and drawn(InteractionId(f"call-{i}"), Level.QUEUE, Q, percent)
        for i in range(n)
    )
    # Binomial: 4 standard deviations, at most 2 points at n = 10,000.
    assert abs(agent / n - percent / 100) < 0.02
    assert abs(queue / n - percent / 100) < 0.02
    # Agent and queue draws are independent of each other.
    assert abs(both / n - (percent / 100) ** 2) < 0.02


def test_each_segment_of_a_transfer_is_drawn_for_its_own_agent() -> None:
    """A at 100 is recorded; B at 30 is drawn at 30 (over many interactions, ~30 %)."""
    a, b = AgentPolicy(AgentId("A"), True, 100), AgentPolicy(AgentId("B"), True, 30)
    n = 10_000
    recorded_b = 0
    for i in range(n):
        call = Interaction(InteractionId(f"call-{i}"), queue=Q)
        assert decide(CompanyPolicy(), QueuePolicy(Q), a, call).record
        recorded_b += decide(CompanyPolicy(), QueuePolicy(Q), b, call).record
    assert abs(recorded_b / n - 0.30) < 0.02
