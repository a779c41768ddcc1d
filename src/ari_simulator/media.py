"""Snoops, recordings and playbacks of the simulated Asterisk, with the answers the traces show."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from ari_simulator.audio import Timeline, render_wav
from ari_simulator.state import (
    Bridge,
    Channel,
    Json,
    Kind,
    LiveRecording,
    Playback,
    RecState,
    SimError,
    StoredRecording,
)

if TYPE_CHECKING:
    from ari_simulator.asterisk import Asterisk

# Sound name -> (tone in Hz, length in s): the sounds the traces were recorded with
# (ari-reference/README.md, "The sounds"), plus the default announcement the product plays.
SOUNDS: dict[str, tuple[int, float]] = {
    "sim/announcement": (660, 1.5),
    "sim/customer-tone": (440, 6.0),
    "sim/agent-tone": (1000, 2.0),
    "recording-notice": (660, 1.5),
    "sim/annonce": (770, 1.5),  # a notice in French only (sounds/fr/sim/annonce)
}
KNOWN_SOUNDS = frozenset(SOUNDS)  # the sounds the simulated Asterisk has, unless told otherwise
LANGUAGES = {"sim/annonce": ("fr",)}  # the folders a sound is in, where not only en
FORMATS = {"wav", "wav16", "gsm", "ulaw", "alaw", "sln", "g722", "g729", "ogg"}
DIRECTIONS = {"none", "both", "in", "out"}


class Media:
    """Owns live and stored recordings and playbacks; the core calls `finish` on hangups."""

    def __init__(self, core: Asterisk) -> None:
        self.core = core
        self.live: dict[str, LiveRecording] = {}
        self.stored: dict[str, StoredRecording] = {}
        self.playbacks: dict[str, Playback] = {}
        self._rendering: dict[str, asyncio.Future[None]] = {}
        self._targets: dict[str, Channel | Bridge] = {}
        self._playback_seq = 0
        self.sounds: set[str] = set(KNOWN_SOUNDS)  # the sound files it has (PUT /sim/config)

    # ----- snoop -----
    def snoop(
        self, target_id: str, *, spy: str, whisper: str, app: str | None, app_args: str, snoop_id: str | None
    ) -> Json:
        if spy not in DIRECTIONS:
            raise SimError(400, "Invalid direction specified for spy")
        if whisper not in DIRECTIONS:
            raise SimError(400, "Invalid direction specified for whisper")
        if not app:
            raise SimError(400, "Application name is required")
        target = self.core.channel(target_id, "Provided channel was not found")
        if spy == "none" and whisper == "none":
            raise SimError(400, "Direction must be specified for at least spy or whisper")
        if snoop_id and snoop_id in self.core.channels:
            # Asterisk checks no id here: allocating a channel of an id in use fails, and says only
            # this (res/ari/resource_channels.c; seen on a successor's snoop of an existing id).
            raise SimError(500, "Snoop channel could not be created")
        snoop = Channel(
            id=snoop_id or self.core.new_channel_id(),
            name=f"Snoop/{target.id}-{self.core.snoop_suffix()}",
            kind=Kind.SNOOP,
            state="Up",
            snoop_of=target,
            spy=spy,
            started=self.core.now(),
        )
        self.core.add_channel(snoop)
        target.snoops.append(snoop)
        answer = snoop.json()
        args = app_args.split(",") if app_args else []
        snoop.app_name, snoop.app_data = "Stasis", ",".join([app, *args])
        delay = self.core.snoop_stasis_delay
        if delay == 0.0:
            self._snoop_enters(snoop, app, args)
        elif delay is not None:  # after the answer, as a real Asterisk under load does
            self.core.later(delay, lambda: self._snoop_enters(snoop, app, args), snoop)
        return answer

    def _snoop_enters(self, snoop: Channel, app: str, args: list[str]) -> None:
        if snoop.hungup:
            return
        if not self.core.stasis_start(snoop, app, args):
            self.core.hangup(snoop, cause=16, soft=True)

    # ----- recordings -----
    def record(
        self,
        target: Channel | Bridge,
        *,
        name: str | None,
        fmt: str | None,
        if_exists: str,
        terminate_on: str,
        max_duration: float | None,
    ) -> Json:
        if not name:
            raise SimError(400, "Recording name is required")
        if not fmt:
            raise SimError(400, "Recording format is required")
        if "/" in name or ".." in name:
            # Real Asterisk refuses to build the path and answers 500 (errors.jsonl).
            raise SimError(500, "Error parsing request")
        if fmt not in FORMATS:
            raise SimError(422, "specified format is unknown on this system")
        if if_exists not in ("fail", "overwrite", "append"):
            raise SimError(400, "ifExists invalid")
        if isinstance(target, Channel):
            self.core.in_stasis(target)
        if self.core.refuse_records:
            if self.core.refuse_records > 0:
                self.core.refuse_records -= 1
            # What Asterisk answers when it cannot start a recording (resource_channels.c).
            raise SimError(500, "Internal Server Error")
        if name in self.live:
            raise SimError(409, f"Recording '{name}' already in progress")
        if name in self.stored and if_exists == "fail":
            raise SimError(409, f"Recording '{name}' already exists and can not be overwritten")
        rec = LiveRecording(
            name=name, format=fmt, target=target, terminate_on=terminate_on, max_duration=max_duration
        )
        rec.apps = set(target.apps() if isinstance(target, Channel) else target.subscribed)
        self.live[name] = rec
        target.recordings.append(rec)
        answer = rec.json()  # always 'queued' at first
        if target.recordings[0] is rec:
            # A second recording on a busy target waits its turn (errors.jsonl: dup2).
            asyncio.get_running_loop().call_soon(self._start, rec)
        return answer

    def _start(self, rec: LiveRecording) -> None:
        if rec.state is not RecState.QUEUED or self.live.get(rec.name) is not rec:
            return
        now = self.core.now()
        rec.state = RecState.RECORDING
        rec.timeline = Timeline(now, self.core.recording_sound(rec))
        self.core.emit("RecordingStarted", rec.apps, recording=rec.json())
        if rec.max_duration:
            owner = rec.target if isinstance(rec.target, Channel) else None
            self.core.later(rec.max_duration, lambda: self.finish(rec), owner)

    def forget_live(self) -> None:
        """A restart: what was running is finished as it stood (stored, no event: nobody hears)."""
        for rec in list(self.live.values()):
            if rec.timeline is not None:
                rec.timeline.stop(self.core.now())
                self._store(rec)
        self.live.clear()
        self.playbacks.clear()
        self._targets.clear()

    def finish(self, rec: LiveRecording, state: RecState = RecState.DONE) -> None:
        if self.live.get(rec.name) is not rec:
            return
        del self.live[rec.name]
        target = rec.target
        target.recordings.remove(rec)
        if rec.timeline is None:
            rec.state = RecState.FAILED
            self.core.emit("RecordingFailed", rec.apps, recording={**rec.json(), "cause": "hangup"})
        else:
            now = self.core.now()
            rec.timeline.stop(now)
            rec.duration = int(rec.timeline.duration_at(now))
            rec.state = state
            if state is RecState.DONE:
                self._store(rec)
            self.core.emit("RecordingFinished", rec.apps, recording=rec.json())
        if target.recordings and not getattr(target, "hungup", False):
            self._start(target.recordings[0])

    def _store(self, rec: LiveRecording) -> None:
        assert rec.timeline is not None
        path = Path(self.core.recordings_dir) / f"{rec.name}.{rec.format}"
        self.stored[rec.name] = StoredRecording(rec.name, rec.format, path)
        # Rendered from the timeline only now, in a thread, so running recordings cost nothing.
        loop = asyncio.get_running_loop()
        self._rendering[rec.name] = loop.run_in_executor(None, render_wav, rec.timeline, path)

    async def finish_rendering(self) -> None:
        """Wait for every WAV still being written (at shutdown: no half-written file is left)."""
        await asyncio.gather(*self._rendering.values(), return_exceptions=True)

    def live_recording(self, name: str) -> LiveRecording:
        rec = self.live.get(name)
        if rec is None:
            raise SimError(404, "Recording not found")
        return rec

    def control(self, name: str, operation: str) -> None:
        rec = self.live_recording(name)
        if operation == "stop":
            self.finish(rec)
            return
        if operation == "cancel":
            self.finish(rec, RecState.CANCELED)
            return
        if rec.timeline is None:
            raise SimError(409, "Recording not in session")
        now = self.core.now()
        if operation == "pause":
            rec.timeline.pause(now)
            rec.state = RecState.PAUSED
        elif operation == "unpause":
            rec.timeline.unpause(now)
            rec.state = RecState.RECORDING
        elif operation == "mute":
            rec.timeline.mute(now)  # a muted recording still reads 'recording' (traces)
        elif operation == "unmute":
            rec.timeline.unmute(now)

    def dtmf(self, ch: Channel, digit: str) -> None:
        for rec in list(ch.recordings):
            if rec.state is RecState.RECORDING and (rec.terminate_on == "any" or rec.terminate_on == digit):
                self.finish(rec)

    # ----- stored recordings -----
    def stored_recording(self, name: str) -> StoredRecording:
        stored = self.stored.get(name)
        if stored is None:
            raise SimError(404, "Recording not found")
        return stored

    async def stored_file(self, name: str) -> Path:
        stored = self.stored_recording(name)
        rendering = self._rendering.get(name)
        if rendering is not None:
            await asyncio.shield(rendering)
        return stored.path

    async def delete_stored(self, name: str) -> None:
        path = await self.stored_file(name)
        del self.stored[name]
        self._rendering.pop(name, None)
        path.unlink(missing_ok=True)

    # ----- playbacks -----
    def play(self, target: Channel | Bridge, *, media: str | None, playback_id: str | None) -> Json:
        if not media:
            raise SimError(400, "Missing parameter media")
        if isinstance(target, Channel):
            self.core.in_stasis(target)
        if playback_id is None:
            self._playback_seq += 1
            playback_id = f"sim-playback-{self._playback_seq}"
        elif playback_id in self.playbacks:
            raise SimError(409, "Playback with that id already exists")
        first, *rest = media.split(",")
        kind = "bridge" if isinstance(target, Bridge) else "channel"
        pb = Playback(
            id=playback_id,
            media_uri=first,
            target_uri=f"{kind}:{target.id}",
            hz=None,
            length=0.0,
            next_media=rest,
        )
        pb.apps = set(target.apps() if isinstance(target, Channel) else target.subscribed)
        self.playbacks[pb.id] = pb
        self._targets[pb.id] = target
        # Answered 201 "queued" whether the sound exists or not (missing_sound_playback.jsonl); a
        # sound Asterisk does not have then starts and, under 1 ms later, ends "failed".
        answer = pb.json()
        asyncio.get_running_loop().call_soon(self._start_playback, pb, target)
        return answer

    def _start_playback(self, pb: Playback, target: Channel | Bridge) -> None:
        if pb.id not in self.playbacks or getattr(target, "hungup", False):
            return
        sound = pb.media_uri.removeprefix("sound:")
        found = sound in self.sounds
        hz, length = SOUNDS.get(sound, (660, 1.5)) if found else (0, 0.0)
        pb.hz, pb.length = hz or None, length
        pb.state = "playing"
        target.playback = pb
        self.core.emit("PlaybackStarted", pb.apps, playback=pb.json())
        self.core.audio_changed(target)
        owner = target if isinstance(target, Channel) else None
        # A sound file that is not there fails at once (Asterisk reports the playback 'failed').
        delay = pb.length if found else 0.0005
        self.core.later(delay, lambda: self._item_ended(pb, target, found), owner)

    def _item_ended(self, pb: Playback, target: Channel | Bridge, found: bool) -> None:
        """One item of the media list played (or not there): the next one, or the end. A missing
        item in a list is skipped: PlaybackContinuing ("continuing"), then the next one starts."""
        if pb.id not in self.playbacks:
            return
        if not pb.next_media:
            self.stop_playback(pb, "done" if found else "failed")
            return
        pb.state = "continuing"
        self.core.emit("PlaybackContinuing", pb.apps, playback=pb.json())
        pb.media_uri = pb.next_media.pop(0)
        self._start_playback(pb, target)

    def stop_playback(self, pb: Playback, state: str = "done") -> None:
        if self.playbacks.pop(pb.id, None) is None:
            return
        pb.state = state
        target = self._targets.pop(pb.id)
        if target.playback is pb:
            target.playback = None
            self.core.audio_changed(target)
        self.core.emit("PlaybackFinished", pb.apps, playback=pb.json())

    def sound(self, sound_id: str) -> Json:
        """GET /sounds/{id}: as Asterisk 22 answers for a sound it has (in `en` unless LANGUAGES
        says otherwise, as slin). Played, a sound is found in any language."""
        if sound_id not in self.sounds:
            raise SimError(404, "Sound not found")
        languages = LANGUAGES.get(sound_id, ("en",))
        return {"id": sound_id, "formats": [{"language": lang, "format": "slin"} for lang in languages]}

    def playback(self, playback_id: str) -> Playback:
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise SimError(404, "Playback not found")
        return pb
