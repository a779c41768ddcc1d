"""The `ari-recorder` command: its subcommands and their one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ari_recorder.commands import holds as holds_command
from ari_recorder.commands import settings as settings_command
from ari_recorder.commands import tokens as tokens_command
from ari_recorder.commands.agents import add_agents_parser, agents_command
from ari_recorder.logs import configure as configure_logging
from ari_recorder.settings import Settings, SettingsError

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ari-recorder",
        description=__doc__,
        epilog="run and simulator stop on SIGINT or SIGTERM and exit 0; demo, stopped before it is "
        "done, exits 130 (SIGINT) or 143 (SIGTERM)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the simulator and the controller, place calls, report")
    demo.add_argument("--var", type=Path, default=Path("var"), help="where the demo keeps its files")

    run = commands.add_parser("run", help="run the controller against Asterisk")
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the TOML settings file (default: ARI_RECORDER_CONFIG, else embedded defaults)",
    )

    keys = commands.add_parser("keys", help="the age key pair recordings are encrypted to")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_commands.add_parser("generate", help="write a new private key; print its public key")
    generate.add_argument("--out", type=Path, required=True, help="where to write the private key (mode 600)")

    tokens_command.add_parser(commands)

    deliveries = commands.add_parser("deliveries", help="the delivery queue: one row per file to deliver")
    deliveries_commands = deliveries.add_subparsers(dest="deliveries_command", required=True)
    listed = deliveries_commands.add_parser("list", help="rows, newest first: state, attempts, last error")
    listed.add_argument(
        "--state",
        choices=("fetching", "pending", "uploading", "done", "dead"),
        default=None,
        help="only rows in this state",
    )
    listed.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    retry = deliveries_commands.add_parser(
        "retry", help="dead rows back in the queue, attempts reset (a running controller takes them)"
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="the rows' ids (as list prints them)")
    retry.add_argument("--all-dead", action="store_true", help="every dead row")
    for sub in (listed, retry):
        sub.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")

    holds_command.add_parser(commands)
    settings_command.add_parser(commands)
    from ari_recorder.commands.audit import add_audit  # the command's code is a module of its own

    add_audit(commands)
    add_agents_parser(commands)

    check = commands.add_parser(
        "check", help="check the settings, and every announcement against Asterisk, without starting"
    )
    check.add_argument("--config", type=Path, default=None, help="the TOML settings file (as for run)")

    sim = commands.add_parser("simulator", help="run the Asterisk simulator (ARI on /ari, control on /sim)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8088)
    sim.add_argument("--username", default="asterisk")
    sim.add_argument("--password", default="asterisk")
    sim.add_argument("--app", default="ari-recorder", help="the application the dialplan enters")
    sim.add_argument("--recordings", type=Path, default=None, help="where recordings are written")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Started with SIGINT ignored (a shell's background job, some CI runners), Python leaves it
    # ignored: Ctrl-C and `kill -INT` would do nothing. Every command stops on it.
    if threading.current_thread() is threading.main_thread():  # tests call main() in threads too
        signal.signal(signal.SIGINT, signal.default_int_handler)
    configure_logging(args.verbose)
    try:
        if args.command == "simulator":
            from ari_recorder.demo import simulator_package

            simulator = simulator_package()
            config = simulator.SimulatorConfig(args.username, args.password, args.app, args.recordings)
            asyncio.run(_until_stopped(simulator.run_forever(config, args.host, args.port)))
            return 0  # stopped, as asked, by SIGINT or SIGTERM
        if args.command == "run":
            from ari_recorder.settings import load_settings

            settings = load_settings(args.config)  # checked before anything starts
            from ari_recorder.app import serve_forever
            from ari_recorder.leadership import AlreadyRunning

            try:
                asyncio.run(serve_forever(settings))
            except AlreadyRunning as error:
                print(f"ari-recorder: {error}", file=sys.stderr)
                return 1
            return 0
        if args.command == "check":
            from ari_recorder.settings import load_settings

            checked = load_settings(args.config)
            checked.require_encryption()
            return asyncio.run(_check(checked))
        if args.command == "keys":
            from ari_recorder.delivery import generate_keypair

            public = generate_keypair(args.out)
            print(f"private key written to {args.out} (mode 600)")
            print("keep it with the recording platform, offline and backed up: without it no recording")
            print("encrypted to it can ever be read. Put the public key in the settings:")
            print(f'  [delivery]\n  age_recipients = ["{public}"]')
            return 0
        if args.command == "tokens":
            from ari_recorder.settings import load_settings

            return asyncio.run(tokens_command.run(args, load_settings(args.config), _database))
        if args.command == "agents":
            from ari_recorder.settings import load_settings

            return asyncio.run(agents_command(args, load_settings(args.config), _database))
        if args.command == "deliveries":
            from ari_recorder.settings import load_settings

            return asyncio.run(_deliveries(args, load_settings(args.config)))
        if args.command == "holds":
            from ari_recorder.settings import load_settings

            return asyncio.run(holds_command.run(args, _database(load_settings(args.config))))
        if args.command == "settings":
            from ari_recorder.settings import load_settings

            return asyncio.run(settings_command.run(args, load_settings(args.config), _database))
        if args.command == "audit":
            from ari_recorder.commands.audit import run_audit
            from ari_recorder.settings import load_settings

            return run_audit(args, load_settings(args.config))
        if args.command == "demo":
            from ari_recorder.demo import run_demo

            return asyncio.run(_until_stopped(run_demo(args.var), stopped=lambda signum: 128 + signum))
    except KeyboardInterrupt:
        return 130
    except SettingsError as error:
        print(f"ari-recorder: {error}", file=sys.stderr)
        return 2
    except (OSError, DatabaseFailed) as error:
        print(f"ari-recorder: {error}", file=sys.stderr)
        return 1
    return 2


async def _until_stopped(work: Awaitable[int | None], stopped: Callable[[int], int] = lambda _: 0) -> int:
    """`work`'s own result, unless SIGINT or SIGTERM comes first: then it is cancelled (its
    cleanups run, as on any cancellation) and the result is `stopped(signal)`. A service manager,
    `docker stop` and a CI runner stop a command with SIGTERM, which would otherwise kill it on
    the spot; `run` needs none of this: serve_forever hands the calls over on either signal."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    handled: list[int] = []
    if threading.current_thread() is threading.main_thread():  # tests call main() in threads too
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop, signum)
            handled.append(signum)
    try:
        return await task or 0
    except asyncio.CancelledError:
        if not received:
            raise
        return stopped(received[0])
    finally:
        for handled_signum in handled:
            loop.remove_signal_handler(handled_signum)


