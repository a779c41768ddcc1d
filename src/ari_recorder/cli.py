"""The `ari-recorder` command: its subcommands and their one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ari_recorder.settings import SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ari-recorder", description=__doc__)
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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are about itself
    try:
        if args.command == "simulator":
            from ari_recorder.simulator.server import SimulatorConfig, run_forever

            config = SimulatorConfig(args.username, args.password, args.app, args.recordings)
            asyncio.run(run_forever(config, args.host, args.port))
            return 0
        if args.command == "run":
            from ari_recorder.settings import load_settings

            settings = load_settings(args.config)  # checked before anything starts
            from ari_recorder.app import serve_forever

            asyncio.run(serve_forever(settings))
            return 0
        if args.command == "keys":
            from ari_recorder.delivery import generate_keypair

            public = generate_keypair(args.out)
            print(f"private key written to {args.out} (mode 600)")
            print("keep it with the recording platform, offline and backed up: without it no recording")
            print("encrypted to it can ever be read. Put the public key in the settings:")
            print(f'  [delivery]\n  age_recipients = ["{public}"]')
            return 0
        if args.command == "demo":
            from ari_recorder.demo import run_demo

            return asyncio.run(run_demo(args.var))
    except KeyboardInterrupt:
        return 130
    except SettingsError as error:
        print(f"ari-recorder: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"ari-recorder: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
