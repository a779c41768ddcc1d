"""The encryption process (crypto.Encryptor), for real: what it writes, the errors that come back
from it, and it killed or cancelled mid-file: a failure the caller can retry, a new process for the
next file, nothing writing on once the caller has cleaned up; nothing put in place once its caller
is gone."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import signal
import stat
import sys
from pathlib import Path

import pytest

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery, crypto
from ari_recorder.delivery.crypto import EncryptionFailed, Encryptor
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.store import Store
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Clock, Identity, sftp_settings
from tests.delivery.support import Sshd, _descendants, age_decrypt, noise_wav, ready_recording

BOUND = 60.0  # seconds: how long a step may take before the run counts as stuck
LARGE = 64 * 1024 * 1024  # long enough to encrypt for the test to catch it mid-file
KILLED = "the encryption process ended (killed by SIGKILL)"
RECORDING = "call-1-seg1-1001"
CALLER = """if True:
    import asyncio, sys
    from pathlib import Path
    from ari_recorder.delivery.crypto import Encryptor
    asyncio.run(Encryptor([sys.argv[1]]).encrypt(Path(sys.argv[2]), Path(sys.argv[3])))
"""
AUDIO = "incoming/2024-05-17/support/call-1-1-1001.wav.age"


def encryption_processes() -> list[int]:
    """Our processes running crypto.py as a script."""
    found = []
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2].endswith(b"crypto.py"):
                found.append(pid)
    return found


async def part_writer(folder: Path, encrypting: asyncio.Task[object]) -> tuple[int, Path]:
    """The process writing a .part file in `folder`, and the file, as soon as it has it open."""
    async with asyncio.timeout(BOUND):
        while not encrypting.done():
            if found := part_open(folder):
                return found
            await asyncio.sleep(0.002)
    pytest.fail("the file was encrypted before the test could catch it mid-file", pytrace=False)


def part_open(folder: Path) -> tuple[int, Path] | None:
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = Path(os.readlink(fd))
                if target.parent == folder and target.name.endswith(".part"):
                    return pid, target
    return None


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()  # reaped, not a zombie


def ended(pid: int) -> bool:
    """Exited; reaped or not (not our child: whoever adopted it may leave it a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def reaped(pid: int) -> None:
    """Once asyncio's child watcher has reaped `pid`, and told the loop (right after)."""
    async with asyncio.timeout(BOUND):
        while True:
            if gone(pid):
                await asyncio.sleep(0.5)
                return
            await asyncio.sleep(0.01)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def plaintext(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def test_files_are_encrypted_in_one_process_that_ends_with_aclose(
    tmp_path: Path, identity: Identity
) -> None:
    data = {n: plaintext(tmp_path / f"{n}.wav", 3 * crypto.CHUNK + n) for n in (1, 2)}
    encryptor = Encryptor([identity.public])
    assert encryption_processes() == [], "started by the first file, not before"
    try:
        sealed = await encryptor.encrypt(tmp_path / "1.wav", tmp_path / "1.wav.age")
        (process,) = encryption_processes()
        await encryptor.encrypt(tmp_path / "2.wav", tmp_path / "2.wav.age")
        assert encryption_processes() == [process], "the same process for the next file"
    finally:
        await encryptor.aclose()
    assert gone(process)

    encrypted = (tmp_path / "1.wav.age").read_bytes()
    digests = hashlib.sha256(data[1]).hexdigest(), hashlib.sha256(encrypted).hexdigest()
    assert sealed == crypto.Sealed(digests[0], len(data[1]), len(encrypted), digests[1])
    for n in (1, 2):
        assert age_decrypt(identity.path, tmp_path / f"{n}.wav.age") == data[n]
        assert stat.S_IMODE((tmp_path / f"{n}.wav.age").stat().st_mode) == 0o600
    assert files_in(tmp_path) == ["1.wav", "1.wav.age", "2.wav", "2.wav.age"], "no part left"


async def test_an_error_in_the_process_comes_back_as_itself(tmp_path: Path, identity: Identity) -> None:
    encryptor = Encryptor([identity.public])
    try:
        with pytest.raises(FileNotFoundError) as raised:
            await encryptor.encrypt(tmp_path / "missing.wav", tmp_path / "missing.wav.age")
        assert (raised.value.errno, raised.value.filename) == (errno.ENOENT, str(tmp_path / "missing.wav"))
        data = plaintext(tmp_path / "there.wav", 1000)
        await encryptor.encrypt(tmp_path / "there.wav", tmp_path / "there.wav.age")  # it serves on
    finally:
        await encryptor.aclose()
    assert age_decrypt(identity.path, tmp_path / "there.wav.age") == data


async def test_the_process_killed_mid_file_fails_that_file_and_a_new_one_takes_the_next(
    tmp_path: Path, identity: Identity
) -> None:
    large, sealed = tmp_path / "large.wav", tmp_path / "large.wav.age"
    data = plaintext(large, LARGE)
    encryptor = Encryptor([identity.public])
    try:
        encrypting = asyncio.create_task(encryptor.encrypt(large, sealed))
        killed, part = await part_writer(tmp_path, encrypting)
        assert part.name == f"large.wav.age.{crypto.OWNER}.part", "named by the caller, who cleans up"
        os.kill(killed, signal.SIGKILL)
        with pytest.raises(EncryptionFailed, match=re.escape(KILLED)):
            await encrypting
        assert gone(killed)
        assert files_in(tmp_path) == ["large.wav", part.name], "the part is the caller's to remove"

        await encryptor.encrypt(large, sealed)
        assert encryption_processes() not in ([], [killed])
    finally:
        await encryptor.aclose()
    assert age_decrypt(identity.path, sealed) == data


async def test_the_process_dead_between_two_files_is_replaced_without_failing_one(
    tmp_path: Path, identity: Identity
) -> None:
    data = plaintext(tmp_path / "plain.wav", 1000)
    encryptor = Encryptor([identity.public])
    try:
        await encryptor.encrypt(tmp_path / "plain.wav", tmp_path / "1.age")
        (killed,) = encryption_processes()
        os.kill(killed, signal.SIGKILL)
        await reaped(killed)
        await encryptor.encrypt(tmp_path / "plain.wav", tmp_path / "2.age")
        assert encryption_processes() not in ([], [killed])
    finally:
        await encryptor.aclose()
    assert age_decrypt(identity.path, tmp_path / "2.age") == data


async def test_cancelled_mid_file_nothing_writes_on(tmp_path: Path, identity: Identity) -> None:
    large = tmp_path / "large.wav"
    plaintext(large, LARGE)
    encryptor = Encryptor([identity.public])
    try:
        encrypting = asyncio.create_task(encryptor.encrypt(large, tmp_path / "large.wav.age"))
        writer, part = await part_writer(tmp_path, encrypting)
        encrypting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await encrypting
        assert gone(writer), "killed and reaped before the cancellation returns"
        part.unlink()  # the caller's cleanup: nothing comes back after it
        await asyncio.sleep(0.2)
        assert files_in(tmp_path) == ["large.wav"]
        small = plaintext(tmp_path / "small.wav", 1000)
        await encryptor.encrypt(tmp_path / "small.wav", tmp_path / "small.wav.age")
    finally:
        await encryptor.aclose()
    assert age_decrypt(identity.path, tmp_path / "small.wav.age") == small


async def test_a_process_that_outlives_its_caller_puts_no_file_in_place(
    tmp_path: Path, identity: Identity
) -> None:
    """The caller SIGKILLed mid-file (its restart will fetch the recording again): the process
    finishes the file, then removes it instead of renaming it into place, and exits."""
    large, sealed = tmp_path / "large.wav", tmp_path / "large.wav.age"
    plaintext(large, LARGE)
    caller = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CALLER, identity.public, str(large), str(sealed)
    )
    try:
        writer, _ = await part_writer(tmp_path, asyncio.create_task(caller.wait()))
    finally:
        caller.kill()
        await caller.wait()
    async with asyncio.timeout(BOUND):
        while True:
            if ended(writer):
                break
            await asyncio.sleep(0.01)
    assert files_in(tmp_path) == ["large.wav"]


async def test_a_recording_whose_encryption_process_is_killed_is_retried_and_leaves_nothing(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    """Killed from outside (the OOM killer, say) while it encrypts: the row retried, nothing partial
    and no plaintext left in the spool, the recording kept in Asterisk; the next attempt delivers."""
    settings = sftp_settings(tmp_path, identity, sshd)
    _, audio = await ready_recording(sqlite_store, sim, "call-1", content=noise_wav(LARGE))
    delivery = Delivery(sqlite_store, ari, settings, clock=clock)
    try:
        draining = asyncio.create_task(delivery.drain())
        killed, _ = await part_writer(settings.spool / "out", draining)
        os.kill(killed, signal.SIGKILL)
        counters = await draining
        (row,) = await delivery.queue.rows()
        assert (row.id, row.state, row.attempts) == (f"{RECORDING}/audio", State.FETCHING, 1)
        assert row.last_error == f"cannot encrypt the recording: {KILLED}"
        assert (counters.spooled, counters.retried, counters.dead) == (0, 1, 0)
        assert files_under(settings.spool) == [], "nothing partial, no plaintext"
        assert RECORDING in sim.asterisk.media.stored, "nothing lost: the recording stays in Asterisk"

        clock.advance()
        counters = await delivery.drain()
    finally:
        await delivery.aclose()
    assert (counters.spooled, counters.delivered) == (1, 2)
    assert age_decrypt(identity.path, sshd.remote / AUDIO) == audio
    assert encryption_processes() == []