async def _check(settings: Settings) -> int:
    """What `run` checks before it takes a call, without starting: 0 and "ok" when all is there."""
    from ari_recorder.api.tls import server_context
    from ari_recorder.ari.errors import AriError
    from ari_recorder.ari.rest import AriClient
    from ari_recorder.engine.announcements import require_sounds

    server_context(settings.api)  # a wrong certificate or key: a SettingsError, exit 2
    async with AriClient(settings.ari.url, settings.ari.username, settings.ari.password) as ari:
        try:
            checked = await require_sounds(ari, settings)  # MissingSounds: a SettingsError, exit 2
        except AriError as error:
            print(f"ari-recorder: cannot check the announcements: {error}", file=sys.stderr)
            return 1
    sounds = ", ".join(checked.sounds) or "none"
    print(f"ok: the settings, and the announcements of {checked.queues} queue(s) in Asterisk: {sounds}")
    return 0


async def _deliveries(args: argparse.Namespace, settings: Settings) -> int:
    from ari_recorder.storage.deliveries import State
    from ari_recorder.storage.redelivery import list_deliveries, retry_dead_rows

    if args.deliveries_command == "retry" and bool(args.ids) == args.all_dead:
        print("ari-recorder: name the rows to retry (their ids), or --all-dead; not both", file=sys.stderr)
        return 2
    if args.deliveries_command == "list" and args.limit < 1:
        print(f"ari-recorder: --limit: expected at least 1, got {args.limit}", file=sys.stderr)
        return 2
    async with _database(settings) as store:
        if args.deliveries_command == "list":
            state = State(args.state) if args.state else None
            rows = await list_deliveries(store, state, args.limit)
            for row in rows:
                print(
                    f"{row.id}  {row.state}  attempts {row.attempts}  {row.remote_path}  "
                    f"{row.last_error or '-'}"
                )
            if not rows:
                print(f"no {args.state} deliveries" if args.state else "no deliveries")
            elif len(rows) == args.limit:
                print(f"(the newest {args.limit}; --limit for more)")
            return 0
        revived, refused = await retry_dead_rows(
            store, None if args.all_dead else args.ids, actor="cli", now=datetime.now(UTC)
        )
        for back in revived:
            was = f"; it was: {back.previous_error}" if back.previous_error else ""
            print(f"{back.id}: dead -> {back.state} (attempts {back.attempts} -> 0){was}")
        for not_retried in refused:
            print(
                f"ari-recorder: {not_retried.id}: {not_retried.why}: only dead deliveries are retried",
                file=sys.stderr,
            )
        if revived:
            print(
                f"{len(revived)} {'delivery' if len(revived) == 1 else 'deliveries'} queued again, due now: "
                "a running controller takes them at its next pass (within delivery.poll_seconds, "
                f"{settings.delivery.poll_seconds:g} s)"
            )
        elif args.all_dead:
            print("no dead deliveries")
        return 1 if refused else 0


class DatabaseFailed(Exception):
    """The database refused or could not be reached (the driver's words, without the statement's
    parameters: they may hold a token's hash)."""


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Store]:
    """The store, migrated, for one command; closed after."""
    from ari_recorder.storage.store import Store, database_error, where

    store = Store(
        settings.database.url,
        settings.database.schema or None,
        busy_timeout_ms=settings.database.busy_timeout_ms,
    )
    try:
        await store.migrate()
        yield store
    except OSError as error:  # not reachable: where it was looked for, without the password
        place = where(settings.database.url)
        raise DatabaseFailed(f"the database at {place}: {error.strerror or error}") from None
    except Exception as error:
        cause = database_error(error)
        if cause is None:
            raise
        raise DatabaseFailed(f"the database: {cause}") from None
    finally:
        await store.aclose()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite: naive, UTC


def _when(moment: datetime) -> str:
    return _utc(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


if __name__ == "__main__":
    sys.exit(main())
