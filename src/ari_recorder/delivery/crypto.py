"""age encryption (pyrage), streamed, and the files it writes: private, fsynced, renamed into place.

pyrage's `encrypt_io` runs in a thread: it holds the GIL per chunk, not for the whole file,
where `encrypt_file` would freeze the event loop for a large recording.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyrage  # type: ignore[import-untyped]
from pyrage import x25519

CHUNK = 1024 * 1024
# Which process wrote a temporary file: a restart removes only what dead processes of this host
# left (several processes may share a spool).
HOST = socket.gethostname().replace(".", "_")
OWNER = f"{HOST}-{os.getpid()}"


def abandoned(owner: str) -> bool:
    """Whether `owner` (an OWNER tag) is a process of this host that no longer runs."""
    host, _, pid = owner.rpartition("-")
    if host != HOST or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Sealed:
    """What encrypting a file produced: the plaintext's digest and both sizes."""

    plain_sha256: str
    plain_size: int
    size: int  # of the encrypted file, as delivered
    sha256: str  # of the encrypted file


def recipients(keys: list[str]) -> list[Any]:
    return [x25519.Recipient.from_str(key) for key in keys]


def open_private(path: Path) -> IO[bytes]:
    """A new file only its owner can read (mode 600 from creation: never readable by others)."""
    path.unlink(missing_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _part(dest: Path) -> Path:
    return dest.with_name(f"{dest.name}.{OWNER}.part")


def _finish(out: IO[bytes], part: Path, dest: Path) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
    part.rename(dest)
    fsync_dir(dest.parent)


class _HashingReader:
    """Reads and hashes the file CHUNK at a time and serves pyrage's 8 KiB reads from memory.

    Hashing each small read released and took back the GIL twice per 8 KiB, thousands of times
    per file, against the event loop uploading the previous file meanwhile: both slowed down,
    the encryption two to three times (bench/delivery.py --phases). Now twice per CHUNK."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.digest, self.count = file, hashlib.sha256(), 0
        self.block, self.offset = b"", 0

    def read(self, size: int = -1) -> bytes:
        if self.offset >= len(self.block):
            self.block, self.offset = self.file.read(CHUNK), 0
            self.digest.update(self.block)
            self.count += len(self.block)
        end = len(self.block) if size < 0 else self.offset + size
        data = self.block[self.offset : end]
        self.offset += len(data)
        return data


class _HashingWriter:
    """Collects pyrage's writes (64 KiB each) and hashes, counts and writes them CHUNK at a time."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.digest, self.count = file, hashlib.sha256(), 0
        self.pending = bytearray()

    def write(self, data: Any) -> int:
        self.pending += data
        if len(self.pending) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.pending:
            self.digest.update(self.pending)
            self.count += len(self.pending)
            self.file.write(self.pending)
            self.pending = bytearray()
        self.file.flush()


def encrypt_file(source: Path, dest: Path, keys: list[Any]) -> Sealed:
    """Encrypt `source` to `dest` (written as dest.part, fsynced, then renamed). Blocking: run in
    a thread."""
    part = _part(dest)
    with open(source, "rb", buffering=0) as plain, open_private(part) as out:
        reader, writer = _HashingReader(plain), _HashingWriter(out)
        pyrage.encrypt_io(reader, writer, keys)
        writer.flush()
        _finish(out, part, dest)
    return Sealed(reader.digest.hexdigest(), reader.count, writer.count, writer.digest.hexdigest())


def write_sealed(data: bytes, dest: Path, keys: list[Any] | None) -> Sealed:
    """Small contents (the metadata), encrypted unless `keys` is None; the same discipline."""
    body = bytes(pyrage.encrypt(data, keys)) if keys is not None else data
    part = _part(dest)
    with open_private(part) as out:
        out.write(body)
        _finish(out, part, dest)
    plain = hashlib.sha256(data).hexdigest()
    return Sealed(plain, len(data), len(body), hashlib.sha256(body).hexdigest())


def generate_keypair(path: Path) -> str:
    """Write a new age identity to `path` (mode 600, never over an existing file, in age-keygen's
    format) and return its public key (age1...), the recipient for the settings.

    The private key belongs with the recording platform, not the controller: whoever loses it
    loses every recording encrypted to it.
    """
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    path.parent.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {public}\n{identity}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    return public
