"""The delivery section: where recordings are spooled, to whom they are encrypted, where they go."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Literal

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]

AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")  # bech32, X25519
FIELDS = frozenset(
    {"date", "queue", "interaction", "segment", "agent", "side", "recording", "direction", "ext"}
)
EXTENSIONS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "opus": "opus"}


class DeliverySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """With no `sftp_host`, recordings go to `outbox_dir` through the same queue (the embedded default).

    Paths are relative to the working directory unless absolute. A problem raises ValueError
    naming the key (msgspec reports it as a ValidationError at `$.delivery`).
    """

    spool_dir: str = "var/spool"
    outbox_dir: str = "var/outbox"
    sftp_host: str = ""
    sftp_port: Port = 22
    sftp_username: str = ""
    sftp_private_key: str = ""  # a path; the key itself never appears in settings or logs
    sftp_known_hosts: str = ""  # a path: the server's pinned host key, never accepted blindly
    sftp_remote_dir: str = "."
    age_recipients: list[str] = msgspec.field(default_factory=list)  # age1... public keys
    # With no recipients, `run` refuses to start unless this says so: recordings then stay in
    # Asterisk unencrypted (for a site that encrypts at rest by other means), each one marked.
    keep_unencrypted: bool = False
    encrypt_metadata: bool = True
    name_template: str = "{date}/{queue}/{interaction}-{segment}-{agent}.{ext}"
    format: Literal["wav", "mp3", "ogg", "opus"] = "wav"
    parallel_uploads: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    max_attempts: Positive = 10
    backoff_base: PositiveSeconds = 2.0
    backoff_cap: PositiveSeconds = 600.0
    lease_seconds: Positive = 300  # a claimed row whose worker went silent this long is taken again
    poll_seconds: PositiveSeconds = 5.0  # how often to look for rows other processes queued
    # Retention (delivery/retention.py), in days; each purge is audited. The spool's encrypted copy
    # of a delivered file, after the delivery (0: at once). An interaction's metadata in the
    # database, after it ended and every file of it was delivered; absent: kept for ever.
    spool_retention_days: Annotated[int, msgspec.Meta(ge=0)] = 7
    metadata_retention_days: Annotated[int, msgspec.Meta(ge=0)] | None = None
    # Proof of recording (delivery/proof.py): a file shorter than its segment's connected time
    # (less skipped pauses) by more than this is a recording gap. Not 0: the recording starts one
    # ARI round trip or more after the agent's answer (start_offset_seconds in the sidecar, a few
    # tens of ms, up to recording.start_deadline_ms when Asterisk refused the first tries), and
    # ends on a 20 ms frame boundary after the segment does. A late start beyond this is a gap.
    gap_tolerance_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0
    # Orphans (delivery/orphans.py): how often Asterisk's stored recordings are looked through for
    # files of our interactions that no row accounts for (0: never). One is adopted when two
    # sweeps in a row saw it so.
    orphan_sweep_seconds: Annotated[float, msgspec.Meta(ge=0)] = 60.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        problems = [
            f"age_recipients[{i}]: expected an age X25519 public key (age1...), got {r!r}"
            for i, r in enumerate(self.age_recipients)
            if not AGE_RECIPIENT.fullmatch(r)
        ]
        problems += _template_problems(self.name_template)
        if self.sftp_host:
            for key in ("sftp_username", "sftp_private_key", "sftp_known_hosts"):
                if not getattr(self, key):
                    problems.append(f"{key}: required when sftp_host is set")
        if self.backoff_cap < self.backoff_base:
            problems.append(f"backoff_cap: must be at least backoff_base ({self.backoff_base})")
        return problems

    @property
    def spool(self) -> Path:
        return Path(self.spool_dir)

    @property
    def outbox(self) -> Path:
        return Path(self.outbox_dir)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def _template_problems(template: str) -> list[str]:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as error:
        return [f"name_template: not a valid template ({error})"]
    problems = [
        f"name_template: unknown field {{{name}}} (known: {', '.join(sorted(FIELDS))})"
        for name in sorted(names - FIELDS)
    ]
    if "ext" not in names:
        problems.append("name_template: must contain {ext} (the audio and its metadata differ by it)")
    if "recording" not in names and not {"interaction", "segment"} <= names:
        problems.append("name_template: must contain {recording}, or {interaction} and {segment}")
    if template.startswith("/") or ".." in template.split("/"):
        problems.append("name_template: must stay inside the remote directory (no leading / or ..)")
    return problems
