"""The sidecar: the metadata delivered beside every file, one versioned contract for every kind.

Every delivery carries one: a call's audio (one or two channels), a webchat segment's transcript,
and a selected segment that was never recorded (no file but this one, saying why). They share one
Struct, built here only, with every field in every sidecar: a field that does not apply to a kind
is null (or empty), never absent. The platform reads it against `schemas/sidecar-v1.json`, which
is this Struct's JSON Schema, written by `json_schema()` (a test holds the committed file to it and
says how to write it again). A change that breaks a reader is a new `schema_version` and a new file.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec

from ari_recorder.delivery.proof import Proof
from ari_recorder.domain import partitions
from ari_recorder.storage.recordings import Facts

SCHEMA_VERSION: Final = 1
SCHEMA_FILE = f"schemas/sidecar-v{SCHEMA_VERSION}.json"

# A time as datetime.isoformat() gives it, always UTC ("2024-05-17T09:30:00.250000+00:00"): the
# form delivered before this contract, kept (msgspec's own would be "...Z").
Moment = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class Kind(enum.Enum):
    """What the sidecar goes with."""

    AUDIO = "audio"  # a call's recording: the audio file beside it
    TRANSCRIPT = "transcript"  # a webchat segment's: the transcript beside it
    NOT_RECORDED = "not_recorded"  # a selected segment never recorded: no file but the sidecar


class Selection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One level that selected the segment (RECORDING-RULES.md, Deciding 3)."""

    level: Literal["agent", "queue", "rule", "compliance"]
    by: str  # the agent, queue or rule; "company" for compliance


