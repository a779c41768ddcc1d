"""From Asterisk to the spool: fetch a finished recording, finish it, encrypt it with its metadata.

Plaintext only ever lives in `<spool>/plain/<host>-<pid>/` (mode 600), for as long as it takes to
convert and encrypt it; what a crashed process left there is removed when delivery starts again
on that host. Several processes may share one spool: each touches only its own leftovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pyrage  # type: ignore[import-untyped]

from ari_recorder.ari.errors import AriError, AriNotFound
from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import crypto
from ari_recorder.delivery.audio import convert, merge_stereo, wav_duration
from ari_recorder.delivery.errors import Permanent, Retryable
from ari_recorder.delivery.naming import render, safe
from ari_recorder.delivery.proof import Proof, prove
from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.delivery.sidecar import AudioFile, build, encode
from ari_recorder.domain.call import legs
from ari_recorder.files import private_dir
from ari_recorder.storage.deliveries import Kind, Spooled
from ari_recorder.storage.recordings import Facts


class Spooler:
    def __init__(self, ari: AriClient, settings: DeliverySettings, keys: list[Any]) -> None:
        self.ari, self.settings, self.keys = ari, settings, keys
        self.encryptor = crypto.Encryptor(settings.age_recipients)
        self.plain = settings.spool / "plain" / crypto.OWNER
        self.out = settings.spool / "out"

    def prepare(self) -> None:
        """Create the spool; remove what crashed processes of this host left half done (their
        recordings are fetched again)."""
        for folder in (self.plain, self.out):
            private_dir(folder)
        for folder in self.plain.parent.iterdir():
            if crypto.abandoned(folder.name) or folder == self.plain:
                shutil.rmtree(folder, ignore_errors=True)
        private_dir(self.plain)
        for partial in self.out.glob("*.part"):
            if crypto.abandoned(partial.name.removesuffix(".part").rsplit(".", 1)[-1]):
                partial.unlink(missing_ok=True)

    async def aclose(self) -> None:
        await self.encryptor.aclose()

    def audio_path(self, facts: Facts) -> str:
        return (
            render(self.settings.name_template, ext=self.settings.extension, **_name_fields(facts)) + ".age"
        )

    def metadata_path(self, facts: Facts) -> str:
        name = render(self.settings.name_template, ext="json", **_name_fields(facts))
        return name + ".age" if self.settings.encrypt_metadata else name

    def prove(self, facts: Facts, audio: float) -> Proof:
        """The file's `audio` seconds held against its segment (delivery/proof.py)."""
        return prove(
            audio=audio,
            connected=facts.connected_seconds,
            seen=facts.connected_seen,
            pauses=facts.pauses,
            tolerance=self.settings.gap_tolerance_seconds,
            failure=facts.failure,
        )

    async def spool(self, facts: Facts) -> tuple[list[Spooled], Proof]:
        """Both files encrypted, fsynced and in place in the spool, the plaintext gone; and the
        proof of recording (also in the sidecar). On a failure nothing of this attempt stays in
        the spool (the recording stays in Asterisk)."""
        try:
            return await self._spool(facts)
        except OSError as error:
            raise Retryable(_spool_error(self.settings.spool, error)) from None
        except pyrage.EncryptError as error:  # a write failing inside pyrage (the disk full)
            raise Retryable(_encrypt_error(self.settings.spool, error)) from None
        except crypto.EncryptionFailed as error:  # its process killed (out of memory?): again later
            raise Retryable(f"cannot encrypt the recording: {error}") from None

    async def _spool(self, facts: Facts) -> tuple[list[Spooled], Proof]:
        base = safe(facts.recording)
        audio_name = f"{base}.{self.settings.extension}.age"
        meta_name = f"{base}.json" + (".age" if self.settings.encrypt_metadata else "")
        try:
            return await self._seal(facts, base, audio_name, meta_name)
        except BaseException:
            # A half-written file (the disk full), or the audio without its metadata: no row will
            # ever name them, and they hold the room the next attempt needs.
            for name in (audio_name, meta_name):
                crypto.discard(self.out / name)
            raise

    async def sidecar(self, facts: Facts) -> tuple[Spooled, Proof]:
        """A selected segment that was never recorded: only its metadata, saying so, encrypted
        into the spool (nothing to fetch from Asterisk); and its proof, a gap."""
        meta_name = f"{safe(facts.recording)}.json" + (".age" if self.settings.encrypt_metadata else "")
        keys = self.keys if self.settings.encrypt_metadata else None
        proof = self.prove(facts, 0.0)
        try:
            document = encode(build(facts, proof=proof))
            meta = await asyncio.to_thread(crypto.write_sealed, document, self.out / meta_name, keys)
        except OSError as error:
            crypto.discard(self.out / meta_name)
            raise Retryable(_spool_error(self.settings.spool, error)) from None
        remote = self.metadata_path(facts)
        return Spooled(Kind.METADATA, remote, f"out/{meta_name}", meta.size, meta.sha256), proof

    def discard(self, spooled: Spooled) -> None:
        crypto.discard(self.settings.spool / spooled.spool_path)

    async def _seal(
        self, facts: Facts, base: str, audio_name: str, meta_name: str
    ) -> tuple[list[Spooled], Proof]:
        wav = self.plain / f"{base}.wav"
        plain = wav
        try:
            duration, shortest = await self._fetch_wav(facts, wav)
            if self.settings.format != "wav":
                plain = self.plain / f"{base}.{self.settings.extension}"
                crypto.open_private(plain).close()
                await convert(wav, plain, self.settings.format)
                wav.unlink()
            sealed = await self.encryptor.encrypt(plain, self.out / audio_name)
        finally:
            for path in {wav, plain}:
                path.unlink(missing_ok=True)
        audio_remote = self.audio_path(facts)
        proof = self.prove(facts, shortest)
        audio = AudioFile(audio_remote, self.settings.format, sealed.plain_size, sealed.plain_sha256)
        document = encode(build(facts, file=audio, duration=duration, proof=proof))
        keys = self.keys if self.settings.encrypt_metadata else None
        meta = await asyncio.to_thread(crypto.write_sealed, document, self.out / meta_name, keys)
        return [
            Spooled(Kind.AUDIO, audio_remote, f"out/{audio_name}", sealed.size, sealed.sha256),
            Spooled(Kind.METADATA, self.metadata_path(facts), f"out/{meta_name}", meta.size, meta.sha256),
        ], proof

    async def _fetch_wav(self, facts: Facts, wav: Path) -> tuple[float, float]:
        """The recording as one WAV at `wav` (its two parties' legs merged: customer left, agent
        right); its seconds, and the shorter party's (what the proof of recording holds: one
        party's leg cut short is a gap even when the other's runs on)."""
        if facts.channels == 1:
            await self._download(facts.recording, wav)
            seconds = await asyncio.to_thread(wav_duration, wav)
            return seconds, seconds
        paths = [self.plain / f"{safe(leg)}.wav" for leg in legs(facts.recording, facts.channels)]
        try:
            for leg, path in zip(legs(facts.recording, facts.channels), paths, strict=True):
                await self._download(leg, path)
            each = [await asyncio.to_thread(wav_duration, path) for path in paths]
            seconds = max(each)
            crypto.open_private(wav).close()
            customer, agent = paths
            await merge_stereo(customer, agent, wav, seconds)
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
        return seconds, min(each)

    async def _download(self, recording: str, dest: Path) -> None:
        try:
            async with self.ari.open_stored_file(recording) as stored:
                with crypto.open_private(dest) as out:
                    async for chunk in stored.iter_chunks(crypto.CHUNK):
                        await asyncio.to_thread(out.write, chunk)
                    await asyncio.to_thread(_sync, out.fileno())
        except AriNotFound:
            raise Permanent(
                f"recording {recording!r} is not in Asterisk (deleted outside this controller?)"
            ) from None
        except AriError as error:
            raise Retryable(f"cannot fetch the recording from Asterisk: {error}") from None

    async def delete_in_asterisk(self, recording: str, channels: int = 1) -> None:
        """Only once the encrypted copy is safe in the spool; already gone counts as done."""
        for name in legs(recording, channels):
            with contextlib.suppress(AriNotFound):
                await self.ari.delete_stored(name)


