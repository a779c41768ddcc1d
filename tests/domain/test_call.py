"""The call state machine as tables: events in, actions out, no I/O, no event loop."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ari_recorder.domain import call as c
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Direction,
    Interaction,
    InteractionId,
    QueueId,
    QueuePolicy,
    RecordSide,
)

Q = QueueId("support")


def agent(ext: str, permit: bool = True, percent: int | None = 100) -> c.Agent:
    return c.Agent(AgentPolicy(AgentId(ext), permit, percent), f"PJSIP/{ext}")


def new_call(*agents: c.Agent, side: RecordSide = RecordSide.AGENT) -> c.Call:
    return c.Call(
        id="7.1",
        customer="7.1",
        interaction=Interaction(InteractionId("7.1"), queue=Q),
        company=CompanyPolicy(),
        queue=QueuePolicy(Q, record_side=side),
        agents=agents,
        announcement="sound:notice",
        ring_timeout=15,
    )


def kinds(actions: list[c.Action]) -> list[str]:
    return [type(a).__name__ for a in actions if not isinstance(a, c.Note)]


def notes(actions: list[c.Action]) -> list[str]:
    """The actions' notes, by what they tell."""
    return [a.action for a in actions if isinstance(a, c.Note)]


def recordings(actions: list[c.Action]) -> list[c.Action]:
    return [a for a in actions if isinstance(a, c.StartRecording | c.StopRecording)]


def connected(*agents: c.Agent, side: RecordSide = RecordSide.AGENT) -> c.Call:
    """A call whose first agent has answered."""
    call, _ = c.step(c.start(new_call(*agents, side=side))[0], c.AnnouncementFinished())
    return c.step(call, c.AgentAnswered("7.1-agent-1"))[0]


def transfer(call: c.Call, to: c.Agent) -> tuple[c.Call, list[c.Action]]:
    """The agent transfers to `to`, who answers."""
    call, dial = c.step(call, c.TransferRequested(str(to.policy.agent), to))
    assert [a for a in dial if isinstance(a, c.DialAgent)] == [
        c.DialAgent("7.1-agent-2", to.policy.agent, to.endpoint, 15)
    ]
    return c.step(call, c.AgentAnswered("7.1-agent-2"))


def test_a_call_is_answered_and_announced_before_anything_else() -> None:
    call, actions = c.start(new_call(agent("1001")))
    assert kinds(actions) == ["Answer", "Play"]
    assert call.phase is c.Phase.ANSWERING
    assert c.step(call, c.AgentAnswered("7.1-agent-1")) == (call, []), "nothing before the announcement ends"


def test_after_the_announcement_the_customer_waits_in_a_bridge_and_the_first_agent_is_dialled() -> None:
    call, _ = c.start(new_call(agent("1001"), agent("1002")))
    call, actions = c.step(call, c.AnnouncementFinished())
    assert kinds(actions) == ["CreateBridge", "AddToBridge", "StartMoh", "StartTimer", "DialAgent"]
    assert actions[-2] == c.DialAgent("7.1-agent-1", AgentId("1001"), "PJSIP/1001", 15)
    assert call.phase is c.Phase.WAITING


def test_an_agent_who_does_not_answer_passes_the_call_to_the_next() -> None:
    call, _ = c.step(c.start(new_call(agent("1001"), agent("1002")))[0], c.AnnouncementFinished())
    call, actions = c.step(call, c.AgentFailed("7.1-agent-1", 19))
    assert [a for a in actions if isinstance(a, c.DialAgent)] == [
        c.DialAgent("7.1-agent-2", AgentId("1002"), "PJSIP/1002", 15)
    ]
    call, actions = c.step(call, c.AgentFailed("7.1-agent-2", 17))
    assert kinds(actions) == ["Hangup", "DestroyBridge"]
    assert call.phase is c.Phase.ENDED
    assert call.segments == ()


