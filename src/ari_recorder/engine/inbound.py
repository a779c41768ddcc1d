"""From a StasisStart and the settings to a Call: queue, agents, policies, metadata."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ari_recorder.ari.events import StasisStart
from ari_recorder.domain import ids, partitions
from ari_recorder.domain.call import Agent, Call, Fallback, FallbackAction
from ari_recorder.domain.pausing import PauseBehavior, PauseRules
from ari_recorder.domain.policy import (
    AgentId,
    AgentPolicy,
    CompanyPolicy,
    Interaction,
    InteractionId,
    QueueId,
    QueuePolicy,
    RecordSide,
    Rule,
)
from ari_recorder.settings import LANGUAGE, QueueSettings, Settings

log = logging.getLogger(__name__)

METADATA_KEYS = ("bu", "ctype", "lang", "customer", "partitions")


@dataclass(frozen=True)
class Refused:
    """A call the application will not take, and why (for the log)."""

    why: str


parse_args = ids.dialplan_args


def partitioned(metadata: dict[str, str], start: StasisStart, queue: QueueSettings | None) -> dict[str, str]:
    settled, wrong = partitions.attach(metadata, queue.partitions if queue else ())
    if wrong:
        log.warning(
            "call=%s action=partitions-ignored names=%s (letters, digits, and _ . - after the first)",
            start.channel.id,
            ",".join(wrong),
        )
    return settled


def company_policy(settings: Settings) -> CompanyPolicy:
    company = settings.company
    rules = tuple(Rule(r.name, {k: tuple(v) for k, v in r.match.items()}, r.percent) for r in company.rules)
    return CompanyPolicy(rules, company.compliance_all, company.outbound_recording)


Where = Callable[[str], str | None]  # the endpoint an agent is logged in on (engine/logins.py)


def agent_policy(settings: Settings, agent: str, where: Where | None = None) -> Agent:
    """The agent's policy, and the endpoint to dial it on: where it is logged in ("": nowhere);
    without `where`, its default device from the settings."""
    configured = settings.agents[agent]
    policy = AgentPolicy(AgentId(agent), configured.permit_recordings, configured.record_percent)
    endpoint = configured.endpoint if where is None else where(agent) or ""
    return Agent(policy, endpoint)


def queue_policy(name: str, queue: QueueSettings) -> QueuePolicy:
    side = RecordSide(queue.record_side)
    return QueuePolicy(QueueId(name), queue.record_percent, side, queue.pause_allowed)


def pause_rules(settings: Settings, queue: QueueSettings | None) -> PauseRules:
    company = settings.company
    return PauseRules(
        allowed=queue.pause_allowed if queue is not None else True,
        mute=company.pause_behavior == PauseBehavior.SILENCE,
        max_seconds=company.max_pause_seconds,
        dtmf_pause=company.dtmf_pause,
        dtmf_resume=company.dtmf_resume,
        key_gap=company.dtmf_key_gap_ms / 1000,
        max_per_segment=company.max_pauses_per_segment,
    )


def channels(settings: Settings, queue: QueueSettings | None) -> int:
    return queue.channels if queue is not None and queue.channels else settings.company.channels


def fallback(text: str) -> Fallback:
    """ "hangup", "continue", or "continue:<context>,<exten>,<priority>" (checked by the settings)."""
    action, _, where = text.partition(":")
    if not where:
        return Fallback(FallbackAction(action))
    context, extension, priority = where.split(",")
    return Fallback(FallbackAction(action), context, extension, int(priority))


def build_call(
    settings: Settings, start: StasisStart, rotation: int = 0, where: Where | None = None
) -> Call | Refused:
    """The call, its agents in the order to dial them (turned by `rotation` for round robin), each
    on the endpoint `where` it is logged in."""
    args = parse_args(start.args)
    queue_name = args.get("queue", "")
    queue = settings.queues.get(queue_name)
    if queue is None:
        return Refused(f"no queue named {queue_name!r} (arguments: {','.join(start.args) or 'none'})")
    named = args.get("agent")
    if named is not None and named not in settings.agents:
        return Refused(f"no agent named {named!r}")
    agents = (named,) if named else tuple(queue.agents)
    if queue.strategy == "round-robin" and agents:
        turn = rotation % len(agents)
        agents = agents[turn:] + agents[:turn]
    metadata = partitioned({k: v for k, v in args.items() if k not in ("queue", "agent")}, start, queue)
    if start.channel.caller.number and "customer" not in metadata:
        metadata["customer"] = start.channel.caller.number
    interaction = Interaction(InteractionId(start.channel.id), queue=QueueId(queue_name), metadata=metadata)
    # The language sounds are taken in: a name Asterisk has folders for, or the channel's own.
    language = next(
        (x for x in (args.get("lang"), start.channel.language) if x and re.match(LANGUAGE, x)), None
    )
    return Call(
        id=start.channel.id,
        customer=start.channel.id,
        interaction=interaction,
        company=company_policy(settings),
        queue=queue_policy(queue_name, queue),
        agents=tuple(agent_policy(settings, a, where) for a in agents),
        announcement=settings.announcement_for(queue_name, language),
        language=language,
        ring_timeout=queue.ring_timeout,
        moh_class=queue.music_on_hold,
        wait_limit=queue.wait_limit,
        fallback=fallback(queue.fallback),
        ari_only_transfers=settings.ari.phone_transfers == "application",
        pausing=pause_rules(settings, queue),
        channels=channels(settings, queue),
        record_deadline=settings.recording.start_deadline_ms / 1000,
        on_record_failure=settings.on_record_failure(queue_name),
        on_announcement_failure=settings.on_announcement_failure(queue_name),
    )
