"""An attended transfer the application carries out, as tables: the consultation, then the REFER
with Replaces; events in, actions out."""

from __future__ import annotations

import msgspec

from ari_recorder.domain import call as c
from ari_recorder.domain import consult
from ari_recorder.domain.policy import AgentId, RecordSide
from tests.domain.test_call import agent, connected, kinds

A, B, NOBODY = agent("3001"), agent("3002"), agent("3003", permit=False)
PHONE = "9.5"  # the agent's phone's second call, from the dialplan


def consulting(to: c.Agent = B, side: RecordSide = RecordSide.AGENT) -> tuple[c.Call, list[c.Action]]:
    call = connected(A, side=side)
    return consult.step(call, consult.ConsultRequested(PHONE, AgentId("3001"), str(to.policy.agent), to))


def answered(to: c.Agent = B, side: RecordSide = RecordSide.AGENT) -> c.Call:
    call, _ = consulting(to, side)
    return consult.step(call, c.AgentAnswered("7.1-agent-2"))[0]


def test_the_consultation_is_answered_bridged_apart_and_the_target_dialled() -> None:
    call, actions = consulting()
    assert actions[:5] == [
        c.Answer(PHONE),
        c.SetVariable(PHONE, "PJSIP_TRANSFER_HANDLING()", "ari-only"),
        c.CreateBridge("7.1-consult-2"),
        c.AddToBridge("7.1-consult-2", PHONE),
        c.DialAgent("7.1-agent-2", AgentId("3002"), "PJSIP/3002", 15),
    ]
    assert call.consultation == c.Consultation(PHONE, AgentId("3001"), B, "7.1-agent-2", "7.1-consult-2")
    assert call.segment is not None and call.segment.agent == "3001", "the call goes on with A"
    call, actions = consult.step(call, c.AgentAnswered("7.1-agent-2"))
    assert kinds(actions) == ["AddToBridge"] and actions[0] == c.AddToBridge("7.1-consult-2", "7.1-agent-2")
    assert call.consultation is not None and call.consultation.answered
    assert not [a for a in actions if isinstance(a, c.StartRecording)], "nothing of it is recorded"


def test_refused_consultations_are_hung_up_with_a_reason() -> None:
    call = connected(A)
    cases = [
        (consult.ConsultRequested(PHONE, AgentId("3001"), "3009", None), "no agent 3009"),
        (consult.ConsultRequested(PHONE, AgentId("3001"), "3001", A), "an agent cannot consult themself"),
        (consult.ConsultRequested(PHONE, AgentId("3005"), "3002", B), "agent 3005 is not with the customer"),
        (
            consult.ConsultRequested(PHONE, AgentId("3001"), "3002", B, busy=frozenset({"3002"})),
            "agent 3002 is on another call",
        ),
    ]
    for event, why in cases:
        after, actions = consult.step(call, event)
        assert after == call
        assert actions[0] == c.Hangup(PHONE)
        note = actions[1]
        assert isinstance(note, c.Note) and note.action == "consult-refused"
        assert note.fields == (("to", event.destination), ("why", why))
    busy, _ = consulting()
    _, actions = consult.step(busy, consult.ConsultRequested("9.9", AgentId("3001"), "3002", B))
    assert kinds(actions) == ["Hangup"] and "already under way" in str(actions[1])


def test_the_replaces_moves_the_target_in_and_ends_a_segment_on_the_agent_side() -> None:
    call = answered()
    call, actions = consult.step(call, consult.ReplacesRequested("7.1-agent-1", PHONE))
    assert kinds(actions) == [
        "Hangup",  # the agent's consultation call
        "StartRecording",  # B's segment, recorded by the rules
        "SetVariable",
        "AddToBridge",  # from the consultation's bridge into the call's
        "Hangup",  # A's first call: A's segment and recording end
        "Later",  # B's recording must be confirmed started by its deadline
        "DestroyBridge",
    ]
    assert actions[1] == c.Hangup(PHONE)
    assert c.AddToBridge("7.1-bridge", "7.1-agent-2", absorb_dtmf=True) in actions
    assert c.Hangup("7.1-agent-1") in actions and actions[-1] == c.DestroyBridge("7.1-consult-2")
    assert [(s.number, s.agent, s.channel) for s in call.segments] == [
        (1, "3001", "7.1-agent-1"),
        (2, "3002", "7.1-agent-2"),
    ]
    assert call.consultation is None and call.dialling is None and call.phase is c.Phase.CONNECTED