def test_a_consenting_agent_at_100_is_recorded_on_the_agent_side() -> None:
    call, _ = c.step(c.start(new_call(agent("1001")))[0], c.AnnouncementFinished())
    call, actions = c.step(call, c.AgentAnswered("7.1-agent-1"))
    # Recording first (every round trip before it is audio lost), then the agent joins.
    assert kinds(actions) == ["StartRecording", "StopMoh", "SetVariable", "AddToBridge", "Later"]
    assert actions[2] == c.SetVariable("7.1-agent-1", "PJSIP_TRANSFER_HANDLING()", "ari-only")
    assert actions[3] == c.AddToBridge("7.1-bridge", "7.1-agent-1", absorb_dtmf=True)
    assert recordings(actions) == [c.StartRecording("7.1-agent-1", "7.1-snoop-1", "7.1-seg1-1001")]
    assert call.recordings_open == {"7.1-seg1-1001"}


def test_customer_side_records_the_customer_channel() -> None:
    call, _ = c.step(c.start(new_call(agent("1001"), side=RecordSide.CUSTOMER))[0], c.AnnouncementFinished())
    _, actions = c.step(call, c.AgentAnswered("7.1-agent-1"))
    assert recordings(actions) == [c.StartRecording("7.1", "7.1-snoop-1", "7.1-seg1-1001")]


def test_an_agent_without_consent_is_never_recorded() -> None:
    call, _ = c.step(c.start(new_call(agent("1001", permit=False)))[0], c.AnnouncementFinished())
    call, actions = c.step(call, c.AgentAnswered("7.1-agent-1"))
    assert "StartRecording" not in kinds(actions)
    assert call.segments[0].recording is None
    assert "has not consented" in call.segments[0].decision.reason


def test_hangups_end_the_call_and_leave_nothing_behind() -> None:
    call, _ = c.step(c.start(new_call(agent("1001")))[0], c.AnnouncementFinished())
    call, _ = c.step(call, c.AgentAnswered("7.1-agent-1"))
    ended, actions = c.step(call, c.CustomerLeft())
    assert [a for a in actions if not isinstance(a, c.Note)] == [
        c.Hangup("7.1-agent-1"),
        c.Hangup("7.1"),
        c.DestroyBridge("7.1-bridge"),
    ]
    assert ended.phase is c.Phase.ENDED
    assert ended.recordings_open == {"7.1-seg1-1001"}, "the recording ends with its snoop, later"
    drained, _ = c.step(ended, c.RecordingEnded("7.1-seg1-1001"))
    assert drained.recordings_open == frozenset()
    by_agent, _ = c.step(call, c.AgentLeft("7.1-agent-1"))
    assert by_agent.phase is c.Phase.ENDED


def test_agents_on_other_calls_are_skipped() -> None:
    call, _ = c.start(new_call(agent("1001"), agent("1002")))
    call, actions = c.step(call, c.AnnouncementFinished(busy=frozenset({"1001"})))
    assert [a.agent for a in actions if isinstance(a, c.DialAgent)] == ["1002"]


def test_no_agent_within_the_wait_limit_takes_the_fallback() -> None:
    base = replace(new_call(agent("1001")), fallback=c.Fallback("continue", "voicemail", "s", 1))
    call, _ = c.step(c.start(base)[0], c.AnnouncementFinished())
    ended, actions = c.step(call, c.WaitLimitReached())
    assert [a for a in actions if not isinstance(a, c.Note)] == [
        c.Hangup("7.1-agent-1"),
        c.ContinueInDialplan("7.1", "voicemail", "s", 1),
        c.DestroyBridge("7.1-bridge"),
    ]
    assert ended.phase is c.Phase.ENDED
    hung_up, actions = c.step(
        c.step(c.start(new_call(agent("1001")))[0], c.AnnouncementFinished())[0], c.WaitLimitReached()
    )
    assert kinds(actions) == ["Hangup", "Hangup", "DestroyBridge"]
    assert hung_up.phase is c.Phase.ENDED
    assert c.step(ended, c.WaitLimitReached()) == (ended, []), "a late timer changes nothing"


# RECORDING-RULES.md, "Transfers": each row, agent side.
def test_a_recorded_then_b_at_0_a_stops_and_b_is_not_recorded() -> None:
    call, actions = transfer(connected(agent("A")), agent("B", percent=0))
    assert kinds(actions)[-3:] == ["SetVariable", "AddToBridge", "Hangup"], "B joins, then A goes"
    assert [a for a in actions if isinstance(a, c.Hangup)] == [c.Hangup("7.1-agent-1")]
    assert recordings(actions) == [], "A's recording ends with A's snoop; nothing for B"
    assert [s.recording for s in call.segments] == ["7.1-seg1-A", None]


