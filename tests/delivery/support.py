"""Real components for the delivery tests: an OpenSSH sshd, the age CLI, the simulator's stored recordings.

A missing tool skips a test on a workstation and fails it in CI (CI=true): nothing passes by
silently not running.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import io
import math
import os
import random
import shutil
import signal
import subprocess
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import AttachedDataRow, InteractionRow, RecordingRow, SegmentRow
from ari_simulator.server import RunningSimulator, free_port
from ari_simulator.state import StoredRecording

SSHD = Path("/usr/sbin/sshd")


def require(tool: str | Path) -> str:
    found = shutil.which(str(tool))
    if found is None:
        message = f"{tool} is not installed (Debian: openssh-server, openssh-client, age, ffmpeg)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def keygen(path: Path, comment: str = "test") -> str:
    """An ed25519 key pair without passphrase; the public key's line."""
    require("ssh-keygen")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class Sshd:
    """OpenSSH's sshd on 127.0.0.1, from a directory of its own; stopped and started at will."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        require(SSHD)
        self.root.mkdir(parents=True, exist_ok=True)
        self.remote.mkdir(exist_ok=True)
        self.host_public = keygen(self.root / "host_key", "host")
        self.client_public = keygen(self.client_key, "client")
        self.authorized.write_text(self.client_public + "\n")
        self.authorized.chmod(0o600)
        (self.root / "sshd_config").write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{self.port}",
                    f"HostKey {self.root / 'host_key'}",
                    f"AuthorizedKeysFile {self.authorized}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "UsePAM no",
                    "StrictModes no",
                    "Subsystem sftp internal-sftp",
                    "LogLevel INFO",
                    "",
                ]
            )
        )
        self.write_known_hosts(self.host_public)

    @property
    def remote(self) -> Path:
        return self.root / "remote"

    @property
    def client_key(self) -> Path:
        return self.root / "client_key"

    @property
    def authorized(self) -> Path:
        return self.root / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def user(self) -> str:
        import getpass

        return getpass.getuser()

    def write_known_hosts(self, public_line: str) -> None:
        kind, key = public_line.split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {key}\n")

    def _spawn(self) -> subprocess.Popen[bytes]:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation needs it
        with open(self.root / "sshd.log", "ab") as log:
            return subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.root / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    async def start(self) -> None:
        self.process = await asyncio.to_thread(self._spawn)
        async with asyncio.timeout(20):  # a bound on readiness, not an assertion about speed
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    return
                await asyncio.sleep(0.05)

    async def freeze(self) -> None:
        """The daemon and its sessions stopped (SIGSTOP) where they are: a server that hangs."""
        if self.process is not None:
            for pid in [self.process.pid, *_descendants(self.process.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)

    async def stop(self) -> None:
        """The daemon and every session it forked (an outage, not just no new connections)."""
        if self.process is None or self.process.poll() is not None:
            return
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)
        self.process = None

    def files(self) -> list[str]:
        """Every file under the remote directory, relative, sorted (partial ones included)."""
        return sorted(str(p.relative_to(self.remote)) for p in self.remote.rglob("*") if p.is_file())


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def age_decrypt(identity: Path, encrypted: Path) -> bytes:
    """The standard age CLI, not the library that encrypted it."""
    age = require("age")
    return subprocess.run(
        [age, "-d", "-i", str(identity), str(encrypted)], check=True, capture_output=True
    ).stdout


def tone_wav(path: Path, seconds: float = 0.5, rate: int = 8000, seed: int = 0) -> bytes:
    """A WAV like Asterisk's (16-bit mono), a tone plus noise so every file differs."""
    noise = random.Random(seed)
    samples = array.array(
        "h",
        (
            int(8000 * math.sin(2 * math.pi * 440 * n / rate) + noise.randint(-500, 500))
            for n in range(int(seconds * rate))
        ),
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path.read_bytes()


def noise_wav(size: int, rate: int = 8000, seed: int = 0) -> bytes:
    """A WAV like Asterisk's (16-bit mono) of `size` bytes in all, quickly: noise, incompressible
    as audio nearly is (tens of MB where a tone would take seconds to compute)."""
    frames = (size - 44) // 2
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(random.Random(seed).randbytes(2 * frames))
    return buffer.getvalue()


async def ready_recording(
    store: Store,
    sim: RunningSimulator,
    interaction: str,
    *,
    content: bytes | None = None,
    seconds: float = 0.5,
    queue: str | None = "support",
    agent: str = "1001",
    seed: int = 0,
) -> tuple[str, bytes]:
    """A recording Asterisk finished (a file in the simulator) and the store knows as ready."""
    name = f"{interaction}-seg1-{agent}"
    path = Path(sim.asterisk.recordings_dir) / f"{name}.wav"
    if content is None:
        content = tone_wav(path, seconds, seed=seed)
    else:
        path.write_bytes(content)
    sim.asterisk.media.stored[name] = StoredRecording(name, "wav", path)
    now = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
    async with store.sessions.begin() as session:
        session.add(
            InteractionRow(
                id=interaction,
                direction="inbound",
                queue=queue,
                customer_channel=interaction,
                phase="ended",
                started_at=now,
            )
        )
        await session.flush()
        session.add(AttachedDataRow(interaction_id=interaction, key="customer", value="15550001"))
        session.add(
            SegmentRow(
                interaction_id=interaction,
                number=1,
                agent=agent,
                channel=f"{interaction}-agent",
                recorded=True,
                levels=[{"level": "queue", "by": "support"}],
                reason="selected by queue support",
                recording=name,
                started_at=now,
            )
        )
        session.add(
            RecordingRow(
                name=name,
                interaction_id=interaction,
                segment=1,
                side="agent",
                state="ready",
                levels=[{"level": "queue", "by": "support"}],
                started_at=now,
                finished_at=now,
            )
        )
    return name, content
