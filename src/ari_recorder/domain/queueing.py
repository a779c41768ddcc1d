"""The customer waits for an agent: after the announcement, into the bridge with music on hold,
the queue's agents dialled in turn until one answers, the wait runs out or none is left."""

from __future__ import annotations

from dataclasses import replace

from ari_recorder.domain import ids
from ari_recorder.domain.actions import (
    Action,
    AddToBridge,
    Answer,
    CreateBridge,
    DialAgent,
    Outcome,
    Play,
    StartMoh,
    StartTimer,
)
from ari_recorder.domain.ending import end, give_up
from ari_recorder.domain.events import (
    AgentAnswered,
    AgentFailed,
    AnnouncementFinished,
    CallEvent,
    WaitLimitReached,
)
from ari_recorder.domain.notes import Severity, note
from ari_recorder.domain.segments import connect
from ari_recorder.domain.state import PLAYED, Agent, Call, OnAnnouncementFailure, Phase

THEN = {OnAnnouncementFailure.HANGUP: "hang up", OnAnnouncementFailure.RECORD: "record all the same"}


def start(call: Call) -> Outcome:
    """The call entered the application: answer it and play the announcement."""
    return call, [
        Answer(call.customer),
        Play(call.customer, call.announcement, ids.announcement(call.id), call.language),
        note(call.id, "answer", queue=call.interaction.queue, sound=call.announcement, lang=call.language),
    ]


def step(call: Call, event: CallEvent) -> Outcome | None:
    """The queue's part of an inbound call's step; None when the event is not the queue's."""
    match event:
        case AnnouncementFinished(busy, failed) if call.phase is Phase.ANSWERING:
            return _announced(call, busy, failed)
        case AgentAnswered(channel) if channel == call.dialling:
            return connect(call, channel, call.agents[call.tried - 1])
        case AgentFailed(channel, cause, busy) if channel == call.dialling:
            agent = call.agents[call.tried - 1].policy.agent
            told = note(call.id, "no-answer", agent=agent, cause=cause)
            return dial_next(replace(call, dialling=None), [told], busy)
        case WaitLimitReached() if call.phase is Phase.WAITING:
            return give_up(call, f"no agent answered within {call.wait_limit} s")
    return None


def _announced(call: Call, busy: frozenset[str], failed: str | None) -> Outcome:
    """The announcement is over (or failed: as the settings say): the customer waits for an agent."""
    call = replace(call, announced=failed or PLAYED)
    actions: list[Action] = []
    if failed is not None:
        then = THEN.get(call.on_announcement_failure, "not recorded")
        sound, level = call.announcement, Severity.ERROR
        actions.append(
            note(call.id, "announcement-failed", then=then, announcement=sound, why=failed, level=level)
        )
        if call.on_announcement_failure == OnAnnouncementFailure.HANGUP:
            call, ending = end(call, "the recording notice was not played")
            return call, actions + ending
    call = replace(call, phase=Phase.WAITING)
    actions += [
        CreateBridge(call.bridge),
        AddToBridge(call.bridge, call.customer),
        StartMoh(call.customer, call.moh_class),
        StartTimer(call.wait_limit),
    ]
    return dial_next(call, actions, busy)


def _unreachable(agent: Agent, busy: frozenset[str]) -> str | None:
    """Why the agent is not dialled (on another call, logged in on no device); None: dial it."""
    if agent.policy.agent in busy:
        return "on another call"
    return None if agent.endpoint else "logged in nowhere"


def dial_next(call: Call, actions: list[Action], busy: frozenset[str]) -> Outcome:
    """Dial the queue's next agent not on another call; give up when none is left."""
    while call.tried < len(call.agents) and (why := _unreachable(call.agents[call.tried], busy)):
        skipped = call.agents[call.tried].policy.agent
        actions = [*actions, note(call.id, "skip", agent=skipped, why=why)]
        call = replace(call, tried=call.tried + 1)
    if call.tried >= len(call.agents):
        call, ending = give_up(call, "no agent answered")
        return call, actions + ending
    agent = call.agents[call.tried]
    channel = ids.agent_channel(call.id, call.legs + 1)
    call = replace(call, tried=call.tried + 1, legs=call.legs + 1, dialling=channel)
    return call, [
        *actions,
        DialAgent(channel, agent.policy.agent, agent.endpoint, call.ring_timeout),
        note(call.id, "dial", agent=agent.policy.agent, endpoint=agent.endpoint),
    ]