def test_a_at_0_then_b_above_0_b_is_recorded_from_the_answer() -> None:
    call, actions = transfer(connected(agent("A", percent=0)), agent("B", percent=100))
    assert recordings(actions) == [c.StartRecording("7.1-agent-2", "7.1-snoop-2", "7.1-seg2-B")]
    assert call.segment is not None and call.segment.agent == "B"


def test_a_recorded_then_b_not_permitted_nothing_of_b() -> None:
    call, actions = transfer(connected(agent("A")), agent("B", permit=False))
    assert recordings(actions) == []
    assert call.segments[-1].recording is None


# Customer side: one recording across transfers, stopped for good by a non-permitted agent.
def test_customer_side_runs_on_across_a_transfer() -> None:
    call, actions = transfer(connected(agent("A"), side=RecordSide.CUSTOMER), agent("B", percent=0))
    assert recordings(actions) == []
    assert [s.recording for s in call.segments] == ["7.1-seg1-A", "7.1-seg1-A"]


def test_customer_side_stops_for_good_when_a_non_permitted_agent_answers() -> None:
    call, actions = transfer(connected(agent("A"), side=RecordSide.CUSTOMER), agent("B", permit=False))
    assert recordings(actions) == [c.StopRecording("7.1-seg1-A")]
    assert call.customer_recording is None and call.customer_recording_over
    call, _ = c.step(call, c.TransferRequested("C", agent("C")))
    call, actions = c.step(call, c.AgentAnswered("7.1-agent-3"))
    assert recordings(actions) == [], "for good: C's segment does not start it again"


def test_a_transfer_nobody_answers_leaves_the_call_with_its_agent() -> None:
    call = connected(agent("A"))
    call, _ = c.step(call, c.TransferRequested("B", agent("B")))
    call, actions = c.step(call, c.AgentFailed("7.1-agent-2", 19))
    assert call.phase is c.Phase.CONNECTED and call.segment is not None and call.segment.agent == "A"
    assert kinds(actions) == []
    refused, actions = c.step(call, c.TransferRequested("9999", None))
    assert refused == call
    assert "no agent 9999" in str(actions)


def test_a_transfer_asterisk_carried_out_ends_the_old_segment_and_dials_the_new_agent() -> None:
    call = connected(agent("3001"), side=RecordSide.AGENT)
    b = agent("3002", percent=100)
    call, actions = c.step(call, c.AgentReplaced("7.1-agent-1", "local.1", "3002", b))
    assert kinds(actions) == ["Hangup", "Hangup", "StartMoh", "DialAgent"]
    assert actions[1:3] == [c.Hangup("7.1-agent-1"), c.Hangup("local.1")]
    assert call.phase is c.Phase.WAITING and call.segment is None
    call, actions = c.step(call, c.AgentAnswered("7.1-agent-2"))
    assert kinds(actions) == ["StartRecording", "StopMoh", "SetVariable", "AddToBridge", "Later"], (
        "none to hang up"
    )
    assert [s.agent for s in call.segments] == ["3001", "3002"]


def test_a_transfer_asterisk_carried_out_to_no_agent_or_to_no_answer_takes_the_fallback() -> None:
    call = connected(agent("3001"))
    ended, actions = c.step(call, c.AgentReplaced("7.1-agent-1", "local.1", "5555", None))
    assert ended.phase is c.Phase.ENDED
    assert c.Hangup("7.1") in actions, "the fallback hangs the customer up"
    call, _ = c.step(call, c.AgentReplaced("7.1-agent-1", "local.1", "3002", agent("3002")))
    call, actions = c.step(call, c.AgentFailed("7.1-agent-2", 19))
    assert call.phase is c.Phase.ENDED and c.Hangup("7.1") in actions


def outbound_call(company: CompanyPolicy | None = None) -> c.Call:
    return c.Call(
        id="9.9",
        customer="9.9-customer",
        interaction=Interaction(InteractionId("9.9"), direction=Direction.OUTBOUND),
        company=company or CompanyPolicy(),
        queue=None,
        agents=(agent("3001"),),
        announcement="",
        ring_timeout=45,
    )


