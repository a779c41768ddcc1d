"""Where files go: the platform's SFTP server, or a local outbox when none is configured.

Both write under a temporary name beside the final one, check the size, then rename, so the
platform never sees a partial file; both first look whether the final file is already there
with the right size (a crash after the rename, before the row was marked done), so that a
retry never makes a second copy.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from pathlib import Path
from typing import Protocol

import asyncssh
from asyncssh.encryption import get_default_encryption_algs

from ari_recorder.delivery import crypto
from ari_recorder.delivery.errors import Permanent, Retryable
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.files import private_dir


class Target(Protocol):
    async def deliver(self, local: Path, remote: str, size: int) -> bool:
        """Put `local` at `remote` (relative); True when it was already there, complete."""
        ...

    async def aclose(self) -> None: ...


def part_name(final: str) -> str:
    """The temporary name: hidden, in the same directory (so the rename stays atomic)."""
    head, tail = posixpath.split(final)
    return posixpath.join(head, f".{tail}.part")


class OutboxTarget:
    """A local directory (the embedded default), e.g. one a platform's collector watches."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, local: Path, remote: str, size: int) -> bool:
        try:
            return await asyncio.to_thread(self._deliver, local, remote, size)
        except OSError as error:
            raise Retryable(f"cannot write {remote} in the outbox {self.folder}: {error.strerror}") from None

    def _deliver(self, local: Path, remote: str, size: int) -> bool:
        final = self.folder / remote
        if final.is_file() and final.stat().st_size == size:
            return True
        private_dir(final.parent)
        part = self.folder / part_name(remote)
        with open(local, "rb") as source, crypto.open_private(part) as out:
            while chunk := source.read(crypto.CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if part.stat().st_size != size:
            part.unlink()
            raise Retryable(f"{remote}: {part.stat().st_size} bytes written in the outbox, {size} expected")
        part.rename(final)
        crypto.fsync_dir(final.parent)
        return False

    async def aclose(self) -> None:
        pass


# asyncssh's own ciphers, AES-GCM first: with AES-NI it uploads about a third faster than
# asyncssh's preferred chacha20-poly1305 (bench/delivery.py).
_CIPHERS = sorted((alg.decode() for alg in get_default_encryption_algs()), key=lambda alg: "-gcm@" not in alg)


# SFTP's own words for a connection gone under an operation (the server killed mid-file).
_CONNECTION_GONE = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection)


class SftpTarget:
    """One SSH connection (opened on first use, again after a failure) shared by the uploads."""

    def __init__(self, settings: DeliverySettings) -> None:
        self.settings = settings
        self.where = f"{settings.sftp_username}@{settings.sftp_host}:{settings.sftp_port}"
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._connecting = asyncio.Lock()

    async def deliver(self, local: Path, remote: str, size: int) -> bool:
        sftp = await self._client()
        final = posixpath.join(self.settings.sftp_remote_dir, remote)
        try:
            return await self._upload(sftp, local, final, size)
        except (asyncssh.Error, OSError, TimeoutError) as error:
            if isinstance(error, asyncssh.SFTPError) and not isinstance(error, _CONNECTION_GONE):
                # The connection is fine; the server refused one operation (permissions, space).
                raise Retryable(
                    f"sftp {self.where}: {final}: {error.reason or type(error).__name__}"
                ) from None
            await self._drop()
            raise Retryable(f"sftp {self.where}: connection lost during {final}: {_reason(error)}") from None

    async def _upload(self, sftp: asyncssh.SFTPClient, local: Path, final: str, size: int) -> bool:
        try:
            if (await sftp.stat(final)).size == size:
                return True
        except asyncssh.SFTPNoSuchFile:
            pass
        folder = posixpath.dirname(final)
        if folder:
            await sftp.makedirs(folder, exist_ok=True)
        part = part_name(final)
        await sftp.put(str(local), part)
        written = (await sftp.stat(part)).size
        if written != size:
            await sftp.remove(part)
            raise Retryable(f"sftp {self.where}: {final}: {written} bytes arrived, {size} expected")
        # posix_rename, not rename: SFTP's rename refuses to replace an existing file, and a
        # previous attempt's copy of a different size may be there.
        await sftp.posix_rename(part, final)
        return False

    async def _client(self) -> asyncssh.SFTPClient:
        async with self._connecting:
            if self._sftp is not None and self._connection is not None and not self._connection.is_closed():
                return self._sftp
            await self._drop()
            self._connection = await self._connect()
            try:
                self._sftp = await self._connection.start_sftp_client()
            except (asyncssh.Error, OSError) as error:
                await self._drop()
                raise Retryable(f"sftp {self.where}: no SFTP subsystem: {_reason(error)}") from None
            return self._sftp

    async def _connect(self) -> asyncssh.SSHClientConnection:
        s = self.settings
        known_hosts = await asyncio.to_thread(_read_known_hosts, s.sftp_known_hosts)
        key = await asyncio.to_thread(_read_key, s.sftp_private_key)
        try:
            return await asyncssh.connect(
                s.sftp_host,
                s.sftp_port,
                username=s.sftp_username,
                known_hosts=known_hosts,  # never None: that would accept any host key
                client_keys=[key],
                preferred_auth="publickey",
                password=None,
                agent_path=None,  # not the operator's ssh-agent
                config=(),  # nor their ~/.ssh/config
                encryption_algs=_CIPHERS,
                compression_algs=["none"],  # age ciphertext (and small JSON): nothing to gain
                connect_timeout=30,
                keepalive_interval=30,
            )
        except asyncssh.HostKeyNotVerifiable as error:
            raise Permanent(
                f"sftp {self.where}: the server's host key is not the one pinned in {s.sftp_known_hosts} "
                f"({error.reason}); refusing to connect until someone checks it"
            ) from None
        except asyncssh.PermissionDenied:
            raise Retryable(
                f"sftp {self.where}: authentication refused for the key {s.sftp_private_key}"
            ) from None
        except (asyncssh.Error, OSError, TimeoutError) as error:
            raise Retryable(f"sftp {self.where}: cannot connect: {_reason(error)}") from None

    async def _drop(self) -> None:
        sftp, connection = self._sftp, self._connection
        self._sftp = self._connection = None
        if sftp is not None:
            sftp.exit()
        if connection is not None:
            connection.close()
            await connection.wait_closed()

    async def aclose(self) -> None:
        async with self._connecting:
            await self._drop()


def _read_known_hosts(path: str) -> asyncssh.SSHKnownHosts:
    try:
        return asyncssh.read_known_hosts(path)
    except OSError as error:
        raise Permanent(f"cannot read the pinned host keys {path}: {error.strerror}") from None
    except (ValueError, asyncssh.Error):
        raise Permanent(f"{path} is not a known_hosts file") from None


def _read_key(path: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.read_private_key(path)
    except OSError as error:
        raise Retryable(f"cannot read the private key {path}: {error.strerror}") from None
    except (ValueError, asyncssh.Error):
        # Not the library's message: it may quote the file.
        raise Retryable(f"{path} is not a usable private key (encrypted keys are not supported)") from None


def _reason(error: BaseException) -> str:
    if isinstance(error, asyncssh.Error):
        return f"{type(error).__name__}: {error.reason}"
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return type(error).__name__
