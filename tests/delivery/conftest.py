"""Fixtures: the store (SQLite and PostgreSQL), the simulator as Asterisk, an sshd, a key pair."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import DeliverySettings, generate_keypair
from ari_recorder.storage.store import Store
from ari_simulator.server import RunningSimulator, serve
from tests.delivery.support import Sshd
from tests.support.stores import sqlite_store


@dataclass
class Clock:
    """The delivery's clock, moved by the test: retries fall due without waiting."""

    now: datetime = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 3600) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Identity:
    path: Path
    public: str


@pytest.fixture(name="sqlite_store")
async def sqlite_store_fixture(tmp_path: Path) -> AsyncIterator[Store]:
    async with sqlite_store(tmp_path) as store:
        yield store


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with serve() as sim:
        yield sim


@pytest.fixture
async def ari(sim: RunningSimulator) -> AsyncIterator[AriClient]:
    async with AriClient(sim.ari_url, "asterisk", "asterisk") as ari:
        yield ari


@pytest.fixture
def identity(tmp_path: Path) -> Identity:
    path = tmp_path / "platform" / "recordings.key"
    return Identity(path, generate_keypair(path))


@pytest.fixture
async def sshd(tmp_path: Path) -> AsyncIterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sftp_settings(tmp_path: Path, identity: Identity, sshd: Sshd, **changes: object) -> DeliverySettings:
    return msgspec.structs.replace(
        local_settings(tmp_path, identity),
        sftp_host="127.0.0.1",
        sftp_port=sshd.port,
        sftp_username=sshd.user,
        sftp_private_key=str(sshd.client_key),
        sftp_known_hosts=str(sshd.known_hosts),
        sftp_remote_dir=str(sshd.remote / "incoming"),
        **changes,
    )


def local_settings(tmp_path: Path, identity: Identity, **changes: object) -> DeliverySettings:
    return DeliverySettings(
        spool_dir=str(tmp_path / "spool"),
        outbox_dir=str(tmp_path / "outbox"),
        age_recipients=[identity.public],
        **changes,  # type: ignore[arg-type]
    )


# ----- the spool's disk full -----
SPOOL_DISK = 4 * 1024 * 1024
ROOM = 1024 * 1024  # what the filler leaves free


@dataclass
class SpoolDisk:
    """A tmpfs of its own as the spool, filled by something else until ROOM is left."""

    path: Path

    @property
    def filler(self) -> Path:
        return self.path / "filler"

    def free(self) -> int:
        return shutil.disk_usage(self.path).free

    def fill(self, room: int = ROOM) -> None:
        """Filled until `room` bytes are left (0: full)."""
        with open(self.filler, "wb") as out:
            out.write(b"\0" * (self.free() - room))

    def files(self) -> list[str]:
        """Every file in the spool but the filler (the plaintext, the encrypted, the partial)."""
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file())


@pytest.fixture
def spool_disk(tmp_path: Path) -> Iterator[SpoolDisk]:
    """A small tmpfs mounted where the settings put the spool; unmounted at the end."""
    path = tmp_path / "spool"
    path.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={SPOOL_DISK},mode=0700", "spool-disk", str(path)]
    try:
        mounted = subprocess.run(command, capture_output=True, text=True, check=False)
        problem = mounted.stderr.strip() if mounted.returncode != 0 else ""
    except OSError as error:
        problem = str(error)
    if problem:
        pytest.fail(
            f"cannot mount a tmpfs as the spool's disk ({' '.join(command)}): {problem}. "
            "This test fills a disk of its own: it needs root (or CAP_SYS_ADMIN), as in CI",
            pytrace=False,
        )
    try:
        yield SpoolDisk(path)
    finally:
        subprocess.run(["umount", str(path)], check=True)
