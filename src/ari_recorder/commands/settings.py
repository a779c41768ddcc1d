"""`ari-recorder settings show|set|delete|import`: the managed settings (agents, queues, the
company's settings, the rules) in the database, through engine/settings_admin.py, the service the
HTTP API uses: the same checks (every wrong field named, nothing written), the same audit rows
(actor `cli/<login>`, or --by), and every running controller has the change within seconds.

Objects are named as the API's paths: agents/1001, queues/support, company, rules. `set` takes the
object's document as JSON (a file, or - for stdin): its fields, or the object as `show` prints it
(`{"version": ..., "settings": {...}}`, whose `settings` is taken). --if-version N: changed only if
still at version N (what `show` printed), else refused, nothing changed. Without it the change is
unconditional: the CLI is the operator's own hand, the API asks for If-Match.

On a database no controller has started on, the --config file seeds them first, as `run` would.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ari_recorder.errors import AppError

if TYPE_CHECKING:  # the storage is imported when the command runs, not for every command's start
    from ari_recorder.settings import Settings
    from ari_recorder.storage.store import Store

KINDS = {"agents": "agent", "queues": "queue", "company": "company", "rules": "rules"}
OBJECT_HELP = "agents/<id>, queues/<id>, company or rules"


def add_parser(commands: Any) -> None:
    """`settings` and its subcommands, on the command's subparsers."""
    parser = commands.add_parser(
        "settings", help="the managed settings in the database: agents, queues, company, rules"
    )
    subcommands = parser.add_subparsers(dest="settings_command", required=True)
    show = subcommands.add_parser("show", help="print the settings (or one object) as JSON")
    show.add_argument("object", nargs="?", default=None, help=f"{OBJECT_HELP}; none: all, with the revision")
    put = subcommands.add_parser("set", help="replace (or create) an object from JSON; checked as a whole")
    put.add_argument("object", help=OBJECT_HELP)
    put.add_argument("json", nargs="?", default="-", help="a JSON file with the document (default -: stdin)")
    delete = subcommands.add_parser("delete", help="delete an agent or a queue nothing names")
    delete.add_argument("object", help="agents/<id> or queues/<id>")
    imported = subcommands.add_parser(
        "import", help="take the agents, queues, company settings and rules of a settings file"
    )
    imported.add_argument(
        "file", type=Path, help="a TOML settings file (as for run); checked as run checks it"
    )
    for sub in (put, delete):
        sub.add_argument("--if-version", type=int, default=None, help="only if the object is at this version")
    for sub in (put, delete, imported):
        sub.add_argument("--reason", default=None, help="why (kept in the audit trail)")
        sub.add_argument("--by", default=None, help="who (default: your login name)")
    for sub in (show, put, delete, imported):
        sub.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (a container)
        return "unknown"


class BadObject(AppError):
    id = "bad-object"


def object_of(text: str) -> tuple[str, str | None]:
    """agents/1001 -> ("agent", "1001"); company -> ("company", None)."""
    section, _, name = text.strip("/").partition("/")
    kind = KINDS.get(section)
    if kind is None or (kind in ("agent", "queue")) != bool(name):
        raise BadObject(f"{text!r}: expected {OBJECT_HELP}")
    return kind, name or None


def document_of(source: str, read_stdin: Callable[[], str] = lambda: sys.stdin.read()) -> Any:
    """The JSON document of `source` (- : stdin); an object as `show` prints it gives its settings."""
    try:
        raw = read_stdin() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise BadObject(f"{source}: cannot read it: {error.strerror}") from None
    try:
        found = msgspec.json.decode(raw)
    except msgspec.DecodeError as error:
        raise BadObject(f"{source}: not JSON: {error}") from None
    if isinstance(found, dict) and isinstance(found.get("settings"), dict) and "version" in found:
        return found["settings"]
    return found


def _print(value: Any) -> None:
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


async def run(
    args: argparse.Namespace,
    file: Settings,
    database: Callable[[Settings], AbstractAsyncContextManager[Store]],
) -> int:
    """The subcommand on the store of `file`'s database; 0, or 1 with the problems on stderr."""
    from ari_recorder.engine.live_settings import start
    from ari_recorder.engine.managed import InvalidSettings
    from ari_recorder.engine.settings_admin import SettingsAdmin, object_json, whole_json
    from ari_recorder.settings import load_settings

    actor = f"cli/{args.by if getattr(args, 'by', None) else _login()}"
    async with database(file) as store:
        try:
            admin = SettingsAdmin(store, await start(store, file))
            command = args.settings_command
            if command == "show":
                if args.object is None:
                    _print(whole_json(await admin.whole()))
                else:
                    _print(object_json(await admin.get(*object_of(args.object))))
            elif command == "set":
                kind, name = object_of(args.object)
                stored, created = await admin.put(
                    kind,
                    name,
                    document_of(args.json),
                    actor=actor,
                    expected=args.if_version,
                    reason=args.reason,
                )
                print(
                    f"{args.object}: {'created' if created else 'version'} {stored.version}", file=sys.stderr
                )
                _print(object_json(stored))
            elif command == "delete":
                kind, name = object_of(args.object)
                if name is None:
                    raise BadObject(f"{args.object}: only agents and queues are deleted")
                gone = await admin.delete(
                    kind, name, actor=actor, expected=args.if_version, reason=args.reason
                )
                print(f"{args.object}: deleted (was version {gone.version})")
            else:
                applied = await admin.import_file(load_settings(args.file), actor=actor, reason=args.reason)
                for (kind, name), (before, after) in sorted(applied.changed.items()):
                    what = "created" if before is None else "deleted" if after is None else "changed"
                    print(f"{kind} {name}: {what}")
                print(
                    f"imported {args.file}: {len(applied.changed)} change(s), "
                    f"revision {applied.after.revision}"
                )
        except InvalidSettings as error:
            print("ari-recorder: the settings would not hold; nothing changed:", file=sys.stderr)
            for problem in error.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        except AppError as error:
            print(f"ari-recorder: {error.message}", file=sys.stderr)
            return 1
    return 0
