"""Who may do what (002: access by role and hierarchy, partitions): the roles a token carries,
the privileges each role holds, and a supervisor's scope (teams and partitions).

Pure: api/privileges.py says which privilege each endpoint needs and checks it; storage/tokens.py
keeps each token's role and scope.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ari_recorder.domain import partitions


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    AGENT = "agent"
    CHAT_PLATFORM = "chat-platform"


class Privilege(enum.StrEnum):
    """What an endpoint needs. PUBLIC and PAGE need no bearer token: PAGE is the pages' (/agent,
    /supervisor), each with its own session, opened by a token of the roles the page takes."""

    PUBLIC = "public"
    PAGE = "agent-page"
    CALLS_READ = "calls:read"
    CALLS_PLACE = "calls:place"
    CALLS_TRANSFER = "calls:transfer"
    RECORDING_READ = "recording:read"  # an agent's recording state and pauses
    RECORDING_PAUSE = "recording:pause"  # the agent's own, or on behalf of an agent
    DEVICES_LOGIN = "devices:login"  # the agent's own device (hot-desking), or on behalf of an agent
    CHATS_REPORT = "chats:report"
    CHATS_READ = "chats:read"
    AUDIT_READ = "audit:read"
    INTERACTIONS_READ = "interactions:read"  # interactions' metadata
    HOLDS_READ = "holds:read"
    HOLDS_WRITE = "holds:write"
    SETTINGS_READ = "settings:read"  # the managed settings: agents, queues, company, rules
    SETTINGS_WRITE = "settings:write"  # 000: recording settings, the "Users: Modify" privilege
    TOKENS_WRITE = "tokens:write"
    DELIVERIES_READ = "deliveries:read"  # the delivery queue: pending, failing, dead and why
    DELIVERIES_RETRY = "deliveries:retry"  # a dead delivery back in the queue


P = Privilege
OPEN = frozenset({P.PUBLIC, P.PAGE})
PRIVILEGES: Mapping[Role, frozenset[Privilege]] = {
    Role.ADMINISTRATOR: frozenset(Privilege) - OPEN,
    # Their teams' and partitions' calls, agents and interactions only (Scope): the interactions'
    # reads, and the delivery queue's, filter by it in their query (storage/interaction_reads.py's
    # Within). Retrying a dead file is an administrator's.
    Role.SUPERVISOR: frozenset(
        {
            P.CALLS_READ,
            P.CALLS_TRANSFER,
            P.RECORDING_READ,
            P.RECORDING_PAUSE,
            P.DEVICES_LOGIN,
            P.INTERACTIONS_READ,
            P.DELIVERIES_READ,
        }
    ),
    # Reads everything, changes nothing but legal holds.
    Role.COMPLIANCE: frozenset(
        {
            P.CALLS_READ,
            P.RECORDING_READ,
            P.CHATS_READ,
            P.AUDIT_READ,
            P.INTERACTIONS_READ,
            P.HOLDS_READ,
            P.HOLDS_WRITE,
            P.DELIVERIES_READ,
            P.SETTINGS_READ,
        }
    ),
    # Its own recording only (the path's agent must be the token's).
    Role.AGENT: frozenset({P.RECORDING_READ, P.RECORDING_PAUSE, P.DEVICES_LOGIN}),
    Role.CHAT_PLATFORM: frozenset({P.CHATS_REPORT, P.CHATS_READ}),
}


def holds(role: Role, privilege: Privilege) -> bool:
    return privilege in OPEN or privilege in PRIVILEGES[role]


@dataclass(frozen=True)
class Scope:
    """A supervisor's reach: the agents of its teams, and the interactions of its partitions.
    `everything`: every other role's (an agent's own reach is checked by its agent)."""

    teams: frozenset[str] = frozenset()
    partitions: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def of(cls, teams: Iterable[str], partitions_: Iterable[str]) -> Scope:
        return cls(frozenset(teams), frozenset(partitions_))

    def covers(self, team: str | None, attached: Mapping[str, str] | None = None) -> bool:
        """An agent of `team` (None: in no team), or an interaction with that attached data: in
        scope if the team is one of the scope's, or one of its partitions is."""
        if self.everything:
            return True
        if team is not None and team in self.teams:
            return True
        return attached is not None and not self.partitions.isdisjoint(partitions.of(attached))


EVERYTHING = Scope(everything=True)


def names(text: str) -> list[str]:
    """`blue,green` (the CLI's) or `blue;green` (as stored): the names, in order, once each."""
    return list(dict.fromkeys(n.strip() for n in text.replace(",", ";").split(";") if n.strip()))


def invalid_names(given: Iterable[str]) -> list[str]:
    """The team or partition names that are not names (partitions' rule, for both)."""
    return partitions.invalid(given)
