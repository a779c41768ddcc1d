"""Finishing a fetched recording: its duration (stdlib `wave`) and conversion (ffmpeg, a subprocess)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from ari_recorder.delivery.errors import Permanent, Retryable

CODECS = {
    "mp3": ["-codec:a", "libmp3lame", "-q:a", "4", "-f", "mp3"],
    "ogg": ["-codec:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
    "opus": ["-codec:a", "libopus", "-b:a", "32k", "-f", "opus"],
}


def wav_duration(path: Path) -> float:
    """Seconds of audio; Permanent when the file is empty or not a WAV Asterisk would write."""
    size = path.stat().st_size
    if size == 0:
        raise Permanent("the recording is empty (0 bytes); kept in Asterisk")
    try:
        with wave.open(str(path), "rb") as wav:
            rate, frames = wav.getframerate(), wav.getnframes()
    except (wave.Error, EOFError) as error:
        raise Permanent(
            f"the recording is not a readable WAV ({size} bytes: {error}); kept in Asterisk"
        ) from None
    if rate <= 0:
        raise Permanent(f"the recording's WAV header gives a sample rate of {rate}; kept in Asterisk")
    return frames / rate


async def convert(source: Path, dest: Path, fmt: str) -> None:
    """Convert the WAV at `source` into `dest` (already created, mode 600: ffmpeg keeps the mode)."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    try:
        process = await asyncio.create_subprocess_exec(
            *command, *CODECS[fmt], str(dest),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except FileNotFoundError:
        raise Retryable(f"cannot convert to {fmt}: ffmpeg is not installed") from None
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise Permanent(f"ffmpeg could not convert the recording to {fmt}: {' / '.join(tail)}")
