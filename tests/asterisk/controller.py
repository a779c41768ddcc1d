"""`ari-recorder run` as a real process against a real Asterisk, and what it delivered: each
file decrypted with the age CLI, its sidecar, the audit trail read from its database."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ari_recorder.delivery.crypto import generate_keypair
from tests.asterisk.harness import ORPHANLESS, free_tcp_port
from tests.support.audio import summary, tone_runs

Table = dict[str, Any]


def toml(settings: dict[str, Table]) -> str:
    """Enough TOML for the settings: sections of strings, numbers, booleans and lists."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    lines: list[str] = []

    def section(name: str, table: Table) -> None:
        plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in plain.items())
        lines.append("")
        for k, v in table.items():
            if isinstance(v, dict):
                section(f"{name}.{json.dumps(k)}", v)

    for name, table in settings.items():
        section(name, table)
    return "\n".join(lines)


@dataclass
class Delivered:
    """One delivered recording: its decrypted audio and its sidecar."""

    audio: Path
    sidecar: dict[str, Any]

    @property
    def agent(self) -> str:
        return str(self.sidecar["agent"])


@dataclass
class Controller:
    """One `ari-recorder run` process: settings file, SQLite database, outbox, age key."""

    home: Path
    ari_url: str
    ari_password: str
    agents: dict[str, Table]
    queues: dict[str, Table]
    company: Table = field(default_factory=dict)
    phone_transfers: str = "application"
    delivery: Table = field(default_factory=dict)
    postgres: Table = field(default_factory=dict)  # {"url", "schema"}: PostgreSQL, not SQLite
    service: Table = field(default_factory=dict)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    api_port: int = field(default_factory=free_tcp_port)
    process: asyncio.subprocess.Process | None = None
    lines: list[str] = field(default_factory=list)
    heard_at: list[float] = field(default_factory=list)  # time.monotonic() when each line came
    _reader: asyncio.Task[None] | None = None
    _heard: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.key = self.home / "platform.key"
        self.recipient = generate_keypair(self.key) if not self.key.exists() else self._recipient()

    def _recipient(self) -> str:
        return next(
            line.split(": ")[1]
            for line in self.key.read_text().splitlines()
            if line.startswith("# public key")
        )

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def database(self) -> Path:
        return self.home / "ari-recorder.db"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    def settings(self) -> Path:
        path = self.home / "ari-recorder.toml"
        document = {
            "ari": {"url": self.ari_url, "password": "", "phone_transfers": self.phone_transfers},
            "database": self.postgres or {"url": f"sqlite+aiosqlite:///{self.database}"},
            "service": self.service,
            "api": {"port": self.api_port},
            "delivery": {
                "age_recipients": [self.recipient],
                "spool_dir": str(self.home / "spool"),
                "outbox_dir": str(self.outbox),
                "poll_seconds": 0.5,
                **self.delivery,
            },
            "company": self.company,
            "queues": self.queues,
            "agents": self.agents,
        }
        path.write_text(toml(document))
        return path

    def _env(self) -> dict[str, str]:
        # The secrets through the environment, as README advises; nothing else inherited.
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("ARI_RECORDER_")},
            "ARI_RECORDER_ARI__PASSWORD": self.ari_password,
            "ARI_RECORDER_API__ADMIN_TOKEN": self.admin_token,
        }

    async def start(self, ready: str = "ari connected") -> None:
        """Started, once it has said `ready` (a standby says "leadership: standby")."""
        self.lines.clear()
        self.heard_at.clear()
        self.process = await self._spawn("run", stdout=asyncio.subprocess.DEVNULL)
        self._reader = asyncio.create_task(self._read(self.process))
        await self.said(ready)

    async def command(self, command: str, seconds: float = 30.0) -> tuple[int, str]:
        """`ari-recorder <command> --config <its settings>` to its end: exit code, what it said."""
        process = await self._spawn(command, stdout=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), seconds)
        assert process.returncode is not None
        return process.returncode, (out + err).decode()

    async def _spawn(self, command: str, stdout: int) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *ORPHANLESS,
            sys.executable,
            "-m",
            "ari_recorder",
            command,
            "--config",
            str(self.settings()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
            env=self._env(),
            cwd=self.home,
            start_new_session=True,
        )

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        with (self.home / "controller.log").open("a") as log:
            while line := await process.stderr.readline():
                text = line.decode(errors="replace").rstrip("\n")
                log.write(text + "\n")
                async with self._heard:
                    self.heard_at.append(time.monotonic())
                    self.lines.append(text)
                    self._heard.notify_all()
        async with self._heard:
            self._heard.notify_all()

    async def said(self, text: str, seconds: float = 30.0, since: int = 0) -> str:
        """The first line (from line `since` on) holding `text`; fails after `seconds`."""

        def found() -> str | None:
            return next((line for line in self.lines[since:] if text in line), None)

        try:
            async with asyncio.timeout(seconds), self._heard:
                while (line := found()) is None:
                    assert self.process is not None
                    if self.process.returncode is not None and self._reader and self._reader.done():
                        raise AssertionError(f"the controller exited without saying {text!r}:\n{self.tail()}")
                    await self._heard.wait()
                return line
        except TimeoutError:
            raise AssertionError(
                f"the controller did not say {text!r} within {seconds} s:\n{self.tail()}"
            ) from None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.lines[-lines:])

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signum)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader:
            await self._reader
        return self.process.returncode or 0

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    def errors(self) -> list[str]:
        return [line for line in self.lines if " ERROR " in line or "Traceback" in line]

    # What was delivered

    def _complete(self, count: int) -> bool:
        files = self.delivered_files()
        return len(files) >= count and all(_sidecar_of(p).exists() for p in files)

    def delivered_files(self) -> list[Path]:
        return sorted(p for p in self.outbox.rglob("*.age") if not p.name.endswith(".json.age"))

    async def deliveries(self, count: int, seconds: float = 60.0) -> list[Delivered]:
        """Wait for `count` delivered recordings; each decrypted with the standard age CLI."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    if self._complete(count):
                        break
                    await asyncio.sleep(0.2)  # files another process writes: nothing to await
        except TimeoutError:
            raise AssertionError(
                f"{len(self.delivered_files())} of {count} recordings delivered "
                f"after {seconds} s:\n{self.tail()}"
            ) from None
        await asyncio.sleep(0.5)  # anything beyond `count` arrives too: the tests check the number
        found = []
        for path in self.delivered_files():
            audio = path.with_suffix("")
            audio.write_bytes(age_decrypt(self.key, path))
            sidecar = json.loads(age_decrypt(self.key, _sidecar_of(path)))
            found.append(Delivered(audio, sidecar))
        return sorted(found, key=lambda d: (d.sidecar["started_at"], d.sidecar["segment"]))

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute("SELECT * FROM audit ORDER BY at")]
        return [r for r in rows if action is None or r["action"] == action]

    def query(self, sql: str) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql)]

    async def http(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.api + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)


def the_keys_pause(delivered: Delivered, agent: str, behavior: str, seconds: tuple[float, float]) -> None:
    """One pause by the agent's keys, resumed by them, its length within `seconds`, and the file
    agreeing with the sidecar: silence where it says (`silence`), or no gap at all (`skip`)."""
    [pause] = delivered.sidecar["pauses"]
    assert (pause["source"], pause["by"], pause["ended_by"]) == ("keys", agent, "resume"), pause
    assert pause["behavior"] == behavior and seconds[0] < pause["seconds"] < seconds[1], pause
    runs = tone_runs(delivered.audio)
    quiet = [r for r in runs if not r.tones and r.end - r.start > (0.5 if behavior == "silence" else 0.1)]
    if behavior == "silence":
        [gap] = quiet
        assert abs(gap.start - pause["offset_seconds"]) < 0.1, (summary(runs), pause)
        assert abs((gap.end - gap.start) - pause["seconds"]) < 0.1, (summary(runs), pause)
    else:
        assert not quiet, summary(runs)


def _sidecar_of(audio: Path) -> Path:
    stem = audio.name.removesuffix(".age")
    base = stem.rsplit(".", 1)[0]
    return audio.with_name(f"{base}.json.age")


def age_decrypt(identity: Path, encrypted: Path) -> bytes:
    """The standard age CLI, not the library that encrypted it."""
    return subprocess.run(
        ["age", "-d", "-i", str(identity), str(encrypted)], check=True, capture_output=True
    ).stdout


@asynccontextmanager
async def running_controller(
    expected_errors: tuple[str, ...] = (), **options: Any
) -> AsyncIterator[Controller]:
    """The controller for the block; an ERROR line it logs fails the test, unless it holds one
    of `expected_errors`."""
    controller = Controller(**options)
    await controller.start()
    try:
        yield controller
    finally:
        await controller.stop()
        errors = [e for e in controller.errors() if not any(x in e for x in expected_errors)]
        if errors:
            pytest.fail("the controller logged errors:\n" + "\n".join(errors), pytrace=False)