def test_an_outbound_call_holds_the_agent_and_records_from_the_customers_answer() -> None:
    call, actions = c.start_outbound(outbound_call(), "PJSIP/15550100@trunk")
    assert kinds(actions) == ["Answer", "SetVariable", "CreateBridge", "AddToBridge", "DialCustomer"]
    assert actions[1] == c.SetVariable("9.9", "PJSIP_TRANSFER_HANDLING()", "ari-only"), "its REFERs reported"
    assert actions[4] == c.DialCustomer("9.9-customer", "PJSIP/15550100@trunk", 45, "3001")
    assert c.step(call, c.TransferRequested("3002", agent("3002")))[0] == call
    call, actions = c.step(call, c.CustomerAnswered("9.9-customer"))
    assert recordings(actions) == [c.StartRecording("9.9", "9.9-snoop-1", "9.9-seg1-3001")]
    ended, actions = c.step(call, c.CustomerLeft("9.9"))
    assert ended.phase is c.Phase.ENDED
    assert [a for a in actions if isinstance(a, c.Hangup)] == [c.Hangup("9.9"), c.Hangup("9.9-customer")]


def test_outbound_recording_off_is_never_recorded() -> None:
    off = CompanyPolicy(compliance_all=True, outbound_recording=False)
    call, _ = c.start_outbound(outbound_call(off), "PJSIP/15550100@trunk")
    call, actions = c.step(call, c.CustomerAnswered("9.9-customer"))
    assert recordings(actions) == [] and call.segments[0].recording is None


def test_an_attended_transfer_to_an_agent_starts_their_segment_where_they_already_are() -> None:
    """The Local channel that took the agent's place is recorded: its other half carries the target."""
    local = "Local/_attended@transfer-1;1"
    call = connected(agent("3001"))
    call, actions = c.step(call, c.AgentSwapped("7.1-agent-1", local, agent("3002")))
    assert kinds(actions) == ["StartRecording", "Later"], (
        "already with the customer: nothing dialled, nothing hung up"
    )
    assert recordings(actions) == [c.StartRecording(local, "7.1-snoop-2", "7.1-seg2-3002")]
    assert [s.agent for s in call.segments] == ["3001", "3002"]
    assert c.step(call, c.AgentLeft("7.1-agent-1"))[0] == call, "the old agent's StasisEnd ends nothing"
    ended, actions = c.step(call, c.AgentLeft(local))
    assert ended.phase is c.Phase.ENDED
    assert {a.channel for a in actions if isinstance(a, c.Hangup)} == {local, "7.1-agent-1", "7.1"}


def test_an_attended_transfer_whose_target_is_told_after_the_swap_is_recorded_from_then() -> None:
    """StasisStart (replace_channel) may come before BridgeAttendedTransfer names the target."""
    local = "Local/_attended@transfer-1;1"
    call = connected(agent("3001"))
    call, actions = c.step(call, c.AgentSwapped("7.1-agent-1", local, None))
    assert kinds(actions) == [] and call.phase is c.Phase.HANDED_OFF
    call, actions = c.step(call, c.PartyIdentified(local, agent("3002")))
    assert recordings(actions) == [c.StartRecording(local, "7.1-snoop-2", "7.1-seg2-3002")]
    assert call.segment is not None and call.segment.channel == local


def test_an_attended_transfer_to_someone_else_is_not_recorded_and_the_call_goes_on() -> None:
    call = connected(agent("3001"))
    call, actions = c.step(call, c.AgentSwapped("7.1-agent-1", "Local/_attended@transfer-2;1", None))
    assert kinds(actions) == [] and call.phase is c.Phase.HANDED_OFF
    assert c.step(call, c.WaitLimitReached()) == (call, []), "no fallback: the customer is with someone"
    ended, actions = c.step(call, c.AgentLeft("Local/_attended@transfer-2;1"))
    assert ended.phase is c.Phase.ENDED and c.DestroyBridge("7.1-bridge") in actions
    call, _ = c.step(call, c.CustomerLeft("7.1"))
    assert call.phase is c.Phase.ENDED


