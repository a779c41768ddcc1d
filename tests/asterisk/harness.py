"""A real Asterisk 22 per test: found (or unpacked from ../shared), configured by the project's
own asterisk/render, on ports of its own, and stopped with everything it started."""

from __future__ import annotations

import asyncio
import fcntl
import json
import math
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tarfile
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

from ari_recorder.ari.rest import basic_auth

REPO = Path(__file__).resolve().parents[2]
VERSION = "22.10.1"
ARCHIVE = REPO.parent / "shared" / "asterisk" / f"asterisk-{VERSION}-debian12-amd64.tar.xz"
CACHE = REPO / ".cache"
HERE = Path(__file__).resolve().parent
HOW_TO_GET_ONE = (
    "set ASTERISK_PREFIX to an Asterisk 22 installation, put `asterisk` on PATH, "
    f"or place {ARCHIVE.name} in {ARCHIVE.parent} (see README, 'With a real Asterisk')"
)


def _prefix_of(binary: Path) -> Path:
    return binary.resolve().parent.parent


def _unpacked() -> Path | None:
    """The archive unpacked once into .cache/ (several test processes may ask at once)."""
    if not ARCHIVE.is_file():
        return None
    target = CACHE / f"asterisk-{VERSION}"
    if (target / "asterisk" / "sbin" / "asterisk").is_file():
        return target / "asterisk"
    CACHE.mkdir(exist_ok=True)
    with (CACHE / ".asterisk.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "asterisk" / "sbin" / "asterisk").is_file():
            partial = CACHE / f".asterisk-{VERSION}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            with tarfile.open(ARCHIVE) as archive:
                archive.extractall(partial, filter="tar")
            partial.rename(target)
    return target / "asterisk"


def asterisk_prefix() -> Path:
    """Where Asterisk is: $ASTERISK_PREFIX, an `asterisk` on PATH, else the shared archive.
    Without one the test is skipped saying how to get one; in CI that is a failure."""
    found: Path | None = None
    if os.environ.get("ASTERISK_PREFIX"):
        found = Path(os.environ["ASTERISK_PREFIX"])
    elif on_path := shutil.which("asterisk"):
        found = _prefix_of(Path(on_path))
    else:
        found = _unpacked()
    if found is None or not (found / "lib" / "asterisk" / "modules").is_dir():
        message = f"no Asterisk 22 found: {HOW_TO_GET_ONE}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# Whatever a test starts dies with the test process, even when that is killed: no Asterisk or
# controller of an interrupted run is left reconnecting and taking CPU (util-linux's setpriv).
ORPHANLESS = ("setpriv", "--pdeathsig", "KILL", "--")


def _rtp_range() -> tuple[tuple[int, int], IO[str]]:
    """RTP ports of this instance: a 200-port slot between 10000 and 32000 (below the kernel's
    ephemeral ports, which the tests' own free ports come from), held with a lock file for as
    long as the instance lives, so that no other instance of any run on this machine uses it."""
    folder = CACHE / "rtp-slots"
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(110):
        lock = (folder / f"{slot}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        start = 10000 + slot * 200
        return (start, start + 199), lock
    raise RuntimeError("no free RTP slot: 110 Asterisk instances at once?")


def tone_file(path: Path, hz: float, seconds: float, rate: int = 8000, level: float = 8000.0) -> None:
    """A sine tone as 8 kHz 16-bit mono WAV, what Asterisk plays without transcoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", round(level * math.sin(2 * math.pi * hz * i / rate)))
        for i in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


def test_sounds(folder: Path) -> Path:
    """The tones the reference traces used: the Local-channel handsets speak them
    (tests/asterisk/extensions-site.conf), so a recording can be read by frequency."""
    sim = folder / "en" / "sim"
    tone_file(sim / "customer-tone.wav", 440, 6.0)
    tone_file(sim / "agent-tone.wav", 1000, 2.0)
    tone_file(sim / "announcement.wav", 660, 1.5)
    tone_file(folder / "fr" / "sim" / "annonce.wav", 770, 1.5)  # a notice in French only
    tone_file(folder / "moh" / "hold.wav", 550, 4.0, level=3000)  # heard by no recording
    return folder


@dataclass
class Asterisk:
    """One Asterisk process with its own root directory and ports."""

    root: Path
    prefix: Path
    phone_transfers: str = "application"
    agents: dict[str, int] = field(default_factory=dict)  # SIP agent extension -> its phone's port
    stasis_retry_seconds: int = 30
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    http_port: int = field(default_factory=free_tcp_port)
    sip_port: int = field(default_factory=free_udp_port)
    trunk_port: int = field(default_factory=free_udp_port)
    process: asyncio.subprocess.Process | None = None
    _log: Any = None

    def __post_init__(self) -> None:
        self.rtp, self._rtp_slot = _rtp_range()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/ari"

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "asterisk.conf"

    @property
    def sip(self) -> tuple[str, int]:
        return ("127.0.0.1", self.sip_port)

    @property
    def log_path(self) -> Path:
        return self.root / "console.log"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LD_LIBRARY_PATH": str(self.prefix / "lib"),
        }

    def render(self) -> None:
        sounds = test_sounds(self.root.parent / f"{self.root.name}-sounds")
        env = {
            **self._env(),
            "ASTERISK_PREFIX": str(self.prefix),
            "ARI_PASSWORD": self.password,
            "HTTP_PORT": str(self.http_port),
            "SIP_PORT": str(self.sip_port),
            "RTP_START": str(self.rtp[0]),
            "RTP_END": str(self.rtp[1]),
            "STRICT_RTP": "no",  # SIPp sends voice and keys from two ports
            "TRUNK_PORT": str(self.trunk_port),
            "AGENTS": " ".join(f"{ext}:{port}" for ext, port in self.agents.items()),
            "PHONE_TRANSFERS": self.phone_transfers,
            "STASIS_RETRY_SECONDS": str(self.stasis_retry_seconds),
            "EXTENSIONS_SITE": str(HERE / "extensions-site.conf"),
            "SOUNDS_EXTRA": str(sounds),
        }
        subprocess.run(
            [str(REPO / "asterisk" / "render"), str(self.root)], env=env, check=True, capture_output=True
        )

    async def start(self) -> None:
        if not (self.root / "etc").is_dir():
            self.render()
        self._log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *ORPHANLESS,
            str(self.prefix / "sbin" / "asterisk"),
            "-C",
            str(self.conf),
            "-f",
            "-n",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=self._env(),
            start_new_session=True,
        )
        await self._wait_up()

    async def _wait_up(self, seconds: float = 30.0) -> None:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    assert self.process is not None
                    if self.process.returncode is not None:
                        raise AssertionError(f"Asterisk exited {self.process.returncode}:\n{self.log()}")
                    try:
                        if await self.ari("GET", "/asterisk/ping"):
                            return
                    except (aiohttp.ClientError, AssertionError):
                        pass
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"Asterisk's ARI did not answer within {seconds} s:\n{self.log()}") from None

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        await self.cli("core stop now")
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._log:
            self._log.close()

    def release(self) -> None:
        """Its RTP slot free for another instance (once it is stopped for good)."""
        self._rtp_slot.close()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def log(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def cli(self, command: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(self.prefix / "sbin" / "asterisk"),
            "-C",
            str(self.conf),
            "-rx",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._env(),
        )
        out, _ = await asyncio.wait_for(process.communicate(), 15)
        return out.decode(errors="replace")

    async def ari(self, method: str, path: str, **params: str) -> Any:
        headers = {"Authorization": basic_auth("asterisk", self.password)}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, params=params, headers=headers) as response,
        ):
            assert response.status < 300, f"{method} {path}: {response.status} {await response.text()}"
            if response.content_type == "application/json":
                return await response.json()
            return await response.read() or True

    async def originate_local(self, queue: str, context: str = "inbound") -> None:
        """A Local-channel customer: `Local/<queue>@<context>`, whose other half speaks 440 Hz
        (`inbound-fr`: a French-speaking trunk's calls, tests/asterisk/extensions-site.conf)."""
        # Through ARI but into the dialplan, not an application: as a phone's call would come in.
        await self.ari(
            "POST",
            "/channels",
            endpoint=f"Local/{queue}@{context}",
            context="customer-phone",
            extension="talk",
        )

    async def channels(self, prefix: str = "") -> list[dict[str, Any]]:
        return [c for c in await self.ari("GET", "/channels") if c["name"].startswith(prefix)]

    async def hang_up(self, prefix: str, suffix: str = "") -> None:
        """A party puts the phone down: the channel named `prefix`...`suffix` is hung up (a Local
        pair's `;1` is the handset; its `;2` half goes with it)."""
        channel = _only([c for c in await self.channels(prefix) if c["name"].endswith(suffix)], prefix)
        await self.ari("DELETE", f"/channels/{channel['id']}")

    async def hang_up_local_customer(self, queue: str = "support") -> None:
        await self.hang_up(f"Local/{queue}@inbound-", ";1")

    async def held(self) -> dict[str, list[str]]:
        """What Asterisk still holds: channels, bridges, stored recordings."""
        channels = await self.ari("GET", "/channels")
        bridges = await self.ari("GET", "/bridges")
        stored = await self.ari("GET", "/recordings/stored")
        return {
            "channels": [c["name"] for c in channels],
            "bridges": [b["id"] for b in bridges],
            "recordings": [r["name"] for r in stored],
        }

    async def wait_empty(self, seconds: float = 30.0) -> None:
        """Nothing left in Asterisk: no channel, bridge or stored recording."""
        held: dict[str, list[str]] = {}
        try:
            async with asyncio.timeout(seconds):
                while True:
                    held = await self.held()
                    if not any(held.values()):
                        return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"Asterisk still holds, {seconds:.0f} s on: {json.dumps(held)}") from None


def _only(channels: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    assert len(channels) == 1, f"expected one channel {prefix}..., found {[c['name'] for c in channels]}"
    return channels[0]


@asynccontextmanager
async def running_asterisk(root: Path, **options: Any) -> AsyncIterator[Asterisk]:
    asterisk = Asterisk(root=root, prefix=asterisk_prefix(), **options)
    try:
        await asterisk.start()
        yield asterisk
    finally:
        if asterisk.process is not None and asterisk.process.returncode is None:
            await asterisk.stop()
        asterisk.release()


@dataclass
class TcpProxy:
    """A TCP relay of the test's own between the controller and Asterisk, which can cut every
    connection and refuse new ones for a while: a network failure, Asterisk itself untouched."""

    target: tuple[str, int]
    port: int = field(default_factory=free_tcp_port)
    refusing_until: float = 0.0
    _server: asyncio.Server | None = None
    _links: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ari"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self._close_all()
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    def cut(self, seconds: float) -> None:
        """Every connection dropped now, and any new one for `seconds`."""
        self.refusing_until = asyncio.get_running_loop().time() + seconds
        self._close_all()

    def _close_all(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self.refusing_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links -= {writer, up_writer}


@asynccontextmanager
async def tcp_proxy(target: tuple[str, int]) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
