"""Fixtures: the store (SQLite and PostgreSQL), the simulator as Asterisk, an sshd, a key pair."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import DeliverySettings, generate_keypair
from ari_recorder.simulator.server import RunningSimulator, serve
from ari_recorder.storage.store import Store
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