def test_two_channels_record_each_party_through_a_one_way_snoop_of_its_own() -> None:
    for side, target, customer_spy in (
        (RecordSide.AGENT, "7.1-agent-1", "out"),
        (RecordSide.CUSTOMER, "7.1", "in"),
    ):
        call, _ = c.step(
            c.start(replace(new_call(agent("1001"), side=side), channels=2))[0], c.AnnouncementFinished()
        )
        call, actions = c.step(call, c.AgentAnswered("7.1-agent-1"))
        agent_spy = "in" if customer_spy == "out" else "out"
        assert recordings(actions) == [
            c.StartRecording(target, "7.1-snoop-1c", "7.1-seg1-1001-customer", customer_spy),
            c.StartRecording(target, "7.1-snoop-1a", "7.1-seg1-1001-agent", agent_spy),
        ], side
        segment = call.segment
        assert segment is not None and segment.recording == "7.1-seg1-1001", "one recording, two legs"
        assert call.recordings_open == {"7.1-seg1-1001-customer", "7.1-seg1-1001-agent"}
        paused, actions = c.step(call, c.PauseRequested("1001", c.Source.API), 5.0)
        assert [a.name for a in actions if isinstance(a, c.PauseRecording)] == sorted(
            call.recordings_open, reverse=True
        )
        ended, _ = c.step(paused, c.CustomerLeft(), 6.0)
        ended, _ = c.step(ended, c.RecordingEnded("7.1-seg1-1001-customer"))
        assert ended.recordings_open == {"7.1-seg1-1001-agent"}, "the recording is done when both legs are"


# ----- a recording's start, confirmed -----
NAME = "7.1-seg1-1001"


def test_the_snoop_is_recorded_only_once_it_is_in_the_application() -> None:
    call = c.start(new_call(agent("1001")))[0]
    call, _ = c.step(call, c.AnnouncementFinished(), 1.0)
    call, actions = c.step(call, c.AgentAnswered("7.1-agent-1"), 10.0)
    assert [a for a in actions if isinstance(a, c.StartRecording | c.Record | c.Later)] == [
        c.StartRecording("7.1-agent-1", "7.1-snoop-1", NAME),
        c.Later(2.0, c.RecordDeadline(NAME)),
    ]
    assert call.segments[0].answered == 10.0
    call, actions = c.step(call, c.SnoopEntered("7.1-snoop-1", NAME), 10.01)
    assert kinds(actions) == ["Record"] and actions[0] == c.Record("7.1-snoop-1", NAME)
    call, actions = c.step(call, c.RecordingBegan(NAME), 10.25)
    assert call.starting == () and dict(call.began)[NAME] == 10.25
    started = c.Note("7.1", "recording-started", (("tries", 1), ("offset", "0.250")), recording=NAME)
    assert actions == [started]
    assert c.step(call, c.RecordDeadline(NAME), 12.0) == (call, []), "confirmed: the deadline says nothing"
    assert call.recording_state() == "recording"


def test_a_refused_record_is_retried_with_growing_waits_until_it_starts() -> None:
    call = connected(agent("1001"))
    call, _ = c.step(call, c.SnoopEntered("7.1-snoop-1", NAME))
    waits = []
    for tries in (1, 2, 3):
        call, actions = c.step(call, c.RecordRefused(NAME, "Channel not in Stasis application"), 0.1 * tries)
        (later,) = [a for a in actions if isinstance(a, c.Later)]
        assert later.event == c.RecordRetry(NAME, tries)
        waits.append(later.seconds)
        assert c.step(call, c.RecordRetry(NAME, tries - 1))[1] == [], "a stale retry does nothing"
        call, actions = c.step(call, later.event)
        assert actions == [c.Record("7.1-snoop-1", NAME)]
    assert waits == [0.05, 0.1, 0.2]
    call, _ = c.step(call, c.RecordingBegan(NAME), 0.5)
    assert call.unrecorded == () and call.recordings_open == {NAME}


def test_a_snoop_that_never_enters_is_selected_not_recorded_and_said_loudly() -> None:
    call = connected(agent("1001"))
    call, actions = c.step(call, c.RecordDeadline(NAME), 2.0)
    assert call.failure(NAME) == "not started within 2 s: the snoop channel never entered the application"
    assert call.recordings_open == frozenset() and call.starting == ()
    assert call.recording_state() == "not-recorded"
    assert c.Hangup("7.1-snoop-1") in actions
    (error,) = [a for a in actions if isinstance(a, c.Note) and a.level is c.Severity.ERROR]
    assert error.action == "not-recorded" and error.get("then") == "continue"
    assert str(error.get("why")).startswith("selected, not recorded: not started within 2 s")
    assert call.phase is c.Phase.CONNECTED, "on_record_failure = continue: the call goes on"
    assert c.pause_refusal(call) is not None


