"""`ari-recorder tokens`: the API's bearer tokens, by role (domain/access.py): issue, list, revoke."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ari_recorder.domain.access import Role, invalid_names, names
from ari_recorder.settings import Settings

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store
    from ari_recorder.storage.tables import AgentTokenRow

Database = Callable[[Settings], AbstractAsyncContextManager["Store"]]
USES = {
    Role.ADMINISTRATOR: "everything",
    Role.SUPERVISOR: "live calls, transfers, pausing on behalf of agents, interactions: its scope only",
    Role.COMPLIANCE: "the audit trail, interactions, legal holds; reading the rest",
    Role.AGENT: "its own recording: the agent desktop and the agent page",
    Role.CHAT_PLATFORM: "reporting webchats (POST /api/v1/chats) and reading their outcome",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("tokens", help="the API's bearer tokens: agents', supervisors', ...")
    tokens_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    issue = tokens_commands.add_parser("issue", help="issue a token for a role; print it, once")
    issue.add_argument("--agent", default=None, help="an agent's token: the agent's id, as in the settings")
    issue.add_argument(
        "--role",
        choices=[role.value for role in Role],
        default=None,
        help="the token's role (default: agent)",
    )
    issue.add_argument("--teams", default="", help="a supervisor's teams, comma-separated (agents.<id>.team)")
    issue.add_argument("--partitions", default="", help="a supervisor's partitions, comma-separated")
    issue.add_argument("--days", type=int, default=90, help="how long it lasts (1..3650, default 90)")
    listing = tokens_commands.add_parser("list", help="the tokens (never their secrets): role, scope, state")
    listing.add_argument("--agent", default=None, help="only this agent's")
    listing.add_argument(
        "--role", choices=[role.value for role in Role], default=None, help="only this role's"
    )
    revoke = tokens_commands.add_parser("revoke", help="revoke a token, at once and for good")
    revoke.add_argument("id", help="the token's id (as issue and list print it)")
    for sub in (issue, listing, revoke):
        sub.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")


def _fail(message: str) -> int:
    print(f"ari-recorder: {message}", file=sys.stderr)
    return 2


def _problem(args: argparse.Namespace, settings: Settings) -> str | None:
    """What is wrong with `tokens issue`'s arguments, against the settings."""
    role = Role(args.role) if args.role else Role.AGENT
    teams, partitions = names(args.teams), names(args.partitions)
    if role is Role.AGENT:
        if not args.agent:
            return "an agent's token names its agent: --agent <id> (or give another --role)"
        if args.agent not in settings.agents:
            known = ", ".join(sorted(settings.agents)) or "none"
            return f"no agent {args.agent!r} in the settings (agents: {known})"
    elif args.agent:
        return f"--agent is for an agent's token, not a {role.value}'s"
    if role is not Role.SUPERVISOR and (teams or partitions):
        return "--teams and --partitions are for a supervisor's token"
    if role is Role.SUPERVISOR and not (teams or partitions):
        return "a supervisor's token needs its scope: --teams and/or --partitions"
    wrong = invalid_names((*teams, *partitions))
    if wrong:
        return f"not team or partition names: {', '.join(map(repr, wrong))}"
    known_teams = {agent.team for agent in settings.agents.values() if agent.team}
    unknown = [team for team in teams if team not in known_teams]
    if unknown:
        return (
            f"no agent is in team(s) {', '.join(unknown)} (teams: {', '.join(sorted(known_teams)) or 'none'})"
        )
    return None


def _whose(row: AgentTokenRow) -> str:
    """`agent 1001`, `supervisor  teams blue,green  partitions emea`, or the role."""
    if row.role == Role.AGENT:
        return f"agent {row.agent}"
    if row.role == Role.SUPERVISOR:
        teams, partitions = ",".join(names(row.teams)) or "-", ",".join(names(row.partitions)) or "-"
        return f"supervisor  teams {teams}  partitions {partitions}"
    return row.role


async def run(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from ari_recorder.storage.tokens import issue_token, list_tokens, revoke_token

    if args.tokens_command == "issue" and (problem := _problem(args, settings)) is not None:
        return _fail(problem)
    async with database(settings) as store:
        if args.tokens_command == "issue":
            role = Role(args.role) if args.role else Role.AGENT
            try:
                issued = await issue_token(
                    store,
                    args.agent,
                    args.days,
                    role=role,
                    teams=names(args.teams),
                    partitions=names(args.partitions),
                )
            except ValueError as error:
                return _fail(str(error))
            whose = f"agent {issued.agent}" if role is Role.AGENT else f"role {role.value}"
            print(f"token for {whose} (shown only once: it is kept nowhere, copy it now):")
            print(f"  {issued.token}")
            print(f"id {issued.id}, role {role.value}, expires {_when(issued.expires_at)}")
            if role is Role.SUPERVISOR:
                teams, partitions = ",".join(issued.teams) or "-", ",".join(issued.partitions) or "-"
                print(f"scope: teams {teams}, partitions {partitions}")
            print(f"it may: {USES[role]}")
            print(f"send it as:  Authorization: Bearer {issued.token}")
            print(f"to revoke it:  ari-recorder tokens revoke {issued.id}")
            return 0
        if args.tokens_command == "list":
            now = datetime.now(UTC)
            rows = await list_tokens(store, args.agent, Role(args.role) if args.role else None)
            for row in rows:
                expires = _utc(row.expires_at)
                state = "revoked" if row.revoked_at is not None else "expired" if now >= expires else "active"
                print(
                    f"{row.id}  {_whose(row)}  created {_when(row.created_at)}  "
                    f"expires {_when(expires)}  {state}"
                )
            if not rows:
                print("no tokens" + (f" for agent {args.agent}" if args.agent else ""))
            return 0
        if await revoke_token(store, args.id):
            print(f"token {args.id} revoked")
            return 0
        print(f"ari-recorder: no token {args.id!r}", file=sys.stderr)
        return 1


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite: naive, UTC


def _when(moment: datetime) -> str:
    return _utc(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