def _sync(fd: int) -> None:
    os.fsync(fd)


def _spool_error(spool: Path, error: OSError) -> str:
    """The spool failing: the OS's reason and its errno's name; a full disk said so plainly."""
    code = errno.errorcode.get(error.errno or 0)
    reason = error.strerror or type(error).__name__
    message = f"cannot write the spool at {spool}: {reason}" + (f" ({code})" if code else "")
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f"{shutil.disk_usage(spool).free} bytes free"
        except OSError:
            free = "free space unknown"
        message += f": the spool's disk is full ({free}); the recording stays in Asterisk until there is room"
    return message


def _encrypt_error(spool: Path, error: Exception) -> str:
    """pyrage keeps only the text of the OSError a write raised inside it ("OSError: [Errno 28]
    No space left on device"): its errno back, so that a full disk reads as one."""
    found = re.search(r"\[Errno (\d+)\]", str(error))
    if found is None:
        return f"cannot encrypt the recording into the spool at {spool}: {error}"
    code = int(found.group(1))
    return _spool_error(spool, OSError(code, os.strerror(code)))


def _name_fields(facts: Facts) -> dict[str, object]:
    return {
        "date": facts.started_at.date().isoformat(),
        "queue": facts.queue or "no-queue",
        "interaction": facts.interaction,
        "segment": facts.segment,
        "agent": facts.agent or "no-agent",
        "side": facts.side,
        "recording": facts.recording,
        "direction": facts.direction or "unknown",
    }
