"""Finishing a fetched recording: its duration (stdlib `wave`), two one-way legs merged into one
stereo file, and conversion (ffmpeg, a subprocess)."""

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


class EmptyRecording(Permanent):
    """Asterisk's file has not a byte in it: nothing to deliver, and a recording gap."""


def wav_duration(path: Path) -> float:
    """Seconds of audio; Permanent when the file is empty or not a WAV Asterisk would write."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyRecording("the recording is empty (0 bytes); kept in Asterisk")
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


async def merge_stereo(left: Path, right: Path, dest: Path, seconds: float) -> None:
    """One stereo WAV at `dest` (already created, mode 600): `left` on the left, `right` on the
    right, the shorter padded with silence to `seconds`."""
    together = "[0:a]apad[l];[1:a]apad[r];[l][r]join=inputs=2:channel_layout=stereo[a]"
    pcm = ["-c:a", "pcm_s16le", "-f", "wav"]
    merging = ["-filter_complex", together, "-map", "[a]", "-t", f"{seconds:.3f}", *pcm]
    await _ffmpeg(["-i", str(left), "-i", str(right), *merging, str(dest)], "merge the two channels")


async def convert(source: Path, dest: Path, fmt: str) -> None:
    """Convert the WAV at `source` into `dest` (already created, mode 600: ffmpeg keeps the mode)."""
    await _ffmpeg(["-i", str(source), *CODECS[fmt], str(dest)], f"convert the recording to {fmt}")


async def _ffmpeg(arguments: list[str], doing: str) -> None:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    try:
        process = await asyncio.create_subprocess_exec(
            *command, *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except FileNotFoundError:
        raise Retryable(f"cannot {doing}: ffmpeg is not installed") from None
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise Permanent(f"ffmpeg could not {doing}: {' / '.join(tail)}")
