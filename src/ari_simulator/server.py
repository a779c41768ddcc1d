"""The simulator's app factory and runner: a real aiohttp HTTP + WebSocket server on a port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ari_simulator import ari_http, control
from ari_simulator.asterisk import Asterisk
from ari_simulator.dialplan import Dialplan

log = logging.getLogger("ari_simulator")


@dataclass(frozen=True)
class SimulatorConfig:
    username: str = "asterisk"
    password: str = "asterisk"
    dialplan_app: str = "ari-recorder"  # ${ARI_APP} in extensions.conf
    recordings_dir: Path | None = None  # a temporary directory when not given


def build_app(config: SimulatorConfig, recordings_dir: Path) -> web.Application:
    app = web.Application(middlewares=[ari_http.ari_auth, ari_http.ari_errors, control.control_errors])
    core = Asterisk(recordings_dir=recordings_dir)
    app[ari_http.ASTERISK] = core
    app[ari_http.DIALPLAN] = Dialplan(core, app=config.dialplan_app)
    app[ari_http.CREDENTIALS] = (config.username, config.password)
    app[ari_http.SOCKETS] = set()
    app.add_routes(ari_http.routes())
    app.add_routes(control.routes())

    async def close_sockets(app: web.Application) -> None:
        for ws in app[ari_http.SOCKETS].copy():
            await ws.close()

    async def finish_files(app: web.Application) -> None:
        await app[ari_http.ASTERISK].media.finish_rendering()

    app.on_shutdown.append(close_sockets)
    app.on_cleanup.append(finish_files)
    return app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningSimulator:
    host: str
    port: int
    app: web.Application

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ari_url(self) -> str:
        return f"{self.base_url}/ari"

    @property
    def asterisk(self) -> Asterisk:
        return self.app[ari_http.ASTERISK]


@contextlib.asynccontextmanager
async def serve(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator on a real socket until the block ends (port 0: a free port)."""
    config = config or SimulatorConfig()
    with contextlib.ExitStack() as stack:
        recordings = config.recordings_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="ari-sim-"))
        )
        recordings.mkdir(parents=True, exist_ok=True)
        app = build_app(config, recordings)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port or free_port(host))
        await site.start()
        bound = runner.addresses[0][1]
        try:
            yield RunningSimulator(host, bound, app)
        finally:
            await runner.cleanup()


async def run_forever(config: SimulatorConfig, host: str, port: int) -> None:
    async with serve(config, host, port) as sim:
        log.info(
            "simulator: ARI on %s (user %s), control API on %s/sim/",
            sim.ari_url,
            config.username,
            sim.base_url,
        )
        await asyncio.Event().wait()
