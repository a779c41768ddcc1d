"""`ari-recorder holds put|release|list`: legal holds on interactions (storage/holds.py), each
change audited (actor "cli", by: --by, else the login name)."""

from __future__ import annotations

import argparse
import getpass
import sys
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ari_recorder.errors import AppError

if TYPE_CHECKING:  # the storage is imported when the command runs, not for every command's start
    from ari_recorder.storage.holds import Hold
    from ari_recorder.storage.store import Store

ACTOR = "cli"


def add_parser(commands: Any) -> None:
    """`holds` and its subcommands, on the command's subparsers."""
    parser = commands.add_parser("holds", help="legal holds: a held interaction is purged of nothing")
    subcommands = parser.add_subparsers(dest="holds_command", required=True)
    put = subcommands.add_parser("put", help="put an interaction (a call, a webchat) on legal hold")
    release = subcommands.add_parser("release", help="release an interaction's hold: purged when due")
    for sub in (put, release):
        sub.add_argument("interaction", help="the interaction's id (a call's, a webchat's)")
        sub.add_argument("--reason", required=True, help="why (kept with the hold and in the audit trail)")
        sub.add_argument("--by", default=None, help="who (default: your login name)")
    listing = subcommands.add_parser("list", help="the holds in force, oldest first")
    listing.add_argument("--all", action="store_true", help="the released holds too")
    for sub in (put, release, listing):
        sub.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (a container)
        return ACTOR


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _line(hold: Hold) -> str:
    line = f"{hold.interaction}  held since {_when(hold.placed_at)} by {hold.by}: {hold.reason}"
    if hold.released_at is not None:
        line += f"  (released {_when(hold.released_at)} by {hold.released_by}: {hold.release_reason})"
    return line


async def run(args: argparse.Namespace, database: AbstractAsyncContextManager[Store]) -> int:
    """The subcommand, on the store `database` opens; 0, or 1 with a line on stderr."""
    from ari_recorder.storage import holds

    by = args.by if getattr(args, "by", None) is not None else _login()
    now = datetime.now(UTC)
    async with database as store:
        try:
            if args.holds_command == "put":
                hold = await holds.put(store, args.interaction, args.reason, by, now, ACTOR)
                print(
                    f"{hold.interaction} on legal hold (hold {hold.id}, by {hold.by}): none of it is purged"
                )
                return 0
            if args.holds_command == "release":
                hold = await holds.release(store, args.interaction, args.reason, by, now, ACTOR)
                print(
                    f"{hold.interaction}: hold {hold.id} released by {by}; "
                    "retention purges what is due at its next pass"
                )
                return 0
        except AppError as error:
            print(f"ari-recorder: {error.message}", file=sys.stderr)
            return 1
        listed = await holds.listed(store, released_too=args.all)
        for hold in listed:
            print(_line(hold))
        if not listed:
            print("no holds" if args.all else "no holds in force")
        return 0
