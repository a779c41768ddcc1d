"""Whether a segment is recorded: RECORDING-RULES.md's "Deciding", as a pure function.

No I/O, no clock, no randomness of its own: the same settings and interaction always give the
same decision, so a restarted controller decides as the one before it did.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

InteractionId = NewType("InteractionId", str)
AgentId = NewType("AgentId", str)
QueueId = NewType("QueueId", str)


class Direction(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class RecordSide(enum.StrEnum):  # a setting's value (queues.<name>.record_side), as written
    AGENT = "agent"  # the agent's leg: ends when the agent leaves
    CUSTOMER = "customer"  # the customer's leg: runs on across transfers


class Level(enum.Enum):
    """What selected a segment for recording; a recording's metadata lists every one."""

    AGENT = "agent"
    QUEUE = "queue"
    RULE = "rule"
    COMPLIANCE = "compliance"


@dataclass(frozen=True)
class AgentPolicy:
    agent: AgentId
    permit_recordings: bool = False  # consent; False overrides everything else
    record_percent: int | None = None  # blank and 0: none at agent level


@dataclass(frozen=True)
class QueuePolicy:
    queue: QueueId
    record_percent: int | None = None
    record_side: RecordSide = RecordSide.AGENT
    pause_allowed: bool = True


@dataclass(frozen=True)
class Rule:
    """Selective recording: interactions whose metadata match every key, at `percent`."""

    name: str
    match: Mapping[str, tuple[str, ...]]  # key -> accepted values (business unit, language...)
    percent: int

    def matches(self, metadata: Mapping[str, str]) -> bool:
        return all(metadata.get(key) in values for key, values in self.match.items())


@dataclass(frozen=True)
class CompanyPolicy:
    rules: tuple[Rule, ...] = ()
    compliance_all: bool = False
    outbound_recording: bool = True


@dataclass(frozen=True)
class Interaction:
    id: InteractionId
    direction: Direction = Direction.INBOUND
    queue: QueueId | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)  # bu, ctype, lang, attached keys


@dataclass(frozen=True)
class Selection:
    level: Level
    by: str  # the agent, queue or rule that selected it ("company" for compliance)


@dataclass(frozen=True)
class Decision:
    record: bool
    selections: tuple[Selection, ...]
    reason: str

    @property
    def levels(self) -> tuple[Level, ...]:
        return tuple(s.level for s in self.selections)

    def levels_json(self) -> list[dict[str, str]]:
        """The selections as stored and delivered: [{"level": "queue", "by": "support"}, ...]."""
        return [{"level": s.level.value, "by": s.by} for s in self.selections]


def drawn(interaction: InteractionId, level: Level, subject: str, percent: int | None) -> bool:
    """The deterministic draw for (interaction, level, agent/queue/rule): True for `percent` in
    100 of them. Hash-based, so it is the same on every controller and after every restart."""
    if not percent:
        return False
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{interaction}\x1f{level.value}\x1f{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def decide(
    company: CompanyPolicy, queue: QueuePolicy | None, agent: AgentPolicy, interaction: Interaction
) -> Decision:
    """Whether the segment of `agent` in `interaction` is recorded, and what selected it."""
    if not agent.permit_recordings:
        return Decision(False, (), f"agent {agent.agent} has not consented to recording")
    if interaction.direction is Direction.OUTBOUND and not company.outbound_recording:
        return Decision(False, (), "outbound recording is off")
    selections: list[Selection] = []
    if drawn(interaction.id, Level.AGENT, agent.agent, agent.record_percent):
        selections.append(Selection(Level.AGENT, agent.agent))
    if queue is not None and drawn(interaction.id, Level.QUEUE, queue.queue, queue.record_percent):
        selections.append(Selection(Level.QUEUE, queue.queue))
    metadata = {**interaction.metadata, "agent": agent.agent, "direction": interaction.direction.value}
    if interaction.queue is not None:
        metadata["queue"] = interaction.queue
    for rule in company.rules:
        if rule.matches(metadata) and drawn(interaction.id, Level.RULE, rule.name, rule.percent):
            selections.append(Selection(Level.RULE, rule.name))
    if company.compliance_all:
        selections.append(Selection(Level.COMPLIANCE, "company"))
    if not selections:
        considered = [f"agent {agent.agent} at {agent.record_percent or 0}%"]
        if queue is not None:
            considered.append(f"queue {queue.queue} at {queue.record_percent or 0}%")
        return Decision(False, (), "not drawn: " + ", ".join(considered))
    return Decision(
        True, tuple(selections), "selected by " + ", ".join(f"{s.level.value} {s.by}" for s in selections)
    )
