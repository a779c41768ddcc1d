"""`ari-recorder agents login|logout|where`: hot-desking from the command line, straight into the
database every controller reads (they see a change within about a second)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from ari_recorder.domain.devices import endpoint_problem

if TYPE_CHECKING:  # the CLI starts without the database's packages; the command imports them
    from ari_recorder.settings import Settings
    from ari_recorder.storage.logins import Moved
    from ari_recorder.storage.store import Store

Database = Callable[["Settings"], AbstractAsyncContextManager["Store"]]


def add_agents_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = commands.add_parser("agents", help="where agents are logged in (hot-desking)")
    verbs = agents.add_subparsers(dest="agents_command", required=True)
    login = verbs.add_parser("login", help="log an agent in on a device; whoever was there is logged out")
    login.add_argument("agent")
    login.add_argument("--endpoint", required=True, help="PJSIP/<name>, Local/<ext>@<context>...")
    logout = verbs.add_parser("logout", help="log an agent out: the queues dial it nowhere")
    logout.add_argument("agent")
    where = verbs.add_parser("where", help="every agent and where it is logged in")
    for sub in (login, logout, where):
        sub.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")


def _said(moved: Moved) -> str:
    if moved.displaced is not None:
        print(f"agent {moved.displaced} logged out of {moved.after} (displaced by {moved.agent})")
    if moved.after is None:
        return f"agent {moved.agent} logged out" + (
            f" of {moved.before}" if moved.before else " (was nowhere)"
        )
    return f"agent {moved.agent} logged in on {moved.after}" + (
        f" (was on {moved.before})" if moved.before else ""
    )


async def agents_command(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from ari_recorder.storage import logins

    verb = args.agents_command
    if verb in ("login", "logout") and args.agent not in settings.agents:
        known = ", ".join(sorted(settings.agents)) or "none"
        print(f"ari-recorder: no agent {args.agent!r} in the settings (agents: {known})", file=sys.stderr)
        return 2
    if verb == "login" and (problem := endpoint_problem(args.endpoint)) is not None:
        print(f"ari-recorder: --endpoint: {problem}", file=sys.stderr)
        return 2
    async with database(settings) as store:
        if verb == "login":
            print(_said(await logins.login(store, args.agent, args.endpoint, by="cli")))
            return 0
        if verb == "logout":
            print(_said(await logins.logout(store, args.agent, by="cli")))
            return 0
        found = await logins.logins(store)
        for agent in sorted(set(settings.agents) | set(found)):
            login = found.get(agent)
            if login is None or login.endpoint is None:
                default = settings.agents[agent].endpoint if agent in settings.agents else ""
                never = login is None and default
                print(
                    f"{agent}  nowhere"
                    + (f"  (default {default}, logged in at the next start)" if never else "")
                )
                continue
            since = login.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if login.since else "?"
            print(f"{agent}  {login.endpoint}  since {since}  by {login.by}")
        return 0