def test_the_replaces_keeps_the_customer_side_recording_or_stops_it_for_a_non_permitted_target() -> None:
    call = answered(side=RecordSide.CUSTOMER)
    call, actions = consult.step(call, consult.ReplacesRequested("7.1-agent-1", PHONE))
    assert not [a for a in actions if isinstance(a, c.StartRecording | c.StopRecording)]
    assert call.segments[0].recording == call.segments[1].recording is not None
    call = answered(NOBODY, side=RecordSide.CUSTOMER)
    call, actions = consult.step(call, consult.ReplacesRequested("7.1-agent-1", PHONE))
    assert [a for a in actions if isinstance(a, c.StopRecording)] == [c.StopRecording("7.1-seg1-3001")]
    assert call.segments[1].recording is None


def test_a_replaces_of_a_consultation_the_call_did_not_place_is_refused() -> None:
    call = answered()
    after, actions = consult.step(call, consult.ReplacesRequested("7.1-agent-1", "elsewhere"))
    assert after == call and kinds(actions) == []
    assert isinstance(actions[0], c.Note) and actions[0].action == "transfer-refused"
    plain = connected(A)
    after, actions = consult.step(plain, consult.ReplacesRequested("7.1-agent-1", "9.9"))
    assert after == plain and "not one this call placed" in str(actions[0])


def test_a_replaces_while_the_target_rings_is_a_transfer_to_a_ringing_agent() -> None:
    call, _ = consulting()
    call, actions = consult.step(call, consult.ReplacesRequested("7.1-agent-1", PHONE))
    assert kinds(actions) == ["Hangup", "DestroyBridge"]
    assert call.dialling == "7.1-agent-2" and call.transfer_to == B and call.consultation is None
    call, actions = consult.step(call, c.AgentAnswered("7.1-agent-2"))
    assert c.Hangup("7.1-agent-1") in actions and call.segments[-1].agent == "3002"


def test_a_consultation_ends_without_a_transfer_when_anyone_leaves() -> None:
    for event in (
        c.AgentFailed("7.1-agent-2", 19),  # the target did not answer
        c.AgentLeft(PHONE),  # the consulting agent hung up
    ):
        call, _ = consulting()
        call, actions = consult.step(call, event)
        assert call.consultation is None and call.phase is c.Phase.CONNECTED
        assert kinds(actions) == ["Hangup", "Hangup", "DestroyBridge"]
        assert isinstance(actions[0], c.Note) and actions[0].action == "consult-ended"
    call = answered()
    call, actions = consult.step(call, c.AgentLeft("7.1-agent-2"))  # the target hung up
    assert call.consultation is None and c.Hangup(PHONE) in actions
    assert call.segment is not None and call.segment.agent == "3001"
    call, actions = consult.step(call, c.AgentFailed("7.1-agent-2", 16))  # its ChannelDestroyed
    assert actions == []


def test_the_call_ending_takes_its_consultation_with_it() -> None:
    call = answered()
    call, actions = consult.step(call, c.CustomerLeft())
    assert call.phase is c.Phase.ENDED and call.consultation is None
    assert {c.Hangup(PHONE), c.Hangup("7.1-agent-2"), c.DestroyBridge("7.1-consult-2")} <= set(actions)


def test_a_transfer_asked_for_during_a_consultation_is_refused() -> None:
    call = answered()
    after, actions = consult.step(call, c.TransferRequested("3003", NOBODY))
    assert after == call and kinds(actions) == []


def test_a_consultation_is_stored_with_its_call_and_read_back() -> None:
    call = answered()
    stored = msgspec.json.encode(msgspec.to_builtins(call))
    assert msgspec.convert(msgspec.json.decode(stored), c.Call) == call
