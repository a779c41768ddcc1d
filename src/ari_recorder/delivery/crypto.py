"""age encryption (pyrage), streamed, and the files it writes: private, fsynced, renamed into place.

A recording is encrypted in a process of its own (`Encryptor`), not in a thread: pyrage holds
the GIL while it encrypts, so such a thread and the event loop (uploads, ARI events, the API)
took turns (encrypting 200 MB: 1.5 s alone, 5.9 s beside a busy Python thread; the loop's 99th
percentile lag 2.5 ms meanwhile, 0.4 ms with the process). That process runs this module as a
script: it must import nothing but the standard library and pyrage.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import socket
import sys
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


def _synced(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())


def discard(dest: Path) -> None:
    """`dest` gone, and this process's half-written copy of it (a failed attempt's files)."""
    for path in (dest, _part(dest)):
        path.unlink(missing_ok=True)


def _finish(out: IO[bytes], part: Path, dest: Path) -> None:
    _synced(out)
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


def encrypt_file(source: Path, part: Path, keys: list[Any]) -> Sealed:
    """Encrypt `source` into `part` (mode 600, fsynced); the caller renames it into place.
    Blocking, and holds the GIL: `Encryptor` runs it in a process of its own."""
    with open(source, "rb", buffering=0) as plain, open_private(part) as out:
        reader, writer = _HashingReader(plain), _HashingWriter(out)
        pyrage.encrypt_io(reader, writer, keys)
        writer.flush()
        _synced(out)
    return Sealed(reader.digest.hexdigest(), reader.count, writer.count, writer.digest.hexdigest())


class EncryptionFailed(Exception):
    """The encryption process died (killed, out of memory) or failed in a way not foreseen."""


class Encryptor:
    """`encrypt_file` in a process of its own (this module run as a script: 25 MB and 0.15 s to
    start, where importing the delivery package takes 90 MB and 1.4 s), one file at a time.

    Started by the first file, again after it died; `aclose()` ends it. Cancelled, the process is
    killed: nothing writes on after the caller's cleanup. The part file is named by the caller's
    OWNER, so that the caller removes it on a failure, and a restart if both died.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys  # age1... public keys (recipient objects cannot cross to the process)
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def encrypt(self, source: Path, dest: Path) -> Sealed:
        """`source` encrypted to `dest` (mode 600, fsynced, renamed into place), with
        `encrypt_file`'s errors (OSError, pyrage.EncryptError); EncryptionFailed when the process
        died."""
        paths = {"source": str(source), "part": str(_part(dest)), "dest": str(dest)}
        job = {**paths, "keys": self.keys, "caller": os.getpid()}
        async with self._lock:
            line = await self._ask(json.dumps(job).encode() + b"\n")
        return _result(json.loads(line))

    async def aclose(self) -> None:
        """End the process, once the file in hand (if any) is done."""
        async with self._lock:
            await self._stop()

    async def _ask(self, job: bytes) -> bytes:
        process = await self._started()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(job)
            await process.stdin.drain()
            line = await process.stdout.readline()
        except ConnectionError:  # it died before reading the job
            line = b""
        except BaseException:  # cancelled: it must not finish the file after the caller's cleanup
            await self._stop(kill=True)
            raise
        if not line:
            status = await self._stop()
            raise EncryptionFailed(f"the encryption process ended ({_exit_status(status)})")
        return line

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is not None:
            await self._stop()  # it died between two files: no file of ours fails for that
        if self._process is None:
            try:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable, "-P", __file__,  # -P: this folder's queue.py must not hide the stdlib's
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
            except OSError as error:  # out of processes or memory: not the spool's fault
                raise EncryptionFailed(f"cannot start the encryption process: {error}") from None
        return self._process

    async def _stop(self, *, kill: bool = False) -> int | None:
        """End the process and reap it; its exit status. Killed only to cut a file short, else
        the end of its input ends it: killing it once dead would reap it behind asyncio's back
        (Popen.poll), which then reports exit status 255."""
        process, self._process = self._process, None
        if process is None:
            return None
        if kill:
            with contextlib.suppress(ProcessLookupError):  # it already died
                process.kill()
        assert process.stdin is not None
        process.stdin.close()
        return await process.wait()


def _result(reply: dict[str, Any]) -> Sealed:
    """The process's reply to a job: what encrypting produced, or its error raised again."""
    if "sealed" in reply:
        return Sealed(**reply["sealed"])
    if "errno" in reply:
        raise OSError(reply["errno"], reply["strerror"], reply["filename"])
    if "encrypt" in reply:
        raise pyrage.EncryptError(reply["encrypt"])
    raise EncryptionFailed(reply["failed"])


def _exit_status(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _serve() -> None:
    """The encryption process: a job (JSON) per line on stdin, its reply per line on stdout,
    until stdin ends. Ctrl-C or a service manager's SIGTERM to the whole group must not cut a
    file short: the delivery stage lets the work in hand finish, then ends this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for line in sys.stdin:
        sys.stdout.write(json.dumps(_job(json.loads(line))) + "\n")
        sys.stdout.flush()


def _job(job: dict[str, Any]) -> dict[str, Any]:
    """One file encrypted; an error as data the caller raises again (an OSError keeps its errno)."""
    part, dest = Path(job["part"]), Path(job["dest"])
    try:
        sealed = encrypt_file(Path(job["source"]), part, recipients(job["keys"]))
        if os.getppid() != job["caller"]:  # it died meanwhile: its row will fetch the file again
            part.unlink()
            return {"failed": "the caller is gone"}
        part.rename(dest)
        fsync_dir(dest.parent)
    except OSError as error:
        return {"errno": error.errno, "strerror": error.strerror or str(error), "filename": error.filename}
    except pyrage.EncryptError as error:  # a write failing inside pyrage: only its text is left
        return {"encrypt": str(error)}
    except Exception as error:
        return {"failed": f"{type(error).__name__}: {error}"}
    return {"sealed": dataclasses.asdict(sealed)}


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


if __name__ == "__main__":
    _serve()