class Pause(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One pause of the recording (storage/store.py's pause_json, as stored)."""

    number: int
    segment: int
    agent: str  # whose segment it paused
    by: str  # who asked: the agent's id, or "admin"
    source: Literal["keys", "api"]
    behavior: Literal["silence", "skip"]
    started_at: Moment
    offset_seconds: float | None  # where in the file (None: the file's start not known)
    ended_at: Moment | None
    seconds: Seconds | None
    ended_by: Literal["resume", "timeout", "transfer", "hangup", "failed"] | None
    resumed_by: str | None


class Announcement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The recording notice: played, or not and why."""

    played: bool
    why: str | None


class ProofOfRecording(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The file's audio held against its segment's connected time (delivery/proof.py)."""

    expected_seconds: Seconds | None
    audio_seconds: Seconds
    missing_seconds: Seconds | None
    skipped_pause_seconds: Seconds
    tolerance_seconds: Seconds
    ok: bool | None  # None: nothing to hold the file against
    gap: Literal["short", "empty", "not_recorded"] | None
    why: str | None


class AudioFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    file: str  # its remote path, as delivered (encrypted: .age)
    format: str  # wav, mp3...
    size: Annotated[int, msgspec.Meta(ge=0)]  # of the plaintext
    sha256: Sha256  # of the plaintext


class TranscriptFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    file: str
    format: str  # a MIME type: text/plain; charset=utf-8
    messages: Annotated[int, msgspec.Meta(ge=0)]
    size: Annotated[int, msgspec.Meta(ge=0)]
    sha256: Sha256


class Sidecar(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the platform receives beside each delivered file (the file's metadata)."""

    schema_version: Literal[1]
    kind: Kind
    media: Literal["voice", "webchat"]
    recording: str  # the recording's (a transcript's: "chat-<id>-<segment>") name
    interaction: str
    segment: int
    agent: str
    queue: str | None  # None: no queue (an outbound call)
    direction: Literal["inbound", "outbound"]
    customer: str | None  # the attached data's customer id
    side: Literal["agent", "customer", "chat"]  # the leg recorded; a transcript holds both parties
    channels: Literal[1, 2] | None  # 2: the customer on the left, the agent on the right; None: text
    levels: list[Selection]  # every level that selected the segment
    reason: str  # the decision, in words
    pauses: list[Pause]
    attached: dict[str, str]
    partitions: list[str]  # the interaction's (attached data's `partitions`, else its queue's)
    started_at: Moment  # the recording's (a transcript's: its segment's)
    finished_at: Moment | None
    chat_started_at: Moment | None  # a webchat's own start and end; None for a call
    chat_ended_at: Moment | None
    recorded: bool  # False: selected, never recorded (kind not_recorded)
    not_recorded: str | None  # why, when not recorded
    start_offset_seconds: float | None  # where the file begins: seconds after the answer
    announcement: Announcement | None  # None: none played (an outbound call, a webchat)
    duration_seconds: Seconds | None  # the audio's (two channels: the longer leg's)
    wall_seconds: float | None  # from started_at to finished_at
    proof: ProofOfRecording | None  # None: no audio to hold against its segment (a transcript)
    audio: AudioFile | None
    transcript: TranscriptFile | None


def build(
    facts: Facts,
    *,
    file: AudioFile | TranscriptFile | None = None,
    duration: float | None = None,
    proof: Proof | None = None,
    chat: tuple[datetime, datetime] | None = None,
) -> Sidecar:
    """The one place a sidecar is made. `file`: the audio or transcript it goes with (None: the
    segment was never recorded, `facts.failure` says why); `chat`: a webchat's start and end."""
    kind = (
        Kind.AUDIO
        if isinstance(file, AudioFile)
        else Kind.TRANSCRIPT
        if isinstance(file, TranscriptFile)
        else Kind.NOT_RECORDED
    )
    wall = (facts.finished_at - facts.started_at).total_seconds() if facts.finished_at else None
    return Sidecar(
        schema_version=SCHEMA_VERSION,
        kind=kind,
        media="webchat" if kind is Kind.TRANSCRIPT else "voice",
        recording=facts.recording,
        interaction=facts.interaction,
        segment=facts.segment,
        agent=facts.agent,
        queue=facts.queue,
        direction=facts.direction,  # type: ignore[arg-type]  # the stored Direction's value
        customer=facts.attached.get("customer"),
        side=facts.side,  # type: ignore[arg-type]  # the stored RecordSide's value, or "chat"
        channels=None if kind is Kind.TRANSCRIPT else facts.channels,  # type: ignore[arg-type]
        levels=msgspec.convert(facts.levels, list[Selection]),
        reason=facts.reason,
        pauses=msgspec.convert(facts.pauses, list[Pause]),
        attached=dict(facts.attached),
        partitions=partitions.of(facts.attached),
        started_at=facts.started_at.isoformat(),
        finished_at=_moment(facts.finished_at),
        chat_started_at=chat[0].isoformat() if chat is not None else None,
        chat_ended_at=chat[1].isoformat() if chat is not None else None,
        recorded=file is not None,
        not_recorded=None if file is not None else f"selected, not recorded: {facts.failure}",
        start_offset_seconds=facts.start_offset,
        announcement=_announcement(facts.announcement),
        duration_seconds=round(duration, 3) if duration is not None else None,
        wall_seconds=round(wall, 3) if wall is not None else None,
        proof=msgspec.convert(proof.json(), ProofOfRecording) if proof is not None else None,
        audio=file if isinstance(file, AudioFile) else None,
        transcript=file if isinstance(file, TranscriptFile) else None,
    )


def encode(sidecar: Sidecar) -> bytes:
    """As delivered: indented JSON, one trailing newline."""
    return msgspec.json.format(msgspec.json.encode(sidecar), indent=2) + b"\n"


def json_schema() -> bytes:
    """The Sidecar's JSON Schema, as committed in SCHEMA_FILE."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"ari-recorder/sidecar-v{SCHEMA_VERSION}.json",
        "title": f"ari-recorder sidecar, schema_version {SCHEMA_VERSION}",
        **msgspec.json.schema(Sidecar),
    }
    return msgspec.json.format(msgspec.json.encode(schema), indent=2) + b"\n"


def _moment(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _announcement(outcome: str | None) -> Announcement | None:
    """The notice: played, or not and why (None: the call had none, as outbound calls)."""
    if outcome is None:
        return None
    return Announcement(played=outcome == "played", why=None if outcome == "played" else outcome)