def test_refused_to_the_deadline_and_on_record_failure_hangup_ends_the_call() -> None:
    call = replace(connected(agent("1001")), on_record_failure="hangup")
    call, _ = c.step(call, c.SnoopEntered("7.1-snoop-1", NAME))
    call, _ = c.step(call, c.RecordRefused(NAME, "Internal Server Error"), 1.99)  # no time left to retry
    call, actions = c.step(call, c.RecordDeadline(NAME), 2.0)
    assert call.failure(NAME) == "not started within 2 s: Asterisk refused it: Internal Server Error"
    assert call.phase is c.Phase.ENDED
    assert {c.Hangup("7.1"), c.Hangup("7.1-agent-1"), c.Hangup("7.1-snoop-1")} <= set(actions)


def test_two_channels_one_leg_failing_stops_the_other_and_the_recording_is_not_made() -> None:
    call = replace(new_call(agent("1001")), channels=2)
    call, _ = c.step(c.start(call)[0], c.AnnouncementFinished())
    call, _ = c.step(call, c.AgentAnswered("7.1-agent-1"))
    customer, agent_leg = f"{NAME}-customer", f"{NAME}-agent"
    call, _ = c.step(call, c.SnoopEntered("7.1-snoop-1c", customer))
    call, _ = c.step(call, c.RecordingBegan(customer), 0.1)
    call, actions = c.step(call, c.RecordDeadline(agent_leg), 2.0)
    assert c.StopRecording(customer) in actions and c.Hangup("7.1-snoop-1a") in actions
    assert call.failure(NAME) is not None
    assert call.recordings_open == {customer}, "until its RecordingFinished"


@pytest.mark.parametrize(
    ("setting", "phase", "recorded"),
    [
        ("no-record", c.Phase.CONNECTED, False),
        ("record", c.Phase.CONNECTED, True),
        ("hangup", c.Phase.ENDED, None),
    ],
)
def test_an_announcement_not_played(setting: str, phase: c.Phase, recorded: bool | None) -> None:
    call = replace(new_call(agent("1001")), on_announcement_failure=setting)
    call, actions = c.step(c.start(call)[0], c.AnnouncementFinished(failed="the playback ended failed"))
    assert next(a.level for a in actions if isinstance(a, c.Note)) == "error"
    assert call.announced == "the playback ended failed"
    call, _ = c.step(call, c.AgentAnswered("7.1-agent-1"))
    assert call.phase is phase
    if recorded is None:
        assert call.segments == ()
        return
    (segment,) = call.segments
    assert (segment.recording is not None) is recorded
    if not recorded:
        assert segment.decision.reason.startswith("the recording notice was not played")


# ----- when the call stopped wanting a recording (the proof of recording's end) -----
def test_an_agent_side_recording_is_wanted_until_its_segment_ends_not_until_its_file_does() -> None:
    call = connected(agent("A"), agent("B"))
    call, _ = c.step(call, c.RecordingEnded("7.1-seg1-A"), now=5.0)  # cut short by Asterisk
    assert call.windows == ()
    call, _ = c.step(call, c.TransferRequested("B", agent("B")), now=6.0)
    call, _ = c.step(call, c.AgentAnswered("7.1-agent-2"), now=9.0)
    assert call.windows == (c.Window("7.1-seg1-A", 9.0),)
    call, _ = c.step(call, c.CustomerLeft(), now=20.0)
    assert call.windows == (c.Window("7.1-seg1-A", 9.0), c.Window("7.1-seg2-B", 20.0))


def test_a_customer_side_recording_is_wanted_across_transfers_until_the_call_ends() -> None:
    call, _ = transfer(connected(agent("A"), side=RecordSide.CUSTOMER), agent("B", percent=0))
    assert call.windows == ()
    call, _ = c.step(call, c.CustomerLeft(), now=30.0)
    assert call.windows == (c.Window("7.1-seg1-A", 30.0),)


def test_an_end_learned_by_reconciliation_is_marked_unseen() -> None:
    call, _ = c.step(connected(agent("A")), c.AgentLeft("7.1-agent-1"), now=40.0, seen=False)
    assert call.windows == (c.Window("7.1-seg1-A", 40.0, seen=False),)
