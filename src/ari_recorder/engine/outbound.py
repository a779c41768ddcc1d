"""From an agent's call out (a StasisStart with `outbound,agent=...,to=...`) to a Call."""

from __future__ import annotations

import re

from ari_recorder.ari.events import StasisStart
from ari_recorder.domain import ids
from ari_recorder.domain.call import Call
from ari_recorder.domain.policy import Direction, Interaction, InteractionId, QueueId
from ari_recorder.engine.inbound import (
    Refused,
    Where,
    agent_policy,
    channels,
    company_policy,
    parse_args,
    partitioned,
    pause_rules,
    queue_policy,
)
from ari_recorder.settings import Settings

NUMBER = re.compile(r"\+?[0-9*#]{1,32}")  # nothing that could change the dial string


def customer_endpoint(settings: Settings, to: str) -> str:
    return settings.company.outbound_endpoint.replace("{to}", to)


def check_outbound(settings: Settings, agent: str, to: str, queue: str | None) -> str | None:
    """What is wrong with an outbound call's agent, number and queue, if anything."""
    if agent not in settings.agents:
        return f"no agent {agent!r}"
    if not NUMBER.fullmatch(to):
        return f"{to!r} is not a number (digits, +, *, #)"
    if queue is not None and queue not in settings.queues:
        return f"no queue {queue!r}"
    return None


def build_outbound(settings: Settings, start: StasisStart, where: Where | None = None) -> Call | Refused:
    """`Stasis(ari-recorder,outbound,agent=1001,to=15550100[,queue=sales][,key=value...])`;
    the agent on the endpoint `where` it is logged in."""
    args = parse_args(start.args)
    agent, to, queue_name = args.get("agent", ""), args.get("to", ""), args.get("queue")
    wrong = check_outbound(settings, agent, to, queue_name)
    if wrong is not None:
        return Refused(f"outbound call: {wrong}")
    queue = settings.queues.get(queue_name) if queue_name else None
    metadata = partitioned({k: v for k, v in args.items() if k not in ("agent", "to", "queue")}, start, queue)
    metadata.setdefault("customer", to)
    interaction = Interaction(
        InteractionId(start.channel.id),
        queue=QueueId(queue_name) if queue_name else None,
        metadata=metadata,
        direction=Direction.OUTBOUND,
    )
    return Call(
        id=start.channel.id,
        customer=ids.customer_leg(start.channel.id),
        interaction=interaction,
        company=company_policy(settings),
        queue=queue_policy(queue_name, queue) if queue is not None and queue_name else None,
        agents=(agent_policy(settings, agent, where),),
        announcement="",
        ring_timeout=settings.company.outbound_ring_timeout,
        ari_only_transfers=settings.ari.phone_transfers == "application",
        pausing=pause_rules(settings, queue),
        channels=channels(settings, queue),
        record_deadline=settings.recording.start_deadline_ms / 1000,
        on_record_failure=settings.on_record_failure(queue_name),
    )
